"""Your own data: ``.npz`` archives and CSV files, checked like the built-in datasets."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from deltaprop import _checks
from deltaprop.bounded import file_kind
from deltaprop.data.npy import read_npy_header
from deltaprop.errors import ConfigError, DatasetNotFoundError, DataError, FileFormatError, ShapeError

__all__ = ["NPZ_KEYS", "load_arrays"]

#: Accepted (inputs, labels) key pairs in an ``.npz``, tried in this order.
NPZ_KEYS = (("x", "y"), ("X", "y"), ("X", "Y"), ("images", "labels"))
# Deflate cannot expand more than about 1032:1; a member claiming more is a zip bomb.
_ZIP_MAX_RATIO = 1100
# A header or first row longer than this is not a table deltaprop can use.
_MAX_HEADER_BYTES = 1 << 20


def load_arrays(path: str | os.PathLike, *, label_column: int | str = -1):
    """Load ``(x, y)`` from an ``.npz`` or a ``.csv`` file.

    ``.npz``: arrays under one of :data:`NPZ_KEYS` (``x``/``y``, ``X``/``y``, ``X``/``Y``,
    ``images``/``labels``); every member's header is checked against its size first and
    pickle is never allowed. x keeps its dtype. CSV: comma-separated numbers, an optional
    header row; ``label_column`` is the index (negative counts from the end) or, with a
    header, the name of the label column. x comes back uint8 when every value is an
    integer in 0..255 (pixels, like MNIST), float32 otherwise.

    y: 1-D labels become int64 class ids (they must be whole numbers >= 0); 2-D y
    (one-hot rows or regression targets, ``.npz`` only) comes back as float32.
    """
    path = Path(path)
    if not path.is_file():
        if path.exists():  # a folder, FIFO or device: say which, and never open it
            raise FileFormatError(f"{path} is {file_kind(path.stat().st_mode)}, not a data file; give a .npz or .csv file.")
        raise DatasetNotFoundError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        x, y = _load_npz(path)
    elif suffix in (".csv", ".txt"):
        x, y = _load_csv(path, label_column)
    else:
        raise ConfigError(f"{path}: unsupported file type {suffix!r}; use .npz or .csv.")
    return _check_xy(x, y, path)


def _load_npz(path: Path):
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: info for info in zf.infolist()}
            keys = next(((kx, ky) for kx, ky in NPZ_KEYS
                         if f"{kx}.npy" in members and f"{ky}.npy" in members), None)
            if keys is None:
                found = sorted(m.removesuffix(".npy") for m in members)
                raise FileFormatError(f"{path}: no inputs/labels pair among the arrays {found}. "
                                      f"Save with np.savez(path, x=inputs, y=labels).")
            for key in keys:
                info = members[f"{key}.npy"]
                if info.file_size > _ZIP_MAX_RATIO * info.compress_size + (1 << 16):
                    raise FileFormatError(f"{path}: member {key}.npy claims {info.file_size:,} "
                                          f"bytes from {info.compress_size:,} compressed "
                                          "(a zip bomb or a corrupt archive).")
                with zf.open(info) as member:
                    read_npy_header(member, f"{path}[{key}]", info.file_size)
        with np.load(path, allow_pickle=False) as npz:
            return npz[keys[0]], npz[keys[1]]
    except FileFormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            KeyError, NotImplementedError) as exc:
        raise FileFormatError(f"{path}: not a readable .npz archive ({type(exc).__name__}: "
                              f"{exc}). Save it with numpy.savez.") from None


def _load_csv(path: Path, label_column: int | str):
    from deltaprop.bounded import open_regular

    try:  # a regular file only, and a header line of bounded length
        with open_regular(path, max_bytes=1 << 40, what="CSV file", error=FileFormatError, allow_empty=True) as f:
            first = f.readline(_MAX_HEADER_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: cannot read as text CSV ({exc}).") from None
    if len(first) > _MAX_HEADER_BYTES:
        raise FileFormatError(f"{path}: the first line is longer than {_MAX_HEADER_BYTES:,} bytes; "
                              "is this a CSV file with one row per line?")
    if not first.strip():
        raise FileFormatError(f"{path}: the CSV file is empty (or starts with a blank line).")
    cells = [c.strip() for c in first.split(",")]
    try:
        [float(c) for c in cells]
        names = None
    except ValueError:
        names = cells
    n_cols = len(cells)
    if n_cols < 2:
        raise FileFormatError(f"{path}: needs at least two columns (inputs and a label).")
    if isinstance(label_column, str):
        if names is None or label_column not in names:
            raise ConfigError(f"{path}: no column named {label_column!r}"
                              + (f"; the header has {names}." if names else " (no header row)."))
        col = names.index(label_column)
    else:
        if not -n_cols <= int(label_column) < n_cols:
            raise ConfigError(f"{path}: label_column {label_column} is out of range for "
                              f"{n_cols} columns.")
        col = int(label_column) % n_cols
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(path, delimiter=",", skiprows=0 if names is None else 1,
                               dtype=np.float64, ndmin=2, encoding="utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: malformed CSV ({exc}). Every row needs {n_cols} "
                              "comma-separated numbers.") from None
    if table.shape[0] == 0:
        raise FileFormatError(f"{path}: the CSV file has a header but no rows.")
    if table.shape[1] != n_cols:
        raise FileFormatError(f"{path}: rows have {table.shape[1]} columns, the first "
                              f"has {n_cols}.")
    y = table[:, col]
    x = np.delete(table, col, axis=1)
    if np.isfinite(x).all() and (x == np.round(x)).all() and x.min() >= 0 and x.max() <= 255:
        x = x.astype(np.uint8)
    else:
        x = _checks.cast_checked(x, np.float32, name=f"{path}: x")
    return x, y


def _check_xy(x: np.ndarray, y: np.ndarray, path: Path):
    if x.ndim < 2:
        raise ShapeError(f"{path}: x must be (n, features...), got shape {x.shape}.")
    if len(x) != len(y):
        raise ShapeError(f"{path}: x has {len(x)} rows but y has {len(y)}.")
    if len(x) == 0:
        raise ShapeError(f"{path}: holds no rows (x has shape {x.shape}); nothing to train or test on.")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{path}: x contains NaN or inf; clean or impute them first.")
    if y.ndim == 1:
        return x, _checks.class_labels(y, name=f"{path}: labels")
    if y.ndim == 2:
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise DataError(f"{path}: y contains NaN or inf.")
        return x, y.astype(np.float32)
    raise ShapeError(f"{path}: y must be 1-D class ids or 2-D rows, got shape {y.shape}.")
