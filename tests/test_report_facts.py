"""The run report says what the run's files and the CLI say: which rows the results are of
(a file too small to split is scored on its training rows), which epoch's weights the model
holds (early stopping keeps its best), the data file's own SHA-256, every session of a
resumed run, one training time, and one error line for a malformed evaluation.json."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop import report
from deltaprop.report_html import render

XOR9 = "a,b,label\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n0.1,0,0\n0,0.9,1\n0.9,0,1\n1,1.1,0\n0.2,0.1,0\n"


def _text(page: str) -> str:
    """The page's words, tags removed and white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _evaluation(**changes) -> dict:
    ev = {"accuracy": 0.625, "examples": 8, "class_names": ["0", "1"], "confusion": [[3, 1], [2, 2]],
          "wrong": [{"index": 1, "label": 0, "predicted": 1, "confidence": 0.9}]}
    return {**ev, **changes}


# -- 1. the rows the results are of --------------------------------------------------------------------------
def test_results_of_the_training_rows_are_called_so_with_the_cli_warning():
    note = "no held-out test set: files under 10 rows are trained on whole"
    text = _text(render([], {"status": "done"}, evaluation=_evaluation(scored="training", note=note)))
    assert "training accuracy 0.6250 on all 8 examples" in text
    assert f"WARNING: {note}" in text
    assert "Confusion matrix (all training rows: no held-out test set)" in text
    assert "Most confidently wrong training examples" in text
    assert "test" not in text.replace("no held-out test set", "")


def test_results_of_the_test_set_and_older_evaluation_files_say_test():
    for ev in (_evaluation(scored="test"), _evaluation()):  # an evaluation.json from before "scored" was kept
        text = _text(render([], {"status": "done"}, evaluation=ev))
        assert "test accuracy 0.6250 on 8 examples" in text
        assert "Confusion matrix (test set)" in text and "Most confidently wrong test examples" in text
        assert "training accuracy" not in text and "WARNING" not in text


def test_evaluation_records_the_rows_it_scored():
    net = dp.Network([dp.Dense(2, 2), dp.Softmax()], seed=0)
    X, y = np.zeros((4, 2), dtype=np.float32), np.array([0, 1, 0, 1])
    assert report.evaluation(net, X, y, ("a", "b"))["scored"] == "test"
    ev = report.evaluation(net, X, y, ("a", "b"), scored="training", note="why")
    assert ev["scored"] == "training" and ev["note"] == "why"
    with pytest.raises(ValueError, match="scored"):
        report.evaluation(net, X, y, ("a", "b"), scored="validation")


@pytest.mark.slow  # a training run with its plots
def test_a_file_too_small_to_split_is_reported_as_scored_on_its_training_rows(tmp_path):
    data = tmp_path / "xor9.csv"
    data.write_text(XOR9)
    out = tmp_path / "run"
    res = run_cli("train", "--dataset", data, "--validation-split", "0", "--out", out, "--epochs", "2")
    assert res.returncode == 0, res.stderr
    said = re.search(r"^training accuracy (\d\.\d{4}) on all 9 examples", res.stdout, re.M)
    warning = re.search(r"^WARNING: (no held-out test set[^\n]*)", res.stderr, re.M)
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["scored"] == "training" and ev["note"] == warning.group(1)
    text = _text((out / "report.html").read_text(encoding="utf-8"))
    assert f"training accuracy {said.group(1)} on all 9 examples" in text
    assert f"WARNING: {warning.group(1)}" in text
    assert "test accuracy" not in text and "Confusion matrix (test set)" not in text


# -- 2. the epoch whose weights the model holds ---------------------------------------------------------------
def _early_stopped(tmp_path, *, restore=True):
    """A run whose validation labels are the training labels flipped: val_loss is best after
    epoch 1 and rises after, so early stopping (patience 1) stops at epoch 3."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    writer = report.ReportWriter(tmp_path, report.run_facts(["x"], {"seed": 0}, data_source="s", data_sha="0"),
                                 interval=0)
    stopper = dp.EarlyStopping("val_loss", patience=1, restore_best_weights=restore)
    net = dp.mlp([4, 8, 2], seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=20, validation=(X, 1 - y),
           callbacks=[stopper, writer])
    return writer, stopper


@pytest.mark.slow  # about a second: three epochs, each writing the report
def test_the_report_says_early_stopping_kept_an_earlier_epoch(tmp_path):
    writer, stopper = _early_stopped(tmp_path)
    assert stopper.best_epoch == 1 and stopper.stopped_epoch == 3
    writer.finish("done")
    kept = json.loads((tmp_path / "run.json").read_text())["model_weights"]
    assert kept == {"epoch": 1, "last_epoch": 3, "why": "early_stopping", "monitor": "val_loss",
                    "best": pytest.approx(stopper.best), "stopped_epoch": 3}
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    text = _text(page)
    assert "last epoch (3):" in text
    first = writer.records[0]
    assert (f"The model holds the weights of epoch 1, not of the last epoch (3): early stopping kept the weights of "
            f"epoch 1, the best val_loss ({stopper.best:.4f}), and stopped the run at epoch 3") in text
    assert f"epoch 1: loss {first['loss']:.4f}, accuracy {first['accuracy']:.4f}, val loss {first['val_loss']:.4f}" in text
    assert page.count('class="mark"') == 2  # on the loss and accuracy curves


def test_without_kept_best_weights_the_model_is_the_last_epoch(tmp_path):
    writer, _ = _early_stopped(tmp_path, restore=False)
    writer.finish("done")
    kept = json.loads((tmp_path / "run.json").read_text())["model_weights"]
    assert kept == {"epoch": 3, "last_epoch": 3, "why": "last_epoch"}
    text = _text((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert "The model holds the weights of epoch" not in text and "epoch 3 (the last epoch trained)" in text


def test_an_older_run_json_without_model_weights_renders():
    records = [{"epoch": 1, "loss": 0.5, "lr": 0.1}, {"epoch": 2, "loss": 0.4, "lr": 0.1}]
    text = _text(render(records, {"status": "done"}))
    assert "last epoch (2): loss 0.4000" in text and "model weights" not in text
