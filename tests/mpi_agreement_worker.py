"""Run by tests/test_distributed.py under ``mpiexec -n 2``: ``fit`` with data, seeds,
weights or training settings (optimizer, loss, schedule, dropout) that differ between the
ranks, one case after another in the same job; each rank writes what every case ended with
(the error, or "trained") to OUT_rank{r}.json."""

import json
import sys

import numpy as np
from mpi4py import MPI

import deltaprop as dp


def _threads_case(name: str, rank: int) -> str:
    """A step on either side of fit's one-thread bound (batch × widest layer), or threads=
    on one rank alone: fit's thread choice took an MPI collective on one rank only, and the
    job aborted ("Message truncated") instead of refusing or training."""
    X = np.random.default_rng(0).normal(size=(128, 784))
    y = (X[:, 0] > 0).astype(np.int64)
    batch = 8 if name == "batch_threshold" and rank else 64
    threads = 1 if name == "threads" and rank == 0 else None
    try:
        dp.fit(dp.mlp([784, 256, 2], seed=0, dtype="float64"), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
               epochs=1, batch_size=batch, seed=0, threads=threads, comm=MPI.COMM_WORLD, diagnostics=False)
    except dp.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    return "trained"


def _case(name: str, rank: int) -> str:
    if name in ("batch_threshold", "threads"):
        return _threads_case(name, rank)
    rng = np.random.default_rng(rank if name == "values" else 0)
    n = 200 + {"rows": 40, "rows_same_batches": 3}.get(name, 0) * rank
    X = rng.normal(size=(n, 8))
    y = (X[:, 0] > 0).astype(np.int64)
    if name == "prepare" and rank == 1:
        y = y[:-1]  # a length error on this rank alone
    dropout = 0.1 + 0.1 * rank if name == "dropout" else 0.1
    net = dp.mlp([8, 16, 2], activation="tanh", seed=rank if name == "weights" else 0, dtype="float64",
                 dropout=dropout)
    if name == "dropout_rng" and rank == 1:
        net.rng.random()  # the generator the masks come from, one draw ahead
    seed = rank if name == "seed" else 0
    optimizer = {"optimizer": dp.Adam(lr=0.05) if rank else dp.SGD(lr=0.1),
                 "lr": dp.SGD(lr=0.1 + 0.1 * rank), "momentum": dp.SGD(lr=0.1, momentum=0.5 * rank),
                 "weight_decay": dp.SGD(lr=0.1, weight_decay=1e-4 * rank)}.get(name, dp.SGD(lr=0.1))
    loss = dp.MeanSquaredError() if name == "loss" and rank else dp.CrossEntropy()
    schedule = "cosine" if name == "schedule" and rank else None
    try:
        dp.fit(net, X, y, loss=loss, optimizer=optimizer, epochs=2, batch_size=32, seed=seed, schedule=schedule,
               comm=MPI.COMM_WORLD, diagnostics=False)
    except dp.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    return "trained"


def main(out: str) -> None:
    rank = MPI.COMM_WORLD.Get_rank()
    cases = ["rows", "rows_same_batches", "values", "seed", "weights", "prepare", "optimizer", "lr", "momentum",
             "weight_decay", "loss", "schedule", "dropout", "dropout_rng", "batch_threshold", "threads", "same"]
    results = {name: _case(name, rank) for name in cases}
    with open(f"{out}_rank{rank}.json", "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1])
