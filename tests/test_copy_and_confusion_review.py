"""Two refusals instead of a silent or crashing result: a float64 network copied to float32
with weights beyond float32's range (they became inf with only NumPy's warning), and a
confusion matrix of class ids too large for a table (a MemoryError)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError, DataError
from deltaprop.metrics import confusion_matrix


def test_copying_weights_beyond_float32s_range_to_float32_is_refused():
    net = dp.mlp([3, 4, 2], seed=0, dtype="float64")
    net.layers[0].W.value[0, 0] = 1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warning either
        with pytest.raises(ConfigError, match=r"parameter 0 \(W\) holds weights up to 1e\+39, beyond float32's range"):
            net.copy(dtype="float32")
    assert net.layers[0].W.value[0, 0] == 1e39


def test_copying_finite_weights_to_float32_still_works():
    net = dp.mlp([3, 4, 2], seed=0, dtype="float64")
    other = net.copy(dtype="float32")
    assert other.dtype == np.float32
    np.testing.assert_allclose(other.layers[0].W.value, net.layers[0].W.value, rtol=1e-6)


def test_a_confusion_matrix_of_huge_class_ids_is_a_data_error_not_a_memory_error():
    with pytest.raises(DataError, match="class ids reach 1,000,000,000.*np.unique"):
        confusion_matrix([0, 10**9], [0, 1])
