"""Data-parallel training: a rank that fails, and what the ranks sum, as a user scaling out meets them."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp


class _Rank:
    """Rank ``rank`` of ``size`` processes whose collectives copy this rank's part into every
    slot (the other ranks agree); each ``Allgather`` input is kept."""

    def __init__(self, rank: int = 1, size: int = 2):
        self.rank, self.size, self.gathered = rank, size, []

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Allgather(self, mine, table):
        self.gathered.append(np.array(mine, copy=True))
        table[...] = mine


class _Unreadable:
    """A lazy array (``shape``, ``len``, ``X[rows]``) whose rows cannot be read on this process."""

    def __init__(self, a):
        self.a, self.shape = a, a.shape

    def __len__(self):
        return len(self.a)

    def __getitem__(self, rows):
        raise OSError("the node's copy of the data is missing")


@pytest.mark.parametrize("diagnostics", [False, True], ids=["agreement", "diagnostics"])
def test_a_rank_that_cannot_read_its_data_tells_the_others_before_raising(diagnostics):
    # The fingerprint read some rows of a lazy X, and before it the diagnostics recorder; an
    # error there on one rank left the others waiting in the agreement's Allgather for ever
    # (mpiexec hung, no message).
    X = np.random.default_rng(0).normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    comm = _Rank()
    with pytest.raises(OSError, match="node's copy"):
        dp.fit(dp.mlp([4, 8, 2], seed=0), _Unreadable(X), y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
               epochs=1, batch_size=10, seed=0, comm=comm, diagnostics=diagnostics)
    assert len(comm.gathered) == 1 and not comm.gathered[0].any()  # "not ready": the others raise ConfigError


WORKER = Path(__file__).with_name("mpi_r37_worker.py")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(MPIEXEC is None or importlib.util.find_spec("mpi4py") is None,
                               reason="mpi4py and mpiexec not installed (uv sync --extra mpi)")


def _on_two_ranks(case: str, tmp_path) -> list[dict]:
    out = tmp_path / case
    subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(WORKER), case, str(out)], check=True, timeout=120,
                   capture_output=True)
    return [json.loads(Path(f"{out}_rank{r}.json").read_text()) for r in range(2)]


@needs_mpi
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_the_validation_accuracy_is_one_process_s_to_the_last_bit(tmp_path):
    # Each rank's accuracy times its rows, summed, gave 0.3636363636363636 for 16 of 44 rows
    # where one process records 16/44 = 0.36363636363636365: a tie with an earlier epoch's
    # accuracy then read as an improvement to a monitor with min_delta=0 on one path only.
    from mpi_r37_worker import val_accuracy

    one = val_accuracy()
    ranks = _on_two_ranks("val_accuracy", tmp_path)
    hits = sum(p == t for p, t in zip(one["predictions"], one["y_val"]))
    assert hits == 16 and one["val_accuracy"] == [16 / 44] * 2
    for rank in ranks:
        assert rank["predictions"] == one["predictions"]
        assert rank["val_accuracy"] == one["val_accuracy"]


@pytest.mark.parametrize("workers, started", [(8, 2), (None, None), (1, 1)])
def test_a_local_sweep_cluster_starts_no_more_workers_than_trials_to_run(tmp_path, monkeypatch, workers, started):
    # `--workers 1000` for 1 trial started 1000 worker processes (minutes of a machine brought
    # to a halt before the trial ran); the default, one per CPU, started 64 on a 64-CPU host
    # for a sweep of 2 trials: processes started only to wait.
    from deltaprop import sweep
    from deltaprop.errors import Error

    asked = []

    def client(n, scheduler):
        asked.append(n)
        raise Error("no cluster in this test")

    monkeypatch.setattr(sweep, "_client", client)
    trials = [sweep.Trial(i, {"lr": lr}, tmp_path / f"trial-{i:03d}") for i, lr in enumerate(("0.1", "0.3"))]
    with pytest.raises(Error, match="no cluster"):
        sweep.run_sweep(trials, config=None, workers=workers, say=lambda line: None)
    assert asked == [started or min(2, sweep._cpus())]


@pytest.mark.parametrize("counts, words", [([2], "2 MPI processes"), ([1, 3], "1, then 3 MPI processes, a session each"),
                                           ([1], None)])
def test_the_report_says_on_how_many_processes_the_run_trained(counts, words):
    # report.html showed the command as `deltaprop train ...` (mpiexec is not in it) and nothing
    # else said the run trained data-parallel; run.json and `deltaprop info` did.
    from deltaprop.report_html import render

    sessions = [{"command": ["deltaprop", "train"], "started": "2026-12-01 06:00:00 +0000", "processes": n}
                for n in counts]
    page = render([{"epoch": 1, "loss": 1.0, "lr": 0.1}], {"status": "done", "sessions": sessions,
                                                           "processes": counts[-1]})
    if words is None:
        assert "MPI" not in page
    else:
        assert f"<td>trained on</td><td><code>{words} (--batch-size is the global batch, shared among them)" in page

