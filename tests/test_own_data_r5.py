"""A CSV file's features keep the values written in it: read as float64, narrowed only
where the narrow type holds them (whole-number pixels and counts, decimals float32 keeps),
and cast once to the run's dtype when one is given."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data import load_arrays, read_table


def _timestamps_csv(path, n: int = 200):
    """A Unix time in seconds (1e9 + 0..50, to the millisecond) and a unit-scale feature."""
    rng = np.random.default_rng(0)
    t = 1.0e9 + rng.uniform(0, 50, n).round(3)
    z = rng.normal(size=n).round(4)
    y = (t - 1.0e9 > 25).astype(int)
    with open(path, "w") as f:
        f.write("t,z,label\n")
        for a, b, c in zip(t, z, y):
            f.write(f"{a:.3f},{b:.4f},{c}\n")
    return np.column_stack([t, z])


def test_a_timestamp_column_is_read_without_losing_its_fractions(tmp_path):
    written = _timestamps_csv(tmp_path / "t.csv")
    table = read_table(tmp_path / "t.csv")
    assert table.x.dtype == np.float64  # float32 kept 2 of the ~200 distinct times
    np.testing.assert_array_equal(table.x, written)
    assert table.notes == ()


def test_dtype_float64_is_cast_once_from_the_numbers_in_the_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n0.1,2.5,0\n0.3,-1.25,1\n0.7,3.0,0\n")
    x, _ = load_arrays(path, dtype="float64")
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, [[0.1, 2.5], [0.3, -1.25], [0.7, 3.0]])  # not float32(0.1) = 0.10000000149
    x32, _ = load_arrays(path)
    assert x32.dtype == np.float32  # ordinary decimals: float32 holds them, at half the memory


def test_a_float32_run_is_warned_of_a_column_float32_cannot_hold(tmp_path):
    _timestamps_csv(tmp_path / "t.csv")
    table = read_table(tmp_path / "t.csv", dtype="float32")
    assert table.x.dtype == np.float32
    assert len(table.notes) == 1 and "column 't' (1 of 3)" in table.notes[0] and "--dtype float64" in table.notes[0]
    with pytest.warns(UserWarning, match="float32 keeps these values only to within"):
        load_arrays(tmp_path / "t.csv", dtype=np.float32)


def test_whole_number_pixels_stay_8_bit_whatever_the_dtype(tmp_path):
    path = tmp_path / "pixels.csv"
    path.write_text("label,p0,p1\n0,0,255\n1,17,3\n")
    for dtype in (None, "float32", "float64"):
        x, _ = load_arrays(path, dtype=dtype)
        assert x.dtype == np.uint8  # exact, and a quarter of float32's memory (MNIST as CSV)


@pytest.mark.parametrize("dtype", ["float16", "int32", "double-ish", 3])
def test_a_dtype_other_than_float32_or_float64_is_refused(tmp_path, dtype):
    path = tmp_path / "d.csv"
    path.write_text("a,label\n0.5,0\n1.5,1\n")
    with pytest.raises(dp.ConfigError, match="dtype must be 'float32' or 'float64'"):
        read_table(path, dtype=dtype)


def test_counts_come_back_uint16_as_the_docstring_says(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("a,b,label\n300,2,0\n1000,4,1\n5,6,0\n7,8,1\n")
    x, _ = load_arrays(path)
    assert x.dtype == np.uint16
    doc = " ".join(inspect.getdoc(load_arrays).split())
    assert "uint16 when they are whole numbers in 0..65535" in doc
    assert "float32 otherwise" not in doc


def test_a_header_over_the_line_limit_says_it_is_the_limit_and_how_to_save_the_data(tmp_path):
    path = tmp_path / "genes.csv"
    columns = 120_000  # a header of gene names, about 1.4 MB on one line
    with open(path, "w") as f:
        f.write(",".join(f"gene_{i:06d}" for i in range(columns)) + ",label\n")
    with pytest.raises(dp.FileFormatError) as caught:
        read_table(path)
    message = str(caught.value)
    assert "deltaprop's limit on one line" in message
    assert "np.savez('data.npz', x=features, y=labels)" in message
