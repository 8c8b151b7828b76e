"""Alerts whose fixes fit the run's optimizer: the weight decay that holds the weights at 0,
a high momentum, AdaDelta's learning rate of 1; the dead-ReLU alert's He start as evidence;
the summary without alerts naming what every rule looks for."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import alerts
from deltaprop.alerts import Context, check


def _blobs(n=600, seed=0):
    """Three Gaussian classes in 4 standardised features: easy to learn."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(0.0, 2.0, (3, 4))[y] + rng.normal(0.0, 1.0, (n, 4))
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32), y


def _fit(optimizer, epochs=5):
    X, y = _blobs()
    net = dp.mlp([4, 16, 3], activation="sigmoid", seed=0)
    return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=optimizer, epochs=epochs, batch_size=20, seed=0)


@pytest.mark.parametrize("optimizer", [dp.Adam(weight_decay=100.0), dp.AdamW(weight_decay=100.0)],
                         ids=["adam", "adamw"])
def test_a_weight_decay_that_holds_the_weights_at_0_is_named_by_the_chance_alert(optimizer):
    history = _fit(optimizer)
    [alert] = [a for a in history.alerts if a.rule == "chance_accuracy"]
    assert "weight decay 100" in alert.evidence and "‖W‖" in alert.evidence
    usual = "0.01" if optimizer.type_name == "AdamW" else "0.0001"
    assert alert.fix.startswith(f"lower the weight decay (dp.{optimizer.type_name}(weight_decay=100)) to a usual {usual}")
    assert "learning rate" not in alert.fix


def test_a_usual_weight_decay_is_not_blamed_for_steps_too_small():
    history = _fit(dp.SGD(lr=1e-6, weight_decay=1e-4))
    [alert] = [a for a in history.alerts if a.rule == "chance_accuracy"]
    assert "weight decay" not in alert.evidence + alert.fix
    assert "raise the learning rate" in alert.fix


def test_the_context_holds_the_optimizer_and_none_where_it_is_not_known():
    X, y = _blobs()
    net = dp.mlp([4, 16, 3], activation="sigmoid", seed=0)
    ctx = alerts.context_of(net, dp.CrossEntropy(), y, optimizer=dp.SGD(lr=0.2, momentum=0.95, weight_decay=1e-3))
    assert (ctx.optimizer, ctx.lr, ctx.momentum, ctx.weight_decay) == ("SGD", 0.2, 0.95, 1e-3)
    ctx = alerts.context_of(net, dp.CrossEntropy(), y, optimizer=dp.Adam(lr=0.003))
    assert (ctx.optimizer, ctx.lr, ctx.momentum, ctx.weight_decay) == ("Adam", 0.003, None, 0.0)
    ctx = alerts.context_of(net, dp.CrossEntropy(), y)  # diagnostics read back from files
    assert (ctx.optimizer, ctx.lr, ctx.momentum, ctx.weight_decay) == (None, None, None, None)


def _rising(n=4):
    return [{"epoch": k + 1, "loss": loss, "accuracy": 0.5} for k, loss in enumerate([1.0, 0.8, 3.0, 5.0][:n])]


def _fix(rule, ctx, records=None):
    [alert] = [a for a in check(records or _rising(), ctx) if a.rule == rule]
    return alert.fix


def test_the_learning_rate_fixes_name_a_high_momentum():
    high = Context(optimizer="SGD", lr=0.3, momentum=0.99, weight_decay=0.0)
    fix = _fix("exploding_loss", high)
    assert "momentum 0.99" in fix and "1/(1 − μ) = 100" in fix and "--momentum" in fix
    assert "momentum" not in _fix("exploding_loss", Context(optimizer="SGD", lr=0.3, momentum=0.9, weight_decay=0.0))
    assert "momentum" not in _fix("exploding_loss", Context(optimizer="Adam", lr=0.001, weight_decay=0.0))
    for fix in (alerts._exploding_fix(high), alerts._steps_fix(high), alerts._dead_relu_fix({"index": 1}, high),
                alerts._chance_fix({}, high)):
        assert "momentum 0.99" in fix


def test_a_run_at_momentum_0_99_hears_of_its_momentum(digits):
    X, y = digits
    net = dp.mlp([784, 50, 10], activation="sigmoid", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3, momentum=0.99), epochs=4,
                     batch_size=20, seed=0)
    blamed = [a for a in history.alerts if "learning rate" in a.fix]
    assert blamed and all("momentum 0.99" in a.fix for a in blamed)


def test_adadelta_at_its_own_rate_is_not_told_to_lower_it():
    own = Context(optimizer="AdaDelta", lr=1.0, weight_decay=0.0)
    for fix in (_fix("exploding_loss", own), alerts._exploding_fix(own), alerts._steps_fix(own),
                alerts._dead_relu_fix({"index": 1}, own), alerts._chance_fix({}, own),
                alerts._saturated_fix({"index": 1}, own, stuck=True)):
        assert "lower the learning rate" not in fix and "AdaDelta" in fix
    assert "raise the learning rate" not in alerts._raise_rate(own)
    assert _fix("exploding_loss", Context(optimizer="AdaDelta", lr=5.0)).startswith(
        "lower the learning rate (--lr 5) to AdaDelta's 1.0")


def test_overfitting_with_a_weight_decay_asks_for_a_stronger_one():
    records = [{"epoch": k, "loss": 0.1, "accuracy": 1.0, "val_accuracy": 0.7} for k in (1, 2)]
    fix = _fix("overfitting", Context(optimizer="AdamW", lr=0.001, weight_decay=0.01), records)
    assert "a stronger weight decay (--weight-decay 0.01)" in fix
    assert "weight decay (--weight-decay)" in _fix("overfitting", Context(weight_decay=0.0), records)


def test_the_he_start_of_a_dead_relu_layer_is_evidence_not_a_fix():
    record = {"epoch": 1, "loss": 1.0, "diagnostics": {"layers": [
        {"index": 0, "layer": "Dense"}, {"index": 1, "layer": "ReLU", "dead": 1.0}]}}
    he = Context(layers=("Dense(he_normal)", "ReLU", "Dense(glorot_uniform)", "Softmax"))
    [alert] = [a for a in check([record], he) if a.rule == "dead_relu"]
    assert "started from He initialisation (he_normal)" in alert.evidence
    assert "he_normal" not in alert.fix and "He" not in alert.fix
    glorot = Context(layers=("Dense(glorot_uniform)", "ReLU", "Dense(glorot_uniform)", "Softmax"))
    [alert] = [a for a in check([record], glorot) if a.rule == "dead_relu"]
    assert "He" not in alert.evidence and "initialise with He (he_normal)" in alert.fix


#: What each rule looks for, in the words of the summary of a run without alerts.
_LOOKS_FOR = {"loss_above_guess": "above guessing", "output_range": "outside the output's range",
              "dead_relu": "dead", "saturated": "saturated units", "vanishing_gradients": "vanishing",
              "exploding_gradients": "exploding gradients", "exploding_loss": "rises", "oscillating_loss": "oscillates",
              "flat_loss": "stays flat", "chance_accuracy": "chance accuracy", "overfitting": "overfitting",
              "zero_init_symmetry": "identical", "unsettled_weights": "far below its running accuracy",
              "strong_decay": "weight decay that outweighs",
              "large_weights": "weights too large to move", "heavy_dropout": "dropout too heavy"}


def test_the_summary_without_alerts_names_what_every_rule_looks_for():
    assert set(_LOOKS_FOR) == set(alerts.RULES)
    text = alerts.summary([])
    assert text.startswith("no alerts: no rule fired on")
    assert [rule for rule, words in _LOOKS_FOR.items() if words not in text] == []
