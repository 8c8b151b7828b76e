"""Ctrl-C while a run starts and over MPI, checkpoints past 4 GiB, and sweep --seed on resume."""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_in_process import run_cli

import deltaprop.cli as cli
from deltaprop import ModelFileError
from deltaprop.distributed import StopVote

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "16", "--epochs", "1"]


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _command_after(marker: str, text: str) -> list[str]:
    """The deltaprop arguments of the command a message gives after ``marker``."""
    words = shlex.split(text.split(marker, 1)[1].splitlines()[0])
    assert words[0] == "deltaprop"
    return words[1:]


# -- Ctrl-C as a run starts: the folder says how to go on ---------------------------------------------
def test_ctrl_c_after_config_toml_is_written_gives_the_line_that_starts_it_over(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:  # reading every training row for the model's input range
        m.setattr(cli, "_model_meta", _interrupt)
        res = run_cli("train", *PARITY, "--out", out)
    assert res.returncode == 130 and res.stderr.count("\n") == 1, res.stderr
    assert (out / "config.toml").is_file()  # the same command is refused: the line must say what works
    restart = _command_after("Start over with: ", res.stderr)
    assert run_cli(*restart, "--quiet").returncode == 0
    assert (out / "model.safetensors").is_file()


def test_ctrl_c_before_config_toml_is_written_says_to_run_the_command_again(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "atomic_write_bytes", _interrupt)
        res = run_cli("train", *PARITY, "--out", out)
    assert res.returncode == 130 and res.stderr.count("\n") == 1, res.stderr
    assert "Run the same command again" in res.stderr and "config.toml" not in res.stderr
    assert not (out / "config.toml").exists()
    assert run_cli("train", *PARITY, "--out", out, "--quiet").returncode == 0


def test_ctrl_c_as_a_resume_starts_says_how_to_resume(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert run_cli("train", *PARITY, "--out", out, "--quiet").returncode == 0
    with monkeypatch.context() as m:
        m.setattr(cli, "_model_meta", _interrupt)
        res = run_cli("train", "--resume", out, "--epochs", "2")
    assert res.returncode == 130 and res.stderr.count("\n") == 1, res.stderr
    assert _command_after("Resume with: ", res.stderr) == ["train", "--resume", str(out), "--epochs", "2"]


# -- a second SIGINT on one MPI rank ------------------------------------------------------------------
class _TwoRanks:
    """A communicator of two ranks whose votes see only this one's mark."""

    def Get_size(self):
        return 2

    def Allreduce(self, mine, total):
        total[...] = mine


def test_a_second_sigint_on_one_of_several_ranks_only_keeps_the_mark():
    vote = StopVote(_TwoRanks())
    with vote:
        signal.raise_signal(signal.SIGINT)
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pytest.fail("a second SIGINT took this rank alone out of the step's collective")
        assert vote.asked and vote.stop_now()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
# rank 1 gets two SIGINTs at once, then every rank one more as it ends (a Ctrl-C at exit)
_RANKS = """
import signal, sys
import deltaprop as dp, deltaprop.cli as cli
from mpi4py import MPI

class Twice(dp.Callback):
    def on_epoch_end(self, state):
        if state.epoch == 2:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)

if MPI.COMM_WORLD.Get_rank() == 1:
    chosen = cli._deciding_callbacks
    cli._deciding_callbacks = lambda cfg: [*chosen(cfg), Twice()]
status = cli.main(sys.argv[1:])
signal.raise_signal(signal.SIGINT)
sys.exit(status)
"""


@pytest.mark.skipif(MPIEXEC is None or shutil.which("mpichversion", path=str(Path(sys.executable).parent)) is None
                    and shutil.which("mpichversion") is None, reason="mpi4py with MPICH's mpiexec not installed")
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_two_sigints_on_one_mpi_rank_stop_every_rank_cleanly(tmp_path):
    pytest.importorskip("mpi4py")
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-c", _RANKS, "train", "--dataset", "parity", "--epochs", "500",
           "--batch-size", "20", "--out", "cut", "--quiet"]
    try:
        res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60, start_new_session=True)
    except subprocess.TimeoutExpired:
        pytest.fail("a rank was left waiting in a collective")
    assert res.returncode == 130, res.stdout + res.stderr
    assert "BAD TERMINATION" not in res.stdout + res.stderr and "Traceback" not in res.stderr
    assert "interrupted; the checkpoint of epoch" in res.stderr and "Resume with: deltaprop train --resume cut" in res.stderr


# -- checkpoints past 4 GiB -------------------------------------------------------------------------
def test_a_checkpoint_past_4_gib_is_not_refused_for_its_size(tmp_path):
    from deltaprop.optimizers import OPTIMIZERS
    from deltaprop.serialization import MAX_COPIES, MAX_FILE_BYTES, _read_header, load_checkpoint
    from deltaprop.training import MAX_SAVED_WEIGHTS

    slots = max(len(OPTIMIZERS.create(name).slots) for name in OPTIMIZERS)
    assert 1 + slots + MAX_SAVED_WEIGHTS <= MAX_COPIES  # every copy a checkpoint may hold is counted
    out = tmp_path / "run"
    assert run_cli("train", *PARITY, "--optimizer", "adam", "--out", out, "--quiet").returncode == 0
    path = out / "checkpoint.safetensors"
    size = path.stat().st_size
    with open(path, "r+b") as f:  # a sparse tail: the size of a big model's checkpoint, no disk used
        f.truncate(5 << 30)
    header, meta, data_len = _read_header(path, MAX_FILE_BYTES)
    assert meta["kind"] == "checkpoint" and data_len > (5 << 30) - size
    with pytest.raises(ModelFileError, match="trailing bytes"):  # what is wrong with this one: not its size
        load_checkpoint(path)
    res = run_cli("train", "--resume", out, "--epochs", "2")
    assert res.returncode == 1 and "trailing bytes" in res.stderr and "allowed" not in res.stderr, res.stderr


# -- sweep --resume with --seed ---------------------------------------------------------------------
def test_sweep_resume_with_seed_and_no_random_says_to_leave_seed_out(tmp_path, monkeypatch):
    from deltaprop import sweep

    monkeypatch.setattr(sweep, "run_sweep", _interrupt)  # never reached
    res = run_cli("sweep", "--grid", "lr=0.1,0.3", "--seed", "5", "--resume", "--out", "s", cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "leave --seed out" in res.stderr and "--grid seed" not in res.stderr  # that grid would be refused
    assert not (tmp_path / "s").exists()


def test_ctrl_c_on_a_sweep_counts_its_failed_trials_too(tmp_path, monkeypatch):
    from deltaprop import sweep

    def run_sweep(trials, **_):
        for trial, status in zip(trials, ["ok", "failed", "failed"]):
            trial.result = {"status": status}
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_sweep", run_sweep)
    res = run_cli("sweep", "--grid", "lr=0.1,0.2,0.3,0.4", "--out", "s", cwd=tmp_path)
    assert res.returncode == 130 and res.stderr.count("\n") == 1, res.stderr
    assert "1 trial(s) finished, 2 failed, 0 stopped, 1 not started" in res.stderr  # the four trials


@pytest.mark.slow  # about a second
def test_a_trial_that_takes_its_folder_as_the_sweep_stops_is_counted_stopped(tmp_path, monkeypatch):
    import deltaprop.runlock as runlock
    from deltaprop.sweep import _run_json_stamp, _stop, plan_trials

    class Pending:
        status = "pending"

        def cancel(self):
            pass

    trials = plan_trials({"lr": ["0.3", "1"]}, tmp_path / "s")
    stamps = {t.folder: _run_json_stamp(t.folder) for t in trials}
    # trial 1's process was still starting at the Ctrl-C: it takes its folder's lock on the
    # sweep's second look, and lets go two looks later, its run.json not yet written then
    looks = {trials[0].folder: iter([]), trials[1].folder: iter([False, True, True])}
    monkeypatch.setattr(runlock, "is_held", lambda folder: next(looks[folder], False))
    _stop({Pending(): t for t in trials}, stamps)
    assert not trials[0].result
    assert trials[1].result["status"] == "interrupted"


def test_ctrl_c_while_the_command_line_is_read_is_one_line(monkeypatch):
    monkeypatch.setattr(cli, "build_parser", _interrupt)  # argparse building its parsers
    try:
        res = run_cli("train", *PARITY, "--out", "never")
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C escaped main: Python's traceback")
    assert res.returncode == 130 and res.stderr == "interrupted\n"


def test_sigterm_while_the_data_loads_ends_143_as_it_does_later(tmp_path, monkeypatch):
    def terminated(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)  # a batch scheduler's time limit

    monkeypatch.setattr(cli, "_training_data", terminated)
    before = signal.getsignal(signal.SIGTERM)
    res = run_cli("train", *PARITY, "--out", tmp_path / "run")
    assert res.returncode == 143 and res.stderr == "interrupted\n"
    assert signal.getsignal(signal.SIGTERM) == before


def test_config_toml_that_cannot_be_written_is_not_named_in_the_restart_line(tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "atomic_write_bytes", full)
        res = run_cli("train", *PARITY, "--out", out)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert "No space left" in res.stderr and "run the same command again" in res.stderr
    assert "config.toml" not in res.stderr and not (out / "config.toml").exists()
