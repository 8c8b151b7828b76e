"""deltaprop report on a damaged run folder: one line naming the file and the problem, never a
traceback, and never an alert deltaprop does not raise."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import report
from deltaprop.cli import main


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder's files of a small fit with diagnostics and a dead-ReLU alert."""
    out = tmp_path_factory.mktemp("damaged") / "run"
    out.mkdir()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4))
    net = dp.mlp([4, 6, 2], activation="relu", seed=0)
    net.layers[0].b.value[:] = -50.0  # every hidden unit dead
    history = dp.fit(net, X, (X[:, 0] > 0).astype(int), loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
                     epochs=2, batch_size=16, seed=0)
    assert history.alerts
    history.write_csv(out / "history.csv")
    report.write_run_files(out, history.records, {"status": "done", "config": {"dataset": "toy"}})
    return out


@pytest.fixture
def run(run_folder, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run_folder, out)
    return out


def _report_error(out, capsys) -> str:
    capsys.readouterr()
    assert main(["report", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_a_truncated_diagnostics_csv_is_one_line(run, capsys):
    text = (run / "diagnostics.csv").read_text()
    (run / "diagnostics.csv").write_text(text[: len(text) // 2])
    err = _report_error(run, capsys)
    assert "diagnostics.csv" in err and "cut short" in err


def test_an_alerts_csv_without_its_columns_is_one_line(run, capsys):
    (run / "alerts.csv").write_text("epoch,rule\n1,dead_relu\n")
    err = _report_error(run, capsys)
    assert "alerts.csv" in err and "layer, evidence, fix" in err


def test_an_alert_of_an_unknown_rule_or_layer_is_refused(run, capsys):
    (run / "alerts.csv").write_text("epoch,rule,layer,evidence,fix\n1,no_such_rule,99,anything,x\n")
    err = _report_error(run, capsys)
    assert "alerts.csv" in err and "no_such_rule" in err


def test_a_diagnostics_csv_of_another_kind_names_the_column(run, capsys):
    (run / "diagnostics.csv").write_text("epoch,name\n1,x\n")
    err = _report_error(run, capsys)
    assert "diagnostics.csv" in err and "lacks the columns" in err


def test_an_intact_folder_still_reports(run, capsys):
    assert main(["report", str(run)]) == 0


def test_an_alert_of_a_layer_the_network_lacks_is_refused(run, capsys):
    (run / "alerts.csv").write_text("epoch,rule,layer,evidence,fix\n1,dead_relu,99,anything,x\n")
    err = _report_error(run, capsys)
    assert "alerts.csv" in err and "layer 99" in err
