"""BENCHMARKS.md's account of the contended targets (bench/run.py): the idle one-thread peer
and the two factors of ``contended / idle``. Speed itself is measured by bench/, not here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
import run  # noqa: E402


def _results(**seconds):
    """``{(condition, peer, 128): [per-cycle records]}`` from ``name=[s, s, ...]`` (one per cycle)."""
    names = {"idle": ("idle", "deltaprop"), "one": ("idle", "deltaprop, 1 thread"),
             "contended": ("contended", "deltaprop")}
    return {(*names[k], 128): [{"round": i + 1, "seconds_per_epoch": s} for i, s in enumerate(v)]
            for k, v in seconds.items()}


def test_the_contended_ratio_is_split_into_the_second_threads_gain_and_the_busy_processs_cost():
    results = _results(idle=[0.20, 0.25, 0.22], one=[0.30, 0.35, 0.33], contended=[0.33, 0.35, 0.30])
    lines = run._contended_bound(results, argparse.Namespace(batch_sizes=[128, 512]))
    rows = [line for line in lines if line.startswith("| 128 ")]
    assert len(rows) == 1 and not any(line.startswith("| 512 ") for line in lines)  # 512 never ran
    gain, cost = (float(v) for v in rows[0].strip("| ").split(" | ")[1:])
    assert gain == pytest.approx(1.5)   # median of 1.5, 1.4, 1.5
    assert cost == pytest.approx(1.0)   # median of 1.1, 1.0, 0.909
    # cycle by cycle the target's ratio is exactly the product of the two factors
    ratio = lambda a, b: run._cycle_ratios(results, a, b, 128)  # noqa: E731
    target = ratio(("contended", "deltaprop"), ("idle", "deltaprop"))
    gains = ratio(("idle", "deltaprop, 1 thread"), ("idle", "deltaprop"))
    costs = ratio(("contended", "deltaprop"), ("idle", "deltaprop, 1 thread"))
    assert target == pytest.approx([g * c for g, c in zip(gains, costs)])


def test_without_the_one_thread_peer_there_is_no_account():
    results = _results(idle=[0.2], contended=[0.3])
    assert run._contended_bound(results, argparse.Namespace(batch_sizes=[128])) == []


def test_the_one_thread_peer_runs_idle_only_and_asks_fit_for_one_thread():
    assert "deltaprop, 1 thread" in run.IDLE_ONLY
    peers = {name: env for name, _, _, env in run.find_peers(argparse.Namespace(torch_python=sys.executable,
                                                                                no_sklearn=True))}
    assert peers["deltaprop, 1 thread"] == {"DELTAPROP_KERNELS": "numpy", "DELTAPROP_BENCH_THREADS": "1"}
    source = (BENCH / "peer_deltaprop.py").read_text()
    assert "threads=threads" in source and "DELTAPROP_BENCH_THREADS" in source
