"""IDX files, the format MNIST and Fashion-MNIST ship in: read, write, memory-map.

Layout (all integers big-endian)::

    bytes 0-1   zero
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 x d       the size of each dimension, uint32
    then        the elements, row-major, big-endian

A file is either raw or gzip-compressed (a ``.gz`` name, or the gzip magic bytes). The
header is checked before anything is allocated: the declared data must be exactly the
bytes present (raw), or no more than a gzip stream of this size can expand to (deflate
cannot exceed about 1032:1), and gzip data is decompressed in bounded chunks against the
declared size, so a truncated file, trailing bytes or a gzip bomb is reported, never
allocated. Every problem raises :class:`~deltaprop.errors.FileFormatError` naming the
file and the problem.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from deltaprop.atomic import atomic_write
from deltaprop.errors import DatasetNotFoundError, DataError, FileFormatError, ShapeError

__all__ = [
    "IDX_TYPES",
    "IdxHeader",
    "copy_idx",
    "read_idx",
    "read_idx_header",
    "write_idx",
]

#: IDX element-type code -> big-endian NumPy dtype.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}

#: Largest IDX file opened (raw data is memory-mapped, so this bounds the mapping).
MAX_FILE_BYTES = 1 << 40
#: The most dimensions a file may declare (NumPy's own limit is 32 or 64).
MAX_NDIM = 32
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate's best case is about 1032:1; a little slack for tiny files.
_GZIP_MAX_RATIO = 1100
_GZIP_SLACK = 1 << 16
_CHUNK = 1 << 20
_FIX_DOWNLOAD = "Delete it and fetch or copy it again."


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX header declares, and where the data starts in the (decompressed) file."""

    dtype: np.dtype  # big-endian, as stored
    shape: tuple[int, ...]
    offset: int  # header length in bytes
    compressed: bool

    @property
    def nbytes(self) -> int:
        """Bytes of element data the header declares."""
        return math.prod(self.shape) * self.dtype.itemsize


def _bad(path: Path, problem: str, fix: str = _FIX_DOWNLOAD) -> FileFormatError:
    return FileFormatError(f"{path}: {problem}. {fix}")


def _read_exact(stream: BinaryIO, n: int, path: Path, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        if not data and what == "the IDX magic number":
            raise _bad(path, "the file is empty (no IDX header)")
        raise _bad(path, f"truncated: the file ends inside {what} ({len(data)} of {n} bytes)")
    return data


def _is_gzip(path: Path, head: bytes) -> bool:
    if not head:
        raise _bad(path, "the file is empty (no IDX header)")
    if head[:2] == _GZIP_MAGIC:
        return True
    if path.suffix == ".gz":
        raise _bad(path, "named .gz but is not gzip-compressed (no gzip magic bytes)",
                   "Rename it without .gz if it is a raw IDX file, or fetch it again.")
    return False


def _parse_header(stream: BinaryIO, path: Path, compressed: bool) -> IdxHeader:
    magic = _read_exact(stream, 4, path, "the IDX magic number")
    if magic[:2] != b"\x00\x00":
        raise _bad(path, f"not an IDX file: magic number {magic.hex()} does not start with 0000",
                   "Check that this is an IDX (MNIST-format) file.")
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise _bad(path, f"unknown IDX element type 0x{code:02X} (known: {known})")
    if not 1 <= ndim <= MAX_NDIM:
        raise _bad(path, f"declares {ndim} dimensions; IDX files here have 1 to {MAX_NDIM}")
    raw_dims = _read_exact(stream, 4 * ndim, path, "the IDX dimension sizes")
    shape = tuple(int.from_bytes(raw_dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    return IdxHeader(IDX_TYPES[code], shape, 4 + 4 * ndim, compressed)


def _check_size(header: IdxHeader, path: Path, file_size: int, max_bytes: int | None) -> None:
    """Refuse a declared size the file cannot hold, before any allocation."""
    declared = header.nbytes
    shape = "x".join(map(str, header.shape))
    swapped = tuple(int.from_bytes(d.to_bytes(4, "big"), "little") for d in header.shape)
    if not header.compressed and declared != file_size - header.offset == math.prod(swapped) * header.dtype.itemsize:
        raise _bad(path, f"the header's dimension sizes are little-endian: read as IDX's big-endian they declare "
                   f"{shape}, read little-endian {'x'.join(map(str, swapped))}, which fits the file's data exactly",
                   "Write the sizes big-endian (deltaprop.data.write_idx(path, array) does).")
    if max_bytes is not None and declared > max_bytes:
        raise _bad(path, f"declares {declared:,} bytes of data ({shape} {header.dtype.name}), "
                   f"over the limit of {max_bytes:,}", "Raise max_bytes if the file is genuine.")
    if header.compressed:
        if declared > _GZIP_MAX_RATIO * file_size + _GZIP_SLACK:
            raise _bad(path, f"declares {declared:,} bytes of data ({shape}), more than a "
                       f"{file_size:,}-byte gzip file can expand to (corrupt header)")
        return
    present = file_size - header.offset
    if present < declared:
        raise _bad(path, f"truncated: the header declares {declared:,} bytes of data "
                   f"({shape} {header.dtype.name}) but only {present:,} are present")
    if present > declared:
        raise _bad(path, f"{present - declared:,} trailing bytes after the {declared:,} bytes "
                   f"of data the header declares ({shape})")


def read_idx_header(path: str | os.PathLike) -> IdxHeader:
    """Parse and check an IDX header (raw or gzip) without reading the data."""
    path = Path(path)
    with _open(path) as f:
        compressed, size = _sniff(f, path)
        try:
            stream = gzip.GzipFile(fileobj=f, mode="rb") if compressed else f
            header = _parse_header(stream, path, compressed)
        except (OSError, EOFError, zlib.error) as exc:
            raise _bad(path, f"corrupt gzip stream ({exc})") from None
        _check_size(header, path, size, None)
        return header


def _sniff(f: BinaryIO, path: Path) -> tuple[bool, int]:
    """Whether the open file ``f`` is gzip (by its magic bytes) and its size on disk."""
    head = f.read(2)
    f.seek(0)
    return _is_gzip(path, head), os.fstat(f.fileno()).st_size


def _open(path: Path) -> BinaryIO:
    """A regular file only (a FIFO or device is refused, never waited on)."""
    from deltaprop.bounded import open_regular

    if not os.path.lexists(path):
        raise DatasetNotFoundError(f"{path}: no such file")
    return open_regular(path, max_bytes=MAX_FILE_BYTES, what="IDX file", error=FileFormatError, allow_empty=True)


@contextlib.contextmanager
def _reading(path: Path, compressed: bool) -> Iterator[None]:
    """Turn a failed read of ``path`` (a damaged gzip stream: cut short, a bad CRC, bad
    deflate data) into the :class:`FileFormatError` that names the file and the fix."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        kind = "corrupt gzip stream" if compressed else "read failed"
        raise _bad(path, f"{kind} ({type(exc).__name__}: {exc})") from None


def read_idx(path: str | os.PathLike, *, mmap: bool = False,
             max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip) into an array of native byte order.

    With ``mmap=True`` a raw file is memory-mapped read-only instead and the array keeps
    the file's big-endian dtype (convert per batch; see :mod:`deltaprop.data.streaming`).
    ``max_bytes`` caps the declared data size.
    """
    path = Path(path)
    with _open(path) as f:
        compressed, size = _sniff(f, path)
        if mmap and compressed:
            raise FileFormatError(f"{path}: a gzip file cannot be memory-mapped. "
                                  "Decompress it first (gunzip -k), then map the raw file.")
        with _reading(path, compressed):
            stream = gzip.GzipFile(fileobj=f, mode="rb") if compressed else f
            header = _parse_header(stream, path, compressed)
            _check_size(header, path, size, max_bytes)
            if mmap:
                if header.nbytes == 0:
                    return np.empty(header.shape, header.dtype)
                return np.memmap(path, dtype=header.dtype, mode="r", offset=header.offset, shape=header.shape)
        return _read_data(stream, header, path)


def copy_idx(path: str | os.PathLike, write: Callable[[bytes], object]) -> IdxHeader:
    """Pass the raw bytes of the IDX file at ``path`` (decompressed if gzip), header first,
    to ``write`` at most a MiB at a time, checked as :func:`read_idx` checks them: a damaged
    file raises the same :class:`FileFormatError`, so a caller writing to a temporary file
    (:func:`deltaprop.atomic.atomic_write`) keeps nothing of it. An error ``write`` raises
    (a full disk) passes through unchanged."""
    path = Path(path)
    with _open(path) as f:
        compressed, size = _sniff(f, path)
        with _reading(path, compressed):
            stream = gzip.GzipFile(fileobj=f, mode="rb") if compressed else f
            header = _parse_header(stream, path, compressed)
            _check_size(header, path, size, None)
        write(idx_header_bytes(header.shape, header.dtype))
        for chunk in _data_chunks(stream, header, path):
            write(chunk)
    return header


def _data_chunks(stream: BinaryIO, header: IdxHeader, path: Path) -> Iterator[bytes]:
    """The data after the header, at most :data:`_CHUNK` bytes at a time: exactly the
    declared bytes, no more (a stream that ends early or goes on is refused)."""
    total, pos = header.nbytes, 0
    while pos < total:
        with _reading(path, header.compressed):
            chunk = stream.read(min(_CHUNK, total - pos))
        if not chunk:
            shape = "x".join(map(str, header.shape))
            raise _bad(path, f"truncated: the header declares {total:,} bytes of data "
                       f"({shape} {header.dtype.name}) but the data ends after {pos:,}")
        pos += len(chunk)
        yield chunk
    with _reading(path, header.compressed):
        extra = stream.read(1)
    if extra:
        if header.compressed:
            raise _bad(path, f"corrupt gzip stream: it decompresses to more than the {total:,} bytes of data the "
                       "header declares (a damaged download or copy, or bytes added to the file)")
        raise _bad(path, f"trailing bytes after the {total:,} bytes the header declares")


def _read_data(stream: BinaryIO, header: IdxHeader, path: Path) -> np.ndarray:
    """Fill a preallocated array in bounded chunks (see :func:`_data_chunks`)."""
    out = np.empty(header.shape, dtype=header.dtype)
    flat = memoryview(out.reshape(-1).view(np.uint8))
    pos = 0
    for chunk in _data_chunks(stream, header, path):
        flat[pos:pos + len(chunk)] = chunk
        pos += len(chunk)
    if not header.dtype.isnative:
        out.byteswap(inplace=True)
        out = out.view(header.dtype.newbyteorder("="))
    return out


def idx_code(dtype: np.dtype) -> int:
    """The IDX type code for ``dtype``; DataError where IDX has none."""
    dtype = np.dtype(dtype)
    code = _CODE_OF_KIND.get((dtype.kind, dtype.itemsize))
    if code is None:
        raise DataError(f"IDX has no element type for {dtype.name}; cast to one of "
                        "uint8, int8, int16, int32, float32, float64 first.")
    return code


def idx_header_bytes(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """The header bytes of an IDX file holding an array of this shape and dtype."""
    if not 1 <= len(shape) <= MAX_NDIM:
        raise ShapeError(f"IDX holds arrays of 1 to {MAX_NDIM} dimensions, got shape {shape}.")
    if any(d > 0xFFFFFFFF for d in shape):
        raise ShapeError(f"IDX dimension sizes must fit in 32 bits, got shape {shape}.")
    head = bytes([0, 0, idx_code(dtype), len(shape)])
    return head + b"".join(int(d).to_bytes(4, "big") for d in shape)


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compresslevel: int = 9) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when the name ends in ``.gz``.

    The write is atomic (temporary file, fsync, rename) and reproducible: gzip output
    carries no time stamp or file name, so equal arrays give equal bytes.
    """
    path = Path(path)
    array = np.asarray(array)
    header = idx_header_bytes(array.shape, array.dtype)
    stored = IDX_TYPES[header[2]]
    rows = array.reshape(array.shape[0], math.prod(array.shape[1:]))
    step = max(1, _CHUNK // max(1, rows.shape[1] * stored.itemsize))
    with atomic_write(path) as raw:
        out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=compresslevel,
                            mtime=0) if path.suffix == ".gz" else raw
        out.write(header)
        for start in range(0, rows.shape[0], step):
            out.write(np.ascontiguousarray(rows[start:start + step], dtype=stored).data)
        if out is not raw:
            out.close()
    return path
