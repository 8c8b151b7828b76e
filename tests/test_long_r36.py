"""Network.copy binds the weights it copies (no draw), and resume decodes its checkpoint once."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import initializers, network as network_mod


def _net(dtype="float32"):
    return dp.Network([dp.Dense(5, 4), dp.Tanh(), dp.Dropout(0.2), dp.Dense(4, 3), dp.Softmax()], seed=3, dtype=dtype)


def test_copy_draws_no_weights(monkeypatch):
    net = _net()
    calls = []
    real = dp.Dense.build

    def counting(self, n_in, dtype, rng):
        calls.append(self)
        return real(self, n_in, dtype, rng)

    monkeypatch.setattr(dp.Dense, "build", counting)
    other = net.copy()
    assert calls == []
    for mine, theirs in zip(net.parameters(), other.parameters()):
        assert theirs.value.dtype == mine.value.dtype
        np.testing.assert_array_equal(theirs.value, mine.value)
        assert not np.shares_memory(theirs.value, mine.value)
    assert all(np.shares_memory(p.value, other._flat_values) for p in other.parameters())


def test_copy_is_independent_and_casts():
    net = _net("float64")
    other = net.copy(dtype="float32")
    assert other.dtype == np.float32
    for mine, theirs in zip(net.parameters(), other.parameters()):
        assert theirs.value.dtype == np.float32
        np.testing.assert_array_equal(theirs.value, mine.value.astype(np.float32))
    before = [p.value.copy() for p in net.parameters()]
    for p in other.parameters():
        p.value = p.value + 1
    for p, b in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.value, b)
    assert other.copy(dtype="float64").dtype == np.float64


def test_copy_cast_overflow_still_refused():
    net = _net("float64")
    net.layers[0].W.value[0, 0] = 1e300
    with pytest.raises(dp.errors.ConfigError, match="beyond float32's range"):
        net.copy(dtype="float32")


def test_kept_weights_of_wrong_shape_still_refused():
    net = _net()
    layer = net.layers[0]
    layer.W = dp.layers.Parameter("W", np.zeros((5, 2), np.float32))
    with pytest.raises(dp.errors.ShapeError, match="parameter 'W'"):
        dp.Network([layer, dp.Tanh()])
