"""load_arrays: .npz without pickle, CSV, and headers checked before allocation."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npformat

from deltaprop.data import load_arrays
from deltaprop.errors import ConfigError, DatasetNotFoundError, DataError, FileFormatError, ShapeError


@pytest.mark.parametrize("keys", [("x", "y"), ("X", "y"), ("X", "Y"), ("images", "labels")])
@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip(tmp_path, keys, compressed):
    x = np.random.default_rng(0).integers(0, 256, (12, 5, 5), dtype=np.uint8)
    y = np.arange(12) % 3
    save = np.savez_compressed if compressed else np.savez
    save(tmp_path / "d.npz", **{keys[0]: x, keys[1]: y.astype(np.uint8)})
    got_x, got_y = load_arrays(tmp_path / "d.npz")
    np.testing.assert_array_equal(got_x, x)
    assert got_x.dtype == np.uint8
    np.testing.assert_array_equal(got_y, y)
    assert got_y.dtype == np.int64


def test_npz_two_dimensional_targets(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), y=np.eye(3))
    _, y = load_arrays(tmp_path / "d.npz")
    assert y.dtype == np.float32 and y.shape == (3, 3)


def test_npz_refuses_object_arrays(tmp_path):
    x = np.empty(2, dtype=object)
    x[:] = [[1], [2, 3]]
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1]))
    with pytest.raises(FileFormatError, match="pickle"):
        load_arrays(tmp_path / "d.npz")


def _npy_bytes(shape, dtype, data: bytes) -> bytes:
    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": npformat.dtype_to_descr(np.dtype(dtype)),
                                          "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_npz_header_far_larger_than_file_is_refused_without_allocating(tmp_path, compression):
    huge = _npy_bytes((10**6, 10**6), "<f8", b"\x00" * 64)
    path = _zip(tmp_path / "d.npz", {"x.npy": huge, "y.npy": _npy_bytes((2,), "<i8", bytes(16))},
                compression)
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match="truncated"):
            load_arrays(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_npz_trailing_bytes_and_bad_members(tmp_path):
    good_y = _npy_bytes((2,), "<i8", bytes(16))
    path = _zip(tmp_path / "a.npz", {"x.npy": _npy_bytes((2, 1), "<f4", bytes(12)), "y.npy": good_y})
    with pytest.raises(FileFormatError, match="trailing"):
        load_arrays(path)
    path = _zip(tmp_path / "b.npz", {"x.npy": b"not npy at all", "y.npy": good_y})
    with pytest.raises(FileFormatError, match="not a valid .npy"):
        load_arrays(path)
    path = _zip(tmp_path / "c.npz", {"x.npy": _npy_bytes((1,), "<U3", bytes(12)), "y.npy": good_y})
    with pytest.raises(FileFormatError, match="not a number type"):
        load_arrays(path)


def test_npz_missing_keys_and_not_a_zip(tmp_path):
    np.savez(tmp_path / "d.npz", a=np.zeros(2), b=np.zeros(2))
    with pytest.raises(FileFormatError, match=r"\['a', 'b'\]"):
        load_arrays(tmp_path / "d.npz")
    (tmp_path / "e.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(FileFormatError):
        load_arrays(tmp_path / "e.npz")
    (tmp_path / "f.npz").write_bytes(b"")
    with pytest.raises(FileFormatError):
        load_arrays(tmp_path / "f.npz")


def test_npz_shape_and_value_checks(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(ShapeError):
        load_arrays(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=np.array([[np.nan, 1.0]]), y=np.zeros(1))
    with pytest.raises(DataError, match="NaN"):
        load_arrays(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", x=np.zeros((2, 2)), y=np.array([0.5, 1.0]))
    with pytest.raises(DataError, match="whole"):
        load_arrays(tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", x=np.zeros(2), y=np.zeros(2))
    with pytest.raises(ShapeError):
        load_arrays(tmp_path / "d.npz")


def test_csv_with_header_and_named_label(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("label,p1,p2\n3,0,255\n1,10,20\n")
    x, y = load_arrays(path, label_column="label")
    assert x.dtype == np.uint8
    np.testing.assert_array_equal(x, [[0, 255], [10, 20]])
    np.testing.assert_array_equal(y, [3, 1])
    x, y = load_arrays(path, label_column=0)
    np.testing.assert_array_equal(y, [3, 1])


def test_csv_without_header_float_features(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("0.5,1.25,0\n-1,2,1\n")
    x, y = load_arrays(path)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [[0.5, 1.25], [-1, 2]])
    np.testing.assert_array_equal(y, [0, 1])


@pytest.mark.parametrize("text,exc,match", [
    ("", FileFormatError, "empty"),
    ("a,b\n", FileFormatError, "no rows"),
    ("1,2,3\n4,5\n", FileFormatError, "malformed"),
    ("1,2,3\n4,x,6\n", FileFormatError, "line 2, column 2 holds 'x', not a number"),
    ("a,b\n1,x\n", FileFormatError, "line 2, column 2 \\('b'\\) holds 'x', not a number"),
    ("1,nan,0\n", DataError, "NaN"),
    ("1,2,0.5\n", DataError, "whole"),
    ("1,2,-1\n", DataError, ">= 0"),
    ("1\n2\n", FileFormatError, "two columns"),
])
def test_csv_errors(tmp_path, text, exc, match):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(exc, match=match):
        load_arrays(path)


def test_csv_bad_label_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(ConfigError, match="out of range"):
        load_arrays(path, label_column=3)
    with pytest.raises(ConfigError, match="no header"):
        load_arrays(path, label_column="label")


def test_unsupported_and_missing(tmp_path):
    (tmp_path / "d.pkl").write_bytes(b"x")
    with pytest.raises(ConfigError):
        load_arrays(tmp_path / "d.pkl")
    with pytest.raises(DatasetNotFoundError):
        load_arrays(tmp_path / "none.npz")
