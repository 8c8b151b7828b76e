"""A run folder read back by `deltaprop report` and `deltaprop sweep` says what the run's own
files say: a run stopped by Ctrl-C between an epoch's history record and its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
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


def _finished_trial(folder: Path, rows) -> None:
    """A finished trial's folder: a model file, a run.json that says done, ``rows`` of
    (validation accuracy, validation loss) as its history."""
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "run.json").write_text('{"status": "done", "seconds": 1.5}')
    lines = ["epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps"]
    lines += [f"{e},0.5,0.5,{loss},{acc},0.1,0.01,{10 * e}" for e, (acc, loss) in enumerate(rows, 1)]
    (folder / "history.csv").write_text("\n".join(lines) + "\n")


def test_the_tie_line_names_the_epoch_of_the_loss_it_quotes(tmp_path):
    from deltaprop.sweep import best_trial, plan_trials, summarise, tie_note

    histories = [[(1.0, 0.3)], [(1.0, 0.2), (1.0, 0.05)], [(1.0, 0.01)]]
    trials = plan_trials({"lr": ["1", "2", "3"]}, tmp_path / "s")
    for trial, rows in zip(trials[:2], histories[:2]):
        _finished_trial(trial.folder, rows)
        trial.result = summarise(trial, None)
    best = best_trial(trials[:2])
    assert best is trials[1] and best.result["best_epoch"] == 1
    assert "lowest validation loss at it, 0.05 at epoch 2)" in tie_note(best, trials[:2])
    # the loss of the epoch named is quoted as it was: no epoch added
    _finished_trial(trials[2].folder, histories[2])
    trials[2].result = summarise(trials[2], None)
    assert tie_note(best_trial(trials), trials).endswith("lowest validation loss at it, 0.01)")


def test_a_run_diverged_in_its_first_epoch_draws_no_weights_and_says_why(tmp_path):
    out = tmp_path / "run"
    res = run_cli("train", "--dataset", "mnist-sample", "--layers", "784,3,10", "--epochs", "2", "--lr", "1e300",
                  "--quiet", "--out", out)
    assert res.returncode == 1 and "no epoch finished" in res.stderr
    written = _page(out)
    assert 'alt="unit 0"' not in written and "No weights were saved" in written
    assert run_cli("report", out).returncode == 0
    assert _page(out) == written
