"""Alerts: networks built to fail in each alerted way raise the right alert naming the right
layer; each rule on hand-made curves; every alert fires once."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import alerts
from deltaprop.alerts import Alert, AlertMonitor, Context, check, summary
from deltaprop.callbacks import DiagnosticsRecorder


def _train(net, data, loss, optimizer, epochs=4, batch_size=32):
    X, y = data
    fired = []
    history = dp.fit(net, X, y, loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size, seed=0,
                     callbacks=[DiagnosticsRecorder(X, y, on_alert=fired.append)])
    assert fired == history.alerts  # printed as they fire and kept in the history: the same alerts
    return {(a.rule, a.layer) for a in history.alerts}, history


def test_relu_with_large_negative_bias_is_dead_in_that_layer(digits):
    net = dp.mlp([784, 64, 64, 10], activation="relu", seed=0)
    net.layers[2].b.value[...] = -20.0  # the second hidden Dense layer: its ReLU (layer 3) never fires
    found, history = _train(net, digits, dp.CrossEntropy(), dp.SGD(lr=0.1))
    assert ("dead_relu", 3) in found
    assert ("dead_relu", 1) not in found
    alert = next(a for a in history.alerts if a.rule == "dead_relu")
    assert alert.epoch == 1 and "layer 3 (ReLU)" in alert.evidence and "100%" in alert.evidence
    assert "he_normal" in alert.evidence + alert.fix and "leaky_relu" in alert.fix and "learning rate" in alert.fix
    assert ("chance_accuracy", None) in found


def test_relu_with_a_huge_learning_rate_dies(digits):
    net = dp.mlp([784, 64, 10], activation="relu", seed=0)
    found, _ = _train(net, digits, dp.CrossEntropy(), dp.SGD(lr=3.0))
    assert ("dead_relu", 1) in found


def test_sigmoid_with_large_weights_and_squared_error_saturates(digits):
    net = dp.Network([dp.Dense(784, 50, init=dp.scaled_normal(3.0)), dp.Sigmoid(),
                      dp.Dense(50, 10, init=dp.scaled_normal(3.0)), dp.Sigmoid()], seed=0)
    found, history = _train(net, digits, dp.MeanSquaredError(), dp.SGD(lr=0.3), epochs=2)
    assert {("saturated", 1), ("saturated", 3)} <= found
    alert = next(a for a in history.alerts if a.rule == "saturated" and a.layer == 3)  # the output's fix
    assert "cross-entropy instead of squared error" in alert.fix and "smaller weights" in alert.fix


def test_a_confident_sigmoid_output_under_cross_entropy_is_not_an_alert():
    layers = [{"index": 0, "layer": "Dense"}, {"index": 1, "layer": "Sigmoid", "saturated": 0.9}]
    record = {"epoch": 1, "loss": 1.0, "diagnostics": {"layers": layers, "parameters": []}}
    assert check([record], Context(output_slope_cancelled=True)) == []
    assert [(a.rule, a.layer) for a in check([record], Context(output_slope_cancelled=False))] == [("saturated", 1)]


def test_ten_layer_sigmoid_stack_has_vanishing_gradients_in_its_first_layer(digits):
    net = dp.mlp([784] + [32] * 9 + [10], seed=0)
    found, history = _train(net, digits, dp.CrossEntropy(), dp.SGD(lr=0.1), epochs=1)
    assert ("vanishing_gradients", 0) in found
    alert = next(a for a in history.alerts if a.rule == "vanishing_gradients")
    assert "layer 18" in alert.evidence and "ReLU" in alert.fix


def test_zero_initialisation_is_symmetric(digits):
    with pytest.warns(UserWarning, match="symmetry"):
        net = dp.mlp([784, 32, 10], init="zeros", seed=0)
    found, history = _train(net, digits, dp.CrossEntropy(), dp.SGD(lr=0.1), epochs=1)
    assert ("zero_init_symmetry", 0) in found
    assert ("zero_init_symmetry", 2) not in found  # the output layer's units differ by their targets
    assert "never initialise weights to zero" in history.alerts[0].fix


def test_a_healthy_run_raises_no_alert(digits):
    found, _ = _train(dp.mlp([784, 50, 10], seed=0), digits, dp.CrossEntropy(), dp.SGD(lr=0.3), epochs=4, batch_size=20)
    assert found == set()


# -- rules over the curves --------------------------------------------------------------------
def _records(losses, accuracy=None, val_accuracy=None):
    n = len(losses)
    acc = accuracy if isinstance(accuracy, list) else [accuracy] * n
    val = val_accuracy if isinstance(val_accuracy, list) else [val_accuracy] * n
    return [{"epoch": i + 1, "loss": loss, "accuracy": a, "val_accuracy": v}
            for i, (loss, a, v) in enumerate(zip(losses, acc, val))]


def _rules(records, ctx=Context()):
    return [(a.rule, a.layer) for a in check(records, ctx)]


def test_exploding_loss():
    assert _rules(_records([1.0, 0.8, 1.3])) == [("exploding_loss", None)]
    assert _rules(_records([1.0, 0.8, 1.1])) == []
    assert "lower the learning rate" in check(_records([1.0, 0.8, 1.3]))[0].fix


def test_oscillating_loss():
    assert ("oscillating_loss", None) in _rules(_records([1.0, 1.1, 0.9, 1.0, 0.85, 0.95, 0.8]))


def test_a_loss_that_only_rises_is_diverging_not_oscillating():
    rules = _rules(_records([3.9, 4.6, 6.1, 8.7]))  # momentum 0.99, lr 1: 3 rises in 3 epochs
    assert ("exploding_loss", None) in rules and ("oscillating_loss", None) not in rules
    assert _rules(_records([1.0, 0.9, 0.85, 0.8, 0.78, 0.77, 0.76])) == []


def test_flat_loss_unless_the_data_is_fitted():
    assert _rules(_records([2.3026] * 4, accuracy=0.5)) == [("flat_loss", None)]
    assert _rules(_records([2.3026] * 3, accuracy=0.5)) == []  # not yet several epochs
    assert _rules(_records([0.01] * 4, accuracy=1.0)) == []
    assert _rules(_records([1e-5] * 4)) == []  # regression, fitted


def _with_steps(records, per_epoch):
    for r in records:
        r["steps"] = r["epoch"] * per_epoch
    return records


def test_flat_loss_counts_steps_so_slow_full_batch_descent_is_not_flat():
    # seed 000's full-batch run (one step an epoch): 0.03% lower every epoch, and still learning
    slow = [0.2928 * (1 - 3e-4) ** k for k in range(400)]
    assert _rules(_with_steps(_records(slow, accuracy=0.92), 1)) == []
    # truly flat for 1,000 full-batch steps: flat
    assert _rules(_with_steps(_records([0.5] * 1001, accuracy=0.8), 1)) == [("flat_loss", None)]
    assert _rules(_with_steps(_records([0.5] * 1000, accuracy=0.8), 1)) == []  # not yet 1,000 steps
    # mini-batches (469 steps an epoch): three epochs are enough steps
    found = check(_with_steps(_records([2.3026] * 4, accuracy=0.5), 469))
    assert [a.rule for a in found] == ["flat_loss"] and "1,407 steps" in found[0].evidence
    # a steady fall within each epoch's 0.1% but 0.12% over the window is not flat
    assert _rules(_with_steps(_records([1.0, 0.9996, 0.9992, 0.9988], accuracy=0.5), 469)) == []


def test_fit_records_carry_the_steps_the_flat_loss_rule_counts():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.mlp([4, 3, 2], activation="sigmoid", seed=0)
    # full batch with a tiny rate: the loss barely moves each step, yet it moves steadily
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=1e-3), epochs=6,
                     batch_size=None, seed=0, callbacks=[DiagnosticsRecorder(X, y)])
    assert [r["steps"] for r in history.records] == [1, 2, 3, 4, 5, 6]
    assert "flat_loss" not in [a.rule for a in history.alerts]


def test_chance_accuracy_after_the_first_epochs():
    ctx = Context(chance=0.1)
    assert _rules(_records([2.0, 1.9], accuracy=0.11), ctx) == []  # too early to say
    assert _rules(_records([2.0, 1.9, 1.8], accuracy=0.11), ctx) == [("chance_accuracy", None)]
    assert _rules(_records([2.0, 1.9, 1.8], accuracy=0.5), ctx) == []
    assert _rules(_records([2.0, 1.9, 1.8], accuracy=0.11)) == []  # regression: no chance level


def test_overfitting():
    assert _rules(_records([1.0, 0.5], accuracy=0.99, val_accuracy=0.8)) == [("overfitting", None)]
    assert _rules(_records([1.0, 0.5], accuracy=0.95, val_accuracy=0.92)) == []
    assert "dropout" in check(_records([1.0, 0.5], accuracy=0.99, val_accuracy=0.8))[0].fix


def test_vanishing_uses_the_relative_gradient_without_an_update():
    params = [{"name": "layers.0.W", "layer": 0, "grad_norm": 1e-9, "norm": 1.0, "update_ratio": None},
              {"name": "layers.2.W", "layer": 2, "grad_norm": 1e-2, "norm": 1.0, "update_ratio": None}]
    record = {"epoch": 1, "loss": 1.0, "diagnostics": {"layers": [], "parameters": params}}
    found = check([record])
    assert [(a.rule, a.layer) for a in found] == [("vanishing_gradients", 0)]
    assert "relative gradient" in found[0].evidence
    params[0]["grad_norm"] = 1e-4
    assert check([record]) == []


def test_each_alert_fires_once_and_survives_a_round_trip():
    monitor = AlertMonitor(Context(chance=0.1))
    records = _records([2.3] * 3, accuracy=0.1)
    first = monitor.update(records)
    assert [a.rule for a in first] == ["chance_accuracy"]
    records += _records([2.3] * 2, accuracy=0.1)[:1]
    records[-1]["epoch"] = 4
    assert [a.rule for a in monitor.update(records)] == ["flat_loss"]
    assert monitor.update(records) == []
    assert Alert.from_dict(first[0].as_dict()) == first[0]
    assert AlertMonitor(Context(chance=0.1), first).update(records[:3]) == []


def test_summary_lists_every_alert():
    a = Alert("dead_relu", 2, 1, "layer 1 (ReLU): 90% of its units ...", "lower the learning rate")
    text = summary([a])
    assert text.startswith("1 alert during training") and "[dead_relu] epoch 2: layer 1 (ReLU)" in text
    assert summary([]).startswith("no alerts")


def test_chance_level_and_at_chance():
    assert alerts.chance_level([0, 1, 1, 1], 2) == 0.75
    assert alerts.chance_level(np.arange(100) % 10, 10) == pytest.approx(0.1)
    assert alerts.at_chance(0.12, 0.1) and not alerts.at_chance(0.5, 0.1) and not alerts.at_chance(0.1, None)


def test_the_chance_level_is_the_whole_training_sets_not_the_probes():
    # 10 balanced classes: chance is 0.1 however the 512-row probe happens to fall
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 5)).astype(np.float32)
    y = np.repeat(np.arange(10), 300)
    recorder = DiagnosticsRecorder(X, y)
    net = dp.mlp([5, 4, 10], seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=1e-9), epochs=3, batch_size=100, seed=0,
           callbacks=[recorder])
    assert np.bincount(recorder.Y.argmax(axis=1)).max() / len(recorder.Y) > 0.1  # the probe is not balanced
    assert recorder._monitor.ctx.chance == pytest.approx(0.1)


def test_a_leaky_relu_in_its_negative_part_is_not_called_dead():
    # z < 0 on every row: a leaky ReLU still passes α times the gradient, so no dead-unit alert
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    net = dp.mlp([4, 8, 2], activation="leaky_relu", seed=0)
    net.layers[0].b.value[:] = -50.0
    assert dp.diagnose(net, X, y, dp.CrossEntropy()).layers[1].dead == 1.0  # the share is still measured
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.01), epochs=1, batch_size=32, seed=0)
    assert "dead_relu" not in {a.rule for a in history.alerts}


def test_zero_initialised_units_in_float32_are_identical_despite_rounding(digits):
    # seed 002's symmetry: float32 rounding spreads the copies by about 1e-6 of the largest weight
    with pytest.warns(UserWarning, match="symmetry"):
        net = dp.mlp([784, 50, 10], init="zeros", seed=0)
    found, history = _train(net, digits, dp.CrossEntropy(), dp.SGD(lr=0.3), epochs=4, batch_size=20)
    W = net.layers[0].W.value
    assert np.abs(W - W[:, :1]).max() / np.abs(W).max() > 1e-6  # past the float64 tolerance by epoch 4
    assert all(d.layers[0].identical_units for d in history.diagnostics)
    assert ("zero_init_symmetry", 0) in found


def _with(records, *, layers=None, params=None):
    for r in records:
        r["diagnostics"] = {"layers": layers or [], "parameters": params or []}
    return records


def _params(relative_gradients, update_ratios):
    return [{"name": f"layers.{2 * i}.W", "layer": 2 * i, "grad_norm": g, "norm": 1.0, "update_ratio": u}
            for i, (g, u) in enumerate(zip(relative_gradients, update_ratios))]


def test_chance_is_judged_by_the_share_of_the_error_it_leaves():
    # 96% of the rows are one class: 0.966 is not chance, 0.961 is; an absolute margin of
    # 0.05 could not be passed at all (0.9925 was called chance)
    ctx = Context(chance=0.96)
    assert not alerts.at_chance(0.9925, 0.96) and not alerts.at_chance(0.966, 0.96)
    assert alerts.at_chance(0.961, 0.96)
    assert _rules(_records([0.2, 0.15, 0.1], accuracy=0.966), ctx) == []
    assert _rules(_records([0.2, 0.15, 0.1], accuracy=0.961), ctx) == [("chance_accuracy", None)]
    assert alerts.at_chance(0.17, 0.1) and not alerts.at_chance(0.2, 0.1)  # ten balanced classes


def test_chance_waits_for_enough_steps():
    ctx = Context(chance=0.1)
    full_batch = _with_steps(_records([2.3, 2.29, 2.28], accuracy=0.11), 1)  # three steps in all
    assert _rules(full_batch, ctx) == []
    assert _rules(_with_steps(_records([2.3, 2.29, 2.28], accuracy=0.11), 469), ctx) == [("chance_accuracy", None)]


def test_a_saturated_output_under_squared_error_is_no_alert_once_the_data_is_fitted():
    layers = [{"index": 0, "layer": "Dense"}, {"index": 1, "layer": "Sigmoid", "saturated": 0.6}]
    ctx = Context(output_slope_cancelled=False)
    assert _rules(_with(_records([0.01], accuracy=1.0), layers=layers), ctx) == []
    assert _rules(_with(_records([0.4], accuracy=0.6), layers=layers), ctx) == [("saturated", 1)]


def test_vanishing_gradients_are_seen_under_an_adaptive_optimizer():
    # Adam's update ratios stay within 1.4x of each other while the gradient has vanished
    records = _with(_records([2.3]), params=_params([1e-9, 1e-2], [1e-3, 1.4e-3]))
    assert _rules(records) == [("vanishing_gradients", 0)]
    assert "relative gradient" in check(records)[0].evidence


def test_a_small_rise_of_a_loss_near_its_minimum_neither_explodes_nor_oscillates():
    assert _rules(_records([0.3, 0.1, 0.0105, 0.0163])) == []  # 1.6x its best, 2% of where it started
    assert _rules(_records([0.3, 0.1, 0.5])) == [("exploding_loss", None)]
    # iris with RMSprop at its default rate, epochs 1 and 53-60: healthy near its minimum (test accuracy 1.0)
    iris = [0.9089, 0.06387, 0.05865, 0.06276, 0.06843, 0.06608, 0.06079, 0.06817, 0.05582]
    assert _rules(_records(iris, accuracy=0.97)) == []
    assert ("oscillating_loss", None) in _rules(_records([1.0, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6], accuracy=0.7))


def test_a_flat_loss_at_a_minimum_is_no_alert_and_steps_that_move_nothing_are_seen_early():
    at_minimum = _with(_with_steps(_records([0.2364] * 1200, accuracy=0.75), 1), params=_params([1e-7], [1e-8]))
    assert _rules(at_minimum) == []  # least squares at its optimum: the loss cannot fall further
    frozen = _with(_with_steps(_records([6.9245] * 5), 1), params=_params([0.3], [1e-9]))  # lr 1e-9, full batch
    assert _rules(frozen) == [("flat_loss", None)]


def test_overfitting_needs_the_gap_two_epochs_in_a_row():
    assert _rules(_records([1.0, 0.5], accuracy=[0.7, 0.78], val_accuracy=[0.7, 0.53])) == []  # one noisy epoch
    assert _rules(_records([1.0, 0.5, 0.4], accuracy=[0.7, 0.9, 0.95], val_accuracy=[0.7, 0.75, 0.8])) == [
        ("overfitting", None)]
