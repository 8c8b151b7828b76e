"""The benchmark's in-process interleaving (bench/interleaved.py): its arithmetic, and one
short run on synthetic data. Speed itself is measured by bench/, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
import common  # noqa: E402
import gemm_scaling  # noqa: E402
import interleaved  # noqa: E402


def test_chunk_ratios_compare_each_chunk_with_its_neighbours():
    chunks = {"deltaprop": [2.0, 3.0, 4.0], "numpy-loop": [1.0, 3.0, 8.0], "roofline": [1.0, 1.5, 3.0]}
    out = interleaved.summary(chunks, k=10)
    assert out["chunk_ratios"]["numpy-loop"] == [2.0, 1.0, 0.5]  # our time over the loop's, chunk by chunk
    assert out["chunk_ratios"]["roofline"] == [0.5, 0.5, 0.75]  # GEMM time over ours
    assert out["ratio_quartiles"]["numpy-loop"][1] == 1.0
    assert out["us_per_step"]["deltaprop"] == pytest.approx(3.0 / 10 * 1e6)


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory):
    """A small stand-in for run.py's data folder: 1,024 random rows and starting weights."""
    folder = tmp_path_factory.mktemp("bench-data")
    rng = np.random.default_rng(0)
    n = 1024
    np.save(folder / "x_train.npy", rng.random((n, common.LAYERS[0]), dtype=np.float32))
    np.save(folder / "y_train.npy", rng.integers(0, 10, n))
    for name in ("x_test", "y_test"):
        np.save(folder / f"{name}.npy", np.zeros(1))
    sizes = common.LAYERS
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        np.save(folder / f"init_W{i}.npy", (rng.standard_normal((a, b)) * 0.05).astype(np.float32))
        np.save(folder / f"init_b{i}.npy", np.zeros(b, np.float32))
    return folder


@pytest.mark.slow
def test_an_interleaved_run_reports_every_peer(bench_data):
    proc = subprocess.run([sys.executable, str(BENCH / "interleaved.py"), "--data", str(bench_data), "--batch-size",
                           "64", "--chunk", "4", "--threads", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["threads"] == "1" and result["chunk_steps"] == 4
    # 16 steps an epoch, 4 a chunk, two measured epochs (the first warms up)
    assert len(result["chunk_ratios"]["numpy-loop"]) == len(result["chunk_ratios"]["roofline"]) == 8
    assert all(v > 0 for v in result["us_per_step"].values())
    assert 0 < result["ratio_quartiles"]["roofline"][1] < 2


@pytest.mark.slow
def test_a_part_switched_off_is_restored_and_its_cost_reported(bench_data):
    import step_parts

    from deltaprop import layers

    original = layers.ReLU.forward
    toggle = step_parts.Toggle(2, step_parts.switches("relu"))
    toggle.switch(False)
    assert layers.ReLU.forward is not original
    toggle.on_train_end(None)
    assert layers.ReLU.forward is original  # the run's end puts the library back
    out = step_parts.summary({True: [0.5, 0.7], False: [0.3, 0.3, 0.4]}, k=2)
    assert out["pairs"] == 2 and out["cost_us"][1] == pytest.approx(0.15 * 1e6)  # median of 0.2 s and 0.4 s over 2-step chunks
    proc = subprocess.run([sys.executable, str(BENCH / "step_parts.py"), "--data", str(bench_data), "--batch-size", "64",
                           "--chunk", "4", "--threads", "1", "--part", "optimizer"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["part"] == "optimizer" and result["pairs"] == 4  # 16 steps an epoch, two measured epochs
    assert result["us_per_step"] > 0 and "optimizer" in proc.stderr


def test_every_update_form_computes_the_same_step():
    import update_forms

    rng = np.random.default_rng(1)
    candidates = update_forms.forms(1000, rng, threads=1)
    assert {"numpy", "gemm"} <= set(candidates)
    expected = None
    for name, (update, weights) in candidates.items():
        before = weights.copy() if name != "gemm" else None
        update()
        if expected is None:
            expected = weights.copy()
            assert not np.array_equal(expected, before)
        np.testing.assert_allclose(weights, expected, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_the_update_forms_benchmark_prints_a_row_per_form():
    proc = subprocess.run([sys.executable, str(BENCH / "update_forms.py"), "--rounds", "3", "--threads", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[2:]}
    assert {"numpy", "gemm"} <= set(rows)
    assert float(rows["numpy"][2]) == 1.0


@pytest.mark.slow  # times GEMMs on one and two threads: about 3 s
def test_gemm_scaling_states_what_a_second_core_implies_for_the_contended_target():
    at_target, highest = gemm_scaling.implied(2.0)  # GEMMs twice as fast on two cores
    assert at_target == pytest.approx(1.7)  # 1 + (2 − 1)·0.7
    assert highest == pytest.approx(0.3)
    assert gemm_scaling.implied(1.0) == (1.0, 1.0)  # no speedup: nothing is lost under contention
    proc = subprocess.run([sys.executable, str(BENCH / "gemm_scaling.py"), "--batch-sizes", "16", "--rounds", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    row = proc.stdout.splitlines()[1].split()
    assert row[0] == "16" and float(row[5]) > 0  # r, measured
