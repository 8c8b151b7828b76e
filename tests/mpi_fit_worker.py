"""Run by tests/test_distributed.py under ``mpiexec -n P`` as ``mpi_fit_worker.py OUT RUN...``,
each RUN ``DTYPE,OPTIMIZER,STEPS,DROPOUT``: trains a small network data-parallel for each
RUN in turn, in the same job, and writes each rank's final weights and history to
OUT_RUN_rank{r}.npz. :func:`train` is the same training on one process, without MPI."""

import sys

import numpy as np

import deltaprop as dp


def train(dtype: str, optimizer: str, steps: int, dropout: float, comm=None) -> dict[str, np.ndarray]:
    """The final weights (p0, p1, ...) and the history's loss, accuracy, val_loss and val_accuracy."""
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
                     validation=(X[240:], y[240:]), comm=comm)
    arrays = {f"p{i}": p.value for i, p in enumerate(net.parameters())}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        arrays[key] = np.asarray(history[key], dtype=np.float64)
    return arrays


def main(out: str, runs: list[str]) -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    for run in runs:
        dtype, optimizer, steps, dropout = run.split(",")
        arrays = train(dtype, optimizer, int(steps), float(dropout), comm if comm.Get_size() > 1 else None)
        np.savez(f"{out}_{run}_rank{comm.Get_rank()}.npz", **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
