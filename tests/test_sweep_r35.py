"""A run folder read back by `deltaprop report` and `deltaprop sweep` says what the run's own
files say: a run stopped by Ctrl-C between an epoch's history record and its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import deltaprop.callbacks as callbacks
from cli_in_process import run_cli
from deltaprop.training import History

PARITY = ["--dataset", "parity", "--layers", "10,4,2", "--lr", "0.5", "--epochs", "4", "--quiet"]


def _ctrl_c_at_epoch(monkeypatch, epoch: int) -> None:
    """Ctrl-C as the diagnostics of ``epoch`` are taken: its history record is made, its
    checkpoint not yet."""
    original = callbacks.DiagnosticsRecorder.on_epoch_end

    def on_epoch_end(self, state):
        if state.history.records and state.history.records[-1]["epoch"] == epoch:
            raise KeyboardInterrupt
        return original(self, state)

    monkeypatch.setattr(callbacks.DiagnosticsRecorder, "on_epoch_end", on_epoch_end)


def _page(out: Path) -> str:
    return (out / "report.html").read_text(encoding="utf-8")


def test_interrupted_page_shows_the_checkpointed_epochs_as_a_rebuild_does(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _ctrl_c_at_epoch(m, 2)
        res = run_cli("train", *PARITY, "--out", out)
    assert res.returncode == 130 and "checkpoint of epoch 1" in res.stderr
    assert [r["epoch"] for r in History.read_csv(out / "history.csv").records] == [1]
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    written = _page(out)
    assert "1 epoch(s); last epoch (1)" in written
    assert run_cli("report", out).returncode == 0
    assert _page(out) == written


def test_interrupted_page_draws_the_checkpoints_weights(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _ctrl_c_at_epoch(m, 2)
        res = run_cli("train", "--dataset", "mnist-sample", "--layers", "784,3,10", "--epochs", "3", "--quiet",
                      "--out", out)
    assert res.returncode == 130
    written = _page(out)
    assert 'alt="unit 0"' in written
    assert run_cli("report", out).returncode == 0
    assert _page(out) == written


def test_resumed_run_interrupted_before_its_first_checkpoint_shows_the_one_it_resumed(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert run_cli("train", *PARITY[:-3], "--epochs", "2", "--quiet", "--out", out).returncode == 0
    with monkeypatch.context() as m:
        _ctrl_c_at_epoch(m, 3)
        res = run_cli("train", "--resume", out, "--epochs", "4", "--quiet")
    assert res.returncode == 130 and "checkpoint of epoch 2" in res.stderr
    written = _page(out)
    assert "2 epoch(s); last epoch (2)" in written
    assert run_cli("report", out).returncode == 0
    assert _page(out) == written
