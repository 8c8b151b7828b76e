"""loss_above_guess under squared error: the guess is always predicting the targets' mean
(for one-hot rows, the class frequencies); a loss far above it at epoch 1 names the steps,
while a saturated start that the loss falls from raises nothing."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.alerts import Context, check, context_of


def _above_guess(records, ctx):
    return [a for a in check(records, ctx) if a.rule == "loss_above_guess"]


def test_context_holds_the_squared_error_of_predicting_the_mean():
    y = np.arange(200) % 4  # one-hot rows of four balanced classes: 1 − Σ p̄² = 0.75
    assert context_of(dp.mlp([3, 5, 4], seed=0), dp.MeanSquaredError(), y).mean_loss == pytest.approx(0.75)
    rows = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])  # variances 8/3 and 2
    net = dp.Network([dp.Dense(3, 2)], seed=0)
    assert context_of(net, dp.MeanSquaredError(classification=False), rows).mean_loss == pytest.approx(8 / 3 + 2)
    # unequal weights: the weighted mean and the weighted loss (fit scales weights to mean 1)
    col = np.array([[0.0], [1.0]])
    ctx = context_of(dp.Network([dp.Dense(3, 1)], seed=0), dp.MeanSquaredError(classification=False), col, [1.0, 3.0])
    assert ctx.mean_loss == pytest.approx((1 * 0.75**2 + 3 * 0.25**2) / 4)
    assert context_of(dp.mlp([3, 5, 4], seed=0), dp.CrossEntropy(), y).mean_loss is None


def test_a_squared_error_far_above_the_mean_guess_names_the_learning_rate():
    ctx = Context(chance=0.5, mean_loss=0.5, start_loss=0.6)
    found = _above_guess([{"epoch": 1, "loss": 17455.0, "accuracy": 0.5}], ctx)
    assert len(found) == 1 and "--lr" in found[0].fix and "34910.0×" in found[0].evidence
    assert "targets' mean" in found[0].evidence
    assert _above_guess([{"epoch": 1, "loss": 0.48, "accuracy": 0.6}], ctx) == []  # parity's healthy epoch 1


def test_a_saturated_start_the_loss_falls_from_raises_nothing_until_the_steps_raise_it():
    ctx = Context(chance=0.1, mean_loss=0.9, start_loss=3.8)  # sigmoid outputs saturated at the start
    assert _above_guess([{"epoch": 1, "loss": 1.88, "accuracy": 0.12}], ctx) == []
    found = _above_guess([{"epoch": 1, "loss": 9.0, "accuracy": 0.1}], ctx)
    assert len(found) == 1 and "raised it 2.4×" in found[0].evidence
    assert _above_guess([{"epoch": 1, "loss": 5.0}], Context(mean_loss=0.0)) == []  # constant targets: no guess


def _csv_like(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((120, 4)) * 10  # unscaled columns, as a small CSV holds them
    return X, (X[:, 0] + X[:, 1] > 10).astype(int)


def test_identity_output_under_mse_at_lr_0_3_raises_it_at_epoch_one():
    X, y = _csv_like()
    net = dp.mlp([4, 8, 2], activation="sigmoid", output="identity", seed=0)
    history = dp.fit(net, X, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.3), epochs=1, batch_size=16, seed=0)
    assert ("loss_above_guess", 1) in {(a.rule, a.epoch) for a in history.alerts}


def test_a_healthy_squared_error_run_raises_nothing():
    X, y = _csv_like()
    net = dp.mlp([4, 8, 2], activation="sigmoid", output="sigmoid", seed=0)
    history = dp.fit(net, X / 10, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.3), epochs=3, batch_size=8,
                     seed=0)
    assert "loss_above_guess" not in {a.rule for a in history.alerts}
    assert history.records[0]["loss"] < 1.0  # it did train under the loss the rule reads
