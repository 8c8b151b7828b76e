"""Diagnostics and alerts: a hand-edited diagnostics.csv, the dead-ReLU rule and its advice,
and the chance level of a run with sample weights."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import alerts, report
from deltaprop.cli import main
from deltaprop.errors import DataError


# -- diagnostics.csv read back -------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("r35") / "run"
    out.mkdir()
    X = np.random.default_rng(0).standard_normal((64, 4))
    history = dp.fit(dp.mlp([4, 6, 2], activation="relu", seed=0), X, (X[:, 0] > 0).astype(int),
                     loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=16, seed=0)
    history.write_csv(out / "history.csv")
    report.write_run_files(out, history.records, {"status": "done", "config": {"dataset": "toy"}})
    return out


def _edited(run_folder, tmp_path, column: str, value: str, line: int = 3):
    out = tmp_path / "run"
    shutil.copytree(run_folder, out)
    path = out / "diagnostics.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    rows[line - 1][rows[0].index(column)] = value
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return out


@pytest.mark.parametrize("column, value", [("mean", "inf"), ("std", "nan"), ("delta_norm", "-inf")])
def test_a_diagnostics_csv_with_a_value_that_is_not_finite_is_refused(run_folder, tmp_path, column, value):
    out = _edited(run_folder, tmp_path, column, value)
    with pytest.raises(DataError, match=rf"diagnostics\.csv: line 3, column {column} holds '{value}', not a finite"):
        report.read_diagnostics_csv(out / "diagnostics.csv")


def test_report_on_a_diagnostics_csv_holding_inf_is_one_line(run_folder, tmp_path, capsys):
    out = _edited(run_folder, tmp_path, "mean", "inf", line=4)
    capsys.readouterr()
    assert main(["report", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "diagnostics.csv: line 4, column mean holds 'inf'" in err


def test_a_diagnostics_csv_with_true_for_a_number_is_refused(run_folder, tmp_path):
    out = _edited(run_folder, tmp_path, "mean", "True")
    with pytest.raises(DataError, match="line 3, column mean holds 'True', not a finite number"):
        report.read_diagnostics_csv(out / "diagnostics.csv")


def test_an_intact_diagnostics_csv_still_reads(run_folder):
    diagnostics = report.read_diagnostics_csv(run_folder / "diagnostics.csv")
    assert sorted(diagnostics) == [1, 2]


# -- dead ReLU units: which layers, and advice that fits the network -----------------------------
def _dead_fit(layers):
    """A fit of ``layers`` whose first Dense layer's biases put every hidden unit at z < 0."""
    X = np.random.default_rng(0).standard_normal((64, 4))
    net = dp.Network(layers, seed=0)
    net.layers[0].b.value[:] = -50.0
    y = (X[:, 0] > 0).astype(int)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=16, seed=0)
    return net, y, history


def _dead_alerts(history):
    return [a for a in history.alerts if a.rule == "dead_relu"]


@pytest.mark.parametrize("init", ["he_normal", "glorot_uniform"])
def test_the_dead_relu_fix_suggests_he_only_where_the_network_does_not_use_it(init):
    _, _, history = _dead_fit([dp.Dense(4, 6, init=init), dp.ReLU(), dp.Dense(6, 2), dp.Softmax()])
    [alert] = _dead_alerts(history)
    assert alert.layer == 1
    assert ("initialise with He" in alert.fix) == (init != "he_normal")
    assert ("already start from He initialisation" in alert.fix) == (init == "he_normal")
    assert "lower the learning rate" in alert.fix and "leaky_relu" in alert.fix


def test_a_leaky_relu_of_slope_0_raises_the_dead_relu_alert():
    net, y, history = _dead_fit([dp.Dense(4, 6, init="he_normal"), dp.LeakyReLU(0.0), dp.Dense(6, 2), dp.Softmax()])
    assert history.diagnostics[-1].layers[1].dead == 1.0
    [alert] = _dead_alerts(history)
    assert alert.layer == 1 and "slope 0" in alert.evidence
    assert "slope above 0" in alert.fix and "initialise with He" not in alert.fix
    at_end = alerts.standing([alert], history.records, alerts.context_of(net, dp.CrossEntropy(), y))
    assert at_end["alerts"][0]["cleared_by"] is None  # it still holds at the last epoch


def test_a_leaky_relu_with_a_slope_still_raises_no_dead_relu_alert():
    _, _, history = _dead_fit([dp.Dense(4, 6, init="he_normal"), dp.LeakyReLU(0.01), dp.Dense(6, 2), dp.Softmax()])
    assert history.diagnostics[-1].layers[1].dead == 1.0
    assert _dead_alerts(history) == []
