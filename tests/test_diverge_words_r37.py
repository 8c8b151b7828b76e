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
