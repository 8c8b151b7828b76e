"""The Dataset record: validation and a short repr."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.data import Dataset
from deltaprop.errors import DataError, ShapeError


def _ds(**changes):
    parts = dict(x_train=np.zeros((4, 2, 2), np.uint8), y_train=np.array([0, 1, 2, 1]),
                 x_test=np.zeros((2, 2, 2), np.uint8), y_test=np.array([2, 0]), name="toy",
                 class_names=("a", "b", "c"))
    parts.update(changes)
    return Dataset(**parts)


def test_fields_and_repr():
    ds = _ds()
    assert ds.n_classes == 3 and ds.n_features == 4
    text = repr(ds)
    assert text.startswith("Dataset('toy'") and "uint8(4, 2, 2)" in text and "'c'" in text
    many = _ds(class_names=tuple(str(i) for i in range(1000)))
    assert len(repr(many)) < 300 and "1000 classes" in repr(many)


def test_frozen():
    with pytest.raises(AttributeError):
        _ds().name = "other"


def test_validation():
    with pytest.raises(ShapeError):
        _ds(y_train=np.array([0, 1]))
    with pytest.raises(DataError, match="outside"):
        _ds(y_test=np.array([3, 0]))
    with pytest.raises(DataError, match="int64"):
        _ds(y_test=np.array([1.0, 0.0]))
