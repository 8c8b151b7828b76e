"""`deltaprop train` around its stops: what a run stopped by --steps inside an epoch says it
trained, a signal after the run ended, and a refused MPI start with --overwrite."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import deltaprop.cli as cli
from cli_in_process import run_cli
from deltaprop.errors import ConfigError
from test_distributed import needs_mpi
from test_mpi_r36 import EXE, _mpiexec

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "16"]


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _full_disk(*args, **kwargs):
    raise OSError(28, "No space left on device")


def _batches_per_epoch(out: Path) -> int:
    rows = (out / "history.csv").read_text().splitlines()
    return int(rows[1].split(",")[-1])  # the steps column after epoch 1


# -- a run that --steps stopped inside an epoch says what it trained --------------------------
@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_ctrl_c_while_writing_a_steps_stopped_run_names_its_epochs_and_batches(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "save", _interrupt)
        res = run_cli("train", *PARITY, "--epochs", "4", "--steps", "130", "--out", out)
    assert res.returncode == 130, res.stderr
    per_epoch = _batches_per_epoch(out)
    done, batches = divmod(130, per_epoch)
    assert 0 < batches and done < 4
    assert f"the run's {done} epochs and {batches} of the {per_epoch} batches of epoch {done + 1} are trained" \
        in res.stderr
    finished = run_cli("train", "--resume", out)
    assert finished.returncode == 0, finished.stderr
    assert f"the run's {done} epochs and {batches} of the {per_epoch} batches of epoch {done + 1} are complete" \
        in finished.stdout
    kept = json.loads((out / "run.json").read_text())["model_weights"]
    assert (kept["epoch"], kept["batches"], kept["epoch_batches"]) == (done + 1, batches, per_epoch)
    assert f"partial: {batches} of its {per_epoch} batches" in run_cli("info", out).stdout


def test_a_full_disk_while_writing_a_steps_stopped_run_names_its_epochs_and_batches(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "plot_history", _full_disk)
        res = run_cli("train", *PARITY, "--epochs", "4", "--steps", "130", "--out", out)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    per_epoch = _batches_per_epoch(out)
    done, batches = divmod(130, per_epoch)
    assert f"the run's {done} epochs and {batches} of the {per_epoch} batches of epoch {done + 1} are trained" \
        in res.stderr
    assert "train --resume" in res.stderr


def test_a_resume_past_a_steps_stopped_run_names_what_it_trained(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "save", _interrupt)
        run_cli("train", *PARITY, "--epochs", "4", "--steps", "130", "--out", out)
    per_epoch = _batches_per_epoch(out)
    done, batches = divmod(130, per_epoch)
    res = run_cli("train", "--resume", out, "--epochs", str(done + 1), "--steps", "129")
    assert res.returncode == 2
    assert f"already trained {done} epochs and {batches} of the {per_epoch} batches of epoch {done + 1} (130 steps)" \
        in res.stderr


# -- a refused start with --overwrite keeps the previous run's files ----------------------------
def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def overwrite_a_run_with(tmp_path, monkeypatch, name: str, replacement):
    """Train a 1-epoch run, then ``train --overwrite`` it with ``cli.<name>`` replaced (a
    refusal, a full disk, a Ctrl-C): the second command's result, and the first run's files."""
    out = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "1", "-q", "--out", out).returncode == 0
    before = _files(out)
    with monkeypatch.context() as m:
        m.setattr(cli, name, replacement)
        res = run_cli("train", *PARITY, "--epochs", "2", "-q", "--out", out, "--overwrite")
    return res, before


def _refuse(*args, **kwargs):
    raise ConfigError("refused before training began")


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
def test_a_start_refused_before_training_puts_the_overwritten_run_back(tmp_path, monkeypatch):
    res, before = overwrite_a_run_with(tmp_path, monkeypatch, "fit", _refuse)
    out = tmp_path / "run"
    assert res.returncode == 2 and "refused before training began" in res.stderr
    assert _files(out) == before  # config.toml too: the refused run's own is gone
    again = run_cli("train", *PARITY, "--epochs", "2", "-q", "--out", out, "--overwrite")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # nothing hidden is left
    assert "epochs = 2" in (out / "config.toml").read_text()


@pytest.mark.slow  # three mpiexec jobs: about 2 s
@needs_mpi
def test_a_start_another_rank_refused_keeps_the_overwritten_run(tmp_path):
    """rank 0 removed the previous run's files before the ranks agreed to start."""
    one = ("train", "--dataset", "parity", "--epochs", "1", "-q", "--out", "R", "--overwrite")
    assert run_cli(*one, cwd=tmp_path).returncode == 0
    before = _files(tmp_path / "R")
    for bad in (("--lr", "-1"), ("--lr", "0.2")):
        res = _mpiexec("-n", 1, EXE, *one, ":", "-n", 1, EXE, *one, *bad, cwd=tmp_path)
        assert res.returncode == 2, res.stderr
        assert _files(tmp_path / "R") == before
    res = _mpiexec("-n", 2, EXE, *one[:4], "2", *one[5:], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "R").iterdir()) == sorted(before)
    assert _files(tmp_path / "R")["model.safetensors"] != before["model.safetensors"]


# -- a signal once the run's files are all written ---------------------------------------------
ENTRY = Path(__file__).resolve().parents[1] / "src" / "_deltaprop_entry.py"

# The command as its entry point runs it (the file itself: an installed copy may be older),
# with SIG sent to itself as the line that names the written files is printed, and both
# SIGINT and SIGTERM again once the entry point returned (as the interpreter finalizes).
SIGNAL_AFTER_THE_RUN = """
import os, runpy, signal, sys
import deltaprop.cli as cli
said = cli._say
def say(*parts, err=False):
    said(*parts, err=err)
    if parts and str(parts[0]).startswith("wrote "):
        os.kill(os.getpid(), signal.{sig})
cli._say = say
sys.argv = ["deltaprop", "train", "--dataset", "parity", "--epochs", "1", "--out", {out!r}]
entry = runpy.run_path({entry!r})
status = entry["main"]()
os.kill(os.getpid(), signal.SIGINT)
os.kill(os.getpid(), signal.SIGTERM)
sys.exit(status)
"""


@pytest.mark.slow  # about a second
def test_a_signal_after_the_run_wrote_its_files_ends_with_its_own_status(tmp_path):
    out = tmp_path / "run"
    script = SIGNAL_AFTER_THE_RUN.format(sig="SIGINT", out=str(out), entry=str(ENTRY))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "interrupted" not in done.stderr and "Traceback" not in done.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "done"


def test_interrupt_once_keeps_a_handler_set_while_it_was_active():
    from deltaprop.interrupts import interrupt_once

    before = signal.getsignal(signal.SIGUSR1)
    try:
        with interrupt_once(signal.SIGUSR1):
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # a finished run ignores the signal to its exit
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN
        with interrupt_once(signal.SIGUSR1):
            pass
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN  # the previous handler is back
    finally:
        signal.signal(signal.SIGUSR1, before)


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_full_disk_as_config_toml_is_written_keeps_the_overwritten_run(tmp_path, monkeypatch):
    res, before = overwrite_a_run_with(tmp_path, monkeypatch, "atomic_write_bytes", _full_disk)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert "nothing was written (the run it was to overwrite is kept)" in res.stderr
    assert "run the same command again" in res.stderr
    assert _files(tmp_path / "run") == before
