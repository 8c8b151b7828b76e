"""Diagnostics and alerts: statistics as documented, under sample weights and mismatched losses."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


def _weighted_blobs(n=300, seed=0):
    """Two overlapping classes in 2 features (about 80% separable) and whole-number row
    weights (class 1 counts 4 times)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    y = ((X[:, 0] + 0.8 * rng.normal(size=n)) > 0).astype(int)
    return X, y, np.where(y == 1, 4, 1)


def _duplicated(X, y, w):
    """Each row repeated by its whole-number weight: its plain mean loss is the weighted one."""
    return np.repeat(X, w, axis=0), np.repeat(y, w)


def test_recorded_gradients_are_of_the_weighted_loss_the_run_minimises():
    X, y, w = _weighted_blobs()
    net = dp.mlp([2, 4, 2], activation="tanh", seed=0, dtype="float64")
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=2, batch_size=50,
                     seed=0, sample_weight=w)
    recorded = history.diagnostics[-1]
    Xd, yd = _duplicated(X, y, w)  # 300 rows: the probe is every row
    direct = dp.diagnose(net, Xd, yd, dp.CrossEntropy())
    for got, want in zip(recorded.parameters, direct.parameters):
        assert got.grad_norm == pytest.approx(want.grad_norm, rel=1e-9), got.name


def test_diagnose_takes_sample_weight_as_fit_does():
    X, y, w = _weighted_blobs()
    net = dp.mlp([2, 4, 2], activation="relu", seed=1, dtype="float64")
    weighted = dp.diagnose(net, X, y, dp.CrossEntropy(), sample_weight=w)
    Xd, yd = _duplicated(X, y, w)
    direct = dp.diagnose(net, Xd, yd, dp.CrossEntropy())
    for got, want in zip(weighted.parameters, direct.parameters):
        assert got.grad_norm == pytest.approx(want.grad_norm, rel=1e-9), got.name
    plain = dp.diagnose(net, X, y, dp.CrossEntropy())
    assert plain.parameters[0].grad_norm != pytest.approx(weighted.parameters[0].grad_norm, rel=1e-3)
    with pytest.raises(dp.ShapeError):
        dp.diagnose(net, X, y, dp.CrossEntropy(), sample_weight=w[:10])


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_converged_weighted_fit_is_not_called_flat():
    """Logistic regression with class weights, full batch, at its (weighted) optimum: the
    gradient of the unweighted loss is not 0 there, and flat_loss called the run stuck."""
    X, y, w = _weighted_blobs()
    net = dp.Network([dp.Dense(2, 2), dp.Softmax()], seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=1.0), epochs=300, batch_size=None,
                     seed=0, sample_weight=w)
    losses = [r["loss"] for r in history.records[-4:]]
    assert max(losses) - min(losses) < 1e-4 * losses[-1]  # the loss is flat: at the minimum
    assert [a.rule for a in history.alerts] == []


@pytest.mark.parametrize("output, loss", [("sigmoid", dp.CrossEntropy()), ("softmax", dp.BinaryCrossEntropy())])
def test_diagnose_refuses_a_loss_the_output_does_not_give_as_fit_does(output, loss):
    """Cross-entropy on sigmoid outputs (or binary cross-entropy on a softmax) is not a
    likelihood: fit refuses the pair, and diagnose gave gradient norms of it without a word."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    net = dp.mlp([4, 5, 3], activation="relu", output=output, seed=0)
    with pytest.raises(dp.ConfigError) as fitted:
        dp.fit(net, X, y, loss=loss, optimizer=dp.SGD(lr=0.1), epochs=1)
    with pytest.raises(dp.ConfigError) as diagnosed:
        dp.diagnose(net, X, y, loss)
    assert str(diagnosed.value) == str(fitted.value)


def test_diagnose_previous_that_is_not_numbers_is_a_config_error():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    net = dp.mlp([4, 5, 3], activation="relu", seed=0)
    words = [np.full(p.value.shape, "a") for p in net.parameters()]
    with pytest.raises(dp.ConfigError, match=r"previous\[0\] holds .* not numbers"):
        dp.diagnose(net, X, y, dp.CrossEntropy(), previous=words)
    # any iterable of arrays, as the shape check's words promise: a generator of the values
    stats = dp.diagnose(net, X, y, dp.CrossEntropy(), previous=(p.value.copy() for p in net.parameters()))
    assert all(p.update_ratio == 0.0 for p in stats.parameters if p.norm)


def _regression(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ np.array([1.0, 2.0, -1.0])


def _net(output, scaled=False):
    """3 → 8 ReLU → 1 ``output``, with a Standardization layer in front where ``scaled``."""
    layers = [dp.Dense(3, 8), dp.ReLU(), dp.Dense(8, 1), output]
    if scaled:
        layers.insert(0, dp.Standardization(np.zeros(3), np.ones(3)))
    return dp.Network(layers, seed=0, dtype="float64")


@pytest.mark.parametrize("output, shift, scaled", [(dp.Sigmoid(), 50.0, True), (dp.Tanh(), 50.0, False),
                                                    (dp.ReLU(), -50.0, True)])
def test_targets_out_of_the_outputs_range_name_the_output_layer(output, shift, scaled):
    """Squared error on targets a bounded output cannot reach (a sigmoid's on values around
    50; a ReLU's on negative ones): the loss has a floor no weights get under, and the alerts
    said only that units were saturated or dead and the loss flat."""
    X, t = _regression()
    y = (shift + 10.0 * t)[:, None]
    net = _net(output, scaled)
    history = dp.fit(net, X, y, loss=dp.MeanSquaredError(classification=False), optimizer=dp.SGD(lr=0.01),
                     epochs=2, seed=0)
    found = [a for a in history.alerts if a.rule == "output_range"]
    assert [(a.epoch, a.layer) for a in found] == [(1, len(net.layers) - 1)]
    near = np.clip(y, *{"Sigmoid": (0, 1), "Tanh": (-1, 1), "ReLU": (0, np.inf)}[output.type_name])
    floor = dp.MeanSquaredError(classification=False).value(near, y)
    assert f"under {floor:.4g}" in found[0].evidence
    assert all(r["loss"] >= floor for r in history.records)  # the floor holds
    assert "identity" in found[0].fix


def test_targets_within_the_outputs_range_raise_no_range_alert():
    X, t = _regression()
    mse = dp.MeanSquaredError(classification=False)
    within = (1.0 / (1.0 + np.exp(-t)))[:, None]  # in (0, 1): a sigmoid reaches them
    for net, y in [(_net(dp.Sigmoid()), within), (_net(dp.Identity()), (50.0 + 10.0 * t)[:, None])]:
        history = dp.fit(net, X, y, loss=mse, optimizer=dp.SGD(lr=0.01), epochs=2, seed=0)
        assert "output_range" not in {a.rule for a in history.alerts}
    classes = (t > 0).astype(int)  # 0/1 classes on a sigmoid under squared error: within reach
    history = dp.fit(_net(dp.Sigmoid()), X, classes, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.1), epochs=2,
                     seed=0)
    assert "output_range" not in {a.rule for a in history.alerts}


def test_recorder_takes_lists_as_fit_does_and_refuses_mismatched_rows():
    from deltaprop.callbacks import DiagnosticsRecorder

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 3, 50)
    net = dp.mlp([4, 5, 3], seed=0, dtype="float64")
    history = dp.fit(net, X.tolist(), y.tolist(), loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1,
                     callbacks=[DiagnosticsRecorder(X.tolist(), y.tolist())])
    assert history.diagnostics[0].probe_size == 50
    with pytest.raises(dp.ShapeError, match="50 rows but y has 10"):
        DiagnosticsRecorder(X, y[:10])
    with pytest.raises(dp.ConfigError, match="on_alert"):
        DiagnosticsRecorder(X, y, on_alert="print")


def _saturated_record(epoch, ratio):
    """A record of a 2-layer sigmoid network, its hidden layer 75% saturated (none stuck),
    its first Dense layer's update ratio ``ratio`` (None: the epoch was cut short)."""
    layers = [{"index": 0, "layer": "Dense"}, {"index": 1, "layer": "Sigmoid", "saturated": 0.75, "stuck": 0.0},
              {"index": 2, "layer": "Dense"}, {"index": 3, "layer": "Softmax"}]
    params = [{"name": "layers.0.W", "layer": 0, "grad_norm": 0.1, "norm": 5.0, "update_ratio": ratio},
              {"name": "layers.2.W", "layer": 2, "grad_norm": 0.1, "norm": 5.0, "update_ratio": ratio}]
    return {"epoch": epoch, "loss": 0.5, "accuracy": 0.9, "steps": 50 * epoch,
            "diagnostics": {"probe_size": 512, "layers": layers, "parameters": params}}


def test_an_epoch_cut_short_does_not_make_a_learning_saturated_layer_an_alert():
    """A stop inside an epoch leaves its last step's update ratio unknown (None): the
    saturated rule took that as no evidence of large steps and fired on a network whose
    weights moved by 2e-3 a step the epoch before (the same run uninterrupted: no alert)."""
    from deltaprop.alerts import SATURATED_UPDATE, check

    large = 2 * SATURATED_UPDATE
    assert [a.rule for a in check([_saturated_record(1, large), _saturated_record(2, large)])] == []
    assert [a.rule for a in check([_saturated_record(1, large), _saturated_record(2, None)])] == []
    small = SATURATED_UPDATE / 10  # steps that small: the alert, with the epoch its evidence is of
    found = check([_saturated_record(1, small), _saturated_record(2, None)])
    assert [(a.rule, a.layer) for a in found] == [("saturated", 1)]
    assert f"{small:.1e} of their size a step (at epoch 1)" in found[0].evidence


def test_a_run_stopped_inside_an_epoch_raises_no_alert_the_whole_run_does_not(digits):
    """RMSprop on a sigmoid network: most hidden outputs saturate while it learns, and the
    run raises no alert; a callback's stop ten steps into its last epoch raised 'saturated'."""
    from deltaprop.callbacks import LambdaCallback

    X, y = digits
    runs = []
    for stop in (None, 2 * 38 + 10):  # 1,200 rows at batch 32: 38 steps an epoch
        net = dp.mlp([784, 50, 10], activation="sigmoid", seed=0)
        stopper = LambdaCallback(on_batch_end=lambda s, m, loss, stop=stop: setattr(s, "stop_training", s.step == stop))
        runs.append(dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.RMSprop(), epochs=3, batch_size=32,
                           seed=0, callbacks=[stopper]))
    full, cut = runs
    assert cut.records[-1]["steps"] < full.records[-1]["steps"]
    assert cut.diagnostics[-1].parameter("layers.0.W").update_ratio is None
    saturated = [s.saturated for s in cut.diagnostics[-1].layers if s.saturated is not None]
    assert max(saturated) > 0.5  # over the rule's share: the alert hinged on the update ratio
    assert full.alerts == [] and cut.alerts == []


def test_a_recorder_given_to_a_second_fit_still_knows_the_chance_level():
    """The recorder dropped the training labels after its first run: a second fit with it
    had no chance level, and a network guessing at random labels raised nothing."""
    from deltaprop.callbacks import DiagnosticsRecorder

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(600, 6)), rng.integers(0, 3, 600)  # labels unrelated to the inputs
    recorder = DiagnosticsRecorder(X, y)
    rules = []
    for seed in (0, 1):
        net = dp.mlp([6, 16, 3], activation="relu", seed=seed)
        history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.01), epochs=7, seed=0,
                         callbacks=[recorder])
        rules.append([a.rule for a in history.alerts])
    assert rules[0] == rules[1] == ["chance_accuracy"]


def _imbalanced(n=2000, seed=0, learnable=True):
    """Two classes, 5% of the rows class 1 (shifted by 1.2 in every feature where
    ``learnable``), and weights that balance them (each class half the total weight)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(int)
    X = rng.normal(size=(n, 4)) + (1.2 * y[:, None] if learnable else 0.0)
    share = np.mean(y)
    return X.astype(np.float32), y, np.where(y == 1, (1 - share) / share, 1.0)


def test_class_balancing_weights_are_no_guess():
    """A network trained with weights that balance a 95/5 split gives up accuracy on the
    common class on purpose; chance_accuracy compared it with the unweighted 0.95 and called
    a network whose balanced accuracy is near 0.9 a guess."""
    X, y, w = _imbalanced()
    net = dp.mlp([4, 16, 2], activation="relu", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.05), epochs=6, seed=0, sample_weight=w)
    predicted = net.predict(X)
    balanced = np.mean([np.mean(predicted[y == k] == k) for k in (0, 1)])
    assert balanced > 0.8 and history.records[-1]["accuracy"] < np.mean(y == 0)  # learns; below the majority share
    assert "chance_accuracy" not in {a.rule for a in history.alerts}


def test_equal_weights_keep_the_chance_rule_and_unequal_ones_weight_it():
    from deltaprop.alerts import context_of

    X, y, w = _imbalanced(learnable=False)  # labels unrelated to the inputs
    net = dp.mlp([4, 16, 2], activation="relu", seed=0)
    weighted = context_of(net, dp.CrossEntropy(), y, w)  # balancing weights: each class half the weight
    assert weighted.chance == pytest.approx(0.5) and weighted.weighted_chance
    history = dp.fit(net.copy(), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.05), epochs=6, seed=0,
                     sample_weight=w)
    assert "chance_accuracy" in {a.rule for a in history.alerts}  # a guess, judged weighted
    assert context_of(net, dp.CrossEntropy(), y, np.full(len(y), 2.0)).chance == pytest.approx(np.mean(y == 0))
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.05), epochs=6, seed=0,
                     sample_weight=np.full(len(y), 2.0))
    assert "chance_accuracy" in {a.rule for a in history.alerts}  # a guess, as without weights
