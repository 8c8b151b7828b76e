"""A weight decay that holds the weights too small to fit said nothing for a regression, or
for AdamW's decoupled decay (only classifiers under L2 decay were judged); a diverged run whose
newest checkpoint is older than the epoch before the divergence was offered that checkpoint as
a good one without a look at its weights."""

from __future__ import annotations

import dataclasses
import errno
import json

import numpy as np
import pytest
from cli_in_process import run_cli as cli

import deltaprop as dp
import deltaprop.cli
from deltaprop import alerts
from deltaprop.alerts import Context, check


def _record(epoch, loss, norms, figures, *, accuracy=None, probe_loss=None, kind="gradient"):
    params = []
    for k, (n, f) in enumerate(zip(norms, figures)):
        p = {"name": f"layers.{2 * k}.W", "layer": 2 * k, "norm": n, "grad_norm": 0.3 * n, "update_ratio": 0.04}
        if kind == "gradient":
            p["grad_norm"] = f * n  # ‖∇W‖/‖W‖ = f
        else:
            p["update_ratio"] = f  # ‖ΔW‖/‖W‖ = f
        params.append(p)
    diag = {"probe_size": 512, "layers": [], "parameters": params}
    if probe_loss is not None:
        diag["loss"] = probe_loss
    return {"epoch": epoch, "loss": loss, "accuracy": accuracy, "steps": 32 * epoch, "diagnostics": diag}


def _regression(loss=0.81, norms=((0.80, 0.65), (0.83, 0.63), (0.87, 0.67)), gradients=(0.15, 0.14)):
    # y = sin(2x₁) + x₂x₃ + x₃/2 under λ = 0.1: ‖W‖ 0.8-0.9 and moving 5-10% an epoch, R² 0.19
    return [_record(e, loss, n, gradients) for e, n in enumerate(norms, start=1)]


_REGRESSION = {"mean_loss": 1.0, "optimizer": "SGD", "lr": 0.1, "momentum": 0.0, "weight_decay": 0.1}


def test_a_decay_that_holds_a_regressions_weights_too_small_to_fit_is_named_and_no_other():
    [alert] = [a for a in check(_regression(), Context(**_REGRESSION)) if a.rule == "strong_decay"]
    assert alert.layer is None
    assert "explains 19% of the targets' variance (R² = 1 − loss / 1 = 0.19" in alert.evidence
    assert "settled (0.87, 0.67" in alert.evidence and "weight decay 0.1" in alert.evidence
    assert alert.fix.startswith("lower the weight decay (--weight-decay 0.1)") and "usual 0.0001" in alert.fix

    def rules(records, **kw):
        return [a.rule for a in check(records, Context(**{**_REGRESSION, **kw}))]

    assert "strong_decay" not in rules(_regression(loss=0.13))  # λ = 0.03 ends at R² 0.87
    assert "strong_decay" not in rules(_regression(loss=0.81, gradients=(0.15, 0.5)))  # the loss's pull outweighs λ
    assert "strong_decay" not in rules(_regression(norms=((0.5, 0.5), (0.7, 0.7), (0.9, 0.9))))  # still growing
    assert "strong_decay" not in rules(_regression(), weight_decay=1e-4)
    assert "strong_decay" not in rules(_regression(), mean_loss=None)  # not squared error: nothing to judge by
    # the probe batch's loss (dropout off) fits though the running loss does not: no alert
    assert "strong_decay" not in rules([{**r, "diagnostics": {**r["diagnostics"], "loss": 0.1}} for r in _regression()])


def _adamw_run(accuracy=0.62, ratios=(0.0034, 0.0081), norms=((2.34, 0.92), (2.45, 0.95), (2.54, 0.98))):
    # scikit-learn's digits under AdamW (α = 0.001) at λ = 10: accuracy 0.62, αλ = 0.01 against update ratios 3-8e-3
    return [_record(e, 2.0, n, ratios, accuracy=accuracy, kind="update") for e, n in enumerate(norms, start=1)]


_ADAMW = {"chance": 0.1, "optimizer": "AdamW", "lr": 0.001, "weight_decay": 10.0}


def test_adamws_decoupled_decay_that_holds_the_weights_too_small_to_fit_is_named_and_no_other():
    [alert] = [a for a in check(_adamw_run(), Context(**_ADAMW)) if a.rule == "strong_decay"]
    assert "training accuracy is 0.620 (chance 0.100)" in alert.evidence
    assert "AdamW's weight decay 10 shrinks each weight by αλ = 0.01 of its size a step" in alert.evidence
    assert "(update ratio ‖ΔW‖/‖W‖ 0.0034, 0.0081)" in alert.evidence
    assert alert.fix.startswith("lower the weight decay (--weight-decay 10)") and "usual 0.01," in alert.fix
    [api] = [a for a in check(_adamw_run(), Context(**_ADAMW, interface="api")) if a.rule == "strong_decay"]
    assert "dp.AdamW(weight_decay=10)" in api.fix

    def rules(records, **kw):
        return [a.rule for a in check(records, Context(**{**_ADAMW, **kw}))]

    assert "strong_decay" not in rules(_adamw_run(), weight_decay=0.01)  # αλ = 1e-5 against steps of 1e-3
    assert "strong_decay" not in rules(_adamw_run(ratios=(0.0034, 0.08)))  # Adam's own step outweighs the decay
    assert "strong_decay" not in rules(_adamw_run(accuracy=0.94))
    assert "strong_decay" not in rules(_adamw_run(), lr=None)  # the step αλ not known


def _sine_regression(weight_decay):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 5)).astype(np.float32)
    y = (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3]).astype(np.float32)
    y = ((y - y.mean()) / y.std())[:, None]
    net = dp.mlp([5, 32, 1], activation="tanh", output="identity", seed=0)
    history = dp.fit(net, X, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.1, weight_decay=weight_decay),
                     epochs=8, batch_size=32, seed=0)
    return [a.rule for a in history.alerts]


def test_fit_names_a_decay_that_holds_a_regression_short_of_a_fit():
    assert "strong_decay" in _sine_regression(0.3)  # R² 0.13
    assert _sine_regression(1e-4) == []  # R² 0.9


def test_squared_error_at_the_mean_names_the_decay_that_holds_it_there():
    records = [_record(e, 1.0, (0.02, 0.02), (0.8, 0.8)) for e in (1, 2, 3, 4)]
    records[-1]["steps"] = 200
    [alert] = [a for a in check(records, Context(**{**_REGRESSION, "weight_decay": 1.0})) if a.rule == "chance_accuracy"]
    assert "weight decay 1 pulls each Dense layer's weights towards 0" in alert.evidence
    assert alert.fix.startswith("lower the weight decay (--weight-decay 1)")


#: parity under squared error at a rate whose weights explode: largest |w| 7e7 after epoch 1,
#: 3e13 after epoch 2, 1e19 after epoch 3; the loss overflows at epoch 4
EXPLODES = ("--dataset", "parity", "--activation", "sigmoid", "--output-activation", "identity", "--loss", "mse",
            "--momentum", "0.9", "--lr", "2", "--quiet", "--epochs", "30")


class _FullDiskAfter(dp.CheckpointWriter):
    """Writes the checkpoints of the first ``epochs`` epochs at once; later ones wait for the
    interval, and the write at the end fails on a full disk: the checkpoint on disk stays older
    than the epoch before the divergence."""

    epochs = 2

    def on_epoch_end(self, state):
        if state.epoch <= self.epochs:
            self._keep(state)
            self.flush()
        else:
            super().on_epoch_end(state)

    def on_train_end(self, state):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_an_older_checkpoint_of_exploded_weights_is_not_called_good(tmp_path, monkeypatch):
    monkeypatch.setattr(deltaprop.cli, "CheckpointWriter", _FullDiskAfter)
    out = tmp_path / "run"
    res = cli("train", *EXPLODES, "--out", out)
    assert res.returncode == 1
    assert "training diverged at epoch 4" in res.stderr
    assert "last good checkpoint" not in res.stderr
    assert "the last checkpoint (epoch 2)" in res.stderr and "had already grown to 3.18e+13 (largest |w|)" in res.stderr
    assert json.loads((out / "run.json").read_text())["diverged"]["checkpoint_exploded"] is True
    again = cli("train", "--resume", out, "--epochs", "31", "--quiet")  # the resume refuses those weights
    assert again.returncode == 2 and "holds weights that had already exploded" in again.stderr


def test_an_older_checkpoint_is_judged_by_its_own_weights(tmp_path):
    from deltaprop.cli import _checkpoint_exploded

    diverged = dp.TrainingDivergedError("diverged", epoch=6, step=90, largest_weight=50.0, exploded=False,
                                        start_weight=2.0)
    writer = dp.CheckpointWriter(tmp_path)
    writer.written_epoch = 3  # two epochs older than the epoch before the divergence
    for largest, exploded in ((3.0, False), (199.0, False), (200.0, True), (3.2e13, True), (float("inf"), True)):
        writer.written_largest = largest  # the yardstick: 100 × max(1, 2.0) = 200
        assert _checkpoint_exploded(diverged, writer) is exploded, largest
    writer.written_epoch = None  # nothing on disk: nothing to call exploded
    assert _checkpoint_exploded(diverged, writer) is False


def test_the_checkpoint_writer_knows_the_largest_weight_it_wrote(tmp_path):
    net = dp.mlp([2, 3, 1], output="identity", seed=0)
    writer = dp.CheckpointWriter(tmp_path, interval=0)
    X = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    dp.fit(net, X, np.array([[1.0], [0.0]], dtype=np.float32), loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.1),
           epochs=2, callbacks=[writer], diagnostics=False)
    assert writer.written_largest == pytest.approx(max(float(np.max(np.abs(p.value))) for p in net.parameters()))


def _relu_record(epoch, accuracy, size, ratio):
    layers = [{"index": 0, "layer": "Rescaling"}, {"index": 1, "layer": "Dense", "mean": -0.8 * size, "std": 0.6 * size},
              {"index": 2, "layer": "ReLU", "dead": 0.1}, {"index": 3, "layer": "Dense", "mean": 1.0, "std": 4.0},
              {"index": 4, "layer": "Softmax"}]
    params = [{"name": "layers.1.W", "layer": 1, "norm": 594.0, "grad_norm": 0.15, "update_ratio": ratio},
              {"name": "layers.3.W", "layer": 3, "norm": 62.0, "grad_norm": 0.3, "update_ratio": 4e-3}]
    return {"epoch": epoch, "loss": 1.7, "accuracy": accuracy, "steps": 180 * epoch,
            "diagnostics": {"probe_size": 512, "layers": layers, "parameters": params}}


_RELU = Context(chance=0.1, optimizer="SGD", lr=0.3, momentum=0.0, weight_decay=0.0, scaled_inputs=True,
                layers=("Rescaling", "Dense(scaled_normal(3))", "ReLU", "Dense(scaled_normal(3))", "Softmax"))


def test_relu_units_fed_by_weights_too_large_to_move_are_named_by_layer():
    # the MNIST sample's 784-50-10 ReLU network from scaled_normal(3): z of size 60, the first
    # layer moving 4-5e-4 a step, training accuracy 0.40-0.46 (he_normal: 0.96 by epoch 5)
    records = [_relu_record(e, 0.36 + 0.02 * e, 60.0, 4.5e-4) for e in (1, 2, 3)]
    [alert] = [a for a in check(records, _RELU) if a.rule == "large_weights"]
    assert alert.layer == 1
    assert alert.evidence.startswith("layer 1 (Dense), feeding layer 2 (ReLU): its outputs z are of size 60")
    assert "at most 4.5e-04 of their size a step" in alert.evidence and "training accuracy is 0.420" in alert.evidence
    assert alert.fix.startswith("start from smaller weights than scaled_normal(3) (he_normal) with --init")
    [api] = [a for a in check(records, dataclasses.replace(_RELU, interface="api")) if a.rule == "large_weights"]
    assert "init= of dp.mlp or dp.Dense" in api.fix
    assert ": weights this large make each step" in alert.evidence
    [raw] = [a for a in check(records, dataclasses.replace(_RELU, scaled_inputs=None)) if a.rule == "large_weights"]
    assert ": inputs or weights this large" in raw.evidence and raw.fix.endswith("(--scaling): ReLU units pass their "
                                                                                 "size on, so no learning rate suits "
                                                                                 "weights this much larger than the "
                                                                                 "rest of the network")
    assert "weights too large to move" in alerts.summary([])

    def rules(records):
        return [a.rule for a in check(records, _RELU)]

    assert "large_weights" not in rules(records[:2])  # too few epochs to say the steps stay small
    assert "large_weights" not in rules([_relu_record(e, 0.87, 17.0, 1.4e-3) for e in (1, 2, 3)])  # scaled_normal(1) learns
    assert "large_weights" not in rules([_relu_record(e, 0.5, 2.0, 4.5e-4) for e in (1, 2, 3)])  # z of a usual size
    assert "large_weights" not in rules([_relu_record(e, 0.5, 60.0, 2e-2) for e in (1, 2, 3)])  # the layer moves
    assert "large_weights" not in rules([_relu_record(e, 0.9, 60.0, 4.5e-4) for e in (1, 2, 3)])  # it fits


@pytest.mark.slow  # a five-epoch command-line run on the MNIST sample
def test_train_names_a_relu_layer_started_too_large(tmp_path):
    done = cli("train", "--activation", "relu", "--init", "scaled_normal(3)", "--epochs", "5", "--out", tmp_path / "run",
               "--quiet", "--threads", "1")
    assert done.returncode == 0
    assert "[large_weights] epoch 3: layer 1 (Dense), feeding layer 2 (ReLU)" in done.stdout
    good = cli("train", "--activation", "relu", "--epochs", "5", "--out", tmp_path / "he", "--quiet", "--threads", "1")
    assert good.returncode == 0 and "during training:" not in good.stdout  # he_normal: no alert to sum up


@pytest.mark.slow  # two command-line runs, the second resumed
def test_a_resumed_run_judges_its_checkpoint_against_the_runs_first_weights(tmp_path):
    # three epochs end (exit 0, their weights 1e19); the resume diverges at once, and its
    # checkpoint, the one it resumed from, had exploded long before
    out = tmp_path / "run"
    first = cli("train", *EXPLODES[:-2], "--epochs", "3", "--out", out)
    assert first.returncode == 0, first.stderr
    res = cli("train", "--resume", out, "--epochs", "30", "--quiet")
    assert res.returncode == 1
    assert "last good checkpoint" not in res.stderr
    assert "the last checkpoint (epoch 3)" in res.stderr and "had already grown to 1.37e+19 (largest |w|)" in res.stderr
    assert json.loads((out / "run.json").read_text())["diverged"]["checkpoint_exploded"] is True


def _saturated_regression(epoch):
    layers = [{"index": 0, "layer": "Dense", "mean": 0.0, "std": 900.0},
              {"index": 1, "layer": "Tanh", "saturated": 1.0, "stuck": 0.0}, {"index": 2, "layer": "Dense"}]
    params = [{"name": "layers.0.W", "layer": 0, "norm": 300.0, "grad_norm": 3e-3, "update_ratio": 0.0},
              {"name": "layers.2.W", "layer": 2, "norm": 5.0, "grad_norm": 6.0, "update_ratio": 0.2}]
    return {"epoch": epoch, "loss": 1.44e12, "steps": 32 * epoch,
            "diagnostics": {"probe_size": 512, "layers": layers, "parameters": params}}


def test_saturation_from_targets_in_the_millions_is_fixed_by_scaling_them_first():
    # y = 1e6 · (sin(2x₁) + x₂x₃ + x₃/2) + 3e6, a 5-32-1 tanh network under SGD at 0.01: after one
    # epoch every hidden output is saturated, and the first layer's relative gradient is 9e-6 of the last's
    ctx = Context(mean_loss=1.553e12, start_loss=1.094e13, optimizer="SGD", lr=0.01, momentum=0.0, weight_decay=0.0,
                  scaled_inputs=True, output_slope_cancelled=True,
                  layers=("Dense(glorot_uniform)", "Tanh", "Dense(glorot_uniform)"))
    found = {a.rule: a for a in check([_saturated_regression(1)], ctx)}
    for rule in ("saturated", "vanishing_gradients"):
        assert found[rule].fix.startswith("scale the targets first: fit on (y − y.mean()) / y.std()"), rule
        assert "squared error starts at 1.094e+13" in found[rule].fix and "if the alert still holds then, " in found[rule].fix
    small = dataclasses.replace(ctx, mean_loss=1.0, start_loss=1.3)  # standardised targets: the fix as it was
    assert all(not a.fix.startswith("scale the targets") for a in check([_saturated_regression(1)], small))


def _thinned(epoch, running, probe):
    return {"epoch": epoch, "loss": 1.98, "accuracy": running, "steps": 180 * epoch,
            "diagnostics": {"probe_size": 512, "layers": [], "parameters": [], "accuracy": probe, "loss": 1.58}}


def test_dropout_too_heavy_to_fit_is_named_by_its_layer():
    # the MNIST sample's default network at --dropout 0.95: running accuracy 0.16-0.26, dropout
    # off 0.58-0.71 over five epochs (test 0.63; 0.91 without dropout)
    layers = ("Rescaling", "Dense(glorot_uniform)", "Sigmoid", "Dropout", "Dense(glorot_uniform)", "Softmax")
    ctx = Context(chance=0.1, optimizer="SGD", lr=0.3, momentum=0.0, weight_decay=0.0, layers=layers, dropout=0.95)
    records = [_thinned(1, 0.16, 0.58), _thinned(2, 0.21, 0.67), _thinned(3, 0.23, 0.68)]
    [alert] = [a for a in check(records, ctx) if a.rule == "heavy_dropout"]
    assert alert.layer == 3
    assert alert.evidence.startswith("layer 3 (Dropout): dropout 0.95 keeps only 5% of the hidden units at each step")
    assert "training accuracy is 0.680 (chance 0.100) with dropout off" in alert.evidence and "score 0.230" in alert.evidence
    assert alert.fix.startswith("lower the dropout rate (--dropout) from 0.95 to 0.5 or less")
    assert "dropout too heavy to fit" in alerts.summary([])

    def rules(records, **kw):
        return [a.rule for a in check(records, dataclasses.replace(ctx, **kw))]

    assert "heavy_dropout" not in rules(records[:2])  # too early to judge
    assert "heavy_dropout" not in rules(records, dropout=0.5)  # a usual rate
    assert "heavy_dropout" not in rules([_thinned(e, 0.5, 0.9) for e in (1, 2, 3)])  # fits with dropout off
    assert "heavy_dropout" not in rules([_thinned(e, 0.1, 0.1) for e in (1, 2, 3)])  # at chance: chance_accuracy says it


def test_a_decay_that_takes_the_rate_to_nothing_for_half_the_run_is_said_before_it():
    # the MNIST sample at exponential decay γ = 0.01 over five epochs: SGD's 0.3 is 3e-5 at
    # epoch 3 and the loss moves by 0.01% over epochs 3-5 (test 0.864, 0.906 at a constant rate)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 2, 40)
    with pytest.warns(UserWarning, match=r"^the exponential schedule \(gamma=0\.01\) takes the learning rate under "
                                         r"0\.001 of its start from epoch 3 on \(0\.0001 of it\), so epochs 3-5 of the 5 "
                                         r"would take steps too small to move the weights; give the schedule a gamma "
                                         r"closer to 1$"):
        dp.fit(dp.mlp([3, 4, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3),
               schedule={"type": "exponential", "gamma": 0.01}, epochs=5, diagnostics=False)
    from deltaprop.schedules import ExponentialDecay, StepDecay, stalled_by_decay

    assert stalled_by_decay(StepDecay(step_size=1, gamma=0.001), 10).startswith(
        "the step schedule (step_size=1, gamma=0.001) takes the learning rate under 0.001 of its start from epoch 3")
    assert stalled_by_decay(StepDecay(step_size=10, gamma=0.1), 30) is None  # down to 1e-2
    assert stalled_by_decay(ExponentialDecay(0.9), 100) is None  # 1e-3 only from epoch 67
    assert stalled_by_decay(ExponentialDecay(0.5), 30) is not None  # from epoch 11


@pytest.mark.slow  # a five-epoch command-line run on the MNIST sample
def test_train_says_once_that_its_decay_stops_it_learning(tmp_path):
    done = cli("train", "--schedule", "exponential:gamma=0.01", "--epochs", "5", "--out", tmp_path / "run", "--quiet",
               "--threads", "1")
    assert done.returncode == 0
    said = [line for line in done.stderr.splitlines() if "takes the learning rate under" in line]
    assert said == ["warning: the exponential schedule (gamma=0.01) takes the learning rate under 0.001 of its start "
                    "from epoch 3 on (0.0001 of it), so epochs 3-5 of the 5 would take steps too small to move the "
                    "weights; give --schedule a gamma closer to 1"]
