"""Run by tests/test_distributed.py under ``mpiexec -n 2``: a callback raises on rank 1 alone
at the end of epoch 2 (KIND: an OSError, or a RuntimeError standing for a bug); the job must end."""

import sys

import numpy as np
from mpi4py import MPI

import deltaprop as dp


class FailsOnRank1(dp.Callback):
    def __init__(self, kind):
        self.kind = kind

    def on_epoch_end(self, state):
        if MPI.COMM_WORLD.Get_rank() == 1 and state.epoch >= 2:
            raise self.kind("disk full on rank 1")


def main(kind: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.mlp([8, 16, 2], activation="tanh", seed=0, dtype="float64")
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=6, batch_size=32, seed=0,
           comm=MPI.COMM_WORLD, callbacks=[FailsOnRank1({"OSError": OSError, "RuntimeError": RuntimeError}[kind])],
           diagnostics=False)
    print(f"rank {MPI.COMM_WORLD.Get_rank()} finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
