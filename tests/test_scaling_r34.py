"""Input scaling: the choice and statistics a run makes, whichever way its rows are held."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.cli import _input_layer
from deltaprop.data import RowView
from deltaprop.serialization import input_range_of


def _table_of_own_units(rows: int = 120) -> np.ndarray:
    """64 uint8 columns (a square width): one spanning 0..199, the others 0..2 counts."""
    rng = np.random.default_rng(0)
    return np.column_stack([rng.integers(0, 200, (rows, 1)), rng.integers(0, 3, (rows, 63))]).astype(np.uint8)


@pytest.mark.parametrize("kind", ["auto", "standardize"])
def test_rows_held_as_a_row_view_get_the_scaling_rows_in_memory_get(kind):
    # an mpiexec run holds its training rows as a RowView; its auto choice judged them by
    # their overall min and max alone, so a table whose columns keep their own units looked
    # like pixels and was divided by 255 where a one-process run standardises it per column
    x = _table_of_own_units()
    rows = np.arange(0, len(x), 2)
    in_memory, viewed = _input_layer(kind, x[rows]), _input_layer(kind, RowView(x, rows))
    assert type(viewed) is type(in_memory)
    assert viewed.config() == in_memory.config()


def test_a_row_views_extremes_are_each_columns_and_keep_the_whole_range():
    x = _table_of_own_units(50)
    rows = np.arange(1, 50, 3)
    low, high = RowView(x, rows).extremes()
    np.testing.assert_array_equal(low, x[rows].min(axis=0))
    np.testing.assert_array_equal(high, x[rows].max(axis=0))
    assert input_range_of(RowView(x, rows)) == input_range_of(x[rows])
