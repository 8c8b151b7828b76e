"""Hyperparameter sweeps on a Dask LocalCluster: a grid, a failing trial, resume."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from deltaprop import ConfigError
from deltaprop.sweep import parse_grid, plan_trials

pytest.importorskip("distributed", reason="Dask distributed is not installed (uv sync --extra sweep)")

KNOWN = {"lr", "layers", "optimizer", "epochs", "batch_size", "dataset"}


def _sweep(tmp_path, *args):
    exe = str(Path(sys.executable).with_name("deltaprop"))
    return subprocess.run([exe, "sweep", *args], capture_output=True, text=True, timeout=600, cwd=tmp_path)


def test_grid_values_split_on_commas_or_on_colons_when_present():
    grid = parse_grid(["lr=0.03,0.1", "layers=10,4,2:10,8,2"], KNOWN)
    assert grid == {"lr": ["0.03", "0.1"], "layers": ["10,4,2", "10,8,2"]}
    trials = plan_trials(grid, Path("s"))
    assert [t.options for t in trials][:2] == [{"lr": "0.03", "layers": "10,4,2"}, {"lr": "0.03", "layers": "10,8,2"}]
    assert [t.folder.name for t in trials] == ["trial-000", "trial-001", "trial-002", "trial-003"]


def test_random_draws_distinct_points_of_the_grid_reproducibly():
    grid = parse_grid(["lr=1,2,3,4", "epochs=1,2,3"], KNOWN)
    a = plan_trials(grid, Path("s"), random=5, seed=1)
    b = plan_trials(grid, Path("s"), random=5, seed=1)
    assert [t.options for t in a] == [t.options for t in b]
    assert len({tuple(t.options.items()) for t in a}) == 5


@pytest.mark.parametrize("spec, match", [
    ("lr", "KEY=V1,V2"), ("colour=red", "not an option of deltaprop train"), ("lr=0.1,,0.2", "empty value"),
])
def test_bad_grids_are_refused(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_grid([spec], KNOWN)


@pytest.mark.slow
def test_a_sweep_trains_every_trial_records_a_failure_and_resumes(tmp_path):
    config = tmp_path / "parity.toml"
    config.write_text('dataset = "parity"\nlayers = [10, 4, 2]\nepochs = 3\nbatch_size = 16\n')
    args = [str(config), "--grid", "lr=0.5,1.0", "--grid", "optimizer=sgd,nonsense", "--workers", "2", "--out", "s"]
    first = _sweep(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    rows = list(csv.DictReader((tmp_path / "s" / "sweep.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "failed"]
    assert all("unknown optimizer 'nonsense'" in r["error"] for r in rows if r["status"] == "failed")
    assert all(0.0 <= float(r["best_val_accuracy"]) <= 1.0 for r in rows if r["status"] == "ok")
    for r in rows:
        folder = Path(r["folder"])
        assert (folder / "model.safetensors").is_file() == (r["status"] == "ok")
    assert (tmp_path / "s" / "sweep.png").is_file()
    assert "best: trial" in first.stdout
    again = _sweep(tmp_path, *args[:-2], "--out", "s", "--resume")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("finished before, skipped") == 2
    rows2 = list(csv.DictReader((tmp_path / "s" / "sweep.csv").open()))
    assert [r["best_val_accuracy"] for r in rows2 if r["status"] == "ok"] == [
        r["best_val_accuracy"] for r in rows if r["status"] == "ok"]


def test_a_used_folder_needs_resume(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "x").write_text("")
    result = _sweep(tmp_path, "--grid", "lr=0.1", "--out", "s")
    assert result.returncode == 2
    assert "--resume" in result.stderr and "Traceback" not in result.stderr
