"""`deltaprop export`: a scikit-learn model's input type, files that are no model, and the
ONNX examples of docs/export.md."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.serialization import read_model


def _fitted(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few epochs: the ConvergenceWarning is expected
        return estimator.fit(X, y)


def _classifier_file(tmp_path, X, name="model.safetensors") -> Path:
    """A scikit-learn classifier fitted on ``X`` (two classes by the first feature's sign), saved."""
    pytest.importorskip("sklearn")
    from deltaprop.sklearn import NeuralNetClassifier

    clf = _fitted(NeuralNetClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0), X, X[:, 0] > np.median(X[:, 0]))
    return clf.save(tmp_path / name)


# -- a scikit-learn model's file records the range of its raw training inputs ----------------
def test_a_scikit_learn_model_file_records_the_range_of_the_inputs_it_was_fitted_on(tmp_path):
    pytest.importorskip("sklearn")
    from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor

    X = np.random.default_rng(0).standard_normal((60, 3))
    path = _classifier_file(tmp_path, X)
    assert read_model(path).input_range == (X.min(), X.max())
    again = NeuralNetClassifier.load(path).save(tmp_path / "again.safetensors")  # a loaded model keeps it
    assert read_model(again).input_range == (X.min(), X.max())
    reg = NeuralNetRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.partial_fit(np.full((5, 3), 10.0), np.zeros(5))
        reg.partial_fit(np.linspace(-5, 3, 15).reshape(5, 3), np.zeros(5))  # every batch fitted on counts
    assert read_model(reg.save(tmp_path / "reg.safetensors")).input_range == (-5.0, 10.0)


@pytest.mark.parametrize(("scale", "input_type"), [(1.0, "uint8"), (255.0, "int8")])
def test_export_refuses_an_input_type_that_cannot_hold_a_scikit_learn_models_inputs(tmp_path, scale, input_type):
    """A classifier fitted on features around 0 exported with --input-type uint8 (or one fitted on
    pixels 0..255 with int8) was written without a word: the graph took only whole numbers its
    training inputs were not, and its check ran on inputs rounded to them."""
    pytest.importorskip("onnx")
    X = np.random.default_rng(1).standard_normal((60, 3)) if scale == 1.0 else \
        np.random.default_rng(1).integers(0, 256, (60, 3)).astype(float)
    path = _classifier_file(tmp_path, X)
    done = run_cli("export", path, "-o", tmp_path / "model.onnx", "--input-type", input_type)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"input type {input_type} holds whole numbers" in done.stderr and "leave the input type out" in done.stderr
    assert not (tmp_path / "model.onnx").exists()


def test_a_scikit_learn_model_fitted_on_pixels_exports_with_a_uint8_input(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = _classifier_file(tmp_path, np.random.default_rng(2).integers(0, 256, (60, 3)).astype(float))
    done = run_cli("export", path, "-o", tmp_path / "model.onnx", "--input-type", "uint8")
    assert done.returncode == 0, done.stderr
    assert onnx.load(tmp_path / "model.onnx").graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


# -- a file that is no model is named for what it is -------------------------------------------
RUN_FILES = {
    "report.html": ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>run · 784 → 50 → 10"
                    "</title></head></html>\n", "an HTML page"),
    "run.json": ('{\n  "command": [\n    "deltaprop",\n    "train"\n  ]\n}\n', "a JSON file"),
    "evaluation.json": ('{"accuracy": 0.919, "examples": 1000}\n', "a JSON file"),
    "config.toml": ("# deltaprop train configuration\n# derived: ...\ndataset = \"mnist-sample\"\nlayers = [784, 50, 10]\n",
                    "a TOML file"),
    "history.csv": ("epoch,loss,accuracy\n1,0.5,0.8\n2,0.4,0.85\n", "a CSV file"),
    "notes.txt": ("trained on the sample, see the report\n", "a text file"),
}


@pytest.mark.parametrize("name", sorted(RUN_FILES))
def test_a_run_file_given_for_the_model_is_named_for_what_it_is(tmp_path, name):
    """`deltaprop export report.html` said "is a text file (a CSV such as history.csv?)"."""
    text, kind = RUN_FILES[name]
    (tmp_path / name).write_text(text, encoding="utf-8")
    done = run_cli("export", tmp_path / name, "--format", "onnx", "-o", tmp_path / "model.onnx")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert f"{name}: is {kind}" in done.stderr and "a deltaprop model is a .safetensors file or a run folder" in done.stderr
    assert ("CSV" in done.stderr) == (kind == "a CSV file")


def test_a_run_file_given_for_the_model_points_to_the_runs_model(tmp_path):
    dp.save(dp.mlp([3, 4, 2], seed=0), tmp_path / "model.safetensors")
    (tmp_path / "report.html").write_text(RUN_FILES["report.html"][0], encoding="utf-8")
    done = run_cli("export", tmp_path / "report.html", "--format", "torch")
    assert done.returncode == 1 and f"the model of this run is {tmp_path / 'model.safetensors'}" in done.stderr
    with pytest.raises(dp.ModelFileError, match="is an HTML page"):
        read_model(tmp_path / "report.html")


# -- docs/export.md: its ONNX examples (the page's PyTorch ones need torch, as its test does) -----
@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_the_onnx_examples_of_docs_export_md_run_and_print_what_they_say(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from test_docs import BLOCK, run_block

    text = (Path(__file__).resolve().parent.parent / "docs" / "export.md").read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    onnx_blocks = blocks[:next(i for i, b in enumerate(blocks) if re.search(r"\btorch\b", b))]
    assert len(onnx_blocks) == 2  # onnxruntime with a softmax model, then with one logit
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_export_onnx"}
    for i, block in enumerate(onnx_blocks):
        assert run_block(block, f"export.md[block {i}]", namespace) == []
    printed = capsys.readouterr().out
    assert "onnxruntime accuracy" in printed and "'is it a 0?' accuracy" in printed


# -- an export that onnxruntime did not check says so -------------------------------------------
def test_an_onnx_export_without_onnxruntime_says_it_was_not_checked(tmp_path, monkeypatch):
    """With onnx alone installed the graph was written unchecked, and the line said nothing of
    it: the check docs/export.md promises had silently not run."""
    pytest.importorskip("onnx")
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([3, 4, 2], seed=0), path)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    done = run_cli("export", path, "-o", tmp_path / "model.onnx")
    assert done.returncode == 0 and (tmp_path / "model.onnx").is_file()
    assert "not checked: onnxruntime is not installed" in done.stdout and "matches" not in done.stdout
