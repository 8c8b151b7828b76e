"""A run folder whose alerts.json is hand-edited into odd shapes is still served: its alerts
mark the epochs they name where those are whole numbers, and nothing else."""

from __future__ import annotations

import json

import pytest

from deltaprop.serve import run as run_files


def _folder(tmp_path, epoch):
    folder = tmp_path / "run"
    folder.mkdir()
    rows = ["epoch,loss"] + [f"{e},{1.0 / e}" for e in range(1, 6)]
    (folder / "history.csv").write_text("\n".join(rows) + "\n")
    (folder / "alerts.json").write_text(json.dumps([{"rule": "flat_loss", "epoch": epoch, "evidence": "e",
                                                     "fix": "f"}]))
    return folder


@pytest.mark.parametrize("epoch", [[3, 4], {"at": 3}, "3", True, None, 2.5])
def test_an_alert_whose_epoch_is_no_whole_number_is_sent_and_marks_nothing(tmp_path, epoch):
    out = run_files.read_run(_folder(tmp_path, epoch), None, set())
    assert [r["epoch"] for r in out["history"]] == [1, 2, 3, 4, 5]
    assert out["alerts"][0]["epoch"] == epoch


def test_an_alert_at_a_whole_epoch_still_marks_it(tmp_path):
    out = run_files.read_run(_folder(tmp_path, 3), None, set())
    assert out["alerts"][0]["epoch"] == 3 and 3 in [r["epoch"] for r in out["history"]]
