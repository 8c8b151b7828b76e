"""The command line's chance-accuracy warning points to the alerts only when some fired:
a run too short for any rule to judge said "no alerts" and then "see the alerts above"."""

from __future__ import annotations

import numpy as np
from cli_in_process import run_cli as cli


def _tiny_csv(path):
    rng = np.random.default_rng(0)
    rows = ["a,b,c,label"] + [f"{x:.3f},{y:.3f},{z:.3f},{i % 2}" for i, (x, y, z) in enumerate(rng.random((8, 3)))]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_run_at_chance_with_no_alerts_says_no_rule_named_a_cause(tmp_path):
    data = _tiny_csv(tmp_path / "tiny.csv")
    res = cli("train", "--dataset", data, "--out", tmp_path / "run")
    assert res.returncode == 0
    assert "no alerts:" in res.stdout + res.stderr
    warning = next(line for line in res.stderr.splitlines() if line.startswith("WARNING: training accuracy"))
    assert "is at chance" in warning
    assert "see the alerts above" not in warning
    assert "no alert rule named a cause" in warning and "labels belong to the features" in warning
