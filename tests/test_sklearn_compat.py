"""NeuralNetClassifier and NeuralNetRegressor behave as MLPClassifier and MLPRegressor, one
behaviour at a time: multilabel, sparse input, L-BFGS, the learning-rate schedules, alpha,
the stopping rule, best-weights restore, n_iter_, divergence, scikit-learn's errors, dtypes,
signatures and verbose output. The last test runs scikit-learn's own MLP test module."""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

import scipy.sparse  # noqa: E402
from sklearn.datasets import load_digits, make_multilabel_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

import deltaprop as dp  # noqa: E402
import deltaprop.sklearn as dps  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def binary_digits():
    X, y = load_digits(n_class=2, return_X_y=True)
    return MinMaxScaler().fit_transform(X[:200])[:100], y[:100]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@contextlib.contextmanager
def quiet():
    """ConvergenceWarning off: these runs are short on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# -- multilabel ---------------------------------------------------------------------------
@pytest.mark.slow
def test_multilabel_sigmoid_outputs_with_binary_cross_entropy_in_fit_and_partial_fit():
    X, Y = make_multilabel_classification(n_samples=60, n_classes=4, random_state=0)
    est = NeuralNetClassifier((20,), solver="lbfgs", random_state=0).fit(X, Y)
    assert est.out_activation_ == "logistic" and est.n_outputs_ == 4 and est.classes_.tolist() == [0, 1, 2, 3]
    assert isinstance(est._make_loss(), dp.BinaryCrossEntropy)
    proba = est.predict_proba(X)
    assert proba.shape == (60, 4) and not np.allclose(proba.sum(axis=1), 1.0)  # independent labels
    np.testing.assert_array_equal(est.predict(X), (proba > 0.5).astype(int))
    assert est.score(X, Y) > 0.95  # subset accuracy
    inc = NeuralNetClassifier((20,), solver="sgd", activation="logistic", learning_rate_init=0.2, random_state=0)
    for _ in range(100):
        inc.partial_fit(X, Y)  # no classes= needed: the indicator's columns are the labels
    assert inc.predict(X).shape == (60, 4) and inc.score(X, Y) > 0.8
    with pytest.raises(dp.ConfigError, match="multilabel"):
        NeuralNetClassifier(output="softmax").fit(X, Y)


# -- sparse input -------------------------------------------------------------------------
@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array", "csc_matrix"])
def test_sparse_input_trains_as_dense_and_is_densified_one_batch_at_a_time(kind, binary_digits, monkeypatch):
    X, y = binary_digits
    Xs = getattr(scipy.sparse, kind)(X)
    rows_densified = []
    original = dps._SparseRows.__getitem__

    def spy(self, index):
        rows_densified.append(len(index))
        return original(self, index)

    monkeypatch.setattr(dps._SparseRows, "__getitem__", spy)
    monkeypatch.setattr(dps, "SPARSE_CHUNK", 16)
    kw = dict(hidden_layer_sizes=(8,), solver="sgd", batch_size=10, max_iter=5, random_state=0, shuffle=False)
    with quiet():
        dense = NeuralNetClassifier(**kw).fit(X, y)
        sparse = NeuralNetClassifier(**kw).fit(Xs, y)
    assert max(rows_densified) == 10 and len(rows_densified) == 5 * 10
    np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X), rtol=1e-10)
    np.testing.assert_array_equal(sparse.predict(Xs), sparse.predict(X))
    rows_densified.clear()  # a step of every row: the matrix is densified once, before the first epoch
    with quiet():
        dense = NeuralNetClassifier(**dict(kw, batch_size=len(y))).fit(X, y)
        sparse = NeuralNetClassifier(**dict(kw, batch_size=len(y))).fit(Xs, y)
    assert rows_densified == []
    np.testing.assert_array_equal(sparse.predict_proba(X), dense.predict_proba(X))
    lbfgs = NeuralNetRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0)
    with quiet():
        a = lbfgs.fit(Xs, y.astype(float)).predict(Xs)  # chunks of 16 rows per evaluation
        b = lbfgs.fit(X, y.astype(float)).predict(X)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


# -- L-BFGS -------------------------------------------------------------------------------
def test_lbfgs_is_scipys_on_the_flat_buffers_with_max_iter_and_max_fun(binary_digits, monkeypatch):
    import scipy.optimize

    X, y = binary_digits
    calls = []
    real = scipy.optimize.minimize

    def spy(fun, x0, **kw):
        calls.append(kw)
        return real(fun, x0, **kw)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    est = NeuralNetClassifier((10,), solver="lbfgs", max_iter=200, max_fun=15000, tol=1e-6, random_state=0).fit(X, y)
    assert calls[0]["method"] == "L-BFGS-B" and calls[0]["jac"] is True
    assert calls[0]["options"] == {"maxfun": 15000, "maxiter": 200, "gtol": 1e-6}
    assert est.score(X, y) == 1.0 and est.loss_ < 0.05 and not hasattr(est, "partial_fit")
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        short = NeuralNetClassifier((10,), solver="lbfgs", max_fun=5, random_state=0).fit(X, y)
    assert short.n_iter_ <= 5


def test_lbfgs_with_integer_weights_is_lbfgs_on_the_rows_repeated(binary_digits):
    X, y = binary_digits[0][:40], binary_digits[1][:40]
    w = np.random.default_rng(0).integers(1, 4, size=40)
    kw = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, alpha=0.01, random_state=0)
    with quiet():
        weighted = NeuralNetClassifier(**kw).fit(X, y, sample_weight=w)
        repeated = NeuralNetClassifier(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert weighted.loss_ == pytest.approx(repeated.loss_, rel=1e-6)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-5, atol=1e-8)


def test_lbfgs_objective_and_gradient_agree_with_finite_differences():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(7, 3)), rng.integers(0, 3, size=7)
    est = NeuralNetClassifier((4,), solver="lbfgs", alpha=0.5, max_iter=1, activation="tanh", random_state=0)
    with quiet():
        est.fit(X, y)
    objective = est._objective(None)
    rows = est._target_rows(np.searchsorted(est.classes_, y))
    net = est.net_
    theta = net._flat_values.copy()

    def f(t):
        np.copyto(net._flat_values, t)
        value = net.loss_and_gradients(objective, X, rows)
        return value, net._flat_grads.copy()

    value, grad = f(theta)
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = 1e-6
        numeric[i] = (f(theta + e)[0] - f(theta - e)[0]) / 2e-6
    # the stochastic path's objective: its penalty gradient comes from _PenalizedStep
    penalty = np.zeros_like(theta)
    est._add_penalty(_fixed(objective, len(y)), penalty)
    np.testing.assert_allclose(grad + penalty, numeric, rtol=1e-5, atol=1e-8)


def _fixed(objective, n):
    objective.fixed_denominator = float(n)
    return objective


# -- learning rates, alpha ----------------------------------------------------------------
def test_invscaling_follows_the_examples_seen_also_after_a_warm_start():
    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    est = NeuralNetClassifier((4,), solver="sgd", learning_rate="invscaling", power_t=0.25, max_iter=3, warm_start=True,
                              random_state=0)
    with quiet():
        est.fit(X, y)
        assert est.history_["lr"] == pytest.approx([0.001, 0.001 / 5**0.25, 0.001 / 9**0.25])
        est.set_params(max_iter=1).fit(X, y)  # a fresh optimizer, and t_ keeps counting
    assert est.t_ == 16 and est.history_["lr"] == [0.001]
    assert est._state.base_lr == pytest.approx(0.001 / 17**0.25)


def test_invscaling_starts_from_an_optimizer_instances_own_rate():
    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    est = NeuralNetClassifier((4,), solver=dp.SGD(lr=0.5), learning_rate="invscaling", power_t=0.5, max_iter=3,
                              random_state=0)
    with quiet():
        est.fit(X, y)
    assert est.history_["lr"] == pytest.approx([0.5, 0.5 / 5**0.5, 0.5 / 9**0.5])
    assert est._state.base_lr == pytest.approx(0.5 / 13**0.5)


@pytest.mark.parametrize("max_iter", [6, 20])
def test_cosine_and_step_span_max_iter_unless_given_a_length(max_iter):
    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    kw = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.1, max_iter=max_iter, n_iter_no_change=np.inf,
              random_state=0)
    with quiet():
        cosine = NeuralNetClassifier(learning_rate="cosine", **kw).fit(X, y)
        step = NeuralNetClassifier(learning_rate={"type": "step", "gamma": 0.5}, **kw).fit(X, y)
        fixed = NeuralNetClassifier(learning_rate={"type": "cosine", "t_max": 3}, **kw).fit(X, y)
    assert cosine.n_iter_ == step.n_iter_ == max_iter
    assert cosine.history_["lr"] == pytest.approx([0.05 * (1 + math.cos(math.pi * t / max_iter)) for t in range(max_iter)])
    assert step.history_["lr"] == pytest.approx([0.1 * 0.5 ** (t // (max_iter // 3)) for t in range(max_iter)])
    assert fixed.history_["lr"][3:] == pytest.approx([0.0] * (max_iter - 3), abs=1e-12)


def test_adaptive_divides_the_rate_by_5_until_1e_6_then_stops():
    X, y = [[3, 2], [1, 6]], [1, 0]
    est = NeuralNetClassifier(tol=0.5, max_iter=3000, solver="sgd", learning_rate="adaptive", random_state=0).fit(X, y)
    rates = sorted(set(est.history_["lr"]), reverse=True)
    assert rates == pytest.approx([0.001 / 5**k for k in range(len(rates))])
    assert est.n_iter_ < 3000 and 1e-6 > est._state.base_lr
    adam = NeuralNetClassifier(tol=0.5, max_iter=3000, learning_rate="adaptive", random_state=0).fit(X, y)
    assert set(adam.history_["lr"]) == {0.001}  # as scikit-learn, Adam keeps learning_rate_init


def test_alpha_is_scikit_learns_l2_on_weights_only_in_the_worked_example():
    # scikit-learn's test_fit: one SGD step from known weights, alpha = 0.1, one row
    X, y = np.array([[0.6, 0.8, 0.7]]), np.array([0])
    est = NeuralNetClassifier(
        solver="sgd", learning_rate_init=0.1, alpha=0.1, activation="logistic", random_state=1, max_iter=1,
        hidden_layer_sizes=2, momentum=0,
    )
    est.partial_fit(X, y, classes=[0, 1])
    est.coefs_ = [np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0]]), np.array([[0.1], [0.2]])]
    est.intercepts_ = [np.array([0.1, 0.1]), np.array([1.0])]
    est.partial_fit(X, y)
    np.testing.assert_allclose(est.coefs_[0], [[0.098, 0.195756], [0.2956664, 0.096008], [0.4939998, -0.002244]], atol=1e-3)
    np.testing.assert_allclose(est.coefs_[1], [[0.04706], [0.154089]], atol=1e-3)
    np.testing.assert_allclose(est.intercepts_[0], [0.098333, 0.09626], atol=1e-3)  # not decayed
    np.testing.assert_allclose(est.intercepts_[1], [0.9235], atol=1e-3)
    assert est.predict_proba(X)[0, 1] == pytest.approx(0.739, abs=1e-3)


def test_alpha_matches_mlpclassifier_loss_on_the_same_weights(binary_digits):
    X, y = binary_digits
    kw = dict(hidden_layer_sizes=(6,), alpha=3.0, solver="sgd", learning_rate_init=1e-12, max_iter=1, momentum=0,
              batch_size=len(y), shuffle=False, random_state=0)
    with quiet():
        ours = NeuralNetClassifier(**kw).fit(X, y)
        theirs = MLPClassifier(**kw).fit(X, y)
        theirs.coefs_ = [c.copy() for c in ours.coefs_]
        theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
        ours.partial_fit(X, y)
        theirs.partial_fit(X, y)
    assert ours.loss_curve_[-1] == pytest.approx(theirs.loss_curve_[-1], rel=1e-9)


def _same_start(ours, theirs, X, y):
    """Both fitted one epoch, then ``theirs`` given ``ours``'s weights and fresh curves."""
    with quiet():
        ours.fit(X, y)
        theirs.fit(X, y)
    theirs.coefs_ = [c.copy() for c in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    for est in (ours, theirs):
        est.loss_curve_, est.best_loss_, est._no_improvement_count, est.t_ = [], np.inf, 0, 0


@pytest.mark.parametrize("k", [1, 2, 4])
def test_multi_output_regression_reports_mlpregressors_loss_and_stops_where_it_does(k):
    # scikit-learn's squared loss is ½ mean((a − y)²) over all n·k entries, plus α/(2n)‖W‖²;
    # its gradient is that of ½ Σ_k, k times steeper: same weights, same curve, same stop
    rng = np.random.default_rng(k)
    X, y = rng.normal(size=(20, 5)), rng.normal(size=(20, k)).squeeze()
    kw = dict(hidden_layer_sizes=(7,), activation="tanh", solver="sgd", batch_size=20, shuffle=False, max_iter=1,
              learning_rate_init=0.01, alpha=0.01, momentum=0.9, random_state=0)
    ours, theirs = NeuralNetRegressor(**kw, dtype="float64"), MLPRegressor(**kw)
    _same_start(ours, theirs, X, y)
    for est in (ours, theirs):
        est.set_params(warm_start=True, max_iter=500, tol=1e-3, n_iter_no_change=3)
        with quiet():
            est.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 500
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9) and ours.best_loss_ == pytest.approx(theirs.best_loss_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    lbfgs = NeuralNetRegressor(hidden_layer_sizes=(7,), solver="lbfgs", alpha=0.01, max_iter=5, random_state=0, dtype="float64")
    with quiet():
        lbfgs.fit(X, y)
    entries = ((lbfgs.predict(X) - y) ** 2).mean() / 2  # L-BFGS's loss_ is at its final weights
    penalty = 0.01 / (2 * len(X)) * sum((W**2).sum() for W in lbfgs.coefs_)
    assert lbfgs.loss_ == pytest.approx(entries + penalty, rel=1e-9) == lbfgs.loss_curve_[-1]


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_1_is_accepted_and_steps_as_mlpclassifiers(binary_digits, nesterov):
    # scikit-learn takes momentum in [0, 1]; μ = 1 keeps every past step: V := V − α g
    import pickle

    X, y = binary_digits
    kw = dict(hidden_layer_sizes=(6,), solver="sgd", momentum=1.0, nesterovs_momentum=nesterov, batch_size=25,
              shuffle=False, learning_rate_init=0.01, max_iter=1, random_state=0)
    ours, theirs = NeuralNetClassifier(**kw, dtype="float64"), MLPClassifier(**kw)
    _same_start(ours, theirs, X, y)
    for est in (ours, theirs):
        est.set_params(warm_start=True, max_iter=4, n_iter_no_change=np.inf)
        with quiet():
            est.fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    again = pickle.loads(pickle.dumps(ours))  # the optimizer is rebuilt from its config, momentum 1 included
    assert again._state.optimizer.momentum == 1.0
    again.partial_fit(X, y)
    ours.partial_fit(X, y)
    assert all((a == b).all() for a, b in zip(again.coefs_, ours.coefs_))


# -- stopping, best weights, n_iter_ --------------------------------------------------------
def _sklearn_rule(values, tol, patience, maximise):
    """The 1-based epoch where scikit-learn's rule stops on ``values``, or None."""
    best, count = (-math.inf if maximise else math.inf), 0
    for epoch, v in enumerate(values, 1):
        worse = v < best + tol if maximise else v > best - tol
        count = count + 1 if worse else 0
        best = max(best, v) if maximise else min(best, v)
        if count > patience:
            return epoch
    return None


def test_stopping_rule_is_scikit_learns_on_the_training_loss(binary_digits):
    X, y = binary_digits
    stopped = 0
    for tol, patience in ((1e-2, 2), (1e-3, 5), (1e-4, 10), (0.0, 3)):
        with quiet():
            est = NeuralNetClassifier((10,), solver="sgd", tol=tol, n_iter_no_change=patience, max_iter=500,
                                      random_state=0).fit(X, y)
        expected = _sklearn_rule(est.loss_curve_, tol, patience, maximise=False)
        assert est.n_iter_ == (expected or 500) and est.best_loss_ == min(est.loss_curve_)
        if expected:
            stopped += 1
            assert est._no_improvement_count == patience + 1
    assert stopped >= 2


def test_early_stopping_restores_exactly_the_best_epoch_on_digits(digits):
    X, y = digits
    est = NeuralNetClassifier((32,), early_stopping=True, tol=1e-2, n_iter_no_change=5, max_iter=200, random_state=3)
    est.fit(X, y)
    assert _sklearn_rule(est.validation_scores_, 1e-2, 5, maximise=True) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_) > est.validation_scores_[-1] - 1
    seed = int(np.random.RandomState(3).randint(0, 2**31 - 1, size=3)[2])
    _, held = est._split(len(y), np.searchsorted(est.classes_, y), seed)
    # the returned model is the best epoch's: its score on the held-out rows is the reported one
    assert est.score(X[held], y[held]) == est.best_validation_score_


def test_n_iter_counts_each_call_and_n_iter_no_change_may_be_infinite(binary_digits):
    X, y = binary_digits
    est = NeuralNetRegressor(hidden_layer_sizes=(4,), solver="sgd", warm_start=True, max_iter=3, random_state=0)
    with quiet():
        est.fit(X, y)
        est.fit(X, y)
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 6 and est.t_ == 600
    est.partial_fit(X, y)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 7
    with pytest.warns(ConvergenceWarning):
        inf = NeuralNetClassifier((4,), solver="sgd", tol=1e9, n_iter_no_change=np.inf, max_iter=40, random_state=0).fit(X, y)
    assert inf.n_iter_ == 40 and inf._no_improvement_count == 39


# -- divergence and scikit-learn's errors ---------------------------------------------------
def test_divergence_is_a_value_error_with_deltaprops_message():
    X = np.finfo(np.float64).max * np.random.default_rng(0).uniform(size=(10, 2))
    y = np.random.default_rng(1).standard_normal(10)
    with pytest.raises(ValueError, match="non-finite parameter weights.*diverged at epoch 1") as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            NeuralNetRegressor().fit(X, y)
    assert isinstance(info.value, dp.TrainingDivergedError) and isinstance(info.value, dp.Error)


def test_divergence_under_early_stopping_records_nan_and_keeps_the_best(binary_digits):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(150, 4)) * 3, rng.normal(size=150) * 3
    est = NeuralNetRegressor(
        hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1, max_iter=20,
        early_stopping=True, random_state=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    assert math.isnan(est.validation_scores_[-1]) and isinstance(est.validation_scores_[-1], float)
    assert any(issubclass(w.category, ConvergenceWarning) and "diverged" in str(w.message) for w in caught)
    assert all(np.all(np.isfinite(c)) for c in est.coefs_)


def test_scikit_learns_errors_where_it_raises(binary_digits):
    X, y = binary_digits
    with pytest.raises(ValueError, match="The validation set is too small"):
        NeuralNetRegressor(early_stopping=True, random_state=0).fit(X[:2], y[:2])
    with pytest.raises(ValueError, match="least populated class"):
        NeuralNetClassifier(early_stopping=True).fit([[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1])
    fitted = NeuralNetClassifier((4,), early_stopping=True, max_iter=3, random_state=0)
    with quiet():
        fitted.fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        fitted.partial_fit(X, y)
    warm = NeuralNetClassifier((4,), warm_start=True, max_iter=3, random_state=0)
    with quiet():
        warm.fit(X, y)
    with pytest.raises(ValueError, match=re.escape("Previously got [0 1], `y` has [0 1 2]")):
        warm.fit(np.vstack([X, X[:1]]), np.append(y, 2))
    with pytest.raises(ValueError, match="not the same as on last call"):
        NeuralNetClassifier(solver="sgd").partial_fit(X, y, classes=[0, 1]).partial_fit(X, y, classes=[1, 2])
    with pytest.warns(UserWarning, match="batch_size"):
        with quiet():
            NeuralNetClassifier((4,), batch_size=1000, max_iter=1).fit(X, y)


# -- dtypes, signatures, verbose ----------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_input_dtype_is_the_parameters_dtype(cls, dtype, digits):
    X, y = digits
    with quiet():
        est = cls(hidden_layer_sizes=(5,), max_iter=3, random_state=1).fit(X[:300].astype(dtype), y[:300])
    assert all(c.dtype == dtype for c in est.coefs_ + est.intercepts_)
    if cls is NeuralNetRegressor:
        assert est.predict(X[300:].astype(dtype)).dtype == dtype
    with quiet():  # an explicit dtype wins over the input's
        assert cls(hidden_layer_sizes=(5,), max_iter=1, dtype="float32").fit(X[:50], y[:50]).coefs_[0].dtype == np.float32


def test_partial_fit_signatures_are_scikit_learns():
    assert list(inspect.signature(NeuralNetClassifier.partial_fit).parameters) == ["self", "X", "y", "sample_weight", "classes"]
    assert list(inspect.signature(NeuralNetRegressor.partial_fit).parameters) == ["self", "X", "y", "sample_weight"]


def test_verbose_prints_iterations_and_validation_scores(capsys, binary_digits):
    X, y = binary_digits
    with quiet():
        NeuralNetClassifier((4,), early_stopping=True, max_iter=2, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"Iteration 1, loss = \d+\.\d{8}", lines[0])
    assert re.fullmatch(r"Validation score: \d\.\d{6}", lines[1]) and lines[2].startswith("Iteration 2, loss = ")


# -- grid search on dask ------------------------------------------------------------------
@pytest.mark.slow
def test_docs_grid_search_runs_on_a_dask_cluster():
    pytest.importorskip("distributed")
    from joblib import parallel_config
    from distributed import Client, LocalCluster

    X, y = load_digits(return_X_y=True)
    # one worker process of two threads: the estimators cross a process boundary and train
    # there two at a time (a second process cost its own start-up and imports, and 4 s at
    # shutdown; one thread alone, and joblib would run the search here, not on the cluster)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        with parallel_config(backend="dask"):
            search = GridSearchCV(
                NeuralNetClassifier(learning_rate_init=0.01, max_iter=50, random_state=0), {"hidden_layer_sizes": [(16,), (32,)]},
                cv=2, n_jobs=-1
            )
            with quiet():
                search.fit(X[:400] / 16.0, y[:400])
        trained_there = client.run(lambda: "deltaprop.sklearn" in sys.modules)
    assert list(trained_there.values()) == [True]  # the worker process imported the estimators to fit them
    assert search.best_score_ > 0.8 and len(search.cv_results_["params"]) == 2


# -- scikit-learn's own MLP tests -----------------------------------------------------------
@pytest.mark.slow
def test_scikit_learns_own_mlp_test_module_passes():
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from sklearn_mlp_plugin import EXCLUDED
    finally:
        sys.path.pop(0)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    # -n 0: one process. The project's addopts (-n auto) would start xdist workers, each a
    # Python start-up and a collection of its own, for a module of about 60 short tests.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sklearn_mlp_plugin", "-p", "no:cacheprovider", "-q", "-rs", "-n", "0",
         "--pyargs", "sklearn.neural_network.tests.test_mlp"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
    )
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    skipped = int(re.search(r"(\d+) skipped", summary).group(1))
    assert skipped == len(EXCLUDED), run.stdout[-3000:]
    assert int(re.search(r"(\d+) passed", summary).group(1)) >= 50
    assert "failed" not in summary and "error" not in summary
