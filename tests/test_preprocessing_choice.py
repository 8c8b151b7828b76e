"""Which input scaling ``deltaprop train`` chooses: one σ for the pixels of images, a σ per
column for tables, whatever their width."""

from __future__ import annotations

import numpy as np
import pytest

from cli_in_process import run_cli
from deltaprop.preprocessing import auto_scaling, standardization_for


def _table(n: int, columns: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One informative unit-scale column, the others income-like noise in the tens of thousands."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    informative = y * 2.0 - 1 + rng.normal(0, 0.3, n)
    return np.column_stack([informative, rng.normal(50_000, 10_000, (n, columns - 1))]), y


@pytest.mark.parametrize("columns", [63, 64, 100])
def test_a_table_of_any_width_gets_a_deviation_per_column(columns):
    x, _ = _table(200, columns)
    assert auto_scaling(x) == "standardize"
    assert standardization_for(x).std.size == columns  # 64 and 100 columns got one σ for all


@pytest.mark.parametrize("images", [
    np.random.default_rng(0).integers(0, 17, (50, 64)),                     # 8x8 digits, levels 0..16
    np.random.default_rng(0).integers(0, 256, (50, 784)).astype(np.float32),  # 28x28 levels as floats
    np.random.default_rng(0).uniform(-1, 1, (50, 784)),                       # (x − 127.5)/127.5
    np.random.default_rng(0).integers(0, 256, (50, 28, 28)),                  # image arrays
])
def test_images_get_one_deviation_for_all_pixels(images):
    assert standardization_for(images).std.size == 1


@pytest.mark.slow
def test_train_on_a_64_column_table_scales_each_column_and_learns(tmp_path):
    x, y = _table(400, 64)
    path = tmp_path / "table.csv"
    header = ",".join([f"f{j}" for j in range(64)] + ["label"])
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt="%.4f")
    res = run_cli("train", "--dataset", path, "--out", tmp_path / "run", "--epochs", "10", "--threads", "1")
    assert res.returncode == 0, res.stderr
    assert "σ per feature" in res.stdout
    accuracy = float(res.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.95  # one σ for all columns scaled the informative one to nothing: 0.46
