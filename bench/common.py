"""Shared by the benchmark peers: the task, the data file, timing and memory readings.

Every peer runs in its own process, loads the same float32 arrays from ``.npy`` files
(written once by ``run.py``), trains the same network for the same epochs and prints one
JSON object on its last line of stdout.
"""

from __future__ import annotations

import json
import os
import resource
import sys

import numpy as np

LAYERS = (784, 256, 128, 10)
LR = 0.05
MOMENTUM = 0.9


def parser(description: str, *, data: bool = True, seed: bool = True):
    """The options every peer takes: the data folder, batch size, epochs, threads, seed."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    if data:
        ap.add_argument("--data", required=True)
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    if seed:
        ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lockstep", action="store_true",
                    help="wait for a line on stdin before each epoch and before the final report, and print "
                         "each epoch's seconds as a JSON line (run.py drives the peers in turn this way)")
    return ap


class Pacer:
    """The lockstep protocol between a peer and ``run.py``: the peer loads its data, says
    ``{"ready": true}``, then waits for the driver's word (a line on stdin) before every epoch and once more before
    its closing work (the test accuracy, the report), and prints ``{"epoch_seconds": s}``
    after each epoch. The driver runs one peer's epoch at a time, all peers in turn, so
    the epochs compared are seconds apart rather than minutes. Without ``--lockstep`` it
    does nothing."""

    def __init__(self, on: bool):
        self.on = on
        self.ready = False

    def wait(self) -> None:
        if self.on and not self.ready:  # loaded: the driver starts no epoch before every peer is
            self.ready = True
            sys.stdout.write(json.dumps({"ready": True}) + "\n")
            sys.stdout.flush()
        if self.on and sys.stdin.readline().strip() != "go":
            sys.exit(0)  # the driver closed the pipe or said stop

    def done(self, seconds: float) -> None:
        if self.on:
            sys.stdout.write(json.dumps({"epoch_seconds": seconds}) + "\n")
            sys.stdout.flush()


def load_arrays(data_dir: str):
    """Train and test arrays, read fully into memory (float32 images in [0, 1], int64 labels)."""
    get = lambda name: np.load(os.path.join(data_dir, f"{name}.npy"), allow_pickle=False)  # noqa: E731
    return get("x_train"), get("y_train"), get("x_test"), get("y_test")


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MB); Linux reports ru_maxrss in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        return ", ".join(f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, {i['num_threads']} threads)"
                         for i in info)
    except Exception as exc:  # pragma: no cover - informative only
        return f"unknown ({exc})"


def step_gemms(batch: int, rng: np.random.Generator):
    """A function running the GEMMs of one training step of ``LAYERS`` on preallocated float32
    arrays: forward ``z = a W`` for each layer, backward ``∂L/∂W = aᵀ δ`` for each layer and
    ``δ Wᵀ`` for every layer but the first (3 + 3 + 2 for this network)."""
    W = [rng.standard_normal((i, o)).astype(np.float32) * 0.05 for i, o in zip(LAYERS[:-1], LAYERS[1:])]
    dW = [np.empty_like(w) for w in W]
    acts = [rng.random((batch, n), dtype=np.float32) for n in LAYERS]
    deltas = [rng.standard_normal((batch, n)).astype(np.float32) * 0.01 for n in LAYERS]

    def run():
        for k in range(len(W)):
            np.matmul(acts[k], W[k], out=acts[k + 1])
        for k in range(len(W) - 1, -1, -1):
            np.matmul(acts[k].T, deltas[k + 1], out=dW[k])
            if k > 0:
                np.matmul(deltas[k + 1], W[k].T, out=deltas[k])
    return run


def initial_weights(data_dir: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The starting (W, b) of each Dense layer, ``W`` of shape (n_in, n_out), written by
    run.py: every peer that can set its weights starts from the same ones, so test
    accuracies differ only by rounding, not by initialiser or seed."""
    out = []
    for i in range(len(LAYERS) - 1):
        get = lambda name: np.load(os.path.join(data_dir, f"init_{name}{i}.npy"), allow_pickle=False)  # noqa: E731
        out.append((get("W"), get("b")))
    return out


def deltaprop_network(weights: list[tuple[np.ndarray, np.ndarray]], seed: int):
    """The benchmark's network in deltaprop (784-256-128-10 ReLU, softmax), starting from
    ``weights`` (:func:`initial_weights`). deltaprop is imported here: the PyTorch peer runs
    in an environment without it."""
    import deltaprop as dp

    net = dp.mlp(LAYERS, activation="relu", output="softmax", seed=seed)
    for layer, (W, b) in zip([layer for layer in net.layers if isinstance(layer, dp.Dense)], weights):
        layer.W.value, layer.b.value = W, b
    return net


def threads_used(start, changes) -> str:
    """The BLAS threads a ``fit`` trained on, in words: the count it started on and each
    change (``"1, 2 from step 267"``: the probe of a small-step run, or a slowdown)."""
    return ", ".join([str(start)] + [f"{n} from step {step}" for step, n in changes])


def epoch_orders(seed: int, n: int):
    """The shuffled order of each epoch, as deltaprop's fit draws it (np.random.default_rng(seed),
    one permutation per epoch); the PyTorch peer uses the same so both see the same batches."""
    rng = np.random.default_rng(seed)
    while True:
        yield rng.permutation(n)


def report(result: dict) -> None:
    result.setdefault("peak_rss_mb", peak_rss_mb())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def median_after_first(times: list[float]) -> float:
    rest = times[1:] if len(times) > 1 else times
    return float(np.median(rest))
