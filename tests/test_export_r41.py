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
from onnx_graph import graph_outputs, props  # noqa: E402

BCE_LOGITS = dp.BinaryCrossEntropy(from_logits=True)


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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_older_or_newer_opset_gives_the_same_answers(tmp_path, dtype):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4)).astype(dtype)
    net = dp.mlp([4, 5, 3], activation="leaky_relu", output="sigmoid+softmax", seed=1, dtype=dtype)
    for opset in (export.ONNX_MIN_OPSET, onnx.defs.onnx_opset_version()):
        path = dp.export_onnx(net, tmp_path / f"m{opset}.onnx", opset=opset)
        model = onnx.load(str(path))
        assert [o.version for o in model.opset_import] == [opset]
        assert model.ir_version == onnx.helper.find_min_ir_version_for([model.opset_import[0]])
        got = graph_outputs(path, x)
        np.testing.assert_allclose(got["probabilities"], net.predict_proba(x), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(got["label"], net.predict(x))


@pytest.mark.parametrize("opset", [12, 10_000, True, 17.0, "17"])
def test_an_opset_outside_the_range_is_refused_naming_it(tmp_path, opset):
    net = dp.mlp([4, 3], seed=0)
    with pytest.raises(dp.errors.ConfigError, match=f"ONNX opset must be a whole number from 13 to .*got {opset!r}"):
        dp.export_onnx(net, tmp_path / "m.onnx", opset=opset)
    assert not (tmp_path / "m.onnx").exists()


def test_deltaprop_export_takes_an_opset_for_onnx_alone(tmp_path, capsys, logit_labels):
    net, x = logit_labels
    path = dp.save(net, tmp_path / "m.safetensors", loss=BCE_LOGITS)
    assert main(["export", str(path), "--format", "onnx", "--opset", "13"]) == 0
    assert "ONNX opset 13," in capsys.readouterr().out
    onnx_path = tmp_path / "m.onnx"
    assert [o.version for o in onnx.load(str(onnx_path)).opset_import] == [13]
    np.testing.assert_array_equal(graph_outputs(onnx_path, x)["label"], net.predict(x))
    assert main(["export", str(path), "--format", "torch", "--opset", "13"]) == 2  # a usage error, as --input-type
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--opset is the ONNX graph's" in err
