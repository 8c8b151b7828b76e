"""Resuming a run with a schedule: the epochs a cosine schedule covers, and the rates the
resume header names."""

from __future__ import annotations

import math
import tomllib

import pytest

from cli_in_process import run_cli
from deltaprop.training import History

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "full"]


def _rates(run) -> list[float]:
    return [r["lr"] for r in History.read_csv(run / "history.csv").records]


def _cosine(epoch: int, t_max: int, base: float = 0.5, low: float = 0.0) -> float:
    return low + 0.5 * (base - low) * (1 + math.cos(math.pi * min(epoch, t_max) / t_max))


@pytest.mark.slow
def test_extending_a_run_past_its_cosine_schedule_is_refused_and_changes_nothing(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--schedule", "cosine", "--epochs", "3", "--out", run, "--quiet").returncode == 0
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = run_cli("train", "--resume", run, "--epochs", "6")
    assert result.returncode == 2 and not result.stdout
    assert len(result.stderr.splitlines()) == 1
    assert ("cannot extend this run to 6 epochs: its cosine schedule ends at epoch 3 (t_max=3), so epochs 4-6 would "
            "all train at its min_lr 0" in result.stderr)
    assert "start a new run with --epochs 6" in result.stderr and "at most" not in result.stderr  # all 3 are trained
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files


@pytest.mark.slow
def test_a_run_may_be_extended_within_its_cosine_schedule_and_past_it_where_configured_so(tmp_path):
    within = tmp_path / "within"
    assert run_cli("train", *PARITY, "--schedule", "cosine:t_max=6", "--epochs", "3", "--out", within,
                   "--quiet").returncode == 0
    assert run_cli("train", "--resume", within, "--epochs", "6", "--quiet").returncode == 0
    assert _rates(within) == pytest.approx([_cosine(t, 6) for t in range(6)])
    refused = run_cli("train", "--resume", within, "--epochs", "8")
    assert refused.returncode == 2 and "ends at epoch 6 (t_max=6), so epochs 7-8" in refused.stderr
    # a run set up to go on at min_lr after t_max goes on when extended
    past = tmp_path / "past"
    assert run_cli("train", *PARITY, "--schedule", "cosine:t_max=2,min_lr=0.01", "--epochs", "3", "--out", past,
                   "--quiet").returncode == 0
    assert run_cli("train", "--resume", past, "--epochs", "5", "--quiet").returncode == 0
    assert _rates(past) == pytest.approx([_cosine(t, 2, low=0.01) for t in range(5)])
    assert tomllib.loads((past / "config.toml").read_text())["epochs"] == 5


@pytest.mark.slow
def test_resume_header_names_the_base_rate_and_the_rate_of_the_next_epoch(tmp_path):
    run = tmp_path / "run"
    stopped = run_cli("train", *PARITY, "--schedule", "cosine:t_max=4", "--epochs", "4", "--steps", "2", "--out", run,
                      "--quiet")
    assert stopped.returncode == 0 and len(_rates(run)) == 2
    refused = run_cli("train", "--resume", run, "--epochs", "5", "--steps", "100")
    assert refused.returncode == 2 and "or resume with at most --epochs 4" in refused.stderr  # 2 of 4 trained
    resumed = run_cli("train", "--resume", run, "--steps", "100")
    assert resumed.returncode == 0, resumed.stderr
    header = resumed.stdout.splitlines()[0]
    assert header.startswith(f"resuming {run} at epoch 3: ")
    assert "sgd lr 0.5 (epoch 3 at 0.25), cosine schedule (t_max=4)" in header  # not the last epoch's 0.427
    assert _rates(run) == pytest.approx([_cosine(t, 4) for t in range(4)])
