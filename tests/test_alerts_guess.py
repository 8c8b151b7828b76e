"""loss_above_guess: a classifier whose training loss sits far above that of guessing (every
class the same probability) names the learning rate, from the first epoch on."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.alerts import Context, check, context_of


def _rules(records, ctx):
    return [a.rule for a in check(records, ctx)]


def test_context_holds_the_loss_of_guessing():
    y = np.arange(200) % 10
    ctx = context_of(dp.mlp([4, 5, 10], seed=0), dp.CrossEntropy(), y)
    assert ctx.uniform_loss == pytest.approx(math.log(10)) and ctx.frequencies_loss == pytest.approx(math.log(10))
    yb = (np.arange(100) < 5).astype(int)
    entropy = -(0.05 * math.log(0.05) + 0.95 * math.log(0.95))
    for net, loss in ((dp.Network([dp.Dense(4, 1), dp.Sigmoid()], seed=0), dp.BinaryCrossEntropy()),
                      (dp.Network([dp.Dense(4, 1)], seed=0), dp.BinaryCrossEntropy(from_logits=True)),
                      (dp.mlp([4, 5, 2], seed=0), dp.CrossEntropy())):
        ctx = context_of(net, loss, yb)
        assert ctx.frequencies_loss == pytest.approx(entropy, rel=1e-5)
        assert ctx.uniform_loss == pytest.approx(math.log(2), rel=1e-5)
    assert context_of(dp.mlp([4, 5, 2], seed=0), dp.MeanSquaredError(), yb).uniform_loss is None


def test_a_loss_six_times_guessing_at_epoch_one_names_the_learning_rate():
    ctx = Context(chance=0.1, frequencies_loss=math.log(10), uniform_loss=math.log(10))
    alerts = [a for a in check([{"epoch": 1, "loss": 14.25, "accuracy": 0.1}], ctx) if a.rule == "loss_above_guess"]
    assert len(alerts) == 1 and "--lr" in alerts[0].fix and "6.2×" in alerts[0].evidence


def test_a_healthy_or_unclassified_loss_raises_nothing():
    ctx = Context(chance=0.1, frequencies_loss=math.log(10), uniform_loss=math.log(10))
    assert "loss_above_guess" not in _rules([{"epoch": 1, "loss": 2.9, "accuracy": 0.2}], ctx)  # a slow start
    assert "loss_above_guess" not in _rules([{"epoch": 1, "loss": 14.25}], Context())  # regression: no guess


def test_training_with_a_far_too_large_rate_raises_it_at_epoch_one():
    rng = np.random.default_rng(0)
    X = rng.random((300, 20))
    y = (X[:, :10].sum(axis=1) > 5).astype(int) + 2 * (X[:, 10:].sum(axis=1) > 5).astype(int)
    history = dp.fit(dp.mlp([20, 16, 4], activation="sigmoid", seed=0), X, y, loss=dp.CrossEntropy(),
                     optimizer=dp.SGD(lr=300.0), epochs=2, batch_size=20, seed=0)
    assert ("loss_above_guess", 1) in {(a.rule, a.epoch) for a in history.alerts}
    healthy = dp.fit(dp.mlp([20, 16, 4], activation="sigmoid", seed=0), X, y, loss=dp.CrossEntropy(),
                     optimizer=dp.SGD(lr=0.5), epochs=2, batch_size=20, seed=0)
    assert "loss_above_guess" not in {a.rule for a in healthy.alerts}
