"""How much a second core speeds up the step's GEMMs, and what that implies for two targets
of BENCHMARKS.md that pull against each other on a two-core machine.

    uv run python bench/gemm_scaling.py

For each batch size, the 3 + 3 + 2 GEMMs of one step of 784-256-128-10 (as
``common.step_gemms``, as ``peer_roofline.py``) are timed on one BLAS thread and on two, alternated over rounds;
``r`` is the median ratio of one thread's time to two threads'.

A step takes ``g + o``: ``g`` in the GEMMs, ``o`` in everything else (gather, elementwise
passes, the update), which runs on one core either way. On an idle machine the GEMMs use
both cores; beside one busy process a run gets one core, so its GEMMs take ``r·g``. With
``ρ = g / (g + o)``, the share of the idle step spent in GEMMs (the roofline target asks
``ρ ≥ 0.7``), the contended run takes

    (r·g + o) / (g + o) = 1 + (r − 1)·ρ

times its idle time. So a contended ratio of at most 1.3 needs ``ρ ≤ 0.3 / (r − 1)``: where
``r`` is above 1.43, no step meets both targets, and a faster step (higher ``ρ``) moves the
contended ratio up. Both assumptions are the best case for the contended run (its ``o`` no
larger than idle, its GEMMs as fast as one idle thread's)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import common  # noqa: E402

ROOFLINE_TARGET = 0.7
CONTENDED_TARGET = 1.3


def implied(r: float) -> tuple[float, float]:
    """``(1 + (r − 1)·0.7, min(1, 0.3 / (r − 1)))``: the contended ratio of a step at the
    roofline target, and the highest GEMM share whose contended ratio stays within 1.3."""
    at_target = 1 + (r - 1) * ROOFLINE_TARGET
    highest = (CONTENDED_TARGET - 1) / (r - 1) if r > 1 else 1.0
    return at_target, min(highest, 1.0)


def seconds(fn, threads: int, repeats: int) -> float:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        fn()
        started = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - started) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", default="32,128,512")
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("batch   1 thread   2 threads      r   contended/idle at ρ = 0.7   highest ρ with contended ≤ 1.3")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        run = common.step_gemms(batch, rng)
        repeats = max(20, 40000 // batch)
        one, two, ratios = [], [], []
        for _ in range(args.rounds):
            one.append(seconds(run, 1, repeats))
            two.append(seconds(run, 2, repeats))
            ratios.append(one[-1] / two[-1])
        r = statistics.median(ratios)
        at_target, highest = implied(r)
        print(f"{batch:5d} {statistics.median(one) * 1e6:8.0f} µs {statistics.median(two) * 1e6:8.0f} µs "
              f"{r:6.2f}   {at_target:25.2f}   {highest:29.0%}")


if __name__ == "__main__":
    main()
