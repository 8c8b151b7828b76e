"""Diagnostics: values checked against a direct NumPy computation of the forward and backward
pass on the probe batch; the pass leaves the network untouched; the recorder keeps them per
epoch, with the last step's update ratio, through checkpoints and resumes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.callbacks import DiagnosticsRecorder, LambdaCallback
from deltaprop.diagnostics import SATURATED_SLOPE, Diagnostics, diagnose, probe_rows


def _norm(v):
    return float(np.sqrt(np.sum(np.asarray(v, dtype=np.float64) ** 2)))


@pytest.fixture
def probe():
    """A 6-5-4-3 network (sigmoid, ReLU, softmax) with saturated and dead units, and a batch."""
    net = dp.Network([dp.Dense(6, 5), dp.Sigmoid(), dp.Dense(5, 4), dp.ReLU(), dp.Dense(4, 3), dp.Softmax()],
                     seed=1, dtype="float64")
    net.layers[0].W.value *= 6.0  # some sigmoid outputs on the flat ends
    for i in (0, 2, 4):
        net.layers[i].b.value[...] = np.linspace(-0.3, 0.3, net.layers[i].n_out)
    net.layers[2].b.value[0] = -50.0  # ReLU unit 0: z < 0 for every input (dead)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 6))
    y = rng.integers(0, 3, size=40)
    return net, X, y


def _direct(net, X, y):
    """Forward and backward by hand (seed 003's equations, rows as examples)."""
    W0, b0, W2, b2, W4, b4 = (p.value for p in net.parameters())
    n = X.shape[0]
    z0 = X @ W0 + b0
    a1 = 1.0 / (1.0 + np.exp(-z0))
    z2 = a1 @ W2 + b2
    a3 = np.maximum(z2, 0.0)
    z4 = a3 @ W4 + b4
    e = np.exp(z4 - z4.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    Y = np.eye(3)[y]
    d4 = (p - Y) / n  # δ at the last Dense layer (softmax + cross-entropy)
    g3 = d4 @ W4.T  # ∂L/∂a reaching the ReLU
    d2 = g3 * (z2 > 0)
    g1 = d2 @ W2.T  # ∂L/∂a reaching the sigmoid
    d0 = g1 * a1 * (1 - a1)
    outputs = [z0, a1, z2, a3, z4, p]
    deltas = [d0, g1, d2, g3, d4, None]
    grads = [X.T @ d0, d0.sum(0), a1.T @ d2, d2.sum(0), a3.T @ d4, d4.sum(0)]
    return outputs, deltas, grads


def test_layer_statistics_match_a_direct_computation(probe):
    net, X, y = probe
    diag = diagnose(net, X, y, dp.CrossEntropy())
    outputs, deltas, _ = _direct(net, X, y)
    assert diag.probe_size == 40
    assert [s.layer for s in diag.layers] == ["Dense", "Sigmoid", "Dense", "ReLU", "Dense", "Softmax"]
    for s, a, d in zip(diag.layers, outputs, deltas):
        assert s.mean == pytest.approx(a.mean(), rel=1e-10, abs=1e-12)
        assert s.std == pytest.approx(a.std(), rel=1e-10)
        if d is None:
            assert s.delta_norm is None
        else:
            assert s.delta_norm == pytest.approx(_norm(d), rel=1e-9)
    a1, a3 = outputs[1], outputs[3]
    expected_saturated = np.mean(4 * a1 * (1 - a1) < SATURATED_SLOPE)
    assert 0 < expected_saturated < 1  # the fixture has both kinds: the check can fail
    assert diag.layers[1].saturated == pytest.approx(expected_saturated)
    assert diag.layers[3].dead == pytest.approx(np.mean(np.all(a3 <= 0, axis=0)))
    assert diag.layers[3].dead >= 0.25  # unit 0 at least
    assert [s.saturated for i, s in enumerate(diag.layers) if i != 1] == [None] * 5
    assert [s.dead for i, s in enumerate(diag.layers) if i != 3] == [None] * 5
    assert [s.identical_units for s in diag.layers] == [False, None, False, None, False, None]


def test_parameter_statistics_match_a_direct_computation(probe):
    net, X, y = probe
    rng = np.random.default_rng(3)
    previous = [p.value + 0.01 * rng.standard_normal(p.value.shape) for p in net.parameters()]
    diag = diagnose(net, X, y, dp.CrossEntropy(), previous=previous)
    _, _, grads = _direct(net, X, y)
    names = ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b", "layers.4.W", "layers.4.b"]
    assert [p.name for p in diag.parameters] == names
    for s, p, g, prev in zip(diag.parameters, net.parameters(), grads, previous):
        assert s.grad_norm == pytest.approx(_norm(g), rel=1e-9)
        assert s.norm == pytest.approx(_norm(p.value), rel=1e-12)
        assert s.update_ratio == pytest.approx(_norm(p.value - prev) / _norm(p.value), rel=1e-9)
    assert diag.parameter("layers.2.W").layer == 2
    without = diagnose(net, X, y, dp.CrossEntropy())
    assert all(p.update_ratio is None for p in without.parameters)


def test_tanh_saturation_and_leaky_relu_dead_units():
    net = dp.Network([dp.Dense(3, 4), dp.Tanh(), dp.Dense(4, 3), dp.LeakyReLU(0.1), dp.Dense(3, 2), dp.Softmax()],
                     seed=0, dtype="float64")
    net.layers[0].W.value *= 20.0
    net.layers[2].b.value[:2] = -100.0
    X = np.random.default_rng(0).standard_normal((30, 3))
    y = np.arange(30) % 2
    diag = diagnose(net, X, y, dp.CrossEntropy())
    a = np.tanh(X @ net.layers[0].W.value + net.layers[0].b.value)
    assert diag.layers[1].saturated == pytest.approx(np.mean(1 - a * a < SATURATED_SLOPE))
    assert diag.layers[1].saturated > 0.5
    assert diag.layers[3].dead == pytest.approx(2 / 3)


def test_zero_initialised_layer_has_identical_units():
    with pytest.warns(UserWarning, match="symmetry"):
        net = dp.mlp([4, 3, 2], init="zeros", seed=0)
    diag = diagnose(net, np.ones((5, 4)), np.zeros(5, dtype=int), dp.CrossEntropy())
    assert diag.layers[0].identical_units is True
    assert all(p.update_ratio is None for p in diag.parameters)  # ‖θ‖ = 0: no ratio


def test_diagnose_leaves_the_network_untouched(probe):
    net, X, y = probe
    net.loss_and_gradients(dp.CrossEntropy(), X[:7], y[:7])
    before = [(p.value.copy(), p.grad.copy()) for p in net.parameters()]
    trace = net.trace()
    diagnose(net, X, y, dp.CrossEntropy())
    for (value, grad), p in zip(before, net.parameters()):
        np.testing.assert_array_equal(p.value, value)
        np.testing.assert_array_equal(p.grad, grad)
    for old, new in zip(trace, net.trace()):
        if old.output is not None:
            np.testing.assert_array_equal(old.output, new.output)
            assert new.output.shape[0] == 7


def test_diagnose_uses_the_inference_function_with_dropout():
    net = dp.mlp([5, 8, 2], dropout=0.5, seed=0, dtype="float64")
    X = np.random.default_rng(1).standard_normal((20, 5))
    y = np.arange(20) % 2
    state = net.rng.bit_generator.state
    a = diagnose(net, X, y, dp.CrossEntropy())
    b = diagnose(net, X, y, dp.CrossEntropy())
    assert a == b  # no dropout mask drawn
    assert net.rng.bit_generator.state == state


def test_diagnostics_round_trip_through_a_dict(probe):
    net, X, y = probe
    diag = diagnose(net, X, y, dp.CrossEntropy(), previous=[p.value * 0.9 for p in net.parameters()])
    import json

    assert Diagnostics.from_dict(json.loads(json.dumps(diag.as_dict()))) == diag
    with pytest.raises(KeyError, match="layers.0.W"):
        diag.parameter("layers.9.W")


def test_probe_rows_are_fixed_and_spread():
    rows = probe_rows(60000)
    assert len(rows) == 512 and rows[0] == 0 and rows[-1] == 59999
    assert np.all(np.diff(rows) > 100)
    np.testing.assert_array_equal(probe_rows(60000), rows)
    np.testing.assert_array_equal(probe_rows(7), np.arange(7))
    with pytest.raises(dp.ConfigError):
        probe_rows(0)


def test_bad_arguments_are_named(probe):
    net, X, y = probe
    with pytest.raises(dp.ConfigError, match="Network"):
        diagnose("net", X, y, dp.CrossEntropy())
    with pytest.raises(dp.ConfigError, match="loss"):
        diagnose(net, X, y, "ce")
    with pytest.raises(dp.ConfigError, match="previous"):
        diagnose(net, X, y, dp.CrossEntropy(), previous=[np.zeros(1)])
    with pytest.raises(dp.ShapeError):
        diagnose(net, X[:, :3], y, dp.CrossEntropy())
    values = [p.value.copy() for p in net.parameters()]
    with pytest.raises(dp.ShapeError, match=r"previous\[0\] has shape"):  # a transposed W broadcast, or
        diagnose(net, X, y, dp.CrossEntropy(), previous=[values[0].T, *values[1:]])
    with pytest.raises(dp.ShapeError, match=r"previous\[0\] has shape \(\)"):  # scalars gave a ratio of 1.0
        diagnose(net, X, y, dp.CrossEntropy(), previous=[0.0] * len(values))


# -- the recorder in fit ------------------------------------------------------------------------
def _blobs(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.standard_normal((n, 4)) + 2.0 * np.eye(3, 4)[y]
    return X, y


def test_recorder_keeps_each_epochs_diagnostics_and_the_last_steps_update_ratio():
    X, y = _blobs()
    net = dp.mlp([4, 6, 3], seed=0, dtype="float64")
    weights = []
    keep = LambdaCallback(on_batch_end=lambda s, m, loss: weights.append([p.value.copy() for p in s.net.parameters()]))
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5, momentum=0.9), epochs=3,
                     batch_size=40, seed=0, callbacks=[DiagnosticsRecorder(X, y), keep])
    assert len(history.diagnostics) == 3 and all(isinstance(d, Diagnostics) for d in history.diagnostics)
    steps_per_epoch = 3  # 40, 40, 16
    for epoch, diag in enumerate(history.diagnostics):
        last = steps_per_epoch * (epoch + 1) - 1
        before, after = weights[last - 1], weights[last]
        for s, b, a in zip(diag.parameters, before, after):
            assert s.update_ratio == pytest.approx(_norm(a - b) / _norm(a), rel=1e-9)
    expected = diagnose(net, X, y, dp.CrossEntropy())
    assert [s.mean for s in history.diagnostics[-1].layers] == pytest.approx([s.mean for s in expected.layers])
    assert history.alerts == []


def test_recorder_full_batch_and_step_limit():
    X, y = _blobs()
    net = dp.mlp([4, 6, 3], seed=0, dtype="float64")
    weights = []
    keep = LambdaCallback(on_epoch_end=lambda s: weights.append([p.value.copy() for p in s.net.parameters()]))
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=3, batch_size=None,
                     callbacks=[DiagnosticsRecorder(X, y), keep])
    for s, b, a in zip(history.diagnostics[2].parameters, weights[1], weights[2]):
        assert s.update_ratio == pytest.approx(_norm(a - b) / _norm(a), rel=1e-9)
    net = dp.mlp([4, 6, 3], seed=0, dtype="float64")
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), steps=5, batch_size=40,
                     callbacks=[DiagnosticsRecorder(X, y)])
    assert [r["steps"] for r in history.records] == [3, 5]
    assert all(p.update_ratio is not None for p in history.diagnostics[-1].parameters)


def test_recorder_changes_no_weight_and_no_random_stream():
    X, y = _blobs()
    runs = []
    for callbacks in ([], [DiagnosticsRecorder(X, y, probe_size=50)]):
        net = dp.mlp([4, 6, 3], dropout=0.2, seed=0)
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.01), epochs=3, batch_size=16, seed=4,
               callbacks=callbacks)
        runs.append([p.value.copy() for p in net.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_and_resume_keep_diagnostics_and_alerts(tmp_path):
    from deltaprop.serialization import load_checkpoint, save_checkpoint

    X, y = _blobs()
    with pytest.warns(UserWarning):
        net = dp.mlp([4, 6, 3], init="zeros", seed=0, dtype="float64")
    opt = dp.SGD(lr=0.1)
    states = []
    grab = LambdaCallback(on_epoch_end=lambda s: states.append(s))
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=32, seed=0,
                     callbacks=[DiagnosticsRecorder(X, y), grab])
    assert [(a.rule, a.layer, a.epoch) for a in history.alerts] == [("zero_init_symmetry", 0, 1)]
    save_checkpoint(tmp_path / "c.safetensors", states[-1])
    with warnings.catch_warnings():  # its weights come from the file: no zero-initialisation warning
        warnings.simplefilter("error")
        ck = load_checkpoint(tmp_path / "c.safetensors")
    state = ck.training_state()
    assert state.history.diagnostics == history.diagnostics
    assert state.history.alerts == history.alerts
    fired = []
    resumed = dp.fit(ck.net, X, y, loss=ck.loss, optimizer=ck.optimizer, epochs=4, batch_size=32, resume=state,
                     callbacks=[DiagnosticsRecorder(X, y, on_alert=fired.append)])
    assert len(resumed.diagnostics) == 4
    assert [a.rule for a in fired].count("zero_init_symmetry") == 0  # fired once, before the resume


def test_history_read_from_a_file_keeps_checked_diagnostics_and_alerts(probe):
    from deltaprop._checks import history_records

    net, X, y = probe
    diag = diagnose(net, X, y, dp.CrossEntropy()).as_dict()
    alert = {"rule": "dead_relu", "epoch": 1, "layer": 3, "evidence": "e", "fix": "f"}
    record = {"epoch": 1, "loss": 0.5, "diagnostics": diag, "alerts": [alert]}
    assert history_records([record])[0]["diagnostics"] == diag
    assert history_records([record])[0]["alerts"] == [alert]
    assert "diagnostics" not in history_records([{"epoch": 1, "loss": 0.5}])[0]
    bad = json_copy(record)
    bad["diagnostics"]["layers"][0]["mean"] = float("nan")
    with pytest.raises(dp.DataError, match="history record 1: its diagnostics hold mean"):
        history_records([bad])
    bad = json_copy(record)
    del bad["diagnostics"]["parameters"][0]["norm"]
    with pytest.raises(dp.DataError, match="malformed"):
        history_records([bad])
    bad = json_copy(record)
    bad["alerts"][0]["rule"] = "made_up"
    with pytest.raises(dp.DataError, match="made_up"):
        history_records([bad])


def json_copy(value):
    import json

    return json.loads(json.dumps(value))


def test_fit_with_diagnostics_leaves_the_last_steps_trace(probe):
    net, X, y = probe
    traces = []
    for diagnostics in (False, True):
        run = net.copy()
        dp.fit(run, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), steps=1, batch_size=None,
               diagnostics=diagnostics)
        traces.append(run.trace())
    for a, b in zip(*traces):
        for x, z in ((a.output, b.output), (a.delta, b.delta)):
            if x is not None:
                np.testing.assert_array_equal(x, z)
