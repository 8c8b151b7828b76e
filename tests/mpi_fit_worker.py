"""Run by tests/test_distributed.py under ``mpiexec -n P``: trains a small network
data-parallel and writes each rank's final weights and history to OUT_rank{r}.npz."""

import sys

import numpy as np
from mpi4py import MPI

import deltaprop as dp


def main(out: str, dtype: str, optimizer: str, steps: int, dropout: float) -> None:
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 1).astype(np.int64)
    layers = [dp.Dense(6, 16), dp.Tanh()]
    if dropout:
        layers.append(dp.Dropout(dropout))
    layers += [dp.Dense(16, 3), dp.Softmax()]
    net = dp.Network(layers, seed=1, dtype=dtype)
    opt = {"sgd": lambda: dp.SGD(lr=0.1, momentum=0.9), "adam": lambda: dp.Adam(lr=0.01)}[optimizer]()
    history = dp.fit(net, X[:240], y[:240], loss=dp.CrossEntropy(), optimizer=opt, steps=steps, batch_size=32, seed=3,
                     validation=(X[240:], y[240:]), comm=comm if comm.Get_size() > 1 else None)
    arrays = {f"p{i}": p.value for i, p in enumerate(net.parameters())}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        arrays[key] = np.asarray(history[key], dtype=np.float64)
    np.savez(f"{out}_rank{comm.Get_rank()}.npz", **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
