"""Label columns that are no class ids: a whole-number regression target (disease
progression 25..346) and fractions are refused as regression targets, with the way to fit
one; class ids with a few gaps are kept."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.data import read_table
from deltaprop.errors import DataError


def _write(path, x: np.ndarray, y: np.ndarray, fmt: str = "%.6g"):
    np.savetxt(path, np.column_stack([x, y]), fmt=fmt, delimiter=",",
               header=",".join([f"f{i}" for i in range(x.shape[1])] + ["target"]), comments="")
    return path


def test_a_whole_number_regression_target_is_refused_as_one(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(442, 10))
    y = rng.integers(25, 347, size=442)  # like scikit-learn's diabetes: 25..346, ~200 distinct values
    with pytest.raises(DataError, match="looks like a regression target") as info:
        read_table(_write(tmp_path / "diabetes.csv", x, y))
    assert "MeanSquaredError(classification=False)" in str(info.value)
    assert "column 'target'" in str(info.value)


def test_a_fractional_target_is_called_a_regression_target(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    with pytest.raises(DataError, match=r"regression target .*classifiers only.*MeanSquaredError"):
        read_table(_write(tmp_path / "frac.csv", x, rng.normal(size=100)))


@pytest.mark.parametrize("ids", [list(range(1, 21)), list(range(0, 30)), [0, 2, 5]])
def test_class_ids_with_few_gaps_are_class_ids(tmp_path, ids):
    y = np.array(ids * 5)
    x = np.random.default_rng(0).normal(size=(len(y), 3))
    table = read_table(_write(tmp_path / "ids.csv", x, y))
    assert np.array_equal(table.y, y)
