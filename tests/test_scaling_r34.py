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


def test_16_bit_images_flattened_to_rows_keep_one_deviation_for_all_pixels():
    # a data file's (n, 8, 8) uint16 images reach the scaling flattened to rows of 64; their
    # 12-bit levels counted as no pixels, so each pixel got its own σ, and a border pixel lit
    # in one image only was blown up, where the same images unflattened share one σ
    from deltaprop.preprocessing import standardization_for

    rng = np.random.default_rng(0)
    images = rng.integers(0, 4096, (300, 8, 8)).astype(np.uint16)
    images[:, 0, :] = 0
    images[0, 0, 0] = 4000
    rows = standardization_for(images.reshape(len(images), -1))
    assert rows.std.size == 1
    assert rows.config() == standardization_for(images).config()


def test_a_uint16_table_of_columns_in_their_own_units_keeps_a_deviation_per_column():
    from deltaprop.preprocessing import standardization_for

    rng = np.random.default_rng(0)
    table = np.column_stack([rng.integers(0, 60000, (200, 1)), rng.integers(0, 40, (200, 63))]).astype(np.uint16)
    assert standardization_for(table).std.size == 64
