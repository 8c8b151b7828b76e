"""Data-parallel training: what a user meets beyond the equivalence the other files check."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_distributed import MPIEXEC, _cached_in, _read_ready, needs_mpi

from deltaprop.distributed import StopVote


class _TwoRanks:
    """Rank 0 of two processes whose collectives just copy (only the vote's marks are used)."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 2

    def Allreduce(self, mine, total):
        np.copyto(total, mine)


def test_sigterm_marks_the_vote_as_ctrl_c_does_and_its_handler_is_restored(monkeypatch):
    monkeypatch.setattr(StopVote, "terminated", False)
    before = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        vote = StopVote(_TwoRanks())
        with vote:
            # mpiexec forwards a SIGTERM (a batch system's time limit) to every rank; left at its
            # default it killed the ranks mid-step, the run's files saying it was still training
            assert signal.getsignal(signal.SIGTERM) == vote._mark
            signal.raise_signal(signal.SIGTERM)  # no exception: the ranks stop together at a step
            assert vote.asked and vote.stop_now() and StopVote.terminated
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_program_with_its_own_sigterm_handler_keeps_it(monkeypatch):
    monkeypatch.setattr(StopVote, "terminated", False)
    seen = []

    def own(signum, frame):
        seen.append(signum)

    before = signal.signal(signal.SIGTERM, own)
    try:
        with StopVote(_TwoRanks()) as vote:
            assert signal.getsignal(signal.SIGTERM) is own
            signal.raise_signal(signal.SIGTERM)
            assert not vote.asked and seen == [signal.SIGTERM] and not StopVote.terminated
    finally:
        signal.signal(signal.SIGTERM, before)


@needs_mpi
@pytest.mark.slow
def test_sigterm_to_mpiexec_keeps_the_checkpoint_and_exits_143_as_one_process_does(tmp_path):
    exe = str(Path(sys.executable).with_name("deltaprop"))
    cmd = [MPIEXEC, "-n", "2", exe, "train", "--dataset", "parity", "--batch-size", "20", "--epochs", "500",
           "--out", "cut"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True, text=True, env=_cached_in(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not any(line.startswith("epoch 1/500") for line in _read_ready(proc.stdout)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        os.kill(proc.pid, signal.SIGTERM)  # as a batch system's time limit does: mpiexec forwards it
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "interrupted; the checkpoint of epoch" in err
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["status"] == "interrupted"


def test_a_resume_that_cannot_share_its_batches_names_the_processes_it_can_resume_on():
    from deltaprop.distributed import check_shares
    from deltaprop.errors import ConfigError

    # --resume refuses --batch-size, so "use a batch size of at least 7" was advice it refused
    with pytest.raises(ConfigError, match=r"^a global batch of 6 rows cannot be shared among 7 processes; a resumed "
                                          r"run keeps its batch size: resume it on at most 6 processes$"):
        check_shares(630, 6, 7, resumed=True)
    with pytest.raises(ConfigError, match=r"last batch of 9 training rows has 1 row .*resume it on at most 1 process$"):
        check_shares(9, 4, 2, resumed=True)
    with pytest.raises(ConfigError, match="use a batch size"):  # a new run may change it
        check_shares(630, 6, 7)


@needs_mpi
@pytest.mark.slow
def test_mpiexec_resume_on_too_many_processes_says_how_many_it_can_run_on(tmp_path):
    exe = str(Path(sys.executable).with_name("deltaprop"))
    run = [exe, "train", "--dataset", "parity", "--batch-size", "6", "--epochs", "1", "--quiet", "--out", "r"]
    first = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_cached_in(tmp_path))
    assert first.returncode == 0, first.stderr
    cmd = [MPIEXEC, "-n", "7", exe, "train", "--resume", "r", "--epochs", "2"]
    job = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_cached_in(tmp_path))
    assert job.returncode == 2 and job.stderr.count("\n") == 1, job.stderr
    assert "a resumed run keeps its batch size: resume it on at most 6 processes" in job.stderr


def test_rows_viewed_in_an_array_in_memory_are_checked_whole_before_training():
    from deltaprop.data import RowView
    from deltaprop.distributed import DIGEST_ROWS, _data_crc

    # deltaprop train hands fit views of a .npz or CSV file read whole; one changed number on
    # one rank, in a row the sample of a file on disk leaves out, trained on without a word
    X = np.arange(1000 * 3, dtype=np.float64).reshape(1000, 3)
    rows = np.arange(10, 1000)
    sampled = set(rows[np.unique(np.linspace(0, len(rows) - 1, DIGEST_ROWS).astype(np.int64))])
    changed = next(r for r in rows if r not in sampled)
    other = X.copy()
    other[changed, 1] += 1
    assert _data_crc(RowView(X, rows)) == _data_crc(RowView(X.copy(), rows))
    assert _data_crc(RowView(X, rows)) != _data_crc(RowView(other, rows))
    assert _data_crc(RowView(X, rows)) != _data_crc(RowView(X, rows[::-1]))  # the rows' order counts too


def test_a_run_resumed_over_mpi_shares_the_hosts_cpus_among_its_ranks(monkeypatch):
    import deltaprop as dp
    import deltaprop.distributed as distributed
    from deltaprop import training

    # a run trained alone on 4 BLAS threads, resumed under mpiexec -n 4 on a 4-CPU host: each
    # rank kept the checkpoint's 4 threads, 16 threads on 4 cores (many times slower)
    monkeypatch.setattr(distributed, "threads_per_rank", lambda comm: 1)
    monkeypatch.setattr(training, "_blas_default", lambda: 4)
    net = dp.mlp([5, 8, 2], seed=0)
    resume = training.TrainingState(net=net, optimizer=dp.SGD(lr=0.1), loss=dp.CrossEntropy(),
                                    rng=np.random.default_rng(0), threads=4)
    assert training._fit_threads(net, np.zeros((40, 5)), 20, None, resume, _TwoRanks()) == (1, None)
    assert training._fit_threads(net, np.zeros((40, 5)), 20, None, resume, None) == (4, None)  # alone: its own
