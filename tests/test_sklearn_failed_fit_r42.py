"""A fit that fails partway (an error found after ``classes_`` were set, a bad
``sample_weight``, a refused option, Ctrl-C, divergence) leaves a fitted estimator exactly as
it was, and an unfitted one unfitted: never new ``classes_`` beside the old network."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

from deltaprop import ConfigError, DataError  # noqa: E402
from deltaprop.schedules import Schedule  # noqa: E402
from deltaprop import sklearn as dsk  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

FITTED = (
    "classes_",
    "n_features_in_",
    "feature_names_in_",
    "n_outputs_",
    "n_iter_",
    "t_",
    "loss_",
    "loss_curve_",
    "best_loss_",
    "_input_range",
    "_multilabel",
)


def _data(n=60, features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)


def _fitted(**params):
    X, y = _data()
    est = NeuralNetClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(pd.DataFrame(X, columns=["a", "b", "c"]), y)
    return est, X, y


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def _looks(est, X):
    """What a user sees of a fitted classifier: its fitted attributes, weights and answers."""
    names = getattr(est, "feature_names_in_", None)
    frame = X if names is None else pd.DataFrame(X, columns=names)
    return (
        {k: getattr(est, k, None) for k in FITTED},
        [w.copy() for w in est.coefs_ + est.intercepts_],
        est.predict(frame),
        est.predict_proba(frame),
    )


def _assert_unchanged(before, est, X):
    attrs, weights, labels, proba = before
    now_attrs, now_weights, now_labels, now_proba = _looks(est, X)
    for key, value in attrs.items():
        assert _same(now_attrs[key], value), key
    assert all(np.array_equal(a, b) for a, b in zip(weights, now_weights))
    assert np.array_equal(labels, now_labels) and np.array_equal(proba, now_proba)


def test_refit_refused_after_classes_were_set_keeps_the_old_model():
    """A refit on other labels whose loss the output cannot give is refused after
    ``classes_`` were set: the estimator answered with the new labels from the old network
    (``'x'``, ``'y'``, ``'z'`` for the old classes 0, 1, 2)."""
    est, X, _ = _fitted()
    before = _looks(est, X)
    est.set_params(output="softmax", loss="binary_cross_entropy")
    X2, y2 = _data(features=4, seed=1)
    with pytest.raises(ConfigError, match="needs a logistic output"):
        est.fit(X2, np.array(["x", "y", "z"])[y2])
    est.set_params(output="auto", loss=None)
    _assert_unchanged(before, est, X)


def test_refit_with_bad_sample_weight_keeps_the_old_model():
    est, X, _ = _fitted()
    before = _looks(est, X)
    X2, y2 = _data(features=5, seed=2)
    with pytest.raises(DataError, match="negative weight"):
        est.fit(X2, y2 + 10, sample_weight=-np.ones(len(y2)))
    _assert_unchanged(before, est, X)


def test_failed_first_fit_leaves_the_estimator_unfitted():
    X, y = _data()
    est = NeuralNetClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    with pytest.raises(ValueError, match="non-zero"):
        est.fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]
    assert not hasattr(est, "_input_range")


def _interrupt_after(epochs, monkeypatch):
    """Ctrl-C as the ``epochs``-th epoch of a call ends."""
    original = dsk._ScikitLearnRule.on_epoch_end
    seen = []

    def on_epoch_end(rule, state):
        original(rule, state)
        seen.append(1)
        if len(seen) == epochs:
            raise KeyboardInterrupt

    monkeypatch.setattr(dsk._ScikitLearnRule, "on_epoch_end", on_epoch_end)


def test_ctrl_c_in_partial_fit_puts_weights_optimizer_and_curves_back(monkeypatch):
    """An interrupted ``partial_fit`` keeps nothing of its epoch: the next call trains as it
    would have without the interrupted one (Adam's moments, the shuffling generator, ``t_``)."""
    X, y = _data()
    est = NeuralNetClassifier(hidden_layer_sizes=(5,), random_state=0, batch_size=16)
    est.partial_fit(X, y, classes=[0, 1, 2])
    twin = clone(est).partial_fit(X, y, classes=[0, 1, 2])
    before = _looks(est, X)
    with monkeypatch.context() as patch:
        _interrupt_after(1, patch)
        with pytest.raises(KeyboardInterrupt):
            est.partial_fit(X[::-1] * 3, y[::-1])
    _assert_unchanged(before, est, X)
    est.partial_fit(X, y)
    twin.partial_fit(X, y)
    assert all(np.array_equal(a, b) for a, b in zip(est.coefs_, twin.coefs_))
    assert est.loss_curve_ == twin.loss_curve_ and est.t_ == twin.t_
    assert [r["loss"] for r in est.history_.records] == [r["loss"] for r in twin.history_.records]


def test_ctrl_c_in_warm_start_fit_keeps_the_fitted_weights(monkeypatch):
    est, X, y = _fitted(warm_start=True)
    before = _looks(est, X)
    with monkeypatch.context() as patch:
        _interrupt_after(2, patch)
        with pytest.raises(KeyboardInterrupt):
            est.fit(pd.DataFrame(X, columns=["a", "b", "c"]), y)
    _assert_unchanged(before, est, X)


def test_ctrl_c_in_a_first_fit_leaves_it_unfitted(monkeypatch):
    X, y = _data()
    est = NeuralNetRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    _interrupt_after(2, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y.astype(float))
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


def test_diverging_warm_start_keeps_the_fitted_model():
    """A warm start at a rate that diverges kept the weights but reset ``n_iter_`` to 0 and
    left the diverged run's optimizer state for the next ``partial_fit``."""
    X, y = _data(n=128)
    est = NeuralNetRegressor(
        hidden_layer_sizes=(32,), solver="sgd", momentum=0.0, batch_size=16, max_iter=2, random_state=0, warm_start=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y.astype(float))
    weights, answers = [w.copy() for w in est.coefs_], est.predict(X)
    curve, history = list(est.loss_curve_), [r["loss"] for r in est.history_.records]
    iterations = est.n_iter_
    est.set_params(learning_rate_init=1e6)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="non-finite"):
            est.fit(X, y.astype(float))
    assert all(np.array_equal(a, b) for a, b in zip(weights, est.coefs_))
    assert np.array_equal(answers, est.predict(X))
    assert est.loss_curve_ == curve and [r["loss"] for r in est.history_.records] == history
    assert est.n_iter_ == iterations == 2


def test_partial_fit_refusing_an_unknown_label_keeps_the_input_range():
    """``partial_fit`` that refuses a label merged the refused rows' range into the model's
    recorded ``input_range`` first."""
    X, y = _data()
    est = NeuralNetClassifier(hidden_layer_sizes=(5,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    before = _looks(est, X)
    with pytest.raises(DataError, match="classes not in"):
        est.partial_fit(X * 100, y + 5)
    _assert_unchanged(before, est, X)


def test_ctrl_c_between_two_steps_of_an_epoch_puts_everything_back(monkeypatch):
    """Ctrl-C after some steps of a ``partial_fit`` epoch left the weights two steps into
    it; now they are as before the call, and the next call trains as if the interrupted
    one had never run."""
    X, y = _data()
    est = NeuralNetClassifier(hidden_layer_sizes=(5,), random_state=0, batch_size=16)
    est.partial_fit(X, y, classes=[0, 1, 2])
    twin = clone(est).partial_fit(X, y, classes=[0, 1, 2])
    original = dsk._WeightPenalty.on_gradients
    steps = []

    def on_gradients(hook, state):
        original(hook, state)
        steps.append(1)
        if len(steps) == 3:
            raise KeyboardInterrupt

    before = _looks(est, X)
    with monkeypatch.context() as patch:
        patch.setattr(dsk._WeightPenalty, "on_gradients", on_gradients)
        with pytest.raises(KeyboardInterrupt):
            est.partial_fit(X, y)
    assert steps == [1, 1, 1]
    _assert_unchanged(before, est, X)  # not two steps of four into the epoch
    for _ in range(2):
        est.partial_fit(X, y)
        twin.partial_fit(X, y)
    assert all(np.array_equal(a, b) for a, b in zip(est.coefs_ + est.intercepts_, twin.coefs_ + twin.intercepts_))
    assert est.loss_curve_ == twin.loss_curve_ and est.t_ == twin.t_ and est.n_iter_ == twin.n_iter_


class _Halving(Schedule):
    """A schedule of the user's own, which no configuration builds back."""

    type_name = "halving_r42"

    def lr_at(self, epoch, base_lr):
        return base_lr / 2**epoch


def test_a_failed_partial_fit_with_a_schedule_of_ones_own_keeps_the_weights_and_goes_on(monkeypatch):
    """The training state of a schedule no configuration names cannot be rebuilt: the
    weights and curves are put back all the same, and the next call starts a fresh optimizer."""
    X, y = _data()
    est = NeuralNetClassifier(hidden_layer_sizes=(5,), random_state=0, learning_rate=_Halving())
    est.partial_fit(X, y, classes=[0, 1, 2])
    before = _looks(est, X)
    with monkeypatch.context() as patch:
        _interrupt_after(1, patch)
        with pytest.raises(KeyboardInterrupt):
            est.partial_fit(X, y)
    _assert_unchanged(before, est, X)
    est.partial_fit(X, y)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 2 and est.t_ == 2 * len(y)


def test_ctrl_c_in_a_refit_keeps_the_model_fitted_before(monkeypatch):
    """A refit (no warm start) trains a new network: Ctrl-C in it left that half-trained
    network, with the new data's labels, in place of the model fitted before."""
    est, X, _ = _fitted()
    before = _looks(est, X)
    X2, y2 = _data(features=4, seed=3)
    with monkeypatch.context() as patch:
        _interrupt_after(2, patch)
        with pytest.raises(KeyboardInterrupt):
            est.fit(X2, np.array(["p", "q", "r"])[y2])
    _assert_unchanged(before, est, X)
    assert est._state is not None and est._state.net is est.net_  # partial_fit goes on training this network
