"""The command line hands the run's dtype to the file reader, and lets a user choose a
deviation per feature or one for all: what the library's reader and Standardization do,
reached from `deltaprop train`."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from test_own_data_r5 import _timestamps_csv


@pytest.mark.slow
def test_a_float32_run_on_a_timestamp_column_says_so_and_a_float64_run_keeps_it(tmp_path, capsys):
    data = tmp_path / "t.csv"
    _timestamps_csv(data)
    assert main(["train", "--dataset", str(data), "--epochs", "1", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert "--dtype float64" in capsys.readouterr().err  # the reader's note on column 't'
    assert main(["train", "--dataset", str(data), "--epochs", "1", "--dtype", "float64", "--out",
                 str(tmp_path / "b"), "--quiet"]) == 0
    assert "--dtype float64" not in capsys.readouterr().err
    mean = dp.load(tmp_path / "b" / "model.safetensors").layers[0].mean
    assert mean.dtype == np.float64 and mean[0] % 1 != 0  # the fractions of a second survived


@pytest.mark.slow
@pytest.mark.parametrize("scaling, per_feature", [("standardize-per-feature", True), ("standardize-global", False)])
def test_scaling_chooses_a_deviation_per_feature_or_one_for_all(tmp_path, scaling, per_feature):
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 256, 60), rng.integers(0, 8, 60)])  # two columns on their own scales
    data = tmp_path / "d.csv"
    np.savetxt(data, np.column_stack([x, rng.integers(0, 2, 60)]), delimiter=",", fmt="%d", header="a,b,label",
               comments="")
    assert main(["train", "--dataset", str(data), "--scaling", scaling, "--epochs", "1", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0
    std = np.atleast_1d(dp.load(tmp_path / "run" / "model.safetensors").layers[0].std)
    assert (std.size == 2 and std[0] != std[1]) if per_feature else (np.unique(std).size == 1)
