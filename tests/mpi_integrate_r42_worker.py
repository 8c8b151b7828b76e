"""Run by tests/test_integrate_r42.py under ``mpiexec -n 2`` as ``mpi_integrate_r42_worker.py
FOLDER``: fits images (n, 4, 4) data-parallel with a validation set and writes, to
FOLDER/rank{r}.txt, the network's input_shape, the History's alerts_at_end, the validation
rows its alerts were judged on, and the BLAS threads the state records."""

import json
import sys
from pathlib import Path

import numpy as np

import deltaprop as dp


def main(folder: str) -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(0)
    X = rng.random((200, 4, 4))
    y = (X.reshape(200, -1).sum(1) > 8).astype(np.int64)
    net, seen = dp.mlp([16, 8, 2], seed=0), []
    keep = dp.LambdaCallback(on_train_end=lambda s: seen.append((s.alert_context.validation_rows, s.threads)))
    history = dp.fit(
        net,
        X[:160],
        y[:160],
        loss=dp.CrossEntropy(),
        optimizer=dp.SGD(lr=0.1),
        epochs=4,
        batch_size=16,
        seed=0,
        validation=(X[160:], y[160:]),
        comm=comm,
        callbacks=[keep],
    )
    lines = [
        json.dumps(list(net.input_shape)),
        json.dumps(history.alerts_at_end, sort_keys=True),
        json.dumps([seen[0][0], seen[0][1]]),
    ]
    Path(folder, f"rank{comm.Get_rank()}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
