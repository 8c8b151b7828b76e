"""Seed 000's shorter MNIST experiments on the original MNIST files, as CI runs them.

Each faithful config is trained again (seed 0) and must land where REPRODUCTION.md says it
does: within the 95% prediction interval for one more run, given the seeds in
REPRODUCTION.runs.jsonl (mean ± t·s·√(1 + 1/n), Student's t with n − 1 degrees of freedom:
with five stored seeds about ±3 s, where ±2 s fails one correct run in seven); where
that mean is more than half a point from the seed's figure, REPRODUCTION.md must explain
the gap. Only the short rows run here: softmax regression (100 full-batch iterations) and
SGD (30,000 steps of 21 rows), under a minute together on two cores. The full-batch
sigmoid runs (500 and 1000 iterations over 60,000 rows) and seed 001's 300 epochs take
several minutes each and are left to `scripts/reproduce.py`. Seed 000's own SGD code,
transcribed (`scripts/seed000_reference.py`), must land where REPRODUCTION.md says it does,
with deltaprop from the same start beside it.
"""

import importlib.util
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The original MNIST files next to the repository (development and CI only).
REAL_MNIST = ROOT.parent / "shared" / "mnist"
if not REAL_MNIST.is_dir() and os.environ.get("DELTAPROP_DATA"):
    REAL_MNIST = Path(os.environ["DELTAPROP_DATA"]) / "mnist"
CHECKED = ["seed000_softmax_regression", "seed000_sgd"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"the original MNIST files are not at {REAL_MNIST}")]


def _reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", ROOT / "scripts" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["reproduce"] = module
    spec.loader.exec_module(module)
    return module


#: Student's t, two-sided 95%, by degrees of freedom (beyond the table: the normal's 1.96).
T_975 = {2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def prediction_half_width(values) -> float | np.ndarray:
    """Half the 95% prediction interval for one more draw from the distribution ``values``
    were drawn from (normal, unknown variance): ``t · s · √(1 + 1/n)``, ``s`` the sample
    deviation (divisor n − 1). For a 2-D array, one half-width a row."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    dof = n - 1
    t = next((T_975[k] for k in sorted(T_975) if k >= dof), 1.96)  # between entries: the stricter (smaller) t
    return t * values.std(axis=-1, ddof=1) * (1 + 1 / n) ** 0.5


def test_the_prediction_interval_matches_students_t():
    # five draws: t(4) = 2.776 and √(1 + 1/5); the mean ± this holds a sixth draw 95% of the time
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert prediction_half_width(values) == pytest.approx(2.776 * statistics.stdev(values) * 1.2 ** 0.5)
    rng = np.random.default_rng(0)
    draws = rng.standard_normal((20000, 6))
    half_widths = prediction_half_width(draws[:, :5])  # each row's five draws on their own
    assert half_widths[7] == pytest.approx(2.776 * statistics.stdev(draws[7, :5]) * 1.2 ** 0.5)
    held = np.abs(draws[:, 5] - draws[:, :5].mean(axis=1)) <= half_widths
    assert 0.94 < np.mean(held) < 0.96


def _stored(config: str) -> list[float]:
    runs = [json.loads(line) for line in (ROOT / "REPRODUCTION.runs.jsonl").read_text().splitlines() if line.strip()]
    return [r["accuracy"]["end"] for r in runs if r["config"] == config]


@pytest.mark.parametrize("config", CHECKED)
def test_faithful_config_lands_where_reproduction_md_says(config):
    reproduce = _reproduce()
    experiment = next(e for e in reproduce.EXPERIMENTS if e.faithful == config)
    stored = _stored(config)
    assert len(stored) >= 3, f"REPRODUCTION.runs.jsonl should hold several seeds of {config}"
    mean, half_width = statistics.mean(stored), prediction_half_width(stored)
    record = reproduce.train_once(config, 0, set(), data_dir=str(REAL_MNIST))
    accuracy = record["accuracy"]["end"]
    assert abs(accuracy - mean) <= max(half_width, 0.001), (accuracy, mean, half_width)
    if abs(mean - experiment.reported) > 0.005:  # a gap over half a point has its measured explanation
        assert f"`{config}`" in (ROOT / "REPRODUCTION.md").read_text().split("## Gaps", 1)[-1]


def test_seed000s_transcribed_code_and_deltaprop_from_its_start_give_the_same_accuracy():
    """REPRODUCTION.md's Gaps: seed 000's own SGD code, transcribed, lands at 0.9545 ± 0.0014
    (ten seeds), not at the printed 0.9655, and deltaprop from the same start ends where it does."""
    spec = importlib.util.spec_from_file_location("seed000_reference", ROOT / "scripts" / "seed000_reference.py")
    ref = importlib.util.module_from_spec(spec)
    sys.modules["seed000_reference"] = ref
    spec.loader.exec_module(ref)
    x_train, y_train, x_test, y_test = ref.load(str(REAL_MNIST))
    result = ref.run(0, (x_train, y_train, x_test, y_test), 30000, None)
    net = ref.deltaprop_same_start(0, x_train, y_train, 30000)
    same_start = float(np.mean(net.predict(np.ascontiguousarray(x_test.T)) == y_test))
    assert abs(result["accuracy"] - 0.9545) <= 2 * 0.0014, result
    assert abs(same_start - result["accuracy"]) <= 0.001, (same_start, result)
    assert result["accuracy"] < 0.9655 - 0.005
