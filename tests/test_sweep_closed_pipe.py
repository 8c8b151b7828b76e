"""``deltaprop sweep ... | head``, ``deltaprop evaluate ... --plot F | head``: the reader going
away must not stop the command before it has written its files (as for train)."""

from __future__ import annotations

import io
import sys

import pytest

from deltaprop import sweep
from deltaprop.cli import main


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone: every write fails as a closed pipe's does."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_sweep_whose_stdout_reader_went_away_runs_every_trial(tmp_path, monkeypatch):
    trained = []

    def run_sweep(trials, *, config, workers, scheduler, resume, say):
        for trial in trials:  # each trial trained, then said (a line the closed pipe refuses)
            trial.result = {"status": "ok", "best_val_accuracy": 0.5, "best_epoch": 1, "val_loss_at_best": 0.7,
                            "epochs": 1, "seconds": 1.0, "folder": str(trial.folder), "error": ""}
            trained.append(trial.index)
            say(f"trial {trial.index}: best val accuracy 0.5")
        return trials

    monkeypatch.setattr(sweep, "run_sweep", run_sweep)
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    out = tmp_path / "sw"
    status = main(["sweep", "--grid", "lr=0.1,0.2,0.3", "--out", str(out)])
    assert len(trained) == 3  # the sweep was not cut short at its first line
    assert status == 141  # as train and predict end on a closed stdout
    assert "not run" not in (out / "sweep.csv").read_text()


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_evaluate_into_a_closed_pipe_still_writes_its_plot(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "parity", "--epochs", "1", "--out", str(run), "-q"]) == 0
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())  # `| head -2`: gone after the first lines
    status = main(["evaluate", str(run), "--plot", str(tmp_path / "cm.png")])
    assert (tmp_path / "cm.png").is_file()  # the plot comes after the printed report: it was lost
    assert status == 141


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_train_and_evaluate_with_stdout_closed_from_the_start_run_as_print_does(tmp_path, monkeypatch):
    # `deltaprop train ... >&-`: Python starts with sys.stdout None, where print drops its
    # output; train stopped with an AttributeError traceback, and evaluate too once guarded
    monkeypatch.setattr(sys, "stdout", None)
    run = tmp_path / "run"
    assert main(["train", "--dataset", "parity", "--epochs", "1", "--out", str(run)]) == 0
    assert (run / "model.safetensors").is_file()
    assert main(["evaluate", str(run), "--plot", str(tmp_path / "cm.png")]) == 0
    assert (tmp_path / "cm.png").is_file()
    assert sys.stdout is None  # left as it was
