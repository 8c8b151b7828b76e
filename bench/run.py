"""Benchmark deltaprop against PyTorch, scikit-learn and the GEMM roofline on Fashion-MNIST.

Network 784-256-128-10 ReLU, softmax + cross-entropy, SGD lr 0.05 with momentum 0.9,
float32, at batch sizes 32, 128 and 512. Each peer runs as its own process; peers are
interleaved over several rounds with their order rotated, ratios are taken inside a round
(so the machine's drift cancels) and the median over rounds is reported. Writes
BENCHMARKS.md. See bench/README.md for how to install the peers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import LAYERS  # noqa: E402
ROOT = HERE.parent
BATCH_SIZES = (32, 128, 512)
SKLEARN_BATCH_SIZES = (128,)


def write_data(folder: Path) -> float:
    """Fashion-MNIST as float32 in [0, 1] (.npy files); returns the float32 data size in MB."""
    import deltaprop
    import deltaprop.data as data

    ds = data.load("fashion-mnist", flatten=True)
    arrays = {
        "x_train": data.scale_to_unit(ds.x_train),
        "y_train": ds.y_train.astype(np.int64),
        "x_test": data.scale_to_unit(ds.x_test),
        "y_test": ds.y_test.astype(np.int64),
    }
    # The starting weights every peer that can set them uses: deltaprop's He-normal draw for seed 0.
    net = deltaprop.mlp(LAYERS, activation="relu", output="softmax", seed=0)
    dense = [layer for layer in net.layers if isinstance(layer, deltaprop.Dense)]
    for i, layer in enumerate(dense):
        arrays[f"init_W{i}"] = layer.W.value
        arrays[f"init_b{i}"] = layer.b.value
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", arr, allow_pickle=False)
    return (arrays["x_train"].nbytes + arrays["x_test"].nbytes) / 2**20


#: busy processes running beside every peer (``--busy``): a contended machine
BUSY = 0


@contextlib.contextmanager
def busy_processes(n: int):
    """``n`` processes spinning on a core each while the block runs (a laptop with a busy
    browser, a CI runner, a sweep's neighbour)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5 if n else 0)  # let them take their cores
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def run_peer(python: str, script: str, data_dir: Path, batch_size: int, epochs: int, threads: int,
             extra_env: dict[str, str]) -> dict:
    cmd = [python, str(HERE / script), "--data", str(data_dir), "--batch-size", str(batch_size), "--epochs", str(epochs),
           "--threads", str(threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               **extra_env)
    with busy_processes(BUSY):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} (batch {batch_size}) failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def step_vs_forward(python: str, threads: int) -> dict:
    proc = subprocess.run([python, str(HERE / "step_vs_forward.py"), "--threads", str(threads)], capture_output=True, text=True,
                          env=dict(os.environ, DELTAPROP_KERNELS="numpy"))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is discarded as warm-up")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    ap.add_argument("--torch-python", default=os.environ.get("DELTAPROP_BENCH_TORCH_PYTHON", ""),
                    help="a Python interpreter with torch installed (default: this one, if it has torch)")
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument("--busy", type=int, default=0,
                    help="busy processes spinning beside every run (the contended rows; 1 on two cores)")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    global BUSY
    BUSY = args.busy

    torch_python = args.torch_python or sys.executable
    has_torch = subprocess.run([torch_python, "-c", "import torch"], capture_output=True).returncode == 0
    if not has_torch:
        print(f"warning: {torch_python} cannot import torch; PyTorch is left out (see bench/README.md)", file=sys.stderr)
    has_sklearn = (not args.no_sklearn
                   and subprocess.run([sys.executable, "-c", "import sklearn"], capture_output=True).returncode == 0)

    # deltaprop as installed by default (NumPy kernels), and with the numba extra where it is here.
    peers = [("deltaprop", sys.executable, "peer_deltaprop.py", {"DELTAPROP_KERNELS": "numpy"}),
             ("roofline", sys.executable, "peer_roofline.py", {})]
    if subprocess.run([sys.executable, "-c", "import numba"], capture_output=True).returncode == 0:
        peers.append(("deltaprop[numba]", sys.executable, "peer_deltaprop.py", {"DELTAPROP_KERNELS": "numba"}))
    else:
        print("note: numba is not installed; deltaprop[numba] is left out (see bench/README.md)", file=sys.stderr)
    if has_torch:
        peers.append(("pytorch", torch_python, "peer_torch.py", {}))
    if has_sklearn:
        peers.append(("scikit-learn", sys.executable, "peer_sklearn.py", {}))

    results: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="deltaprop-bench-") as tmp:
        data_dir = Path(tmp)
        data_mb = write_data(data_dir)
        started = time.time()
        for r in range(args.rounds):
            for bs in batch_sizes:
                order = peers[r % len(peers):] + peers[: r % len(peers)]
                for name, python, script, extra_env in order:
                    if name == "scikit-learn" and bs not in SKLEARN_BATCH_SIZES:
                        continue
                    res = run_peer(python, script, data_dir, bs, args.epochs, args.threads, extra_env)
                    res["round"] = r
                    results.setdefault((name, bs), []).append(res)
                    print(f"round {r + 1}/{args.rounds} batch {bs:>3} {name:<16} {res['seconds_per_epoch']:.3f} s/epoch",
                          flush=True)
        ratio = step_vs_forward(sys.executable, args.threads)
        kernel_forms = ["numpy"] + (["numba"] if any(p[0] == "deltaprop[numba]" for p in peers) else [])
        profiles = [
            subprocess.run([sys.executable, str(HERE / "profile_step.py"), "--batch-size", str(bs),
                            "--threads", str(args.threads)],
                           capture_output=True, text=True, check=True,
                           env=dict(os.environ, DELTAPROP_KERNELS=form)).stdout.rstrip()
            for bs in batch_sizes for form in kernel_forms
        ]
        elapsed = time.time() - started

    text = render(results, peers, batch_sizes, data_mb, ratio, args, elapsed, profiles)
    Path(args.output).write_text(text)
    print()
    print(text)
    return 0


def _round_ratio(results, a: str, b: str, bs: int) -> float | None:
    """Median over rounds of (a's time / b's time) measured in the same round."""
    ra = {r["round"]: r["seconds_per_epoch"] for r in results.get((a, bs), [])}
    rb = {r["round"]: r["seconds_per_epoch"] for r in results.get((b, bs), [])}
    common = sorted(set(ra) & set(rb))
    return statistics.median(ra[k] / rb[k] for k in common) if common else None


def _median(results, name, bs, key):
    vals = [r[key] for r in results.get((name, bs), []) if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def render(results, peers, batch_sizes, data_mb, ratio, args, elapsed, profiles) -> str:
    import deltaprop

    names = [p[0] for p in peers]
    ours = [n for n in names if n.startswith("deltaprop")]
    fmt = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
    lines = [
        "# Benchmarks",
        "",
        f"Made by `uv run --group bench --extra numba python bench/run.py --rounds {args.rounds} --epochs {args.epochs} "
        f"--threads {args.threads} --torch-python PYTHON` (see bench/README.md) on "
        f"{time.strftime('%Y-%m-%d')}. Task: Fashion-MNIST train set (60,000 images), network 784-256-128-10 "
        "ReLU, softmax + cross-entropy, SGD lr 0.05, momentum 0.9, float32, "
        "`deltaprop` as installed by default (NumPy elementwise kernels), `deltaprop[numba]` with the optional "
        "compiled kernels, "
        f"at most {args.threads} BLAS threads (deltaprop's `fit` uses one where a step's largest GEMM is under "
        "4M multiply-adds, which no batch here is; PyTorch uses its own heuristics). "
        f"{args.rounds} rounds, peers interleaved with their order rotated; "
        f"{args.epochs} epochs a run, the first discarded. Ratios are taken inside a round, then the median over rounds."
        + (f" Contended: {args.busy} busy process(es) spinning beside every run (`--busy {args.busy}`)." if args.busy else ""),
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, deltaprop {deltaprop.__version__}. "
        f"BLAS: {next((r['blas'] for r in results.get(('deltaprop', batch_sizes[0]), []) if r.get('blas')), 'unknown')}. "
        f"Kernels of `deltaprop[numba]`: "
        f"{next((r['kernels'] for r in results.get(('deltaprop[numba]', batch_sizes[0]), []) if r.get('kernels')), 'not run')}.",
        "",
        "## Seconds per epoch (median over rounds)",
        "",
        "| batch | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for bs in batch_sizes:
        lines.append(f"| {bs} | " + " | ".join(fmt(_median(results, n, bs, "seconds_per_epoch"), ".3f") for n in names) + " |")
    lines += ["", "Fastest and slowest round, seconds per epoch (how much the machine drifted during the run):", "",
              "| batch | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for bs in batch_sizes:
        spans = []
        for n in names:
            vals = [r["seconds_per_epoch"] for r in results.get((n, bs), [])]
            spans.append(f"{min(vals):.3f} to {max(vals):.3f}" if vals else "")
        lines.append(f"| {bs} | " + " | ".join(spans) + " |")
    lines += ["", "## deltaprop against each peer (same-round ratios, median)", "",
              "| batch | deltaprop | time / PyTorch's | time / scikit-learn's | roofline reached (GEMM time / our time) |",
              "|---|---|---|---|---|"]
    for bs in batch_sizes:
        for us in ours:
            t = _round_ratio(results, us, "pytorch", bs)
            s = _round_ratio(results, us, "scikit-learn", bs)
            roof = _round_ratio(results, "roofline", us, bs)
            lines.append(f"| {bs} | {us} | {fmt(t, '.2f')} | {fmt(s, '.2f')} | "
                         f"{fmt(None if roof is None else roof * 100, '.0f')}{'%' if roof else ''} |")
    lines += ["", "## Test accuracy after the same epochs, and peak memory", "",
              "| batch | peer | test accuracy | peak RSS (MB) |", "|---|---|---|---|"]
    for bs in batch_sizes:
        for n in names:
            if n == "roofline" or (n, bs) not in results:
                continue
            lines.append(f"| {bs} | {n} | {fmt(_median(results, n, bs, 'test_accuracy'), '.4f')} "
                         f"| {fmt(_median(results, n, bs, 'peak_rss_mb'), '.0f')} |")
    lines += [
        "",
        f"The float32 data (train + test images) is {data_mb:.0f} MB. Peak RSS includes the interpreter and "
        "the libraries each peer imports.",
        "",
        "## One training step against one forward pass (seed 000's 784-50-10 sigmoid network)",
        "",
        f"Batch {ratio['batch_size']}: forward {ratio['forward_ms']:.3f} ms, training step {ratio['step_ms']:.3f} ms, "
        f"ratio {ratio['ratio']:.2f} (a backward pass costs about one more forward pass plus the ∂L/∂W GEMMs, "
        "so about 3 is the ideal).",
        "",
        "## Where a step's time goes (`bench/profile_step.py`)",
        "",
        "Each part timed alone on one batch, best of five; then one step, one step inside `fit`",
        "(which adds gathering the shuffled batch), and the same step's GEMMs alone.",
        "",
        "```",
        *("\n\n".join(profiles).splitlines()),
        "```",
        "",
        f"Whole run: {elapsed / 60:.1f} minutes.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
