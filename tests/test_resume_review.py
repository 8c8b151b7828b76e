"""Run folders a user stopped, filled or edited by hand, and what ``train --resume`` does
with them: a disk that fills while the trained run's model and results are written leaves
a run.json that says so (not "training" for ever) and a line that says how to finish."""

from __future__ import annotations

import errno
import json

import numpy as np

import deltaprop as dp
import deltaprop.cli as cli
from cli_in_process import run_cli

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "full", "--seed", "3",
          "--threads", "1", "--quiet"]


def _status(run) -> str:
    return json.loads((run / "run.json").read_text())["status"]


def _same_model(a, b) -> bool:
    na, nb = dp.load(a / "model.safetensors"), dp.load(b / "model.safetensors")
    return all(ka == kb and np.array_equal(pa.value, pb.value)
               for (ka, pa), (kb, pb) in zip(na.named_parameters(), nb.named_parameters(), strict=True))


def _disk_full_on_model(monkeypatch):
    """Make writing model.safetensors fail as on a full disk."""
    def save(net, path, **meta):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cli, "save", save)


def test_a_full_disk_while_the_model_is_written_says_how_to_finish(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _disk_full_on_model(m)
        failed = run_cli("train", *PARITY, "--epochs", "4", "--out", run)
    assert failed.returncode == 1
    line, = failed.stderr.splitlines()
    assert "model.safetensors: No space left on device" in line
    assert f"train --resume {run}" in line and "4 epochs" in line
    assert _status(run) == "failed"  # not "training": the page stops reloading
    finished = run_cli("train", "--resume", run, "--quiet")
    assert finished.returncode == 0, finished.stderr
    assert _status(run) == "done"
    straight = tmp_path / "straight"
    assert run_cli("train", *PARITY, "--epochs", "4", "--out", straight).returncode == 0
    assert _same_model(run, straight)


def test_a_full_disk_while_a_resume_writes_the_model_says_how_to_finish(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _disk_full_on_model(m)
        assert run_cli("train", *PARITY, "--epochs", "3", "--out", run).returncode == 1
        again = run_cli("train", "--resume", run, "--quiet")
    assert again.returncode == 1
    line, = again.stderr.splitlines()
    assert "No space left on device" in line and f"train --resume {run}" in line
    assert _status(run) == "failed"
