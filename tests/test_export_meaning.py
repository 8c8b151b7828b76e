"""What an export says its outputs are, and that they are what ``deltaprop predict`` means:
probabilities with the model's own labels, the softmax (sigmoid) of logits next to them, a
multi-label classifier's 0/1 labels, a regressor's values with no label; the input scaling
and the class names it carries are the model's."""

from __future__ import annotations

import importlib.util
import json
import warnings

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.preprocessing import Rescaling, Standardization
from deltaprop.serialization import apply_scaling, class_probabilities, read_model

needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
                                reason="onnx and onnxruntime are not installed (pip install 'deltaprop[onnx]')")


def run(path_or_model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of the ONNX graph, by name."""
    import onnxruntime as ort

    data = path_or_model.SerializeToString() if hasattr(path_or_model, "SerializeToString") else str(path_or_model)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": x})))


def props(path_or_model) -> dict[str, str]:
    import onnx

    model = path_or_model if hasattr(path_or_model, "metadata_props") else onnx.load(path_or_model)
    return {p.key: p.value for p in model.metadata_props}


def torch_meta(path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        return f.metadata()


@pytest.mark.parametrize("write", [pytest.param(dp.export_onnx, marks=needs_onnx), dp.export_torch],
                         ids=["onnx", "torch"])
@pytest.mark.parametrize("names, problem", [(["a"], "1 names for 3 outputs"), (["a", "a", "b"], "names repeat")])
def test_exports_check_class_names_as_save_does(tmp_path, write, names, problem):
    net = dp.mlp([4, 5, 3], seed=0)
    with pytest.raises(dp.ConfigError, match=f"class_names: {problem}"):
        dp.save(net, tmp_path / "m.safetensors", class_names=names)
    with pytest.raises(dp.ConfigError, match=f"class_names: {problem}"):
        write(net, tmp_path / "out", class_names=names)
    assert not (tmp_path / "out").exists()


# -- a single logit ----------------------------------------------------------------------------------
def one_logit(dtype="float32") -> dp.Network:
    """``z = 0.3 x₀ + 0.1``: on standard normal inputs many z fall in [0, ½), where ``z ≥ 0``
    (the class of a logit) and ``z ≥ ½`` (a probability's threshold) disagree."""
    net = dp.Network([dp.Dense(2, 1), dp.Identity()], seed=0, dtype=dtype)
    net.layers[0].W.value[...] = [[0.3], [0.0]]
    net.layers[0].b.value[...] = 0.1
    return net


@needs_onnx
@pytest.mark.parametrize("how", ["network", "model-file"])
def test_a_single_logit_gets_its_sigmoid_and_the_label_z_at_least_0(tmp_path, how):
    net, bce = one_logit(), dp.BinaryCrossEntropy(from_logits=True)
    if how == "network":
        path = dp.export_onnx(net, tmp_path / "m.onnx", class_names=["neg", "pos"], loss=bce)
    else:
        dp.save(net, tmp_path / "m.safetensors", class_names=["neg", "pos"], loss=bce)
        path = dp.export_onnx(read_model(tmp_path / "m.safetensors"), tmp_path / "m.onnx")
    x = np.random.default_rng(0).standard_normal((500, 2)).astype(np.float32)
    z = net.predict_proba(x)
    assert np.sum((z >= 0) & (z < 0.5)) > 20  # rows where the two thresholds disagree
    got = run(path, x)
    assert list(got) == ["logits", "probabilities", "label"]
    np.testing.assert_allclose(got["logits"], z, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["probabilities"], 1 / (1 + np.exp(-z.astype(np.float64))), rtol=0, atol=1e-6)
    assert got["label"].shape == (500,) and np.array_equal(got["label"], net.predict(x, threshold=0.0))
    meta = props(path)
    assert meta["outputs"] == "logits" and json.loads(meta["decision_threshold"]) == 0.0
    assert json.loads(meta["output_names"]) == ["logits", "probabilities", "label"]


@needs_onnx
def test_check_onnx_holds_the_labels_to_the_models_rule():
    import onnx

    from deltaprop import export

    net, bce = one_logit(), dp.BinaryCrossEntropy(from_logits=True)
    model = export.onnx_model(net, loss=bce)
    assert export.check_onnx(model, net, loss=bce) < 1e-6
    threshold = next(t for t in model.graph.initializer if t.name == "label.threshold")
    threshold.CopyFrom(onnx.numpy_helper.from_array(np.array(0.5, np.float32), "label.threshold"))  # a probability's
    with pytest.raises(dp.ExportError, match=r"labels do not follow deltaprop's rule for its logits \(a ≥ 0\)"):
        export.check_onnx(model, net, loss=bce)
    with pytest.raises(dp.ExportError, match="needs logits, probabilities, label"):
        export.check_onnx(export.onnx_model(net), net, loss=bce)  # exported as scores, checked as logits


@needs_onnx
def test_a_loss_that_does_not_fit_the_network_is_refused(tmp_path):
    with pytest.raises(dp.ConfigError, match="needs probabilities from a Sigmoid output layer"):
        dp.export_onnx(one_logit(), tmp_path / "m.onnx", loss=dp.BinaryCrossEntropy())
    assert not (tmp_path / "m.onnx").exists()


# -- logits of a command-line run ------------------------------------------------------------------
@pytest.fixture(scope="module")
def logits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("logits") / "run"
    res = run_cli("train", "--dataset", "parity", "--layers", "10,6,2", "--output-activation", "identity",
                  "--loss", "cross_entropy", "--epochs", "3", "--out", out, "--quiet")
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
@needs_onnx
def test_logits_of_a_run_come_out_as_logits_and_their_softmax(logits_run, tmp_path):
    out = tmp_path / "m.onnx"
    res = run_cli("export", logits_run, "--format", "onnx", "-o", out)
    assert res.returncode == 0, res.stderr
    assert "outputs logits, probabilities (their softmax) and label (argmax)" in res.stdout
    rows = np.random.default_rng(0).integers(0, 2, (6, 10)).astype(np.float32)
    np.save(tmp_path / "rows.npy", rows)
    z = dp.load(logits_run / "model.safetensors").predict_proba(rows)
    got = run(out, rows)
    np.testing.assert_allclose(got["logits"], z, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["probabilities"], class_probabilities(z, "logits"), rtol=0, atol=1e-6)
    assert np.allclose(got["probabilities"].sum(axis=1), 1) and not np.allclose(np.abs(z).sum(axis=1), 1)
    shown = run_cli("predict", logits_run, tmp_path / "rows.npy").stdout.splitlines()
    for line, p in zip(shown, got["probabilities"]):  # what predict prints is what the graph gives
        assert f"{max(p):.4f}" in line
    assert props(out)["outputs"] == "logits" and json.loads(props(out)["decision_threshold"]) is None


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_pytorch_file_says_its_module_outputs_logits(logits_run, tmp_path):
    out = tmp_path / "m.pt.safetensors"
    res = run_cli("export", logits_run, "--format", "torch", "-o", out)
    assert res.returncode == 0, res.stderr
    assert "the module outputs logits (their softmax" in res.stdout
    meta = torch_meta(out)
    assert meta["outputs"] == "logits" and json.loads(meta["decision_threshold"]) is None
    single = dp.export_torch(one_logit(), tmp_path / "one.pt.safetensors", loss=dp.BinaryCrossEntropy(from_logits=True))
    assert torch_meta(single)["outputs"] == "logits" and json.loads(torch_meta(single)["decision_threshold"]) == 0.0
    sigmoid = dp.export_torch(dp.mlp([3, 4, 1], output="sigmoid", seed=0), tmp_path / "p.pt.safetensors")
    assert torch_meta(sigmoid)["outputs"] == "probabilities" and json.loads(torch_meta(sigmoid)["decision_threshold"]) == 0.5


# -- scikit-learn estimators: multi-label, regression ------------------------------------------------
def _fitted(make, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit does not converge
        return make().fit(X, y)


def _exported(est, stem, X):
    """What ``deltaprop export`` says when it writes the estimator's saved model as ONNX at
    ``stem``.onnx, and that graph's outputs on ``X``."""
    est.save(stem.with_suffix(".safetensors"))
    res = run_cli("export", stem.with_suffix(".safetensors"), "--format", "onnx", "-o", stem.with_suffix(".onnx"))
    assert res.returncode == 0, res.stderr
    return res.stdout, run(stem.with_suffix(".onnx"), X)


@needs_onnx
def test_a_multi_label_classifier_gets_a_0_1_label_per_output(tmp_path):
    from deltaprop.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0, X[:, 2] > 0].astype(int)
    est = _fitted(lambda: NeuralNetClassifier(hidden_layer_sizes=(16,), max_iter=40, random_state=0), X, Y)
    said, got = _exported(est, tmp_path / "m", X)
    assert "outputs probabilities and label (p ≥ 0.5, one 0/1 a label)" in said
    assert list(got) == ["probabilities", "label"] and got["label"].shape == (300, 3)
    assert np.array_equal(got["label"], est.predict(X))
    assert len({tuple(row) for row in got["label"]}) > 3  # rows with several labels, and with none
    np.testing.assert_allclose(got["probabilities"], est.predict_proba(X), rtol=0, atol=1e-9)
    meta = props(tmp_path / "m.onnx")
    assert meta["outputs"] == "labels" and json.loads(meta["decision_threshold"]) == 0.5


@needs_onnx
@pytest.mark.parametrize("targets", [1, 2])
def test_a_regressor_outputs_values_and_no_label(tmp_path, targets):
    from deltaprop.sklearn import NeuralNetRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = np.c_[10 * X[:, 0] + 3, X[:, 1]][:, :targets].squeeze()
    est = _fitted(lambda: NeuralNetRegressor(hidden_layer_sizes=(8,), max_iter=30, random_state=0), X, y)
    said, got = _exported(est, tmp_path / "r", X)
    assert "outputs values (a regressor: no label)" in said
    assert list(got) == ["values"]
    np.testing.assert_allclose(got["values"].reshape(np.shape(est.predict(X))), est.predict(X), rtol=0, atol=1e-9)
    meta = props(tmp_path / "r.onnx")
    assert meta["outputs"] == "values" and json.loads(meta["decision_threshold"]) is None
    assert torch_meta(dp.export_torch(read_model(tmp_path / "r.safetensors"), tmp_path / "r.pt"))["outputs"] == "values"


@needs_onnx
def test_probabilities_and_scores_keep_their_names():
    from deltaprop import export

    softmax, scores = dp.mlp([3, 4, 2], seed=0), dp.mlp([3, 4, 2], output="identity", seed=0)
    assert [o.name for o in export.onnx_model(softmax).graph.output] == ["probabilities", "label"]
    assert [o.name for o in export.onnx_model(scores).graph.output] == ["scores", "label"]
    x = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    assert np.array_equal(run(export.onnx_model(scores), x)["label"], scores.predict(x))


# -- input scaling the file records ----------------------------------------------------------------
@needs_onnx
@pytest.mark.parametrize("spec", [
    {"kind": "unit", "max": 255},
    {"kind": "standardize", "state": {"mode": "per_feature", "shape": [3], "mean": [100.0, -2.0, 0.5],
                                      "std": [10.0, 0.5, 2.0]}},
], ids=["unit", "standardize"])
def test_exports_of_a_model_file_record_the_scaling_its_first_layer_applies(tmp_path, spec):
    from deltaprop.preprocessing import split_input_layer

    net = dp.mlp([3, 4, 2], seed=0)
    dp.save(net, tmp_path / "m.safetensors", input_scaling=spec)
    mf = read_model(tmp_path / "m.safetensors")
    assert isinstance(mf.net.layers[0], (Rescaling, Standardization)) and mf.input_scaling is None
    onnx_path = dp.export_onnx(mf, tmp_path / "m.onnx")
    torch_path = dp.export_torch(mf, tmp_path / "m.pt.safetensors")
    assert json.loads(props(onnx_path)["input_scaling"]) == spec  # what the graph applies
    recorded = json.loads(torch_meta(torch_path)["input_scaling"])  # what to apply before the module
    assert recorded == spec
    module_net = split_input_layer(mf.net)[0]  # the layers the PyTorch module holds
    raw = np.random.default_rng(0).uniform(0, 255, (20, 3))
    np.testing.assert_array_equal(module_net.predict_proba(apply_scaling(recorded, raw, "float32")),
                                  mf.net.predict_proba(raw))


def test_several_leading_scaling_layers_are_refused_for_the_file(tmp_path):
    net = dp.Network([Rescaling(0.5), Standardization([1.0, 2.0, 3.0], [2.0]), dp.Dense(3, 2), dp.Softmax()], seed=0)
    with pytest.raises(dp.ExportError, match="starts with 2 input-scaling layers"):
        dp.export_torch(net, tmp_path / "m.pt.safetensors")
    assert not (tmp_path / "m.pt.safetensors").exists()


def test_a_single_score_is_said_to_be_a_class_by_its_threshold(tmp_path):
    # "the largest is the class" of one score: its class is score ≥ 0.5, as the file's decision_threshold says
    dp.save(one_logit(), tmp_path / "m.safetensors", class_names=["neg", "pos"], loss=dp.MeanSquaredError())
    res = run_cli("export", tmp_path / "m.safetensors", "--format", "torch", "-o", tmp_path / "m.pt.safetensors")
    assert res.returncode == 0, res.stderr
    assert "the module outputs one score (no probability; class 1 where it is ≥ 0.5)" in res.stdout
