"""Combinations of `deltaprop train` options: a run that cannot be right is refused or
stopped loudly, never finished as if it trained."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_in_process import run_cli as cli

import deltaprop as dp


def _raw_rows():
    """Unscaled rows (0..255) that make a linear network's first full-batch steps overshoot."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, (200, 30)).astype(np.float32)
    return X, rng.integers(0, 3, 200)


def test_a_validation_loss_that_overflows_stops_fit_as_a_divergence():
    X, y = _raw_rows()
    net = dp.mlp([30, 8, 3], activation="identity", output="identity", seed=0)
    with np.errstate(all="ignore"), pytest.raises(dp.TrainingDivergedError) as info:
        dp.fit(net, X[:150], y[:150], loss=dp.losses.MeanSquaredError(), optimizer=dp.SGD(lr=0.3), epochs=2,
               batch_size=None, validation=(X[150:], y[150:]), diagnostics=False)
    assert (info.value.epoch, info.value.step) == (2, 2)
    assert "the validation loss is" in str(info.value)
    # the network keeps the weights the epoch began with, whose validation outputs are finite
    assert all(np.all(np.isfinite(p.value)) for p in net.parameters())
    assert np.all(np.isfinite(net.forward(X[150:])))


def _assert_diverges_in_epoch_2(out, *extra) -> None:
    """A linear network on raw inputs under squared error, full batch: its outputs overflow in
    epoch 2; train ends as a divergence with epoch 1's checkpoint kept and no model file."""
    res = cli("train", "--epochs", "2", "-q", "--threads", "1", "--out", out, "--loss", "mse", "--output-activation",
              "identity", "--activation", "linear", "--scaling", "none", "--batch-size", "full", *extra)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "error: training diverged at epoch 2, step 2" in res.stderr
    assert "the last checkpoint (epoch 1)" in res.stderr and "holds weights that had already grown to" in res.stderr
    assert "Traceback" not in res.stderr and "RuntimeWarning" not in res.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "diverged"
    assert not (out / "model.safetensors").exists()


def test_train_whose_validation_loss_overflows_says_it_diverged(tmp_path):
    _assert_diverges_in_epoch_2(tmp_path / "run")


def test_a_last_step_whose_outputs_overflow_stops_fit_without_validation():
    X, y = _raw_rows()
    net = dp.mlp([30, 8, 3], activation="identity", output="identity", seed=0)
    with np.errstate(all="ignore"), pytest.raises(dp.TrainingDivergedError) as info:
        dp.fit(net, X, y, loss=dp.losses.MeanSquaredError(), optimizer=dp.SGD(lr=0.3), epochs=2, batch_size=None,
               diagnostics=False)
    assert (info.value.epoch, info.value.step) == (2, 2)
    assert "outputs of the last step's rows are NaN or infinite" in str(info.value)
    assert np.all(np.isfinite(net.forward(X)))  # the weights the last epoch began with


def test_a_last_step_whose_outputs_overflow_under_numpy_raising_is_a_divergence():
    X, y = _raw_rows()
    net = dp.mlp([30, 8, 3], activation="identity", output="identity", seed=0)
    with np.errstate(over="raise", invalid="ignore"), pytest.raises(dp.TrainingDivergedError):
        dp.fit(net, X, y, loss=dp.losses.MeanSquaredError(), optimizer=dp.SGD(lr=0.3), epochs=2, batch_size=None,
               diagnostics=False)


def test_train_without_validation_whose_last_step_overflows_says_it_diverged(tmp_path):
    _assert_diverges_in_epoch_2(tmp_path / "run", "--validation-split", "0")



@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_another_optimizer_over_an_sgd_momentum_config_names_the_fix_that_works(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('dataset = "parity"\noptimizer = "sgd"\nmomentum = 0.9\nnesterov = true\nepochs = 1\n')
    res = cli("train", "--config", config, "--optimizer", "adam", "-q", "--out", tmp_path / "a")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "momentum 0.9 and nesterov apply to the sgd optimizer only, not 'adam'" in res.stderr
    fix = res.stderr.split("give ", 1)[1].split(" (", 1)[0].split()
    assert fix == ["--momentum", "0", "--no-nesterov"]
    res = cli("train", "--config", config, "--optimizer", "adam", *fix, "-q", "--threads", "1", "--out", tmp_path / "b")
    assert res.returncode == 0, res.stderr
