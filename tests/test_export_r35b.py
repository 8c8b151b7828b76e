"""ONNX export against deltaprop's own predictions on inputs where activations saturate."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.layers import Dense, Sigmoid

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'deltaprop[onnx]'; the dev group has it)")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'deltaprop[onnx]')")


def _run(net, x, **kwargs):
    graph = dp.export.onnx_model(net, **kwargs)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": x})))


def _net(layers, weights) -> dp.Network:
    net = dp.Network(layers, seed=0)
    for layer, (w, b) in zip([la for la in net.layers if isinstance(la, Dense)], weights):
        layer.W.value = np.array(w, dtype=np.float32)
        layer.b.value = np.array(b, dtype=np.float32)
    return net


@pytest.mark.parametrize("batch", [1, 7])
def test_float32_sigmoid_scores_keep_their_order_in_the_tail(batch):
    """Several float32 sigmoid outputs far in the negative tail (z from −9 to −30): deltaprop's
    predict takes the largest, e^z/(1+e^z) there; onnxruntime's float32 Sigmoid gave 0 below
    z ≈ −18 (and values off by a fifth near −15), so the graph's label was class 0 for every
    such row and its scores were 0 where deltaprop's were not."""
    net = _net([Dense(1, 3), Sigmoid()], [([[1.0, 1.2, 0.9]], [0.0, 0.0, 0.0])])
    x = np.linspace(-25.0, -10.0, 7, dtype=np.float32)[:batch, None]
    got = _run(net, x)
    want = net.predict_proba(x)
    assert np.all(want > 0)
    assert np.array_equal(got["label"], net.predict(x)) and np.all(got["label"] == 2)
    np.testing.assert_allclose(got["scores"], want, rtol=1e-5, atol=0)


def test_float32_hidden_sigmoid_tail_matches_deltaprop():
    """A hidden float32 Sigmoid in the tail (h = σ(−20) ≈ 2e-9) that a large weight carries
    on: onnxruntime's h was 0, so the next layer's z was off by 2 (its outputs by e²)."""
    net = _net([Dense(1, 1), Sigmoid(), Dense(1, 3), Sigmoid()],
               [([[1.0]], [0.0]), ([[1e9, 2e9, 0.0]], [-20.0, -30.0, -21.0])])
    x = np.array([[-20.0], [-19.0], [-25.0]], dtype=np.float32)
    got = _run(net, x)
    np.testing.assert_allclose(got["scores"], net.predict_proba(x), rtol=1e-4, atol=0)
    assert np.array_equal(got["label"], net.predict(x))
    # below deltaprop's floor (z < ½ ln(tiny) + 10 ≈ −33.7) the graph gives 0, as deltaprop does; NaN stays NaN
    one = _net([Dense(1, 3), Sigmoid()], [([[1.0, 1.2, 0.9]], [0.0, 0.0, 0.0])])
    far = np.array([[-60.0], [-1e30]], dtype=np.float32)
    assert np.array_equal(_run(one, far)["scores"], one.predict_proba(far)) and not np.any(one.predict_proba(far))
    assert np.all(np.isnan(_run(one, np.array([[np.nan]], dtype=np.float32))["scores"]))
