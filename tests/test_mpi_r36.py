"""`mpiexec deltaprop train`: what its run folder records, a refused start, SIGTERM while loading."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_in_process import run_cli
from test_distributed import MPIEXEC, _cached_in, needs_mpi

import deltaprop as dp
from deltaprop.distributed import StopVote, sigterm_as_ctrl_c
from deltaprop.report import ReportWriter, earlier_sessions, recorded_processes, run_facts

EXE = str(Path(sys.executable).with_name("deltaprop"))
PARITY = ("--dataset", "parity", "--epochs", "1", "-q")


def _mpiexec(*parts, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([MPIEXEC, *map(str, parts)], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=_cached_in(cwd))


# -- run.json records the processes -------------------------------------------------------------
def _writer(folder, processes):
    facts = run_facts(["deltaprop", "train"], {"seed": 0}, data_source="parity", data_sha="0" * 64,
                      processes=processes)
    earlier = {"sessions": [{"command": ["deltaprop", "train"], "processes": 2, "threads": 1}]}
    return ReportWriter(folder, facts, earlier=earlier)


def test_run_facts_and_each_session_that_trained_record_the_processes(tmp_path):
    writer = _writer(tmp_path, 4)
    assert writer.facts["processes"] == 4
    X = np.random.default_rng(0).normal(size=(40, 3))
    dp.fit(dp.mlp([3, 4, 2], seed=0), X, (X[:, 0] > 0).astype(int), loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
           epochs=1, batch_size=20, callbacks=[writer],
           threads=1)
    assert [s["processes"] for s in writer.facts["sessions"]] == [2, 4]
    assert recorded_processes(writer.facts) == [2, 4]
    idle = _writer(tmp_path, 1)  # a session that only wrote a trained run's results
    idle._time_facts()
    assert recorded_processes(idle.facts) == [2]


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "2"])
def test_a_processes_value_of_the_wrong_kind_is_left_out(value):
    assert "processes" not in earlier_sessions({"sessions": [{"processes": value}]})[0]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_run_on_one_process_records_one_and_info_adds_no_line(tmp_path):
    assert run_cli("train", *PARITY, "--out", "one", cwd=tmp_path).returncode == 0
    facts = json.loads((tmp_path / "one" / "run.json").read_text())
    assert facts["processes"] == 1 and facts["sessions"][0]["processes"] == 1
    assert "MPI" not in run_cli("info", "one", cwd=tmp_path).stdout


# -- a start refused on one rank leaves the folder usable ----------------------------------------
@pytest.fixture(scope="module")
def refused_then_corrected(tmp_path_factory):
    """Rank 1 refuses its option (or is given another learning rate than rank 0); then the
    corrected command, the same --out without --overwrite, on 2 processes."""
    if not _mpi_ready():
        pytest.skip("mpi4py and mpiexec not installed (uv sync --extra mpi)")
    folder = tmp_path_factory.mktemp("mpi")
    refused, left = {}, {}
    for name, bad in (("own", ("--lr", "-1")), ("differ", ("--lr", "0.2"))):
        refused[name] = _mpiexec("-n", 1, EXE, "train", *PARITY, "--out", name, ":",
                                 "-n", 1, EXE, "train", *PARITY, "--out", name, *bad, cwd=folder)
        left[name] = sorted(p.name for p in (folder / name).iterdir())
    corrected = _mpiexec("-n", 2, EXE, "train", *PARITY, "--out", "own", cwd=folder)
    return folder, refused, left, corrected


def _mpi_ready() -> bool:
    return not needs_mpi.args[0]


@pytest.mark.slow  # its fixture runs three mpiexec jobs: about 2 s
@needs_mpi
def test_a_start_another_rank_refused_leaves_no_file_that_blocks_the_corrected_command(refused_then_corrected):
    """The refused start left config.toml, so the corrected command was refused in turn: `own
    holds a run that stopped before its first checkpoint was saved ...; start it over with
    --overwrite`; one process refuses before the folder is touched."""
    folder, refused, left, corrected = refused_then_corrected
    for name, message in (("own", "lr must be > 0"), ("differ", "process 1's learning rate is 0.2")):
        assert refused[name].returncode == 2 and message in refused[name].stderr, refused[name].stderr
        assert left[name] == []
    assert corrected.returncode == 0, corrected.stderr
    assert (folder / "own" / "model.safetensors").is_file()


@pytest.mark.slow  # shares that fixture
@needs_mpi
def test_run_json_and_info_say_the_run_trained_on_two_processes(refused_then_corrected):
    """run.json recorded the BLAS threads but not the processes: a 2-process run (each rank
    half of every global batch) read as one trained on one process."""
    folder, _, _, corrected = refused_then_corrected
    assert corrected.returncode == 0, corrected.stderr
    facts = json.loads((folder / "own" / "run.json").read_text())
    assert facts["processes"] == 2 and [s["processes"] for s in facts["sessions"]] == [2]
    info = run_cli("info", folder / "own", cwd=folder)
    assert info.returncode == 0 and "trained on: 2 MPI processes" in info.stdout


# -- SIGTERM while the ranks load their data ------------------------------------------------------
def test_sigterm_before_the_vote_stops_as_ctrl_c_and_the_vote_takes_it_over(monkeypatch):
    monkeypatch.setattr(StopVote, "terminated", False)
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with sigterm_as_ctrl_c():
            with pytest.raises(KeyboardInterrupt):  # was: the default action, the process killed
                signal.raise_signal(signal.SIGTERM)
            assert StopVote.terminated
            signal.raise_signal(signal.SIGTERM)  # a second one while the first is handled: ignored
            monkeypatch.setattr(StopVote, "terminated", False)
            with StopVote(_TwoRanks()) as vote:  # training starts: the vote marks it instead
                signal.raise_signal(signal.SIGTERM)
                assert vote.asked and StopVote.terminated
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_handler_set_once_stopped_is_kept():
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with sigterm_as_ctrl_c():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a rank stopped by Ctrl-C ignores SIGTERM to its exit
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)


class _TwoRanks:
    def Get_rank(self):
        return 0

    def Get_size(self):
        return 2


@needs_mpi
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads which processes hold a file in /proc")
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_sigterm_to_mpiexec_while_the_ranks_load_their_data_ends_cleanly_with_143(tmp_path):
    """It killed the ranks where they stood: mpiexec printed `BAD TERMINATION OF ONE OF YOUR
    APPLICATION PROCESSES ... EXIT CODE: 15` and exited 15 (a Ctrl-C then ended them cleanly)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 16)).round(3)
    data = tmp_path / "rows.csv"
    np.savetxt(data, np.column_stack([X, X[:, 0] > 0]), delimiter=",", fmt="%g")
    # Each rank, on entering the CSV reader, leaves a mark and waits there: the signal comes
    # while both load their data however fast or loaded the machine is.
    marks, hooks = tmp_path / "marks", tmp_path / "hooks"
    marks.mkdir()
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os, time\n"
        "import deltaprop.data.arrays as arrays\n"
        "_read = arrays._load_csv\n"
        "def _marked(*args, **kwargs):\n"
        f"    open(os.path.join({str(marks)!r}, str(os.getpid())), 'w').close()\n"
        "    time.sleep(120)\n"
        "    return _read(*args, **kwargs)\n"
        "arrays._load_csv = _marked\n")
    env = _cached_in(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hooks), env.get("PYTHONPATH")]))
    proc = subprocess.Popen([MPIEXEC, "-n", "2", EXE, "train", "--dataset", str(data), "--out", "cut"], cwd=tmp_path,
                            env=env, start_new_session=True, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(os.listdir(marks)) < 2:  # both ranks are reading the rows
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "interrupted" or "Start over with" in err, err
    assert "BAD TERMINATION" not in out + err and "Traceback" not in err
