"""The live view's alerts say, once the run has ended, whether each still held at its end."""

from __future__ import annotations

import json

from deltaprop.serve.run import read_run

ALERTS = ("epoch,rule,layer,evidence,fix\n"
          "1,dead_relu,1,layer 1 (ReLU): 100% dead,lower the learning rate\n"
          "7,oscillating_loss,,the loss rose,lower the learning rate\n")


def test_an_ended_runs_alerts_say_whether_they_still_hold(tmp_path):
    (tmp_path / "alerts.csv").write_text(ALERTS)
    (tmp_path / "history.csv").write_text("epoch,loss\n1,0.5\n")
    alerts = read_run(tmp_path)["alerts"]
    assert [a.get("standing") for a in alerts] == [None, None]  # no run.json: nothing to say
    at_end = {"last_epoch": 30, "alerts": [{"rule": "dead_relu", "layer": 1, "epoch": 1, "cleared_by": None},
                                           {"rule": "oscillating_loss", "layer": None, "epoch": 7, "cleared_by": 12}]}
    (tmp_path / "run.json").write_text(json.dumps({"status": "done", "alerts_at_end": at_end}))
    alerts = read_run(tmp_path)["alerts"]
    assert [a["standing"] for a in alerts] == [
        "still holds at the last epoch (30)", "cleared by epoch 12: it no longer holds at the last epoch (30)"]
    (tmp_path / "run.json").write_text(json.dumps({"status": "done", "alerts_at_end": {"alerts": "zz"}}))
    assert [a.get("standing") for a in read_run(tmp_path)["alerts"]] == [None, None]  # malformed: left out
