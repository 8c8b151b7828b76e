"""What a model's outputs are, said once (``ModelFile.outputs``) and used by every front end:
probabilities, logits (shown as their softmax), a regressor's values, a multi-label
classifier's labels, or plain scores; and the class names a model file may hold."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.report import evaluation
from deltaprop.serialization import class_probabilities, read_model


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def logits_run(tmp_path_factory):
    """A command-line run whose outputs are logits: identity output with cross-entropy."""
    out = tmp_path_factory.mktemp("logits") / "run"
    res = run_cli("train", "--dataset", "parity", "--layers", "10,6,2", "--output-activation", "identity",
                  "--loss", "cross_entropy", "--epochs", "3", "--out", out)
    assert res.returncode == 0, res.stderr
    return out


def test_a_linear_output_trained_with_cross_entropy_is_read_as_logits(logits_run):
    mf = read_model(logits_run / "model.safetensors")
    assert mf.outputs == "logits"
    loss = mf.training_loss()
    assert isinstance(loss, dp.CrossEntropy) and loss.from_logits


def test_predict_shows_the_softmax_of_logits_as_probabilities(logits_run, tmp_path):
    rows = np.random.default_rng(0).integers(0, 2, (3, 10)).astype(np.float32)
    want = _softmax(dp.load(logits_run / "model.safetensors").predict_proba(rows).astype(np.float64))
    for line, p in zip(_predicted(logits_run, rows, tmp_path), want):
        shown = [float(v.split(": ")[1]) for v in line.split("(probabilities ")[1].rstrip(")").split(", ")]
        assert sorted(shown, reverse=True) == pytest.approx(sorted(p, reverse=True), abs=1e-4)
        assert sum(shown) == pytest.approx(1, abs=1e-3)


def test_the_report_confidence_of_logits_is_a_probability(logits_run):
    net = dp.load(logits_run / "model.safetensors")
    X = np.random.default_rng(1).integers(0, 2, (40, 10)).astype(np.float32)
    y = np.zeros(40, dtype=np.int64)  # every row "class 0": whatever is predicted 1 is wrong
    result = evaluation(net, X, y, ("odd", "even"), loss=dp.CrossEntropy(from_logits=True))
    confidences = [w["confidence"] for w in result["wrong"]]
    assert confidences and all(0.5 <= c <= 1 for c in confidences)


def _estimators(tmp_path):
    from sklearn.exceptions import ConvergenceWarning

    from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = NeuralNetRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, X[:, 0] - 2)
        multi = NeuralNetClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, (X[:, :3] > 0).astype(int))
    return X, reg, reg.save(tmp_path / "reg.safetensors"), multi, multi.save(tmp_path / "multi.safetensors")


def _predicted(model_path, rows, tmp_path) -> list[str]:
    """What `deltaprop predict MODEL rows.npy` prints, a line a row."""
    np.save(tmp_path / "rows.npy", rows)
    res = run_cli("predict", model_path, tmp_path / "rows.npy")
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def test_a_regressor_file_predicts_values_and_is_not_evaluated_as_a_classifier(tmp_path):
    pytest.importorskip("sklearn")
    X, reg, reg_path, _, _ = _estimators(tmp_path)
    assert read_model(reg_path).outputs == "values"
    lines = _predicted(reg_path, X[:3], tmp_path)
    np.testing.assert_allclose([float(line.split("value ")[1]) for line in lines], reg.predict(X[:3]), rtol=1e-5)
    assert not any("probabilities" in line or "class" in line for line in lines)
    res = run_cli("evaluate", reg_path, "--dataset", "parity")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1 and "is a regressor" in res.stderr


def test_a_multilabel_file_predicts_a_set_of_labels(tmp_path):
    pytest.importorskip("sklearn")
    X, _, _, multi, multi_path = _estimators(tmp_path)
    assert read_model(multi_path).outputs == "labels"
    for line, want in zip(_predicted(multi_path, X[:4], tmp_path), multi.predict(X[:4])):
        labels = line.split(": ", 1)[1].split("  (")[0].removeprefix("labels ")
        assert labels == (", ".join(str(c) for c in np.flatnonzero(want)) or "(none)")


def test_class_probabilities_of_each_kind():
    z = np.array([[2.0, -1.0, 0.5]])
    np.testing.assert_allclose(class_probabilities(z, "logits"), _softmax(z))
    np.testing.assert_allclose(class_probabilities(np.array([[0.0]]), "logits"), [[0.5, 0.5]])
    np.testing.assert_allclose(class_probabilities(np.array([[0.25]]), "probabilities"), [[0.75, 0.25]])
    assert class_probabilities(z, "scores") is None


@pytest.mark.parametrize(("names", "match"), [
    (["cat", "dog", "emu", "fox"], "4 names for 3 outputs"),
    (["cat", "dog"], "2 names for 3 outputs"),
    (["cat", "cat", "dog"], "names repeat"),
])
def test_class_names_must_name_each_output_once(tmp_path, names, match):
    net = dp.Network([dp.Dense(4, 3), dp.Softmax()], seed=0)
    with pytest.raises(dp.ConfigError, match=match):
        dp.save(net, tmp_path / "m.safetensors", class_names=names)
    # a file written by other means with such names is refused when read
    from deltaprop.serialization import _encode, _json, _model_parts

    tensors, meta, order = _model_parts(net, None, None, None)
    meta["class_names"] = _json(names)
    (tmp_path / "bad.safetensors").write_bytes(_encode(tensors, meta, order))
    with pytest.raises(dp.ModelFileError, match=match):
        read_model(tmp_path / "bad.safetensors")
    one = dp.Network([dp.Dense(4, 1), dp.Sigmoid()], seed=0)
    dp.save(one, tmp_path / "binary.safetensors", class_names=["no", "yes"])  # a single output: classes 0 and 1


def test_a_network_that_scales_its_own_inputs_is_not_given_a_second_scaling(tmp_path):
    net = dp.Network([dp.Dense(4, 3), dp.Softmax()], seed=0)
    path = dp.save(net, tmp_path / "m.safetensors", input_scaling={"kind": "unit", "max": 255})
    loaded = read_model(path)
    assert loaded.net.layers[0].type_name == "Rescaling" and loaded.input_scaling is None
    raw = np.random.default_rng(0).integers(0, 256, (5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.net.predict_proba(raw), net.predict_proba(raw * np.float32(1 / 255)))
    with pytest.raises(dp.ConfigError, match="already scales its raw inputs"):
        dp.save(loaded.net, tmp_path / "again.safetensors", input_scaling={"kind": "unit", "max": 255})
    with pytest.raises(dp.ExportError, match="already scales its raw inputs"):
        dp.export_onnx(loaded.net, tmp_path / "m.onnx", input_scaling={"kind": "unit", "max": 255})


@pytest.mark.parametrize(("output", "loss"), [("identity", "cross_entropy"), ("softmax", "cross_entropy"),
                                              ("sigmoid", "binary_cross_entropy"), ("tanh", "mse")])
def test_gradcheck_checks_the_loss_training_uses(output, loss):
    # an identity output with cross_entropy trains on logits; checking it as probabilities failed
    layers = "4,5,1" if loss == "binary_cross_entropy" else "4,5,3"
    res = run_cli("gradcheck", "--layers", layers, "--output-activation", output, "--loss", loss)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "passed" in res.stdout


def test_a_one_class_model_is_not_served_as_two_classes(tmp_path):
    """A classifier fitted on one class knows that class alone: the page would show a
    second class ("1") that does not exist, so serving it is refused in one line."""
    pytest.importorskip("sklearn")
    from deltaprop.errors import ModelFileError
    from deltaprop.serve.model import ModelSource
    from deltaprop.sklearn import NeuralNetClassifier

    X = np.random.default_rng(0).normal(size=(20, 784))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralNetClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, ["cat"] * 20)
    path = est.save(tmp_path / "one.safetensors")
    with pytest.raises(ModelFileError, match="knows one class alone \\(cat\\)"):
        ModelSource(path)
    res = run_cli("serve", path, "--port", "0")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "knows one class alone" in res.stderr
