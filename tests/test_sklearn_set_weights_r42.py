"""Assigning ``coefs_`` or ``intercepts_`` (a whole list, or a slice) that fails at one
layer (another shape) changes no layer: the network never mixes new weights with old."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from deltaprop import ShapeError  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier  # noqa: E402


@pytest.fixture
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    est = NeuralNetClassifier(hidden_layer_sizes=(4, 5), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, (X[:, 0] > 0).astype(int))
    return est, X


def _weights(est):
    return [w.copy() for w in est.coefs_ + est.intercepts_]


@pytest.mark.parametrize("attribute", ["coefs_", "intercepts_"])
def test_a_list_with_one_array_of_another_shape_changes_no_layer(fitted, attribute):
    """The layers before the wrong array were set, then ShapeError: predict used new
    first-layer weights with the old others."""
    est, X = fitted
    before, answers = _weights(est), est.predict_proba(X)
    arrays = getattr(est, attribute)
    new = [np.zeros_like(arrays[0]), np.zeros_like(arrays[1]), np.zeros((7, 7))]
    with pytest.raises(ShapeError):
        setattr(est, attribute, new)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(est)))
    assert np.array_equal(answers, est.predict_proba(X))


def test_a_slice_with_one_array_of_another_shape_changes_no_layer(fitted):
    est, X = fitted
    before = _weights(est)
    coefs = est.coefs_
    with pytest.raises(ShapeError):
        coefs[0:2] = [np.ones_like(coefs[0]), np.ones((2, 2))]
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(est)))
    coefs[0:2] = [np.full_like(coefs[0], 0.5), np.full_like(coefs[1], 0.5)]  # the right shapes are set
    assert np.all(est.coefs_[0] == 0.5) and np.all(est.coefs_[1] == 0.5)
    assert np.array_equal(est.coefs_[2], before[2])
