"""ONNX export: onnxruntime runs the exported graph and must give net.predict_proba, for
every layer type, both dtypes, a batch of 1 and of 1,000, and with the model's input
scaling inside the graph."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data import Standardizer
from deltaprop.serialization import apply_scaling

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'deltaprop[onnx]'; the dev group has it)")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'deltaprop[onnx]')")

from deltaprop import export  # noqa: E402
from test_export_networks import TOLERANCE, Doubling, binary_network, every_layer_network  # noqa: E402

def run(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    probabilities, label = session.run(["probabilities", "label"], {"input": x})
    return probabilities, label


@pytest.mark.parametrize("make", [every_layer_network, binary_network], ids=["every-layer", "binary"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [1, 1000])
def test_onnxruntime_equals_predict_proba(make, dtype, batch):
    net = make(dtype, seed=batch)
    x = np.random.default_rng(batch).standard_normal((batch, net.n_features)).astype(dtype)
    model = export.onnx_model(net)
    onnx.checker.check_model(model, full_check=True)
    got, label = run(model, x)
    want = net.predict_proba(x)
    assert got.dtype == want.dtype and got.shape == want.shape == (batch, net.n_outputs)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE[dtype])
    assert np.array_equal(label, net.predict(x))
    if net.n_outputs > 1:
        assert np.array_equal(np.argmax(got, axis=1), np.argmax(want, axis=1))
    if batch > 1:
        assert np.ptp(want) > 0.05  # the outputs vary: the comparison is not between constants


def test_one_graph_serves_any_batch_size():
    net = every_layer_network("float32")
    model = export.onnx_model(net)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == net.n_features
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in (1, 7, 300):
        x = np.random.default_rng(n).standard_normal((n, net.n_features)).astype(np.float32)
        assert session.run(["probabilities"], {"input": x})[0].shape == (n, 5)


def test_leaky_relu_is_max_of_z_and_alpha_z_in_float64():
    ops = lambda net: [node.op_type for node in export.onnx_model(net).graph.node]  # noqa: E731
    assert "LeakyRelu" in ops(binary_network("float32"))
    in64 = ops(binary_network("float64"))
    assert "LeakyRelu" not in in64 and "Max" in in64


def test_dropout_and_identity_add_no_node():
    net = dp.Network([dp.Dense(3, 4), dp.Identity(), dp.Dropout(0.5), dp.Dense(4, 2), dp.Softmax()], seed=0)
    ops = [node.op_type for node in export.onnx_model(net).graph.node]
    assert ops == ["Gemm", "Gemm", "Softmax", "ArgMax"]


def test_metadata_holds_class_names_scaling_and_version():
    net = every_layer_network("float32")
    names = ["a", "b", "c", "d", "e"]
    model = export.onnx_model(net, class_names=names, input_scaling={"kind": "unit", "max": 255})
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == names
    assert json.loads(props["input_scaling"]) == {"kind": "unit", "max": 255}
    assert props["deltaprop_version"] == dp.__version__ == model.producer_version
    assert json.loads(props["architecture"]) == net.config()
    assert model.producer_name == "deltaprop"


def standardize_spec(mode: str, n: int) -> dict:
    rng = np.random.default_rng(5)
    return {"kind": "standardize", "state": Standardizer(mode).fit(rng.normal(3.0, 2.0, size=(50, n))).to_dict()}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", [
    {"kind": "unit", "max": 255}, {"kind": "none"}, "standardize-global", "standardize-per_feature",
], ids=["unit", "none", "global", "per-feature"])
def test_graph_takes_raw_inputs_and_scales_them_as_training_did(dtype, spec):
    net = every_layer_network(dtype, n_in=12)
    if isinstance(spec, str):
        spec = standardize_spec(spec.split("-")[1], 12)
    rng = np.random.default_rng(1)
    raw = (rng.integers(0, 256, size=(1000, 12)).astype(dtype) if spec["kind"] == "unit"
           else rng.normal(3, 2, (1000, 12)).astype(dtype))
    got, label = run(export.onnx_model(net, input_scaling=spec), raw)
    want = net.predict_proba(apply_scaling(spec, raw, dtype))
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE[dtype])
    assert np.array_equal(label, net.predict(apply_scaling(spec, raw, dtype)))
    if spec["kind"] != "none":  # scaling matters: the unscaled inputs give other outputs
        assert not np.allclose(net.predict_proba(raw), want, atol=1e-3)


def test_uint8_input_type_takes_pixels_as_they_are():
    net = every_layer_network("float32", n_in=12)
    spec = {"kind": "unit", "max": 255}
    pixels = np.random.default_rng(2).integers(0, 256, size=(100, 12), dtype=np.uint8)
    model = export.onnx_model(net, input_scaling=spec, input_type="uint8", input_range=(0, 255))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    got, _ = run(model, pixels)
    np.testing.assert_allclose(got, net.predict_proba(apply_scaling(spec, pixels, "float32")), rtol=0, atol=1e-6)


def test_bad_input_type_is_refused():
    with pytest.raises(dp.ConfigError, match="input type must be one of"):
        export.onnx_model(every_layer_network("float32"), input_type="complex64")


def test_export_onnx_writes_a_file_that_onnx_loads(tmp_path):
    net = every_layer_network("float64")
    path = dp.export_onnx(net, tmp_path / "net.onnx", class_names=list("abcde"))
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(0).standard_normal((10, 12))
    np.testing.assert_allclose(run(model, x)[0], net.predict_proba(x), rtol=0, atol=1e-12)


def test_a_layer_outside_the_closed_table_is_refused_by_name(tmp_path):
    net = dp.Network([dp.Dense(3, 4), Doubling(), dp.Dense(4, 2), dp.Softmax()], seed=0)
    with pytest.raises(dp.ExportError, match=r"layer 1 \(Doubling\) is not one of deltaprop's layers"):
        dp.export_onnx(net, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_check_onnx_catches_a_graph_that_computes_something_else():
    net = every_layer_network("float32")
    model = export.onnx_model(net)
    weight = next(t for t in model.graph.initializer if t.name == "layers.3.W")
    values = onnx.numpy_helper.to_array(weight).copy()
    values[0, 0] += 0.5
    weight.CopyFrom(onnx.numpy_helper.from_array(values, "layers.3.W"))
    with pytest.raises(dp.ExportError, match="does not reproduce the network"):
        export.check_onnx(model, net)
    assert export.check_onnx(export.onnx_model(net), net) < 1e-6


def test_import_deltaprop_imports_neither_onnx_nor_torch():
    code = "import sys, deltaprop; print(sorted(m for m in ('onnx', 'onnxruntime', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_missing_onnx_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(dp.MissingDependencyError, match=r"pip install onnx onnxruntime, or in a checkout .*--extra onnx"):
        export.onnx_model(every_layer_network("float32"))


def test_a_network_too_big_for_one_protobuf_is_refused(monkeypatch):
    net = every_layer_network("float64")
    monkeypatch.setattr(export, "ONNX_MAX_BYTES", net.n_parameters * 8 - 1)
    with pytest.raises(dp.ExportError, match="holds under 2 GiB"):
        export.onnx_model(net)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_preprocessing_layers_become_the_graphs_first_nodes(dtype):
    from deltaprop.preprocessing import Rescaling, Standardization

    rng = np.random.default_rng(3)
    for first, raw in ((Rescaling(1 / 255), rng.integers(0, 256, (1000, 12)).astype(dtype)),
                       (Standardization(rng.normal(3, 1, 12), rng.uniform(0.5, 2, 12)),
                        rng.normal(3, 2, (1000, 12)).astype(dtype)),
                       (Standardization(rng.normal(3, 1, 12), [1.7]), rng.normal(3, 2, (1000, 12)).astype(dtype))):
        body = every_layer_network(dtype)
        net = dp.Network([first, *body.layers], dtype=dtype)
        for mine, theirs in zip(net.parameters(), body.parameters()):
            mine.value = theirs.value
        model = export.onnx_model(net)
        assert model.graph.node[0].op_type in ("Mul", "Sub")
        got, label = run(model, raw)
        np.testing.assert_allclose(got, net.predict_proba(raw), rtol=0, atol=TOLERANCE[dtype])
        assert np.array_equal(label, net.predict(raw))
        assert not np.allclose(body.predict_proba(raw), got, atol=1e-3)  # the scaling is in the graph
