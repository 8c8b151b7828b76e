"""Run by tests/test_distributed.py under ``mpiexec -n 2``: one training row is so large
that the loss overflows on the one rank whose share of a batch holds it; each rank writes
the error it got (or none), the step it names and its weights to OUT_rank{r}.npz."""

import sys

import numpy as np
from mpi4py import MPI

import deltaprop as dp


def main(out: str) -> None:
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 6))
    X[100] = 1.5e308  # z = x W overflows to inf, the softmax gives NaN: on one rank only
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.Network([dp.Dense(6, 8), dp.ReLU(), dp.Dense(8, 2), dp.Softmax()], seed=1, dtype="float64")
    error, step = "", -1
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=3, batch_size=32, seed=3,
                   comm=comm, diagnostics=False)
        except dp.TrainingDivergedError as exc:
            error, step = str(exc), exc.step
    arrays = {f"p{i}": p.value for i, p in enumerate(net.parameters())}
    np.savez(f"{out}_rank{comm.Get_rank()}.npz", error=error, step=step, **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
