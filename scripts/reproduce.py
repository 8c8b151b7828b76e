"""Rerun every seed experiment in examples/ and write REPRODUCTION.md.

Each config runs through the CLI (`deltaprop train --config ... --dataset ...`) on every
dataset given (default: mnist, fashion-mnist, mnist-sample); a dataset that cannot be
loaded here (MNIST without network, say) is reported as missing, never filled in.

    uv run python scripts/reproduce.py [--datasets mnist,fashion-mnist,mnist-sample] [--only NAME]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = [
    # (config, what the seed did, the seed's reported test accuracy)
    ("seed000_softmax_regression", "seed 000: 784-10 softmax regression, full-batch GD, lr 0.3, 100 iterations", 0.9052),
    ("seed000_sigmoid_gd_500", "seed 000: 784-50-10 sigmoid + softmax, full-batch GD, lr 0.3, 500 iterations", 0.928),
    ("seed000_sigmoid_gd_1000", "seed 000: 784-50-10 sigmoid + softmax, full-batch GD, lr 0.3, 1000 iterations", 0.9401),
    ("seed000_sgd", "seed 000: 784-50-10 sigmoid + softmax, SGD batch 20, lr 0.3, 30,000 iterations", 0.9655),
    ("seed001_parity", "seed 001: 10-bit parity, 10-3-2 sigmoid, MSE, SGD batch 8, lr 0.3, 1000 epochs", 1.0),
    ("seed001_mnist_mse", "seed 001: 784-32-10 sigmoid, MSE, SGD batch 256, 300 epochs", 0.9259),
]
ACCURACY = re.compile(r"test accuracy ([0-9.]+) on (\d+) examples")


def dataset_available(name: str) -> str | None:
    """None if the dataset loads here (from disk, or downloaded now), else why it does not."""
    import deltaprop.data as data
    from deltaprop.errors import DatasetNotFoundError

    try:
        data.load(name, download=False)
        return None
    except DatasetNotFoundError:
        pass
    except Exception as exc:  # report why, in one line
        return str(exc).splitlines()[0]
    try:
        data.load(name, timeout=10)
    except DatasetNotFoundError:
        return "its files were not available locally and the download failed"
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


def run(config: str, dataset: str, seed: int) -> dict:
    cmd = ["uv", "run", "deltaprop", "train", "--config", f"examples/{config}.toml", "--quiet", "--seed", str(seed)]
    if dataset != "default":
        cmd += ["--dataset", dataset]
    with tempfile.TemporaryDirectory(prefix="deltaprop-repro-") as out:
        started = time.perf_counter()
        proc = subprocess.run([*cmd, "--out", out], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - started
    found = ACCURACY.search(proc.stdout)
    if proc.returncode != 0 or not found:
        return {"error": (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:], "wall": wall, "cmd": " ".join(cmd)}
    return {"accuracy": float(found.group(1)), "n": int(found.group(2)), "wall": wall, "cmd": " ".join(cmd)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="mnist,fashion-mnist,mnist-sample")
    ap.add_argument("--only", default="", help="comma-separated config names to run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", default=str(ROOT / "REPRODUCTION.md"))
    args = ap.parse_args()
    datasets = args.datasets.split(",")
    only = set(filter(None, args.only.split(",")))
    missing = {d: dataset_available(d) for d in datasets if d != "parity"}
    rows = []
    for config, what, reported in EXPERIMENTS:
        if only and config not in only:
            continue
        native = tomllib.loads((ROOT / "examples" / f"{config}.toml").read_text())["dataset"]
        targets = ["default"] if native == "parity" else datasets
        for ds in targets:
            label = native if ds == "default" else ds
            if missing.get(label):
                rows.append((config, what, reported, label, None, f"not run: {missing[label]}"))
                print(f"{config} on {label}: not available", flush=True)
                continue
            res = run(config, ds, args.seed)
            rows.append((config, what, reported, label, res, None))
            shown = f"{res['accuracy']:.4f}" if "accuracy" in res else f"failed: {res['error']}"
            print(f"{config} on {label}: {shown} ({res['wall']:.0f} s)", flush=True)
    Path(args.output).write_text(render(rows, args.seed))
    print(f"wrote {args.output}")
    return 0


def render(rows, seed: int) -> str:
    import numpy as np

    lines = [
        "# Reproducing the seeds' experiments",
        "",
        f"Made by `uv run python scripts/reproduce.py` on {time.strftime('%Y-%m-%d')}, on {platform.machine()} "
        f"with {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}; training seed {seed}. "
        "Each row is one run of one config in `examples/`, with the command that produced it "
        "(add `--out DIR` to keep the model, history and plots). Wall time includes loading the data and writing the files.",
        "",
        "The seeds report MNIST accuracies. Where the MNIST files could not be had when this table was made, "
        "its rows say so instead of giving a number; run the same command where the MNIST files are available "
        "(`--data-dir`, `$DELTAPROP_DATA`, or an automatic download) to fill them in. "
        "Fashion-MNIST comes from Debian's `dataset-fashion-mnist` package and is a harder task than MNIST: its "
        "accuracies are not comparable with the seeds' MNIST numbers. `mnist-sample` is the bundled 4,000/1,000 "
        "subset of real MNIST digits: smaller training set, same task.",
        "",
        "| experiment | seed reports (MNIST) | dataset | our test accuracy | wall time | command |",
        "|---|---|---|---|---|---|",
    ]
    for config, what, reported, label, res, note in rows:
        if note:
            lines.append(f"| {what} | {reported} | {label} | {note} | | |")
        elif "accuracy" in res:
            lines.append(f"| {what} | {reported} | {label} | {res['accuracy']:.4f} | {res['wall']:.0f} s | `{res['cmd']}` |")
        else:
            lines.append(f"| {what} | {reported} | {label} | failed: {' '.join(res['error'])} | {res['wall']:.0f} s | `{res['cmd']}` |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
