"""`deltaprop train` that diverges names the layer that shows it on its one error line, as
fit's TrainingDivergedError does (its ``layer``)."""

from __future__ import annotations

import numpy as np
import pytest
from cli_in_process import run_cli as cli

import deltaprop as dp


def test_a_diverged_run_names_the_layer_on_its_one_error_line(tmp_path):
    res = cli("train", "--dataset", "parity", "--batch-size", "full", "--lr", "1e39", "--out", tmp_path / "run")
    assert res.returncode == 1
    lines = [line for line in res.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, res.stderr
    assert ("diverged at epoch 1, step 1 (the loss became NaN or infinite; layer 0 (Dense) holds NaN or infinite "
            "weights); lower --lr (it was 1e+39)") in lines[0]
    assert "Traceback" not in res.stderr


def test_the_error_carries_the_layer_it_names():
    X = np.random.default_rng(0).normal(size=(64, 20)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.mlp([20, 8, 2], seed=0)
    with np.errstate(all="ignore"), pytest.raises(dp.TrainingDivergedError) as info:
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=1e300), steps=1, batch_size=None,
               diagnostics=False)
    assert info.value.layer == "layer 0 (Dense) holds NaN or infinite weights"
    assert info.value.layer in str(info.value)
