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
"""

import json
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


def _case(case: str, rank: int) -> dict:
    error, epochs = "", -1
    if case in ("overflow", "validation_overflow"):
        net = dp.mlp([6, 8, 1], seed=1, activation="identity", output="identity", dtype="float64")
    else:
        net = dp.mlp([6, 8, 2], seed=1, dtype="float64")
    run = {"overflow": _overflow, "validation_overflow": _validation_overflow}.get(case)
    try:
        epochs = len(run(net, rank) if run is not None else _stopping(net, rank, case))
    except dp.TrainingDivergedError as exc:
        error = f"{type(exc).__name__}: {exc}"
    weights = zlib.crc32(b"".join(p.value.tobytes() for p in net.parameters()))
    if not all(np.all(np.isfinite(p.value)) for p in net.parameters()):
        weights = -1
    return {"error": error, "epochs": epochs, "weights": weights}


def main(out: str, cases: list[str]) -> None:
    rank = MPI.COMM_WORLD.Get_rank()
    results = {case: _case(case, rank) for case in cases}
    with open(f"{out}_rank{rank}.json", "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
