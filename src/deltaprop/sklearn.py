"""scikit-learn estimators trained by the deltaprop engine.

:class:`NeuralNetClassifier` and :class:`NeuralNetRegressor` keep scikit-learn's estimator
contract (``fit``, ``partial_fit``, ``predict``, ``score``, ``get_params``/``set_params``,
cloning, pickling, ``warm_start``, ``sample_weight``) and train with :func:`deltaprop.fit`,
so pipelines, cross-validation and grid search work unchanged. Switching from
``MLPClassifier`` is one line::

    from deltaprop.sklearn import NeuralNetClassifier as MLPClassifier

Defaults follow ``MLPClassifier`` where the concept is the same: 100 ReLU units, Adam,
``batch_size="auto"`` = ``min(200, n)``, 200 epochs with its convergence rule (stop when
the training loss has not fallen by ``tol`` for ``n_iter_no_change`` epochs), float64.
Parameters are checked in ``fit``, not ``__init__`` (scikit-learn's rule: ``__init__`` only
stores them, so ``clone`` and ``set_params`` never fail). Install with the ``sklearn``
extra; ``import deltaprop`` never imports this module.
"""

from __future__ import annotations

import copy
import json
import numbers
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_random_state, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "deltaprop.sklearn needs scikit-learn >= 1.6; install it with the extra: "
        'pip install "deltaprop[sklearn]"'
    ) from exc

from . import _checks, errors
from .callbacks import Callback, EarlyStopping
from .errors import ConfigError, DataError, ModelFileError, ShapeError
from .layers import ACTIVATIONS, Dense
from .losses import BinaryCrossEntropy, CrossEntropy, Loss, MeanSquaredError, loss_from_config, loss_from_name
from .network import Network, mlp, predictions_from_outputs, resolve_dtype
from .optimizers import OPTIMIZERS, Optimizer, optimizer_from_config, optimizer_from_name
from .schedules import Schedule, schedule_from_config
from .serialization import read_model
from .serialization import save as save_model
from .training import History, TrainingState
from .training import fit as _train

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor", "NotFittedError"]

#: ``batch_size="auto"`` is MLPClassifier's ``min(200, n_samples)``.
AUTO_BATCH = 200


class NotFittedError(errors.NotFittedError, _SklearnNotFittedError):
    """Raised by ``predict`` and friends before ``fit``: both deltaprop's and scikit-learn's
    ``NotFittedError`` (so ``except deltaprop.Error`` and scikit-learn's own checks agree)."""


# -- sample weights ---------------------------------------------------------------------
def _row_losses(loss: Loss, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The per-example terms ``ℓ_i`` of a loss whose value is ``(1/n) Σ_i ℓ_i``."""
    eps = float(np.finfo(a.dtype).eps)
    if isinstance(loss, CrossEntropy):
        if loss.from_logits:
            z = a - a.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        else:
            logp = np.log(np.maximum(a, eps))
        return -np.einsum("ij,ij->i", y, logp)
    if isinstance(loss, BinaryCrossEntropy):
        if loss.from_logits:
            terms = np.maximum(a, 0.0) - a * y + np.log1p(np.exp(-np.abs(a)))
        else:
            p = np.clip(a, eps, 1.0 - eps)
            terms = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
        return terms.sum(axis=1)
    if isinstance(loss, MeanSquaredError):
        d = a - y
        return np.einsum("ij,ij->i", d, d)
    raise ConfigError(
        f"sample_weight works with cross_entropy, binary_cross_entropy and mse, not {loss!r}"
    )


class _WeightedLoss(Loss):
    """``L = (1/n) Σ_i w_i ℓ_i`` with the weights scaled to mean 1 over the training set,
    i.e. ``L = Σ w_i ℓ_i / Σ w_i``: a weight of k counts a row k times, 0 removes it.

    The loop gathers batches by index, so each row's weight travels with its targets as
    an extra last column. Every loss here is a mean of per-row terms, so the gradient is
    the wrapped loss's ``δ`` with row ``i`` scaled by ``w_i``."""

    type_name = "WeightedLoss"
    classification = False  # the weight column would spoil the loop's running accuracy

    def __init__(self, inner: Loss):
        super().__init__()
        self.inner = inner

    def config(self):
        return {"type": self.type_name, "inner": self.inner.config()}

    def prepare_targets(self, y, n_outputs, dtype):
        y = np.asarray(y)
        if y.ndim != 2 or y.shape[1] != n_outputs + 1:
            raise ShapeError(f"weighted targets must have {n_outputs} + 1 columns, got shape {y.shape}")
        return np.ascontiguousarray(y, dtype=dtype)

    def value(self, a, y):
        return float(np.dot(y[:, -1], _row_losses(self.inner, a, y[:, :-1]))) / a.shape[0]

    def gradient(self, a, y):
        g = self.inner.gradient(a, y[:, :-1])
        g *= y[:, -1:]
        return g

    def fused_delta(self, last_layer, a, y):
        delta = self.inner.fused_delta(last_layer, a, y[:, :-1])
        if delta is not None:
            delta *= y[:, -1:]
        return delta


# -- callbacks --------------------------------------------------------------------------
class _ValidationScore(Callback):
    """Scores the held-out split after every epoch (accuracy or R², as ``score``) and puts
    ``val_error = 1 − score`` in the logs for :class:`~deltaprop.EarlyStopping` to minimise."""

    def __init__(self, score_fn, X, y, weight):
        self.score_fn, self.X, self.y, self.weight = score_fn, X, y, weight
        self.scores: list[float] = []

    def on_epoch_end(self, state):
        score = float(self.score_fn(state.net, self.X, self.y, self.weight))
        self.scores.append(score)
        state.logs["val_score"] = score
        state.logs["val_error"] = 1.0 - score


class _Printer(Callback):
    """``verbose``: one line per epoch on stdout, as MLPClassifier prints them."""

    def on_epoch_end(self, state):
        line = f"Epoch {state.epoch}, loss = {state.logs['loss']:.8f}"
        if "val_score" in state.logs:
            line += f", validation score = {state.logs['val_score']:.6f}"
        print(line, file=sys.stdout, flush=True)


# -- pickling: a network travels as config + weights, never as live views -------
def _export_network(net: Network) -> dict[str, Any]:
    return {
        "config": net.config(),
        "values": [p.value.copy() for p in net.parameters()],
        "rng": net.rng.bit_generator.state,
    }


def _import_network(blob: dict[str, Any]) -> Network:
    net = Network.from_config(blob["config"])
    for p, value in zip(net.parameters(), blob["values"], strict=True):
        p.value = value
    net.rng.bit_generator.state = blob["rng"]  # the Dropout layers share this generator
    return net


def _export_training(state: TrainingState) -> dict[str, Any]:
    opt = state.optimizer
    return {
        "optimizer": opt.config(),
        "optimizer_state": opt.state() if opt.params else None,
        "rng": state.rng.bit_generator.state,
        "epoch": state.epoch,
        "step": state.step,
        "schedule": state.schedule.config() if state.schedule is not None else None,
        "schedule_state": state.schedule.state() if state.schedule is not None else None,
        "base_lr": state.base_lr,
        "history": [dict(r) for r in state.history.records],
    }


def _import_training(blob: dict[str, Any], net: Network) -> TrainingState:
    """Rebuild the optimizer bound to ``net``'s own parameters: one owner of the weights."""
    opt = optimizer_from_config(blob["optimizer"])
    if blob["optimizer_state"] is not None:
        opt.build(net.parameters())
        opt.load_state(blob["optimizer_state"])
    rng = np.random.default_rng()
    rng.bit_generator.state = blob["rng"]
    schedule = schedule_from_config(blob["schedule"]) if blob["schedule"] is not None else None
    if schedule is not None:
        schedule.load_state(blob["schedule_state"])
    return TrainingState(
        net=net, optimizer=opt, loss=MeanSquaredError(), rng=rng, history=History(blob["history"]),
        epoch=blob["epoch"], step=blob["step"], schedule=schedule, base_lr=blob["base_lr"],
    )


# -- the shared estimator ---------------------------------------------------------------
class _NeuralNet(BaseEstimator):
    """What the classifier and the regressor share: settings, the training run, state."""

    _is_classifier = False

    # subclasses define __init__ (scikit-learn reads the parameters from its signature)

    # -- settings -------------------------------------------------------------------------
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = [sizes]
        try:
            sizes = list(sizes)
        except TypeError:
            raise ConfigError(f"hidden_layer_sizes must be a tuple of positive integers, got {sizes!r}") from None
        return [_checks.positive_int("hidden_layer_sizes entry", s) for s in sizes]

    def _activation(self) -> str:
        name = str(self.activation).lower().replace("-", "_")
        name = {"logistic": "sigmoid"}.get(name, name)
        if name not in ACTIVATIONS or name == "softmax":
            raise ConfigError(
                f"activation must be one of relu, tanh, sigmoid (or logistic), leaky_relu, identity; "
                f"got {self.activation!r}"
            )
        return name

    def _dtype(self) -> np.dtype:
        return resolve_dtype(self.dtype)

    def _batch_size(self, n: int) -> int | None:
        """Rows per step; None (the loop's full batch) whenever one batch holds every row."""
        bs = self.batch_size
        if isinstance(bs, str) and bs in ("auto", "full"):
            size = n if bs == "full" else min(AUTO_BATCH, n)
        else:
            size = _checks.positive_int("batch_size", bs)
        return None if size >= n else size

    def _make_optimizer(self) -> Optimizer:
        lr = None if self.learning_rate is None else _checks.positive_number("learning_rate", self.learning_rate)
        decay = _checks.positive_number("weight_decay", self.weight_decay, allow_zero=True)
        if isinstance(self.optimizer, Optimizer):
            opt = optimizer_from_config(self.optimizer.config())  # a fresh copy: never train the parameter
            if lr is not None:
                opt.lr = lr
            return opt
        name = str(self.optimizer).strip().lower()
        if name not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)} or a deltaprop optimizer, got {self.optimizer!r} "
                "(deltaprop trains by backpropagation with gradient methods; there is no 'lbfgs')"
            )
        settings: dict[str, Any] = {"weight_decay": decay}
        if lr is not None:
            settings["lr"] = lr
        if name == "sgd":
            momentum = _checks.fraction("momentum", self.momentum)
            settings.update(momentum=momentum, nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        elif name in ("adam", "adamw"):
            settings.update(beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon)
        return optimizer_from_name(name, **settings)

    def _make_schedule(self) -> Schedule:
        if isinstance(self.schedule, Schedule):
            return copy.deepcopy(self.schedule)  # schedules keep state; the parameter stays untouched
        return schedule_from_config(copy.deepcopy(self.schedule))

    def _check_training_settings(self) -> None:
        for name in ("shuffle", "early_stopping", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        _checks.positive_int("epochs", self.epochs)
        _checks.positive_number("tol", self.tol, allow_zero=True)
        _checks.positive_int("n_iter_no_change", self.n_iter_no_change)
        _checks.fraction("validation_fraction", self.validation_fraction, low_open=True)
        _checks.fraction("dropout", self.dropout)

    # -- fitted state ---------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices ``W`` (``n_in × n_out``) layer by layer, as MLPClassifier's ``coefs_``."""
        self._check_fitted()
        return [layer.W.value.copy() for layer in self.net_.layers if isinstance(layer, Dense)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors layer by layer, as MLPClassifier's ``intercepts_``."""
        self._check_fitted()
        return [layer.b.value.copy() for layer in self.net_.layers if isinstance(layer, Dense)]

    def _outputs(self, X) -> np.ndarray:
        self._check_fitted()
        X = validate_data(self, X, reset=False, dtype=self.net_.dtype)
        return self.net_.predict_proba(X)

    # -- training -------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, *, partial: bool, classes=None):
        reuse = hasattr(self, "net_") and (partial or self.warm_start)
        self._check_training_settings()
        dtype = self._dtype() if not reuse else self.net_.dtype
        X, y = self._validate_xy(X, y, reset=not reuse, dtype=dtype)
        weight = None
        if sample_weight is not None:
            weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
            if not np.any(weight > 0):
                raise DataError("Sample weights must contain at least one non-zero number.")
            keep = weight > 0  # a zero weight removes the row
            if not keep.all():
                X, y, weight = X[keep], y[keep], weight[keep]
        targets = self._encode_targets(y, reuse=reuse, partial=partial, classes=classes)
        rs = check_random_state(self.random_state)
        net_seed, shuffle_seed, split_seed = (int(s) for s in rs.randint(0, 2**31 - 1, size=3))

        if reuse:
            net = self.net_
        else:
            net = mlp(
                [X.shape[1], *self._hidden_sizes(), self._n_network_outputs()],
                activation=self._activation(), output=self._output_name(), dropout=self.dropout,
                init=self.init, seed=net_seed, dtype=dtype,
            )
        loss = self._make_loss()
        rows = loss.prepare_targets(targets, net.n_outputs, net.dtype)

        val = None
        if self.early_stopping and not partial:
            val, (X, rows, targets, weight) = self._split(X, rows, targets, weight, split_seed)
        if weight is not None:
            rows = np.hstack([rows, (weight / weight.mean()).astype(net.dtype)[:, None]])
            loss = _WeightedLoss(loss)

        if partial and reuse and getattr(self, "_state", None) is not None:
            state = self._state
        else:
            opt = self._make_optimizer()
            state = TrainingState(
                net=net, optimizer=opt, loss=loss, rng=np.random.default_rng(shuffle_seed),
                schedule=self._make_schedule(), base_lr=opt.lr,
            )
        callbacks: list[Callback] = []
        scorer = stopper = None
        if not partial:
            if val is not None:
                scorer = _ValidationScore(type(self)._score_network, *val)
                stopper = EarlyStopping("val_error", patience=self.n_iter_no_change, min_delta=self.tol)
                callbacks += [scorer, stopper]
            else:
                stopper = EarlyStopping("loss", patience=self.n_iter_no_change, min_delta=self.tol, restore_best_weights=False)
                callbacks.append(stopper)
        if self.verbose:
            callbacks.insert(len(callbacks) - (stopper is not None), _Printer())

        done = len(state.history)
        target_epochs = state.epoch + (1 if partial else self.epochs)
        _train(
            net, X, rows, loss=loss, optimizer=state.optimizer, epochs=target_epochs,
            batch_size=self._batch_size(X.shape[0]), shuffle=bool(self.shuffle), callbacks=callbacks, resume=state,
        )
        new = state.history.records[done:]

        self.net_ = net
        self._state = state
        keep_curves = reuse and hasattr(self, "loss_curve_")
        self.loss_curve_ = (self.loss_curve_ if keep_curves else []) + [r["loss"] for r in new]
        self.n_iter_ = (self.n_iter_ if keep_curves else 0) + len(new)
        self.t_ = (self.t_ if keep_curves else 0) + X.shape[0] * len(new)
        if scorer is not None:
            previous = self.validation_scores_ if keep_curves and self.validation_scores_ else []
            self.validation_scores_ = previous + scorer.scores
            self.best_validation_score_ = max(self.validation_scores_)
            self.best_loss_ = None
        else:
            if not keep_curves:
                self.validation_scores_ = None
                self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_)
        self.history_ = state.history
        if not partial and stopper is not None and stopper.stopped_epoch is None and state.epoch >= target_epochs:
            watched = "validation score" if scorer is not None else "training loss"
            warnings.warn(
                f"{type(self).__name__}: the {self.epochs} epochs ran out before the optimization "
                f"converged (the {watched} still improved by more than tol={self.tol:g} within "
                f"n_iter_no_change={self.n_iter_no_change} epochs). Raise epochs or learning_rate.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _split(self, X, rows, targets, weight, seed):
        """Hold out ``validation_fraction`` of the rows (stratified for classifiers)."""
        arrays = [X, rows, targets] + ([weight] if weight is not None else [])
        stratify = targets if self._is_classifier else None
        try:
            parts = train_test_split(*arrays, test_size=self.validation_fraction, random_state=seed, stratify=stratify)
        except ValueError:
            try:
                parts = train_test_split(*arrays, test_size=self.validation_fraction, random_state=seed)
            except ValueError as exc:
                raise DataError(
                    f"early_stopping holds out validation_fraction={self.validation_fraction} of "
                    f"{X.shape[0]} rows, which leaves no room for both sets ({exc}); "
                    "use more data, a larger validation_fraction, or early_stopping=False"
                ) from None
        train, held = parts[0::2], parts[1::2]
        if weight is None:
            train.append(None)
            held.append(None)
        Xv, _, tv, wv = held
        return (Xv, tv, wv), tuple(train)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    # -- model files ----------------------------------------------------------------------
    _FITTED = ("loss_curve_", "n_iter_", "t_", "validation_scores_", "best_loss_", "best_validation_score_")

    def save(self, path) -> Path:
        """Write the fitted network to a deltaprop model file (``.safetensors``): weights as
        tensors; ``classes_`` as the file's class names; settings and curves in its metadata.
        The optimizer state is not kept: ``partial_fit`` after :meth:`load` starts it afresh."""
        self._check_fitted()
        extra: dict[str, Any] = {
            "estimator": type(self).__name__,
            "params": self._jsonable_params(),
            "n_outputs": int(self.n_outputs_),
            "feature_names_in": None if not hasattr(self, "feature_names_in_") else [str(f) for f in self.feature_names_in_],
            "fitted": {k: getattr(self, k, None) for k in self._FITTED},
        }
        class_names = None
        if self._is_classifier:
            class_names = [str(c) for c in self.classes_]
            if len(set(class_names)) != len(class_names):
                raise ConfigError(
                    f"classes {self.classes_.tolist()!r} are not distinct as text; a model file names classes by "
                    "text, so relabel them (e.g. with integers) before saving"
                )
            extra["classes_kind"] = self.classes_.dtype.kind
        return save_model(self.net_, path, class_names=class_names, extra=extra)

    @classmethod
    def load(cls, path):
        """A fitted estimator from a model file written by :meth:`save` (or, for the
        classifier, any deltaprop model with a softmax or sigmoid output)."""
        model = read_model(path)
        net, extra = model.net, _checked_extra(model.extra or {}, path)
        kind = extra.get("estimator")
        if kind is not None and kind != cls.__name__:
            raise ModelFileError(f"{path}: holds a {kind}, not a {cls.__name__}; load it with {kind}.load")
        names = set(cls._get_param_names())
        params = {k: v for k, v in (extra.get("params") or {}).items() if k in names}
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        try:
            if isinstance(params.get("optimizer"), dict):
                params["optimizer"] = optimizer_from_config(params["optimizer"])
            if isinstance(params.get("loss"), dict):
                params["loss"] = loss_from_config(params["loss"])
        except ConfigError as exc:
            raise ModelFileError(f"{path}: estimator settings in the metadata are invalid ({exc})") from None
        est = cls(**params)
        est.net_ = net
        est.n_features_in_ = net.n_features
        if extra.get("feature_names_in") is not None:
            est.feature_names_in_ = np.asarray(extra["feature_names_in"], dtype=object)
        est._restore_outputs(model, extra, path)
        fitted = extra.get("fitted") or {}
        for key in cls._FITTED:
            setattr(est, key, fitted.get(key))
        if est.loss_curve_ is None:
            est.loss_curve_, est.n_iter_, est.t_ = [], 0, 0
        return est

    def _jsonable_params(self) -> dict[str, Any]:
        """Settings that JSON can hold (instances as their configs; callables are left out)."""
        out = {}
        for key, value in self.get_params(deep=False).items():
            if isinstance(value, (Optimizer, Loss, Schedule)):
                value = value.config()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, np.generic):
                value = value.item()
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue
            out[key] = value
        return out

    # -- pickling -------------------------------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())
        if isinstance(state.get("net_"), Network):
            state["net_"] = _export_network(state["net_"])
        if isinstance(state.get("_state"), TrainingState):
            state["_state"] = _export_training(state["_state"])
        state.pop("history_", None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("net_"), dict):
            state["net_"] = _import_network(state["net_"])
        if isinstance(state.get("_state"), dict):
            training = _import_training(state["_state"], state["net_"])
            state["_state"] = training
            state["history_"] = training.history
        super().__setstate__(state)


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A feedforward network classifier trained by backpropagation (deltaprop's engine).

    Labels may be any sortable values (strings or integers); ``classes_`` holds them sorted.
    ``output="softmax"`` gives one unit per class with cross-entropy; ``"sigmoid"`` gives one
    unit for two classes (binary cross-entropy) or one independent unit per class, whose
    outputs ``predict_proba`` normalises to sum to 1. ``learning_rate=None`` uses the
    optimizer's own default (Adam 0.001, SGD 0.01, ...). ``weight_decay`` λ adds ``λW`` to
    every gradient (MLPClassifier's ``alpha`` is ``λ · batch_size``). ``sample_weight``
    weights each row's loss: an integer weight k counts the row k times, 0 drops it.
    """

    _is_classifier = True

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        output="softmax",
        loss=None,
        optimizer="adam",
        learning_rate=None,
        schedule="constant",
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        dropout=0.0,
        init=None,
        batch_size="auto",
        epochs=200,
        shuffle=True,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        dtype="float64",
        random_state=None,
        verbose=False,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.init = init
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # -- settings -------------------------------------------------------------------------
    def _output_name(self) -> str:
        name = str(self.output).lower()
        name = {"logistic": "sigmoid"}.get(name, name)
        if name not in ("softmax", "sigmoid"):
            raise ConfigError(f"a classifier's output must be 'softmax' or 'sigmoid', got {self.output!r}")
        return name

    def _n_network_outputs(self) -> int:
        k = len(self.classes_)
        return 1 if self._output_name() == "sigmoid" and k == 2 else k

    def _make_loss(self) -> Loss:
        if self.loss is None:
            return CrossEntropy() if self._output_name() == "softmax" else BinaryCrossEntropy()
        if isinstance(self.loss, Loss):
            return loss_from_config(self.loss.config())
        return loss_from_name(self.loss)

    # -- data -----------------------------------------------------------------------------
    def _validate_xy(self, X, y, *, reset, dtype):
        X, y = validate_data(self, X, y, reset=reset, dtype=dtype)
        check_classification_targets(y)
        return X, y

    def _encode_targets(self, y, *, reuse, partial, classes):
        """Class ids ``0..k−1`` into ``classes_``; sets ``classes_`` on a fresh fit."""
        if reuse:
            if partial and classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to partial_fit, was: {self.classes_!r}"
                )
            known = self.classes_
        elif partial:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            known = np.unique(np.asarray(classes))
        else:
            known = np.unique(y)
        unseen = np.setdiff1d(y, known)
        if unseen.size:
            raise DataError(
                f"y holds labels {unseen[:5].tolist()} that are not among the classes {known.tolist()}; "
                "pass every label in classes= on the first partial_fit, or fit again without warm_start"
            )
        if not reuse:
            if known.size < 2:
                raise DataError(
                    f"y holds one class only ({known.tolist()}); a classifier needs at least two classes "
                    "(rows with sample_weight 0 do not count)"
                )
            self.classes_ = known
            self.n_outputs_ = 1
        return np.searchsorted(self.classes_, y).astype(np.int64)

    # -- the estimator API ----------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (n × features) and labels ``y`` for up to ``epochs`` epochs."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``X, y``, continuing the optimizer's state; the first call needs
        ``classes`` (every label that will ever appear)."""
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return self._proba(self._outputs(X))

    def predict_log_proba(self, X) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        outputs = self._outputs(X)  # raises NotFittedError before classes_ is read
        return self.classes_[predictions_from_outputs(outputs)]

    def _restore_outputs(self, model, extra, path) -> None:
        net = model.net
        last = net.layers[-1].type_name
        if last not in ("Softmax", "Sigmoid"):
            raise ModelFileError(f"{path}: the network ends in {last}; a classifier needs a Softmax or Sigmoid output")
        n_classes = 2 if net.n_outputs == 1 else net.n_outputs
        names = model.class_names
        if names is None:
            classes = np.arange(n_classes)
        else:
            if len(names) != n_classes:
                raise ModelFileError(f"{path}: {len(names)} class names for a network with {n_classes} classes")
            kind = extra.get("classes_kind", "U")
            try:
                classes = np.asarray(names).astype({"i": np.int64, "u": np.uint64, "f": np.float64, "b": np.bool_}[kind])
            except KeyError:
                classes = np.asarray(names, dtype=object if kind == "O" else None)
            except ValueError:
                raise ModelFileError(f"{path}: class names {list(names)[:5]} are not of kind {kind!r}") from None
        self.classes_ = classes
        self.n_outputs_ = 1

    @staticmethod
    def _proba(a: np.ndarray) -> np.ndarray:
        if a.shape[1] == 1:  # one sigmoid unit: P(second class)
            return np.hstack([1.0 - a, a])
        total = a.sum(axis=1, keepdims=True)
        if np.all(total == 1.0):
            return a
        return a / np.maximum(total, np.finfo(a.dtype).tiny)

    @staticmethod
    def _score_network(net: Network, X, ids, weight) -> float:
        pred = predictions_from_outputs(net.predict_proba(X))
        return float(np.average(pred == ids, weights=weight))


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A feedforward network regressor trained by backpropagation (deltaprop's engine).

    One output unit per target column (``y`` may be 1-D or ``(n, targets)``), identity
    output and mean squared error by default; ``output="sigmoid"`` suits targets in
    [0, 1]. Other parameters as :class:`NeuralNetClassifier`; early stopping scores R².
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        output="identity",
        loss=None,
        optimizer="adam",
        learning_rate=None,
        schedule="constant",
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        dropout=0.0,
        init=None,
        batch_size="auto",
        epochs=200,
        shuffle=True,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        dtype="float64",
        random_state=None,
        verbose=False,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.init = init
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _output_name(self) -> str:
        name = str(self.output).lower().replace("-", "_")
        name = {"logistic": "sigmoid"}.get(name, name)
        if name not in ACTIVATIONS or name == "softmax":
            raise ConfigError(f"a regressor's output must be identity, sigmoid, tanh or relu, got {self.output!r}")
        return name

    def _n_network_outputs(self) -> int:
        return self.n_outputs_

    def _restore_outputs(self, model, extra, path) -> None:
        self.n_outputs_ = int(extra.get("n_outputs", model.net.n_outputs))
        if self.n_outputs_ != model.net.n_outputs:
            raise ModelFileError(f"{path}: metadata says {self.n_outputs_} outputs, the network has {model.net.n_outputs}")

    def _make_loss(self) -> Loss:
        loss = self.loss
        kind = loss.config()["type"] if isinstance(loss, Loss) else loss_from_name(loss or "mse").type_name
        if kind != MeanSquaredError.type_name:
            raise ConfigError(f"a regressor trains with mean squared error (loss='mse'), got {loss!r}")
        return MeanSquaredError(classification=False)

    def _validate_xy(self, X, y, *, reset, dtype):
        X, y = validate_data(self, X, y, reset=reset, dtype=dtype, multi_output=True, y_numeric=True)
        return X, y

    def _encode_targets(self, y, *, reuse, partial, classes):
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if reuse:
            if y.shape[1] != self.n_outputs_:
                raise ShapeError(f"y has {y.shape[1]} target columns but the model was fitted with {self.n_outputs_}")
        else:
            self.n_outputs_ = y.shape[1]
        return y

    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (n × features) and targets ``y`` (n or n × targets)."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X, y``, continuing the optimizer's state."""
        return self._fit(X, y, sample_weight, partial=True)

    def predict(self, X) -> np.ndarray:
        out = self._outputs(X)
        return out.ravel() if out.shape[1] == 1 else out

    @staticmethod
    def _score_network(net: Network, X, y, weight) -> float:
        return float(r2_score(y, net.predict_proba(X), sample_weight=weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# What each entry of an estimator's metadata must be (None is always allowed).
_EXTRA_CHECKS = {
    "estimator": (lambda v: isinstance(v, str), "a name"),
    "params": (lambda v: isinstance(v, dict), "a mapping of settings"),
    "fitted": (lambda v: isinstance(v, dict), "a mapping of fitted attributes"),
    "classes_kind": (lambda v: isinstance(v, str), "a dtype kind letter"),
    "n_outputs": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1 << 30, "a whole number >= 1"),
    "feature_names_in": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of names"),
}
_FITTED_CHECKS = {
    "loss_curve_": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers"),
    "validation_scores_": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers"),
    "n_iter_": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number >= 0"),
    "t_": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number >= 0"),
    "best_loss_": (_is_number, "a number"),
    "best_validation_score_": (_is_number, "a number"),
}


def _checked_extra(extra: dict[str, Any], path) -> dict[str, Any]:
    """An estimator's metadata with every entry :meth:`load` uses checked for its type."""
    for table, source, where in ((_EXTRA_CHECKS, extra, "metadata"), (_FITTED_CHECKS, extra.get("fitted"), "fitted")):
        for key, (ok, what) in table.items():
            value = source.get(key) if isinstance(source, dict) else None
            if value is not None and not ok(value):
                raise ModelFileError(f"{path}: {where} entry {key!r} must be {what}, got {type(value).__name__} "
                                     f"{str(value)[:60]!r}")
    return extra

