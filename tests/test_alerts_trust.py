"""Alerts a user can trust: saturation is an alert only where it slows learning, a loss that
spikes and falls back is no divergence, and a diverging run is still called one."""

from __future__ import annotations

import math


import deltaprop as dp
from deltaprop.alerts import SATURATED_UPDATE, Context, check


def _rules(records, ctx=Context()):
    return [(a.rule, a.layer) for a in check(records, ctx)]


def _curve(losses, accuracy=0.5):
    return [{"epoch": i + 1, "loss": loss, "accuracy": accuracy} for i, loss in enumerate(losses)]


# -- saturated -----------------------------------------------------------------------------
def test_rmsprop_on_the_default_network_is_saturated_but_learns_fast_so_no_alert(digits):
    X, y = digits
    history = dp.fit(dp.mlp([784, 50, 10], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.RMSprop(),
                     epochs=4, batch_size=32, seed=0)
    hidden = [d.layers[1].saturated for d in history.diagnostics]
    steps = [d.parameter("layers.0.W").update_ratio for d in history.diagnostics]
    assert min(hidden) > 0.5  # the share is measured as before: most hidden outputs are saturated
    assert min(steps) > 10 * SATURATED_UPDATE  # yet its weights take large steps
    assert history.records[-1]["accuracy"] > 0.9
    assert "saturated" not in {a.rule for a in history.alerts}


def test_sgd_on_large_sigmoid_weights_is_saturated_and_slow_so_the_alert_stays(digits):
    X, y = digits
    net = dp.Network([dp.Dense(784, 50, init=dp.scaled_normal(3.0)), dp.Sigmoid(), dp.Dense(50, 10), dp.Softmax()],
                     seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=32, seed=0)
    alert = next(a for a in history.alerts if a.rule == "saturated")
    assert alert.layer == 1 and "layer 0 (Dense) feeding it" in alert.evidence and "learns slowly" in alert.evidence
    assert history.diagnostics[alert.epoch - 1].parameter("layers.0.W").update_ratio < SATURATED_UPDATE


def _saturated_record(update_ratio, accuracy=0.5):
    layers = [{"index": 0, "layer": "Dense"}, {"index": 1, "layer": "Sigmoid", "saturated": 0.8},
              {"index": 2, "layer": "Dense"}, {"index": 3, "layer": "Softmax"}]
    params = [{"name": f"layers.{i}.W", "layer": i, "grad_norm": 1e-3, "norm": 1.0, "update_ratio": update_ratio}
              for i in (0, 2)]
    return [{"epoch": 1, "loss": 1.0, "accuracy": accuracy, "diagnostics": {"layers": layers, "parameters": params}}]


def test_saturation_is_judged_by_the_steps_of_the_weights_that_feed_the_layer():
    assert _rules(_saturated_record(5e-2)) == []  # RMSprop's steps on the default network
    slow = check(_saturated_record(1.4e-4))  # SGD on scaled_normal(3) weights
    assert [(a.rule, a.layer) for a in slow] == [("saturated", 1)] and "1.4e-04" in slow[0].evidence
    assert _rules(_saturated_record(None)) == [("saturated", 1)]  # no update recorded: the share alone
    assert _rules(_saturated_record(1.4e-4, accuracy=0.995)) == []  # fitted: nothing is left to learn


# -- exploding loss ------------------------------------------------------------------------
def test_a_one_epoch_spike_of_a_tiny_loss_is_no_divergence():
    # breast cancer (sklearn) with RMSprop at its default rate, epochs 1 and 55-60: 7.8x in one
    # epoch, then back below its best (test accuracy 0.94)
    spike = [0.1806, 0.001605, 0.002088, 0.01256, 0.001861, 0.001078, 0.0008806]
    for end in range(2, len(spike) + 1):
        assert _rules(_curve(spike[:end], accuracy=1.0)) == []
    assert _rules(_curve([0.377, 0.1, 0.0, 0.0625])) == []  # a best of 0 (float32 underflow): no division by it


def test_a_diverging_loss_is_still_called_exploding():
    # the MNIST sample, SGD with momentum 0.99 at lr 1: the loss passes the first epoch's
    mnist = [3.9479, 5.6539, 8.6690]
    assert _rules(_curve(mnist[:2])) == []  # 1.43x: not yet
    assert _rules(_curve(mnist)) == [("exploding_loss", None)]
    assert "above the first epoch's 3.948" in check(_curve(mnist))[0].evidence
    # iris, SGD with momentum 0.99 at lr 0.3: up from its best (0.229) for three epochs in a row
    iris = [0.946, 0.404, 0.416, 0.287, 0.242, 0.428, 0.229, 0.294, 0.331, 0.399, 0.484, 0.71]
    assert ("exploding_loss", None) not in _rules(_curve(iris[:11]))
    found = [a for a in check(_curve(iris)) if a.rule == "exploding_loss"]
    assert len(found) == 1 and "for 3 epochs" in found[0].evidence
    assert _rules(_curve([1.0, 0.5, math.inf])) == [("exploding_loss", None)]
    assert _rules(_curve([1.0, 0.5, math.nan])) == [("exploding_loss", None)]


def test_a_diverging_run_raises_the_alert(digits):
    X, y = digits
    history = dp.fit(dp.mlp([784, 50, 10], seed=0), X, y, loss=dp.CrossEntropy(),
                     optimizer=dp.SGD(lr=1.0, momentum=0.99), epochs=4, batch_size=20, seed=0)
    losses = [r["loss"] for r in history.records]
    assert losses[-1] > losses[0]
    assert "exploding_loss" in {a.rule for a in history.alerts}
