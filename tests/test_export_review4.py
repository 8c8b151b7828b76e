"""Exports refuse what they cannot carry faithfully, naming the layer and the fix."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import export

needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
                                reason="onnx and onnxruntime are not installed (pip install 'deltaprop[onnx]')")
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")


def broken_network(value: float, dtype: str = "float32") -> dp.Network:
    """A 3 → 4 → 2 network whose second Dense layer's bias holds ``value`` (what a diverged run leaves)."""
    net = dp.mlp([3, 4, 2], seed=0, dtype=dtype)
    net.layers[2].b.value[1] = value
    return net


@needs_onnx
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("check", [True, False])
def test_onnx_export_of_non_finite_weights_names_the_layer(tmp_path, value, check):
    # the check used to call a faithful graph of a NaN network "does not reproduce the network";
    # unchecked, the graph was written and answered NaN
    with pytest.raises(dp.ExportError, match=r"layer 2 \(Dense\) b holds NaN or infinity; refusing to export"):
        dp.export_onnx(broken_network(value), tmp_path / "m.onnx", check=check)
    assert not (tmp_path / "m.onnx").exists()
    with pytest.raises(dp.ExportError, match=r"layer 2 \(Dense\) b holds NaN"):
        export.onnx_model(broken_network(value, "float64"))


def test_torch_file_of_non_finite_weights_is_refused(tmp_path):
    # save refuses such a network; its PyTorch file was written with the NaN inside
    with pytest.raises(dp.ExportError, match=r"layer 2 \(Dense\) b holds NaN or infinity; .*retrain"):
        dp.export_torch(broken_network(float("nan")), tmp_path / "m.pt.safetensors")
    assert not (tmp_path / "m.pt.safetensors").exists()


@needs_torch
def test_to_torch_refuses_non_finite_weights_as_from_torch_does():
    with pytest.raises(dp.ExportError, match=r"layer 2 \(Dense\) b holds NaN or infinity"):
        dp.to_torch(broken_network(-float("inf")))
    net = dp.mlp([3, 4, 2], seed=0)
    assert np.array_equal(dp.from_torch(dp.to_torch(net)).layers[2].b.value, net.layers[2].b.value)


def tolerance(p: np.ndarray) -> np.ndarray:
    """What docs/export.md states of a wide network: |Δ| ≤ 1e-5·max(1, |p|) in float32, 1e-12·max(1, |p|) in float64."""
    return (1e-5 if p.dtype == np.float32 else 1e-12) * np.maximum(1.0, np.abs(p))


@needs_onnx
@pytest.mark.parametrize("sizes, activation, output, dtype", [
    ([784, 1000, 10], "relu", "identity", "float32"),      # wide layer, unbounded outputs
    ([784, 1000, 10], "identity", "softmax", "float32"),
    ([784, 2, 300, 10], "leaky_relu", "identity", "float32"),  # narrow, then wide
    ([1, 1000, 1], "tanh", "sigmoid", "float32"),          # one input feature, one sigmoid output
    ([784, 1000, 3], "sigmoid", "sigmoid", "float64"),
])
@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
def test_wide_networks_agree_within_the_documented_tolerance(sizes, activation, output, dtype):
    import onnxruntime as ort

    net = dp.mlp(sizes, activation=activation, output=output, seed=0, dtype=dtype)
    model = export.onnx_model(net)
    assert (model.ir_version, model.opset_import[0].version) == (export.ONNX_IR_VERSION, export.ONNX_OPSET) == (8, 17)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(0, 2, (1000, sizes[0])).astype(dtype)
    p = net.predict_proba(x)
    for rows in (slice(0, 1), slice(0, 1000)):  # the batch dimension is dynamic
        got, label = session.run(None, {"input": x[rows]})
        assert np.all(np.abs(got - p[rows]) <= tolerance(p[rows]))
        assert np.array_equal(label, net.predict(x[rows]))
    if importlib.util.find_spec("torch") is not None:
        import torch

        with torch.no_grad():
            module_out = dp.to_torch(net)(torch.from_numpy(x)).numpy()
        assert np.all(np.abs(module_out - p) <= tolerance(p))


@needs_onnx
@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_check_onnx_refuses_a_count_of_inputs_that_checks_nothing(n):
    # n=0 raised "X has no rows", n=-1 numpy's ValueError, 2.5 a TypeError
    net = dp.mlp([3, 4, 2], seed=0)
    with pytest.raises(dp.ConfigError, match=r"check_onnx n \(the number of random inputs to compare on\) must be"):
        export.check_onnx(export.onnx_model(net), net, n=n)
    assert export.check_onnx(export.onnx_model(net), net, n=1) < 1e-4
