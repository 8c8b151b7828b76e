"""Run by tests/test_distributed_divergence_r33.py under ``mpiexec -n 2`` as
``mpi_divergence_worker.py OUT CASE...``: trains each CASE data-parallel (or, with OUT
``-``, on one process) until it diverges and writes what each rank's
``TrainingDivergedError`` said to OUT_CASE_rank{r}.json. CASE ``lr``: a learning rate
that diverges; ``targets``: targets that overflow the loss on rank 1's rows only, with
finite outputs; ``val``: validation rows that overflow (``np.seterr(all="raise")``) on
rank 1's share only."""

import json
import sys

import numpy as np

import deltaprop as dp


def train(case: str, comm=None) -> dict:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = X @ rng.normal(size=(4, 1))
    lr = 50.0 if case == "lr" else 0.01
    if case == "targets":
        y[40:48] = 1e200  # in the second half of the whole batch: rank 1's share
    if case == "val":
        X[72:] *= 1e300  # the second half of the 16 validation rows: rank 1's share
    net = dp.Network([dp.Dense(4, 8), dp.ReLU(), dp.Dense(8, 1)], seed=1, dtype="float64")
    try:
        with np.errstate(all="raise" if case == "val" else "ignore"):
            dp.fit(net, X[:64], y[:64], loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=lr), epochs=20,
                   batch_size=None if case == "targets" else 32, seed=3, validation=(X[64:], y[64:]), comm=comm,
                   diagnostics=False)
    except dp.errors.TrainingDivergedError as exc:
        return {"message": str(exc), "layer": exc.layer, "epoch": exc.epoch, "step": exc.step}
    return {"message": None, "layer": None}


if __name__ == "__main__":
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    for case in sys.argv[2:]:
        result = train(case, comm)
        with open(f"{sys.argv[1]}_{case}_rank{comm.Get_rank()}.json", "w") as f:
            json.dump(result, f)
