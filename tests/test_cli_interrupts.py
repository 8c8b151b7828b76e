"""A run stopped at any moment (Ctrl-C, or killed) leaves a folder that says how to go on:
before its first checkpoint, while it trains, and while its model and results are written;
and a resumed step schedule that keeps the first run's step size says so."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.cli as cli
import deltaprop.report as report
from cli_in_process import run_cli
from deltaprop.runlock import RunLock, is_held

# each test trains, stops and resumes runs through the command line (about 1 to 3 s each)
pytestmark = pytest.mark.slow

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "16"]
REFRESH = 'http-equiv="refresh"'


def _status(out: Path) -> str:
    return json.loads((out / "run.json").read_text())["status"]


def _same_weights(a: Path, b: Path) -> None:
    na, nb = dp.load(a / "model.safetensors"), dp.load(b / "model.safetensors")
    for (ka, pa), (kb, pb) in zip(na.named_parameters(), nb.named_parameters()):
        assert ka == kb and np.array_equal(pa.value, pb.value)


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _command_after(marker: str, text: str) -> list[str]:
    """The deltaprop arguments of the command a message gives after ``marker``."""
    line = next(line for line in text.splitlines() if marker in line)
    words = shlex.split(line.split(marker, 1)[1])
    assert words[0] == "deltaprop"
    return words[1:]


# -- stopped before the first checkpoint ------------------------------------------------------------
def test_ctrl_c_before_the_first_epoch_gives_a_restart_that_works(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "fit", _interrupt)
        res = run_cli("train", *PARITY, "--epochs", "1", "--out", out)
    assert res.returncode == 130 and res.stderr.count("\n") == 1 and "nothing was saved" in res.stderr
    restart = _command_after("Start over with: ", res.stderr)
    again = run_cli("train", *PARITY, "--epochs", "1", "--out", out)  # the same command, run again
    assert again.returncode == 2 and "--overwrite" in again.stderr and "--resume" not in again.stderr
    resumed = run_cli("train", "--resume", out)
    assert resumed.returncode == 1 and _command_after("start it over with: ", resumed.stderr) == restart
    assert run_cli(*restart, "--quiet").returncode == 0  # the line it printed: a whole run, as configured
    assert run_cli("train", *PARITY, "--epochs", "1", "--quiet", "--out", tmp_path / "ref").returncode == 0
    _same_weights(out, tmp_path / "ref")
    assert _status(out) == "done"


def test_a_second_ctrl_c_while_the_interrupt_is_saved_still_gets_the_line(tmp_path, monkeypatch):
    real = report.write_run_files

    def ctrl_c_again(*args):
        os.kill(os.getpid(), signal.SIGINT)
        real(*args)

    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "fit", _interrupt)
        m.setattr(report, "write_run_files", ctrl_c_again)
        res = run_cli("train", *PARITY, "--epochs", "1", "--out", out)
    assert res.returncode == 130 and "Start over with: " in res.stderr
    assert _status(out) == "interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C works again afterwards


#: ``deltaprop`` whose checkpoints wait for the run's end: a test that must kill a run before
#: its first checkpoint does not race the 5 s interval (a loaded machine can hold it that long).
NO_CHECKPOINT_BEFORE_THE_END = (
    "import sys\n"
    "from deltaprop.callbacks import CheckpointWriter\n"
    "CheckpointWriter.__init__.__kwdefaults__['interval'] = 1e9\n"
    "from deltaprop.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_a_run_killed_before_its_first_checkpoint_is_not_a_circle(tmp_path):
    out = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", NO_CHECKPOINT_BEFORE_THE_END, "train", *PARITY, "--epochs", "100000",
                              "--quiet", "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (out / "run.json").exists() and time.monotonic() < deadline:  # the first epoch's report
            time.sleep(0.02)
    finally:  # killed whatever happened: a run of 100,000 epochs must not outlive the test
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert (out / "run.json").exists() and _status(out) == "training"
    assert not (out / "checkpoint.safetensors").exists()
    assert not is_held(out)
    again = run_cli("train", *PARITY, "--epochs", "2", "--out", out)
    assert again.returncode == 2 and "start it over with --overwrite" in again.stderr
    resumed = run_cli("train", "--resume", out)
    assert resumed.returncode == 1 and f"--config {out / 'config.toml'} --out {out} --overwrite" in resumed.stderr
    for command in (["evaluate", out], ["info", out], ["predict", out, tmp_path / "x.npy"]):
        res = run_cli(*command)
        assert res.returncode == 1 and "stopped before anything was saved" in res.stderr, command
    rebuilt = run_cli("report", out)  # no history.csv yet: a report of the killed run all the same
    assert rebuilt.returncode == 0, rebuilt.stderr
    page = (out / "report.html").read_text()
    assert REFRESH not in page and 'class="status interrupted"' in page


# -- stopped while training -------------------------------------------------------------------------
def test_a_run_folder_without_its_model_points_at_the_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "save", _interrupt)  # Ctrl-C as the model file is about to be written
        assert run_cli("train", *PARITY, "--epochs", "2", "--out", out).returncode == 130
    (out / "run.json").unlink()  # a run stopped mid-way looks the same to these commands
    for command in (["evaluate", out], ["info", out], ["predict", out, tmp_path / "x.npy"]):
        res = run_cli(*command)
        assert res.returncode == 1 and res.stderr.count("\n") == 1, command
        assert f"{out / 'checkpoint.safetensors'}" in res.stderr and f"train --resume {out}" in res.stderr
        assert "is a folder" not in res.stderr
    lock = RunLock(out).acquire()  # a run training there now
    try:
        res = run_cli("info", out)
        assert res.returncode == 1 and "is still training" in res.stderr
        assert run_cli("info", out / "checkpoint.safetensors").returncode == 0
    finally:
        lock.release()


# -- stopped while the model and results are written --------------------------------------------------
def _cut_at_done(real):
    def write_run_files(out, records, facts):
        if facts.get("status") == "done":
            raise KeyboardInterrupt
        real(out, records, facts)
    return write_run_files


@pytest.mark.parametrize("where", ["model", "plot", "run.json"])
def test_ctrl_c_while_the_results_are_written_is_finished_by_resume(tmp_path, monkeypatch, where):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        if where == "model":
            m.setattr(cli, "save", _interrupt)
        elif where == "plot":
            m.setattr(cli, "plot_history", _interrupt)
        else:
            m.setattr(report, "write_run_files", _cut_at_done(report.write_run_files))
        res = run_cli("train", *PARITY, "--epochs", "3", "--out", out)
    assert res.returncode == 130 and "Traceback" not in res.stderr
    assert "the run's 3 epochs are trained" in res.stderr
    assert _command_after("results with: ", res.stderr) == ["train", "--resume", str(out)]
    assert _status(out) == "interrupted"
    assert REFRESH not in (out / "report.html").read_text()
    finished = run_cli("train", "--resume", out)
    assert finished.returncode == 0, finished.stderr
    assert "epochs are complete" in finished.stdout
    for name in ("model.safetensors", "history.png", "evaluation.json", "report.html"):
        assert (out / name).is_file(), name
    assert _status(out) == "done" and "training" not in json.loads((out / "run.json").read_text())["status"]
    assert run_cli("train", *PARITY, "--epochs", "3", "--quiet", "--out", tmp_path / "ref").returncode == 0
    _same_weights(out, tmp_path / "ref")
    done = run_cli("train", "--resume", out)
    assert done.returncode == 2 and "already has 3 epochs" in done.stderr


def test_report_of_a_killed_run_is_not_training_forever(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "plot_history", _interrupt)
        assert run_cli("train", *PARITY, "--epochs", "2", "--out", out).returncode == 130
    facts = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**facts, "status": "training"}))  # as a SIGKILL leaves it
    assert run_cli("report", out).returncode == 0
    page = (out / "report.html").read_text()
    assert REFRESH not in page and 'class="status interrupted"' in page and "--resume" in page
    with RunLock(out):  # while a process holds the folder, it is training
        assert run_cli("report", out).returncode == 0
    assert REFRESH in (out / "report.html").read_text()
    finished = run_cli("train", "--resume", out, "--quiet")
    assert finished.returncode == 0 and _status(out) == "done"
    assert facts["started"] == json.loads((out / "run.json").read_text())["started"]  # the run's own facts kept


# -- a step schedule extended ----------------------------------------------------------------------
def test_extending_a_step_schedule_says_it_keeps_the_first_runs_step_size(tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", *PARITY, "--schedule", "step", "--epochs", "3", "--quiet", "--out", out).returncode == 0
    res = run_cli("train", "--resume", out, "--epochs", "9", "--quiet")
    assert res.returncode == 0, res.stderr
    note = next(line for line in res.stderr.splitlines() if line.startswith("note:"))
    assert "step_size=1" in note and "step_size=3" in note and "--epochs 9" in note
    assert f"to {0.5 * 0.5 ** 8:g} at epoch 9" in note
    lrs = [r["lr"] for r in dp.History.read_csv(out / "history.csv").records]
    assert lrs == pytest.approx([0.5 * 0.5**e for e in range(9)])  # the schedule kept, as the note says


@pytest.mark.parametrize("first, then, schedule", [(3, 4, "step"), (6, 8, "step"), (3, 9, "step:step_size=2"),
                                                   (3, 9, "exponential")])
def test_no_note_when_the_step_size_is_what_the_new_length_takes(tmp_path, first, then, schedule):
    out = tmp_path / "run"
    assert run_cli("train", *PARITY, "--schedule", schedule, "--epochs", first, "--quiet", "--out", out).returncode == 0
    res = run_cli("train", "--resume", out, "--epochs", then, "--quiet")
    assert res.returncode == 0 and "note:" not in res.stderr, res.stderr


# -- SIGTERM and a failed write ---------------------------------------------------------------------------
def _terminated_at(epoch: int):
    real = cli.fit

    class Terminate(dp.Callback):
        def on_epoch_end(self, state):
            if state.epoch == epoch:
                os.kill(os.getpid(), signal.SIGTERM)  # as kill, systemd or a batch scheduler sends it

    def fit(*args, callbacks=(), **kwargs):
        return real(*args, callbacks=[*callbacks, Terminate()], **kwargs)

    return fit


def test_sigterm_stops_a_run_as_ctrl_c_does_and_resume_finishes_it(tmp_path, monkeypatch):
    # SIGTERM killed the process: no checkpoint of the last epochs, run.json said training for ever
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "fit", _terminated_at(2))
        res = run_cli("train", *PARITY, "--epochs", "4", "--out", out, "-q")
    assert res.returncode == 143, res.stderr
    assert f"interrupted; the checkpoint of epoch 2 is in {out}" in res.stderr
    assert _status(out) == "interrupted" and not is_held(out / "run.lock")
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is the command's alone
    assert run_cli("train", "--resume", out, "-q").returncode == 0
    assert run_cli("train", *PARITY, "--epochs", "4", "--out", tmp_path / "ref", "-q").returncode == 0
    _same_weights(out, tmp_path / "ref")


def test_a_checkpoint_that_cannot_be_written_ends_the_run_as_failed_and_resume_finishes_it(tmp_path, monkeypatch):
    import errno

    from deltaprop.callbacks import CheckpointWriter

    out = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", out, "-q").returncode == 0
    before = (out / "checkpoint.safetensors").read_bytes()

    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.folder / "checkpoint.safetensors"))

    with monkeypatch.context() as m:
        m.setattr(CheckpointWriter, "flush", full)
        res = run_cli("train", "--resume", out, "--epochs", "4", "-q")
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert "No space left on device; the checkpoint of epoch 2 is kept" in res.stderr
    assert f"go on with: deltaprop train --resume {out}" in res.stderr
    assert _status(out) == "failed" and REFRESH not in (out / "report.html").read_text()  # it said training
    assert (out / "checkpoint.safetensors").read_bytes() == before
    assert run_cli("train", "--resume", out, "--epochs", "4", "-q").returncode == 0
    assert _status(out) == "done"


def test_resume_on_other_blas_threads_says_the_bits_change(tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "1", "--threads", "2", "--out", out, "-q").returncode == 0
    other = run_cli("train", "--resume", out, "--epochs", "2", "--threads", "1", "-q")
    assert other.returncode == 0
    assert "note: --threads 1: the run's last epochs trained on 2 BLAS thread(s)" in other.stderr
    same = run_cli("train", "--resume", out, "--epochs", "3", "--threads", "1", "-q")
    assert same.returncode == 0 and "note:" not in same.stderr


def test_a_signal_interrupts_once_and_its_handler_is_restored():
    from deltaprop.interrupts import interrupt_once

    with pytest.raises(KeyboardInterrupt), interrupt_once(signal.SIGUSR1) as came:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(1)
    assert came == [True] and signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    with interrupt_once(signal.SIGUSR1) as came:
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(1)
        except KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGUSR1)  # a second one, while the stop is handled: ignored
            time.sleep(0.1)
    assert came == [True]
