"""Checked ``.npy`` headers: refuse what ``np.load`` would allocate or unpickle.

``np.load`` trusts the header: a 100-byte file declaring a (10**12,) float64 array makes
it try to allocate 8 TB. Here the header is parsed with NumPy's own format reader, and
the declared size is compared with the bytes present before any array exists.
"""

from __future__ import annotations

import math
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npformat

from deltaprop.errors import FileFormatError

__all__ = ["NpyHeader", "read_npy_header"]


class NpyHeader:
    """Shape, dtype, memory order and data offset of a checked ``.npy`` stream."""

    __slots__ = ("dtype", "fortran_order", "offset", "shape")

    def __init__(self, shape, fortran_order, dtype, offset):
        self.shape: tuple[int, ...] = shape
        self.fortran_order: bool = fortran_order
        self.dtype: np.dtype = dtype
        self.offset: int = offset

    @property
    def nbytes(self) -> int:
        """Bytes of data the header declares."""
        return math.prod(self.shape) * self.dtype.itemsize


def read_npy_header(stream: BinaryIO, name: str, total_bytes: int, *, text: bool = False) -> NpyHeader:
    """Parse the header at the start of ``stream`` (``total_bytes`` long) and check it.

    Raises FileFormatError, naming ``name``, for a bad magic or header, object or
    structured dtypes (they need pickle), and data that is not exactly the bytes present.
    Strings (fixed-width ``<U``/``S``, which need no pickle) are refused unless ``text``:
    an archive's labels array may hold class names.
    """
    try:
        version = npformat.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npformat.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise FileFormatError(f"{name}: not a valid .npy array ({exc}). Save it with "
                              "numpy.save or numpy.savez.") from None
    if dtype.fields is not None and not dtype.hasobject:
        fields = ", ".join(repr(f) for f in list(dtype.names)[:6]) + (", ..." if len(dtype.names) > 6 else "")
        raise FileFormatError(f"{name}: holds a structured array (named fields {fields}, as np.genfromtxt(..., "
                              "names=True) or a record array makes), not a plain array of numbers; save its fields "
                              "as columns of one plain array instead, structured_to_unstructured(arr) (from "
                              "numpy.lib.recfunctions import structured_to_unstructured)")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise FileFormatError(f"{name}: holds an array of dtype {dtype}; object and structured arrays "
                              "need pickle, which is never used. Save plain numeric arrays (class names as "
                              "fixed-width strings, which need no pickle: y=np.asarray(labels, dtype=str)).")
    if dtype.kind in "US" and not text:
        raise FileFormatError(f"{name}: holds strings (dtype {dtype}), not a number type; save the inputs as numbers "
                              "(only the labels array may hold strings, class names: y=np.asarray(labels, dtype=str)).")
    if dtype.kind not in "biuf" + ("US" if text else ""):
        raise FileFormatError(f"{name}: dtype {dtype} is not a number type (bool, int, float).")
    header = NpyHeader(tuple(int(d) for d in shape), bool(fortran), dtype, stream.tell())
    present = total_bytes - header.offset
    if header.nbytes != present:
        what = "truncated" if present < header.nbytes else "trailing bytes"
        raise FileFormatError(f"{name}: {what}: the header declares a {header.shape} "
                              f"{dtype} array ({header.nbytes:,} bytes) but {present:,} bytes "
                              "of data are present. The file is corrupt.")
    return header
