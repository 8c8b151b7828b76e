"""Run by tests/test_distributed.py under ``mpiexec -n 2`` as ``mpi_stop_worker.py OUT CASE...``:
a stop that one rank alone decides, for each CASE in turn in the same job; each rank writes
the error it got (or none), the epochs trained and a digest of its weights, by CASE, to
OUT_rank{r}.json. A rank left waiting in a collective makes the job time out.

- ``overflow``: NumPy set to raise (``np.seterr(all="raise")``) and one huge row in rank 1's
  share of the first batch: that rank's forward pass raises FloatingPointError.
- ``validation_overflow``: the same, with the huge row in rank 1's share of the validation
  rows: that rank raises while the epoch is scored.
- ``early_stopping``: EarlyStopping given to rank 0 only.
- ``mid_epoch``: a callback on rank 1 alone asks to stop in the middle of epoch 2.
- ``loss_overflow``: one training row so large that the loss overflows on the one rank
  whose share of a batch holds it (NumPy not raising).
- ``interrupt``: rank 1 alone gets SIGINT after its 7th step (rank 0 never does).

Each case also records the last step it names (the diverged step, or the last step that
ended) and whether ``fit`` raised KeyboardInterrupt.
"""

import json
import os
import signal
import sys
import zlib

import numpy as np
from mpi4py import MPI

import deltaprop as dp


def _overflow(net, rank: int):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    y = X[:, :1].copy()
    X[35] = 1e200  # the second half of the one sequential batch: rank 1's share
    with np.errstate(all="raise"):
        return dp.fit(net, X, y, loss=dp.MeanSquaredError(classification=False), optimizer=dp.SGD(lr=0.1),
                      epochs=2, batch_size=40, batching="sequential", seed=0, threads=1, comm=MPI.COMM_WORLD,
                      diagnostics=False)


def _validation_overflow(net, rank: int):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    Xv = rng.normal(size=(40, 6))
    Xv[35] = 1e200  # rank 1's half of the validation rows
    with np.errstate(all="raise"):
        return dp.fit(net, X, X[:, :1].copy(), loss=dp.MeanSquaredError(classification=False),
                      optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=20, seed=0, threads=1,
                      validation=(Xv, Xv[:, :1].copy()), comm=MPI.COMM_WORLD, diagnostics=False)


def _stopping(net, rank: int, case: str):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    y = (X[:, 0] > 0).astype(np.int64)
    Xv = rng.normal(size=(40, 6))
    yv = (Xv[:, 0] > 0).astype(np.int64)

    def stop_mid_epoch_2(state, batch_size, batch_loss):
        if state.epoch == 1 and state.step == 13:
            state.stop_training = True

    if case == "early_stopping":
        callbacks = [dp.EarlyStopping("val_loss", patience=0)] if rank == 0 else []
    else:
        callbacks = [dp.LambdaCallback(on_batch_end=stop_mid_epoch_2)] if rank == 1 else []
    return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=3.0, momentum=0.9), epochs=30,
                  batch_size=20, seed=0, threads=1, validation=(Xv, yv), callbacks=callbacks, comm=MPI.COMM_WORLD,
                  diagnostics=False)


def _loss_overflow(net, rank: int, watch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 6))
    X[100] = 1.5e308  # z = x W overflows to inf, the softmax gives NaN: on one rank only
    y = (X[:, 0] > 0).astype(np.int64)
    with np.errstate(over="ignore", invalid="ignore"):
        return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=3, batch_size=32, seed=3,
                      callbacks=[watch], comm=MPI.COMM_WORLD, diagnostics=False)


def _interrupt(net, rank: int, watch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 6))
    y = (X[:, 0] > 0).astype(np.int64)
    return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=50, batch_size=32, seed=3,
                  callbacks=[watch], comm=MPI.COMM_WORLD)


class _LastStep(dp.Callback):
    """The last step that ended; with ``interrupt_at``, SIGINT to this process after that step."""

    def __init__(self, interrupt_at: int | None = None):
        self.last_step, self.interrupt_at = -1, interrupt_at

    def on_batch_end(self, state, batch_size, loss):
        self.last_step = state.step
        if state.step == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)


def _network(case: str):
    if case in ("overflow", "validation_overflow"):
        return dp.mlp([6, 8, 1], seed=1, activation="identity", output="identity", dtype="float64")
    if case in ("loss_overflow", "interrupt"):
        hidden = dp.ReLU() if case == "loss_overflow" else dp.Tanh()
        return dp.Network([dp.Dense(6, 8), hidden, dp.Dense(8, 2), dp.Softmax()], seed=1, dtype="float64")
    return dp.mlp([6, 8, 2], seed=1, dtype="float64")


def _case(case: str, rank: int) -> dict:
    error, epochs, step, interrupted = "", -1, -1, False
    net = _network(case)
    watch = _LastStep(7 if case == "interrupt" and rank == 1 else None)
    run = {"overflow": _overflow, "validation_overflow": _validation_overflow}.get(case)
    try:
        if case in ("loss_overflow", "interrupt"):
            epochs = len((_loss_overflow if case == "loss_overflow" else _interrupt)(net, rank, watch))
        else:
            epochs = len(run(net, rank) if run is not None else _stopping(net, rank, case))
        step = watch.last_step
    except dp.TrainingDivergedError as exc:
        error, step = f"{type(exc).__name__}: {exc}", exc.step
    except KeyboardInterrupt:
        interrupted, step = True, watch.last_step
    weights = zlib.crc32(b"".join(p.value.tobytes() for p in net.parameters()))
    if not all(np.all(np.isfinite(p.value)) for p in net.parameters()):
        weights = -1
    return {"error": error, "epochs": epochs, "weights": weights, "step": step, "interrupted": interrupted}


def main(out: str, cases: list[str]) -> None:
    rank = MPI.COMM_WORLD.Get_rank()
    results = {case: _case(case, rank) for case in cases}
    with open(f"{out}_rank{rank}.json", "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
