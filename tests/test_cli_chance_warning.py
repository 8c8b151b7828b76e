"""The command line's chance-accuracy warning points to the alerts only when some fired; a
run too short for the usual rules is judged at its last epoch, so one at chance says why."""

from __future__ import annotations

import pytest
import numpy as np
from cli_in_process import run_cli as cli


def _tiny_csv(path):
    rng = np.random.default_rng(0)
    rows = ["a,b,c,label"] + [f"{x:.3f},{y:.3f},{z:.3f},{i % 2}" for i, (x, y, z) in enumerate(rng.random((8, 3)))]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_run_that_ends_at_chance_after_too_few_updates_says_so(tmp_path):
    # 8 rows at batch 20: ten epochs are ten updates, too few for the rules' usual 100; the run's
    # last epoch is judged all the same (it said "no alerts" and left the cause to the warning)
    data = _tiny_csv(tmp_path / "tiny.csv")
    res = cli("train", "--dataset", data, "--out", tmp_path / "run")
    assert res.returncode == 0
    assert "no alerts:" not in res.stdout + res.stderr
    alert = next(line for line in (res.stdout + res.stderr).splitlines() if line.startswith("alert [chance_accuracy]"))
    assert "only 10 updates" in alert and "--epochs" in alert and "labels belong to the inputs" in alert
    warning = next(line for line in res.stderr.splitlines() if line.startswith("WARNING: training accuracy"))
    assert "is at chance" in warning and "see the alerts above" in warning
