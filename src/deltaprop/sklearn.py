"""scikit-learn estimators trained by the deltaprop engine.

:class:`NeuralNetClassifier` and :class:`NeuralNetRegressor` take ``MLPClassifier`` and
``MLPRegressor``'s parameters under their names and with their meanings (``solver``,
``alpha``, ``learning_rate``, ``learning_rate_init``, ``max_iter``, ``max_fun``, ...), so
switching is one line::

    from deltaprop.sklearn import NeuralNetClassifier as MLPClassifier

They train with :func:`deltaprop.fit` (``solver="lbfgs"`` with SciPy's L-BFGS-B on the
network's flat parameter and gradient buffers) and add deltaprop's own settings: dropout,
any deltaprop optimizer or schedule, an activation per hidden layer, the output unit and
the dtype. Parameters are checked in ``fit``, not ``__init__`` (scikit-learn's rule: so
``clone`` and ``set_params`` never fail). Install with the ``sklearn`` extra;
``import deltaprop`` never imports this module.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import numbers
import warnings
from pathlib import Path
from typing import Any

import numpy as np

try:
    import scipy.optimize
    import scipy.sparse
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import _check_sample_weight, check_random_state, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(  # deltaprop is on no package index: "deltaprop[sklearn]" alone installs nothing of it
        "deltaprop.sklearn needs scikit-learn >= 1.6, which is not installed: "
        'pip install "scikit-learn>=1.6", or in a checkout of deltaprop uv sync --extra sklearn '
        '(or pip install ".[sklearn]")'
    ) from exc

from . import _checks, errors
from .callbacks import Callback
from .errors import ConfigError, DataError, ModelFileError, ShapeError
from .layers import ACTIVATIONS, LAYERS, Dense, Dropout, Layer, layer_from_config
from .losses import BinaryCrossEntropy, CrossEntropy, Loss, MeanSquaredError, loss_from_config, loss_from_name
from .network import Network, predictions_from_outputs, resolve_dtype
from .optimizers import (OPTIMIZERS, AdamW, Optimizer, ScikitLearnAdam, ScikitLearnSGD, optimizer_from_config,
                         optimizer_from_name)
from .preprocessing import PREPROCESSING
from .schedules import CosineAnnealing, Schedule, StepDecay, check_anneals, schedule_from_config
from .serialization import input_range_of, read_model
from .serialization import save as save_model
from .training import HISTORY_KEYS, History, TrainingState, _auto_threads, blas_controller
from .training import fit as _train

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor", "NotFittedError", "TrainingDivergedError"]

#: ``batch_size="auto"`` is scikit-learn's ``min(200, n_samples)``.
AUTO_BATCH = 200
#: Rows densified at a time from a sparse ``X`` (prediction, scoring, L-BFGS), and at most
#: this many values in all (32 MiB of float64): wide ``X`` (hashed or TF-IDF features) is
#: densified fewer rows at a time, 4 rows of a 2**20-column matrix.
SPARSE_CHUNK = 4096
SPARSE_CHUNK_VALUES = 4096 * 1024
#: scikit-learn's activation names, and deltaprop's for the same layers.
_ACTIVATION_NAMES = {"logistic": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu",
                     "identity": "identity", "leaky_relu": "leaky_relu"}
#: ``learning_rate`` values with scikit-learn's meaning; any other is a deltaprop schedule.
_SKLEARN_SCHEDULES = ("constant", "invscaling", "adaptive")
#: ``solver="adadelta"`` at ``learning_rate_init`` this far (or more) below AdaDelta's own
#: rate of 1 is warned about: its steps are already scaled by ``√E[Δ²]/√E[g²]``, so the
#: rate is a plain multiplier, and scikit-learn's default 0.001 leaves digits at chance.
_ADADELTA_SLOW_RATE = 0.01


class NotFittedError(errors.NotFittedError, _SklearnNotFittedError):
    """Raised by ``predict`` and friends before ``fit``: both deltaprop's and scikit-learn's
    ``NotFittedError`` (so ``except deltaprop.Error`` and scikit-learn's own checks agree)."""


class TrainingDivergedError(errors.TrainingDivergedError, ValueError):
    """Training diverged: deltaprop's error, and a ``ValueError`` as scikit-learn raises."""


# -- the training objective ---------------------------------------------------------------
class _Objective(Loss):
    """scikit-learn's objective on a batch of ``m`` rows with weights ``w_i`` (1 without
    ``sample_weight``), ``S = Σ_i w_i``:

        ``L = c Σ_i w_i ℓ_i / (k S) + α/(2S) Σ_layers ‖W‖²``

    ``ℓ_i`` the wrapped loss's :meth:`~deltaprop.losses.Loss.row_values`, ``c`` its scale
    (½ for squared error, whose ``½‖a − y‖²`` starts backward at ``δ = (a − y)/m`` as
    scikit-learn's does). ``k`` (:attr:`entries`) is the number of outputs for squared error,
    else 1: scikit-learn reports ``½ mean((a − y)²)`` over all ``m k`` entries, yet its
    gradient is that of ``½ Σ_k``, ``k`` times steeper; both are kept (the gradient does not
    see ``k``). Biases are not penalised. :func:`deltaprop.fit` hands the weights
    scaled to mean 1; ``weight_scale`` (the raw weights' mean) turns their sum back into
    scikit-learn's ``S``. The penalty's gradient ``(α/S) W`` is added by
    :class:`_WeightPenalty`, which reads ``S`` from :attr:`denominator`. L-BFGS sums chunks of
    one full batch: it sets :attr:`fixed_denominator` (and the chunk's weights) and adds the
    penalty once itself."""

    type_name = "Objective"
    classification = False  # the loop's running accuracy is not used

    def __init__(self, inner: Loss, weights: list, *, alpha: float, scale: float, weight_scale: float = 1.0,
                 entries: int = 1):
        super().__init__()
        self.inner, self.weights, self.alpha, self.scale = inner, weights, alpha, scale
        self.entries = entries
        self.weight_scale = weight_scale
        self.denominator = 1.0
        self.fixed_denominator: float | None = None
        self.chunk_weights: np.ndarray | None = None

    def prepare_targets(self, y, n_outputs, dtype):
        y = np.asarray(y)
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise ShapeError(f"objective targets must have {n_outputs} columns, got shape {y.shape}")
        return np.ascontiguousarray(y, dtype=dtype)

    def penalty(self) -> float:
        """``Σ_layers ‖W‖²`` (the weights only)."""
        return float(sum(np.dot(W.value.ravel(), W.value.ravel()) for W in self.weights))

    def value(self, a, y, weights=None):
        weights = self.chunk_weights if weights is None else weights
        m = a.shape[0]
        if weights is None:
            total, count = self.inner.value(a, y) * m, float(m)
        else:
            total = float(np.dot(weights.astype(np.float64), self.inner.row_values(a, y)))
            count = float(weights.sum(dtype=np.float64))
        if self.fixed_denominator is not None:  # one chunk of L-BFGS's full batch
            self.denominator = self.fixed_denominator
            self._data_scale = self.scale * m / self.denominator
            return self.scale * total / (self.denominator * self.entries)
        self.denominator = count * self.weight_scale
        self._data_scale = self.scale * m / count  # the wrapped gradient's 1/m becomes c/S
        out = self.scale * total / (count * self.entries)
        if self.alpha:
            out += 0.5 * self.alpha * self.penalty() / self.denominator
        return out

    def gradient(self, a, y, weights=None):
        weights = self.chunk_weights if weights is None else weights
        g = self.inner.gradient(a, y, weights)
        g *= self._data_scale
        return g

    def fused_delta(self, last_layer, a, y, weights=None):
        weights = self.chunk_weights if weights is None else weights
        delta = self.inner.fused_delta(last_layer, a, y, weights)
        if delta is not None:
            delta *= self._data_scale
        return delta


class _WeightPenalty(Callback):
    """The gradient hook: adds scikit-learn's L2 gradient ``(α/S) W`` to each weight
    matrix's gradient (never a bias's) before the optimizer's step, ``S`` the batch's total
    weight as the objective found it."""

    def on_gradients(self, state):
        objective = state.loss
        if objective.alpha:
            c = objective.alpha / objective.denominator
            for W in objective.weights:
                W.grad += c * W.value


# -- sparse input -------------------------------------------------------------------------
class _SparseRows:
    """A sparse matrix seen as the training loop's lazy array: ``rows[idx]`` densifies only
    the rows of one mini-batch, so the whole matrix is never dense."""

    def __init__(self, X, dtype):
        self.X = X.tocsr()
        self.shape = X.shape
        self.dtype = np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        return np.asarray(self.X[index].toarray(), dtype=self.dtype)


def _chunks(X, dtype):
    """``(start, stop, dense rows)`` over ``X``: the array itself, or a sparse matrix densified
    ``min(SPARSE_CHUNK, SPARSE_CHUNK_VALUES // n_features)`` rows (at least one) at a time."""
    if not scipy.sparse.issparse(X):
        yield 0, X.shape[0], X
        return
    X = X.tocsr()
    step = max(1, min(SPARSE_CHUNK, SPARSE_CHUNK_VALUES // max(1, X.shape[1])))
    for start in range(0, X.shape[0], step):
        stop = min(start + step, X.shape[0])
        yield start, stop, np.asarray(X[start:stop].toarray(), dtype=dtype)


def _outputs(net: Network, X) -> np.ndarray:
    """The network's outputs for every row of ``X`` (dense or sparse)."""
    out = np.empty((X.shape[0], net.n_outputs), dtype=net.dtype)
    for start, stop, rows in _chunks(X, net.dtype):
        out[start:stop] = net.predict_proba(rows)
    return out


# -- scikit-learn's convergence rule, epoch by epoch --------------------------------------
class _ScikitLearnRule(Callback):
    """After every epoch, what ``MLPClassifier._fit_stochastic`` does: record the loss, print
    it (``verbose``), score the validation split under early stopping (keeping a copy of the
    best weights), count epochs without improvement, update ``invscaling`` (``η₀/(t + 1)^p``)
    and ``adaptive`` rates, and stop once more than ``n_iter_no_change`` epochs did not improve by ``tol``."""

    def __init__(self, est: "_NeuralNet", validation, *, n_rows: int, incremental: bool):
        self.est, self.validation, self.n_rows, self.incremental = est, validation, n_rows, incremental
        self.stopped = False

    def on_epoch_end(self, state):
        est = self.est
        est.n_iter_ += 1
        est.t_ += self.n_rows
        est.loss_ = float(state.logs["loss"])
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        self._count(state)
        sgd_rates = est._uses_sklearn_rates()
        if sgd_rates and est.learning_rate == "invscaling":
            state.base_lr = est._initial_rate() / (est.t_ + 1) ** float(est.power_t)
        if est._no_improvement_count > est.n_iter_no_change:
            watched = "Validation score" if self.validation is not None else "Training loss"
            msg = f"{watched} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
            if sgd_rates and est.learning_rate == "adaptive" and state.base_lr > 1e-6:
                state.base_lr /= 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    print(f"{msg} Setting learning rate to {state.base_lr:f}")
            else:
                if est.verbose:  # scikit-learn's words for an adaptive rate that has run down
                    small = sgd_rates and est.learning_rate == "adaptive"
                    print(f"{msg} {'Learning rate too small. ' if small else ''}Stopping.")
                self.stopped = state.stop_training = True
        if self.incremental:
            state.stop_training = True

    def _count(self, state):
        """scikit-learn's counter: an epoch counts when it is not ``tol`` better than the
        best so far; the reference is the best value itself, whatever the margin."""
        est = self.est
        if self.validation is None:
            if est.loss_ > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, est.loss_)
            return
        score = est._score_rows(state.net, *self.validation)
        est.validation_scores_.append(score)
        if est.verbose:
            print(f"Validation score: {score:f}")
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_weights = [p.value.copy() for p in state.net.parameters()]


# -- the shared estimator -----------------------------------------------------------------
class _NeuralNet(BaseEstimator):
    """What the classifier and the regressor share: settings, the two solvers, state."""

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
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral):
                raise ConfigError(f"hidden_layer_sizes must be whole numbers, got {sizes}: give each hidden "
                                  "layer's width as an int, such as (100,) or (64, 32)")
            if s <= 0:
                raise ConfigError(f"hidden_layer_sizes must be > 0, got {sizes}: give each hidden layer's width")
        return [int(s) for s in sizes]

    def _activations(self, n_hidden: int) -> list[str]:
        """One deltaprop activation name per hidden layer (a single name applies to all)."""
        names = [self.activation] * n_hidden if isinstance(self.activation, str) else list(self.activation)
        if len(names) != n_hidden:
            raise ConfigError(
                f"activation lists {len(names)} names for {n_hidden} hidden layers; give one name, or one per layer"
            )
        out = []
        for name in names:
            key = _ACTIVATION_NAMES.get(str(name).lower().replace("-", "_"))
            if key is None:
                raise ConfigError(
                    f"activation must be one of identity, logistic, tanh, relu (or sigmoid, leaky_relu), got {name!r}"
                )
            out.append(key)
        return out

    def _solver_name(self) -> str:
        if isinstance(self.solver, Optimizer):
            return self.solver.type_name.lower()
        name = str(self.solver).strip().lower()
        if name != "lbfgs" and name not in OPTIMIZERS:
            raise ConfigError(
                f"solver must be 'lbfgs', one of {', '.join(OPTIMIZERS)} or a deltaprop optimizer, got {self.solver!r}"
            )
        return name

    def _initial_rate(self) -> float:
        """``η₀`` of ``invscaling``: ``learning_rate_init``, or an optimizer instance's own rate."""
        return float(self.solver.lr) if isinstance(self.solver, Optimizer) else float(self.learning_rate_init)

    def _uses_sklearn_rates(self) -> bool:
        """``invscaling`` and ``adaptive`` change the rate of every solver but Adam, which
        scikit-learn leaves at ``learning_rate_init``."""
        return self.learning_rate in ("invscaling", "adaptive") and self._solver_name() != "adam"

    def _check_settings(self) -> None:
        for name in ("shuffle", "early_stopping", "warm_start", "nesterovs_momentum"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        self._activations(len(self._hidden_sizes()))
        self._solver_name()
        _checks.positive_number("alpha", self.alpha, allow_zero=True)
        _checks.positive_number("learning_rate_init", self.learning_rate_init)
        _checks.positive_number("power_t", self.power_t, allow_zero=True)
        _checks.positive_int("max_iter", self.max_iter)
        _checks.positive_int("max_fun", self.max_fun)
        _checks.positive_number("tol", self.tol, allow_zero=True)
        _checks.fraction("momentum", self.momentum, high_open=False)
        _checks.fraction("beta_1", self.beta_1)
        _checks.fraction("beta_2", self.beta_2)
        _checks.positive_number("epsilon", self.epsilon)
        if not (isinstance(self.n_iter_no_change, float) and self.n_iter_no_change == math.inf):
            _checks.positive_int("n_iter_no_change", self.n_iter_no_change)
        if self.early_stopping:
            _checks.fraction("validation_fraction", self.validation_fraction, low_open=True)
        if _checks.fraction("dropout", self.dropout) > 0 and self._solver_name() == "lbfgs":
            raise ConfigError("solver='lbfgs' needs a deterministic loss; use dropout=0 or a stochastic solver")
        if self.batch_size != "auto":
            _checks.positive_int("batch_size", self.batch_size)
        if self.dtype is not None:
            resolve_dtype(self.dtype)
        self._make_schedule()

    def _make_schedule(self) -> Schedule:
        """scikit-learn's three rates are a constant schedule whose base rate the rule moves;
        any other value is a deltaprop schedule (name, config mapping or instance). Named
        or mapped without a length, cosine anneals over ``max_iter`` epochs (``t_max``) and
        step decays every ``step_size = max(1, ⌊max_iter/3⌋)`` of them, as a CLI run's:
        ``⌈max_iter/step_size⌉ − 1`` decays, two when ``max_iter`` ≥ 6 is a multiple of 3,
        else three (``max_iter - 1`` under 6)."""
        if isinstance(self.learning_rate, str) and self.learning_rate in _SKLEARN_SCHEDULES:
            return schedule_from_config("constant")
        if isinstance(self.learning_rate, Schedule):
            return copy.deepcopy(self.learning_rate)  # schedules keep state; the parameter stays untouched
        try:
            schedule = schedule_from_config(copy.deepcopy(self.learning_rate))
        except ConfigError as exc:
            raise ConfigError(
                f"learning_rate must be 'constant', 'invscaling', 'adaptive' or a deltaprop schedule ({exc})"
            ) from None
        given = self.learning_rate if isinstance(self.learning_rate, dict) else {}
        epochs = int(self.max_iter)
        if isinstance(schedule, CosineAnnealing) and "t_max" not in given:
            return CosineAnnealing(t_max=epochs, min_lr=schedule.min_lr)
        if isinstance(schedule, StepDecay) and "step_size" not in given:
            return StepDecay(step_size=max(1, epochs // 3), gamma=schedule.gamma)
        return schedule

    def _make_optimizer(self) -> Optimizer:
        if isinstance(self.solver, Optimizer):
            return optimizer_from_config(self.solver.config())  # a fresh copy with its own settings
        name, lr = self._solver_name(), float(self.learning_rate_init)
        if name == "sgd":
            momentum = float(self.momentum)
            return ScikitLearnSGD(lr, momentum, nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        if name in ("adam", "adamw"):  # "adam" steps as scikit-learn's; AdamW (no scikit-learn solver) as PyTorch's
            cls = ScikitLearnAdam if name == "adam" else AdamW
            return cls(lr, float(self.beta_1), float(self.beta_2), eps=float(self.epsilon))
        return optimizer_from_name(name, lr=lr)

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(AUTO_BATCH, n)
        if self.batch_size > n:
            warnings.warn(
                f"Got `batch_size` less than 1 or larger than sample size. It is going to be clipped "
                f"(batch_size={self.batch_size}, {n} training rows)",
                UserWarning,
                stacklevel=6,
            )
        return min(int(self.batch_size), n)

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
        """Weight matrices ``W`` (``n_in × n_out``) layer by layer, as MLPClassifier's
        ``coefs_``: the network's own arrays, so editing one in place edits the model.
        Assigning a list copies it into the network (same shapes)."""
        return self._layer_arrays("W")

    @coefs_.setter
    def coefs_(self, values) -> None:
        self._set_layer_arrays("W", values)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors layer by layer, as MLPClassifier's ``intercepts_`` (live, as ``coefs_``)."""
        return self._layer_arrays("b")

    @intercepts_.setter
    def intercepts_(self, values) -> None:
        self._set_layer_arrays("b", values)

    def _layer_arrays(self, name: str) -> list[np.ndarray]:
        self._check_fitted()
        return _LayerArrays([getattr(layer, name) for layer in self.net_.layers if isinstance(layer, Dense)])

    def _set_layer_arrays(self, name: str, values) -> None:
        self._check_fitted()
        dense = [layer for layer in self.net_.layers if isinstance(layer, Dense)]
        values = list(values)
        if len(values) != len(dense):
            raise ShapeError(f"the network has {len(dense)} layers of weights, got {len(values)} arrays")
        _set_all([getattr(layer, name) for layer in dense], values)

    @property
    def n_layers_(self) -> int:
        """Layers of units, input and output included, as MLPClassifier counts them."""
        self._check_fitted()
        return sum(isinstance(layer, Dense) for layer in self.net_.layers) + 1

    def _network_outputs(self, X) -> np.ndarray:
        self._check_fitted()
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"], dtype=self.net_.dtype)
        return _outputs(self.net_, X)

    # -- the network ----------------------------------------------------------------------
    def _build_network(self, n_features: int, dtype, seed: int, inputs: tuple[Layer, ...] = ()) -> Network:
        """Dense → activation (→ dropout) per hidden layer, then Dense → output activation,
        initialised as MLPClassifier does unless ``init`` names a deltaprop initialiser;
        after the ``inputs`` layers (a loaded model's input scaling) if any."""
        init = self.init or "glorot_uniform"
        layers: list[Layer] = list(inputs) + [
            Dense(*detail, init=init) if kind == "Dense" else Dropout(detail) if kind == "Dropout" else LAYERS[kind]()
            for kind, detail in self._planned_layers(n_features)
        ]
        net = Network(layers, seed=seed, dtype=dtype)
        if self.init is None:
            self._initialize_as_scikit_learn(net, seed)
        return net

    def _planned_layers(self, n_features: int) -> list[tuple]:
        """The layers the parameters name now, as ``(type, shape or rate)`` items."""
        sizes = self._hidden_sizes()
        plan: list[tuple] = []
        n_in = n_features
        for width, name in zip(sizes, self._activations(len(sizes))):
            plan += [("Dense", (n_in, width)), (ACTIVATIONS[name].type_name, None)]
            if float(self.dropout) > 0:
                plan.append(("Dropout", float(self.dropout)))
            n_in = width
        return plan + [("Dense", (n_in, self._n_network_outputs())), (ACTIVATIONS[self._output_name()].type_name, None)]

    def _follow_parameters(self, n_features: int) -> None:
        """Before a warm start (``warm_start=True``, ``partial_fit``): the fitted weights with
        the layers the parameters name now. scikit-learn's forward pass reads ``activation``
        at every call, so a changed activation, dropout, output unit of the same width or
        dtype rebuilds the layers around the same weights (the optimizer starts afresh); a
        changed shape cannot keep them and is refused: other ``hidden_layer_sizes``, or an
        ``output`` that changes the output layer's width (two classes: one logistic unit,
        two softmax units). A loaded model's input scaling (the command line's ``Rescaling``
        or ``Standardization`` in front) is no parameter's to name: it stays in front. Other
        layers no parameter names (an output stack such as ``sigmoid+softmax``) are kept
        while the parameters name the rest as it is, and a rebuild that would drop them is refused."""
        dtype = resolve_dtype(self.dtype) if self.dtype is not None else self.net_.dtype
        layers = list(self.net_.layers)
        inputs = []
        while layers and layers[0].type_name in PREPROCESSING:
            inputs.append(layers.pop(0))
        have = [(layer.type_name, (layer.n_in, layer.n_out) if isinstance(layer, Dense)
                 else layer.rate if isinstance(layer, Dropout) else None) for layer in layers]
        want = self._planned_layers(n_features)
        if have == want and dtype == self.net_.dtype:
            return
        shapes = [shape for kind, shape in have if kind == "Dense"]
        wanted = [shape for kind, shape in want if kind == "Dense"]
        if shapes != wanted:
            fitted = " → ".join([str(n_features)] + [str(shape[1]) for shape in shapes])
            if shapes[:-1] == wanted[:-1]:
                change = (f"output={self.output!r} makes the output layer {wanted[-1][1]} units wide where the fitted "
                          f"one has {shapes[-1][1]}; fit with warm_start=False to train a new network, or set output back")
            else:
                change = (f"other layer sizes (hidden_layer_sizes={self.hidden_layer_sizes!r}); fit with "
                          "warm_start=False to train a new network, or set the sizes back")
            raise ConfigError(f"warm_start and partial_fit train the fitted network ({fitted}), but the parameters "
                              f"now ask for {change}")
        (named, unnamed), (asked, _) = _named_layers(have), _named_layers(want)
        if unnamed:
            if named != asked:
                raise ConfigError(
                    "warm_start and partial_fit would rebuild the fitted network's layers for the changed parameters, "
                    f"which would drop the layers no parameter names ({', '.join(unnamed)}: "
                    f"{' → '.join(kind for kind, _ in have)}); set activation, output and dropout back as load gave "
                    "them, or fit with warm_start=False to train a new network"
                )
            if dtype == self.net_.dtype:  # the parameters name the network as it is: train it so
                return
            net = self.net_.copy(dtype=dtype)  # only the dtype changes: every layer as it is
        else:
            net = self._build_network(n_features, dtype, 0, tuple(layer_from_config(layer.config()) for layer in inputs))
            for new, old in zip(net.parameters(), self.net_.parameters()):
                new.value = old.value.astype(dtype)
        self.net_, self._state = net, None
        self._best_weights = [w.astype(dtype) for w in self._best_weights]

    def _initialize_as_scikit_learn(self, net: Network, seed: int) -> None:
        """MLPClassifier's initialisation: ``W`` and ``b`` uniform in ``±√(f/(n_in + n_out))``,
        ``f = 2`` around logistic units and 6 otherwise, drawn in float64 whatever the dtype.
        The output layer takes the last hidden layer's ``f``; without hidden layers
        (``hidden_layer_sizes=()``), ``activation``'s, as scikit-learn's."""
        rng = np.random.default_rng([seed, 1])
        dense = [layer for layer in net.layers if isinstance(layer, Dense)]
        activations = self._activations(len(dense) - 1)
        if not activations:
            activations = self._activations(1) if isinstance(self.activation, str) else ["identity"]
        for i, layer in enumerate(dense):
            factor = 2.0 if activations[min(i, len(activations) - 1)] == "sigmoid" else 6.0
            bound = math.sqrt(factor / (layer.n_in + layer.n_out))
            layer.W.value = rng.uniform(-bound, bound, (layer.n_in, layer.n_out))
            layer.b.value = rng.uniform(-bound, bound, layer.n_out)

    def _initialize(self, X, seed: int) -> None:
        """A fresh network and fresh curves (scikit-learn's ``_initialize``)."""
        dtype = resolve_dtype(self.dtype) if self.dtype is not None else X.dtype
        self.net_ = self._build_network(X.shape[1], dtype, seed)
        self.n_iter_, self.t_ = 0, 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._state = None
        self._best_weights = [p.value.copy() for p in self.net_.parameters()]
        self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, None

    def _start_stopping_record(self) -> None:
        """Before stochastic training: the stopping rule's record for the criterion the
        parameters name now, as scikit-learn's ``_initialize`` sets it (validation scores
        under ``early_stopping``, else ``best_loss_``). A warm start or ``partial_fit`` that
        keeps the criterion carries the record over; one that switches it (or follows
        L-BFGS, which keeps none) starts the new criterion's record and the counter afresh."""
        if self.early_stopping and self.validation_scores_ is None:
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
        elif not self.early_stopping and self.best_loss_ is None:
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf
        else:
            return
        self._no_improvement_count = 0
        self._best_weights = [p.value.copy() for p in self.net_.parameters()]

    def _objective(self, weight: np.ndarray | None) -> _Objective:
        weights = [layer.W for layer in self.net_.layers if isinstance(layer, Dense)]
        inner = self._make_loss()
        scale = 0.5 if isinstance(inner, MeanSquaredError) else 1.0
        weight_scale = 1.0 if weight is None else float(weight.mean())
        entries = self.net_.n_outputs if isinstance(inner, MeanSquaredError) else 1
        return _Objective(inner, weights, alpha=float(self.alpha), scale=scale, weight_scale=weight_scale,
                          entries=entries)

    # -- training -------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, *, incremental: bool, classes=None):
        """``fit`` and ``partial_fit``: train, or on any failure (an error, Ctrl-C) leave the
        estimator as it was before the call (unfitted before a first fit)."""
        undo = _Undo(self, in_place=not self._first_pass(incremental))
        try:
            return self._train(X, y, sample_weight, incremental=incremental, classes=classes)
        except BaseException:
            undo.restore(self)
            raise

    def _first_pass(self, incremental: bool) -> bool:
        """Whether this call trains a new network (not the fitted one: a warm start or ``partial_fit``)."""
        return not hasattr(self, "net_") or (not self.warm_start and not incremental)

    def _train(self, X, y, sample_weight=None, *, incremental: bool, classes=None):
        self._check_settings()
        if incremental and self.early_stopping:
            raise ConfigError(
                "partial_fit does not support early_stopping=True: set early_stopping=False, "
                "or hold out a validation set yourself"
            )
        first_pass = self._first_pass(incremental)
        dtype = (np.float64, np.float32) if first_pass else self.net_.dtype
        if self.dtype is not None:
            dtype = resolve_dtype(self.dtype)
        X, y = self._validate_xy(X, y, reset=first_pass, dtype=dtype)
        self._input_range = _merged_range(None if first_pass else getattr(self, "_input_range", None), X, first_pass)
        weight = self._sample_weight(sample_weight, X)
        # every row's label, weight 0 or not: a class whose rows all weigh 0 is still one of
        # classes_ (and an unknown label still refused), as in scikit-learn
        targets = self._encode_targets(y, first_pass=first_pass, incremental=incremental, classes=classes)
        self._check_loss_output()
        unweighted = 0  # rows of weight 0: removed, yet counted in t_ as scikit-learn counts them
        if weight is not None and not np.all(weight > 0):
            keep = weight > 0
            X, targets, weight, unweighted = X[keep], targets[keep], weight[keep], int(np.count_nonzero(~keep))
        if not incremental or getattr(self, "_state", None) is None:  # an optimizer is made afresh
            self._warn_slow_adadelta()
        rs = check_random_state(self.random_state)
        net_seed, shuffle_seed, split_seed = (int(s) for s in rs.randint(0, 2**31 - 1, size=3))
        if first_pass:
            self._initialize(X, net_seed)
        else:
            self._follow_parameters(X.shape[1])
        if self._solver_name() == "lbfgs":
            self._fit_lbfgs(X, self._target_rows(targets).astype(np.float64, copy=False), weight)
        else:
            rows = self._target_rows(targets).astype(self.net_.dtype, copy=False)
            self._fit_stochastic(X, rows, weight, targets, (split_seed, shuffle_seed), incremental, unweighted)
        self.net_.gives_values = isinstance(self, RegressorMixin)  # net_.predict: values, or class ids
        # a multi-label classifier's: net_.predict gives each label's 0/1, and save(net_) writes a labels model
        self.net_.multilabel = bool(getattr(self, "_multilabel", False))
        if not all(np.all(np.isfinite(p.value)) for p in self.net_.parameters()):
            raise TrainingDivergedError(
                "Solver produced non-finite parameter weights. The input data may contain large values "
                "and need to be preprocessed (scale X, e.g. with StandardScaler)",
                epoch=self.n_iter_, step=0,
            )
        return self

    def _warn_slow_adadelta(self) -> None:
        """``solver="adadelta"`` takes ``learning_rate_init`` as AdaDelta's ``α`` in
        ``W := W + αΔ``, where ``Δ = −√(E[Δ²] + ε)/√(E[g²] + ε) · g`` is already a step in
        the weights' units (Zeiler's rule is ``α = 1``, AdaDelta's own default). scikit-learn's
        default 0.001, meant for Adam, makes every step 1000 times shorter and the network
        barely moves (near-chance accuracy, no error): warn before training at ``α ≤ 0.01``.
        An :class:`~deltaprop.optimizers.AdaDelta` instance keeps its own rate unwarned."""
        if not isinstance(self.solver, str) or self._solver_name() != "adadelta":
            return
        rate = float(self.learning_rate_init)
        if rate <= _ADADELTA_SLOW_RATE:
            factor = f"{1.0 / rate:.0f}" if rate > 1e-6 else f"{1.0 / rate:.0e}"  # 1e+300, not 301 digits
            warnings.warn(
                f"solver='adadelta' uses learning_rate_init={rate:g} as AdaDelta's rate, "
                f"{factor} times below its own rate of 1.0 (learning_rate_init's default 0.001 is "
                "Adam's): AdaDelta already scales its steps, so at this rate the network barely learns. "
                "Pass learning_rate_init=1.0 (or solver=deltaprop.AdaDelta(), which keeps its own rate)",
                UserWarning,
                stacklevel=5,
            )

    def _check_loss_output(self) -> None:
        """Refuse a loss the output layer cannot give what it is defined on (the classifier's)."""

    def _sample_weight(self, sample_weight, X) -> np.ndarray | None:
        """Weights as float64, or None when absent or all 1 (the same computation). A
        negative weight is refused (MLPClassifier trains on it): ``−|w| ℓ_i`` rewards that
        row's loss, which log-loss and squared error let grow without bound, so the
        objective has no minimum and the weights run off."""
        if sample_weight is None:
            return None
        weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if np.any(weight < 0):
            i = int(np.argmax(weight < 0))
            raise DataError(
                f"sample_weight holds a negative weight ({weight[i]:g}, row {i}): a negative weight rewards that row's "
                "loss, which log-loss and squared error let grow without bound, so training would push its "
                "prediction away from its target until the weights diverge (MLPClassifier and MLPRegressor train "
                "on it anyway); give weights >= 0 (0 leaves a row out)"
            )
        if not np.any(weight > 0):
            raise DataError("Sample weights must contain at least one non-zero number.")
        return None if np.all(weight == 1.0) else weight

    def _fit_stochastic(self, X, rows, weight, targets, seeds, incremental, unweighted=0):
        """Epochs of :func:`deltaprop.fit` under scikit-learn's rule; ``t_`` grows by the
        rows scikit-learn trains on, weight-0 rows (``unweighted``, removed before the
        split) included: all ``N`` rows, or under early stopping ``N − ⌈fN⌉`` for
        ``validation_fraction`` ``f``, the training part of its split of all of them."""
        split_seed, shuffle_seed = seeds
        self._start_stopping_record()
        validation = None
        seen = X.shape[0] + unweighted
        if self.early_stopping:
            seen -= math.ceil(float(self.validation_fraction) * seen)
            train, held = self._split(X.shape[0], targets, split_seed)
            validation = (X[held], targets[held], None if weight is None else weight[held])
            X, rows, weight = X[train], rows[train], None if weight is None else weight[train]
        objective = self._objective(weight)
        state = self._state if incremental and self._state is not None else self._new_state(shuffle_seed)
        if incremental:
            self._check_cosine_left(state)
            state.epochs = state.steps = None  # a run that goes on call by call: no planned length to hold it to
            # and on each call's own rows and weights, which fit need not compare
            state.sample_weight = state.training_data = None
        self._state = state
        n = X.shape[0]
        batch_size = self._batch_size(n)
        data = X
        if scipy.sparse.issparse(X):  # a step that takes every row densifies them all: once, not every epoch
            data = np.asarray(X.toarray(), dtype=self.net_.dtype) if batch_size >= n else _SparseRows(X, self.net_.dtype)
        rule = _ScikitLearnRule(self, validation, n_rows=seen, incremental=incremental)
        self.n_iter_ = 0
        try:
            _train(
                self.net_, data, rows, loss=objective, optimizer=state.optimizer,
                epochs=state.epoch + (1 if incremental else int(self.max_iter)),
                batch_size=None if batch_size >= n else batch_size,
                shuffle=bool(self.shuffle), callbacks=[_WeightPenalty(), rule], resume=state,
                sample_weight=weight,  # BLAS threads: fit's choice, kept in the state for partial_fit
                diagnostics=False,  # MLPClassifier records none; a probe pass per epoch would only cost time
            )
        except errors.TrainingDivergedError as exc:
            self._diverged(exc, validation)
        finally:
            state.loss = objective.inner  # the state keeps a plain loss (its to_dict names it)
            if self.early_stopping:
                for p, best in zip(self.net_.parameters(), self._best_weights):
                    np.copyto(p.value, best)
        self.history_ = state.history
        if not incremental and not rule.stopped and self.n_iter_ == self.max_iter:
            self._warn_max_iter(validation is not None)

    def _check_cosine_left(self, state: TrainingState) -> None:
        """``partial_fit`` past the end of a cosine schedule trains at its ``min_lr``; refuse
        it where that is 0, as the epoch would leave the weights as they are."""
        schedule = state.schedule
        if isinstance(schedule, CosineAnnealing) and state.epoch >= schedule.t_max and schedule.min_lr == 0:
            raise ConfigError(
                f"partial_fit would train epoch {state.epoch + 1} at rate 0: learning_rate's cosine schedule "
                f"anneals to min_lr 0 over t_max={schedule.t_max} epochs (max_iter when not given), which have "
                "run; raise max_iter, give learning_rate={'type': 'cosine', 't_max': ..., 'min_lr': ...}, "
                "or fit again"
            )

    def _threads(self, rows_per_step: int) -> int | None:
        """For the L-BFGS solver, the BLAS threads :func:`deltaprop.fit` would choose for
        steps of ``rows_per_step`` rows: one for a small GEMM, else as many as other
        processes leave CPUs idle."""
        return _auto_threads(self.net_, rows_per_step)

    def _new_state(self, shuffle_seed: int) -> TrainingState:
        opt, schedule = self._make_optimizer(), self._make_schedule()
        # fit would refuse a cosine rising to its min_lr, naming "the base rate": name the estimator's own
        check_anneals(schedule, opt.lr, "solver.lr" if isinstance(self.solver, Optimizer) else "learning_rate_init")
        return TrainingState(
            net=self.net_, optimizer=opt, loss=MeanSquaredError(), rng=np.random.default_rng(shuffle_seed),
            schedule=schedule, base_lr=opt.lr,
        )

    def _diverged(self, exc: errors.TrainingDivergedError, validation) -> None:
        """Without early stopping, raise (a ValueError, scikit-learn's contract). With it,
        record the epoch as scikit-learn does (its loss and a NaN validation score), keep
        the best weights and warn."""
        # fit's own advice names its callbacks, which an estimator takes none of: give the estimator's
        what = str(exc).split(". The network keeps")[0]
        fix = f"Lower learning_rate_init (it was {self._initial_rate():g}) or scale X (e.g. with StandardScaler)"
        if validation is None:
            raise TrainingDivergedError(
                f"Solver produced non-finite parameter weights. The input data may contain large values "
                f"and need to be preprocessed. {what}. {fix}", epoch=exc.epoch, step=exc.step,
                layer=getattr(exc, "layer", None),
            ) from None
        self.n_iter_ += 1
        self.loss_curve_.append(math.nan)
        self.validation_scores_.append(math.nan)
        warnings.warn(
            f"{type(self).__name__}: {what} ({fix}). The validation score of that epoch is recorded as NaN "
            f"and the weights of the best epoch (validation score {self.best_validation_score_:g}) are kept.",
            ConvergenceWarning,
            stacklevel=6,
        )

    def _warn_max_iter(self, early: bool) -> None:
        watched = "validation score" if early else "training loss"
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization hasn't "
            f"converged yet: the {watched} still improved by more than tol={self.tol:g} within "
            f"n_iter_no_change={self.n_iter_no_change} epochs. Raise max_iter or learning_rate_init.",
            ConvergenceWarning,
            stacklevel=6,
        )

    def _split(self, n: int, targets, seed: int):
        """Row indices of the training and validation parts (stratified where scikit-learn
        stratifies: a classifier of one output column)."""
        stratify = self._stratify_labels(targets)
        try:
            # a plain float: train_test_split refuses NumPy's float32 (a grid's np.linspace(0.1, 0.3, 3, dtype=...))
            train, held = train_test_split(np.arange(n), test_size=float(self.validation_fraction), random_state=seed,
                                           stratify=stratify)
        except ValueError as exc:
            raise DataError(
                f"early_stopping could not hold out validation_fraction={self.validation_fraction} of {n} rows: "
                f"{exc}{self._rare_classes(targets)}"
            ) from None
        if held.shape[0] < 2:
            raise DataError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset "
                f"({n} rows × validation_fraction={self.validation_fraction} leaves {held.shape[0]} for validation)."
            )
        return train, held

    def _stratify_labels(self, targets):
        return None

    def _rare_classes(self, targets) -> str:
        """Words naming the labels too rare to stratify, for a failed split's error."""
        return ""

    # -- L-BFGS ---------------------------------------------------------------------------
    def _fit_lbfgs(self, X, rows, weight) -> None:
        """Minimise the full-batch objective with SciPy's L-BFGS-B on the network's flat
        parameter and gradient buffers (scikit-learn's ``gtol=tol``, ``maxiter=max_iter``,
        ``maxfun=max_fun``). A sparse ``X`` is densified in chunks of rows for every
        evaluation. SciPy gets the objective whose gradient it is given (squared error
        ``½ Σ_k``); ``loss_`` and ``loss_curve_`` report scikit-learn's ``½ mean_k`` of it.
        A float32 network is optimised as a float64 copy (scikit-learn's L-BFGS also runs
        in float64): rounding each iterate to float32 leaves the objective unchanged by
        small steps, which L-BFGS-B reads as convergence (targets far from 0 stopped far
        from the minimum). The result is cast back to the network's dtype."""
        fitted = self.net_
        if fitted.dtype == np.float64:
            self._lbfgs(X, rows, weight)
            return
        self.net_ = fitted.copy(dtype=np.float64)
        try:
            self._lbfgs(X if scipy.sparse.issparse(X) else np.asarray(X, dtype=np.float64), rows, weight)
            np.copyto(fitted._flat_values, self.net_._flat_values, casting="same_kind")
        finally:
            self.net_ = fitted

    def _lbfgs(self, X, rows, weight) -> None:
        """:meth:`_fit_lbfgs` on a float64 network: SciPy's minimiser over its flat buffers,
        then the fitted attributes and history from its iterations."""
        net = self.net_
        theta, grads = net._flat_values, net.flat_gradients
        objective = self._objective(weight)
        objective.fixed_denominator = float(X.shape[0] if weight is None else weight.sum())
        entries, objective.entries = objective.entries, 1
        total = np.empty_like(grads, dtype=np.float64)
        reported: dict[float, float] = {}  # objective value -> the loss scikit-learn reports there

        def loss_and_gradient(x):
            np.copyto(theta, x, casting="same_kind")
            total[...] = 0.0
            data = 0.0
            for start, stop, chunk in _chunks(X, net.dtype):
                objective.chunk_weights = None if weight is None else weight[start:stop]
                data += net.loss_and_gradients(objective, chunk, rows[start:stop])
                np.add(total, grads, out=total)
            penalty = self._add_penalty(objective, total)
            reported[data + penalty] = data / entries + penalty
            return data + penalty, total.copy()

        iterations = []

        def after_iteration(intermediate_result):
            iterations.append(reported.get(float(intermediate_result.fun), math.nan))
            if self.verbose:
                print(f"Iteration {len(iterations)}, loss = {iterations[-1]:.8f}")

        threads = self._threads(min(X.shape[0], SPARSE_CHUNK))
        with blas_controller().limit(limits=threads, user_api="blas") if threads else contextlib.nullcontext():
            result = scipy.optimize.minimize(
                loss_and_gradient, theta.astype(np.float64), method="L-BFGS-B", jac=True, callback=after_iteration,
                options={"maxfun": int(self.max_fun), "maxiter": int(self.max_iter), "gtol": float(self.tol)},
            )
        np.copyto(theta, result.x, casting="same_kind")
        self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, None  # the rule's record
        self.n_iter_ = min(int(result.nit), int(self.max_iter))
        self.loss_ = reported.get(float(result.fun), math.nan)
        self.loss_curve_ = list(getattr(self, "loss_curve_", [])) + iterations
        self.history_ = History()
        for i, value in enumerate(iterations, 1):
            self.history_.append({"epoch": i, "loss": value})
        if not result.success:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={result.status}): "
                f"{result.message}. Raise max_iter (now {self.max_iter}) or max_fun (now {self.max_fun}), "
                "or scale the data",
                ConvergenceWarning,
                stacklevel=6,
            )

    def _add_penalty(self, objective: _Objective, gradient: np.ndarray) -> float:
        """Add ``(α/S) W`` to the weights' part of the flat ``gradient``; return ``α/(2S) Σ‖W‖²``."""
        if not objective.alpha:
            return 0.0
        c = objective.alpha / objective.fixed_denominator
        offset = 0
        for p in self.net_.parameters():
            size = p.value.size
            if any(p is W for W in objective.weights):
                gradient[offset : offset + size] += c * p.value.ravel()
            offset += size
        return 0.5 * c * objective.penalty()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        return tags

    # -- model files ----------------------------------------------------------------------
    _FITTED = ("loss_", "loss_curve_", "n_iter_", "t_", "validation_scores_", "best_loss_", "best_validation_score_")

    def save(self, path) -> Path:
        """Write the fitted network to a deltaprop model file (``.safetensors``): weights as
        tensors; ``classes_`` as the file's class names; settings and curves in its metadata.
        The optimizer state is not kept: ``partial_fit`` after :meth:`load` starts it afresh."""
        self._check_fitted()
        fitted = {k: getattr(self, k, None) for k in self._FITTED}
        for key in ("loss_", "best_loss_", "best_validation_score_"):
            if fitted[key] is not None and not math.isfinite(fitted[key]):
                fitted[key] = None
        history = getattr(self, "history_", None)
        fitted["history_"] = None if history is None else [{k: r.get(k) for k in HISTORY_KEYS} for r in history.records]
        params, nonfinite = self._jsonable_params()
        extra: dict[str, Any] = {
            "estimator": type(self).__name__,
            "params": params,
            "nonfinite_params": nonfinite,
            "n_outputs": int(self.n_outputs_),
            "feature_names_in": None if not hasattr(self, "feature_names_in_") else [str(f) for f in self.feature_names_in_],
            "fitted": fitted,
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
            if self.classes_.dtype.kind in ("b", "i", "u", "f", "M", "m"):  # float32 labels come back as float32,
                extra["classes_dtype"] = self.classes_.dtype.str              # dates as dates of their unit
            extra["multilabel"] = bool(self._multilabel)
            extra["sparse_labels"] = bool(getattr(self, "_sparse_labels", False))
        return save_model(self.net_, path, class_names=class_names, extra=extra,
                          input_range=getattr(self, "_input_range", None))

    @classmethod
    def load(cls, path):
        """A fitted estimator from a model file written by :meth:`save` (or, for the
        classifier, any deltaprop model with a softmax or sigmoid output; the regressor refuses
        a classifier's file: class names, or a softmax output)."""
        model = read_model(path)
        net, extra = model.net, _checked_extra(model.extra or {}, path)
        kind = extra.get("estimator")
        if kind is not None and kind != cls.__name__:
            raise ModelFileError(f"{path}: holds a {kind}, not a {cls.__name__}; load it with {kind}.load")
        names = set(cls._get_param_names())
        params = {k: v for k, v in (extra.get("params") or _params_of_network(net)).items() if k in names}
        for key, text in (extra.get("nonfinite_params") or {}).items():
            if key in names:
                params[key] = float(text)
        for key in ("hidden_layer_sizes", "activation"):
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        try:
            if isinstance(params.get("solver"), dict):
                params["solver"] = optimizer_from_config(params["solver"])
            if isinstance(params.get("loss"), dict):
                params["loss"] = loss_from_config(params["loss"])
        except ConfigError as exc:
            raise ModelFileError(f"{path}: estimator settings in the metadata are invalid ({exc})") from None
        est = cls(**params)
        est.net_ = net
        est.n_features_in_ = net.n_features
        # the estimator's own names, or a command-line run's CSV header (the columns it trained on,
        # in order): a DataFrame is then checked by name, as for a model fitted on one
        names = extra.get("feature_names_in", extra.get("feature_names"))
        if names is not None:
            if len(names) != net.n_features:
                raise ModelFileError(f"{path}: metadata names {len(names)} input columns, the network takes "
                                     f"{net.n_features}")
            est.feature_names_in_ = np.asarray(names, dtype=object)
        est._restore_outputs(model, extra, path)
        fitted = extra.get("fitted") or {}
        for key in cls._FITTED:
            setattr(est, key, fitted.get(key))
        if est.loss_curve_ is None:
            est.loss_curve_, est.n_iter_, est.t_ = [], 0, 0
        if est.loss_ is None and est.loss_curve_:
            est.loss_ = est.loss_curve_[-1]
        est.history_ = History(fitted.get("history_") or ())
        stochastic = not (isinstance(est.solver, str) and est.solver.strip().lower() == "lbfgs")  # L-BFGS: no record
        if est.best_loss_ is None and not est.early_stopping and stochastic:
            est.best_loss_ = min(est.loss_curve_, default=np.inf)
        if est.best_validation_score_ is None and est.early_stopping and stochastic:
            est.best_validation_score_ = max(est.validation_scores_ or [], default=-np.inf)
        est._no_improvement_count, est._state = 0, None
        est._best_weights = [p.value.copy() for p in net.parameters()]
        est._input_range = model.input_range  # None where the file records none: unknown, not empty
        return est

    def _jsonable_params(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Settings that JSON can hold (instances as their configs; callables are left out),
        and apart, non-finite numbers as text (``n_iter_no_change=np.inf`` → ``"inf"``)."""
        out, nonfinite = {}, {}
        for key, value in self.get_params(deep=False).items():
            if isinstance(value, (Optimizer, Loss, Schedule)):
                value = value.config()
            else:  # NumPy arrays and scalars (a grid's values) as JSON's lists and numbers
                value = _plain(value)
            if isinstance(value, float) and not math.isfinite(value):
                nonfinite[key] = str(value)
                continue
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue
            out[key] = value
        return out, nonfinite

    # -- pickling: the network pickles itself; the training state goes through its to_dict,
    # and the optimizer is rebuilt bound to the unpickled network's parameters ------------
    def __getstate__(self):
        state = dict(super().__getstate__())
        training = state.get("_state")
        if isinstance(training, TrainingState):
            state["_state"] = _training_blob(training)
            if state.get("history_") is training.history:
                state.pop("history_")  # the training state's own, rebuilt with it (not an L-BFGS fit's since)
        return state

    def __setstate__(self, state):
        state = dict(state)
        blob = state.get("_state")
        if isinstance(blob, dict):
            training = _training_from_blob(blob, state["net_"])
            state["_state"] = training
            state.setdefault("history_", training.history)
        super().__setstate__(state)


def _training_blob(training: TrainingState) -> dict[str, Any]:
    """A training state as plain values (the optimizer's arrays copied), for a pickle or a
    failed fit's undo; :func:`_training_from_blob` binds it back to a network."""
    opt = training.optimizer
    return {
        "training": training.to_dict(),
        "optimizer": opt.config(),
        "optimizer_state": opt.state() if opt.params else None,
    }


def _training_from_blob(blob: dict[str, Any], net: Network) -> TrainingState:
    """The training state of :func:`_training_blob`, its optimizer built on ``net``'s own
    parameters (one owner of the weights) with its state loaded."""
    opt = optimizer_from_config(blob["optimizer"])
    if blob["optimizer_state"] is not None:
        opt.build(net.parameters())
        opt.load_state(blob["optimizer_state"])
    return TrainingState.from_dict(blob["training"], net=net, optimizer=opt)


class _Undo:
    """What a fit may change, taken before it starts, to put back when it fails (an error,
    Ctrl-C): the estimator's attributes as they were (none fitted before a first fit), and,
    as training writes them in place, the fitted network's weights, its random generator and
    flags, the optimizer's state, and the lengths of the curves and history it appends to
    (so a loop of ``partial_fit`` calls does not copy its growing history at each call). So a
    failed ``fit``, warm start or ``partial_fit`` never leaves new ``classes_`` (or
    ``n_features_in_``, ...) beside the old network."""

    def __init__(self, est: "_NeuralNet", *, in_place: bool = True):
        """``in_place``: whether the call may train the fitted network itself (a warm start,
        ``partial_fit``); a call that trains a new one leaves the fitted network and its
        training state untouched, and they are not copied."""
        self.attrs = dict(est.__dict__)
        self.lengths = {k: len(v) for k, v in self.attrs.items() if isinstance(v, list)}  # appended to, if at all
        net = self.attrs.get("net_") if in_place else None
        self.net = None
        if isinstance(net, Network):
            flags = (net.decision_threshold, net.gives_values, net.multilabel)
            self.net = (net, net._flat_values.copy(), copy.deepcopy(net.rng.bit_generator.state), flags)
        training = self.attrs.get("_state") if in_place else None
        self.history, self.training = None, None
        if isinstance(training, TrainingState):
            self.history = (training.history, len(training.history.records))
            training.history = History()  # its records are kept by count, not copied
            try:
                blob = _training_blob(training)
                blob["training"] = copy.deepcopy(blob["training"])
                self.training = blob
            except Exception:  # a schedule of the user's own that does not write itself out: a failed
                pass  # call drops the state, and the next starts a fresh optimizer (as after load)
            finally:
                training.history = self.history[0]

    def restore(self, est: "_NeuralNet") -> None:
        """Put the estimator back as it was when this was taken."""
        attrs = dict(self.attrs)
        for key, n in self.lengths.items():
            del attrs[key][n:]
        if self.net is not None:
            net, weights, rng, flags = self.net
            np.copyto(net._flat_values, weights)
            net.rng.bit_generator.state = rng
            net.decision_threshold, net.gives_values, net.multilabel = flags
        if self.history is not None:
            history, n = self.history
            del history.records[n:]
            attrs["_state"] = None
            if self.training is not None:
                self.training["training"]["history"] = history.records
                with contextlib.suppress(errors.Error):  # (as above) one its config does not build back
                    attrs["_state"] = _training_from_blob(self.training, attrs["net_"])
                    attrs["_state"].history = history  # the object history_ may be
        est.__dict__.clear()
        est.__dict__.update(attrs)


def _merged_range(known, X, first_pass: bool) -> tuple[float, float] | None:
    """``(min, max)`` of every raw input fitted on so far, as a model file records it
    (``input_range``): ``X``'s on a first fit, else ``X``'s joined to the ``known`` range of
    earlier fits, which stays unknown (None) once unknown (a model loaded from a file that
    records none)."""
    if not first_pass and known is None:
        return None
    if scipy.sparse.issparse(X):  # its implicit zeros are inputs too
        lohi = (float(X.min()), float(X.max())) if X.shape[0] * X.shape[1] else None
        lohi = lohi if lohi is not None and all(math.isfinite(v) for v in lohi) else None
    else:
        lohi = input_range_of(X)
    if first_pass or lohi is None:
        return lohi if first_pass else known
    return min(known[0], lohi[0]), max(known[1], lohi[1])


def _named_layers(items: list[tuple]) -> tuple[list[tuple], list[str]]:
    """What parameters can name of a network's ``(type, shape or rate)`` items: per Dense
    layer its shape, the unit after it (a hidden layer's first activation; the output
    layer's last one) and its dropout rate; and apart, the types of the layers they cannot
    name (a second activation, an output stack's inner units, anything before the first Dense)."""
    blocks: list[list[tuple]] = [[]]
    for kind, detail in items:
        if kind == "Dense":
            blocks.append([])
        blocks[-1].append((kind, detail))
    unnamed = [kind for kind, _ in blocks.pop(0)]
    named = []
    for i, ((_, shape), *rest) in enumerate(blocks):
        units = [kind for kind, _ in rest if kind != "Dropout"]
        unit = (units[-1] if i == len(blocks) - 1 else units[0]) if units else None
        rates = [rate for kind, rate in rest if kind == "Dropout"]
        named.append((shape, unit, rates))
        if unit is not None:
            units.remove(unit)
        unnamed += units
    return named, unnamed


def _plain(value):
    """``value`` with NumPy arrays and scalars, and tuples, as Python lists and numbers
    (``np.array([4, 3])`` → ``[4, 3]``), inside lists and mappings too; anything else as it is."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_SHARED_PARAMS_DOC = """
    Parameters under scikit-learn's names keep its meanings: ``solver`` ("adam", "sgd",
    "lbfgs", or any deltaprop optimizer by name or instance), ``alpha`` (L2 on the weights
    only, ``α/(2S)‖W‖²`` per batch of total weight ``S``), ``learning_rate`` ("constant",
    "invscaling", "adaptive", or a deltaprop schedule), ``max_iter`` (epochs per ``fit``, or
    L-BFGS iterations), its stopping rule and early stopping. deltaprop's extras: ``output``,
    ``dropout``, ``init``, ``dtype`` (None: float32 input stays float32, anything else is
    float64) and one activation per hidden layer (``activation=("relu", "tanh")``).
"""


def _is_stochastic(est) -> bool:
    """``partial_fit`` exists for stochastic solvers only (scikit-learn's rule); a bad
    ``solver`` is reported by ``fit``."""
    if isinstance(est.solver, str) and est.solver.strip().lower() == "lbfgs":
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. {est.solver} is not stochastic.")
    return True


def _sklearn_decision(out: np.ndarray, threshold: float) -> np.ndarray:
    """Class ids as MLPClassifier gives them (LabelBinarizer's inverse): the argmax of each
    row, or ``a > threshold`` (strictly) for a single output."""
    if out.shape[1] == 1:
        return (out[:, 0] > threshold).astype(np.int64)
    return predictions_from_outputs(out)


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A feedforward network classifier trained by backpropagation (deltaprop's engine).

    Labels may be any sortable values; ``classes_`` holds them sorted. A 2-D indicator ``y``
    is multilabel: one sigmoid unit per label with binary cross-entropy. ``output="auto"``
    chooses as MLPClassifier does (softmax for several classes, one sigmoid unit for two);
    ``"softmax"`` or ``"sigmoid"`` force one. ``sample_weight`` weights each row's loss.

    ``predict`` decides as MLPClassifier does (LabelBinarizer's inverse): the argmax of
    several outputs; for one sigmoid output ``a`` (two classes) and for each label of
    multilabel ``y``, class 1 only where ``a > 0.5``, strictly, so ``a = 0.5`` exactly is
    class 0 (a saved model's own threshold ``t`` likewise: ``a > t``). The rest of deltaprop
    (``Network.predict``, ``deltaprop predict``, the exports) decides ``a ≥ 0.5``.
    """ + _SHARED_PARAMS_DOC

    _is_classifier = True

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        output="auto",
        loss=None,
        dropout=0.0,
        init=None,
        dtype=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.output = output
        self.loss = loss
        self.dropout = dropout
        self.init = init
        self.dtype = dtype

    # -- settings -------------------------------------------------------------------------
    def _output_name(self) -> str:
        name = str(self.output).lower()
        name = {"logistic": "sigmoid"}.get(name, name)
        if name not in ("auto", "softmax", "sigmoid"):
            raise ConfigError(f"a classifier's output must be 'auto', 'softmax' or 'sigmoid', got {self.output!r}")
        if name == "softmax" and getattr(self, "_multilabel", False):
            raise ConfigError("multilabel y needs independent sigmoid outputs: use output='auto' or 'sigmoid'")
        if name == "auto" or len(self.classes_) == 1:  # one class: one sigmoid unit that learns "no"
            return "softmax" if len(self.classes_) > 2 and not self._multilabel else "sigmoid"
        return name

    @property
    def out_activation_(self) -> str:
        """The output unit in scikit-learn's words: "softmax" or "logistic"."""
        self._check_fitted()
        return "softmax" if self.net_.layers[-1].type_name == "Softmax" else "logistic"

    def _n_network_outputs(self) -> int:
        k = len(self.classes_)
        return 1 if k <= 2 and not self._multilabel and self._output_name() == "sigmoid" else k

    def _make_loss(self) -> Loss:
        if self.loss is None or self.loss == "log_loss":
            return CrossEntropy() if self._output_name() == "softmax" else BinaryCrossEntropy()
        if isinstance(self.loss, Loss):
            return loss_from_config(self.loss.config())
        if self.loss == "squared_error":  # scikit-learn's name for deltaprop's "mse"
            return MeanSquaredError()
        try:
            return loss_from_name(self.loss)
        except ConfigError as exc:
            raise ConfigError(f"a classifier's loss must be None (log-loss), 'squared_error' or a deltaprop loss "
                              f"({exc})") from None

    def _check_loss_output(self) -> None:
        """A likelihood loss needs the probabilities of its own output: categorical
        cross-entropy ``−Σ_k y_k log a_k`` a softmax's (on logistic units, which need not sum
        to 1, it falls to 0 as every ``a_k`` goes to 1, whatever the class), binary
        cross-entropy logistic units'; and the outputs are probabilities, never the logits a
        ``from_logits=True`` loss takes. Refused before any training, naming the fix."""
        loss, output = self._make_loss(), self._output_name()
        units = self._n_network_outputs()
        unit = f"a softmax over {units} units" if output == "softmax" else (
            f"{units} logistic units" if units > 1 else "one logistic unit")
        kinds = "labels" if self._multilabel else "classes"
        gives = f"output={self.output!r} gives {unit} for {len(self.classes_)} {kinds}"
        if getattr(loss, "from_logits", False):
            raise ConfigError(f"loss={self.loss!r} takes logits, but the classifier's outputs are probabilities "
                              f"({gives}): use loss=None (log-loss on those probabilities)")
        wants = {CrossEntropy: "softmax", BinaryCrossEntropy: "sigmoid"}.get(type(loss))
        if wants is not None and wants != output:
            fit = "loss=None (log-loss: binary cross-entropy on logistic units, cross-entropy on a softmax)"
            other = "" if self._multilabel else f", or output={wants!r}"  # labels need a logistic unit each
            raise ConfigError(f"loss={self.loss!r} needs a {'softmax' if wants == 'softmax' else 'logistic'} output, "
                              f"but {gives}; use {fit}{other}")

    # -- data -----------------------------------------------------------------------------
    def _validate_xy(self, X, y, *, reset, dtype):
        _check_label_kinds(y)
        X, y = validate_data(self, X, y, reset=reset, accept_sparse=["csr", "csc"], multi_output=True, dtype=dtype)
        sparse = scipy.sparse.issparse(y)
        if sparse:  # a sparse label indicator: dense n × labels, as the network's outputs are
            y = y.toarray()
        if reset:  # predict answers in the kind of y fit saw first, as MLPClassifier's
            self._sparse_labels = sparse
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if type_of_target(y) == "multiclass-multioutput":
            raise DataError(
                f"y has {y.shape[1]} columns of labels (multiclass-multioutput), which one network cannot "
                "predict: give one column of labels, a 0/1 indicator for multilabel, or wrap the estimator in "
                "sklearn.multioutput.MultiOutputClassifier"
            )
        if y.ndim == 2 and not np.isin(y, (0, 1)).all():  # a multilabel indicator of other two values
            raise DataError(
                f"a multilabel y must hold 0 and 1, got the values {np.unique(y).tolist()}: each sigmoid unit learns "
                "P(label) against a 0/1 target, so map them to 0/1 first (e.g. (y > 0).astype(int) for -1/1)"
            )
        return X, y

    def _encode_targets(self, y, *, first_pass, incremental, classes):
        """Class ids ``0..k−1`` into ``classes_`` (or the indicator rows of multilabel y);
        sets ``classes_`` on a first fit, checks later ones as scikit-learn does."""
        multilabel = type_of_target(y).startswith("multilabel")
        if first_pass:
            self._set_classes(y, multilabel, incremental, classes)
        else:
            self._check_classes(y, multilabel, incremental, classes)
        if self._multilabel:
            return np.asarray(y, dtype=np.int64)
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise DataError(
                f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has {unique_labels(y)}: "
                "pass every label in classes= on the first partial_fit, or fit again without warm_start"
            )
        # a model file's classes_ keep its order, which need not be sorted (the command line's
        # Fashion-MNIST names, or "9" before "10"): each label's position, not its sorted place
        order = np.argsort(self.classes_, kind="stable")
        return order[np.searchsorted(self.classes_, y, sorter=order)].astype(np.int64)

    def _set_classes(self, y, multilabel, incremental, classes) -> None:
        if multilabel:
            known = np.arange(y.shape[1])
            if incremental and classes is not None and set(np.asarray(classes).ravel().tolist()) != set(known.tolist()):
                raise ConfigError(
                    f"multilabel y has {len(known)} label columns, so classes= must name them: "
                    f"{known.tolist()} (or None), got classes={list(classes)!r}"
                )
        elif incremental:
            if classes is None:
                raise ConfigError("classes must be passed on the first call to partial_fit.")
            known = unique_labels(np.asarray(classes))
        else:
            known = unique_labels(y)
        self.classes_, self._multilabel = known, multilabel
        self.n_outputs_ = len(known) if multilabel or len(known) > 2 else 1

    def _check_classes(self, y, multilabel, incremental, classes) -> None:
        if multilabel != self._multilabel:
            raise DataError("y switched between multilabel indicator rows and labels since the first fit")
        if multilabel and y.shape[1] != len(self.classes_):
            raise DataError(
                f"y has {y.shape[1]} label columns, but the fitted model has {len(self.classes_)}: warm_start and "
                "partial_fit keep the labels of the first fit; fit again with warm_start=False for other labels"
            )
        if incremental and classes is not None and not np.array_equal(unique_labels(np.asarray(classes)),
                                                                      np.sort(self.classes_)):
            raise ConfigError(f"`classes={list(classes)!r}` is not the same as on last call to partial_fit, "
                              f"was: {self.classes_!r}")
        if self.warm_start and not incremental and not multilabel:
            seen = unique_labels(y)
            if set(seen) != set(self.classes_):
                raise DataError(
                    "warm_start can only be used where `y` has the same classes as in the previous call to fit. "
                    f"Previously got {self.classes_}, `y` has {seen}"
                )

    def _target_rows(self, ids) -> np.ndarray:
        """Target rows for the network's outputs: indicator rows, one 0/1 column, or one-hot."""
        if self._multilabel:
            return ids.astype(np.float64)
        k = self.net_.n_outputs
        if k == 1:
            return ids.reshape(-1, 1).astype(np.float64)
        rows = np.zeros((ids.size, k))
        rows[np.arange(ids.size), ids] = 1.0
        return rows

    def _stratify_labels(self, ids):
        """scikit-learn's rule: the held-out rows keep the classes' shares when the targets
        are one column (``n_outputs_ == 1``: two classes, or one), stratified on that 0/1
        column as there (so its errors read the same); never for more classes or
        multilabel y, which it splits plainly."""
        if self.n_outputs_ != 1:
            return None
        return (ids == 1).reshape(-1, 1)

    def _rare_classes(self, ids) -> str:
        """The labels whose rows are too few to stratify (under 2), named as the user's."""
        if self.n_outputs_ != 1:
            return ""
        counts = np.bincount(ids, minlength=len(self.classes_))
        rare = self.classes_[(counts > 0) & (counts < 2)]
        return f" (too few rows of class {', '.join(repr(c) for c in rare.tolist())})" if rare.size else ""

    def _score_rows(self, net: Network, X, ids, weight) -> float:
        """Accuracy (subset accuracy for multilabel) of ``net`` on held-out rows; NaN when the
        outputs are not finite, as scikit-learn records a diverged epoch."""
        out = _outputs(net, X)
        if not np.all(np.isfinite(out)):
            return math.nan
        if self._multilabel:
            hits = np.all((out > 0.5) == (ids == 1), axis=1)
        elif len(self.classes_) == 1:
            hits = np.ones(len(ids), dtype=bool)
        else:
            hits = _sklearn_decision(out, 0.5) == ids
        return float(np.average(hits, weights=weight))

    # -- the estimator API ----------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (n × features, dense or sparse) and labels ``y`` (or a 2-D label
        indicator for multilabel), for up to ``max_iter`` epochs."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_is_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``X, y``, continuing the optimizer's state; the first call needs
        ``classes`` (every label that will ever appear), except for multilabel ``y``."""
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_`` (for multilabel, each
        label's own probability). One sigmoid unit a class (``output="sigmoid"``, three or
        more classes) gives independent scores ``s_k = σ(z_k)``; the rows returned are
        ``s_k / Σ_j s_j``, which sum to 1 as scikit-learn asks (its ``OneVsRestClassifier``
        does the same). ``deltaprop predict`` and the exports show the ``s_k`` themselves,
        as scores."""
        out = self._network_outputs(X)
        if out.shape[1] == 1:  # one sigmoid unit: P(second class)
            return np.hstack([1.0 - out, out])
        if self._multilabel or self.net_.layers[-1].type_name == "Softmax":
            return out
        return out / np.maximum(out.sum(axis=1, keepdims=True), np.finfo(out.dtype).tiny)

    def predict_log_proba(self, X) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The class of each row (labels a row for multilabel); outputs that are NaN or
        infinite are a :class:`DataError`, not the first class, so ``score`` never counts them."""
        out = self._network_outputs(X)
        if not _checks.all_finite(out):  # the argmax and a > t would call each such row classes_[0]
            row = int(np.argwhere(~np.isfinite(out))[0][0])
            raise DataError(f"the network's outputs are NaN or infinite for row {row} of X, so no class can be "
                            f"chosen: its weights hold NaN or infinity, or these inputs overflow "
                            f"{self.net_.dtype.name} through them. Check the weights (a diverged fit?) or scale X")
        if self._multilabel:
            labels = (out > 0.5).astype(np.int64)
            return scipy.sparse.csr_matrix(labels) if getattr(self, "_sparse_labels", False) else labels
        if len(self.classes_) == 1:
            return np.repeat(self.classes_, out.shape[0])
        # one output: a > the network's threshold (0.5 for a sigmoid the estimator trained; a
        # model file keeps the one it was saved with), strictly, as MLPClassifier decides
        return self.classes_[_sklearn_decision(out, self.net_.decision_threshold)]

    def _restore_outputs(self, model, extra, path) -> None:
        net = model.net
        last = net.layers[-1].type_name
        if last not in ("Softmax", "Sigmoid"):
            raise ModelFileError(f"{path}: the network ends in {last}; a classifier needs a Softmax or Sigmoid output")
        self._multilabel = bool(extra.get("multilabel", False))
        self._sparse_labels = bool(extra.get("sparse_labels", False))
        names = model.class_names
        n_classes = net.n_outputs if net.n_outputs > 1 else (1 if names is not None and len(names) == 1 else 2)
        if names is None:
            classes = np.arange(n_classes)
        else:
            if len(names) != n_classes:
                raise ModelFileError(f"{path}: {len(names)} class names for a network with {n_classes} classes")
            classes = _classes_from_names(names, extra.get("classes_kind", "U"), extra.get("classes_dtype"), path)
        self.classes_ = classes
        self.n_outputs_ = len(classes) if self._multilabel or len(classes) > 2 else 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _params_of_network(net: Network) -> dict[str, Any]:
    """The settings a model file written without them (by ``deltaprop train``) shows in its
    layers: hidden widths, hidden and output activations, dropout and dtype."""
    name_of = {cls: name for name, cls in reversed(list(ACTIVATIONS.items()))}  # a class's first name
    dense = [i for i, layer in enumerate(net.layers) if isinstance(layer, Dense)]
    dropout = [layer.rate for layer in net.layers if type(layer).__name__ == "Dropout"]
    params: dict[str, Any] = {"hidden_layer_sizes": tuple(net.layers[i].n_out for i in dense[:-1]),
                              "dtype": net.dtype.name, "output": name_of.get(type(net.layers[-1]), "softmax"),
                              "dropout": dropout[0] if dropout else 0.0}
    # each hidden layer's activation: the first after its Dense (none there is the identity)
    names = tuple(next((name_of[type(layer)] for layer in net.layers[start + 1 : stop] if type(layer) in name_of),
                       "identity") for start, stop in zip(dense, dense[1:]))
    if names:  # one name, or one per hidden layer where they differ
        params["activation"] = names[0] if len(set(names)) == 1 else names
    return params


#: The values a bounded output unit can take; a regressor's targets must lie in them.
_OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, math.inf)}


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A feedforward network regressor trained by backpropagation (deltaprop's engine).

    One output unit per target column (``y`` may be 1-D or ``(n, targets)``), identity
    output and scikit-learn's squared error ``½‖a − y‖²/k`` per row of ``k`` targets (its
    ``loss_`` is ``½ mean((a − y)²)`` over all entries); ``output="sigmoid"`` suits targets in
    [0, 1]. Early stopping scores R².
    """ + _SHARED_PARAMS_DOC

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        output="identity",
        dropout=0.0,
        init=None,
        dtype=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.output = output
        self.dropout = dropout
        self.init = init
        self.dtype = dtype

    def _output_name(self) -> str:
        name = str(self.output).lower().replace("-", "_")
        name = {"logistic": "sigmoid"}.get(name, name)
        if name not in ACTIVATIONS or name == "softmax":
            raise ConfigError(f"a regressor's output must be identity, sigmoid, tanh or relu, got {self.output!r}")
        return name

    @property
    def out_activation_(self) -> str:
        """The output unit in scikit-learn's words ("identity", "logistic", ...)."""
        self._check_fitted()
        name = self.net_.layers[-1].type_name.lower()
        return {"sigmoid": "logistic"}.get(name, name)

    def _n_network_outputs(self) -> int:
        return self.n_outputs_

    def _restore_outputs(self, model, extra, path) -> None:
        last = model.net.layers[-1].type_name
        if model.outputs != "values" and (model.class_names is not None or last == "Softmax"):
            # a classifier's file (the command line's, say): its outputs are class probabilities, no values
            names = "" if model.class_names is None else f", classes {_listed_names(model.class_names)}"
            raise ModelFileError(f"{path}: holds a classifier (a {last} output{names}), not a regressor; "
                                 "load it with NeuralNetClassifier.load")
        self.n_outputs_ = int(extra.get("n_outputs", model.net.n_outputs))
        if self.n_outputs_ != model.net.n_outputs:
            raise ModelFileError(f"{path}: metadata says {self.n_outputs_} outputs, the network has {model.net.n_outputs}")

    def _make_loss(self) -> Loss:
        loss = self.loss
        if isinstance(loss, Loss):
            kind = loss.config()["type"]
        elif isinstance(loss, str) and loss in ("squared_error", "mse"):
            kind = MeanSquaredError.type_name
        else:
            kind = None
        if kind != MeanSquaredError.type_name:
            if isinstance(loss, (numbers.Integral, tuple, list, np.ndarray)) and not isinstance(loss, bool):
                raise ConfigError(
                    f"loss={loss!r} looks like layer widths: the regressor's first positional parameter is "
                    f"loss, as MLPRegressor's; write NeuralNetRegressor(hidden_layer_sizes={loss!r})"
                )
            raise ConfigError(
                f"a regressor trains with the squared error (loss='squared_error'), got {loss!r}; "
                "deltaprop has no Poisson loss"
            )
        return MeanSquaredError(classification=False)

    def _check_settings(self) -> None:
        super()._check_settings()
        self._make_loss()

    def _validate_xy(self, X, y, *, reset, dtype):
        _check_numeric_targets(y)
        X, y = validate_data(
            self, X, y, reset=reset, accept_sparse=["csr", "csc"], dtype=dtype, multi_output=True, y_numeric=True
        )
        if y.dtype.kind in ("M", "m"):  # dates and durations would train as counts of their unit (days, or µs)
            dates = y.dtype.kind == "M"
            raise DataError(
                f"y holds {'dates' if dates else 'durations'} ({y.dtype}), not numbers: a regressor predicts numbers, "
                "so convert y to them in the unit you mean, e.g. "
                + ("(y - y.min()) / np.timedelta64(1, 'D')" if dates else "y / np.timedelta64(1, 's')")
            )
        if scipy.sparse.issparse(y):  # dense n × targets, as the network's outputs are (as the classifier's y)
            y = y.toarray()
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _encode_targets(self, y, *, first_pass, incremental, classes):
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        low, high = _OUTPUT_RANGES.get(self._output_name(), (-math.inf, math.inf))
        outside = (y < low) | (y > high)
        if np.any(outside):
            raise DataError(
                f"y has targets outside [{low:g}, {high:g}] (such as {y[outside][0]:.6g}), which output="
                f"{self.output!r} cannot produce: scale y into that range (e.g. MinMaxScaler) or use "
                "output='identity'"
            )
        if first_pass:
            self.n_outputs_ = y.shape[1]
        elif y.shape[1] != self.n_outputs_:
            raise ShapeError(f"y has {y.shape[1]} target columns but the model was fitted with {self.n_outputs_}")
        return y

    def _target_rows(self, y) -> np.ndarray:
        return y

    def _score_rows(self, net: Network, X, y, weight) -> float:
        """R² of ``net`` on held-out rows; NaN when the outputs are not finite."""
        out = _outputs(net, X)
        if not np.all(np.isfinite(out)):
            return math.nan
        return float(r2_score(y, out, sample_weight=weight))

    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (n × features, dense or sparse) and targets ``y`` (n or n × targets)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_is_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X, y``, continuing the optimizer's state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        out = self._network_outputs(X)
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class _LayerArrays(list):
    """``coefs_`` / ``intercepts_``: a list of the network's own arrays in which replacing an
    item (``coefs_[0] = W``) copies the new array into the network, as it would replace the
    array scikit-learn's MLP predicts with (same shape; the network keeps its dtype)."""

    def __init__(self, params):
        super().__init__(p.value for p in params)
        self._params = params

    def __setitem__(self, index, value):
        params = self._params[index]
        if isinstance(index, slice):
            value = list(value)
            if len(value) != len(params):
                raise ShapeError(f"{len(value)} arrays for {len(params)} layers of weights; "
                                 "the number of layers cannot change")
            _set_all(params, value)
        else:
            params.value = value
        super().__setitem__(index, [p.value for p in params] if isinstance(index, slice) else params.value)

    def __delitem__(self, index):
        raise ShapeError("the layers of a fitted network cannot be removed from coefs_ or intercepts_")

    def _fixed_length(self, *args, **kwargs):
        raise ShapeError("coefs_ and intercepts_ have one array per layer; replace items, or assign a whole list")

    append = extend = insert = pop = remove = clear = __iadd__ = __imul__ = _fixed_length


def _set_all(params: list, values: list) -> None:
    """Each parameter's value from ``values``, or none: on a failure (an array of another
    shape, or of no numbers) the ones set before it are put back, so the network never
    mixes new layers with old."""
    saved = [p.value.copy() for p in params]
    try:
        for p, v in zip(params, values):
            p.value = v
    except BaseException:
        for p, old in zip(params, saved):
            p.value = old
        raise


def _classes_from_names(names: list[str], kind: str, dtype: str | None, path) -> np.ndarray:
    """Class labels back from their text in a model file, of the kind (and, where saved, the
    exact dtype) they were fitted with: ``"False"``/``"True"`` as booleans, numbers parsed
    in the dtype that printed them (so that they compare equal to the user's labels), dates
    and durations (``"2020-01-01"``, ``"3 seconds"``) in their unit."""
    try:
        if kind == "b":
            if not set(names) <= {"False", "True"}:
                raise ValueError
            return np.array([name == "True" for name in names])
        if kind in ("i", "u", "f"):
            target = np.dtype(dtype) if dtype is not None else np.dtype({"i": np.int64, "u": np.uint64, "f": np.float64}[kind])
            if target.kind != kind:
                raise ValueError
            return np.asarray(names).astype(target)
        if kind in ("M", "m") and dtype is not None:  # '2020-01-01' / '3 seconds', in the fitted unit
            target = np.dtype(dtype)
            if target.kind != kind:
                raise ValueError
            if kind == "M":
                return np.asarray(names).astype(target)
            return np.array([int(name.split(" ", 1)[0]) for name in names], dtype=np.int64).astype(target)
    except (ValueError, TypeError, OverflowError):
        raise ModelFileError(f"{path}: class names {list(names)[:5]} are not labels of kind {kind!r}"
                             f"{'' if dtype is None else f' ({dtype})'}") from None
    return np.asarray(names, dtype=object if kind == "O" else None)


def _listed_names(names) -> str:
    """The first few class names, for a message."""
    shown = ", ".join(repr(n) for n in list(names)[:5])
    return shown + (", ..." if len(names) > 5 else "")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_missing(v: Any) -> bool:
    """None, a float NaN (NumPy's too) or pandas' NA: a label left out."""
    return v is None or type(v).__name__ == "NAType" or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _check_label_kinds(y) -> None:
    """Labels of an object column that cannot be sorted into ``classes_`` (scikit-learn's own
    check fails on them with a bare ``TypeError``): a missing label (None, NaN, pandas' NA)
    among names, or names and numbers mixed. Refused with the row and the fix."""
    if scipy.sparse.issparse(y):
        return
    labels = np.asarray(y)
    if labels.dtype != object or labels.ndim != 1:
        return
    missing = np.fromiter((_is_missing(v) for v in labels), dtype=bool, count=labels.size)
    if missing.any():
        i = int(np.argmax(missing))
        raise DataError(f"y holds a missing label ({labels[i]!r}) in row {i}: a row without its class cannot be "
                        "trained or scored on; drop the rows whose label is missing (pandas: "
                        "df.dropna(subset=[label column]))")
    text = np.fromiter((isinstance(v, (str, bytes)) for v in labels), dtype=bool, count=labels.size)
    if text.any() and not text.all():
        odd = ~text if text.sum() >= labels.size / 2 else text  # the row of the fewer kind
        i = int(np.argmax(odd))
        other = labels[int(np.argmax(~odd))]
        raise DataError(f"y mixes class names and other labels: row {i} holds {labels[i]!r} ({type(labels[i]).__name__}) "
                        f"where others are like {other!r} ({type(other).__name__}); the labels are sorted into "
                        "classes_, so give them one kind, e.g. y.astype(str), or fix that row")


def _check_numeric_targets(y) -> None:
    """A regressor's targets given as text that is no number (class names): refused naming
    the classifier, where scikit-learn's check says only that a string is no float."""
    if scipy.sparse.issparse(y):
        return
    values = np.asarray(y)
    if values.dtype.kind not in "USO":
        return
    for i, v in enumerate(values.ravel().tolist()):
        try:
            float(v)
        except (TypeError, ValueError):
            if isinstance(v, (str, bytes)):
                raise DataError(f"y holds {v!r} (row {i}), text, but NeuralNetRegressor predicts numbers: for class "
                                "names use NeuralNetClassifier; for numbers written as text, y.astype(float)") from None
            return  # scikit-learn's own check names it


# What each entry of an estimator's metadata must be (None is always allowed).
_EXTRA_CHECKS = {
    "estimator": (lambda v: isinstance(v, str), "a name"),
    "params": (lambda v: isinstance(v, dict), "a mapping of settings"),
    "fitted": (lambda v: isinstance(v, dict), "a mapping of fitted attributes"),
    "classes_kind": (lambda v: isinstance(v, str), "a dtype kind letter"),
    "classes_dtype": (lambda v: isinstance(v, str) and len(v) <= 8, "a dtype code such as '<f4'"),
    "n_outputs": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1 << 30, "a whole number >= 1"),
    "feature_names_in": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of names"),
    "feature_names": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of names"),
    "multilabel": (lambda v: isinstance(v, bool), "true or false"),
    "sparse_labels": (lambda v: isinstance(v, bool), "true or false"),
    "nonfinite_params": (lambda v: isinstance(v, dict) and all(t in ("inf", "-inf", "nan") for t in v.values()),
                         "a mapping of settings to 'inf', '-inf' or 'nan'"),
}
_FITTED_CHECKS = {
    "loss_curve_": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers"),
    "validation_scores_": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers"),
    "n_iter_": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number >= 0"),
    "t_": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number >= 0"),
    "loss_": (_is_number, "a number"),
    "history_": (lambda v: isinstance(v, list) and all(isinstance(r, dict) and set(r) <= set(HISTORY_KEYS)
                                                        and all(x is None or _is_number(x) for x in r.values())
                                                        for r in v), "a list of per-epoch records"),
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

