"""Data-parallel training over MPI: equal to one process, identical weights on every rank."""

import functools
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.distributed import GradientAverager, ShardedBatches, StopVote, shard_bounds
from deltaprop.training import FullBatch, MiniBatches, SlidingWindows

WORKER = Path(__file__).with_name("mpi_fit_worker.py")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def _mpi_available() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return MPIEXEC is not None


needs_mpi = pytest.mark.skipif(not _mpi_available(), reason="mpi4py and mpiexec not installed (uv sync --extra mpi)")


def _run(out: Path, ranks: int, *runs: str) -> dict[str, list[dict[str, np.ndarray]]]:
    """Each RUN (``DTYPE,OPTIMIZER,STEPS,DROPOUT``) of ``tests/mpi_fit_worker.py``, one after
    another in one ``mpiexec -n RANKS`` job: what every rank ended with, by RUN."""
    cmd = [MPIEXEC, "-n", str(ranks), sys.executable, str(WORKER), str(out), *runs]
    subprocess.run(cmd, check=True, timeout=240, capture_output=True)
    return {run: [dict(np.load(f"{out}_{run}_rank{r}.npz")) for r in range(ranks)] for run in runs}


@functools.cache
def _one_process(run: str) -> dict[str, np.ndarray]:
    """RUN of ``tests/mpi_fit_worker.py`` on one process, without MPI (in this one)."""
    from mpi_fit_worker import train

    dtype, optimizer, steps, dropout = run.split(",")
    return train(dtype, optimizer, int(steps), float(dropout))


SGD64, ADAM64, SGD32 = "float64,sgd,200,0", "float64,adam,120,0.3", "float32,sgd,200,0"


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> dict[str, list[dict[str, np.ndarray]]]:
    """The data-parallel runs on two processes, in one job: each rank's weights and history."""
    return _run(tmp_path_factory.mktemp("fit") / "n2", 2, SGD64, ADAM64, SGD32)


def test_shards_cover_every_row_once():
    for m in (5, 32, 33, 128):
        for p in (1, 2, 3, 4):
            bounds = [shard_bounds(m, r, p) for r in range(p)]
            assert bounds[0][0] == 0 and bounds[-1][1] == m
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def test_each_rank_takes_its_rows_of_the_same_global_batch():
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    Y = np.eye(2, dtype=np.float32)[np.arange(20) % 2]
    rows = []
    for rank in range(2):
        source = ShardedBatches(MiniBatches(X, Y, None, 8), rank, 2)
        source.start_epoch(np.random.default_rng(5))
        rows.append(np.concatenate([source.batch(k)[0][:, 0] // 2 for k in range(3)]))
    whole = MiniBatches(X, Y, None, 8)
    whole.start_epoch(np.random.default_rng(5))
    order = np.concatenate([whole.indices(k) for k in range(3)])
    assert sorted(np.concatenate(rows).astype(int)) == list(range(20))
    np.testing.assert_array_equal(rows[0][:4], order[:4])
    np.testing.assert_array_equal(rows[1][:4], order[4:8])


def test_a_batch_smaller_than_the_process_count_is_refused():
    X = np.zeros((9, 2), dtype=np.float32)
    Y = np.zeros((9, 2), dtype=np.float32)
    with pytest.raises(dp.ConfigError, match="cannot be shared among 2 processes"):
        ShardedBatches(MiniBatches(X, Y, None, 4), 0, 2)  # the last batch has 1 row
    with pytest.raises(dp.ConfigError, match="at least 4 rows"):
        ShardedBatches(FullBatch(X[:3], Y[:3], None), 0, 4)


def test_a_short_last_batch_is_named_with_the_training_rows_and_a_batch_size_that_fits():
    X = np.zeros((9, 2), dtype=np.float32)
    with pytest.raises(dp.ConfigError, match=r"the last batch of 9 training rows has 1 row \(batch size 4\), which "
                                             r"cannot be shared among 2 processes; .* such as 3$"):
        ShardedBatches(MiniBatches(X, X, None, 4), 0, 2)


def test_sliding_windows_are_shared_whatever_the_remainder():
    # every window holds batch_size + 1 rows (they wrap around): 206 % 41 == 1 was refused as a 1-row batch
    X = np.arange(412, dtype=np.float64).reshape(206, 2)
    windows = SlidingWindows(X, X, None, 40)
    shares = [ShardedBatches(SlidingWindows(X, X, None, 40), rank, 2) for rank in range(2)]
    n = windows.start_epoch(None)
    for share in shares:
        assert share.start_epoch(None) == n
    for k in range(n):
        rows = np.concatenate([share.batch(k)[0] for share in shares])
        np.testing.assert_array_equal(rows, X[windows.indices(k)])


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("ranks", [2, 4])
def test_data_parallel_equals_one_process_in_float64(tmp_path, two_ranks, ranks):
    one = _one_process(SGD64)
    many = two_ranks[SGD64] if ranks == 2 else _run(tmp_path / "n4", 4, SGD64)[SGD64]
    for rank in many[1:]:
        for key in many[0]:
            np.testing.assert_array_equal(rank[key], many[0][key], err_msg=f"{key} differs between ranks")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(many[0][key], one[key], rtol=1e-5)
    for key in one:
        np.testing.assert_allclose(many[0][key], one[key], rtol=1e-5, atol=1e-9)


@needs_mpi
@pytest.mark.slow
def test_dropout_and_adam_draw_the_masks_one_process_would(two_ranks):
    one = _one_process(ADAM64)
    two = two_ranks[ADAM64]
    for key in one:
        np.testing.assert_array_equal(two[0][key], two[1][key])
        np.testing.assert_allclose(two[0][key], one[key], rtol=1e-5, atol=1e-9)


@needs_mpi
@pytest.mark.slow
def test_float32_reaches_the_same_accuracy(two_ranks):
    one = _one_process(SGD32)
    two = two_ranks[SGD32]
    assert abs(two[0]["val_accuracy"][-1] - one["val_accuracy"][-1]) <= 0.005


#: matplotlib's folder as this process has it, so that a run with another user cache does not
#: build matplotlib's font list again (a third of a second in every rank 0 that draws)
MPL_DIR = os.environ.get("MPLCONFIGDIR") or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                                                / "matplotlib")


def _cached_in(folder) -> dict[str, str]:
    """The environment with the user cache (where mapped copies of gzip files go) in ``folder``."""
    return {**os.environ, "XDG_CACHE_HOME": str(Path(folder) / "cache"), "MPLCONFIGDIR": MPL_DIR}


def _cli(ranks: int, *args: str, cwd) -> subprocess.CompletedProcess:
    """``deltaprop train ARGS`` in ``cwd``: under ``mpiexec -n RANKS``, or on one process
    without MPI, which runs in this one (:func:`cli_in_process.run_cli`)."""
    if ranks == 1:
        return run_cli("train", *args, cwd=cwd, env={k: _cached_in(cwd)[k] for k in ("XDG_CACHE_HOME", "MPLCONFIGDIR")})
    exe = str(Path(sys.executable).with_name("deltaprop"))
    cmd = [MPIEXEC, "-n", str(ranks), exe, "train", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=_cached_in(cwd))


def _weights(path: Path) -> list[np.ndarray]:
    return [p.value for p in dp.load(path).parameters()]


TWO_RANK_RUN = ("--dtype", "float64", "--batch-size", "40", "--seed", "3")


@pytest.fixture(scope="module")
def run_on_two_ranks(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, list[dict]]:
    """``deltaprop train --epochs 1 --out two`` (TWO_RANK_RUN) under ``mpiexec -n 2``, in a
    folder of its own, through ``tests/mpi_cli_data_worker.py`` (the command line's ``main``,
    each rank recording what its ``fit`` was handed): the job, the folder, what each rank saw.
    Tests must not change the folder."""
    folder = tmp_path_factory.mktemp("two-ranks")
    cwd = folder / "cwd"
    cwd.mkdir()
    worker = WORKER.with_name("mpi_cli_data_worker.py")
    cmd = [MPIEXEC, "-n", "2", sys.executable, str(worker), str(folder / "seen"), "--epochs", "1", "--out", "two",
           *TWO_RANK_RUN]
    job = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=_cached_in(cwd))
    seen = [json.loads((folder / f"seen_rank{rank}.json").read_text()) for rank in range(2)]
    return job, cwd, seen


@needs_mpi
@pytest.mark.slow
def test_mpiexec_train_writes_one_run_from_rank_0_and_resumes_on_another_rank_count(tmp_path, run_on_two_ranks):
    two, folder, _ = run_on_two_ranks
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("wrote two/") == 1 and "2 MPI processes" in two.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["cache", "two"]  # no folder from rank 1
    shutil.copytree(folder / "two", tmp_path / "two")
    one = _cli(1, "--epochs", "2", "--out", "one", *TWO_RANK_RUN, cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    # the run started on two processes goes on in one, then in two again
    resumed = _cli(1, "--resume", "two", "--epochs", "2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    for a, b in zip(_weights(tmp_path / "one" / "model.safetensors"), _weights(tmp_path / "two" / "model.safetensors")):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    again = _cli(2, "--resume", "two", "--epochs", "2", cwd=tmp_path)
    assert again.returncode != 0 and "already has 2 epochs" in again.stderr


@needs_mpi
@pytest.mark.slow
def test_mpiexec_train_with_early_stopping_stops_every_rank_where_one_process_stops(tmp_path):
    # every rank needs the stopper: without it rank 1 went on to epoch 7 while rank 0 waited
    common = ("--dtype", "float64", "--layers", "784,20,10", "--lr", "3", "--batch-size", "200", "--epochs", "30",
              "--early-stopping", "1", "--quiet")
    one = _cli(1, *common, "--out", "one", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = _cli(2, *common, "--out", "two", cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    rows = [(tmp_path / run / "history.csv").read_text().count("\n") for run in ("one", "two")]
    assert rows[0] == rows[1] < 31  # it stopped, at the same epoch
    for a, b in zip(_weights(tmp_path / "one" / "model.safetensors"), _weights(tmp_path / "two" / "model.safetensors")):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


THREADS_SCRIPT = """
import os, sys
import numpy as np
from mpi4py import MPI
import deltaprop as dp, deltaprop.cpus
deltaprop.cpus.idle_cpus = lambda *a, **k: float(os.cpu_count())  # what an idle host measures
comm = MPI.COMM_WORLD
X = np.random.default_rng(0).random((256, 784)).astype(np.float32)
box = {}
keep = dp.LambdaCallback(on_train_end=lambda s: box.update(threads=s.threads))
dp.fit(dp.mlp([784, 256, 10], seed=0), X, np.arange(256) % 10, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
       steps=1, batch_size=128, seed=0, callbacks=[keep], comm=comm, diagnostics=False)
with open(f"{sys.argv[1]}.{comm.Get_rank()}", "w") as f:  # one file a rank: printed lines can interleave
    f.write(f"{comm.Get_rank()} {box['threads']} {len(os.sched_getaffinity(0))}")
"""


@needs_mpi
@pytest.mark.slow
def test_mpiexec_train_that_diverges_prints_one_line(tmp_path):
    # the step's stop vote was left pending, and MPICH reported it at exit, twice
    res = _cli(2, "--lr", "1e12", "--activation", "relu", "--epochs", "2", "--quiet", "--out", "dv", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.startswith("deltaprop: error: training diverged at epoch 1") and res.stderr.count("\n") == 1, \
        res.stderr


@needs_mpi
@pytest.mark.slow
def test_fit_over_mpi_shares_the_hosts_cpus_among_its_ranks(tmp_path):
    # each rank measured the host idle and took every CPU: 2 ranks x 2 threads on 2 CPUs
    (tmp_path / "threads.py").write_text(THREADS_SCRIPT)
    res = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(tmp_path / "threads.py"), str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = sorted(tuple(map(int, (tmp_path / f"out.{r}").read_text().split())) for r in (0, 1))
    assert [rank for rank, _, _ in lines] == [0, 1]
    assert all(threads == max(1, cpus // 2) for _, threads, cpus in lines), lines


@needs_mpi
@pytest.mark.slow
def test_an_error_on_rank_0_stops_every_rank_with_the_status_of_one_process(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.toml").write_text("x = 1\n")
    one = _cli(1, "--epochs", "1", "--out", "taken", cwd=tmp_path)
    result = _cli(2, "--epochs", "1", "--out", "taken", cwd=tmp_path)
    # rank 0 exited 2 and rank 1 (stopped by it) 1, which mpiexec combined into 3
    assert one.returncode == result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1, result.stderr


@needs_mpi
@pytest.mark.slow
def test_a_steps_stop_mid_epoch_resumes_on_another_process_count_with_the_same_history(tmp_path):
    from deltaprop.training import History

    # with dropout: each rank reads its rows from disk in file order, yet the masks fall on
    # the rows one process would give them
    common = ("--dtype", "float64", "--batch-size", "40", "--seed", "5", "--dropout", "0.2")
    whole = _cli(1, "--steps", "200", "--out", "whole", *common, cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    part = _cli(2, "--steps", "100", "--out", "split", *common, cwd=tmp_path)  # stops inside epoch 1
    assert part.returncode == 0, part.stderr
    rest = _cli(1, "--resume", "split", "--steps", "200", cwd=tmp_path)
    assert rest.returncode == 0, rest.stderr
    a = History.read_csv(tmp_path / "whole" / "history.csv").records
    b = History.read_csv(tmp_path / "split" / "history.csv").records
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "steps"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-6), key


class _OneRank:
    """A communicator of one process (its collectives copy), for the vote's unit tests."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def Allreduce(self, mine, total):
        np.copyto(total, mine)

    def Iallreduce(self, mine, total):
        np.copyto(total, mine)
        return self  # a request already done

    def Wait(self):
        return None


def test_a_first_ctrl_c_only_marks_the_rank_and_a_second_one_stops_it_at_once():
    vote = StopVote(_OneRank())
    with vote:
        assert signal.getsignal(signal.SIGINT) == vote._mark
        assert not vote.stop_now()
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt: the step finishes
        assert vote.asked and vote.stop_now()
        vote.asked = False
        assert not vote.stop_at_step()  # starts the first step vote
        vote.asked = True
        assert not vote.stop_at_step()  # answers the vote started before the mark, starts another
        assert vote.stop_at_step()  # that one saw the mark
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_vote_inside_another_for_the_same_ranks_is_that_one():
    comm = _OneRank()
    with StopVote(comm) as outer:
        with StopVote(comm) as inner:
            assert inner is outer
        assert signal.getsignal(signal.SIGINT) == outer._mark  # the inner exit leaves it in place
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_agreed_stop_raises_before_the_gradients_are_reduced():
    class Refusing(_OneRank):
        def Reduce(self, *args, **kwargs):
            raise AssertionError("reduced after the ranks agreed to stop")

    comm = Refusing()
    source = ShardedBatches(MiniBatches(np.zeros((8, 2)), np.zeros((8, 2)), None, 4), 0, 1)
    averager = GradientAverager(comm, source, StopVote(comm))
    averager.vote.asked = True
    averager.vote.stop_at_step()  # the step before voted
    with pytest.raises(KeyboardInterrupt):
        averager.on_gradients(None)


@needs_mpi
@pytest.mark.slow
def test_ctrl_c_reaching_one_rank_stops_both_at_the_same_step(stop_cases):
    ranks = stop_cases["interrupt"]
    assert all(r["interrupted"] for r in ranks)  # rank 0 never got the signal, yet stopped too
    assert ranks[0]["step"] == ranks[1]["step"] == 8  # step 8 started the vote, step 9 read it
    assert ranks[0]["weights"] == ranks[1]["weights"] != -1


@needs_mpi
@pytest.mark.slow
def test_a_loss_that_overflows_on_one_rank_stops_both_at_the_same_step(stop_cases):
    ranks = stop_cases["loss_overflow"]
    errors = [r["error"].removeprefix("TrainingDivergedError: ") for r in ranks]
    assert all(e.startswith("training diverged at epoch ") for e in errors), errors
    assert errors[0].split(":")[0] == errors[1].split(":")[0]  # the same epoch and step named on both
    assert errors[0] == errors[1] and "the loss is nan on process" in errors[0]  # the rank that saw it, on both
    assert ranks[0]["step"] == ranks[1]["step"] > 0
    assert ranks[0]["weights"] == ranks[1]["weights"] != -1  # the last finite weights, the same on both ranks


@pytest.fixture(scope="module")
def stop_cases(tmp_path_factory) -> dict[str, list[dict]]:
    """``tests/mpi_stop_worker.py OUT CASE...`` under ``mpiexec -n 2``, every case in one job:
    what each rank ended with, by case."""
    out = tmp_path_factory.mktemp("stop") / "stop"
    cases = ["overflow", "validation_overflow", "early_stopping", "mid_epoch", "loss_overflow", "interrupt"]
    cmd = [MPIEXEC, "-n", "2", sys.executable, str(WORKER.with_name("mpi_stop_worker.py")), str(out), *cases]
    subprocess.run(cmd, check=True, timeout=60, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    ranks = [json.loads(Path(f"{out}_rank{r}.json").read_text()) for r in range(2)]
    return {case: [rank[case] for rank in ranks] for case in cases}


@needs_mpi
@pytest.mark.slow
def test_numpy_raising_on_one_ranks_rows_stops_every_rank_at_the_same_step(stop_cases):
    # under np.seterr(all="raise") the rank whose rows overflowed raised alone; rank 0 waited in the reduction
    ranks = stop_cases["overflow"]
    assert all(r["error"].startswith("TrainingDivergedError: training diverged at epoch 1, step 1:") for r in ranks)
    assert "numpy raised FloatingPointError('overflow" in ranks[1]["error"] and "on process 1" in ranks[1]["error"]
    assert ranks[0]["error"] == ranks[1]["error"]  # every rank reports the same divergence
    assert ranks[0]["weights"] == ranks[1]["weights"] != -1  # the same finite weights on both


@needs_mpi
@pytest.mark.slow
def test_numpy_raising_on_one_ranks_validation_rows_stops_every_rank_after_the_same_epoch(stop_cases):
    # rank 1 raised alone while scoring its validation share; the job ended by Abort
    ranks = stop_cases["validation_overflow"]
    assert all(r["error"].startswith("TrainingDivergedError: training diverged at epoch 1, step 2:") for r in ranks)
    assert "scoring the validation rows of process 1" in ranks[1]["error"]
    assert ranks[0]["error"] == ranks[1]["error"]  # every rank reports the same divergence
    assert ranks[0]["weights"] == ranks[1]["weights"] != -1


@needs_mpi
@pytest.mark.slow
def test_early_stopping_given_to_one_rank_stops_every_rank_after_the_same_epoch(stop_cases):
    ranks = stop_cases["early_stopping"]  # rank 1 went on training while rank 0 waited
    assert ranks[0]["epochs"] == ranks[1]["epochs"] < 30


@needs_mpi
@pytest.mark.slow
def test_a_stop_asked_by_one_rank_mid_epoch_ends_that_epoch_on_every_rank(stop_cases):
    ranks = stop_cases["mid_epoch"]  # asked at step 13, in the middle of epoch 2
    assert ranks[0]["epochs"] == ranks[1]["epochs"] == 2
    assert ranks[0]["weights"] == ranks[1]["weights"]


class _TwinRanks(_OneRank):
    """Two ranks that hold the same rows and weights, played by one process (the other
    rank's contribution to every sum is this one's again); counts the collectives."""

    def __init__(self):
        self.calls: dict[str, int] = {}

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def Get_size(self):
        return 2

    def Allgather(self, mine, table):
        self._count("Allgather")
        table[:] = mine

    def Allreduce(self, mine, total):
        self._count("Allreduce")
        np.multiply(mine, 2, out=total)

    def Iallreduce(self, mine, total):
        self._count("Iallreduce")
        np.multiply(mine, 2, out=total)
        return self

    def Reduce(self, mine, total, root=0):
        self._count("Reduce")
        np.multiply(mine, 2, out=total)

    def Bcast(self, buffer, root=0):
        self._count("Bcast")


def _twin_fit(epochs: int, callbacks=()) -> tuple[int, dict[str, int]]:
    comm = _TwinRanks()
    X = np.random.default_rng(0).normal(size=(100, 4))
    net = dp.mlp([4, 5, 2], seed=0, dtype="float64")
    history = dp.fit(net, X, (X[:, 0] > 0).astype(int), loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
                     epochs=epochs, batch_size=10, seed=0, threads=1, comm=comm, callbacks=callbacks,
                     diagnostics=False)
    return len(history), comm.calls


def test_the_ranks_agree_on_stopping_with_one_small_collective_an_epoch():
    _, two = _twin_fit(2)
    _, five = _twin_fit(5)
    assert five["Allreduce"] - two["Allreduce"] == 3  # one an epoch (10 steps each), not one a step
    assert five["Reduce"] - two["Reduce"] == 30 + 3  # the steps' gradients, the epochs' training sums
    stop = dp.LambdaCallback(on_epoch_end=lambda state: setattr(state, "stop_training", state.epoch == 2))
    assert _twin_fit(5, [stop])[0] == 2


def test_callbacks_count_the_rows_of_the_global_batch():
    # a progress bar on rank 0 stopped at half the epoch: it was told of that rank's share of each batch
    class Bar(dp.ProgressBar):
        def on_epoch_end(self, state):
            ends.append((self._bar.n, self._bar.total))
            super().on_epoch_end(state)

    ends, rows = [], []
    seen = dp.LambdaCallback(on_batch_end=lambda state, batch_size, batch_loss: rows.append(batch_size))
    _twin_fit(2, [Bar(file=io.StringIO()), seen])
    assert ends == [(100, 100), (100, 100)] and rows == [10] * 20


@needs_mpi
@pytest.mark.slow
def test_ctrl_c_on_mpiexec_keeps_a_checkpoint_that_resumes_to_the_uninterrupted_history(tmp_path):
    from deltaprop.serialization import load_checkpoint
    from deltaprop.training import History

    common = ("--dataset", "parity", "--dtype", "float64", "--batch-size", "20", "--seed", "4")
    exe = str(Path(sys.executable).with_name("deltaprop"))
    cmd = [MPIEXEC, "-n", "2", exe, "train", "--epochs", "500", "--out", "cut", *common]
    # a terminal's Ctrl-C goes to mpiexec's process group; mpiexec forwards SIGINT to every rank
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True, text=True, env=_cached_in(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # rank 0 prints an epoch's line after keeping its checkpoint, which a Ctrl-C writes
        deadline = time.monotonic() + 180
        while not any(line.startswith("epoch 1/500") for line in _read_ready(proc.stdout)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # no rank may be left waiting in a collective
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err  # every rank exits 130 (mpiexec combines their statuses)
    assert "Traceback" not in err
    kept = load_checkpoint(tmp_path / "cut" / "checkpoint.safetensors").training["epoch"]
    assert f"interrupted; the checkpoint of epoch {kept} is in cut" in err
    assert kept < 500 and not (tmp_path / "cut" / "model.safetensors").exists()
    # go on to two epochs past the checkpoint, on one process then on two
    for ranks, epochs in ((1, kept + 1), (2, kept + 2)):
        more = _cli(ranks, "--resume", "cut", "--epochs", str(epochs), cwd=tmp_path)
        assert more.returncode == 0, more.stderr
    whole = _cli(1, "--epochs", str(kept + 2), "--out", "whole", *common, cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    a = History.read_csv(tmp_path / "whole" / "history.csv").records
    b = History.read_csv(tmp_path / "cut" / "history.csv").records
    assert len(a) == len(b) == kept + 2
    for ra, rb in zip(a, b):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "steps"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-6), key


def test_a_row_view_reads_its_rows_only_when_indexed():
    from deltaprop.data import RowView

    base = np.arange(60, dtype=np.uint8).reshape(20, 3)
    view = RowView(base, np.array([7, 2, 19, 4]))
    assert view.shape == (4, 3) and len(view) == 4 and view.dtype == np.uint8
    np.testing.assert_array_equal(view[np.array([1, 3])], base[[2, 4]])
    np.testing.assert_array_equal(view[:], base[[7, 2, 19, 4]])
    np.testing.assert_array_equal(np.concatenate(list(view.chunks(rows=3))), base[[7, 2, 19, 4]])
    np.testing.assert_array_equal(view.extremes(), [[6, 7, 8], [57, 58, 59]])  # rows 2 and 19, per column


def test_a_gzip_idx_file_is_decompressed_once_into_the_cache_and_mapped(tmp_path, monkeypatch):
    from deltaprop.data import mapped_idx, write_idx

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    images = np.random.default_rng(0).integers(0, 256, size=(50, 4, 4), dtype=np.uint8)
    gz = write_idx(tmp_path / "images-idx3-ubyte.gz", images)
    first = mapped_idx(gz)
    assert isinstance(first, np.memmap)
    np.testing.assert_array_equal(first, images)
    copies = [p for p in (tmp_path / "cache" / "deltaprop" / "mapped").iterdir() if p.suffix != ".sha256"]
    assert len(copies) == 1 and copies[0].with_name(copies[0].name + ".sha256").is_file()  # the copy and its digest
    stamp = copies[0].stat().st_mtime_ns
    np.testing.assert_array_equal(mapped_idx(gz), images)
    assert copies[0].stat().st_mtime_ns == stamp  # reused, not written again
    raw = write_idx(tmp_path / "raw-idx3-ubyte", images)
    assert isinstance(mapped_idx(raw), np.memmap) and len(list(copies[0].parent.iterdir())) == 2


@needs_mpi
@pytest.mark.slow
def test_mpiexec_train_hands_each_rank_views_of_mapped_images_not_the_arrays(run_on_two_ranks):
    for seen in run_on_two_ranks[2]:
        assert seen["status"] == 0
        # rows are read a batch at a time from the page cache, never converted whole
        assert (seen["x"], seen["x_base"], seen["val"], seen["val_base"]) == ("RowView", "memmap", "RowView", "memmap")
        assert seen["x_rows"] == 3600 and seen["x_test"] == "memmap"


@pytest.fixture(scope="module")
def agreement(tmp_path_factory) -> list[dict[str, str]]:
    """What each case of ``tests/mpi_agreement_worker.py`` ended with on each of two ranks."""
    out = tmp_path_factory.mktemp("agree") / "agree"
    cmd = [MPIEXEC, "-n", "2", sys.executable, str(WORKER.with_name("mpi_agreement_worker.py")), str(out)]
    subprocess.run(cmd, check=True, timeout=60, capture_output=True)
    return [json.loads(Path(f"{out}_rank{r}.json").read_text()) for r in range(2)]


@needs_mpi
@pytest.mark.slow
def test_ranks_that_were_given_different_runs_all_refuse_to_train(agreement):
    """Rows, values, shuffling seed or weights that differ between ranks: the same ConfigError
    on both (240 rows against 200 hung in a collective; 203 against 200 trained silently)."""
    ranks = agreement
    assert ranks[0]["rows"] == ranks[1]["rows"]
    assert "ConfigError: process 1 has 240 training rows where process 0 has 200" in ranks[0]["rows"]
    assert "process 1 has 203 training rows where process 0 has 200" in ranks[1]["rows_same_batches"]
    assert "process 1's X differs from process 0's" in ranks[0]["values"]
    assert "process 1's shuffling generator differs" in ranks[0]["seed"]
    assert "process 1's initial weights differ" in ranks[1]["weights"]
    assert ranks[1]["prepare"].startswith("ShapeError")  # the rank that failed raises its own error
    assert "process 1 of 2 could not start data-parallel training" in ranks[0]["prepare"]
    assert ranks[0]["same"] == ranks[1]["same"] == "trained"


@needs_mpi
@pytest.mark.slow
def test_ranks_given_different_training_settings_all_refuse_to_train(agreement):
    """SGD lr 0.1 on rank 0 and Adam lr 0.05 on rank 1 trained on, the weights drifting apart;
    so did any other optimizer, loss, schedule or dropout setting that differed."""
    ranks = agreement
    expected = {
        "optimizer": "process 1's optimizer differs from process 0's",
        "lr": "process 1's learning rate is 0.2 where process 0's is 0.1",
        "momentum": "process 1's optimizer settings differ from process 0's",
        "weight_decay": "process 1's weight decay is 0.0001 where process 0's is 0",
        "loss": "process 1's loss differs from process 0's",
        "schedule": "process 1's learning-rate schedule differs from process 0's",
        "dropout": "process 1's layers (activations, dropout rates) differ from process 0's",
        "dropout_rng": "process 1's dropout generator differs from process 0's",
        "batch_threshold": "process 1 has 8 batch size where process 0 has 64",  # was an MPI abort
    }
    for case, words in expected.items():
        assert ranks[0][case] == ranks[1][case], case  # the same error on every rank
        assert ranks[0][case].startswith(f"ConfigError: {words}"), (case, ranks[0][case])
    assert ranks[0]["threads"] == ranks[1]["threads"] == "trained"  # threads=1 on one rank: was an MPI abort


def _rank_fails(kind: str) -> subprocess.CompletedProcess:
    cmd = [MPIEXEC, "-n", "2", sys.executable, str(WORKER.with_name("mpi_rankfail_worker.py")), kind]
    return subprocess.run(cmd, timeout=60, capture_output=True, text=True)


@needs_mpi
@pytest.mark.slow
def test_an_exception_on_one_rank_during_training_ends_every_rank():
    result = _rank_fails("OSError")  # it hung, rank 0 waiting in a collective
    assert result.returncode != 0
    assert "finished" not in result.stdout
    assert ("deltaprop: error: process 1 of 2 failed during data-parallel training (OSError: disk full on rank 1); "
            "ending every process") in result.stderr
    assert "Traceback" not in result.stderr


@needs_mpi
@pytest.mark.slow
def test_an_unexpected_exception_on_one_rank_keeps_its_traceback():
    result = _rank_fails("RuntimeError")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "RuntimeError: disk full on rank 1" in result.stderr


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("option, message", [
    (("--lr", "-1"), "lr must be > 0"),
    (("--batch-size", "1"), "a global batch of 1 row cannot be shared among 3 processes"),
])
def test_an_error_every_rank_meets_is_printed_once(tmp_path, option, message):
    result = subprocess.run([MPIEXEC, "-n", "3", str(Path(sys.executable).with_name("deltaprop")), "train", *option,
                             "--epochs", "1", "--out", "run"], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env=_cached_in(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("error:") == 1 and message in result.stderr, result.stderr  # ranks' lines may interleave
    assert not (tmp_path / "run").exists()  # a config.toml left there refused the corrected run


@needs_mpi
@pytest.mark.slow
def test_mpiexec_train_reads_its_command_line_as_one_process_does(tmp_path):
    """Every rank reads the same command line: a resume named by its checkpoint file works,
    and an unknown option or a missing run folder is one line, from rank 0 (the other ranks
    resolved a checkpoint file as a folder, and printed the errors again, or other ones)."""
    common = ("--dataset", "parity", "--epochs", "1", "--batch-size", "20", "--quiet")
    first = _cli(1, *common, "--out", "run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    more = _cli(2, "--resume", "run/checkpoint.safetensors", "--epochs", "2", "--quiet", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    from deltaprop.serialization import load_checkpoint

    assert len(load_checkpoint(tmp_path / "run" / "checkpoint.safetensors").training["history"]) == 2
    for args, words, status in ((("--bogus",), "unrecognized arguments: --bogus", 2),
                                (("--resume", "nope"), "nope: no such run folder to resume", 1)):
        res = _cli(2, *args, cwd=tmp_path)
        assert res.returncode == status and res.stderr.count("\n") == 1 and words in res.stderr, (args, res.stderr)
    header = _cli(2, "--dataset", "parity", "--epochs", "1", "--threads", "2", "--out", "h", cwd=tmp_path)
    assert header.returncode == 0, header.stderr
    assert "2 MPI processes (2 BLAS threads each)" in header.stdout, header.stdout
    assert json.loads((tmp_path / "h" / "run.json").read_text())["threads"] == 2


@needs_mpi
@pytest.mark.slow
def test_ctrl_c_on_mpiexec_train_serve_after_training_ends_cleanly(tmp_path):
    """Rank 0 serves on after training; the other rank waits for it at exit, where the
    forwarded Ctrl-C killed it ("BAD TERMINATION", exit 2) instead of letting it wait."""
    exe = str(Path(sys.executable).with_name("deltaprop"))
    cmd = [MPIEXEC, "-n", "2", exe, "train", "--dataset", "parity", "--epochs", "2", "--serve", "0", "--out", "sv",
           "--quiet"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True, text=True, env=_cached_in(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while "still serving" not in "".join(_read_ready(proc.stderr)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.5)  # the other rank is waiting for rank 0 at exit by now
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "BAD TERMINATION" not in out + err and "Traceback" not in err


def _read_ready(stream, seconds: float = 0.5) -> list[str]:
    """The lines ``stream`` has ready within ``seconds`` (none if it has none)."""
    import select

    lines = []
    while select.select([stream], [], [], seconds)[0]:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        seconds = 0.0
    return lines
