"""Exploding gradients name the layer that blew up first; a network leaving a plateau is no
explosion; sigmoid units that large steps drove onto a flat end are an alert from the first
epoch (Adam at lr 0.5), not only once the gradients vanish."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.alerts import EXPLODING_GRADIENT, STUCK_SHARE, Context, check
from deltaprop.callbacks import DiagnosticsRecorder


def _rules(records, ctx=Context()):
    return [(a.rule, a.layer) for a in check(records, ctx)]


def _record(epoch, loss, grads, norm=10.0):
    params = [{"name": f"layers.{i}.W", "layer": i, "grad_norm": g, "norm": norm, "update_ratio": 1e-2}
              for i, g in grads.items()]
    return {"epoch": epoch, "loss": loss, "diagnostics": {"layers": [], "parameters": params}}


# -- exploding_gradients on hand-made records ----------------------------------------------------
def test_the_layer_whose_gradient_passes_the_bound_first_is_named():
    records = [_record(1, 1.0, {0: 0.5, 2: 1.0, 4: 0.8}),
               _record(2, 0.9, {0: 2.0, 2: 5.0, 4: 1.0}),
               _record(3, 1.2, {0: 30.0, 2: 150.0, 4: 1.0}),  # layer 2 passes 100 × 1.0 first, the loss up
               _record(4, 1.5, {0: 400.0, 2: 900.0, 4: 1.0})]
    assert [a for a in _rules(records[:2]) if a[0] == "exploding_gradients"] == []
    assert ("exploding_gradients", 2) in _rules(records[:3])
    found = [a for a in check(records) if a.rule == "exploding_gradients"]
    assert [(a.layer, a.epoch) for a in found] == [(2, 4)]  # still layer 2, though layer 0's grew more since
    assert "layer 2 (Dense)" in found[0].evidence and "900" in found[0].evidence and "epoch 3" in found[0].evidence
    assert "lower the learning rate" in found[0].fix and "he_normal" in found[0].fix
    assert "clip" not in found[0].fix  # the command line (Context()'s interface) cannot clip; fit's callers can
    (api,) = [a for a in check(records, Context(interface="api")) if a.rule == "exploding_gradients"]
    assert "clip" in api.fix and "he_normal" in api.fix


def test_a_gradient_that_grows_while_the_loss_falls_is_a_plateau_left_behind():
    # small initial weights: every gradient starts tiny and grows by orders of magnitude
    # as the network starts to learn (ReLU, scaled_normal(0.01), the MNIST sample)
    records = [_record(1, 2.304, {0: 0.0045, 2: 0.0038, 4: 0.0042}),
               _record(2, 2.303, {0: 0.012, 2: 0.0099, 4: 0.011}),
               _record(3, 2.281, {0: 0.12, 2: 0.092, 4: 0.10}),
               _record(4, 1.83, {0: 0.35, 2: 0.26, 4: 0.35}),
               _record(5, 1.02, {0: 0.42, 2: 0.29, 4: 0.46}),
               _record(6, 1.05, {0: 0.47, 2: 0.32, 4: 0.39})]  # a rise of the loss later changes nothing
    for end in range(1, len(records) + 1):
        assert "exploding_gradients" not in {rule for rule, _ in _rules(records[:end])}


def test_a_gradient_that_is_no_longer_finite_has_exploded_and_is_not_called_vanishing():
    records = [_record(1, 1.0, {0: 0.5, 2: 1.0}), _record(2, 3.0, {0: math.nan, 2: math.inf})]
    rules = _rules(records)
    assert ("exploding_gradients", 0) in rules or ("exploding_gradients", 2) in rules
    assert "vanishing_gradients" not in {rule for rule, _ in rules}
    huge = [_record(1, 1.0, {0: 0.5, 2: 1.0}), _record(2, 3.0, {0: 1e6, 2: 1e10})]  # 1e-4 of the last: not vanishing
    assert [r for r in _rules(huge) if r[0] in ("vanishing_gradients", "exploding_gradients")] == \
        [("exploding_gradients", 2)]


# -- exploding_gradients in training -------------------------------------------------------------
def _regression(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 10)).astype(np.float32)
    y = (X @ rng.standard_normal((10, 1)) + 0.1 * rng.standard_normal((n, 1))).astype(np.float32)
    return X, y


def test_full_batch_descent_at_too_large_a_rate_names_the_exploding_layer_before_it_diverges():
    X, y = _regression()
    net = dp.mlp([10, 32, 32, 1], activation="relu", output="identity", seed=0)
    history = dp.fit(net, X, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.4), epochs=3, batch_size=len(X),
                     seed=0, callbacks=[DiagnosticsRecorder(X, y)])
    alert = next(a for a in history.alerts if a.rule == "exploding_gradients")
    grads = [{p.layer: p.grad_norm for p in d.parameters if p.name.endswith(".W")} for d in history.diagnostics]
    scale = max(grads[0].values())
    at = grads[alert.epoch - 1]
    assert at[alert.layer] >= EXPLODING_GRADIENT * scale
    assert at[alert.layer] == max(at.values())  # all passed the bound that epoch: the one that grew most
    assert history.records[alert.epoch - 1]["loss"] > history.records[0]["loss"]  # the loss rose with it


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_healthy_runs_and_a_plateau_left_behind_raise_no_exploding_gradients(digits):
    X, y = digits
    for net, opt in ((dp.mlp([784, 50, 10], seed=0), dp.SGD(lr=0.3)),
                     (dp.mlp([784, 64, 64, 10], activation="relu", seed=0), dp.SGD(lr=0.1)),
                     (dp.mlp([784, 64, 64, 10], activation="relu", init="scaled_normal(0.01)", seed=0), dp.SGD(lr=0.3))):
        history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=6, batch_size=20, seed=0)
        assert "exploding_gradients" not in {a.rule for a in history.alerts}


# -- saturated: stuck units under large steps -----------------------------------------------------
def test_stuck_share_counts_units_on_one_flat_end_for_every_row():
    net = dp.Network([dp.Dense(4, 4), dp.Sigmoid()], seed=0)
    net.layers[0].W.value[...] = 0.0
    net.layers[0].b.value[...] = [30.0, -30.0, 0.0, 0.1]  # on, off, and two live units
    X = np.random.default_rng(0).random((50, 4)).astype(np.float32)
    d = dp.diagnose(net, X, np.zeros((50, 4), dtype=np.float32), dp.MeanSquaredError())
    assert d.layers[1].stuck == pytest.approx(0.5) and d.layers[0].stuck is None
    assert dp.diagnostics.Diagnostics.from_dict(d.as_dict()).layers[1].stuck == pytest.approx(0.5)


def test_adam_at_a_rate_far_too_large_is_saturated_from_the_first_epoch(digits):
    X, y = digits
    history = dp.fit(dp.mlp([784, 50, 10], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.5),
                     epochs=1, batch_size=20, seed=0)
    alert = next(a for a in history.alerts if a.rule == "saturated")
    assert alert.epoch == 1 and alert.layer == 1
    assert history.diagnostics[0].layers[1].stuck > STUCK_SHARE
    assert "stuck" in alert.evidence and "lower the learning rate" in alert.evidence and "(dp.Adam(lr=" in alert.fix


def test_rmsprop_at_its_default_rate_has_no_stuck_units_so_no_alert(digits):
    X, y = digits
    history = dp.fit(dp.mlp([784, 50, 10], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.RMSprop(),
                     epochs=2, batch_size=20, seed=0)
    assert max(d.layers[1].stuck for d in history.diagnostics) <= STUCK_SHARE
    assert history.alerts == []


# -- statistics that overflowed -------------------------------------------------------------------
def test_statistics_that_overflow_are_recorded_as_gaps_a_file_can_hold():
    from deltaprop.diagnostics import checked_diagnostics

    net = dp.Network([dp.Dense(2, 2), dp.ReLU(), dp.Dense(2, 1)], seed=0)
    net.layers[0].W.value[...] = 3e38  # finite weights whose outputs overflow float32
    X = np.ones((4, 2), dtype=np.float32)
    with np.errstate(all="ignore"):
        d = dp.diagnose(net, X, np.zeros((4, 1), dtype=np.float32), dp.MeanSquaredError(classification=False))
    assert d.layers[0].mean is None and d.parameter("layers.0.W").grad_norm is None
    assert d.parameter("layers.0.W").norm is not None  # the weights themselves are finite
    assert checked_diagnostics(d.as_dict()) == d.as_dict()


def test_the_last_good_checkpoint_of_a_run_whose_gradients_overflowed_loads(tmp_path):
    from deltaprop.callbacks import CheckpointWriter
    from deltaprop.errors import TrainingDivergedError
    from deltaprop.serialization import load_checkpoint

    X, y = _regression()
    net = dp.mlp([10, 32, 32, 1], activation="relu", output="identity", seed=0)
    fired = []
    with pytest.raises(TrainingDivergedError), np.errstate(all="ignore"):
        dp.fit(net, X, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.2), epochs=10, batch_size=len(X),
               seed=0, callbacks=[DiagnosticsRecorder(X, y, on_alert=fired.append), CheckpointWriter(tmp_path)])
    records = load_checkpoint(tmp_path / "checkpoint.safetensors").training["history"]
    grads = [p["grad_norm"] for p in records[-1]["diagnostics"]["parameters"]]
    assert None in grads  # the gradient overflowed in the last finished epoch: a gap, not NaN
    assert "exploding_gradients" in {a.rule for a in fired}


# -- vanishing gradients behind stuck units ----------------------------------------------------------
def test_gradients_lost_in_stuck_units_are_not_called_vanishing_by_depth():
    def records(stuck):
        layers = [{"index": 0, "layer": "Dense"}, {"index": 1, "layer": "Sigmoid", "saturated": 0.99, "stuck": stuck},
                  {"index": 2, "layer": "Dense"}, {"index": 3, "layer": "Softmax"}]
        params = [{"name": "layers.0.W", "layer": 0, "grad_norm": 1e-2, "norm": 1000.0, "update_ratio": 1e-2},
                  {"name": "layers.2.W", "layer": 2, "grad_norm": 1.0, "norm": 50.0, "update_ratio": 2e-2}]
        return [{"epoch": 1, "loss": 2.0, "accuracy": 0.4, "diagnostics": {"layers": layers, "parameters": params}}]

    assert ("vanishing_gradients", 0) in _rules(records(stuck=0.0))
    rules = _rules(records(stuck=0.8))
    assert ("vanishing_gradients", 0) not in rules and ("saturated", 1) in rules


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_adam_at_lr_half_on_one_hidden_layer_is_never_told_to_use_fewer_layers():
    from deltaprop.data import load

    ds = load("mnist-sample", flatten=True)
    X, y = (ds.x_train / 255.0).astype(np.float32), ds.y_train
    history = dp.fit(dp.mlp([784, 50, 10], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.5),
                     epochs=8, batch_size=20, seed=0)
    rules = [(a.rule, a.epoch) for a in history.alerts]
    assert rules[0] == ("saturated", 1)
    assert "vanishing_gradients" not in {rule for rule, _ in rules}
