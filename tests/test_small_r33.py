"""Metrics on no examples and on classes with undefined scores, losses on no rows, and a
closed stdout under ``deltaprop train``."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import DataError, ShapeError


# -- metrics: no examples are an error, not a score of 0 ----------------------------------------
@pytest.mark.parametrize("empty", [[], np.zeros(0, dtype=np.int64), np.zeros((0, 3))])
def test_accuracy_of_no_examples_is_refused(empty):
    # scikit-learn's accuracy_score raises on empty input: 0/0 is no score
    with pytest.raises(DataError, match="no labels.*undefined"):
        dp.accuracy(empty, empty)


def test_classification_report_of_no_examples_is_refused():
    with pytest.raises(DataError, match="no labels.*undefined"):
        dp.classification_report([], [], n_classes=3)
    with pytest.raises(DataError, match="no labels"):
        dp.classification_report([], [])


# -- metrics: undefined precision or recall is marked, the numbers kept -------------------------
def test_a_class_never_predicted_is_marked_in_the_report():
    report = dp.classification_report([0, 1, 1, 2], [0, 0, 0, 2], class_names=["cat", "dog", "eel"])
    np.testing.assert_array_equal(report.precision, [1 / 3, 0.0, 1.0])  # the numbers are scikit-learn's
    np.testing.assert_array_equal(report.predicted, [3, 0, 1])
    rows = report.table().splitlines()
    dog = next(r for r in rows if r.startswith("dog"))
    cat = next(r for r in rows if r.startswith("cat"))
    assert "0.0000*" in dog and "*" not in cat
    assert len(dog) == len(cat)  # the marker takes a separator's place: the columns stay aligned
    note = [r for r in rows if r.startswith("*")]
    assert len(note) == 1 and "precision of class dog" in note[0] and "never predicted" in note[0]


def test_a_class_absent_from_y_true_has_its_recall_marked():
    report = dp.classification_report([0, 0, 1], [0, 1, 1], n_classes=3)
    rows = report.table().splitlines()
    assert rows[3].startswith("2 ") and rows[3].count("*") == 2  # neither true nor predicted: both 0/0
    notes = [r for r in rows if r.startswith("*")]
    assert any("recall of class 2" in n and "support 0" in n for n in notes)
    assert any("precision of class 2" in n for n in notes)


def test_a_report_with_every_score_defined_has_no_marker():
    table = dp.classification_report([0, 1, 1], [0, 1, 0]).table()
    assert "*" not in table


# -- losses: no rows is a typed error, not ZeroDivisionError -------------------------------------
@pytest.mark.parametrize("loss", [dp.CrossEntropy(), dp.CrossEntropy(from_logits=True), dp.BinaryCrossEntropy(),
                                  dp.MeanSquaredError()], ids=repr)
@pytest.mark.parametrize("call", ["__call__", "value", "gradient"])
def test_a_loss_on_no_rows_names_the_problem(loss, call):
    a = np.zeros((0, 2), dtype=np.float32)
    with pytest.raises(ShapeError, match="no rows.*n = 0"):
        getattr(loss, call)(a, np.zeros((0, 2), dtype=np.float32))


def test_a_fused_delta_on_no_rows_names_the_problem():
    a = np.zeros((0, 3), dtype=np.float32)
    with pytest.raises(ShapeError, match="no rows"):
        dp.CrossEntropy().fused_delta(dp.Softmax(), a, np.zeros((0, 3), dtype=np.float32))


def test_a_loss_on_rows_still_gives_the_mean():
    a = np.array([[0.25, 0.75], [0.5, 0.5]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert dp.CrossEntropy()(a, y) == pytest.approx(-(np.log(0.75) + np.log(0.5)) / 2)
    assert dp.MeanSquaredError()(a, y) == pytest.approx((2 * 0.25**2 + 2 * 0.5**2) / 2)


# -- export: a PyTorch module after two scaling layers is refused, as the file export is --------
def _two_scalings() -> dp.Network:
    from deltaprop.preprocessing import Rescaling, Standardization

    return dp.Network([Rescaling(1 / 255), Standardization(np.full(3, 0.5), np.full(3, 0.25)), dp.Dense(3, 2),
                       dp.Softmax()], seed=0)


@pytest.mark.parametrize("scaled_inputs", [True, False])
def test_to_torch_refuses_two_leading_scaling_layers(monkeypatch, scaled_inputs):
    # The module after them would take inputs scaled by both, but scaled_inputs=False advised
    # applying the first only ("x / 255"), and scaled_inputs=True gave that module silently.
    import types

    from deltaprop import export

    fake_torch = types.SimpleNamespace(float32="float32", float64="float64")  # the refusal comes before any module
    monkeypatch.setattr(export, "_require_torch", lambda feature: fake_torch)
    net = _two_scalings()
    with pytest.raises(dp.errors.ExportError, match="2 input-scaling layers.*Rescaling, Standardization.*fold"):
        dp.to_torch(net, scaled_inputs=scaled_inputs)
    with pytest.raises(dp.errors.ExportError, match="2 input-scaling layers"):
        export.torch_modules(net, scaled_inputs=True)
    with pytest.raises(dp.errors.ExportError, match="2 input-scaling layers"):
        export.torch_state_dict(net, scaled_inputs=True)


def test_one_leading_scaling_layer_still_goes_to_torch_after_it():
    from deltaprop import export
    from deltaprop.preprocessing import Rescaling

    net = dp.Network([Rescaling(1 / 255), dp.Dense(3, 2), dp.Softmax()], seed=0)
    assert [m["module"] for m in export.torch_modules(net, scaled_inputs=True)] == ["Linear", "Softmax"]
    np.testing.assert_array_equal(export.torch_state_dict(net, scaled_inputs=True)["0.weight"], net.layers[1].W.value.T)


# -- CLI: `deltaprop train ... | head` is no failed run ------------------------------------------
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_train_into_a_closed_pipe_finishes_the_run_and_exits_as_predict_does(tmp_path):
    # The reader is gone before the first line (as `| head` after its lines): every print
    # fails. The run was stopped as "failed", with resume advice and exit 1; it now trains on,
    # writes its files and ends with predict's status for a closed stdout (141, as SIGPIPE).
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "deltaprop.cli", "train", "--dataset", "parity", "--epochs", "1",
                               "--out", str(out)], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    for word in ("Broken pipe", "Traceback", "resume", "Exception ignored", "error"):
        assert word not in done.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "done"
    assert dp.load(out / "model.safetensors").n_outputs == 2
    assert (out / "report.html").is_file() and (out / "checkpoint.safetensors").is_file()
