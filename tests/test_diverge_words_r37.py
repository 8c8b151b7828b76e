"""A divergence's advice is in the caller's terms: the command line has --lr and --scaling
but no gradient clipping; a caller of fit can clip in a callback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_in_process import run_cli as cli

import deltaprop as dp


def test_a_fit_callers_divergence_names_the_clipping_callback():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    Y = (X @ rng.normal(size=(4, 1))).astype(np.float32) * 10
    net = dp.mlp([4, 8, 1], activation="tanh", output="identity", seed=0)
    with np.errstate(all="ignore"), pytest.raises(dp.TrainingDivergedError) as info:
        dp.fit(net, X, Y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=1.0, momentum=0.9), epochs=20,
               batch_size=16, seed=0, diagnostics=False)
    assert "on_gradients" in str(info.value) and "--lr" not in str(info.value)


def test_a_command_line_divergence_records_advice_it_can_follow(tmp_path):
    out = tmp_path / "run"
    res = cli("train", "--dataset", "parity", "--activation", "sigmoid", "--output-activation", "identity",
              "--loss", "mse", "--momentum", "0.9", "--lr", "2", "--epochs", "30", "--quiet", "--out", out)
    assert res.returncode == 1
    message = json.loads((out / "run.json").read_text())["diverged"]["message"]
    assert "(--lr; it was 2)" in message and "--scaling" in message
    assert "on_gradients" not in message and "clip" not in message


def test_a_resume_from_a_checkpoint_the_divergence_found_exploded_is_refused(tmp_path):
    out = tmp_path / "run"
    args = ("--dataset", "parity", "--activation", "sigmoid", "--output-activation", "identity", "--loss", "mse",
            "--momentum", "0.9", "--lr", "2", "--quiet")
    assert cli("train", *args, "--epochs", "30", "--out", out).returncode == 1
    assert json.loads((out / "run.json").read_text())["diverged"]["checkpoint_exploded"] is True
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    res = cli("train", "--resume", out, "--epochs", "31", "--quiet")
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"deltaprop: error: {out / 'checkpoint.safetensors'} holds weights that had already exploded when the run "
        f"diverged (epoch {json.loads((out / 'run.json').read_text())['diverged']['epoch']}); a resume would start "
        f"from them. Train again from fresh weights: deltaprop train --config {out / 'config.toml'} --lr LOWER "
        "--out NEW_FOLDER"]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
