"""Run by tests/test_resume_data_r39.py under ``mpiexec -n 2`` as
``mpi_resume_data_r39_worker.py FOLDER``: a data-parallel run stopped 3 batches into its
second epoch (rank 0 writes the checkpoint), then resumed from that checkpoint on both ranks
with other X, other y and its own rows. Each rank writes what each resume did (``ok STEPS``
or the error's message) to FOLDER/rank{r}.txt."""

import sys
from pathlib import Path

import numpy as np

import deltaprop as dp
from deltaprop.distributed import is_writer
from deltaprop.serialization import load_checkpoint

rng = np.random.default_rng(11)
X = rng.normal(size=(96, 6))
y = X[:, :3].argmax(1).astype(np.int64)


def _fit(net, opt, steps, X, y, comm, **kwargs):
    return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, steps=steps, batch_size=16, seed=5, threads=1,
                  diagnostics=False, comm=comm, **kwargs)


def main(folder: Path) -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    net = dp.Network([dp.Dense(6, 8), dp.Tanh(), dp.Dense(8, 3), dp.Softmax()], seed=3, dtype="float64")
    writers = [dp.CheckpointWriter(folder, interval=0)] if is_writer(comm) else []
    _fit(net, dp.SGD(lr=0.1, momentum=0.9), 9, X, y, comm, callbacks=writers)
    comm.Barrier()
    lines = []
    for name, (rows, labels) in (("X", (X * 1.5, y)), ("y", (X, (y + 1) % 3)), ("same", (X, y))):
        cp = load_checkpoint(folder / "checkpoint.safetensors")
        try:
            history = _fit(cp.net, cp.optimizer, 14, rows, labels, comm, resume=cp.training_state())
            lines.append(f"{name}: ok {history.records[-1]['steps']}")
        except dp.ConfigError as exc:
            lines.append(f"{name}: {exc}")
    (folder / f"rank{comm.Get_rank()}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
