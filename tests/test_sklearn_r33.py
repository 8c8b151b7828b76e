"""NeuralNetClassifier.predict decides a single sigmoid output (and each multilabel output)
as MLPClassifier does: class 1 only where a > 0.5, so a = 0.5 exactly is class 0."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from deltaprop.sklearn import NeuralNetClassifier  # noqa: E402


def _halves(est) -> None:
    """Zero the last layer's weights and bias: every output is σ(0) = 0.5 exactly."""
    if isinstance(est, MLPClassifier):
        est.coefs_[-1][:] = 0
        est.intercepts_[-1][:] = 0
    else:
        last = [layer for layer in est.net_.layers if isinstance(layer, dp.Dense)][-1]
        last.W.value[:] = 0
        last.b.value[:] = 0


def _fitted(cls, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    return rng.standard_normal((30, 3))


def test_a_probability_of_exactly_one_half_is_the_first_class_as_in_mlpclassifier(rows):
    y = np.where(rows[:, 0] > 0, "yes", "no")
    ours, theirs = _fitted(NeuralNetClassifier, rows, y), _fitted(MLPClassifier, rows, y)
    _halves(ours)
    _halves(theirs)
    assert np.all(ours.predict_proba(rows)[:, 1] == 0.5)
    assert np.all(theirs.predict_proba(rows)[:, 1] == 0.5)
    np.testing.assert_array_equal(theirs.predict(rows), "no")  # scikit-learn's rule: a > 0.5
    np.testing.assert_array_equal(ours.predict(rows), theirs.predict(rows))
    assert ours.score(rows, y) == theirs.score(rows, y)
    # the network itself keeps deltaprop's documented a ≥ 0.5
    np.testing.assert_array_equal(ours.net_.predict(rows.astype(ours.net_.dtype)), 1)


def test_multilabel_outputs_of_exactly_one_half_are_off_as_in_mlpclassifier(rows):
    y = (rows[:, :2] > 0).astype(int)
    ours, theirs = _fitted(NeuralNetClassifier, rows, y), _fitted(MLPClassifier, rows, y)
    _halves(ours)
    _halves(theirs)
    np.testing.assert_array_equal(theirs.predict(rows), 0)
    np.testing.assert_array_equal(ours.predict(rows), theirs.predict(rows))


def test_the_held_out_score_counts_one_half_as_predict_does(rows):
    # early stopping's validation accuracy is the score of predict's classes, as scikit-learn's
    y = (rows[:, 0] > 0.5).astype(int)
    assert np.mean(y == 0) != np.mean(y == 1)
    ours = _fitted(NeuralNetClassifier, rows, y)
    _halves(ours)
    ids = np.searchsorted(ours.classes_, y)
    assert ours._score_rows(ours.net_, rows.astype(ours.net_.dtype), ids, None) == np.mean(y == 0)


def test_outputs_off_one_half_decide_as_before(rows):
    y = np.where(rows[:, 0] > 0, "yes", "no")
    ours = _fitted(NeuralNetClassifier, rows, y)
    p = ours.predict_proba(rows)[:, 1]
    assert not np.any(p == 0.5)
    np.testing.assert_array_equal(ours.predict(rows), np.where(p > 0.5, "yes", "no"))
