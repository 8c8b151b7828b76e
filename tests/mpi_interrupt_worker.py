"""Run by tests/test_distributed.py under ``mpiexec -n 2``: rank 1 alone gets SIGINT after
its 7th step (rank 0 never does); each rank writes whether fit raised KeyboardInterrupt,
its last step and its weights to OUT_rank{r}.npz."""

import os
import signal
import sys

import numpy as np
from mpi4py import MPI

import deltaprop as dp


class InterruptRank1(dp.Callback):
    last_step = 0

    def on_batch_end(self, state, batch_size, loss):
        self.last_step = state.step
        if MPI.COMM_WORLD.Get_rank() == 1 and state.step == 7:
            os.kill(os.getpid(), signal.SIGINT)


def main(out: str) -> None:
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 6))
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.Network([dp.Dense(6, 8), dp.Tanh(), dp.Dense(8, 2), dp.Softmax()], seed=1, dtype="float64")
    watch = InterruptRank1()
    try:
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=50, batch_size=32, seed=3,
               callbacks=[watch], comm=comm)
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
    arrays = {f"p{i}": p.value for i, p in enumerate(net.parameters())}
    np.savez(f"{out}_rank{comm.Get_rank()}.npz", interrupted=interrupted, step=watch.last_step, **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
