"""A multi-label classifier of logits (binary cross-entropy ``from_logits=True`` on several
linear outputs and multi-hot rows) exports as one: ``logits``, their sigmoid, and a 0/1
label per output at ``z ≥ 0``, in the ONNX graph, the PyTorch file and ``deltaprop predict``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'deltaprop[onnx]'; the dev group has it)")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'deltaprop[onnx]')")

from deltaprop import export  # noqa: E402

BCE_LOGITS = dp.BinaryCrossEntropy(from_logits=True)


def graph_outputs(path, x: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": x})))


def props(path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _labels_net(output: str = "identity", loss=BCE_LOGITS, dtype="float32"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(dtype)
    y = (x[:, :3] > 0).astype(dtype)  # rows of several 1s, and of none
    net = dp.mlp([4, 6, 3], activation="tanh", output=output, seed=0, dtype=dtype)
    dp.fit(net, x, y, loss=loss, optimizer=dp.Adam(lr=0.02), epochs=5, batch_size=20, seed=0)
    return net, x


@pytest.fixture(scope="module")
def logit_labels():
    return _labels_net()


def test_the_graph_of_logit_labels_gives_their_sigmoid_and_z_at_least_0(tmp_path, logit_labels):
    net, x = logit_labels
    got = graph_outputs(dp.export_onnx(net, tmp_path / "m.onnx"), x)
    assert list(got) == ["logits", "probabilities", "label"]
    z = net.predict_proba(x)
    np.testing.assert_allclose(got["logits"], z, atol=1e-6)
    np.testing.assert_allclose(got["probabilities"], 1 / (1 + np.exp(-z.astype(np.float64))), atol=1e-6)
    assert got["label"].shape == (len(x), 3)
    np.testing.assert_array_equal(got["label"], net.predict(x))
    assert 0 < got["label"].sum() < got["label"].size  # labels on and off: the rule is exercised


def test_a_float64_logit_labels_graph_matches_to_rounding(tmp_path):
    net, x = _labels_net(dtype="float64")
    got = graph_outputs(dp.export_onnx(net, tmp_path / "m.onnx"), x)
    np.testing.assert_allclose(got["logits"], net.predict_proba(x), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got["label"], net.predict(x))


def test_a_logit_labels_file_exports_its_labels_record(tmp_path, logit_labels):
    net, x = logit_labels
    path = dp.save(net, tmp_path / "m.safetensors", loss=BCE_LOGITS, class_names=["a", "b", "c"])
    out, line = export.export_file(path, "onnx", tmp_path / "m.onnx")
    meta = props(out)
    assert meta["outputs"] == "labels"
    assert json.loads(meta["output_names"]) == ["logits", "probabilities", "label"]
    assert json.loads(meta["decision_threshold"]) == 0.0
    assert "label (z ≥ 0, one 0/1 a label)" in line
    np.testing.assert_array_equal(graph_outputs(out, x)["label"], dp.load(path).predict(x))


def test_the_pytorch_file_of_logit_labels_says_they_are_logits(tmp_path, logit_labels):
    net, _ = logit_labels
    path = dp.save(net, tmp_path / "m.safetensors", loss=BCE_LOGITS)
    out, line = export.export_file(path, "torch", tmp_path / "m.pt.safetensors")
    assert "a logit per label (each label is on at z ≥ 0" in line
    from safetensors import safe_open

    with safe_open(str(out), "np") as f:
        meta = f.metadata()
    assert meta["outputs"] == "labels" and json.loads(meta["decision_threshold"]) == 0.0


def _predicted_labels(capsys, path, x, tmp_path) -> np.ndarray:
    rows = tmp_path / "x.csv"
    np.savetxt(rows, x, delimiter=",")
    capsys.readouterr()
    assert main(["predict", str(path), str(rows)]) == 0
    lines = capsys.readouterr().out.splitlines()
    on = [line.split(": labels ", 1)[1].split("  (", 1)[0] for line in lines]
    return np.array([[str(k) in o.split(", ") for k in range(3)] for o in on], dtype=np.int64)


def test_deltaprop_predict_gives_the_labels_of_logits(tmp_path, capsys, logit_labels):
    net, x = logit_labels
    path = dp.save(net, tmp_path / "m.safetensors", loss=BCE_LOGITS)
    x = x[:8]
    np.testing.assert_array_equal(_predicted_labels(capsys, path, x, tmp_path), net.predict(x))
    main(["predict", str(path), str(tmp_path / "x.csv")])
    first = capsys.readouterr().out.splitlines()[0]
    p0 = 1 / (1 + np.exp(-float(net.predict_proba(x[:1])[0, 0])))
    assert f"(probabilities 0: {p0:.4f}," in first  # σ(z), not the logit


def test_deltaprop_predict_uses_a_saved_labels_threshold(tmp_path, capsys):
    net, x = _labels_net(output="sigmoid", loss=dp.BinaryCrossEntropy())
    net.decision_threshold = 0.8
    path = dp.save(net, tmp_path / "m.safetensors")
    x = x[:12]
    want = dp.load(path).predict(x)
    assert not np.array_equal(want, (net.predict_proba(x) >= 0.5).astype(np.int64))  # the threshold matters
    np.testing.assert_array_equal(_predicted_labels(capsys, path, x, tmp_path), want)


@pytest.mark.parametrize("given", [{"0.weight": np.zeros((3, 4), np.float32), "0.bias": np.zeros(3, np.float32)},
                                   "model.pt.safetensors"])
def test_from_torch_of_a_state_dict_or_a_path_says_to_build_the_module(given):
    """Refused before PyTorch is needed, naming the fix."""
    with pytest.raises(dp.errors.ExportError, match="from_torch reads an nn.Sequential module, got .*"
                                                    "load_state_dict\\(state\\), then pass the module"):
        dp.from_torch(given)
