"""Alerts that name what is wrong with runs that cannot be right and stay quiet on healthy
ones: squared error on a softmax output at chance names the loss, not a lower learning rate;
a run that ends at chance after too few updates says how many it took; a saturated hidden
layer whose weights move faster than the layers after it is no alert."""

from __future__ import annotations

import numpy as np

import deltaprop as dp
from deltaprop.alerts import Context, check, standing


def _rule(rule, records, ctx):
    return [a for a in check(records, ctx) if a.rule == rule]


def _blobs(k=6, n=600, d=8, seed=1):
    """``k`` separable classes of ``n`` standardised rows (cross-entropy at lr 0.01 learns them)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(0, 1.5, (k, d))[y] + rng.normal(0, 1, (n, d))
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32), y


# -- squared error on a softmax output ---------------------------------------------------------
#: a 6-class sigmoid network under squared error on a softmax (as context_of knows it)
_MSE_SOFTMAX = Context(chance=1 / 6, output_slope_cancelled=False, optimizer="SGD", lr=0.01, momentum=0.0,
                       weight_decay=0.0, layers=("Dense(glorot_uniform)", "Sigmoid", "Dense(glorot_uniform)", "Softmax"))


def _at_chance(losses, steps=75):
    return [{"epoch": k + 1, "loss": v, "accuracy": 0.17, "steps": steps * (k + 1)} for k, v in enumerate(losses)]


def test_squared_error_on_a_softmax_at_chance_names_the_loss_not_a_lower_rate():
    (alert,) = _rule("chance_accuracy", _at_chance([0.88, 0.87, 0.86, 0.85]), _MSE_SOFTMAX)
    assert "cross-entropy instead of squared error" in alert.fix and "--loss cross_entropy" in alert.fix
    assert "lower" not in alert.fix and "2/k" in alert.fix


def test_a_six_class_squared_error_run_that_stalls_at_chance_is_told_to_use_cross_entropy():
    X, y = _blobs()
    net = dp.mlp([8, 30, 30, 6], activation="sigmoid", seed=0)
    history = dp.fit(net, X, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.01), epochs=4, batch_size=20, seed=0)
    (alert,) = [a for a in history.alerts if a.rule == "chance_accuracy"]
    assert "cross-entropy instead of squared error" in alert.fix and "lower" not in alert.fix


def test_a_loss_still_falling_at_chance_is_told_to_train_longer_not_to_lower_the_rate():
    ctx = Context(chance=0.25, optimizer="SGD", lr=0.1, momentum=0.0, weight_decay=0.0)
    (alert,) = _rule("chance_accuracy", _at_chance([1.40, 1.36, 1.32, 1.28]), ctx)
    assert "still falls (1.36 to 1.28" in alert.fix and "train longer" in alert.fix and "not lower it" in alert.fix
    (flat,) = _rule("chance_accuracy", _at_chance([1.386, 1.386, 1.386, 1.386]), ctx)
    assert "try a lower learning rate" in flat.fix  # not falling: the rule's own advice stands


# -- a run that ends after too few updates ------------------------------------------------------
def test_a_full_batch_run_that_ends_at_chance_after_two_updates_says_so():
    X, y = _blobs(k=4)
    net = dp.mlp([8, 30, 4], activation="sigmoid", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.01), epochs=2, batch_size=len(X), seed=0)
    assert history.records[-1]["steps"] == 2
    (alert,) = history.alerts
    assert (alert.rule, alert.epoch) == ("chance_accuracy", 2)
    assert "only 2 updates (one an epoch: a full batch)" in alert.evidence
    assert "(fit's epochs)" in alert.fix and "(fit's batch_size:" in alert.fix


def test_a_short_run_that_learns_raises_nothing():
    X, y = _blobs(k=4)
    net = dp.mlp([8, 30, 4], activation="tanh", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=2, batch_size=len(X), seed=0)
    assert history.records[-1]["accuracy"] > 0.5
    assert history.alerts == []


def test_few_updates_are_judged_at_the_run_s_last_epoch_only():
    records = _at_chance([1.39, 1.38], steps=1)
    assert _rule("chance_accuracy", records, Context(chance=0.25, run_epochs=10)) == []  # the run goes on
    assert len(_rule("chance_accuracy", records, Context(chance=0.25, run_epochs=2))) == 1
    assert len(_rule("chance_accuracy", records, Context(chance=0.25, run_steps=2))) == 1
    assert _rule("chance_accuracy", records, Context(chance=0.25)) == []  # its limits not known


def test_the_end_of_run_standing_keeps_a_short_run_s_chance_alert():
    # the command line's standing knows no limits: the records' last epoch is the run's end
    records = _at_chance([1.39, 1.38], steps=1)
    (alert,) = _rule("chance_accuracy", records, Context(chance=0.25, run_epochs=2))
    assert standing([alert], records, Context(chance=0.25))["alerts"][0]["cleared_by"] is None
    # resumed to epoch 5 and learned: cleared after the epoch it was raised at, not "by" it
    longer = records + [{"epoch": k, "loss": 0.5, "accuracy": 0.9, "steps": k} for k in (3, 4, 5)]
    assert standing([alert], longer, Context(chance=0.25))["alerts"][0]["cleared_by"] == 3


def test_a_short_run_whose_units_are_copies_names_those_not_the_count():
    layers = [{"index": 0, "layer": "Dense", "identical_units": True}, {"index": 1, "layer": "Sigmoid"},
              {"index": 2, "layer": "Dense", "identical_units": False}, {"index": 3, "layer": "Softmax"}]
    records = [dict(r, diagnostics={"layers": layers, "parameters": []}) for r in _at_chance([1.39, 1.38], steps=1)]
    assert [a.rule for a in check(records, Context(chance=0.25, run_epochs=2))] == ["zero_init_symmetry"]


# -- saturated hidden layers -------------------------------------------------------------------
def _nolinear_record(feeding, after):
    """seed000_nolinear_sgd.toml at epoch 5: the hidden sigmoid (layer 2) 60% saturated, none
    stuck, fed by layer 1 moving ``feeding`` a step; the sigmoid before the softmax (layer 4)
    85% saturated, fed by layer 3 moving ``after``."""
    layers = [{"index": 0, "layer": "Standardization"}, {"index": 1, "layer": "Dense"},
              {"index": 2, "layer": "Sigmoid", "saturated": 0.5976, "stuck": 0.0}, {"index": 3, "layer": "Dense"},
              {"index": 4, "layer": "Sigmoid", "saturated": 0.8507, "stuck": 0.0}, {"index": 5, "layer": "Softmax"}]
    params = [{"name": "layers.1.W", "layer": 1, "grad_norm": 0.03, "norm": 19.8, "update_ratio": feeding},
              {"name": "layers.3.W", "layer": 3, "grad_norm": 0.001, "norm": 2.3, "update_ratio": after}]
    return {"epoch": 5, "loss": 1.52, "accuracy": 0.9446, "steps": 15000,
            "diagnostics": {"probe_size": 512, "layers": layers, "parameters": params}}


_NOLINEAR = Context(chance=0.1124, scaled_inputs=True, loss_floor=1.4612, optimizer="SGD", lr=0.3, momentum=0.0,
                    weight_decay=0.0, layers=("Standardization", "Dense(scaled_normal)", "Sigmoid",
                                              "Dense(scaled_normal)", "Sigmoid", "Softmax"))


def test_a_saturated_layer_whose_weights_move_faster_than_the_layers_after_it_is_no_alert():
    found = _rule("saturated", [_nolinear_record(9.84e-4, 1.95e-4)], _NOLINEAR)
    assert [a.layer for a in found] == [4]  # the sigmoid before the softmax alone: the architecture's floor
    assert "not sigmoid+softmax" in found[0].fix


def test_a_saturated_layer_slower_than_the_layers_after_it_is_still_an_alert():
    found = _rule("saturated", [_nolinear_record(1.9e-5, 2.6e-2)], _NOLINEAR)  # scaled_normal(3)'s first layer
    assert [a.layer for a in found] == [2] and "1.9e-05" in found[0].evidence
    stuck = _nolinear_record(9.84e-4, 1.95e-4)
    stuck["diagnostics"]["layers"][2]["stuck"] = 0.6  # units on one flat end for every example: no exemption
    assert [a.layer for a in _rule("saturated", [stuck], _NOLINEAR)] == [2, 4]



# -- dead ReLU output units --------------------------------------------------------------------
def test_a_relu_output_with_a_dead_unit_is_named_though_under_the_hidden_layers_share():
    layers = [{"index": 0, "layer": "Dense"}, {"index": 1, "layer": "ReLU", "dead": 0.1},
              {"index": 2, "layer": "Dense"}, {"index": 3, "layer": "ReLU", "dead": 0.1}]
    record = {"epoch": 1, "loss": 0.6, "accuracy": 0.56, "diagnostics": {"layers": layers, "parameters": []}}
    ctx = Context(chance=0.1, layers=("Dense(he_normal)", "ReLU", "Dense(he_normal)", "ReLU"))
    (alert,) = _rule("dead_relu", [record], ctx)
    assert alert.layer == 3 and "the output: 10% of its units" in alert.evidence and "never picked" in alert.evidence
    assert "softmax with cross_entropy" in alert.fix and "he_normal" not in alert.fix


def test_a_relu_output_with_one_class_s_unit_dead_under_squared_error_raises_dead_relu():
    X, y = _blobs(k=6)
    net = dp.mlp([8, 30, 6], activation="sigmoid", output="relu", seed=0)
    history = dp.fit(net, X, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=20, seed=0)
    dead = [a for a in history.alerts if a.rule == "dead_relu"]
    assert [a.layer for a in dead] == [3]
    assert history.diagnostics[dead[0].epoch - 1].layers[3].dead < 0.4  # under the hidden layers' share
