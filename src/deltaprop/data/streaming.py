"""Data bigger than memory: rows of a memory-mapped file, gathered one mini-batch at a time.

Seed 000: stochastic gradient descent only needs the current mini-batch, so a training
set need not fit in RAM. A :class:`MappedArray` maps a raw IDX or ``.npy`` file read-only;
indexing it with a (sorted) array of row numbers reads just those rows from disk, then
casts and scales them. The mapped pages belong to the page cache, which the kernel can
drop at will, so the process's own (anonymous) memory stays at about one batch.
``deltaprop.fit``, ``deltaprop.evaluate`` and ``Network.predict`` accept a MappedArray
wherever they accept an ndarray.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from deltaprop import _checks
from deltaprop.data.idx import copy_idx, read_idx
from deltaprop.data.npy import read_npy_header
from deltaprop.errors import (ConfigError, DataError, DatasetNotFoundError, FileFormatError, RowIndexError,
                              ShapeError)

__all__ = ["MappedArray", "RowView", "SparseRows", "iter_batches", "mapped_idx", "open_mapped"]

#: The first bytes of every ``.npy`` file (an IDX file starts with two zero bytes).
NPY_MAGIC = b"\x93NUMPY"

#: Bytes of a file read at a time by the one pass ``scale="unit"`` makes at open.
SCAN_BYTES = 16 << 20


def _is_npy(path: Path) -> bool:
    """Whether ``path`` holds a ``.npy`` array, by its magic bytes (whatever its name); a
    file named ``.npy`` that starts as no IDX file does counts too, so that the ``.npy``
    reader names what is wrong with it (empty, cut short, not an array)."""
    from deltaprop.bounded import open_regular

    if not os.path.lexists(path):
        raise DatasetNotFoundError(f"{path}: no such file")
    with open_regular(path, max_bytes=1 << 40, what="data file", error=FileFormatError, allow_empty=True) as f:
        head = f.read(len(NPY_MAGIC))
    idx_like = len(head) >= 4 and head[:2] == b"\0\0"  # an IDX header: two zero bytes, type, dimensions
    return head == NPY_MAGIC or (path.suffix.lower() == ".npy" and not idx_like)


def _map_npy(path: Path) -> np.ndarray:
    from deltaprop.bounded import open_regular

    with open_regular(path, max_bytes=1 << 40, what=".npy file", error=FileFormatError) as f:
        header = read_npy_header(f, str(path), os.fstat(f.fileno()).st_size)
    if header.fortran_order and len(header.shape) > 1:
        raise FileFormatError(f"{path}: stored in Fortran (column) order, so a row is scattered "
                              "over the file. Save it with np.save(path, np.ascontiguousarray(x)).")
    if header.nbytes == 0:
        return np.empty(header.shape, header.dtype)
    return np.memmap(path, dtype=header.dtype, mode="r", offset=header.offset, shape=header.shape)


def _extremes(data: np.ndarray) -> tuple:
    """The smallest and largest value of ``data``, read :data:`SCAN_BYTES` at a time."""
    step = max(1, SCAN_BYTES // max(1, data[:1].nbytes))
    low, high = data[0].min(), data[0].max()
    for start in range(0, data.shape[0], step):
        chunk = data[start:start + step]
        low, high = min(low, chunk.min()), max(high, chunk.max())
    return low, high


def _unit_factor(data: np.ndarray, path: Path) -> float:
    """``1/255`` for 8-bit levels (in any integer type), ``1/65535`` for 16-bit ones: the
    factor the CLI's ``--scaling unit`` (:func:`deltaprop.preprocessing.unit_scaling`)
    takes for the same values, found from their extremes; anything else is refused alike."""
    from deltaprop.preprocessing import _UNIT_REACH, unit_scaling

    integers = data.dtype.kind in "ui"
    extremes = np.array(_extremes(data) if integers else (), dtype=data.dtype)
    try:
        with warnings.catch_warnings():  # its warning names the CLI's --scaling choices: said below in scale='s terms
            warnings.simplefilter("ignore", UserWarning)
            factor = unit_scaling(extremes).scale
    except ConfigError:
        held = (f"values from {extremes[0]} to {extremes[1]}" if integers
                else f"{data.dtype} values, not integer pixels")
        raise ConfigError(
            f"{path}: scale='unit' divides integer pixels by their full scale (255 for 8-bit levels, "
            f"65535 for 16-bit), but the file holds {held}. Pass scale=None for data already in "
            "[0, 1], a number to multiply by, or a fitted Standardizer."
        ) from None
    top, high = round(1 / factor), int(extremes[1])
    if high < _UNIT_REACH * top:  # as unit_scaling warns: 0..16 levels come out in [0, 0.063]
        warnings.warn(f"{path}: scale='unit' divides by {top}, the full scale of {8 if top == 255 else 16}-bit "
                      f"pixels, but the file's values reach only {high}, so they come out in [0, {high / top:.3g}], "
                      f"not [0, 1]; pass a number to multiply by instead (scale=1/{max(high, 1)} for [0, 1]) or a fitted "
                      "Standardizer", UserWarning, stacklevel=4)
    return factor


class _FileWatch:
    """A mapped file's size and modification time as it was mapped, checked (one ``stat``
    of its path) before each read: past a shrunken file's end a mapped read kills the
    process (SIGBUS), and a file rewritten in place holds other rows. A file put in its place
    under the same name (an atomic replace, as another process refreshing a cache does)
    leaves the mapped one intact, so it is no change. It holds no file descriptor, so a copy
    (``copy.deepcopy``, a pickle sent to another process) checks the same file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).absolute()
        st = os.stat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        self._opened = (st.st_size, st.st_mtime_ns)

    def _state(self) -> tuple[int, int] | None:
        """The mapped file's size and time now; None when the path names another file (one
        put in its place: the mapped file itself is unchanged, and still read safely)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns) if (st.st_dev, st.st_ino) == self._inode else None

    def check(self) -> None:
        """Raise :class:`DataError` naming the file if it changed in place since it was mapped."""
        now = self._state()
        if now is not None and now != self._opened:
            size, was = now[0], self._opened[0]
            how = (f"it was {was:,} bytes when opened and is {size:,} now" if size != was
                   else "it was rewritten after it was opened")
            raise DataError(f"{self.path} changed during training (or while it was open): {how}, so its rows "
                            "cannot be read as they were. Write new data to a new file, then open that.")


class MappedArray:
    """A read-only, lazily gathered view of the rows of a raw IDX or ``.npy`` file (told
    apart by the file's first bytes, not its name).

    ``arr[idx]`` with an int array (sorted is fastest), a slice or an int returns an
    in-memory ndarray of those rows in ``dtype``, flattened to ``(len(idx), features)``
    when ``flatten`` (a 1-D file, such as labels, stays 1-D) and then scaled. ``scale``: None (cast only), ``"unit"`` (what the
    CLI's ``--scaling unit`` does: ``x/255`` for 8-bit levels, whatever the integer type,
    ``x/65535`` for 16-bit ones; floats, negative or wider values are refused with a
    :class:`~deltaprop.ConfigError`; to tell them apart it reads the whole file once at
    open, :data:`SCAN_BYTES` at a time), a number to multiply by, or an object with
    ``transform(x)`` such as a fitted Standardizer.

    A stored value beyond the range of ``dtype`` (a float64 1e40 read as float32) is a
    :class:`~deltaprop.DataError` naming its row, never an infinity. A row number out of
    range is a :class:`~deltaprop.RowIndexError` (an IndexError too), so ``list(arr)`` and
    ``np.asarray(arr)`` (which reads every row) work. Every read first checks that the file
    is as it was opened (size and modification time, one ``fstat``): a file rewritten while
    mapped is a :class:`~deltaprop.DataError` naming it, not a crash (SIGBUS) past its new
    end or rows that silently changed.
    """

    def __init__(self, path: str | os.PathLike, *, scale=None, dtype=np.float32,
                 flatten: bool = True):
        self.path = Path(path)
        self._data = _map_npy(self.path) if _is_npy(self.path) else read_idx(self.path, mmap=True)
        if self._data.ndim == 0:
            raise ShapeError(f"{self.path}: holds a scalar, not rows.")
        if self._data.shape[0] == 0 or self._data.size == 0:
            raise ShapeError(f"{self.path}: holds no rows (shape {self._data.shape}); nothing to read.")
        self._watch = _FileWatch(self.path)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ConfigError(f"MappedArray dtype must be a float type, got {self.dtype}.")
        n = self._data.shape[0]
        self.flatten = flatten
        self.shape: tuple[int, ...] = ((n, math.prod(self._data.shape[1:])) if flatten and self._data.ndim > 1
                                       else tuple(self._data.shape))
        self._factor: float | None = None
        self._transform = None
        if scale is None:
            pass
        elif isinstance(scale, str):
            if scale != "unit":
                raise ConfigError(f"scale must be None, 'unit', a number or a transformer, "
                                  f"got {scale!r}.")
            self._factor = _unit_factor(self._data, self.path)
        elif isinstance(scale, (int, float, np.number)):
            self._factor = float(scale)
        elif hasattr(scale, "transform"):
            self._transform = scale
        else:
            raise ConfigError(f"scale must be None, 'unit', a number or an object with "
                              f"transform(), got {type(scale).__name__}.")

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        """Number of dimensions of :attr:`shape`."""
        return len(self.shape)

    @property
    def source_dtype(self) -> np.dtype:
        """The element type stored in the file."""
        return self._data.dtype

    def _rows(self, index) -> np.ndarray:
        """The row numbers ``index`` asks for, checked."""
        n = len(self)
        if isinstance(index, slice):
            return np.arange(n)[index]
        idx = np.asarray(index)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise ShapeError(f"index a MappedArray with a 1-D integer array, a slice or an "
                             f"int; got {idx.dtype} of shape {idx.shape}.")
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise RowIndexError(f"row indices must be in [{-n}, {n}), got "
                                f"{idx.min()}..{idx.max()} for {self.path}.")
        return idx

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise RowIndexError(f"row {index} is out of range for {len(self)} rows of {self.path}.")
            return self[np.array([index])][0]
        rows = self._rows(index)
        self._watch.check()
        if isinstance(index, slice):
            stored = np.asarray(self._data[index]).view(np.ndarray)
        else:
            stored = np.take(self._data, rows, axis=0)
            stored = stored.view(np.ndarray) if isinstance(stored, np.memmap) else stored
        if self.flatten and stored.ndim > 1:
            stored = stored.reshape(len(stored), -1)
        out = self._cast(stored, rows)
        if self._factor is not None:
            out *= self.dtype.type(self._factor)
        if self._transform is not None:
            out = np.asarray(self._transform.transform(out), dtype=self.dtype)
        return out

    def _cast(self, stored: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``stored`` in :attr:`dtype`; a value beyond its range is refused, not made inf."""
        if stored.dtype.kind == "f" and stored.dtype.itemsize > self.dtype.itemsize and stored.size:
            with np.errstate(invalid="ignore"):
                big = np.abs(stored) > np.finfo(self.dtype).max
            if big.any():
                row = int(rows[np.argwhere(big)[0][0]] % len(self))
                raise DataError(f"{self.path} holds values too large for {self.dtype.name} (first in row {row}); "
                                "scale the data, e.g. to [0, 1] or to zero mean and unit variance, or open it "
                                "with dtype=np.float64")
        return stored.astype(self.dtype)

    def __iter__(self) -> Iterator[np.ndarray]:
        step = max(1, SCAN_BYTES // max(1, self._data[:1].nbytes))
        for start in range(0, len(self), step):
            yield from self[start:start + step]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Every row, read into memory (what ``np.asarray(arr)`` asks for)."""
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return (f"MappedArray({str(self.path)!r}, shape={self.shape}, dtype={self.dtype.name}, "
                f"stored as {self._data.dtype.name})")


def open_mapped(path: str | os.PathLike, *, scale=None, dtype=np.float32,
                flatten: bool = True) -> MappedArray:
    """Open a raw IDX or ``.npy`` file for on-demand row access; see :class:`MappedArray`."""
    return MappedArray(path, scale=scale, dtype=dtype, flatten=flatten)


def _epoch_seed(seed, epoch: int):
    """What ``default_rng`` draws epoch ``epoch``'s order from: ``seed`` itself for epoch 0
    (or no seed), else ``seed`` with the epoch number appended to its entropy."""
    seed = _checks.seed(seed)
    if seed is None or not epoch:
        return seed
    if isinstance(seed, np.random.BitGenerator):
        seed = seed.seed_seq
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, epoch))
    return [seed, epoch] if isinstance(seed, int) else [*np.asarray(seed).tolist(), epoch]


def iter_batches(x, y, batch_size: int, *, seed: int | np.random.Generator | None = 0, epoch: int = 0,
                 shuffle: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of mini-batches ``(x[idx], y[idx])``; each batch's indices are sorted so a
    memory-mapped ``x`` is read in file order. ``x`` and ``y`` may be ndarrays, lists or
    MappedArrays.

    The order depends on ``seed`` and ``epoch`` only: the same pair gives the same order,
    so a loop that calls this once per epoch with a fixed ``seed`` must pass the epoch
    number (``epoch=0, 1, ...``) to get a fresh order each epoch, or pass one
    ``np.random.Generator`` (``seed=rng``) that every call draws from. ``seed=None``
    draws from fresh OS entropy every call."""
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ConfigError(f"epoch must be a whole number >= 0, got {epoch!r}.")
    x, y = (v if hasattr(v, "shape") else np.asarray(v) for v in (x, y))
    n = len(x)
    if len(y) != n:
        raise ShapeError(f"x has {n} rows but y has {len(y)}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(_epoch_seed(seed, int(epoch)))
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = np.sort(order[start:start + batch_size])
        yield x[idx], y[idx]


class SparseRows:
    """A SciPy sparse matrix as a lazy array: ``rows[idx]`` is those rows densified, so
    the whole matrix is never dense at once (``fit``, ``evaluate`` and ``predict`` take a
    sparse ``X`` as this)."""

    def __init__(self, X):
        self.X = X.tocsr()
        self.shape: tuple[int, ...] = tuple(X.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        return self.X[index, :].toarray()


class RowView:
    """Rows ``rows`` of ``base`` (an ndarray, often memory-mapped), read only when indexed:
    ``view[idx]`` is ``base[rows[idx]]`` as an in-memory array of the stored type. A
    train/validation split of a mapped file as views holds index arrays, not rows. A
    memory-mapped ``base`` whose file changed since is a :class:`DataError`, as for a
    :class:`MappedArray`."""

    def __init__(self, base: np.ndarray, rows: np.ndarray):
        self.base, self.rows = base, np.asarray(rows, dtype=np.int64)
        mapped = isinstance(base, np.memmap) and base.filename is not None
        self._watch = _FileWatch(base.filename) if mapped else None  # as MappedArray's
        self.dtype = base.dtype
        self.shape: tuple[int, ...] = (len(self.rows), *base.shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, index) -> np.ndarray:
        if self._watch is not None:
            self._watch.check()
        rows = np.take(self.base, self.rows[index], axis=0)
        return rows.view(np.ndarray) if isinstance(rows, np.memmap) else rows

    def rows_in_file(self, index) -> np.ndarray:
        """The numbers in ``base`` of this view's rows ``index`` (what a message names)."""
        return self.rows[index]

    def chunks(self, rows: int = 4096) -> Iterator[np.ndarray]:
        """The rows in order, ``rows`` at a time."""
        for start in range(0, len(self), rows):
            yield self[slice(start, start + rows)]

    def extremes(self) -> np.ndarray:
        """Two rows of the stored type: each feature's smallest and largest value (what a
        choice of scaling by range needs: the whole range, and each column's span, which
        tells images from tables; read a chunk at a time; zeros for no rows)."""
        low = high = np.zeros(self.shape[1:], self.dtype)
        for i, chunk in enumerate(self.chunks()):
            low = chunk.min(axis=0) if i == 0 else np.minimum(low, chunk.min(axis=0))
            high = chunk.max(axis=0) if i == 0 else np.maximum(high, chunk.max(axis=0))
        return np.stack([low, high]).astype(self.dtype, copy=False)

    def __repr__(self) -> str:
        return f"RowView({len(self)} of {len(self.base)} rows, {self.dtype.name})"


def mapped_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file memory-mapped read-only (the stored type, big-endian kept). A gzip file
    cannot be mapped: it is decompressed once, a MiB at a time, into the user cache
    (``mapped/``, named by the gzip file's SHA-256, written atomically so that processes
    doing it at once leave one whole copy) and the copy is mapped. The copy's SHA-256 is
    kept beside it (``.sha256``) and checked on every use: a copy changed since it was made
    (or made by a version that kept no digest) is made again from the gzip file, never used.
    A damaged gzip file (cut short, a byte changed) is the :class:`FileFormatError` that
    :func:`~deltaprop.data.read_idx` gives for it, and leaves nothing under ``mapped/``."""
    import hashlib

    from deltaprop.atomic import atomic_write, atomic_write_bytes
    from deltaprop.data.download import cache_dir, file_digest

    path = Path(path)
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    if not compressed:
        return read_idx(path, mmap=True)
    raw = cache_dir() / "mapped" / f"{file_digest(path)[:32]}-{path.name.removesuffix('.gz')}"
    recorded = raw.parent / f"{raw.name}.sha256"
    try:
        intact = raw.is_file() and recorded.read_text(encoding="ascii").strip() == file_digest(raw)
    except (OSError, UnicodeDecodeError):
        intact = False
    if not intact:
        digest = hashlib.sha256()
        with atomic_write(raw) as out:
            copy_idx(path, lambda chunk: (out.write(chunk), digest.update(chunk)))
        atomic_write_bytes(recorded, digest.hexdigest().encode("ascii"))
    return read_idx(raw, mmap=True)
