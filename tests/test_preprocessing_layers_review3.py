"""Preprocessing layers used on their own compute as the other layers do, and ``mlp``'s
default initialiser follows the units its Dense layers feed."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ShapeError

RNG = np.random.default_rng(0)
X = 1e3 + RNG.normal(size=(5, 3))  # an offset float32 rounds (about 6e-5 apart at 1e3)
MEAN, STD = [1e3, 1e3 + 0.5, 1e3 - 0.25], [0.75, 1.5, 3.0]


def _layers():
    return [dp.Rescaling(1 / 3), dp.Standardization(MEAN, STD), dp.Standardization(MEAN, [2.0])]


def _reference(layer, x):
    if isinstance(layer, dp.Rescaling):
        return x * layer.scale
    return (x - layer.mean) / layer.std


@pytest.mark.parametrize("index", range(3), ids=["Rescaling", "Standardization", "Standardization global"])
def test_a_preprocessing_layer_never_built_keeps_a_float64_input_float64(index):
    # Rescaling computed a float64 input in float32 (about 1e-8 off); an unbuilt
    # Standardization raised AttributeError ('_shift')
    layer = _layers()[index]
    out = layer.forward(X)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, _reference(layer, X), rtol=1e-13, atol=1e-13)
    grad = layer.backward(np.ones_like(X))
    assert grad.dtype == np.float64
    slope = layer.scale if isinstance(layer, dp.Rescaling) else 1.0 / layer.std  # ∂a/∂x
    np.testing.assert_allclose(grad, np.ones_like(X) * slope, rtol=1e-13)
    out32 = layer.forward(X.astype(np.float32))  # then a float32 input: float32, as a fresh layer gives
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32, _layers()[index].forward(X.astype(np.float32)))


@pytest.mark.parametrize("index", range(3), ids=["Rescaling", "Standardization", "Standardization global"])
def test_a_preprocessing_layer_never_built_computes_integers_in_float32(index):
    ints = np.array([[1000, 1001, 999]])
    out = _layers()[index].forward(ints)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, _layers()[index].forward(ints.astype(np.float32)))


@pytest.mark.parametrize("index", range(3), ids=["Rescaling", "Standardization", "Standardization global"])
def test_a_built_preprocessing_layer_computes_in_its_own_dtype(index):
    layer = _layers()[index]
    layer.build(3, np.float64, np.random.default_rng(0))
    x32 = X.astype(np.float32)
    out = layer.forward(x32)  # computed in float64, not in float32 and widened
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, _reference(layer, x32.astype(np.float64)), rtol=1e-13, atol=1e-13)
    layer = _layers()[index]
    layer.build(3, np.float32, np.random.default_rng(0))
    assert layer.forward(X).dtype == np.float32


def test_a_standardization_given_rows_of_another_width_says_so():
    # NumPy's 'operands could not be broadcast together with shapes (2,4) (3,)'
    layer = dp.Standardization(MEAN, STD)
    with pytest.raises(ShapeError, match="fitted on 3 features but receives 4"):
        layer.forward(np.ones((2, 4)))
    layer.build(3, np.float32, np.random.default_rng(0))
    with pytest.raises(ShapeError, match="fitted on 3 features but receives 4"):
        layer.forward(np.ones((2, 4), np.float32))


def test_a_network_with_a_standardization_layer_keeps_its_float64_outputs():
    layer = dp.Standardization(MEAN, STD)
    net = dp.Network([layer, dp.Dense(3, 2), dp.Softmax()], seed=0, dtype="float64")
    dense = net.layers[1]
    z = _reference(layer, X) @ dense.W.value + dense.b.value
    want = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(net.predict_proba(X), want / want.sum(axis=1, keepdims=True), rtol=1e-12)


# -- mlp's default initialiser --------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_mlp_without_a_hidden_layer_ignores_the_hidden_activation_for_its_init(activation):
    # mlp([10, 2], activation="relu") has no ReLU, yet drew He normal weights for the softmax
    net = dp.mlp([10, 2], activation=activation, seed=0)
    assert net.layers[0].init_name == "glorot_uniform"
    np.testing.assert_array_equal(net.layers[0].W.value, dp.mlp([10, 2], init="glorot_uniform", seed=0).layers[0].W.value)


def test_mlp_without_a_hidden_layer_takes_he_init_for_a_relu_output():
    net = dp.mlp([10, 1], activation="sigmoid", output="relu", seed=0)
    assert net.layers[0].init_name == "he_normal"


@pytest.mark.parametrize("activation, init", [("relu", "he_normal"), ("leaky_relu", "he_normal"),
                                              ("sigmoid", "glorot_uniform"), ("tanh", "glorot_uniform")])
@pytest.mark.parametrize("output", ["softmax", "relu"])
def test_mlp_with_hidden_layers_keeps_its_initialiser_and_weights(activation, init, output):
    net = dp.mlp([10, 8, 6, 3], activation=activation, output=output, seed=4)
    same = dp.mlp([10, 8, 6, 3], activation=activation, output=output, init=init, seed=4)
    assert {layer.init_name for layer in net.layers if isinstance(layer, dp.Dense)} == {init}
    for mine, theirs in zip(net.parameters(), same.parameters()):
        np.testing.assert_array_equal(mine.value, theirs.value)
