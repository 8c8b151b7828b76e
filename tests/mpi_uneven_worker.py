"""Run by tests/test_distributed_review.py under ``mpiexec -n P`` as ``mpi_uneven_worker.py OUT``:
a weighted, dropout run whose global batches split unevenly among the ranks (33 rows on 2
ranks: 16 and 17; a last batch of 5: 2 and 3). Writes each rank's weights and history to
OUT_rank{r}.npz. :func:`train` is the same run on one process."""

import sys

import numpy as np

import deltaprop as dp


def train(comm=None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(140, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    w = rng.uniform(0.0, 3.0, size=104)
    net = dp.Network([dp.Dense(6, 16), dp.Tanh(), dp.Dropout(0.2), dp.Dense(16, 2), dp.Softmax()], seed=1,
                     dtype="float64")
    history = dp.fit(net, X[:104], y[:104], loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1, momentum=0.9), epochs=3,
                     batch_size=33, seed=3, validation=(X[104:], y[104:]), sample_weight=w, comm=comm)
    arrays = {f"p{i}": p.value for i, p in enumerate(net.parameters())}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        arrays[key] = np.asarray(history[key], dtype=np.float64)
    return arrays


if __name__ == "__main__":
    from mpi4py import MPI

    np.savez(f"{sys.argv[1]}_rank{MPI.COMM_WORLD.Get_rank()}.npz", **train(MPI.COMM_WORLD))
