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
    return ap


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
        return ", ".join(f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, {i['num_threads']} threads)" for i in info)
    except Exception as exc:  # pragma: no cover - informative only
        return f"unknown ({exc})"


def report(result: dict) -> None:
    result.setdefault("peak_rss_mb", peak_rss_mb())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def median_after_first(times: list[float]) -> float:
    rest = times[1:] if len(times) > 1 else times
    return float(np.median(rest))
