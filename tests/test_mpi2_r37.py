"""A run resumed on another number of MPI processes, and MNIST downloaded under ``mpiexec``.

A one-process resume of a checkpoint written by two processes kept the BLAS threads each rank
had (its share of the CPUs: 1 where 2 are free), though a resume on another count cannot repeat
the bits that the recorded count is kept for. And under ``mpiexec -n 2 deltaprop train --dataset
mnist`` with no copy on disk, every rank downloaded the dataset itself. The only network used is
a server on 127.0.0.1 that a test starts."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import shutil
import subprocess
import sys
import threading
import time
import zlib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from cli_in_process import run_cli
from mnist_files import write_mnist_files
from model_file_edits import edit_metadata

import deltaprop as dp
from deltaprop import cli, cpus, distributed, training
from deltaprop.data import mnist
from deltaprop.errors import StateError
from deltaprop.training import TrainingState


@pytest.fixture
def idle_machine(monkeypatch):
    """A machine whose BLAS may run 4 threads and where other processes leave 3 CPUs idle."""
    monkeypatch.setattr(training, "_blas_default", lambda: 4)
    monkeypatch.setattr(cpus, "idle_cpus", lambda *a, **k: 3.0)


# -- the BLAS threads of a resume on another number of processes ---------------------------------
def _large_step_run(tmp_path=None):
    """One epoch of steps whose largest GEMM is over SMALL_STEP_MACS (a new run takes the idle
    CPUs), trained on one thread; returns (net, optimizer, data, the state)."""
    rng = np.random.default_rng(0)
    X, y = rng.random((256, 256), dtype=np.float32), rng.integers(0, 2, 256)
    net, opt, states = dp.mlp([256, 256, 2], seed=0), dp.SGD(lr=0.1), []
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=1, batch_size=128, threads=1, seed=0,
           callbacks=[dp.LambdaCallback(on_train_end=states.append)], diagnostics=False)
    return net, opt, (X, y), states[0]


def _resumed_threads(processes) -> int:
    """The threads a one-process resume trains on, of a state recording 1 thread on ``processes``."""
    net, opt, (X, y), state = _large_step_run()
    data = state.to_dict()
    data["threads"] = 1
    if processes is None:
        del data["processes"]  # a checkpoint written before the processes were kept
    else:
        data["processes"] = processes
    resumed, states = TrainingState.from_dict(data, net=net, optimizer=opt), []
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=128, seed=0, resume=resumed,
           callbacks=[dp.LambdaCallback(on_train_end=states.append)], diagnostics=False)
    return states[0].threads


def test_a_one_process_resume_of_a_two_process_state_chooses_threads_as_a_new_run(idle_machine):
    assert _resumed_threads(2) == 3  # the idle CPUs, not the rank's share the state kept


@pytest.mark.parametrize("processes", [1, None])
def test_a_resume_on_the_recorded_count_keeps_the_recorded_threads(idle_machine, processes):
    assert _resumed_threads(processes) == 1


def test_the_state_keeps_the_processes_it_trained_on():
    net, opt, _, state = _large_step_run()
    assert state.processes == 1 and state.to_dict()["processes"] == 1
    assert TrainingState.from_dict(state.to_dict(), net=net, optimizer=opt).processes == 1


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_a_state_with_bad_processes_is_refused(bad):
    net, opt, _, state = _large_step_run()
    data = {**state.to_dict(), "processes": bad}
    with pytest.raises(StateError, match="processes"):
        TrainingState.from_dict(data, net=net, optimizer=opt)


@pytest.fixture
def run_folder(tmp_path, private_data_env):
    """A run of one epoch of large steps, trained by ``deltaprop train`` on one thread."""
    rng = np.random.default_rng(0)
    data = tmp_path / "rows.npz"
    np.savez(data, X=rng.random((200, 256), dtype=np.float32), y=rng.integers(0, 2, 200))
    res = run_cli("train", "--dataset", data, "--layers", "256,256,2", "--batch-size", "128", "--epochs", "1",
                  "--threads", "1", "--out", tmp_path / "run", "-q")
    assert res.returncode == 0, res.stderr
    return tmp_path / "run"


def _edit_state(run: Path, edit) -> None:
    checkpoint = run / "checkpoint.safetensors"

    def change(meta):
        state = json.loads(meta["training"])
        edit(state)
        meta["training"] = json.dumps(state)

    edit_metadata(checkpoint, checkpoint.with_name("edited"), change).replace(checkpoint)


def _last_session(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())["sessions"][-1]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_train_resume_on_one_process_of_a_two_process_checkpoint_takes_the_idle_cpus(run_folder, idle_machine):
    _edit_state(run_folder, lambda state: state.update(processes=2))
    res = run_cli("train", "--resume", run_folder, "--epochs", "2", "-q")
    assert res.returncode == 0, res.stderr
    assert _last_session(run_folder)["threads"] == 3
    assert ("note: the run's last epochs trained on 2 MPI processes (1 BLAS thread each); resumed on one process, "
            "it chooses its BLAS threads as a new run does (pass --threads N to set them)") in res.stderr


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_an_older_checkpoint_takes_the_processes_from_run_json(run_folder, idle_machine):
    _edit_state(run_folder, lambda state: state.pop("processes", None))
    facts = json.loads((run_folder / "run.json").read_text())
    facts["processes"] = facts["sessions"][-1]["processes"] = 2
    (run_folder / "run.json").write_text(json.dumps(facts))
    res = run_cli("train", "--resume", run_folder, "--epochs", "2", "-q")
    assert res.returncode == 0, res.stderr
    assert _last_session(run_folder)["threads"] == 3 and "trained on 2 MPI processes" in res.stderr


@pytest.mark.slow  # about 1.4 s in the quick suite on 2 cores
def test_a_resume_on_the_same_count_keeps_its_threads_and_says_nothing(run_folder, idle_machine):
    res = run_cli("train", "--resume", run_folder, "--epochs", "2", "-q")
    assert res.returncode == 0, res.stderr
    assert _last_session(run_folder)["threads"] == 1 and "note:" not in res.stderr


@pytest.mark.slow  # about 0.6 s in the quick suite on 2 cores
def test_resume_threads_given_on_another_count_says_the_count_changed(run_folder, idle_machine):
    _edit_state(run_folder, lambda state: state.update(processes=2))
    res = run_cli("train", "--resume", run_folder, "--epochs", "2", "--threads", "2", "-q")
    assert res.returncode == 0, res.stderr
    assert "resumed on one process, it trains on --threads 2" in res.stderr
    assert "leave out --threads to keep" not in res.stderr  # it would not keep 1 on one process
    assert _last_session(run_folder)["threads"] == 2


# -- MNIST downloaded once under mpiexec -----------------------------------------------------------
N_TRAIN, N_TEST = 40, 20


class _Mirror(SimpleHTTPRequestHandler):
    """Serves the files of ``directory``, each after ``delay`` seconds (404 for all: ``missing``),
    listing the paths asked for in ``asked``."""

    asked: list[str]
    delay = 0.0
    missing = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.asked.append(self.path)
        time.sleep(self.delay)
        if self.missing:
            self.send_error(404)
            return
        super().do_GET()


@pytest.fixture
def mirror(tmp_path):
    """``start(delay=0, missing=False)``: MNIST's four files (small) served on 127.0.0.1;
    returns (url, the paths asked for). The files lie in tmp_path/files."""
    write_mnist_files(tmp_path / "files", N_TRAIN, N_TEST)
    servers = []

    def start(delay: float = 0.0, missing: bool = False):
        asked: list[str] = []
        handler = type("Mirror", (_Mirror,), {"asked": asked, "delay": delay, "missing": missing})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(tmp_path / "files")))
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_port}/", asked

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def _small_mnist(folder: Path, url: str):
    """MNIST's spec for the files in ``folder``, downloaded from ``url`` only."""
    import gzip
    import hashlib

    files = {}
    for role, rf in mnist.MNIST.files.items():
        blob = (folder / rf.name).read_bytes()
        files[role] = dataclasses.replace(rf, digests=(("sha256", hashlib.sha256(blob).hexdigest()),),
                                          content_sha256=hashlib.sha256(gzip.decompress(blob)).hexdigest())
    return dataclasses.replace(mnist.MNIST, files=files, n_train=N_TRAIN, n_test=N_TEST, mirrors=[url], system_dirs=())


class _TwoRanks:
    """Rank ``rank`` of 2 whose partner is rank 0 that ``rank0_ok`` (got its data) or not, and
    then stopped before training (not ready, exit status 1); records each collective taken,
    what rank 0 broadcast and how many files the mirror had served by then."""

    def __init__(self, rank: int, rank0_ok: bool = True, asked: list | None = None):
        self.rank, self.rank0_ok, self.asked = rank, rank0_ok, asked
        self.calls, self.sent, self.asked_at_broadcast = [], None, None

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return 2

    def Bcast(self, buf, root=0):
        self.calls.append("Bcast")
        if self.rank == root:
            self.sent, self.asked_at_broadcast = int(buf[0]), len(self.asked or ())
        else:
            buf[...] = int(self.rank0_ok)

    def Allgather(self, mine, table):
        self.calls.append("Allgather")
        table[...] = [0, 1, zlib.crc32(b"rank 0's error") if self.rank else -1, 1]  # the other rank: not ready
        table[self.rank] = mine


@pytest.fixture
def on_rank(monkeypatch, mirror, tmp_path, private_data_env):
    """``go(rank, missing=False, rank0_ok=True)``: ``deltaprop train --dataset mnist`` run in this
    process as rank ``rank`` of 2 (:class:`_TwoRanks`) with the mirror started; returns (result,
    communicator, paths asked)."""

    def go(rank: int, missing: bool = False, rank0_ok: bool = True):
        url, asked = mirror(missing=missing)
        spec = _small_mnist(tmp_path / "files", url)
        monkeypatch.setattr(mnist, "MNIST", spec)
        monkeypatch.setattr(cli, "MNIST", spec)
        comm = _TwoRanks(rank, rank0_ok, asked)
        monkeypatch.setattr(distributed, "world", lambda: comm)
        res = run_cli("train", "--dataset", "mnist", "--layers", "784,8,10", "--epochs", "1", "--out",
                      tmp_path / "run", "-q")
        return res, comm, asked

    return go


def test_rank_0_downloads_the_dataset_before_it_lets_the_others_load_it(on_rank, private_data_env):
    res, comm, asked = on_rank(0)
    assert comm.calls[:2] == ["Bcast", "Allgather"] and comm.sent == 1
    assert comm.asked_at_broadcast == len(asked) == 4  # every file downloaded before the others read them


def test_the_other_ranks_wait_for_rank_0_and_read_its_copy(on_rank, tmp_path):
    # rank 0's copy in the cache: what rank 1 reads once told that rank 0 got its data
    shutil.copytree(tmp_path / "files", tmp_path / "xdg" / "deltaprop" / "mnist")
    res, comm, asked = on_rank(1)
    assert comm.calls[0] == "Bcast" and asked == []
    assert res.returncode == 1 and res.stderr == ""  # rank 0 stopped before training: it says why


def test_a_download_that_failed_on_rank_0_stops_the_others_before_they_try(on_rank):
    res, comm, asked = on_rank(1, rank0_ok=False)
    assert comm.calls == ["Bcast", "Allgather"] and asked == []
    assert res.returncode == 1 and res.stderr == ""  # rank 0's error alone is printed


def test_rank_0_whose_download_failed_tells_the_others_then_says_why(on_rank):
    res, comm, asked = on_rank(0, missing=True)
    assert comm.calls == ["Bcast", "Allgather"] and comm.sent == 0
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1 and "could not be downloaded" in lines[0]


MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(MPIEXEC is None or importlib.util.find_spec("mpi4py") is None,
                               reason="mpi4py and mpiexec not installed (uv sync --extra mpi)")
WORKER = Path(__file__).with_name("mpi_download_r37_worker.py")


def _mpiexec_train(tmp_path, url: str) -> subprocess.CompletedProcess:
    from test_distributed import _cached_in

    cmd = [MPIEXEC, "-n", "2", sys.executable, str(WORKER), str(tmp_path / "files"), url, str(N_TRAIN),
           str(N_TEST), "--dataset", "mnist", "--layers", "784,8,10", "--epochs", "1", "--out", "run", "-q"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_cached_in(tmp_path))


@needs_mpi
@pytest.mark.slow  # about a second
def test_mpiexec_train_downloads_mnist_once(mirror, tmp_path):
    url, asked = mirror(delay=0.05)  # slow enough that ranks downloading side by side both ask
    res = _mpiexec_train(tmp_path, url)
    assert res.returncode == 0, res.stderr
    assert sorted(asked) == sorted(f"/{rf.name}" for rf in mnist.MNIST.files.values())
    assert (tmp_path / "run" / "model.safetensors").is_file()


@needs_mpi
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_mpiexec_train_whose_download_fails_stops_every_rank_with_one_line(mirror, tmp_path):
    url, asked = mirror(missing=True)
    res = _mpiexec_train(tmp_path, url)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert "the mnist dataset is not on this machine" in lines[0] and "could not be downloaded" in lines[0]
    assert len(asked) == 1  # rank 0 alone tried, and stopped at the first file
