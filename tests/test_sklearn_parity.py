"""NeuralNetClassifier / NeuralNetRegressor against MLPClassifier where their bookkeeping
meets: the early-stopping split, switching early stopping between fits, ``t_`` with
weight-0 rows, warm starts after ``set_params``, multilabel ``classes=`` and L-BFGS's
``best_loss_``."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the sklearn extra is not installed")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


@contextlib.contextmanager
def quiet():
    """ConvergenceWarning off: these runs are short on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def X200():
    return np.random.default_rng(0).normal(size=(200, 5))


# -- the early-stopping split ---------------------------------------------------------------
@pytest.mark.parametrize("y", [np.r_[np.arange(199) % 2, 2], np.arange(100) % 11], ids=["one-row class", "11 classes"])
def test_early_stopping_does_not_stratify_more_than_two_classes_as_scikit_learn(X200, y):
    X = X200[: len(y)]
    with quiet():
        est = NeuralNetClassifier((8,), early_stopping=True, max_iter=5, random_state=0).fit(X, y)
        MLPClassifier((8,), early_stopping=True, max_iter=5, random_state=0).fit(X, y)  # trains too
    assert len(est.classes_) == len(np.unique(y))
    assert len(est.validation_scores_) == est.n_iter_ == 5


def test_early_stopping_split_of_more_classes_is_the_plain_split(X200):
    y = np.arange(90) % 3
    est = NeuralNetClassifier(early_stopping=True)
    est.classes_, est._multilabel, est.n_outputs_ = np.arange(3), False, 3
    train, held = est._split(90, y, seed=7)
    plain_train, plain_held = train_test_split(np.arange(90), test_size=0.1, random_state=7)
    assert np.array_equal(train, plain_train) and np.array_equal(held, plain_held)


def test_early_stopping_split_of_two_classes_is_stratified_on_the_binarised_column():
    """Two classes: the split scikit-learn's stratification on its one 0/1 target column
    gives, for any labels (so the same random_state gives the same split as before)."""
    ids = np.r_[np.zeros(70, int), np.ones(30, int)]
    est = NeuralNetClassifier(early_stopping=True)
    est.classes_, est._multilabel, est.n_outputs_ = np.array(["cat", "dog"]), False, 1
    train, held = est._split(100, ids, seed=3)
    want_train, want_held = train_test_split(np.arange(100), test_size=0.1, random_state=3, stratify=ids)
    assert np.array_equal(train, want_train) and np.array_equal(held, want_held)
    assert np.sum(ids[held] == 1) == 3


def test_a_class_too_small_to_stratify_is_named_by_its_label():
    """scikit-learn's message names the 0/1 column's value (its own MLP tests check that);
    deltaprop's adds the label."""
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array(["ham"] * 9 + ["spam"])
    with pytest.raises(dp.DataError, match=r"least populated class.*\['True'\] \(too few rows of class 'spam'\)"):
        NeuralNetClassifier(early_stopping=True).fit(X, y)


# -- switching early stopping between fits -------------------------------------------------
@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 4)), np.arange(60) % 2


def test_early_stopping_then_partial_fit_without_it(small):
    X, y = small
    with quiet():
        est = NeuralNetClassifier((4,), max_iter=3, random_state=0, early_stopping=True).fit(X, y)
    est.set_params(early_stopping=False)
    est.partial_fit(X, y)
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    assert est.best_loss_ == est.loss_ == est.loss_curve_[-1] and est._no_improvement_count == 0


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_a_warm_start_may_switch_early_stopping_on(cls, small):
    X, y = small
    with quiet():
        est = cls(hidden_layer_sizes=(4,), max_iter=3, random_state=0, warm_start=True).fit(X, y)
        est.set_params(early_stopping=True, max_iter=4)
        est.fit(X, y)
    assert len(est.validation_scores_) == 4 and est.best_loss_ is None
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert len(est.loss_curve_) == 7


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_a_warm_start_may_switch_early_stopping_off(cls, small):
    X, y = small
    with quiet():
        est = cls(hidden_layer_sizes=(4,), max_iter=3, random_state=0, warm_start=True, early_stopping=True).fit(X, y)
        est.set_params(early_stopping=False, max_iter=4)
        est.fit(X, y)
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    assert est.best_loss_ == min(est.loss_curve_[3:]) and len(est.loss_curve_) == 7


def test_a_warm_start_keeps_the_early_stopping_record_when_it_stays_on(small):
    X, y = small
    with quiet():
        est = NeuralNetClassifier((4,), max_iter=3, random_state=0, warm_start=True, early_stopping=True).fit(X, y)
        first = list(est.validation_scores_)
        est.fit(X, y)
    assert est.validation_scores_[:3] == first and len(est.validation_scores_) == 6
    assert est.best_validation_score_ == max(est.validation_scores_)


# -- t_ counts every row, weight 0 included ------------------------------------------------
def test_t_and_invscaling_count_weight_0_rows_as_scikit_learn():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), np.arange(30) % 3
    w = np.ones(30)
    w[::4] = 0
    kw = dict(hidden_layer_sizes=(5,), max_iter=1, random_state=0, solver="sgd", learning_rate="invscaling",
              learning_rate_init=0.05, shuffle=False, momentum=0.0)
    with quiet():
        theirs = MLPClassifier(**kw).fit(X, y, sample_weight=w)
        ours = NeuralNetClassifier(**kw).fit(X, y, sample_weight=w)
        assert ours.t_ == theirs.t_ == 30
        ours.coefs_, ours.intercepts_ = [c.copy() for c in theirs.coefs_], [b.copy() for b in theirs.intercepts_]
        for est in (theirs, ours):
            est.set_params(warm_start=True, max_iter=6)
            est.fit(X, y, sample_weight=w)
    assert ours.t_ == theirs.t_ == 210
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert ours.loss_curve_[1:] == pytest.approx(theirs.loss_curve_[1:], rel=1e-12)


def test_partial_fit_t_counts_weight_0_rows(small):
    X, y = small
    w = np.arange(60) % 3
    est = NeuralNetClassifier((4,), random_state=0).partial_fit(X, y, sample_weight=w, classes=[0, 1])
    assert est.t_ == 60
    est.partial_fit(X, y, sample_weight=w)
    assert est.t_ == 120


def test_t_under_early_stopping_counts_the_training_rows_and_the_weight_0_rows(small):
    X, y = small
    w = np.ones(60)
    w[:6] = 0
    with quiet():
        est = NeuralNetClassifier((4,), max_iter=2, random_state=0, early_stopping=True).fit(X, y, sample_weight=w)
    held = 6  # ⌈0.1 × 54⌉ rows of positive weight are held out
    assert est.t_ == 2 * (60 - held)


# -- warm start after set_params(output=...) -------------------------------------------------
def test_a_warm_start_that_changes_the_output_width_names_output(small):
    X, y = small
    with quiet():
        est = NeuralNetClassifier((4,), max_iter=3, random_state=0, warm_start=True).fit(X, y)
    est.set_params(output="softmax")
    with pytest.raises(dp.ConfigError, match=r"output='softmax'.*2 units.*1") as info:
        est.fit(X, y)
    assert "hidden_layer_sizes" not in str(info.value)
    with pytest.raises(dp.ConfigError, match="hidden_layer_sizes"):
        est.set_params(output="auto", hidden_layer_sizes=(5,)).fit(X, y)


# -- multilabel partial_fit(classes=...) ---------------------------------------------------
def test_multilabel_partial_fit_refuses_classes_that_are_not_ys_columns():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 4)), (rng.random((30, 3)) > 0.5).astype(int)
    with pytest.raises(dp.ConfigError, match=r"3 label columns.*classes=\[0, 1\]"):
        NeuralNetClassifier((4,), random_state=0).partial_fit(X, Y, classes=[0, 1])
    for classes in (None, [0, 1, 2], [2, 0, 1]):
        est = NeuralNetClassifier((4,), random_state=0).partial_fit(X, Y, classes=classes)
        est.partial_fit(X, Y, classes=classes)
        assert est.classes_.tolist() == [0, 1, 2]


# -- L-BFGS keeps no stopping bookkeeping ----------------------------------------------------
@pytest.mark.parametrize("early_stopping", [False, True])
def test_lbfgs_leaves_best_loss_none_and_a_stochastic_warm_start_starts_it(small, early_stopping):
    X, y = small
    with quiet():
        est = NeuralNetClassifier((5,), solver="lbfgs", max_iter=10, random_state=0, warm_start=True,
                                  early_stopping=early_stopping).fit(X, y)
    assert est.best_loss_ is None and est.validation_scores_ is None and est.best_validation_score_ is None
    assert len(est.loss_curve_) == est.n_iter_
    with quiet():
        est.set_params(solver="adam", max_iter=3).fit(X, y)
    if early_stopping:
        assert len(est.validation_scores_) == 3 and est.best_loss_ is None
    else:
        assert est.best_loss_ == min(est.loss_curve_[-3:])


def test_lbfgs_model_file_keeps_best_loss_none(small, tmp_path):
    X, y = small
    with quiet():
        est = NeuralNetClassifier((5,), solver="lbfgs", max_iter=10, random_state=0).fit(X, y)
    again = NeuralNetClassifier.load(est.save(tmp_path / "m.safetensors"))
    assert again.best_loss_ is None and again.loss_curve_ == est.loss_curve_
