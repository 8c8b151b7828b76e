"""fit's arguments and callbacks as a library user calls them."""

import numpy as np
import pytest

import deltaprop as dp


def _data(n=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] > 0).astype(int)


def _net():
    return dp.Network([dp.Dense(4, 6), dp.ReLU(), dp.Dense(6, 2), dp.Softmax()], seed=0)


@pytest.mark.parametrize("batch_size", [16.0, np.float64(16.0)])
def test_whole_float_batch_size_trains_as_the_int(batch_size):
    # the check accepted 16.0 as 16, but the batches were built from the float: a TypeError
    X, y = _data()
    kwargs = dict(loss=dp.CrossEntropy(), epochs=2, seed=0, diagnostics=False)
    got = dp.fit(net := _net(), X, y, optimizer=dp.SGD(lr=0.1), batch_size=batch_size, **kwargs)
    want = dp.fit(ref := _net(), X, y, optimizer=dp.SGD(lr=0.1), batch_size=16, **kwargs)
    assert got.steps == want.steps == [3, 6]
    for a, b in zip(net.parameters(), ref.parameters()):
        np.testing.assert_array_equal(a.value, b.value)


def test_fractional_batch_size_is_a_config_error():
    X, y = _data()
    with pytest.raises(dp.ConfigError, match="batch_size"):
        dp.fit(_net(), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, batch_size=16.5,
               diagnostics=False)
