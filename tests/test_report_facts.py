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
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=20, validation=(X, 1 - y), seed=0,
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


def test_early_stopping_that_never_stopped_still_says_which_epoch_the_model_holds():
    records = [{"epoch": e, "loss": 1.0 / e, "val_loss": v, "lr": 0.1} for e, v in ((1, 0.9), (2, 0.5), (3, 0.6))]
    kept = {"epoch": 2, "last_epoch": 3, "why": "early_stopping", "monitor": "val_loss", "best": 0.5,
            "stopped_epoch": None}
    text = _text(render(records, {"status": "done", "model_weights": kept}))
    assert ("The model holds the weights of epoch 2, not of the last epoch (3): early stopping kept the weights of "
            "epoch 2, the best val_loss (0.5000), and did not stop the run.") in text


def test_an_older_run_json_without_model_weights_renders():
    records = [{"epoch": 1, "loss": 0.5, "lr": 0.1}, {"epoch": 2, "loss": 0.4, "lr": 0.1}]
    text = _text(render(records, {"status": "done"}))
    assert "last epoch (2): loss 0.4000" in text and "model weights" not in text


# -- 3. the data file's SHA-256 -----------------------------------------------------------------------------
def _run_table(page: str) -> dict[str, str]:
    return dict(re.findall(r"<tr><td>([^<]*)</td><td><code>([^<]*)</code></td></tr>", page))


def test_the_data_sha256_is_the_file_s_and_the_arrays_digest_is_named_so():
    facts = report.run_facts(["x"], {}, data_source="d.csv", data_sha="a" * 64, file_sha="f" * 64)
    assert facts["data"] == {"source": "d.csv", "arrays_sha256": "a" * 64, "file_sha256": "f" * 64}
    table = _run_table(render([], facts))
    assert table["data SHA-256"] == "f" * 64
    assert table["split arrays SHA-256 (dtype, shape, bytes as loaded)"] == "a" * 64
    named = _run_table(render([], report.run_facts(["x"], {}, data_source="mnist-sample", data_sha="a" * 64)))
    assert "data SHA-256" not in named  # a named dataset is no one file
    # an older run.json held the arrays' digest as data.sha256: it is shown as what it is
    older = _run_table(render([], {"data": {"source": "d.csv", "sha256": "a" * 64}}))
    assert "data SHA-256" not in older and older["split arrays SHA-256 (dtype, shape, bytes as loaded)"] == "a" * 64


# -- 4. every session of a resumed run -----------------------------------------------------------------------
def _fit_one_epoch(writer) -> None:
    X = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    dp.fit(dp.mlp([4, 3, 2], seed=0), X, np.arange(32) % 2, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
           epochs=1, callbacks=[writer])


def test_a_resumed_run_keeps_its_first_start_every_command_and_the_summed_times(tmp_path):
    first = {"command": ["deltaprop", "train", "--out", "r"], "started": "2026-01-01 10:00:00 +0000", "status": "done",
             "sessions": [{"command": ["deltaprop", "train", "--out", "r"], "started": "2026-01-01 10:00:00 +0000",
                           "training_seconds": 40.0, "seconds": 50.0}], "training_seconds": 40.0, "seconds": 50.0}
    resume = ["deltaprop", "train", "--resume", "r", "--epochs", "9"]
    writer = report.ReportWriter(tmp_path, report.run_facts(resume, {"seed": 0}, data_source="s", data_sha="0"),
                                 earlier=first)
    _fit_one_epoch(writer)
    writer.finish("done")
    facts = json.loads((tmp_path / "run.json").read_text())
    assert facts["command"] == first["command"] and facts["started"] == first["started"]
    assert [s["command"] for s in facts["sessions"]] == [first["command"], resume]
    this = facts["sessions"][1]
    assert 0 < this["training_seconds"] <= this["seconds"]
    assert facts["training_seconds"] == pytest.approx(40.0 + this["training_seconds"], abs=1e-3)
    assert facts["seconds"] == pytest.approx(50.0 + this["seconds"], abs=1e-3)
    assert report.training_words(facts) == f"{facts['training_seconds']:.1f} s of training over 2 sessions"
    table = _run_table((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert table["command (session 1)"] == "deltaprop train --out r" and table["started"] == first["started"]
    assert table["session 2"] == f"{this['started']}: {' '.join(resume)}"
    assert table["training time"] == (f"{facts['training_seconds']:.1f} s over 2 sessions "
                                      f"(40.0 s, {this['training_seconds']:.1f} s)")


def test_a_run_json_from_before_sessions_were_kept_is_the_first_session():
    older = {"command": ["deltaprop", "train"], "started": "then", "training_seconds": 2.5, "seconds": 3}
    assert report.earlier_sessions(older) == [{"command": ["deltaprop", "train"], "started": "then",
                                               "training_seconds": 2.5, "seconds": 3.0}]
    assert report.earlier_sessions(None) == []
    odd = {"sessions": [{"command": "x", "started": 5, "training_seconds": -1, "seconds": True}, 7]}
    assert report.earlier_sessions(odd) == [{"command": None, "started": None, "training_seconds": None, "seconds": None}]
    table = _run_table(render([], {"status": "done", **older}))  # one session: no session rows
    assert table["command"] == "deltaprop train" and table["training time"] == "2.5 s"
    assert not any(k.startswith("session") for k in table)


@pytest.mark.slow  # two short training runs with their plots
def test_train_resume_reports_both_sessions(tmp_path):
    data = tmp_path / "xor9.csv"
    data.write_text(XOR9)
    out = tmp_path / "run"
    first = ["train", "--dataset", str(data), "--validation-split", "0", "--out", str(out), "--epochs", "2", "--quiet"]
    assert run_cli(*first).returncode == 0
    before = json.loads((out / "run.json").read_text())
    res = run_cli("train", "--resume", out, "--epochs", "4")
    assert res.returncode == 0, res.stderr
    facts = json.loads((out / "run.json").read_text())
    assert facts["started"] == before["started"] and facts["command"] == ["deltaprop", *first]
    assert [s["command"] for s in facts["sessions"]] == [["deltaprop", *first],
                                                         ["deltaprop", "train", "--resume", str(out), "--epochs", "4"]]
    assert facts["sessions"][0]["training_seconds"] == before["training_seconds"]
    assert facts["training_seconds"] == pytest.approx(sum(s["training_seconds"] for s in facts["sessions"]), abs=1e-3)
    assert f"({facts['training_seconds']:.1f} s of training over 2 sessions)" in res.stdout
    table = _run_table((out / "report.html").read_text(encoding="utf-8"))
    assert table["session 2"].endswith(f"deltaprop train --resume {out} --epochs 4")
    # 3. the data file's own SHA-256, as sha256sum gives it and the model records it
    import hashlib

    from deltaprop.serialization import read_model

    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    assert table["data SHA-256"] == digest == read_model(out / "model.safetensors").extra["data_file"]["sha256"]


# -- 5. one training time ----------------------------------------------------------------------------------------
@pytest.mark.slow  # a short training run with its plots
def test_the_cli_and_the_report_give_one_training_time(tmp_path, monkeypatch):
    """Time spent in the CLI's call of fit outside the training loop (here a 0.3 s pause
    before it) is in neither number: the printed time is run.json's and the report's."""
    import time

    from deltaprop import cli

    real_fit = cli.fit

    def slow_to_start(*args, **kwargs):
        time.sleep(0.3)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(cli, "fit", slow_to_start)
    data = tmp_path / "xor9.csv"
    data.write_text(XOR9)
    common = ["train", "--dataset", data, "--validation-split", "0", "--epochs", "2"]
    res = run_cli(*common, "--out", tmp_path / "a", "--quiet")
    facts = json.loads((tmp_path / "a" / "run.json").read_text())
    printed = re.search(r"\((\d+\.\d) s of training\)", res.stdout).group(1)
    assert printed == f"{facts['training_seconds']:.1f}"
    assert _run_table((tmp_path / "a" / "report.html").read_text(encoding="utf-8"))["training time"] == f"{printed} s"
    logged = run_cli(*common, "--out", tmp_path / "b", "--log-json")
    summary = json.loads(logged.stdout.strip().splitlines()[-1])
    assert summary["seconds"] == json.loads((tmp_path / "b" / "run.json").read_text())["training_seconds"]


# -- 6. a malformed evaluation.json ------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "field"), [
    ('{"accuracy": 0.5, "examples": 3, "confusion": "zz"}', "confusion"),
    ('{"accuracy": "high", "examples": 3}', "accuracy"),
    ('{"accuracy": 0.5}', "examples"),
    ("[1, 2]", "the content"),
    ('{"wrong": [{"index": 1}]}', "wrong[0].label"),
    ('{"wrong": [{"index": 1, "label": 0, "predicted": 1, "confidence": 0.5, "pixels": [1, 2, 3]}]}', "wrong[0].pixels"),
    ('{"confusion": [[1, 2], [3]]}', "confusion"),
    ('{"confusion": [[1, 2], [3, 4]], "class_names": ["a"]}', "class_names"),
    ('{"accuracy": 0.5, "examples": 3, "scored": "validation"}', "scored"),
])
def test_a_malformed_evaluation_json_is_one_error_line(tmp_path, body, field):
    (tmp_path / "run.json").write_text('{"status": "done"}')
    (tmp_path / "evaluation.json").write_text(body)
    res = run_cli("report", tmp_path)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"deltaprop: error: {tmp_path / 'evaluation.json'}: {field} is "), res.stderr


def test_evaluation_written_by_a_run_passes_the_check(tmp_path):
    net = dp.Network([dp.Dense(16, 2), dp.Softmax()], seed=0)
    images = np.arange(4 * 16, dtype=np.uint8).reshape(4, 16)
    ev = report.evaluation(net, images.astype(np.float32), np.array([0, 1, 0, 1]), ("a", "b"), images=images,
                           scored="training", note="why")
    assert ev["wrong"] and report.checked_evaluation(json.loads(json.dumps(ev)), tmp_path) == ev
    (tmp_path / "run.json").write_text('{"status": "done"}')
    (tmp_path / "evaluation.json").write_text(json.dumps(ev))
    assert run_cli("report", tmp_path).returncode == 0
    assert "training accuracy" in (tmp_path / "report.html").read_text(encoding="utf-8")
