"""A classifier with one sigmoid unit a class (three or more classes, not multilabel): its
outputs are independent scores in (0, 1) whose rows need not sum to 1. Every surface calls
them scores (``deltaprop predict``, the served page's API, the model file's ``outputs``,
exports), while the estimator's ``predict_proba`` divides them by their row sum, as
scikit-learn's contract asks. Softmax models and a single sigmoid unit keep showing
probabilities."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli

pytest.importorskip("sklearn")
from deltaprop.sklearn import NeuralNetClassifier  # noqa: E402

needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
                                reason="onnx and onnxruntime are not installed (pip install 'deltaprop[onnx]')")


def _fitted(output: str, n_classes: int = 3, n_features: int = 4):
    rng = np.random.default_rng(0)
    y = np.arange(60) % n_classes
    X = rng.normal(size=(60, n_features))
    X[:, 0] += 2.0 * y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralNetClassifier((8,), output=output, max_iter=20, random_state=0).fit(X, y)
    return est, X


def _saved(tmp_path, output: str, n_classes: int = 3, n_features: int = 4):
    est, X = _fitted(output, n_classes, n_features)
    path = est.save(tmp_path / "m.safetensors")
    np.save(tmp_path / "x.npy", X[:3])
    return est, X[:3], path


def test_predict_calls_several_sigmoid_outputs_scores_and_predict_proba_sums_to_one(tmp_path):
    est, X, path = _saved(tmp_path, "sigmoid")
    raw = est.net_.predict_proba(X)
    assert not np.allclose(raw.sum(axis=1), 1.0)  # the test can tell raw sigmoids from a distribution
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba, raw / raw.sum(axis=1, keepdims=True))
    assert dp.serialization.read_model(path).outputs == "scores"
    r = run_cli("predict", path, tmp_path / "x.npy", "--top", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3 and all("probabilit" not in line for line in lines)
    for line, row, label in zip(lines, raw, est.predict(X)):
        order = np.argsort(-row, kind="stable")
        shown = ", ".join(f"{c}: {row[c]:.4f}" for c in order)
        assert line.endswith(f"class {label}  (scores {shown})")  # the numbers the network gives, named so


@pytest.mark.parametrize("output, n_classes", [("softmax", 3), ("sigmoid", 2)])
def test_softmax_and_one_sigmoid_unit_still_show_probabilities(tmp_path, output, n_classes):
    est, X, path = _saved(tmp_path, output, n_classes)
    assert dp.serialization.read_model(path).outputs == "probabilities"
    r = run_cli("predict", path, tmp_path / "x.npy")
    assert r.returncode == 0 and r.stdout.count("(probabilities ") == 3, r.stdout + r.stderr
    np.testing.assert_allclose(est.predict_proba(X).sum(axis=1), 1.0)


def test_the_served_page_shows_scores_as_predict_does(tmp_path):
    from deltaprop.serve.model import ModelSource

    est, _, path = _saved(tmp_path, "sigmoid", n_features=784)
    pixels = np.random.default_rng(1).integers(0, 256, size=784)
    out = ModelSource(path).forward(pixels)
    assert out["outputs"] == "scores" and out["probabilities"] is None
    x = pixels.reshape(1, 784).astype(np.float64)
    np.testing.assert_allclose(out["scores"], est.net_.predict_proba(x)[0], rtol=1e-6)
    assert out["predicted"] == int(np.argmax(est.predict_proba(x)[0]))


@needs_onnx
def test_the_onnx_export_names_them_scores(tmp_path):
    import onnx
    import onnxruntime as ort

    est, X, path = _saved(tmp_path, "sigmoid")
    onnx_path = dp.export_onnx(dp.serialization.read_model(path), tmp_path / "m.onnx")
    model = onnx.load(onnx_path)
    assert {p.key: p.value for p in model.metadata_props}["outputs"] == "scores"
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert "probabilities" not in names and "scores" in names
    got = dict(zip(names, session.run(names, {"input": X.astype(np.float64)})))
    np.testing.assert_allclose(got["scores"], est.net_.predict_proba(X), rtol=1e-9)
    assert (est.classes_[got["label"]] == est.predict(X)).all()
