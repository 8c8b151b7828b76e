"""Seed 001's parity data."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop.data as d
from deltaprop.data.parity import parity_arrays
from deltaprop.errors import ConfigError


def test_matches_seed_001_construction():
    # Seed 001: X = [list(map(int, '{0:010b}'.format(e))) for e in range(2**n)];
    # y = [int(e % 2 == 0) ...]; X[:700] train, X[700:] test.
    x_seed = np.array([list(map(int, f"{e:010b}")) for e in range(2**10)])
    y_seed = np.array([int(e % 2 == 0) for e in range(2**10)])
    ds = d.load("parity", bits=10)
    np.testing.assert_array_equal(ds.x_train, x_seed[:700])
    np.testing.assert_array_equal(ds.x_test, x_seed[700:])
    np.testing.assert_array_equal(ds.y_train, y_seed[:700])
    np.testing.assert_array_equal(ds.y_test, y_seed[700:])
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.class_names[1] == "even" and ds.class_names[0] == "odd"
    assert "parity" in repr(ds)


def test_least_significant_bit_decides():
    x, y = parity_arrays(6)
    assert x.shape == (64, 6)
    np.testing.assert_array_equal(y, 1 - x[:, -1])


def test_other_widths_and_errors():
    ds = d.load("parity", bits=4)
    assert len(ds.x_train) + len(ds.x_test) == 16
    assert d.load_parity(10, n_train=1000).x_test.shape == (24, 10)
    for bad in (0, 25, 2.5):
        with pytest.raises(ConfigError):
            d.load("parity", bits=bad)
    with pytest.raises(ConfigError):
        d.load_parity(3, n_train=8)
