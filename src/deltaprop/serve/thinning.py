"""Which rows of a long table the live view draws (:func:`thin`), from its columns as numbers.

The columns are read a chunk of rows at a time. Unquoted ASCII lines of equal length go
through NumPy's tokenizer into an array of byte strings, cast to float64 a column at a
time; any other chunk goes through the csv module. Either way a cell is read as
:func:`cell_value` reads it.
"""

from __future__ import annotations

import csv
import itertools
import math
from typing import Any

import numpy as np

__all__ = ["CHUNK_ROWS", "SERIES_ROWS", "STRETCHES", "cell_value", "split_lines", "thin"]

#: A series (the history, or one layer's or parameter's diagnostics) of more rows than this is
#: sent thinned to about :data:`STRETCHES` stretches (see :func:`thin`); the page hovers as many.
SERIES_ROWS = 1000
STRETCHES = 250
#: Rows parsed at a time while a long table is thinned (its numbers are kept as float64 only).
CHUNK_ROWS = 1 << 16
#: The width of a cell first tried by the tokenizer (a float's repr takes at most 24), and
#: the most bytes its cells may take for a chunk: wider cells send a chunk through the csv module.
CELL_BYTES = 32
CELLS_BYTES = 64 << 20
#: First bytes no finite number starts with: none (an empty cell) and the ASCII letters.
_NO_NUMBER = np.zeros(256, dtype=bool)
_NO_NUMBER[[0, *range(ord("A"), ord("Z") + 1), *range(ord("a"), ord("z") + 1)]] = True


def cell_value(text: str) -> Any:
    """A number where the cell holds one (finite), None when empty, else the text."""
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else None


def split_lines(lines: list[str]) -> list[list[str]]:
    """Unquoted lines' cells (a row a line), as the csv module splits them."""
    return list(csv.reader(lines))


def _number(cell: str) -> float:
    """A cell as float64: NaN where it is empty or no finite number."""
    value = cell_value(cell.strip())
    return value if type(value) is float else np.nan


def _numbers(cells) -> np.ndarray:
    """A column's cells (text) as float64, each distinct cell read once (no array of text as
    wide as its widest cell)."""
    seen: dict[str, float] = {}
    return np.fromiter((seen[c] if c in seen else seen.setdefault(c, _number(c)) for c in cells),
                       dtype=np.float64, count=len(cells))


def _byte_numbers(cells: np.ndarray, j: int) -> np.ndarray:
    """Column ``j`` of a (rows, cells) array of byte strings as float64, NaN where a cell is
    empty or no finite number; a cell starting with a letter is none ("nan", "inf" are not
    finite either)."""
    values = np.full(len(cells), np.nan)
    maybe = ~_NO_NUMBER[cells.view(np.uint8).reshape(*cells.shape, cells.itemsize)[:, j, 0]]
    if maybe.any():
        some = cells[maybe, j]
        try:
            values[maybe] = some.astype(np.float64)
        except ValueError:  # some text: each distinct cell read once
            distinct, where = np.unique(some, return_inverse=True)
            values[maybe] = np.array([_number(c.decode()) for c in distinct.tolist()])[where]
    values[~np.isfinite(values)] = np.nan
    return values


def _tokenized(lines: list[str]) -> np.ndarray | None:
    """Unquoted lines as a (rows, cells) array of byte strings, each cell whole; None where
    the tokenizer would read them otherwise than the csv module (not ASCII, a NUL, rows of
    different lengths) or a cell is too wide for :data:`CELLS_BYTES`."""
    text = "\n".join(lines)
    if not text.isascii() or "\0" in text:
        return None
    width = CELL_BYTES
    while True:
        try:
            cells = np.loadtxt(lines, delimiter=",", dtype=f"S{width}", comments=None, quotechar=None, ndmin=2)
        except ValueError:  # rows of different lengths
            return None
        if len(cells) != len(lines):
            return None
        if not cells.reshape(-1).view(np.uint8)[width - 1::width].any():  # no cell fills the width: none was cut
            return cells
        width *= 4
        if cells.size * width > CELLS_BYTES:
            return None


def _chunk(chunk: list, parse):
    """A chunk's cells a row, then two functions of a column index ``j``: its cells as float64,
    and its stripped cells as (the distinct ones, each row's index among them)."""
    cells = _tokenized(chunk) if parse is split_lines else None
    if cells is not None:
        def names(j: int):
            distinct, where = np.unique(cells[:, j], return_inverse=True)
            return [c.decode().strip() for c in distinct.tolist()], where.reshape(-1)

        return cells.shape[1], lambda j: _byte_numbers(cells, j), names
    by_column = list(itertools.zip_longest(*parse(chunk), fillvalue=""))  # the columns, a row short of some: ""

    def names(j: int):
        seen: dict[str, int] = {}
        where = [seen.setdefault(cell.strip(), len(seen)) for cell in by_column[j]]
        return list(seen), np.asarray(where, dtype=np.int64)

    return len(by_column), lambda j: _numbers(by_column[j]), names


def _read_columns(header: list[str], body: list, parse, group: int | None):
    """The numeric columns of ``body`` (all but ``group``) as float64, each row's series (a
    number for each distinct stripped cell of ``group``; 0 for all without it), the series."""
    n_rows = len(body)
    names: dict[str, int] = {}
    codes = np.zeros(n_rows, dtype=np.int64)
    columns = {j: np.full(n_rows, np.nan) for j in range(len(header)) if j != group}
    step = max(1, min(CHUNK_ROWS, CELLS_BYTES // (CELL_BYTES * len(header))))  # a wide table: fewer rows a chunk
    for first in range(0, n_rows, step):
        chunk = body[first:first + step]
        width, numbers, names_of = _chunk(chunk, parse)
        for j, values in columns.items():
            if j < width:
                values[first:first + len(chunk)] = numbers(j)
        if group is not None and group < width:
            distinct, where = names_of(group)
            own = np.array([names.setdefault(name, len(names)) for name in distinct], dtype=np.int64)
            codes[first:first + len(chunk)] = own[where]
    return columns, codes, max(1, len(names))


def thin(header: list[str], body: list, parse=lambda chunk: chunk, *, by: str | None = None,
         marks=frozenset()) -> list[int] | None:
    """The rows a long table is drawn by (their indices, in order), or None to draw every one.
    ``body`` holds the rows, each a list of cells or a line that ``parse`` makes into them.
    Each series (the rows of one value of the ``by`` column: a layer's, a parameter's; all of
    them without it) of ``n`` > :data:`SERIES_ROWS` rows is cut into stretches of ``w = ⌈n /
    STRETCHES⌉`` consecutive rows, and of each stretch the first, the last, and for every
    numeric column the lowest and the highest (the first of equal ones) are kept, with the
    rows of the ``marks`` epochs: each column's minimum and maximum over the series, and its
    last row, are among them, and a line through them is the curve to within a stretch."""
    if len(body) <= SERIES_ROWS:
        return None
    group = header.index(by) if by in header else None
    columns, codes, n_series = _read_columns(header, body, parse, group)
    order = np.argsort(codes, kind="stable")
    series = np.split(order, np.cumsum(np.bincount(codes, minlength=n_series))[:-1])
    if all(len(index) <= SERIES_ROWS for index in series):
        return None
    epoch = columns.pop(header.index("epoch")) if "epoch" in header and header.index("epoch") != group else None
    marked = np.isin(epoch, [m for m in marks if isinstance(m, (int, float))]) if epoch is not None and marks else None
    kept = [index if len(index) <= SERIES_ROWS else _extremes(index, columns.values(), marked) for index in series]
    return np.unique(np.concatenate(kept)).tolist()


def _extremes(index: np.ndarray, columns, marked: np.ndarray | None) -> np.ndarray:
    """The rows of one long series (``index``: its rows in order) that :func:`thin` keeps."""
    n = len(index)
    width = -(-n // STRETCHES)
    stretches = -(-n // width)
    kept = [index[::width], index[width - 1::width], index[-1:]]
    if marked is not None:
        kept.append(index[marked[index]])
    starts = np.arange(stretches) * width
    for values in columns:
        padded = np.full(stretches * width, np.nan)
        padded[:n] = values[index]
        padded = padded.reshape(stretches, width)
        some = ~np.isnan(padded).all(axis=1)
        if not some.any():
            continue
        low = np.where(np.isnan(padded), np.inf, padded).argmin(axis=1)
        high = np.where(np.isnan(padded), -np.inf, padded).argmax(axis=1)
        kept += [index[(starts + low)[some]], index[(starts + high)[some]]]
    return np.concatenate(kept)
