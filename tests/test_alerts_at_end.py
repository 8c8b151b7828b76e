"""The end of a run says which alerts still hold: the summary, run.json and report.html tell
an alert that cleared from one that holds at the last epoch; older run.json files still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import alerts, report
from deltaprop.alerts import AlertMonitor, Context, checked_standing, cleared_by, standing, summary
from deltaprop.cli import main
from deltaprop.errors import DataError
from deltaprop.report_html import render

CHANCE = Context(chance=0.1)


def _run(accuracies, loss=2.3):
    """Records of a run and the alerts its monitor raised, epoch by epoch."""
    records, fired = [], []
    monitor = AlertMonitor(CHANCE)
    for epoch, acc in enumerate(accuracies, 1):
        records.append({"epoch": epoch, "loss": loss, "accuracy": acc})
        new = monitor.update(records)
        records[-1]["alerts"] = [a.as_dict() for a in new]
        fired += new
    return records, fired


def test_the_summary_tells_a_cleared_alert_from_one_that_still_holds():
    # at chance for three epochs, then learning; the loss stays flat to the end
    records, fired = _run([0.11, 0.11, 0.11, 0.5, 0.5, 0.5])
    assert [(a.rule, a.epoch) for a in fired] == [("chance_accuracy", 3), ("flat_loss", 4)]
    at_end = standing(fired, records, CHANCE)
    assert at_end == {"last_epoch": 6, "alerts": [
        {"rule": "chance_accuracy", "layer": None, "epoch": 3, "cleared_by": 4},
        {"rule": "flat_loss", "layer": None, "epoch": 4, "cleared_by": None}]}
    text = summary(fired, at_end)
    assert text.startswith("2 alerts during training:\n  [chance_accuracy] epoch 3: training accuracy is 0.110")
    assert "\n    -> cleared by epoch 4: it no longer holds at the last epoch (6)\n  [flat_loss] epoch 4:" in text
    assert text.endswith("-> still holds at the last epoch (6)\n1 of them still holds at the last epoch (6); "
                         "1 cleared before it")
    assert "cleared" not in summary(fired) and "still holds" not in summary(fired)  # without the final records


def test_cleared_by_is_the_epoch_after_the_last_one_it_held_at():
    records, fired = _run([0.11, 0.11, 0.11, 0.5, 0.11, 0.5, 0.5], loss=1.0)
    chance = next(a for a in fired if a.rule == "chance_accuracy")
    assert cleared_by(chance, records, CHANCE) == 6  # it held again at epoch 5
    assert cleared_by(chance, records[:5], CHANCE) is None  # at epoch 5 it still held


def test_stored_standing_is_checked():
    good = {"last_epoch": 6, "alerts": [{"rule": "flat_loss", "layer": None, "epoch": 4, "cleared_by": None}]}
    assert checked_standing(json.loads(json.dumps(good))) == good
    for bad in ([], {"alerts": "x", "last_epoch": 1}, {"last_epoch": -1, "alerts": []},
                {"last_epoch": 6, "alerts": [{"rule": "nonsense", "layer": None, "epoch": 1, "cleared_by": None}]},
                {"last_epoch": 6, "alerts": [{"rule": "flat_loss", "layer": None, "epoch": 1, "cleared_by": "soon"}]}):
        with pytest.raises(DataError, match="alerts_at_end"):
            checked_standing(bad)


def test_the_report_shows_which_alerts_cleared():
    records, fired = _run([0.11, 0.11, 0.11, 0.5, 0.5, 0.5])
    facts = {"status": "done", "alerts_at_end": standing(fired, records, CHANCE)}
    page = render(records, facts)
    assert "2 alert(s), 1 still holding at the last epoch" in page
    assert 'class="standing cleared">cleared by epoch 4: it no longer holds at the last epoch (6).' in page
    assert 'class="standing holds">still holds at the last epoch (6).' in page
    older = render(records, {"status": "done"})  # a run.json written before alerts_at_end was kept
    assert "2 alert(s)</a>" in older and "cleared by" not in older


def _finished_run(folder, at_end=None):
    X = np.random.default_rng(0).standard_normal((64, 4))
    y = np.arange(64) % 2
    writer = report.ReportWriter(folder, report.run_facts(["x"], {"seed": 0}, data_source="s", data_sha="0"), interval=0)
    history = dp.fit(dp.mlp([4, 5, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2,
                     callbacks=[writer])
    writer.records = history.records
    writer.finish("done", alerts_at_end=at_end)


def test_run_json_with_or_without_the_standing_loads(tmp_path):
    _finished_run(tmp_path / "older")
    assert "alerts_at_end" not in json.loads((tmp_path / "older" / "run.json").read_text())
    assert "alerts_at_end" not in report.read_run(tmp_path / "older")["facts"]
    report.rebuild(tmp_path / "older")
    at_end = {"last_epoch": 2, "alerts": []}
    _finished_run(tmp_path / "newer", at_end)
    assert report.read_run(tmp_path / "newer")["facts"]["alerts_at_end"] == at_end
    facts = json.loads((tmp_path / "newer" / "run.json").read_text())
    facts["alerts_at_end"] = {"last_epoch": 2, "alerts": [{"rule": "nonsense"}]}
    (tmp_path / "newer" / "run.json").write_text(json.dumps(facts))
    with pytest.raises(DataError, match=r"run\.json: its alerts_at_end holds"):
        report.read_run(tmp_path / "newer")


@pytest.mark.slow  # about 2 s: 40 epochs and the report
def test_a_run_that_recovers_reads_as_recovered(tmp_path, capsys):
    sklearn = pytest.importorskip("sklearn.datasets", reason="the breast cancer data comes with scikit-learn")
    frame = sklearn.load_breast_cancer(as_frame=True).frame
    frame.to_csv(tmp_path / "breast_cancer.csv", index=False)
    out = tmp_path / "run"
    # SGD with momentum 0.9 at lr 3: the loss rises and swings (which epochs exactly depends on
    # the rounding of the CPU's BLAS kernels); at epoch 21 the rate drops to 0.03 and it settles
    assert main(["train", "--dataset", str(tmp_path / "breast_cancer.csv"), "--momentum", "0.9", "--lr", "3",
                 "--schedule", "step:step_size=20,gamma=0.01", "--epochs", "40", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    at_end = json.loads((out / "run.json").read_text())["alerts_at_end"]
    [exploding] = [a for a in at_end["alerts"] if a["rule"] == "exploding_loss"]
    assert exploding["layer"] is None and exploding["epoch"] <= 20 and 20 < exploding["cleared_by"] <= 40
    assert f"  [exploding_loss] epoch {exploding['epoch']}: " in printed
    assert f"-> cleared by epoch {exploding['cleared_by']}: it no longer holds at the last epoch (40)" in printed
    assert f"cleared by epoch {exploding['cleared_by']}" in (out / "report.html").read_text(encoding="utf-8")
    assert alerts.checked_standing(at_end) == at_end


@pytest.mark.parametrize("ending, status", [(KeyboardInterrupt, "interrupted"), ("diverged", "diverged")])
def test_a_run_that_ends_early_says_which_alerts_still_hold(tmp_path, monkeypatch, ending, status):
    # only a run that trained to its end recorded alerts_at_end; an interrupted or diverged
    # run's report listed its alerts without saying which still held
    from cli_in_process import run_cli

    from deltaprop import cli
    from deltaprop.errors import TrainingDivergedError

    class EndAtEpoch4(dp.Callback):
        def on_epoch_end(self, state):
            if state.epoch == 4:
                raise KeyboardInterrupt if ending is KeyboardInterrupt else TrainingDivergedError(
                    "the loss became NaN", epoch=4, step=state.step)

    real = cli._fit
    monkeypatch.setattr(cli, "_fit", lambda args, cfg, model, data, callbacks, threads:
                        real(args, cfg, model, data, [*callbacks, EndAtEpoch4()], threads))
    out = tmp_path / "run"
    res = run_cli("train", "--dataset", "parity", "--layers", "10,6,2", "--lr", "1e-6", "--batch-size", "16",
                  "--epochs", "20", "--out", out, "-q")
    assert res.returncode == (130 if status == "interrupted" else 1), res.stderr
    facts = json.loads((out / "run.json").read_text())
    assert facts["status"] == status
    held = {a["rule"]: a["cleared_by"] for a in facts["alerts_at_end"]["alerts"]}
    assert facts["alerts_at_end"]["last_epoch"] == 4 and held.get("chance_accuracy", "absent") is None
