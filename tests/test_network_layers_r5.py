"""A Network built from layers another network built keeps their weights, and leaves that
network as it was (a trained network's layers reused, as Keras's Sequential and torch's
nn.Sequential(*m[1:]) allow)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.preprocessing import Standardization, split_input_layer, with_input_layer


def _trained(dtype="float32") -> dp.Network:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    net = dp.Network([Standardization(x.mean(axis=0), x.std(axis=0)), dp.Dense(4, 6), dp.Sigmoid(),
                      dp.Dense(6, 2), dp.Softmax()], seed=0, dtype=dtype)
    dp.fit(net, x, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=3, batch_size=16, threads=1)
    return net


def test_a_network_of_a_trained_networks_layers_keeps_their_weights_and_leaves_it_as_it_was():
    net = _trained()
    x = np.array([[0.5, -1.0, 2.0, 0.1]], dtype=np.float32)
    before, weights = net.predict_proba(x), [p.value.copy() for p in net.parameters()]
    rest = dp.Network(net.layers[1:], dtype=net.dtype)
    for mine, kept in zip(net.parameters(), weights):
        np.testing.assert_array_equal(mine.value, kept)  # were drawn anew in place
    np.testing.assert_array_equal(net.predict_proba(x), before)
    for theirs, kept in zip(rest.parameters(), weights):
        np.testing.assert_array_equal(theirs.value, kept)
    np.testing.assert_allclose(rest.predict_proba(net.layers[0].forward(x)), before, rtol=1e-6)
    rest.parameters()[0].value = np.zeros((4, 6))  # the two networks are independent
    np.testing.assert_array_equal(net.predict_proba(x), before)


def test_layers_of_another_dtype_are_refused_naming_the_layer_and_the_fix():
    net = _trained("float64")
    with pytest.raises(dp.ConfigError, match=r"layer 0 \(Dense\(n_in=4, n_out=6.*float64 weights.*dtype='float64'"):
        dp.Network(net.layers[1:])
    assert dp.Network(net.layers[1:], dtype="float64").dtype == np.float64


def test_layers_whose_widths_do_not_chain_are_refused():
    net = _trained()
    with pytest.raises(dp.ShapeError, match="receives 4 features"):
        dp.Network([net.layers[0], net.layers[3]], dtype=net.dtype)


def test_the_input_layer_split_off_and_put_back_keeps_the_weights():
    net = _trained()
    x = np.array([[0.5, -1.0, 2.0, 0.1], [1.0, 1.0, -1.0, 0.0]], dtype=np.float32)
    before = net.predict_proba(x)
    rest, spec = split_input_layer(net)
    assert spec["kind"] == "standardize" and rest.layers[0].type_name == "Dense"
    again = with_input_layer(rest, net.layers[0].__class__(net.layers[0].mean, net.layers[0].std))
    np.testing.assert_allclose(again.predict_proba(x), before, rtol=1e-6)
    np.testing.assert_array_equal(net.predict_proba(x), before)
