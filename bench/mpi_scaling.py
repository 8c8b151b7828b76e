"""Data-parallel scaling over MPI: seconds per epoch of the benchmark network on 1 and 2
processes at a global batch of 128 and 512, the scaling efficiency, and the bytes each
process sends per step.

    uv run --extra mpi python bench/mpi_scaling.py [--ranks 1,2] [--batch-sizes 128,512]

Each configuration runs ``mpiexec -n P`` on this script with ``--worker``; the worker trains
784-256-128-10 ReLU (SGD, momentum 0.9, float32) on Fashion-MNIST when Debian's
dataset-fashion-mnist is installed, else on random data of the same shape, for ``--epochs``
epochs (the first is warm-up) with one BLAS thread per process when P equals the cores.
Configurations are interleaved over ``--rounds`` rounds; the table reports medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LAYERS = (784, 256, 128, 10)


def _data(n: int):
    try:
        from deltaprop.data import load

        ds = load("fashion-mnist")
        X = ds.x_train.reshape(len(ds.x_train), -1).astype(np.float32) / 255.0
        return X[:n], ds.y_train[:n].astype(np.int64), "Fashion-MNIST"
    except Exception:
        rng = np.random.default_rng(0)
        return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), "random data"


def worker(batch_size: int, epochs: int, n: int) -> None:
    from mpi4py import MPI

    import deltaprop as dp
    from deltaprop.distributed import threads_per_rank

    comm = MPI.COMM_WORLD
    X, y, source = _data(n)
    net = dp.mlp(list(LAYERS), activation="relu", seed=0)
    times: list[float] = []
    last = [time.perf_counter()]

    def tick(state):
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    threads = threads_per_rank(comm) if comm.Get_size() > 1 else None
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.05, momentum=0.9), epochs=epochs,
           batch_size=batch_size, seed=0, threads=threads, callbacks=[dp.LambdaCallback(on_epoch_end=tick)],
           comm=comm if comm.Get_size() > 1 else None)
    if comm.Get_rank() == 0:
        grad_bytes = sum(p.value.nbytes for p in net.parameters())
        print(json.dumps({"seconds": float(np.median(times[1:] or times)), "grad_bytes": grad_bytes,
                          "threads": threads, "data": source}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--batch-sizes", default="128,512")
    ap.add_argument("--batch-size", type=int, default=128, help=argparse.SUPPRESS)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--examples", type=int, default=60000)
    args = ap.parse_args()
    if args.worker:
        worker(args.batch_size, args.epochs, args.examples)
        return
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    ranks = [int(r) for r in args.ranks.split(",")]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    results: dict[tuple[int, int], list[float]] = {}
    info = {}
    for rnd in range(args.rounds):
        for b in batches:
            for p in ranks[rnd % len(ranks):] + ranks[: rnd % len(ranks)]:
                cmd = [mpiexec, "-n", str(p), sys.executable, __file__, "--worker", "--batch-size", str(b),
                       "--epochs", str(args.epochs), "--examples", str(args.examples)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ}).stdout
                row = json.loads(out.strip().splitlines()[-1])
                results.setdefault((b, p), []).append(row["seconds"])
                info = row
    print(f"data: {info['data']}, {args.examples} examples; gradient {info['grad_bytes']:,} bytes; "
          f"each process sends and receives about 2 x that a step (Reduce + Bcast)")
    print("| global batch | processes | s/epoch (median) | speed-up | efficiency |")
    print("|---|---|---|---|---|")
    for b in batches:
        base = float(np.median(results[(b, ranks[0])]))
        for p in ranks:
            t = float(np.median(results[(b, p)]))
            print(f"| {b} | {p} | {t:.3f} | {base / t:.2f} | {base / t / p * ranks[0]:.0%} |")


if __name__ == "__main__":
    main()
