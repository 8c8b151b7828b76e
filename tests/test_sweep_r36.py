"""A sweep says which finished trials still had alerts at their last epoch: a trial whose
learning rate left it at chance finished ("ok") but cannot be trusted, and its line, the
table, sweep.csv and (when it is the best) the best trial's line say so."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from cli_in_process import run_cli
from deltaprop import sweep

TRAIN = ["--activation", "relu", "--epochs", "3", "--batch-size", "64", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished runs of the bundled sample: a sound one (lr 0.3) and one at lr 30,
    whose alerts still hold at its last epoch."""
    root = tmp_path_factory.mktemp("runs")
    for name, lr in (("good", "0.3"), ("broken", "30")):
        done = run_cli("train", *TRAIN, "--lr", lr, "--out", root / name)
        assert done.returncode == 0, done.stderr
    return root


def _trials(runs: Path, tmp_path: Path, names: list[str]) -> list[sweep.Trial]:
    trials = sweep.plan_trials({"lr": [str(i) for i in range(len(names))]}, tmp_path / "sweep")
    for trial, name in zip(trials, names):
        shutil.copytree(runs / name, trial.folder)
        trial.result = sweep.summarise(trial, None)
    return trials


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_trial_row_names_the_alerts_still_holding_at_its_last_epoch(runs, tmp_path):
    held = json.loads((runs / "broken" / "run.json").read_text())["alerts_at_end"]["alerts"]
    expected = [a["rule"] if a["layer"] is None else f"{a['rule']}@{a['layer']}" for a in held
                if a["cleared_by"] is None]
    assert "chance_accuracy" in expected
    good, broken = _trials(runs, tmp_path, ["good", "broken"])
    assert good.result["status"] == broken.result["status"] == "ok"
    assert good.result["alerts"] == "" and broken.result["alerts"] == "; ".join(expected)
    said = []
    for trial in (good, broken):
        sweep._report(trial, said.append)
    assert "alerts" not in said[0]
    assert f"alerts still holding at its last epoch: {'; '.join(expected)}" in said[1]
    assert str(broken.folder / "alerts.csv") in said[1]
    table = sweep.table([good, broken], ["lr"]).splitlines()
    assert table[0].endswith("alerts at the end") and table[2].endswith("; ".join(expected))
    sweep.write_results([good, broken], tmp_path / "sweep", ["lr"])
    rows = list(csv.DictReader((tmp_path / "sweep" / "sweep.csv").open()))
    assert [r["alerts"] for r in rows] == ["", "; ".join(expected)]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_table_without_alerts_has_no_alerts_column(runs, tmp_path):
    (good,) = _trials(runs, tmp_path, ["good"])
    assert "alerts" not in sweep.table([good], ["lr"])


@pytest.mark.slow  # about 0.7 s in the quick suite on 2 cores
def test_a_cleared_alert_or_an_unreadable_record_is_not_named(runs, tmp_path):
    (trial,) = _trials(runs, tmp_path, ["broken"])
    run_json = trial.folder / "run.json"
    facts = json.loads(run_json.read_text())
    for a in facts["alerts_at_end"]["alerts"]:
        a["cleared_by"] = facts["alerts_at_end"]["last_epoch"]
    run_json.write_text(json.dumps(facts))
    assert sweep.summarise(trial, None)["alerts"] == ""
    facts["alerts_at_end"] = {"alerts": "not a list"}
    run_json.write_text(json.dumps(facts))
    assert sweep.summarise(trial, None)["alerts"] == ""


def test_the_best_trials_line_says_its_alerts(runs, tmp_path, monkeypatch):
    """Every trial at chance: the best of them is still named, with the alerts that say it
    learned nothing."""
    def run_sweep(trials, **_):
        for trial in trials:
            shutil.copytree(runs / "broken", trial.folder)
            trial.result = sweep.summarise(trial, None)
        return trials

    monkeypatch.setattr(sweep, "run_sweep", run_sweep)
    done = run_cli("sweep", "--grid", "lr=30,40", "--out", tmp_path / "s")
    assert done.returncode == 0, done.stderr
    best = next(line for line in done.stdout.splitlines() if line.startswith("best: trial"))
    assert "alerts still holding at its last epoch: " in best and "chance_accuracy" in best
