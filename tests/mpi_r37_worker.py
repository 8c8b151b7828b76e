"""Run by tests/test_distributed_r37.py under ``mpiexec -n 2`` as ``mpi_r37_worker.py CASE OUT``:
each rank writes what ``fit`` ended with to OUT_rank{r}.json. :func:`run` is CASE on one
process (``comm=None``)."""

import json
import sys

import numpy as np

import deltaprop as dp


def val_accuracy(comm=None) -> dict:
    """44 validation rows, 22 a rank, of which the network gets 1 and 15 right: 16/44 is
    the accuracy one process records."""
    rng = np.random.default_rng(0)
    X, Xv = rng.normal(size=(40, 4)), rng.normal(size=(44, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.mlp([4, 8, 2], activation="tanh", seed=0, dtype="float64")
    guess = net.predict(Xv)  # the predictions all along: the rate is too small to change them
    hit = np.zeros(44, dtype=bool)
    hit[[0, *range(22, 37)]] = True
    yv = np.where(hit, guess, 1 - guess)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=1e-12), epochs=2, batch_size=20, seed=0,
                     validation=(Xv, yv), comm=comm, diagnostics=False)
    return {"val_accuracy": history.val_accuracy, "predictions": net.predict(Xv).tolist(), "y_val": yv.tolist()}


CASES = {"val_accuracy": val_accuracy}


if __name__ == "__main__":
    from mpi4py import MPI

    case, out = sys.argv[1], sys.argv[2]
    with open(f"{out}_rank{MPI.COMM_WORLD.Get_rank()}.json", "w") as f:
        json.dump(CASES[case](MPI.COMM_WORLD), f)
