"""Benchmark deltaprop against PyTorch, scikit-learn and the GEMM roofline on Fashion-MNIST.

Network 784-256-128-10 ReLU, softmax + cross-entropy, SGD lr 0.05 with momentum 0.9,
float32, at batch sizes 32, 128 and 512. Each peer runs as its own process, driven one
epoch at a time in lockstep with the others (cycles of one epoch per peer, their order
rotated); ratios are taken between epochs of the same cycle, seconds apart (so the
machine's drift cancels), and the median over cycles is reported. Writes BENCHMARKS.md.
See bench/README.md for how to install the peers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
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
SETTLE_SECONDS = 0.4
INTERLEAVED_EPOCHS = 3  # the first warms up


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


class BusyProcesses:
    """``n`` processes that each spin on a core while :meth:`running` (a laptop with a busy
    browser, a CI runner, a sweep's neighbour); stopped (SIGSTOP) the rest of the time."""

    def __init__(self, n: int):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
        self._signal(signal.SIGSTOP)

    def _signal(self, sig) -> None:
        for p in self.procs:
            p.send_signal(sig)

    @contextlib.contextmanager
    def running(self):
        self._signal(signal.SIGCONT)
        time.sleep(0.5 if self.procs else 0)  # let them take their cores
        try:
            yield
        finally:
            self._signal(signal.SIGSTOP)

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


class Worker:
    """One peer's process in one condition, driven an epoch at a time (``--lockstep``, see
    ``common.Pacer``): it loads its data, then runs one epoch each time it is told to."""

    def __init__(self, name: str, python: str, script: str, extra_env: dict[str, str], data_dir: Path,
                 batch_size: int, epochs: int, threads: int, log: Path):
        cmd = [python, str(HERE / script), "--data", str(data_dir), "--batch-size", str(batch_size),
               "--epochs", str(epochs), "--threads", str(threads), "--lockstep"]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads), **extra_env)
        self.name, self.log = f"{script} (batch {batch_size})", log
        with open(log, "w") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env)

    def ready(self) -> None:
        """Wait until the peer has loaded its data and libraries."""
        self._next(say_go=False)

    def _next(self, say_go: bool = True) -> dict:
        """Say go, then read the peer's next JSON line."""
        if say_go:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        while line := self.proc.stdout.readline():
            if line.startswith("{"):
                return json.loads(line)
        self.proc.wait()
        raise RuntimeError(f"{self.name} failed:\n{self.log.read_text()[-2000:]}")

    def epoch(self) -> float:
        """Run one epoch; its seconds."""
        return self._next()["epoch_seconds"]

    def finish(self) -> dict:
        """The peer's closing report (test accuracy, memory, threads)."""
        result = self._next()
        self.proc.wait()
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def step_vs_forward(python: str, threads: int) -> dict:
    proc = subprocess.run([python, str(HERE / "step_vs_forward.py"), "--threads", str(threads)], capture_output=True, text=True,
                          env=dict(os.environ, DELTAPROP_KERNELS="numpy"))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: peers that run idle only: the flush variants, and deltaprop held to one BLAS thread (the
#: contended rows keep each peer's defaults)
IDLE_ONLY = ("deltaprop, no flush", "deltaprop, 1 thread", "pytorch, flush")


def find_peers(args) -> list[tuple[str, str, str, dict]]:
    """``(name, python, script, extra environment)`` of every peer installed here."""
    torch_python = args.torch_python or sys.executable
    has = lambda python, mod: subprocess.run([python, "-c", f"import {mod}"], capture_output=True).returncode == 0  # noqa: E731
    # deltaprop as installed by default (NumPy kernels), and with the numba extra where it is here.
    peers = [("deltaprop", sys.executable, "peer_deltaprop.py", {"DELTAPROP_KERNELS": "numpy"}),
             ("deltaprop, no flush", sys.executable, "peer_deltaprop.py",
              {"DELTAPROP_KERNELS": "numpy", "DELTAPROP_BENCH_FLUSH": "0"}),
             ("deltaprop, 1 thread", sys.executable, "peer_deltaprop.py",
              {"DELTAPROP_KERNELS": "numpy", "DELTAPROP_BENCH_THREADS": "1"}),
             ("numpy-loop", sys.executable, "peer_numpy.py", {}),
             ("roofline", sys.executable, "peer_roofline.py", {})]
    if has(sys.executable, "numba"):
        peers.append(("deltaprop[numba]", sys.executable, "peer_deltaprop.py", {"DELTAPROP_KERNELS": "numba"}))
    else:
        print("note: numba is not installed; deltaprop[numba] is left out (see bench/README.md)", file=sys.stderr)
    if has(torch_python, "torch"):
        peers.append(("pytorch", torch_python, "peer_torch.py", {}))
        peers.append(("pytorch, flush", torch_python, "peer_torch.py", {"DELTAPROP_BENCH_FLUSH": "1"}))
    else:
        print(f"warning: {torch_python} cannot import torch; PyTorch is left out (see bench/README.md)", file=sys.stderr)
    if not args.no_sklearn and has(sys.executable, "sklearn"):
        peers.append(("scikit-learn", sys.executable, "peer_sklearn.py", {}))
    return peers


#: OpenBLAS tuning variables that some machines set to work around old OpenBLAS bugs; they
#: also slow a current NumPy (OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU: sgemm 1.3 to 1.5
#: times slower at batch 128 to 512), which a user's machine does not have.
OPENBLAS_TUNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=5,
                    help="measured epochs per peer, one per cycle (after one warm-up epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    ap.add_argument("--torch-python", default=os.environ.get("DELTAPROP_BENCH_TORCH_PYTHON", ""),
                    help="a Python interpreter with torch installed (default: this one, if it has torch)")
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument("--busy", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="busy processes spinning beside every run of the contended condition (default: one per spare core)")
    ap.add_argument("--conditions", default="idle,contended", help="idle, contended or both (comma-separated)")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--write-data", metavar="DIR",
                    help="only write the data folder every peer reads (--data DIR), then stop")
    ap.add_argument("--keep-openblas-tuning", action="store_true",
                    help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE from the environment for the peers "
                         "(by default they are unset, so OpenBLAS picks its kernels for this CPU)")
    args = ap.parse_args()
    args.unset_tuning = {}
    if not args.keep_openblas_tuning:
        for name in OPENBLAS_TUNING:
            if name in os.environ:
                args.unset_tuning[name] = os.environ.pop(name)  # every peer started from here goes without it
    if args.write_data:
        Path(args.write_data).mkdir(parents=True, exist_ok=True)
        print(f"wrote {write_data(Path(args.write_data)):.0f} MB of float32 images and the starting weights "
              f"to {args.write_data}")
        return 0
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    args.conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    peers = find_peers(args)

    results: dict[tuple[str, str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="deltaprop-bench-") as tmp:
        data_dir = Path(tmp)
        data_mb = write_data(data_dir)
        started = time.time()
        for bs in args.batch_sizes:
            run_batch_size(bs, peers, data_dir, args, results)
        kernel_forms = ["numpy"] + (["numba"] if any(p[0] == "deltaprop[numba]" for p in peers) else [])
        interleaved = [interleaved_run(data_dir, bs, form, args) for bs in args.batch_sizes for form in kernel_forms]
        ratio = step_vs_forward(sys.executable, args.threads)
        profiles = [
            subprocess.run([sys.executable, str(HERE / "profile_step.py"), "--batch-size", str(bs),
                            "--threads", str(args.threads)],
                           capture_output=True, text=True, check=True,
                           env=dict(os.environ, DELTAPROP_KERNELS=form)).stdout.rstrip()
            for bs in args.batch_sizes for form in kernel_forms
        ]
        elapsed = time.time() - started

    text = render(results, [p[0] for p in peers], data_mb, ratio, args, elapsed, profiles, interleaved)
    Path(args.output).write_text(text)
    print()
    print(text)
    return 0


def interleaved_run(data_dir: Path, bs: int, kernels: str, args) -> dict:
    """``bench/interleaved.py`` at one batch size with one kernel form (idle): deltaprop's
    ``fit``, the NumPy loop and the GEMMs alone in one process, alternating every few steps."""
    proc = subprocess.run([sys.executable, str(HERE / "interleaved.py"), "--data", str(data_dir), "--batch-size",
                           str(bs), "--threads", str(args.threads), "--epochs", str(INTERLEAVED_EPOCHS)],
                          capture_output=True, text=True, check=True, env=dict(os.environ, DELTAPROP_KERNELS=kernels))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    q = result["ratio_quartiles"]
    print(f"interleaved batch {bs:>3} {kernels:<6} time / NumPy loop's {q['numpy-loop'][1]:.3f}, "
          f"roofline reached {q['roofline'][1]:.1%}", flush=True)
    return result


def run_batch_size(bs: int, peers, data_dir: Path, args, results) -> None:
    """Every peer in every condition at one batch size, in lockstep: one process per (peer,
    condition) started once, then in each cycle one epoch of each idle peer, one at a time,
    then one epoch of each contended peer with the busy processes running; the peers' order
    rotates from cycle to cycle. Cycle 0 is the warm-up; the ratios compare epochs of the
    same cycle, seconds apart, so the machine's drift over minutes cancels."""
    workers: dict[tuple[str, str], Worker] = {}
    busy = BusyProcesses(args.busy if "contended" in args.conditions else 0)
    times: dict[tuple[str, str], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="deltaprop-bench-logs-") as logs:
            for cond in args.conditions:
                for name, python, script, extra_env in peers:
                    if (cond == "contended" and name in IDLE_ONLY) or (name == "scikit-learn" and bs not in SKLEARN_BATCH_SIZES):
                        continue
                    log = Path(logs) / f"{cond}-{len(workers)}.err"
                    workers[cond, name] = Worker(name, python, script, extra_env, data_dir, bs, args.cycles + 1,
                                                 args.threads, log)
            for worker in workers.values():  # no epoch runs while another peer still loads
                worker.ready()
            for cycle in range(args.cycles + 1):
                for cond in args.conditions:
                    these = [n for c, n in workers if c == cond]
                    k = cycle % len(these)
                    with busy.running() if cond == "contended" else contextlib.nullcontext():
                        for name in these[k:] + these[:k]:
                            # the last peer's BLAS threads spin for a while after its last GEMM: let them
                            # sleep, so that each epoch (and fit's count of idle CPUs) starts on a quiet machine
                            time.sleep(SETTLE_SECONDS)
                            seconds = workers[cond, name].epoch()
                            times.setdefault((cond, name), []).append(seconds)
                            label = "warm-up" if cycle == 0 else f"cycle {cycle}/{args.cycles}"
                            print(f"{label:<11} {cond:<9} batch {bs:>3} {name:<20} {seconds:.3f} s/epoch", flush=True)
            for (cond, name), worker in workers.items():
                final = worker.finish()
                if final.get("threads"):
                    print(f"{cond:<9} batch {bs:>3} {name:<20} ran on {final['threads']} threads", flush=True)
                for cycle, seconds in enumerate(times[cond, name][1:], start=1):
                    results.setdefault((cond, name, bs), []).append({**final, "round": cycle, "seconds_per_epoch": seconds})
    finally:
        for worker in workers.values():
            worker.kill()
        busy.close()


def _cycle_ratios(results, a, b, bs: int) -> list[float]:
    """(a's time / b's time) in each cycle both ran; ``a`` and ``b`` are ``(condition, peer)``."""
    ra = {r["round"]: r["seconds_per_epoch"] for r in results.get((*a, bs), [])}
    rb = {r["round"]: r["seconds_per_epoch"] for r in results.get((*b, bs), [])}
    return [ra[k] / rb[k] for k in sorted(set(ra) & set(rb))]


def _round_ratio(results, a, b, bs: int) -> float | None:
    """Median over cycles of (a's time / b's time) measured in the same cycle."""
    ratios = _cycle_ratios(results, a, b, bs)
    return statistics.median(ratios) if ratios else None


def _median(results, cond, name, bs, key):
    vals = [r[key] for r in results.get((cond, name, bs), []) if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def _fmt(v, spec) -> str:
    return "" if v is None else format(v, spec)


def _header(results, args, first_bs) -> list[str]:
    import deltaprop

    blas = next((r["blas"] for r in results.get(("idle", "deltaprop", first_bs), []) if r.get("blas")), "unknown")
    numba = next((r["kernels"] for r in results.get(("idle", "deltaprop[numba]", first_bs), []) if r.get("kernels")),
                 "not run")
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.processor() or "unknown")
    return [
        "# Benchmarks",
        "",
        f"Made by `uv run --group bench --extra numba python bench/run.py --cycles {args.cycles} "
        f"--threads {args.threads} --busy {args.busy} --torch-python PYTHON` (see bench/README.md) on "
        f"{time.strftime('%Y-%m-%d')}. Task: Fashion-MNIST train set (60,000 images), network 784-256-128-10 "
        "ReLU, softmax + cross-entropy, SGD lr 0.05, momentum 0.9, float32. Peers: `deltaprop` as a user runs it "
        "(NumPy elementwise kernels, SGD's update by NumPy's OpenBLAS where it is one (`deltaprop.vector_blas`), "
        "subnormals flushed, BLAS threads chosen by `fit`, at most "
        f"{args.threads}); `deltaprop, no flush` the same with `flush_subnormals=False`; `deltaprop, 1 thread` "
        "the same with `threads=1` (idle only: the bound of the contended rows, below); `numpy-loop` a careful "
        "hand-written NumPy loop for this one network (`bench/peer_numpy.py`); `roofline` the same GEMMs alone; "
        "`deltaprop[numba]` with the optional compiled kernels; `pytorch` an idiomatic loop with PyTorch's "
        f"defaults ({args.threads} threads); `pytorch, flush` the same after `torch.set_flush_denormal(True)`; "
        "`scikit-learn` its `MLPClassifier` (batch 128 only). "
        f"Conditions: idle, and contended ({args.busy} busy process(es) spinning beside every run). "
        "Each peer runs in one process per condition, driven in lockstep: in each cycle, one epoch of every idle "
        "peer, one at a time, then one epoch of every contended peer, their order rotated from cycle to cycle; "
        f"one warm-up cycle, then {args.cycles} measured. Ratios are taken between epochs of the same cycle "
        "(seconds apart), then the median over cycles; each target also says in how many cycles it held.",
        "",
        f"Machine: {platform.machine()} ({cpu}), {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, deltaprop {deltaprop.__version__}. BLAS: {blas}. Kernels of `deltaprop[numba]`: {numba}."
        + (" OpenBLAS tuning variables of the environment, unset for every peer (OpenBLAS picks its kernels for "
           "this CPU, as on a machine without them): " + ", ".join(f"{k}={v}" for k, v in args.unset_tuning.items())
           + "." if args.unset_tuning else ""),
        "",
    ]


def _condition_tables(results, cond, names, args) -> list[str]:
    names = [n for n in names if any(k[0] == cond and k[1] == n for k in results)]
    lines = [f"## {cond.capitalize()}: seconds per epoch (median over cycles; fastest to slowest cycle below)", "",
             "| batch | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for bs in args.batch_sizes:
        lines.append(f"| {bs} | " + " | ".join(_fmt(_median(results, cond, n, bs, "seconds_per_epoch"), ".3f")
                                              for n in names) + " |")
    for bs in args.batch_sizes:
        spans = []
        for n in names:
            vals = [r["seconds_per_epoch"] for r in results.get((cond, n, bs), [])]
            spans.append(f"{min(vals):.3f} to {max(vals):.3f}" if vals else "")
        lines.append(f"| {bs} (span) | " + " | ".join(spans) + " |")
    chose = [f"{n} at batch {bs}: {r[0].get('threads')}" for n in names if n.startswith("deltaprop")
             for bs in args.batch_sizes if (r := results.get((cond, n, bs)))]
    lines += ["", "BLAS threads `fit` chose: " + "; ".join(chose) + ".",
              "", f"## {cond.capitalize()}: deltaprop against each peer (same-cycle ratios of time, median)", "",
              "| batch | deltaprop | / PyTorch's | / PyTorch's (flushed) | / NumPy loop's | / scikit-learn's "
              "| roofline reached (GEMM time / our time) |", "|---|---|---|---|---|---|---|"]
    for bs in args.batch_sizes:
        for us in [n for n in names if n.startswith("deltaprop")]:
            r = lambda peer: _round_ratio(results, (cond, us), (cond, peer), bs)  # noqa: E731
            roof = _round_ratio(results, (cond, "roofline"), (cond, us), bs)
            lines.append(f"| {bs} | {us} | {_fmt(r('pytorch'), '.2f')} | {_fmt(r('pytorch, flush'), '.2f')} | "
                         f"{_fmt(r('numpy-loop'), '.2f')} | {_fmt(r('scikit-learn'), '.2f')} | "
                         f"{_fmt(None if roof is None else roof * 100, '.0f')}{'%' if roof else ''} |")
    return lines + [""]


def _targets(results, args, data_mb, interleaved) -> list[str]:
    """The targets of the performance issue, each with its measured value."""
    rows = []

    def add(what, a, b, bs, limit):
        """A ratio target: the median of the same-cycle ratios a/b, and the cycles it held in."""
        ratios = _cycle_ratios(results, a, b, bs)
        if ratios:
            value, held = statistics.median(ratios), sum(r <= limit for r in ratios)
            rows.append(f"| {what} | {value:.2f} | ≤ {limit} | {'met' if value <= limit else 'not met'} "
                        f"| {held} of {len(ratios)} |")

    for bs, limit in ((32, 0.5), (128, 0.7), (512, 0.85)):
        add(f"idle, batch {bs}: time / PyTorch's", ("idle", "deltaprop"), ("idle", "pytorch"), bs, limit)
    for bs in (128, 512):
        ratios = _cycle_ratios(results, ("idle", "roofline"), ("idle", "deltaprop"), bs)
        if ratios:
            roof, held = statistics.median(ratios), sum(r >= 0.7 for r in ratios)
            rows.append(f"| idle, batch {bs}: GEMM roofline reached | {roof:.0%} | ≥ 70% "
                        f"| {'met' if roof >= 0.7 else 'not met'} | {held} of {len(ratios)} |")
    for bs in args.batch_sizes:
        add(f"idle, batch {bs}: time / NumPy loop's", ("idle", "deltaprop"), ("idle", "numpy-loop"), bs, 1.0)
        add(f"contended, batch {bs}: time / own idle time", ("contended", "deltaprop"), ("idle", "deltaprop"), bs, 1.3)
    add("contended, batch 128: time / PyTorch's contended", ("contended", "deltaprop"), ("contended", "pytorch"), 128, 0.5)
    for r in interleaved:  # the same two targets, measured chunk by chunk in one process
        if r["kernels"] != "numpy":
            continue
        bs, chunks = r["batch_size"], r["chunk_ratios"]
        roof, loop = r["ratio_quartiles"]["roofline"][1], r["ratio_quartiles"]["numpy-loop"][1]
        if bs in (128, 512):
            rows.append(f"| idle, batch {bs}: GEMM roofline reached, interleaved | {roof:.0%} | ≥ 70% "
                        f"| {'met' if roof >= 0.7 else 'not met'} | {sum(v >= 0.7 for v in chunks['roofline'])} "
                        f"of {len(chunks['roofline'])} chunks |")
        rows.append(f"| idle, batch {bs}: time / NumPy loop's, interleaved | {loop:.2f} | ≤ 1.0 "
                    f"| {'met' if loop <= 1.0 else 'not met'} | {sum(v <= 1.0 for v in chunks['numpy-loop'])} "
                    f"of {len(chunks['numpy-loop'])} chunks |")
    rss = max((r.get("peak_rss_mb") or 0 for k, v in results.items() if k[1] == "deltaprop" for r in v), default=None)
    if rss is not None:
        extra = rss - data_mb
        rows.append(f"| peak RSS − float32 data | {extra:.0f} MB | ≤ 150 MB | {'met' if extra <= 150 else 'not met'} | |")
    return ["## Targets (same-cycle medians; interleaved rows: medians over chunks)", "",
            "| target | measured | bound | | cycles it held in |",
            "|---|---|---|---|---|", *rows, "", *_contended_bound(results, args)]


def _contended_bound(results, args) -> list[str]:
    """The two factors of a contended target, batch by batch: beside a busy process ``fit`` trains
    on one BLAS thread, so ``contended / idle = (idle on one thread / idle) · (contended / idle on
    one thread)``, the second thread's gain times what the busy process costs the one thread."""
    rows = []
    for bs in args.batch_sizes:
        gain = _round_ratio(results, ("idle", "deltaprop, 1 thread"), ("idle", "deltaprop"), bs)
        loss = _round_ratio(results, ("contended", "deltaprop"), ("idle", "deltaprop, 1 thread"), bs)
        if gain is not None and loss is not None:
            rows.append(f"| {bs} | {gain:.2f} | {loss:.2f} |")
    if not rows:
        return []
    return ["What the contended targets measure (same-cycle medians): beside a busy process `fit` trains on one "
            "BLAS thread, so its contended time over its own idle time is the product of the two ratios below: "
            "what the second thread gains on an idle machine, and what the busy process costs the one thread. "
            "`bench/gemm_scaling.py` works out why this target and the roofline's cannot both hold where a "
            "second core speeds the GEMMs up more than 1.43 times.", "",
            "| batch | idle: one thread / threads chosen | contended / idle on one thread |", "|---|---|---|",
            *rows, ""]


def _interleaved_table(interleaved) -> list[str]:
    lines = ["## Idle, interleaved in one process (`bench/interleaved.py`)", "",
             f"Inside one `fit` ({INTERLEAVED_EPOCHS} epochs, the first a warm-up), every K steps a callback runs "
             "K steps of the NumPy loop and K steps of the GEMMs alone on the same BLAS threads: the three are "
             "compared chunk by chunk, tens of milliseconds apart, where the lockstep cycles above compare epochs "
             "seconds apart. Ratios: "
             "median over chunks, quartiles in brackets.", "",
             "| batch | kernels | K | BLAS threads | deltaprop µs/step | NumPy loop µs/step | GEMMs µs/step "
             "| time / NumPy loop's | roofline reached |", "|---|---|---|---|---|---|---|---|---|"]
    for r in interleaved:
        us, q = r["us_per_step"], r["ratio_quartiles"]
        loop, roof = q["numpy-loop"], q["roofline"]
        lines.append(f"| {r['batch_size']} | {r['kernels']} | {r['chunk_steps']} | {r['threads']} "
                     f"| {us['deltaprop']:.0f} | {us['numpy-loop']:.0f} | {us['roofline']:.0f} "
                     f"| {loop[1]:.2f} ({loop[0]:.2f}–{loop[2]:.2f}) "
                     f"| {roof[1]:.0%} ({roof[0]:.0%}–{roof[2]:.0%}) |")
    return lines + [""]


def render(results, names, data_mb, ratio, args, elapsed, profiles, interleaved) -> str:
    lines = _header(results, args, args.batch_sizes[0]) + _targets(results, args, data_mb, interleaved)
    for cond in args.conditions:
        lines += _condition_tables(results, cond, names, args)
    if interleaved:
        lines += _interleaved_table(interleaved)
    if "idle" in args.conditions and "contended" in args.conditions:
        both = [n for n in names if n not in IDLE_ONLY]
        lines += ["## Contended against idle (same-cycle ratio of each peer's own time, median)", "",
                  "| batch | " + " | ".join(both) + " |", "|---|" + "---|" * len(both)]
        for bs in args.batch_sizes:
            lines.append(f"| {bs} | " + " | ".join(_fmt(_round_ratio(results, ("contended", n), ("idle", n), bs), ".2f")
                                                  for n in both) + " |")
        lines.append("")
    lines += ["## Test accuracy after the same epochs, and peak memory (idle)", "",
              "| batch | peer | test accuracy | peak RSS (MB) |", "|---|---|---|---|"]
    for bs in args.batch_sizes:
        for n in names:
            if n == "roofline" or ("idle", n, bs) not in results:
                continue
            lines.append(f"| {bs} | {n} | {_fmt(_median(results, 'idle', n, bs, 'test_accuracy'), '.4f')} "
                         f"| {_fmt(_median(results, 'idle', n, bs, 'peak_rss_mb'), '.0f')} |")
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
        "## Where a step's time goes (`bench/profile_step.py`, idle)",
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
