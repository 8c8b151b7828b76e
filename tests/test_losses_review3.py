"""Losses, third review: targets that a loss told they are classes must be classes."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import DataError


def _regression_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2)).astype(np.float32)
    return X, 3.0 * X[:, 0] + 5.0  # real values, all but a few above 0.5


def test_mse_classification_true_refuses_real_valued_targets_in_fit():
    # It trained and reported an "accuracy" (0.97) of thresholding 3x + 5 at 0.5.
    X, y = _regression_data()
    net = dp.mlp([2, 4, 1], output="identity", seed=0)
    with pytest.raises(DataError, match=r"classification=False"):
        dp.fit(net, X, y, loss=dp.MeanSquaredError(classification=True), optimizer=dp.SGD(0.01), epochs=1)


@pytest.mark.parametrize("y, n_outputs", [
    (np.array([0.0, 1.0, 2.0]), 1),           # float class ids beyond one output's 0..1 (ints were refused)
    (np.array([[0.0], [1.0], [2.0]]), 1),
    (np.array([[1.5, 0.0], [0.0, 1.0], [1.0, 0.0]]), 2),
    (np.array([[-1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]), 2),
])
def test_mse_classification_true_refuses_targets_outside_0_1(y, n_outputs):
    with pytest.raises(DataError, match=r"classification=False"):
        dp.MeanSquaredError(classification=True).prepare_targets(y, n_outputs, np.float64)


@pytest.mark.parametrize("y, n_outputs, want", [
    ([0, 1, 1], 1, [[0], [1], [1]]),
    ([0.0, 1.0, 1.0], 1, [[0], [1], [1]]),
    ([True, False, True], 1, [[1], [0], [1]]),
    ([0.9, 0.1, 0.0], 1, [[0.9], [0.1], [0]]),          # soft 0/1 targets stay accepted
    ([0, 2, 1], 3, np.eye(3)[[0, 2, 1]]),
    ([[0.1, 0.9], [1.0, 0.0], [0.5, 0.5]], 2, [[0.1, 0.9], [1.0, 0.0], [0.5, 0.5]]),
])
def test_mse_classification_true_still_takes_classes(y, n_outputs, want):
    rows = dp.MeanSquaredError(classification=True).prepare_targets(y, n_outputs, np.float64)
    np.testing.assert_allclose(rows, want)


def test_mse_classification_true_does_not_advise_float_labels_for_int_ids_out_of_range():
    # The hint "pass them as floats" pointed at what classification=True now refuses.
    with pytest.raises(DataError) as info:
        dp.MeanSquaredError(classification=True).prepare_targets(np.array([0, 1, 2]), 1, np.float64)
    assert "as floats" not in str(info.value)
    assert "0..1" in str(info.value)


def test_mse_regression_and_undecided_still_take_real_values():
    _, y = _regression_data()
    for loss in (dp.MeanSquaredError(classification=False), dp.MeanSquaredError()):
        rows = loss.prepare_targets(y, 1, np.float64)
        np.testing.assert_array_equal(rows[:, 0], y)
        assert not loss.targets_are_classes(rows)
