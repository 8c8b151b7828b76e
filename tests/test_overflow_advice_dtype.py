"""A loss overflowed by its targets advises float64 only to a network that is not float64
already."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


@pytest.mark.parametrize("dtype, targets, advises_float64", [("float32", 1e20, True), ("float64", 1e160, False)])
def test_the_overflow_advice_suggests_float64_only_where_it_is_not_used(dtype, targets, advises_float64):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 4))
    y = X[:, 0] * targets  # finite, but (a - y)² is not
    net = dp.mlp([4, 8, 1], output="identity", seed=0, dtype=dtype)
    with pytest.raises(dp.TrainingDivergedError) as info, np.errstate(over="ignore", invalid="ignore"):
        dp.fit(net, X, y, loss=dp.MeanSquaredError(classification=False), optimizer=dp.SGD(0.01), epochs=1,
               batch_size=16, seed=0, diagnostics=False)
    assert f"overflowed the loss in {dtype}: scale the targets" in info.value.layer
    assert ("dtype='float64'" in info.value.layer) == advises_float64
