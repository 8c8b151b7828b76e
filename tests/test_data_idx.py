"""IDX reading and writing: round trips, every malformed case, and a fuzz of the parser."""

from __future__ import annotations

import gzip
import os
import tempfile
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deltaprop.data.idx import IDX_TYPES, read_idx, read_idx_header, write_idx
from deltaprop.errors import DataError, Error, FileFormatError, ShapeError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
SHAPES = [(0,), (1,), (7,), (3, 5), (3, 0), (0, 28, 28), (4, 28, 28), (2, 1, 3, 2),
          (2, 2, 1, 2, 3)]


def _random(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 1e3).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def _raw(tmp_path, data: bytes, name="f.idx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _gz(tmp_path, data: bytes, name="f.idx.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_type_and_shape(tmp_path, dtype, shape, suffix):
    x = _random(shape, dtype)
    path = write_idx(tmp_path / f"a-idx{suffix}", x)
    y = read_idx(path)
    assert y.dtype == np.dtype(dtype) and y.dtype.isnative
    assert y.shape == shape
    np.testing.assert_array_equal(x, y)
    header = read_idx_header(path)
    assert header.shape == shape and header.compressed == (suffix == ".gz")


def test_big_endian_on_disk_and_known_bytes(tmp_path):
    path = write_idx(tmp_path / "a", np.array([1, 256], dtype=np.int32))
    assert path.read_bytes() == _header(0x0C, [2]) + b"\x00\x00\x00\x01\x00\x00\x01\x00"


def test_byte_order_of_input_does_not_matter(tmp_path):
    x = np.arange(6, dtype=">f8").reshape(2, 3)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a.gz", x)), x)


def test_gzip_output_is_reproducible(tmp_path):
    x = _random((10, 4), np.uint8)
    a = write_idx(tmp_path / "a.gz", x).read_bytes()
    b = write_idx(tmp_path / "b.gz", x).read_bytes()
    assert a == b


def test_memory_map_raw(tmp_path):
    x = _random((5, 3, 2), np.int16)
    mm = read_idx(write_idx(tmp_path / "a", x), mmap=True)
    assert isinstance(mm, np.memmap) and mm.dtype == np.dtype(">i2")
    np.testing.assert_array_equal(mm, x)
    with pytest.raises(FileFormatError, match="cannot be memory-mapped"):
        read_idx(write_idx(tmp_path / "a.gz", x), mmap=True)


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.float16, np.bool_, np.complex64])
def test_write_refuses_types_idx_lacks(tmp_path, dtype):
    with pytest.raises(DataError, match="IDX has no element type"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=dtype))
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_scalar(tmp_path):
    with pytest.raises(ShapeError):
        write_idx(tmp_path / "a", np.float32(1.0))


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    path = write_idx(tmp_path / "a.gz", np.arange(4, dtype=np.uint8))
    before = path.read_bytes()
    with pytest.raises(DataError):
        write_idx(path, np.zeros(3, dtype=np.int64))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.gz"]


# ---------------------------------------------------------------- malformed input
GOOD = _header(0x08, [2, 3]) + bytes(range(6))

MALFORMED_RAW = {
    "empty": (b"", "empty"),
    "short magic": (b"\x00\x00", "truncated"),
    "wrong magic": (b"\x12\x34\x08\x01" + b"\x00\x00\x00\x01" + b"\x00", "magic number"),
    "unknown type": (_header(0x0A, [1]) + b"\x00", "unknown IDX element type 0x0A"),
    "zero dims": (b"\x00\x00\x08\x00", "declares 0 dimensions"),
    "255 dims": (b"\x00\x00\x08\xff" + b"\x00\x00\x00\x01" * 255, "declares 255 dimensions"),
    "dims cut short": (b"\x00\x00\x08\x03\x00\x00\x00\x01", "dimension sizes"),
    "petabytes": (_header(0x0E, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF]) + b"\x00" * 8,
                  "truncated"),
    "truncated data": (GOOD[:-2], "truncated"),
    "trailing bytes": (GOOD + b"\x00\x01", "trailing bytes"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_RAW))
def test_malformed_raw(tmp_path, case):
    data, match = MALFORMED_RAW[case]
    path = _raw(tmp_path, data)
    with pytest.raises(FileFormatError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("case", sorted(set(MALFORMED_RAW) - {"empty"}))
def test_malformed_inside_gzip(tmp_path, case):
    data, _ = MALFORMED_RAW[case]
    path = _gz(tmp_path, data)
    with pytest.raises(FileFormatError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_empty_gz_file(tmp_path):
    with pytest.raises(FileFormatError, match="empty"):
        read_idx(_raw(tmp_path, b"", "x.gz"))


def test_gz_name_but_not_gzip(tmp_path):
    with pytest.raises(FileFormatError, match="not gzip"):
        read_idx(_raw(tmp_path, GOOD, "x.gz"))


def test_bad_gzip_crc(tmp_path):
    blob = bytearray(gzip.compress(GOOD, mtime=0))
    blob[-8] ^= 0xFF  # first byte of the CRC32 trailer
    with pytest.raises(FileFormatError, match="corrupt gzip"):
        read_idx(_raw(tmp_path, bytes(blob), "x.gz"))


def test_corrupt_deflate_stream(tmp_path):
    blob = bytearray(gzip.compress(GOOD * 50, mtime=0))
    blob[12:20] = b"\xff" * 8
    with pytest.raises(FileFormatError):
        read_idx(_raw(tmp_path, bytes(blob), "x.gz"))


def test_truncated_gzip(tmp_path):
    x = _random((50, 50), np.uint8)
    blob = gzip.compress(_header(0x08, [50, 50]) + x.tobytes(), mtime=0)
    for cut in (10, len(blob) // 2, len(blob) - 4):
        with pytest.raises(FileFormatError):
            read_idx(_raw(tmp_path, blob[:cut], "x.gz"))


def _peak_during(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.slow
def test_gzip_bomb_is_stopped_at_declared_size(tmp_path):
    # 10 bytes declared, 64 MiB of zeros inside: only the declared bytes are decompressed.
    path = tmp_path / "bomb.gz"
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(_header(0x08, [10]))
        chunk = bytes(1 << 20)
        for _ in range(64):
            f.write(chunk)
    assert path.stat().st_size < 200_000

    def attempt():
        with pytest.raises(FileFormatError, match="corrupt gzip stream: it decompresses to more than the 10 bytes"):
            read_idx(path)

    assert _peak_during(attempt) < 8 << 20


def test_gzip_header_declaring_more_than_deflate_can_hold(tmp_path):
    path = _gz(tmp_path, _header(0x08, [1 << 30, 4]) + b"\x00" * 100)

    def attempt():
        with pytest.raises(FileFormatError, match="more than a .* gzip file can expand to"):
            read_idx(path)

    assert _peak_during(attempt) < 1 << 20


def test_petabyte_header_allocates_nothing(tmp_path):
    path = _raw(tmp_path, _header(0x0E, [0xFFFFFFFF] * 3) + b"\x00" * 64)
    assert _peak_during(lambda: pytest.raises(FileFormatError, read_idx, path)) < 1 << 20


def test_max_bytes(tmp_path):
    path = write_idx(tmp_path / "a", np.zeros((10, 10), np.uint8))
    with pytest.raises(FileFormatError, match="over the limit"):
        read_idx(path, max_bytes=99)
    assert read_idx(path, max_bytes=100).shape == (10, 10)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(Error, match="no such file"):
        read_idx(tmp_path / "nope")
    with pytest.raises(FileFormatError, match="folder"):
        read_idx(tmp_path)


def test_header_only_checks(tmp_path):
    with pytest.raises(FileFormatError, match="truncated"):
        read_idx_header(_raw(tmp_path, GOOD[:-1]))
    assert read_idx_header(_raw(tmp_path, GOOD)).nbytes == 6


# ---------------------------------------------------------------- fuzz
VALID_RAW = _header(0x0B, [3, 2]) + np.arange(6, dtype=">i2").tobytes()
VALID_GZ = gzip.compress(VALID_RAW, mtime=0)


def _mutate(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for pos, value, op in edits:
        if not buf:
            buf.append(value)
            continue
        pos %= len(buf)
        if op == 0:
            buf[pos] = value
        elif op == 1:
            del buf[pos]
        else:
            buf.insert(pos, value)
    return bytes(buf)


def _read_bytes_as_file(data: bytes, suffix: str):
    fd, name = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        for mmap in (False, True):
            try:
                out = read_idx(name, mmap=mmap, max_bytes=1 << 24)
            except Error:
                continue
            assert isinstance(out, np.ndarray) and out.dtype in [
                dt.newbyteorder("=") for dt in IDX_TYPES.values()] + list(IDX_TYPES.values())
            del out
    finally:
        os.unlink(name)


EDITS = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255), st.integers(0, 2)),
                 max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.sampled_from(["", ".gz"]))
def test_fuzz_random_bytes(data, suffix):
    _read_bytes_as_file(data, suffix)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(EDITS, st.sampled_from(["raw", "gz", "gz-inner"]))
def test_fuzz_mutated_files(edits, kind):
    if kind == "raw":
        data, suffix = _mutate(VALID_RAW, edits), ""
    elif kind == "gz":
        data, suffix = _mutate(VALID_GZ, edits), ".gz"
    else:
        data, suffix = gzip.compress(_mutate(VALID_RAW, edits), mtime=0), ".gz"
    _read_bytes_as_file(data, suffix)


def test_zlib_errors_never_escape(tmp_path):
    raw = zlib.compress(GOOD)  # zlib container, not gzip
    with pytest.raises(FileFormatError):
        read_idx(_raw(tmp_path, raw, "z.gz"))
    with pytest.raises(FileFormatError):
        read_idx(_raw(tmp_path, b"\x1f\x8b" + raw, "z.gz"))
