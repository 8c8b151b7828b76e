"""Your own data: ``.npz`` archives and CSV files, read by their meaning and checked like
the built-in datasets.

The label column is the one you name (``label_column``: a header name or an index), else
the one whose header is a usual label name (:data:`LABEL_NAMES`), else, in a file without
a header, the first or last column, whichever holds class ids (a column of 10 or more
rows whose every value differs is a row id, not labels). A column that looks like a
feature (non-integer values, or more than :data:`MAX_CLASSES` distinct values) is refused
as the label, naming the column and how to choose another. A label column of class names
(none of its cells a number; :mod:`deltaprop.data.labels`) gives the names, sorted, as
classes 0..k-1; without a header or a label name, such a column at either end is the one."""

from __future__ import annotations

import csv
import itertools
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from deltaprop import _checks
from deltaprop.bounded import file_kind
from deltaprop.data.columns import align_columns
from deltaprop.data.labels import MISSING_LABELS, as_model_classes, class_ids
from deltaprop.data.npy import read_npy_header
from deltaprop.errors import ConfigError, DatasetNotFoundError, DataError, FileFormatError, ShapeError

__all__ = ["LABEL_NAMES", "MAX_CLASSES", "NPZ_KEYS", "Table", "load_arrays", "read_rows", "read_table"]

#: Header names (any case) taken as the label column when none is named; ``y`` only when
#: none of the others is a header name (in ``x,y,label`` it is a coordinate).
LABEL_NAMES = ("label", "labels", "class", "target", "y")
#: A label column with more distinct values than this is a feature, not class ids.
MAX_CLASSES = 1000
_NOT_REGRESSION = ("the command line trains classifiers only; for regression fit a network in Python "
                   "with loss=MeanSquaredError(classification=False)")
#: Labels with more distinct values than this, and more than this share of the ids 0..max
#: unused, are a regression target.
_FEW_CLASSES, _MOST_IDS_MISSING = 10, 0.1
_HOW_TO_CHOOSE = "choose the label column with --label-column NAME|INDEX (label_column= in load_arrays)"
_UNLABELLED_ROWS = ("to classify rows without labels, use predict (network.predict(x) in Python, or save them with "
                    "np.save('rows.npy', rows) for deltaprop predict MODEL rows.npy)")

#: What spreadsheets and pandas write for a missing value (an empty cell is one too).
_MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-", "#n/a", "missing"})
#: The error values a spreadsheet writes into a cell whose formula failed (``#N/A`` is read
#: as a missing value instead).
_SPREADSHEET_ERRORS = frozenset({"#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!"})
#: Accepted (inputs, labels) key pairs in an ``.npz``, tried in this order.
#: Keras' ``mnist.npz`` holds ``x_train``/``y_train`` beside ``x_test``/``y_test``.
#: A test set saved alone (``x_test``/``y_test``, as split from such an archive) is read as the pair it is.
NPZ_KEYS = (("x", "y"), ("X", "y"), ("X", "Y"), ("images", "labels"), ("x_train", "y_train"), ("X_train", "y_train"),
            ("x_test", "y_test"), ("X_test", "y_test"))
# Deflate cannot expand more than about 1032:1; a member claiming more is a zip bomb.
_ZIP_MAX_RATIO = 1100
# A header or first row longer than this is not a table deltaprop can use.
_MAX_HEADER_BYTES = 1 << 20


@dataclass
class Table:
    """Inputs ``x``, labels ``y`` and, in words, which column or array the labels came
    from and why (``"column 'label' (1 of 785, by its name)"``). ``feature_names``: the
    header's names of the columns of ``x`` (None without a header, and for ``.npz``);
    ``notes``: what the reader assumed that a person should hear (one sentence each);
    ``label_index``: the label column's place in a CSV file (0 first; None for ``.npz``);
    ``class_names``: where the labels were written as names, the name of each class id
    (``y == k`` for rows labelled ``class_names[k]``), else None (the labels were ids)."""

    x: np.ndarray
    y: np.ndarray
    label_source: str
    feature_names: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    label_index: int | None = None
    class_names: tuple[str, ...] | None = None


def load_arrays(path: str | os.PathLike, *, label_column: int | str | None = None, dtype=None):
    """Load ``(x, y)`` from an ``.npz`` or a ``.csv`` file.

    ``.npz``: arrays under one of :data:`NPZ_KEYS` (``x``/``y``, ``X``/``y``, ``X``/``Y``,
    ``images``/``labels``, ``x_train``/``y_train``, ``x_test``/``y_test``; the first pair found),
    or labels under ``label_column`` (an array name) or one of
    :data:`LABEL_NAMES` with the inputs as the one other array; every member's header is
    checked against its size first and pickle is never allowed. x keeps its dtype.

    CSV: comma-separated numbers (tab- or semicolon-separated when the first line holds
    that separator and no comma, or Excel's first line ``sep=;`` names it), quoted or not,
    and an optional header row (a first line
    of column numbers ``0,1,...,n-1`` is one, and ``1,2,...,n`` where it cannot be a row, and
    other increasing whole numbers (years) each far outside its column's values; a first
    line of other numbers whose label is no class id while every other row's is one is
    refused as a header of numbers). Lines of only spaces are blank, lines starting with
    ``#`` comments (Excel's ``#N/A`` is a missing value, refused); errors name a cell by its
    line in the file (1 first). ``label_column`` is the index
    (negative counts from the end) or, with a header, the name of the label column (a
    string of digits that a header of numbers names another column by is refused as
    ambiguous); by default a header name in :data:`LABEL_NAMES`, else (no header) the first or the last
    column, whichever holds class ids, else the last. The numbers are read as float64; x
    comes back uint8 when every feature value is a whole number in 0..255 (pixels, like
    MNIST), uint16 when they are whole numbers in 0..65535 (counts), both exact. Other
    values come back as ``dtype`` (``"float32"`` or ``"float64"``: the type the network
    computes in, cast once) when it is given; without it, float32 when float32 holds every
    column to within 1e-5 of the column's range, float64 otherwise (a timestamp in
    seconds, 1e9 + 0..50, would lose its fractions in float32). With ``dtype="float32"``, a
    column float32 holds only to within more than 1e-3 of its range gets a warning (an
    ``.npz``'s x too, which is not cast: the warning says a float32 run would lose it).

    y: 1-D labels become int64 class ids (whole numbers >= 0, at most
    :data:`MAX_CLASSES` distinct values); labels written as names (a CSV label column
    none of whose cells is a number, an ``.npz``'s labels array of strings) become the
    ids of the names in sorted order (:func:`read_table` says which name each id is); 2-D y (one-hot rows or regression targets,
    ``.npz`` only) comes back as float32. :func:`read_table` also says which column was used.
    """
    table = read_table(path, label_column=label_column, dtype=dtype)
    for note in table.notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return table.x, table.y


def read_table(path: str | os.PathLike, *, label_column: int | str | None = None,
               feature_names=None, dtype=None, label_position: int | None = None, label_values=None,
               class_names=None) -> Table:
    """:func:`load_arrays`, with the choice of label column in words and the header's
    feature names. ``feature_names`` (the names a model was trained on, in order): a CSV
    header naming them in another order has its columns put in that order (and a note
    says so); a header naming other columns raises DataError. A file without a header is
    read as it is, by position: ``label_position`` (the label column's index in the file a
    model was trained on) is its label column unless ``label_column`` gives an index. A
    first line ``1,2,...,n`` that holds ``feature_names`` is a header above any number of rows.
    ``dtype``: the type of a CSV's features that are not small whole numbers (see
    :func:`load_arrays`). ``label_values``: the labels a model's classes are, where they are
    its own (a scikit-learn classifier fitted on -1 and 1, or on 1000 and 2000): each label
    comes back as its position among them, and one that is none of them is refused.
    ``class_names``: a model's classes, which labels written as names are read as (the
    position of each name among them; a name that is none of them is refused); without
    it, the file's own names, sorted, are the classes (:attr:`Table.class_names`)."""
    path = Path(path)
    dtype = _float_dtype(dtype)
    if not path.is_file():
        if path.exists():  # a folder, FIFO or device: say which, and never open it
            raise FileFormatError(f"{path} is {file_kind(path.stat().st_mode)}, not a data file; give a .npz or .csv file.")
        raise DatasetNotFoundError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    names, notes, index, classes = None, [], None, None
    if suffix == ".npz":
        x, y, source, (kx, ky, unread) = _load_npz(path, label_column)
        notes = _npz_float32_notes(path, x, dtype) + _unread_arrays_notes(path, unread, kx, ky)
        if y.dtype.kind in "US":
            y, classes = _npz_class_ids(path, y, ky)
    elif suffix in (".csv", ".txt"):
        x, y, source, names, notes, index, classes = _load_csv(path, label_column, dtype, label_position,
                                                               feature_names)
    else:
        raise ConfigError(_unsupported(path))
    if names is not None and feature_names is not None:
        x, note = align_columns(x, names, feature_names, str(path))
        if note is not None:
            names, notes = tuple(str(n) for n in feature_names), [*notes, note]
    if names is None and index is not None and label_column is None and label_values is None:
        _refuse_misplaced_labels(path, y, label_position, x.shape[1] + 1)
    if classes is not None and class_names is not None:  # names read as the model's classes
        y, classes = as_model_classes(y, classes, class_names, f"{path} ({source})"), tuple(map(str, class_names))
    elif label_values is not None:
        y = _label_positions(y, np.asarray(label_values), path, source)
    x, y = _check_xy(x, y, path, source)
    return Table(x, y, source, names, tuple(notes), index, classes)


def _npz_class_ids(path: Path, y: np.ndarray, key: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """An archive's labels array of strings as class ids and the class names; strings that
    are all numbers ('0', '1') are read as those numbers, class ids."""
    if y.ndim != 1:
        raise ShapeError(f"{path}: the labels array {key!r} holds strings in shape {y.shape}; class names are one "
                         "a row, 1-D: save them so (y.ravel())")
    cells = np.char.strip(y.astype(str) if y.dtype.kind == "U" else np.char.decode(y, "utf-8", "replace"))
    try:
        return cells.astype(np.float64), None
    except ValueError:
        pass
    return class_ids(cells, lambda i: f"{path}: {key}[{i}]", max_classes=MAX_CLASSES, min_rows_for_id=_MIN_ROWS_FOR_ID)


#: Text tables under another suffix than .csv, which the CSV reader reads as they are.
_TEXT_SUFFIXES = (".tsv", ".tab", ".dat", ".data", ".text", ".psv")
#: The command that decompresses a file of each suffix.
_DECOMPRESS = {".gz": "gunzip", ".bz2": "bunzip2", ".xz": "unxz", ".zip": "unzip"}
#: Files pandas reads, and the call that turns one into a CSV file.
_PANDAS_READERS = {".xlsx": "read_excel", ".xls": "read_excel", ".ods": "read_excel", ".json": "read_json",
                   ".parquet": "read_parquet", ".feather": "read_feather", ".h5": "read_hdf", ".hdf5": "read_hdf"}


def other_data_file(path: str | os.PathLike, use: str = ".npz or .csv") -> str | None:
    """Why a file named as a data table of a type deltaprop does not read (a text table
    under another suffix than .csv, a compressed file, a workbook or other file pandas
    reads, MNIST-format IDX) is refused, and how to make it one it reads; None for any other
    name (a .csv, .npz or .npy file, an image). ``use``: the types the caller reads, in
    words; ``predict`` asks before decoding an image."""
    path = Path(path)
    suffix, name = path.suffix.lower(), path.name.lower()
    idx = "idx" in suffix or ("ubyte" in name and not suffix)  # train-images-idx3-ubyte, images.idx3
    known = idx or suffix in (*_TEXT_SUFFIXES, *_DECOMPRESS, *_PANDAS_READERS)
    return _unsupported(path, use) if known else None


def _unsupported(path: Path, use: str = ".npz or .csv") -> str:
    """Why a data file of another type than .npz or .csv is refused, and how to make it one:
    a single .npy array (inputs and labels saved apart), MNIST-format IDX files, a text table
    named otherwise, or a file pandas reads."""
    suffix, name = path.suffix.lower(), path.name.lower()
    head = f"{path}: unsupported file type {suffix or '(none)'!r}; use {use}"
    if suffix == ".npy":
        return (f"{head}: a .npy file holds one array, and training needs the inputs and the labels together: "
                "np.savez('data.npz', x=np.load('x.npy'), y=np.load('y.npy'))")
    if "ubyte" in name or "idx" in suffix:
        return (f"{head}: for MNIST-format (IDX) files, MNIST's or Fashion-MNIST's own are read from their folder "
                "(--dataset mnist --data-dir FOLDER; load('mnist', data_dir=FOLDER)), others saved as one .npz: "
                "from deltaprop.data import read_idx; np.savez('data.npz', x=read_idx(images_file), "
                "y=read_idx(labels_file))")
    if suffix in (".gz", ".bz2", ".xz", ".zip"):
        return f"{head}: a compressed file: decompress it first (e.g. {_DECOMPRESS[suffix]} {path.name})"
    if suffix in _TEXT_SUFFIXES:
        return (f"{head}: a text table of numbers (columns separated by commas, tabs or semicolons) is read "
                f"under the name .csv: rename it, e.g. {path.stem}.csv")
    if suffix in _PANDAS_READERS:
        return (f"{head}: convert it to a CSV file, e.g. with pandas: "
                f"pd.{_PANDAS_READERS[suffix]}(path).to_csv('data.csv', index=False)")
    if suffix in (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"):
        return (f"{head}: an image is no data set; to classify images give them to predict "
                f"(deltaprop predict MODEL {path.name}), and to train or evaluate on images save them with their "
                "labels as one .npz: np.savez('data.npz', x=images, y=labels), images an (n, height, width) array")
    return head + "."


def _refuse_misplaced_labels(path: Path, y: np.ndarray, label_position: int | None, n_cols: int) -> None:
    """Refuse a file without a header, read by position for a model, whose labels taken
    where the model's training file had them (or from its last column, where this file has
    fewer columns) are no whole numbers: a column added, dropped or moved, or no labels."""
    if label_position is None or (y == np.round(y)).all():
        return
    value = y[y != np.round(y)][0]
    where = (f"column {label_position + 1} of {n_cols}" if label_position < n_cols else
             f"its last column (it has {n_cols}, none of them a column {label_position + 1})")
    raise DataError(f"{path}: a file without a header is read by position, and the model's training file had its "
                    f"labels in column {label_position + 1}, but {where} holds {value:g}, not a class id: give the "
                    "file the training file's columns in its order, the labels included, or name the label column "
                    f"with --label-column INDEX (label_column= in read_table); {_UNLABELLED_ROWS}")


def _label_positions(y: np.ndarray, values: np.ndarray, path: Path, source: str) -> np.ndarray:
    """1-D labels ``y`` as their positions among a model's own class labels ``values``
    (label ``values[j]`` is class ``j``); labels that are no numbers, or not whole, are
    left for :func:`_check_labels` to refuse."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "biuf" or not np.isfinite(y).all() or not (y == np.round(y)).all():
        return y
    present = np.unique(y)
    missing = present[~np.isin(present, values)]
    if missing.size:
        shown = ", ".join(f"{v:g}" for v in values[:10]) + (", ..." if len(values) > 10 else "")
        raise DataError(f"{path}: holds the label {missing[0]:g}, which is none of the model's classes ({shown}), "
                        f"whose own labels a file's labels ({source}) are read as; label its rows with those")
    order = np.argsort(values, kind="stable")
    return order[np.searchsorted(values, y, sorter=order)].astype(np.int64)


def _float_dtype(dtype) -> np.dtype | None:
    """None, or float32 or float64 given by name or as a NumPy type; anything else is refused."""
    from deltaprop.network import resolve_dtype

    return None if dtype is None else resolve_dtype(dtype)


def _npz_keys(path: Path, members, label_column: int | str | None) -> tuple[str, str, str]:
    """(inputs key, labels key, how the labels were chosen) among the archive's arrays."""
    names = sorted(m.removesuffix(".npy") for m in members)
    if label_column is not None:
        if not isinstance(label_column, str) or label_column not in names:
            raise ConfigError(f"{path}: --label-column for an .npz names its labels array (label_column= in "
                              f"load_arrays); the arrays are {names}"
                              + (_did_you_mean(label_column, names) if isinstance(label_column, str) else "") + ".")
        others = [n for n in names if n != label_column]
        if len(others) != 1:
            raise FileFormatError(f"{path}: with labels {label_column!r}, which of {others} are the inputs? "
                                  "Save only the inputs and the labels.")
        return others[0], label_column, f"array {label_column!r} (as named)"
    for kx, ky in NPZ_KEYS:
        if kx in names and ky in names:
            return kx, ky, f"array {ky!r}"
    found = [n for n in names if n.lower() in LABEL_NAMES]
    if len(found) == 1 and len(names) == 2:
        other = next(n for n in names if n != found[0])
        return other, found[0], f"array {found[0]!r} (by its name)"
    raise FileFormatError(f"{path}: no inputs/labels pair among the arrays {names}. "
                          f"Save with np.savez(path, x=inputs, y=labels), or name the labels array with --label-column NAME "
                          "(label_column= in load_arrays).")


def _load_npz(path: Path, label_column: int | str | None):
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: info for info in zf.infolist()}
            keys = _npz_keys(path, [m for m in members if m.endswith(".npy")], label_column)
            for key in keys[:2]:
                info = members[f"{key}.npy"]
                text = key == keys[1]  # the labels may be class names
                if info.file_size > _ZIP_MAX_RATIO * info.compress_size + (1 << 16):
                    raise FileFormatError(f"{path}: member {key}.npy claims {info.file_size:,} "
                                          f"bytes from {info.compress_size:,} compressed "
                                          "(a zip bomb or a corrupt archive).")
                with zf.open(info) as member:
                    read_npy_header(member, f"{path}[{key}]", info.file_size, text=text)
        unread = sorted(m.removesuffix(".npy") for m in members if m.endswith(".npy")
                        and m.removesuffix(".npy") not in keys[:2])
        with np.load(path, allow_pickle=False) as npz:
            return npz[keys[0]], npz[keys[1]], keys[2], (keys[0], keys[1], unread)
    except (FileFormatError, ConfigError):
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            KeyError, NotImplementedError) as exc:
        raise FileFormatError(f"{path}: not a readable .npz archive ({type(exc).__name__}: "
                              f"{exc}). Save it with numpy.savez.") from None


def _unread_arrays_notes(path: Path, unread: list[str], inputs: str, labels: str) -> list[str]:
    """A note naming an archive's arrays besides its inputs and labels (a test set saved
    beside them, ``x_test``/``y_test``): only one inputs/labels pair is read."""
    if not unread:
        return []
    shown = ", ".join(repr(n) for n in unread[:6]) + (", ..." if len(unread) > 6 else "")
    return [f"{path}: the arrays {shown} are not read, only the inputs {inputs!r} and the labels {labels!r} (any "
            "test set is split from those); to use a test set saved beside them, save it in a file of its own "
            "(np.savez('test.npz', x=x_test, y=y_test)) and score it with evaluate --dataset"]


_COMMENT_LINES = 100  # '#' lines read before the header or first row


def _header_name(cell: str) -> str:
    """A header cell as written by hand, Excel (a byte-order mark), R (quotes) or
    ``np.savetxt`` (a leading ``#``): the bare name."""
    name = cell.strip().lstrip("\ufeff").strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1].strip()
    return name


def _header_cells(line: str, sep: str) -> list[str]:
    """The bare names of a header line's cells: split at ``sep`` outside double quotes, as
    R and pandas quote a name that holds one (``"income, USD",age,label``); a line whose
    quotes do not pair up is split at every ``sep``."""
    line = line.rstrip("\r\n")
    try:
        cells = line.split(sep) if line.count('"') % 2 else next(csv.reader([line], delimiter=sep, quotechar='"'), [""])
    except csv.Error:  # a quoted name over the csv module's field limit (131,072 characters)
        cells = line.split(sep)
    return [_header_name(c) for c in cells]


def _is_number_row(cells: list[str]) -> bool:
    try:
        [float(c) for c in cells]
    except ValueError:
        return False
    return True


def _row_with_gaps(cells: list[str]) -> bool:
    """Numbers and missing-value markers (``NA``, ``?``, an empty cell), at least one of
    each: a data row with missing values, not a header (no column is named ``NA``; a first
    cell empty above whole numbers ``0,1,...`` or ``400.0`` is pandas' index column above
    its names; above a number that is no such name, as ``0.93`` or ``-2``, a row)."""
    missing = [c.lower() in _MISSING_MARKERS for c in cells]
    index_header = cells[0] == "" and all(_is_number_row([c]) and float(c) >= 0 and float(c).is_integer()
                                          for c in cells[1:])
    return (not index_header and any(missing) and not all(missing)
            and all(m or _is_number_row([c]) for m, c in zip(missing, cells)))


def _class_name_place(cells: list[str]) -> int | None:
    """The index of the one word in a row of numbers (a class name: ``5.1,3.5,Iris-setosa``,
    ``842302,M,17.99``), its other cells numbers or missing values (``1.5,NA,3.2,setosa``);
    None for any other line. A missing-value marker is no word, but ``none``, ``-`` and
    ``missing``, no missing labels (:data:`~deltaprop.data.labels.MISSING_LABELS`), are
    where no other cell is a word (the UCI lenses' class ``none``)."""
    numbers = [_is_number_row([c]) for c in cells]
    others = [i for i, number in enumerate(numbers) if not number]
    words = [i for i in others if cells[i].strip().lower() not in _MISSING_MARKERS] or \
        [i for i in others if cells[i].strip().lower() not in MISSING_LABELS]
    return words[0] if len(words) == 1 and any(numbers) else None


def _rows_of_class_names(path: Path, skip: int, cells: list[str], sep: str) -> bool:
    """Whether the first line (``cells``, after ``skip`` comment lines) is a row of a file
    without a header whose labels are class names, not a header above such rows: numbers
    with one word (:func:`_class_name_place`), and the next row no number in that place, a
    number or a missing value in every other. A label's name there (``400,500,label``, or
    ``y`` above ``y`` and ``n``), or a name beside column numbers (``0,1,2,species``, as pandas
    writes a table's unnamed columns and a label column added to them), is a header's unless
    a row below holds that word there too."""
    place = _class_name_place(cells)
    if place is None:
        return False
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        lines = (line for number, line in enumerate(f, 1) if number > skip + 1 and _is_row(line))
        second = next(lines, None)
        if second is None or len(second) > _MAX_HEADER_BYTES:
            return False
        row = _header_cells(_row_text(second), sep)
        if len(row) != len(cells) or _is_number_row([row[place]]) or not all(
                _is_number_row([c]) or c.lower() in _MISSING_MARKERS for i, c in enumerate(row) if i != place):
            return False
        word, numbers = cells[place], [c for i, c in enumerate(cells) if i != place]
        numbered = all(c.isdigit() for c in numbers) and [int(c) for c in numbers] in (
            list(range(len(numbers))), list(range(1, len(numbers) + 1)))
        if word.lower() not in LABEL_NAMES and not numbered:
            return True
        return any(word in line and _header_cells(_row_text(line), sep)[place:place + 1] == [word]
                   for line in itertools.chain([second], lines))


#: Excel's first line naming the column separator (``sep=;``), which no other reader writes.
_SEP_LINE = re.compile(r"^sep=(.)\s*$", re.IGNORECASE)


def _first_lines(path: Path) -> tuple[list[str], str]:
    """The ``#`` lines at the top of the file (without the ``#``) and the first other line;
    Excel's separator line (``sep=;``) first is one of them, an empty one."""
    from deltaprop.bounded import open_regular

    comments: list[str] = []
    try:  # a regular file only, and lines of bounded length
        with open_regular(path, max_bytes=1 << 40, what="CSV file", error=FileFormatError, allow_empty=True) as f:
            while True:
                line = f.readline(_MAX_HEADER_BYTES + 1).decode("utf-8-sig" if not comments else "utf-8")
                if "\r" in line.rstrip("\r\n"):
                    raise FileFormatError(f"{path}: its lines end with a carriage return alone (\\r, as classic Mac OS "
                                          "and Excel's 'CSV (Macintosh)' write them), not a line feed (\\n); save it "
                                          "as 'CSV UTF-8 (Comma delimited)', or convert it, e.g. "
                                          f"tr '\\r' '\\n' < {path.name} > fixed.csv")
                if len(line) > _MAX_HEADER_BYTES:
                    raise FileFormatError(f"{path}: a line near the top is longer than {_MAX_HEADER_BYTES:,} bytes, "
                                          "deltaprop's limit on one line of a CSV file (a header of very many "
                                          "columns, or a file not written one row a line); save the data as .npz "
                                          "instead: np.savez('data.npz', x=features, y=labels)")
                hint = _SEP_LINE.match(line) if not comments else None
                if hint is not None and hint.group(1) not in _SEPARATORS:
                    raise FileFormatError(f"{path}: line 1, {line.strip()!r}, says the columns are separated by "
                                          f"{hint.group(1)!r}; deltaprop reads comma-, tab- or semicolon-separated "
                                          "files: save the file with one of those")
                if hint is not None:
                    comments.append("")
                    continue
                if not _COMMENT.match(line.lstrip()) or len(comments) >= _COMMENT_LINES:
                    return comments, line
                comments.append(line.lstrip()[1:])
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read as text CSV ({exc}).") from None


#: How binary files a CSV name is given to begin, and what they are.
_BINARY_STARTS = {b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook?)",
                  b"\xd0\xcf\x11\xe0": "an Excel .xls workbook", b"\x1f\x8b": "gzip-compressed"}


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> FileFormatError:
    """The error for a CSV file that is not UTF-8 text: UTF-16 (Excel's 'Unicode Text'),
    or a one-byte code page (Excel's 'CSV (Comma delimited)' on Windows writes cp1252)."""
    byte = exc.object[exc.start:exc.start + 1].hex()
    binary = next((kind for magic, kind in _BINARY_STARTS.items() if exc.object.startswith(magic)), None)
    if binary is not None:
        return FileFormatError(f"{path}: is {binary}, not CSV text; save the sheet from Excel as 'CSV UTF-8 (Comma "
                               "delimited)'" if "Excel" in binary else
                               f"{path}: is {binary}, not CSV text; decompress it first (gzip -dc {path.name} > unpacked.csv)")
    if exc.object[:2] in (b"\xff\xfe", b"\xfe\xff"):
        kind, source = "UTF-16 text (as Excel's 'Unicode Text' writes it)", "utf-16"
    else:
        kind, source = (f"not UTF-8 text (it holds the byte 0x{byte} where UTF-8 cannot: Excel's 'CSV (Comma "
                        "delimited)' on Windows writes letters such as é so)"), "cp1252"
    return FileFormatError(f"{path}: is {kind}; deltaprop reads CSV files as UTF-8: save it as 'CSV UTF-8 (Comma "
                           f"delimited)', or convert it, e.g. iconv -f {source} -t utf-8 {path.name} > utf8.csv")


#: The column separators read, by name; a comma unless the first line holds another one only.
_SEPARATORS = {",": "comma", "\t": "tab", ";": "semicolon"}
#: A number with a decimal comma (``0,125``; ``1.234,5`` with a thousands point), quoted or not.
_DECIMAL_COMMA = re.compile(r"^\s*\"?[-+]?(\d{1,3}(\.\d{3})+|\d*),\d+\"?\s*$")
_THOUSANDS = re.compile(r"^\s*[-+]?\d{1,3}(,\d{3})+(\.\d*)?\s*$")
#: A whole number with thousands points (``12.345.678``), as a European spreadsheet writes it.
_THOUSANDS_POINTS = re.compile(r"^\s*\"?[-+]?\d{1,3}(\.\d{3}){2,}\"?\s*$")


def _decimal_comma(path: Path, text: str, sep: str, where: str = "") -> FileFormatError:
    """The error for a number written with a decimal comma in a file whose columns ``sep``
    separates (``where``: the cell, ``"line 2, column 1 "``), with the conversion for that separator."""
    thousands = ", thousands='.'" if "." in text else ""
    return FileFormatError(f"{path}: {where}holds {text.strip()!r}, a number written with a decimal comma; deltaprop "
                           "reads numbers with a decimal point, the columns separated by commas: convert it, e.g. in "
                           f"Python: pd.read_csv(path, sep={sep!r}, decimal=','{thousands}).to_csv('fixed.csv', "
                           "index=False)")


def _delimiter(path: Path, first: str, one_column: bool = False, line: int = 1) -> str:
    """The column separator of a file whose first line (header or row) is ``first``: the
    one of comma, tab and semicolon it holds; a comma with decimal-comma numbers between
    semicolons or tabs is refused, as are separators deltaprop does not read. A separator
    inside a quoted name (``"income, USD";age;label``) separates nothing and is not counted.
    ``one_column``: a line of one value is a row of one column (inputs to predict), read
    as comma-separated. ``line``: the first line's number in the file, for messages."""
    bare = re.sub(r'"[^"]*"', '""', first) if first.count('"') % 2 == 0 else first
    present = [sep for sep in _SEPARATORS if sep in bare] or [sep for sep in _SEPARATORS if sep in first]
    if len(present) == 1:
        return present[0]
    if not present:
        if one_column and len(first.split()) == 1:
            return ","
        if len(first.split()) >= 2:
            raise FileFormatError(f"{path}: the first line holds values separated by spaces; deltaprop reads "
                                  "comma-separated files (or tab- or semicolon-separated ones): write the values "
                                  "with commas between them")
        raise FileFormatError(f"{path}: needs at least two columns (inputs and a label); the first line holds no "
                              "comma, tab or semicolon.")
    if "," not in present:
        raise FileFormatError(f"{path}: the first line holds both tabs and semicolons; separate the columns with one "
                              "of them only (deltaprop reads comma-, tab- or semicolon-separated files)")
    for other in present[1:]:
        cells = first.split(other)
        if any(_DECIMAL_COMMA.match(cell) for cell in cells):
            raise _decimal_comma(path, next(c for c in cells if _DECIMAL_COMMA.match(c)), other, f"line {line} ")
    return ","


class _Layout(NamedTuple):
    """How a CSV file is laid out: the header's names (None without one), the number of
    columns, the lines before the first row, the column separator, whether the header
    is a row of column numbers that may need :func:`_numbered_header_notes` (``0,1,...,n-1``,
    or ``1,2,...,n`` taken for a model's names, not because no row could hold it), and the rows when
    telling a header ``1,2,...,n`` from a row read them already (None: not read yet)."""

    names: list[str] | None
    n_cols: int
    skip: int
    delimiter: str
    numbered: bool = False
    rows: np.ndarray | None = None


def _csv_header(path: Path, trained=None, one_column: bool = False) -> _Layout:
    """The file's :class:`_Layout`. The header is the first line that is not all numbers
    (nor numbers with missing values, a data row), or ``np.savetxt``'s ``# name,name,...``
    comment just above numeric rows, or a row of column numbers ``0,1,...,n-1`` (pandas
    writes integer column names so), or ``1,2,...,n`` above :data:`_MIN_ROWS_FOR_ID` rows
    or more that it could not be one of (a number outside its column's range widened by
    its width: 785 above pixels of 0..255), or other strictly increasing whole numbers
    (years, wavelengths) above as many rows, each outside its column's range widened so
    (:func:`_beyond_every_column`), or either above any rows when its numbers but one are
    the ``trained`` feature names (a model's, trained under that header). ``one_column``: a
    file of one column is valid (the inputs of a model of one feature, to predict), its
    first line a header unless it is a number."""
    comments, first = _first_lines(path)
    if not first.strip():
        if first:  # a line of only spaces, where the header or the first row belongs
            raise FileFormatError(f"{path}: line {len(comments) + 1} is blank, where the header (or the first row) "
                                  "belongs; delete the blank lines above it")
        raise FileFormatError(f"{path}: the CSV file is empty" + (f" (it holds only {len(comments)} comment lines, "
                                                                   "no header or rows)." if comments else "."))
    sep = _delimiter(path, first, one_column, len(comments) + 1)
    cells = _header_cells(first, sep)
    if one_column and len(cells) == 1:
        number = _is_number_row(cells) or _row_with_gaps(cells)
        return _Layout(None if number else cells, 1, len(comments) + (0 if number else 1), sep)
    if len(cells) < 2:
        raise FileFormatError(f"{path}: needs at least two columns (inputs and a label).")
    if _rows_of_class_names(path, len(comments), cells, sep):
        return _Layout(None, len(cells), len(comments), sep)
    if not _is_number_row(cells) and not _row_with_gaps(cells):
        return _Layout(cells, len(cells), len(comments) + 1, sep)
    if cells == [str(i) for i in range(len(cells))]:
        return _Layout(cells, len(cells), len(comments) + 1, sep, numbered=True)
    table = None  # the file read whole, to tell a header 1,2,...,n from a row: read once
    known = trained is not None and len(trained) == len(cells) - 1 and set(map(str, trained)) <= set(cells)
    if cells == [str(i + 1) for i in range(len(cells))]:  # a header only where no row could be
        table = _read_numbers_under(path, _Layout(None, len(cells), len(comments), sep), cells, known)
        if len(table) > 1 and (known or len(table) > _MIN_ROWS_FOR_ID
                               and not _could_be_a_row(np.arange(1.0, len(cells) + 1), table[1:])):
            # the note's test is the one just passed unless taken for the model's names (known)
            return _Layout(cells, len(cells), len(comments) + 1, sep, numbered=known, rows=table[1:])
    above = _header_cells(comments[-1], sep) if comments else []
    savetxt = len(above) == len(cells) and not _is_number_row(above)
    if table is None and not savetxt and all(c.isdigit() for c in cells) and all(
            int(a) < int(b) for a, b in zip(cells, cells[1:])):
        table = _read_numbers(path, _Layout(None, len(cells), len(comments), sep))  # years, wavelengths
        if len(table) > 1 and (known or len(table) > _MIN_ROWS_FOR_ID
                               and _beyond_every_column(np.array([float(c) for c in cells]), table[1:])):
            return _Layout(cells, len(cells), len(comments) + 1, sep, rows=table[1:])
    if savetxt:
        return _Layout(above, len(cells), len(comments), sep, rows=table)
    return _Layout(None, len(cells), len(comments), sep, rows=table)


def _read_numbers_under(path: Path, layout: _Layout, cells: list[str], known: bool) -> np.ndarray:
    """:func:`_read_numbers` from the first line ``1,2,...,n`` (``cells``) on; a cell that is
    no number is named by the column's name there where that line can be a header (above
    :data:`_MIN_ROWS_FOR_ID` rows or more, or ``known``: the trained feature names)."""
    try:
        return _read_numbers(path, layout)
    except FileFormatError:
        if not known:
            with open(path, encoding="utf-8-sig", errors="replace") as f:
                rows = sum(1 for number, line in enumerate(f, 1) if number > layout.skip and _is_row(line))
        if known or rows > _MIN_ROWS_FOR_ID:  # as the header is judged
            _read_numbers(path, layout._replace(names=cells))  # raises the same error, the column named
        raise


def _named_column(path: Path, label_column: int | str, names: list[str] | None, n_cols: int) -> int:
    """The index of the column ``label_column`` names: an int is an index; a string of
    digits too, but for a header of numbers (``1,2,...,n``) that names another column so it
    is refused as ambiguous, and one out of range that is a name is that column."""
    if isinstance(label_column, str) and label_column.strip().lstrip("-").isdigit():
        text, index = label_column.strip(), int(label_column)
        named = names.index(text) if names is not None and text in names else None
        if named is not None and not -n_cols <= index < n_cols:
            return named
        if named is not None and named != index % n_cols:
            raise ConfigError(f"{path}: label column {text!r} is both the name of column {named + 1} of {n_cols} and "
                              f"the index of another (0 first: the column named {names[index % n_cols]!r}); give "
                              f"the one you mean as an index counted from the end: --label-column {named - n_cols} "
                              f"for the column named {text!r} (label_column= in load_arrays)")
        label_column = index
    if isinstance(label_column, str):
        if names is None or label_column not in names:
            raise ConfigError(f"{path}: no column named {label_column!r}" + _did_you_mean(label_column, names or [])
                              + (f"; the header has {names[:12]}" if names else " (no header row)")
                              + "; name the label column with --label-column NAME|INDEX")
        named = [i for i, name in enumerate(names) if name == label_column]
        if len(named) > 1:
            raise ConfigError(f"{path}: {len(named)} columns are named {label_column!r} (columns "
                              f"{', '.join(str(i + 1) for i in named)} of {n_cols}); give the label column by its "
                              f"index, 0 first: --label-column {named[0]} for the first of them (label_column= in "
                              "load_arrays)")
        return named[0]
    if not -n_cols <= int(label_column) < n_cols:
        raise ConfigError(f"{path}: label_column {label_column} is out of range for {n_cols} columns (0..{n_cols - 1}, "
                          f"or -{n_cols}..-1 from the end).")
    return int(label_column) % n_cols


def _did_you_mean(name: str, names: list[str]) -> str:
    """`` (did you mean 'label'?)`` for the header name ``name`` is closest to (the same
    name in another case first, else :func:`difflib.get_close_matches`), or ''."""
    import difflib

    same = [n for n in names if n.strip().lower() == name.strip().lower()]
    close = same or difflib.get_close_matches(name, names, n=1) or difflib.get_close_matches(
        name.lower(), [n.lower() for n in names], n=1)
    if close and not same and close[0] not in names:  # matched in lower case: the header's own spelling
        close = [next(n for n in names if n.lower() == close[0])]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _column_name(col: int, names: list[str] | None, n_cols: int, why: str) -> str:
    named = f"{names[col]!r} " if names else ""
    return f"column {named}({col + 1} of {n_cols}, {why})"


def _looks_like_labels(values: np.ndarray) -> bool:
    """Whole numbers >= 0 with 2 to :data:`MAX_CLASSES` distinct values, some of them
    repeated: in a file of :data:`_MIN_ROWS_FOR_ID` rows or more, a column whose every
    value differs (a row id 0..n-1) names rows, not classes of them."""
    if not (np.isfinite(values).all() and (values == np.round(values)).all() and values.min() >= 0):
        return False
    distinct = len(np.unique(values))
    if distinct == len(values) >= _MIN_ROWS_FOR_ID:
        return False
    return 2 <= distinct <= MAX_CLASSES


def _by_name(path, names: list[str], n_cols: int) -> tuple[int, str] | None:
    """The column whose header is a label name (``y`` only without any other), or None
    when none is; two label names are refused."""
    lowered = [name.lower() for name in names]
    found = [i for i, name in enumerate(lowered) if name in LABEL_NAMES[:-1]] or \
        [i for i, name in enumerate(lowered) if name == LABEL_NAMES[-1]]
    if len(found) > 1:
        both = " and ".join(repr(names[i]) for i in found)
        first = names[found[0]] if names.count(names[found[0]]) == 1 else found[0]  # a name given twice: its index
        raise ConfigError(f"{path}: the columns {both} both have a label's name; say which holds the labels "
                          f"with --label-column {first} (label_column= in load_arrays)")
    if not found:
        return None
    why = ("by its name" if lowered[found[0]] != LABEL_NAMES[-1]
           else f"by its name; no column is named {', '.join(LABEL_NAMES[:-1])}")
    return found[0], _column_name(found[0], names, n_cols, why)


def _by_content(path, table, names, n_cols) -> tuple[int, str]:
    """The first or the last column, whichever holds class ids; both: refused as ambiguous."""
    first, last = _looks_like_labels(table[:, 0]), _looks_like_labels(table[:, -1])
    if first and last:
        numbers = names and any(name.strip().lstrip("-").isdigit() for name in (names[0], names[-1]))
        which = (f"--label-column {names[0]} or --label-column {names[-1]}" if names and not numbers
                 else "--label-column 0 or --label-column -1")  # a name of digits is read as an index
        no_name = (f"no header name is one of {', '.join(LABEL_NAMES)}" if names
                   else "has no header to name its label column")
        one_hot = "".join(f"; {words}: if they are the labels, write them as one column of class ids first (in "
                          "Python: ids = onehot.argmax(axis=1))" for end in (0, n_cols - 1)
                          if (words := _one_hot_words(table, end, names)) is not None)
        raise ConfigError(f"{path}: {no_name}, and both the first and the last column hold whole numbers "
                          f"that could be class ids; say which with {which} (label_column= in load_arrays){one_hot}")
    none = "no column is named " + ", ".join(LABEL_NAMES) if names else "the file has no header"
    if first or last:
        _refuse_one_hot(path, table, 0 if first else n_cols - 1, names)
    if first:
        return 0, _column_name(0, names, n_cols, "the first: it holds class ids, the last does not")
    why = "the last: it holds class ids, the first does not" if last else f"the last; {none}"
    return n_cols - 1, _column_name(n_cols - 1, names, n_cols, why)


def _one_hot_columns(table: np.ndarray, col: int) -> list[int] | None:
    """The columns from ``col`` (the first or the last) inwards that hold one-hot rows, a
    single 1 a row among 0s (``pd.get_dummies`` of the labels), when there are two or more."""
    step = 1 if col == 0 else -1
    total = np.zeros(len(table))
    for k in range(col, col + step * table.shape[1], step):
        if not np.isin(table[:, k], (0, 1)).all():
            return None
        total += table[:, k]
        if (total > 1).any():
            return None
        if k != col and (total == 1).all():
            return sorted(range(col, k + step, step))
    return None


def _one_hot_words(table: np.ndarray, col: int, names) -> str | None:
    """"the last 3 columns ('y0', 'y1', 'y2') hold one-hot rows ...", or None (:func:`_one_hot_columns`)."""
    block = _one_hot_columns(table, col)
    if block is None:
        return None
    shown = f" ({', '.join(repr(names[i]) for i in block)})" if names else ""
    return f"the {'first' if col == 0 else 'last'} {len(block)} columns{shown} hold one-hot rows (a single 1 a row)"


def _refuse_one_hot(path, table: np.ndarray, col: int, names) -> None:
    """Refuse a label column found by its content that is one of a block of one-hot label
    columns: the others, trained on as features, would give its class away."""
    words = _one_hot_words(table, col, names)
    if words is None:
        return
    where = "first" if col == 0 else "last"
    raise DataError(f"{path}: {words}: labels one-hot encoded? Taking the {where} of them as the label column "
                    "would train on the others as features, which give its class away; write the labels as one "
                    "column of class ids (in Python: ids = onehot.argmax(axis=1)), or, if these columns are features, "
                    "name the label column with --label-column NAME|INDEX (label_column= in load_arrays)")


def _choose_column(path, table, label_column, names, n_cols) -> tuple[int, str]:
    if label_column is not None:
        col = _named_column(path, label_column, names, n_cols)
        return col, _column_name(col, names, n_cols, "as named")
    return (names is not None and _by_name(path, names, n_cols)) or _by_content(path, table, names, n_cols)


def _check_names(path: Path, names: list[str] | None, sep: str = ",") -> None:
    """Refuse a header cell without a name: the first is pandas' row index (row numbers,
    not a feature), the last alone a separator ending the line, any other a column nobody
    can name."""
    if names is None:
        return
    if len(names) > 2 and names[-1] == "" and all(names[:-1]):
        raise DataError(f"{path}: the header ends with a {_SEPARATORS[sep]} (a trailing separator), so its last cell "
                        f"({len(names)} of {len(names)}) is empty; {_NO_TRAILING[sep]}")
    if names[0] in ("", "Unnamed: 0"):
        raise DataError(f"{path}: the first column has no name in the header: a row index, as pandas' "
                        "DataFrame.to_csv and R's write.csv write it, would be trained on as a feature; save the file "
                        "with to_csv(path, index=False) (in R: write.csv(df, path, row.names = FALSE)), or name the "
                        "column")
    empty = [i + 1 for i, name in enumerate(names) if not name]
    if empty:
        raise DataError(f"{path}: header cell {empty[0]} of {len(names)} is empty; name every column "
                        "(or remove the header row)")


#: How to mend lines that end with their separator (``1,2,0,``: an empty last column).
_NO_TRAILING = {sep: f"remove the {name} at the end of every line that ends with one" for sep, name in _SEPARATORS.items()}


def _trailing_separator(path: Path, layout: _Layout, row: int, col: int) -> bool:
    """Whether the empty value in column ``col`` (1 first) of data row ``row`` (counted as
    :func:`_line_of` counts) is a separator ending the line: a value beyond the header's
    (or first line's) columns on a line that ends with it, or, in the last column of a file
    without a header, one on every line (of the first :data:`_TRAILING_LINES`) that ends so."""
    if col < layout.n_cols or (col == layout.n_cols and layout.names is not None):
        return False
    first, last = (row, row + 1) if col > layout.n_cols else (0, _TRAILING_LINES)
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            rows = (line for number, line in enumerate(f, 1) if number > layout.skip and _is_row(line))
            lines = list(itertools.islice(rows, first, last))
    except OSError:
        return False
    return bool(lines) and all(_row_text(line).rstrip("\r\n").rstrip(" ").endswith(layout.delimiter)
                               for line in lines)


#: The lines :func:`_trailing_separator` reads to tell an empty last column from missing values.
_TRAILING_LINES = 1000


#: A ``#`` that starts a comment: not one of the error values Excel writes into a cell as
#: text (``#N/A``, a missing value; ``#DIV/0!``), which start a row or are a cell of one.
_COMMENT = re.compile(r"#(?!N/A|DIV/0!|VALUE!|REF!|NAME\?|NUM!|NULL!)")


def _is_row(line: str) -> bool:
    """Whether a line after the header is a row: not blank (only spaces) nor a comment
    (``#`` first, spaces before it allowed, as above the header; not ``#N/A,...``)."""
    text = line.lstrip()
    return bool(text) and not (text.startswith("#") and _COMMENT.match(text))


def _row_text(line: str) -> str:
    """A line as :func:`_read_numbers` hands it to NumPy: a blank line for one that is no
    row, the row without a comment after it (``1,2,0 # checked``), its ``#N/A`` cells kept."""
    if not _is_row(line):
        return "\n"
    comment = _COMMENT.search(line) if "#" in line else None
    return line if comment is None else line[:comment.start()] + "\n"


def _data_line(path: Path, layout: _Layout, row: int) -> tuple[int, str] | None:
    """The number (1 first) and text of the line that holds data row ``row`` (0 first, as
    :func:`_read_numbers` counts them: blank and comment lines not counted), or None."""
    left = row
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if number > layout.skip and _is_row(line):
                    if left == 0:
                        return number, line
                    left -= 1
    except OSError:
        pass
    return None


def _line_of(path: Path, layout: _Layout, row: int) -> str:
    """Where data row ``row`` is (:func:`_data_line`), in the words of the messages: ``line
    L`` (of the file, 1 first: what an editor, ``sed -n Lp`` and a spreadsheet's row number show)."""
    found = _data_line(path, layout, row)
    return f"data row {row + 1}" if found is None else f"line {found[0]}"  # not found: the file changed


def _separators_only(path: Path, layout: _Layout, row: int) -> bool:
    """Whether data row ``row`` holds nothing but separators and spaces (``,,,``: a blank
    row as a spreadsheet saves one below its data)."""
    found = _data_line(path, layout, row)
    return found is not None and not found[1].replace(layout.delimiter, "").replace('"', "").strip()


def _read_numbers(path: Path, layout: _Layout, usecols: list[int] | None = None) -> np.ndarray:
    """The rows after the header as float64, a row a line: fields may be quoted (as
    ``csv.QUOTE_ALL`` writes them), and a line of only spaces or a ``#`` comment is not a
    row (its number kept, for :func:`_line_of`). ``usecols``: read only those columns; the
    others come back as 0 (the table keeps every column, so messages count them all)."""
    if usecols is not None:
        part = _read_cells(path, layout, usecols, np.float64)
        if part.shape[0] == 0:
            raise FileFormatError(f"{path}: the CSV file has a header but no rows.")
        table = np.zeros((len(part), layout.n_cols))
        table[:, usecols] = part
        return table
    try:
        table = _read_cells(path, layout, None, np.float64)
    except FileFormatError:
        raise
    if table.shape[0] == 0:
        raise FileFormatError(f"{path}: the CSV file has a header but no rows.")
    if table.shape[1] != layout.n_cols:
        first = (f"the header (line {layout.skip}) names {layout.n_cols}" if layout.names is not None
                 else f"line {layout.skip + 1} has {layout.n_cols}")
        raise FileFormatError(f"{path}: the rows have {table.shape[1]} {_SEPARATORS[layout.delimiter]}-separated values, "
                              f"{first}; every row needs a value for each column.")
    return table


def _read_cells(path: Path, layout: _Layout, usecols: list[int] | None, dtype) -> np.ndarray:
    """The cells of the rows after the header (of the columns ``usecols``, or all) as
    ``dtype``: float64, or ``str`` (each cell's text, quotes removed), 2-D."""
    try:
        with open(path, encoding="utf-8-sig") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            return np.loadtxt(map(_row_text, f), delimiter=layout.delimiter, quotechar='"', comments=None,
                              skiprows=layout.skip, dtype=dtype, ndmin=2, usecols=usecols)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except ValueError as exc:
        raise _not_numbers(path, exc, layout) from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read as text CSV ({exc}).") from None


def _label_column_before_reading(path: Path, label_column, names: list[str] | None, n_cols: int) -> int | None:
    """The label column's index where it is known before the rows are read: named (an
    index or a header name), or by its header name (:data:`LABEL_NAMES`); else None."""
    if label_column is not None:
        return _named_column(path, label_column, names, n_cols)
    found = _by_name(path, names, n_cols) if names is not None else None
    return None if found is None else found[0]


def _names_with_gaps(cells: np.ndarray) -> bool:
    """Whether a column's cells are names, some of them missing: no number among them, and
    some cell that is no missing label (:data:`~deltaprop.data.labels.MISSING_LABELS`)."""
    distinct = [str(c).strip() for c in np.unique(cells)]
    return not any(_is_number_row([c]) for c in distinct) and any(c.lower() not in MISSING_LABELS for c in distinct)


def _with_text_labels(path: Path, layout: _Layout, exc: FileFormatError,
                      col: int | None) -> tuple[np.ndarray, tuple[str, ...], int]:
    """The table of a file whose label column holds class names (``exc``: the error
    reading every cell as a number gave), the names (sorted: id ``k`` is ``names[k]``) and
    the label column. The label column is ``col``, or without one known the first or the
    last column where the first text cell is, if it holds two names or more; text anywhere
    else raises ``exc`` (or the error for the first feature cell that is no number)."""
    bad, missing = getattr(exc, "text_column", None), getattr(exc, "missing_column", None)
    if bad is None and missing is not None and (missing == col or col is None and missing in (0, layout.n_cols - 1)):
        bad = missing  # a missing label, refused as one by class_ids (in a column of names)
    if bad is None or (col is None and bad not in (0, layout.n_cols - 1)):
        raise exc
    guessed, col = col is None, bad if col is None else col
    cells = _read_cells(path, layout, [col], str)[:, 0]
    if guessed and missing == col and not _names_with_gaps(cells):
        raise exc  # a missing value ('none', 'NA') among numbers, or in a column of nothing: no class names
    others = [c for c in range(layout.n_cols) if c != col]
    table = _read_numbers(path, layout, usecols=others)  # text in a feature column is refused as ever
    named = f" ({layout.names[col]!r})" if layout.names else ""
    ids, classes = class_ids(cells, lambda i: f"{path}: {_line_of(path, layout, i)}, column {col + 1}{named}",
                             max_classes=MAX_CLASSES, min_rows_for_id=_MIN_ROWS_FOR_ID)
    if guessed and len(classes) < 2:  # one word in an unnamed column: no labels to go by
        raise exc
    table[:, col] = ids
    return table, classes, col


#: float32 stands for a CSV feature column when it holds every value to within this share
#: of the column's range (``|x − float32(x)| ≤ ε·(max − min)``); beyond it x stays float64.
_FLOAT32_KEEPS = 1e-5
#: A run in float32 on columns that float32 holds only to within more than this share of
#: their range (a timestamp in seconds, 1e9 + 0..50) is told to use float64.
_FLOAT32_LOSES = 1e-3
_ROWS_A_BLOCK = 8192  # rows cast at a time when measuring float32's error


def _float32_error(x: np.ndarray) -> np.ndarray:
    """Per column, ``max |x − float32(x)| / (max − min)`` (0 for a constant column, which
    stays constant; inf where a value is too large for float32), a block of rows at a time."""
    error = np.zeros(x.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, len(x), _ROWS_A_BLOCK):
            block = x[start:start + _ROWS_A_BLOCK]
            np.maximum(error, np.abs(block - block.astype(np.float32)).max(axis=0), out=error)
    span = x.max(axis=0) - x.min(axis=0)
    return np.divide(error, span, out=np.zeros_like(error), where=span > 0)


def _without_column(table: np.ndarray, col: int) -> np.ndarray:
    """``table`` without column ``col``: a view where it is the first or the last column (no
    float64 copy of the features before they are cast), else a copy."""
    col %= table.shape[1]
    if col == table.shape[1] - 1:
        return table[:, :-1]
    return table[:, 1:] if col == 0 else np.delete(table, col, axis=1)


def _whole_numbers(x: np.ndarray) -> bool:
    """Whether every value of ``x`` is a whole number, a block of rows at a time (no
    rounded copy of the table), stopping at the first block that holds another."""
    return all(bool((block == np.round(block)).all())
               for block in (x[start:start + _ROWS_A_BLOCK] for start in range(0, len(x), _ROWS_A_BLOCK)))


def _features(path: Path, x: np.ndarray, col: int, dtype=None, names=None) -> tuple[np.ndarray, list[str]]:
    """The feature columns (``col`` held the labels; :func:`_check_finite` first), and notes: uint8 or
    uint16 when every value is such an integer (pixels, counts, exact in either); else
    ``dtype`` when given (a note when float32 holds a column only to within more than
    :data:`_FLOAT32_LOSES` of its range), else float32 when it holds every column to within
    :data:`_FLOAT32_KEEPS` of its range, else float64 (read once, never narrowed)."""
    if _whole_numbers(x) and x.min() >= 0 and x.max() <= 65535:  # 8- or 16-bit integers (pixels, counts)
        return x.astype(np.uint8 if x.max() <= 255 else np.uint16), []
    if dtype is not None and dtype != np.float32:
        return _checks.cast_checked(x, dtype, name=f"{path}: x"), []
    error = _float32_error(x)
    if dtype is None:  # float64 where float32 loses values; a value beyond float32's range is refused
        lossy = np.isfinite(error).all() and not (error <= _FLOAT32_KEEPS).all()
        return (np.ascontiguousarray(x) if lossy else _checks.cast_checked(x, np.float32, name=f"{path}: x")), []
    return _checks.cast_checked(x, np.float32, name=f"{path}: x"), _float32_notes(path, x, error, col, names)


def _float32_notes(path: Path, x: np.ndarray, error: np.ndarray, col: int, names) -> list[str]:
    """A note naming the column float32 holds worst, when that is beyond :data:`_FLOAT32_LOSES`."""
    worst = int(np.argmax(error))
    if not error[worst] > _FLOAT32_LOSES:
        return []
    column = worst + (worst >= col)  # its place in the file, the label column counted
    named = f"{names[column]!r} " if names else ""
    low, high = float(x[:, worst].min()), float(x[:, worst].max())
    others = int((error > _FLOAT32_LOSES).sum()) - 1
    also = f" (and {others} other column{'s' if others > 1 else ''} too)" if others else ""
    return [f"{path}: column {named}({column + 1} of {x.shape[1] + 1}) holds {low:.12g} to {high:.12g}: float32 keeps "
            f"these values only to within {error[worst] * (high - low):.3g}{also}; train in float64 (--dtype float64; "
            "dtype='float64' in Python), or subtract the offset in the file"]


def _npz_float32_notes(path: Path, x: np.ndarray, dtype) -> list[str]:
    """A note when an ``.npz``'s x (kept as stored) has a column that float32, the type a run
    in ``dtype`` float32 computes in, holds only to within more than :data:`_FLOAT32_LOSES`
    of its range (float64 timestamps 1e9 + 0..50 s), as :func:`_float32_notes` for a CSV."""
    if dtype != np.float32 or x.dtype.kind not in "iuf" or np.can_cast(x.dtype, np.float32, "safe"):
        return []
    if x.ndim < 2 or not x.size or (x.dtype.kind == "f" and not np.isfinite(x).all()):
        return []  # refused as such by _check_xy
    flat = x.reshape(len(x), -1)
    error = _float32_error(flat)
    worst = int(np.argmax(error))
    if not _FLOAT32_LOSES < error[worst] < np.inf:  # beyond float32's range: refused when cast
        return []
    low, high = float(flat[:, worst].min()), float(flat[:, worst].max())
    others = int((error > _FLOAT32_LOSES).sum()) - 1
    also = f" (and {others} other column{'s' if others > 1 else ''} too)" if others else ""
    return [f"{path}: feature {worst + 1} of {flat.shape[1]} of x holds {low:.12g} to {high:.12g}: float32 keeps these "
            f"values only to within {error[worst] * (high - low):.3g}{also}; train in float64 (--dtype float64; "
            "dtype='float64' in Python), or subtract the offset before saving"]


def _could_be_a_row(numbers: np.ndarray, table: np.ndarray) -> bool:
    """Whether each of ``numbers`` lies within its column's range in ``table`` widened by
    the range's width on both sides."""
    low, high = table.min(axis=0), table.max(axis=0)
    width = high - low
    return bool(((numbers >= low - width) & (numbers <= high + width)).all())


def _beyond_every_column(numbers: np.ndarray, table: np.ndarray) -> bool:
    """Whether each of ``numbers`` lies outside its column's range in ``table`` widened by
    the range's width on both sides (``x < lo - w`` or ``x > hi + w``, ``w = hi - lo``): a
    header of years 2019,2020,... above values of 0..100 and class ids, where a row, even
    an outlier, has a value within reach in some column (its label, at least)."""
    low, high = table.min(axis=0), table.max(axis=0)
    width = high - low
    return bool(((numbers < low - width) | (numbers > high + width)).all())


def _numbered_header_notes(path: Path, table: np.ndarray, layout: _Layout) -> list[str]:
    """A note when a header of column numbers ``0,1,...,n-1`` could as well be a data
    row (:func:`_could_be_a_row`, on the header's own numbers: ``1,2,...,n`` is a header
    only where it could not). (pandas' header above a wide table could not: a pixel
    column of 0..255 cannot hold 700, nor an all-zero border column 3.)"""
    if not _could_be_a_row(np.array([float(name) for name in layout.names]), table):
        return []
    sep = layout.delimiter
    shown = sep.join(layout.names) if layout.n_cols <= 6 else sep.join([*layout.names[:3], "...", layout.names[-1]])
    return [f"{path}: the first line, {shown!r}, was read as column numbers (the header pandas writes for unnamed "
            "columns), not as a data row; if it is a row of data, write a header line of names above it"]


#: A feature column holding each of the row numbers 0..n-1 (or 1..n) once, in a file of at
#: least this many rows, is a row id (by chance in no smaller file worth a note).
_MIN_ROWS_FOR_ID = 10


def _row_id_notes(path: Path, x: np.ndarray, col: int, names) -> list[str]:
    """A note for each feature column that holds the row numbers ``k, k+1, ..., k+n-1``
    (``k`` 0 or 1, in any order): an id, which a file sorted by class turns into the class."""
    n = len(x)
    if n < _MIN_ROWS_FOR_ID or x.ndim != 2:
        return []
    low, high = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
    notes = []
    for j in np.flatnonzero(((low == 0) | (low == 1)) & (high == low + n - 1)):
        first = int(low[j])
        if not np.array_equal(np.sort(x[:, j]), first + np.arange(n)):
            continue
        place = int(j) + (j >= col)  # its place in the file, the label column counted
        named = f"{names[place]!r} " if names else ""
        notes.append(f"{path}: column {named}({place + 1} of {x.shape[1] + 1}) holds the row numbers {first}.."
                     f"{first + n - 1}, each once: a row id, not a measurement; trained on as a feature it tells "
                     "the classes apart in a file sorted by class, and nothing in new data: remove the column")
    return notes


def _numbers_header_notes(path: Path, table: np.ndarray, layout: _Layout, label_column) -> list[str]:
    """A file read without a header whose first row is one in fact, its names numbers
    (wavelengths, ids): judged in the label column the rows after the first give (the one
    named, else the first or last that holds class ids there). Its value in the first row
    not a class id (-1, 0.5) where every other row holds one: refused. A class id above
    all the others' that no other row has: a note (in a file of fewer than
    :data:`_MIN_ROWS_FOR_ID` rows, only where it leaves ids unused below it, as a year
    does, or the line is increasing whole numbers, ``1,2,...,n``). Increasing whole numbers
    that no row could hold (:func:`_could_be_a_row`) above fewer rows than a header of
    numbers is taken above (a header ``1,2,...,n`` of a small file) get a note too."""
    if layout.names is not None or len(table) < 3:
        return []
    if label_column is not None:
        col = _named_column(path, label_column, None, layout.n_cols)
    else:
        try:
            col = _by_content(path, table[1:], None, layout.n_cols)[0]
        except ConfigError:  # both could be labels: the choice on the whole file decides
            return []
    first, rest = float(table[0, col]), table[1:, col]
    if not _looks_like_labels(rest):
        return []
    where = f"line {layout.skip + 1}, the first row, holds {first:g} in column {col + 1} of {layout.n_cols}"
    others = f"every other row holds a class id ({rest.min():g}..{rest.max():g})"
    fix = (f"is line {layout.skip + 1} a header of numbers? Give the columns names that are words (x1,x2,...,label) "
           "or delete the line")
    if not (np.isfinite(first) and first == round(first) and first >= 0):
        raise DataError(f"{path}: {where}, not a class id, where {others}: {fix}; if it is a row of data, correct its "
                        "label")
    line = table[0]
    increasing = bool((line >= 0).all() and (line == np.round(line)).all() and (np.diff(line) > 0).all())
    if first > rest.max() and (len(table) >= _MIN_ROWS_FOR_ID or first > rest.max() + 1 or increasing):
        return [f"{path}: {where}, a class no other row has, where {others}: {fix}; if it is a row of data, its class "
                "is trained on from that one row"]
    if increasing and len(table) <= _MIN_ROWS_FOR_ID and not _could_be_a_row(line, table[1:]):  # too few to tell
        cells = [f"{v:g}" for v in line]
        shown = layout.delimiter.join(cells if len(cells) <= 6 else [*cells[:3], "...", cells[-1]])
        return [f"{path}: line {layout.skip + 1}, {shown!r}, holds increasing whole numbers, some far outside the "
                f"ranges of their columns in the rows below, and was read as the first row of data, not as a header: "
                f"{fix}; if it is a row of data, ignore this note"]
    return []


def _by_position(label_column, label_position: int | None, n_cols: int) -> int | str | None:
    """The label column of a file without a header scored by a model: the index given, else
    the trained file's label position (a header name cannot name a column here)."""
    given_index = isinstance(label_column, int) or (isinstance(label_column, str)
                                                    and label_column.strip().lstrip("-").isdigit())
    if label_position is None or given_index or not 0 <= label_position < n_cols:
        return label_column
    return label_position


def _could_be_numbers_header(path: Path, cells: list[str], layout: _Layout) -> bool:
    """Whether a first line read as a row could be a header of numbers: strictly increasing
    whole numbers (``1,2,...,n``, years) of which at least one lies outside its column's
    range in the rows below widened by its width (:func:`_could_be_a_row` false), or a
    line with no rows below it."""
    if not all(c.isdigit() for c in cells) or not all(int(a) < int(b) for a, b in zip(cells, cells[1:])):
        return False
    table = layout.rows if layout.rows is not None else _read_numbers(path, layout)
    return len(table) < 2 or not _could_be_a_row(np.array([float(c) for c in cells]), table[1:])


def _refuse_number_as_name(path: Path, label_column, layout: _Layout) -> None:
    """Refuse a label column given as a number beyond the columns (``--label-column 2022``)
    that the first line holds, that line being read as a row (a header of numbers, as
    ``2019,2020,2021,2022``, not told from one): say so, and how to proceed."""
    text = str(label_column).strip()
    if not text.lstrip("-").isdigit() or -layout.n_cols <= int(text) < layout.n_cols:
        return
    cells = _header_cells(_first_lines(path)[1], layout.delimiter)
    if text not in cells or not _could_be_numbers_header(path, cells, layout):
        return  # a row of data: the index is out of range, no more
    line, n = layout.skip + 1, layout.n_cols
    shown = layout.delimiter.join(cells if n <= 6 else [*cells[:3], "...", cells[-1]])
    raise ConfigError(f"{path}: label column {text!r} is out of range for {n} columns (0..{n - 1}, or -{n}..-1 from "
                      f"the end), and no column is named so: line {line}, {shown!r}, holds numbers only and was read "
                      f"as a row of data, not as a header. If line {line} is a header, give its columns names that "
                      f"are words (y{cells[0]},y{cells[1]},...,label) or delete it; if it is a row of data, give the "
                      "label column by its index")


def _load_csv(path: Path, label_column: int | str | None, dtype=None, label_position: int | None = None,
              trained=None):
    """x, y, where the labels came from, the feature columns' names, notes and the label
    column's index; ``trained``: the feature names a model was trained on, or None."""
    layout = _csv_header(path, trained)
    names, n_cols = layout.names, layout.n_cols
    _check_names(path, names, layout.delimiter)
    given = label_column
    if names is None:
        label_column = _by_position(label_column, label_position, n_cols)
    elif label_column is None and trained is not None:  # the one column the model was not trained on
        features = set(map(str, trained))
        others = [i for i, name in enumerate(names) if name not in features]
        if not others and n_cols == len(trained):
            raise DataError(f"{path}: the header names the model's {n_cols} feature columns and no other: the file "
                            "has no label column, and scoring needs each row's label: add the labels as a column; "
                            f"{_UNLABELLED_ROWS}")
        label_column = others[0] if len(others) == 1 else None
        if (not others and label_position is not None and -n_cols <= label_position < n_cols
                and sorted(map(str, trained)) == sorted(n for i, n in enumerate(names) if i != label_position % n_cols)):
            label_column = label_position % n_cols  # its label's name is a feature's too: where training had it
    if label_column is not None and names is None:
        _refuse_number_as_name(path, label_column, layout)
    known = _label_column_before_reading(path, label_column, names, n_cols)  # a bad name fails before reading
    classes = None
    try:
        table = _read_numbers(path, layout) if layout.rows is None else layout.rows
    except FileFormatError as exc:  # class names in the label column, or text refused
        table, classes, text_col = _with_text_labels(path, layout, exc, known)
        if known is None:
            label_column = text_col
    header_notes = _numbers_header_notes(path, table, layout, label_column) if classes is None else []
    col, source = _choose_column(path, table, label_column, names, n_cols)
    if classes is not None and known is None:
        source = _column_name(col, names, n_cols, "it holds text, class names; the others hold numbers")
    elif label_column is not given:
        source = _column_name(col, names, n_cols, "where the model's training file had it" if names is None
                              else "the one column besides the model's features")
    _check_finite(path, table, col, layout)
    x, notes = _features(path, _without_column(table, col), col, dtype, names)
    notes += _numbered_header_notes(path, table, layout) if layout.numbered else []
    notes += header_notes + _row_id_notes(path, x, col, names)
    feature_names = None if names is None else tuple(name for i, name in enumerate(names) if i != col)
    return x, table[:, col], source, feature_names, notes, col, classes


def read_rows(path: str | os.PathLike, n_features: int, *, feature_names=None,
              label_position: int | None = None) -> tuple[np.ndarray, tuple[str, ...], int]:
    """The feature rows of a CSV file to classify (float64, one row an example), notes on
    what was left out or reordered, and how many columns were left out. With a header and
    the ``feature_names`` a model was trained on, the columns are read by name, in the
    trained order, and columns the model was not trained on (a label, an id) are left out;
    a header without one of them raises DataError. Without ``feature_names``, a header of
    ``n_features + 1`` columns one of which is named as labels (:data:`LABEL_NAMES`) has
    that column left out. A file without a header, or whose header names no label column
    for a model that records no names, is read by position: ``n_features + 1`` columns lose
    the one at ``label_position`` (where the training file had its labels).
    Any other width comes back as it is, for the caller to refuse."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file.")
    layout = _csv_header(path, feature_names, one_column=n_features == 1)
    left_out = _left_out(layout, n_features, feature_names, label_position)
    unused = [c for c in range(layout.n_cols) if left_out(c)]
    try:
        if unused and layout.rows is None:  # never read: an empty label column, an id column of text or NaN
            table = _read_numbers(path, layout, usecols=[c for c in range(layout.n_cols) if c not in unused])
        else:
            table = _numbers_besides(path, layout, left_out)
    except FileFormatError as exc:
        raise _text_in_rows(exc, layout, n_features) from None
    table[:, unused] = 0.0  # read already (a header of numbers), checked by no one
    _check_finite(path, table, -1, layout)
    names, n_cols = layout.names, table.shape[1]
    if names is not None and feature_names is not None:
        trained = [str(n) for n in feature_names]
        others = [i for i, name in enumerate(names) if name not in set(trained)] if set(trained) <= set(names) else []
        notes = [f"{path}: column{'s' if len(others) > 1 else ''} {', '.join(repr(names[i]) for i in others)} "
                 f"{'are' if len(others) > 1 else 'is'} not among the model's features and left out"] if others else []
        kept = [name for i, name in enumerate(names) if i not in set(others)]
        table, note = align_columns(np.delete(table, others, axis=1), kept, trained, str(path))
        return table, tuple(notes + ([note] if note else [])), len(others)
    col = None
    found = [i for i, name in enumerate(names) if name.strip().lower() in LABEL_NAMES] if names is not None else []
    if n_cols == n_features + 1 and found:
        col = found[0] if len(found) == 1 else None
        what = f"column {names[col]!r} ({col + 1} of {n_cols}), named as labels or targets," if col is not None else ""
    elif n_cols == n_features + 1 and label_position is not None and 0 <= label_position < n_cols:
        col = label_position
        what = (f"column {col + 1} of {n_cols}, where the model's training file had its labels (a file without a "
                "header is read by position),") if names is None else (
                f"column {names[col]!r} ({col + 1} of {n_cols}), where the model's training file had its labels (the "
                "model records no column names: the file is read by position),")
    if col is None:
        return table, (), 0
    return np.delete(table, col, axis=1), (f"{path}: {what} is left out, as no feature",), 1


def _text_in_rows(exc: FileFormatError, layout: _Layout, n_features: int) -> FileFormatError:
    """``exc``, or for text in a cell (:attr:`cell`) the error in the words of rows to classify:
    no label column to name (that is training's and scoring's), but one to leave out or remove."""
    if getattr(exc, "cell", None) is None:
        return exc
    fix = ("if that column holds the labels, name it label in the header line (predict then leaves it out), or "
           "remove it" if layout.n_cols == n_features + 1 else
           f"remove the columns that hold text (ids, names), keeping the model's {n_features} feature columns")
    return FileFormatError(f"{exc.cell}, not a number; the rows to classify must hold numbers only: {fix}")


def _left_out(layout: _Layout, n_features: int, feature_names, label_position: int | None):
    """Whether :func:`read_rows` leaves a column (by index) out: one the model was not
    trained on, or the label column of a file one column wider than the model's inputs."""
    names, n_cols = layout.names, layout.n_cols
    if names is not None and feature_names is not None:
        trained = {str(n) for n in feature_names}
        return lambda c: trained <= set(names) and names[c] not in trained
    if names is not None and (label_position is None or any(n.strip().lower() in LABEL_NAMES for n in names)):
        return lambda c: n_cols == n_features + 1 and names[c].strip().lower() in LABEL_NAMES
    return lambda c: n_cols == n_features + 1 and c == label_position  # by position, as the model was trained


def _numbers_besides(path: Path, layout: _Layout, left_out) -> np.ndarray:
    """The file's table (:func:`_read_numbers`), read without the columns that hold text
    (class names, row names) where ``left_out`` says they are left out anyway (as 0)."""
    if layout.rows is not None:
        return layout.rows
    skipped: list[int] = []
    while True:
        try:
            kept = [c for c in range(layout.n_cols) if c not in skipped]
            return _read_numbers(path, layout, usecols=kept if skipped else None)
        except FileFormatError as exc:
            col = getattr(exc, "text_column", None)
            if col is None or col in skipped or not 0 <= col < layout.n_cols or not left_out(col):
                raise
            skipped.append(col)


def _check_finite(path: Path, table: np.ndarray, col: int, layout: _Layout) -> None:
    """Refuse the first NaN or infinity (``nan``, ``inf`` read as numbers), naming its line
    and column; in the label column (``col``) a missing label."""
    bad = ~np.isfinite(table)
    if not bad.any():
        return
    row, column = (int(i) for i in np.argwhere(bad)[0])
    names = layout.names
    cell = f"{_line_of(path, layout, row)}, column {column + 1}" + (f" ({names[column]!r})" if names else "")
    if column == col:
        raise DataError(f"{path}: {cell} holds {table[row, column]}, a missing label (the label column); a row without "
                        "its class cannot be trained or scored on: drop the rows whose label is missing (pandas: "
                        "df.dropna(subset=[label column]))")
    raise DataError(f"{path}: {cell} holds {table[row, column]}, not a finite number (NaN or infinity); clean or impute "
                    "the missing or infinite values first")


def _not_numbers(path: Path, exc: Exception, layout: _Layout) -> FileFormatError:
    """The error for a CSV file NumPy could not read as numbers: the cell that holds text
    (a label written as a word, most often) and how to give numbers instead."""
    names, n_cols = layout.names, layout.n_cols
    sep = _SEPARATORS[layout.delimiter]
    changed = re.search(r"number of columns changed from (\d+) to (\d+) at row (\d+)", str(exc))
    if changed is not None:  # NumPy counts this row from 1
        where = _line_of(path, layout, int(changed.group(3)) - 1)
        return FileFormatError(f"{path}: malformed CSV: {where} has {changed.group(2)} {sep}-separated "
                               f"values, the rows above {changed.group(1)}; every row needs {n_cols}.")
    found = re.search(r"could not convert string '(.*)' to \w+ at row (\d+), column (\d+)", str(exc))
    if found is None:
        return FileFormatError(f"{path}: malformed CSV ({_numpy_words(exc)}). Every row needs {n_cols} "
                               f"{sep}-separated numbers.")
    text, row, col = found.group(1), int(found.group(2)), int(found.group(3))  # the row from 0, the column from 1
    where = _line_of(path, layout, row)
    name = f" ({names[col - 1]!r})" if names and 0 < col <= len(names) else ""
    if layout.delimiter != "," and _DECIMAL_COMMA.match(text):
        return _decimal_comma(path, text, layout.delimiter, f"{where}, column {col}{name} ")
    if not text.strip() and _separators_only(path, layout, row):
        return FileFormatError(f"{path}: {where} holds no values, only {sep}s (a blank row, as a spreadsheet saves "
                               f"one below its data); delete that line and any like it")
    if not text.strip() and _trailing_separator(path, layout, row, col):
        return FileFormatError(f"{path}: {where} ends with a {sep} (a trailing separator), so its last value "
                               f"(column {col}) is empty; {_NO_TRAILING[layout.delimiter]}")
    if text.strip().lower() in MISSING_LABELS and name and names[col - 1].lower() in LABEL_NAMES:
        return FileFormatError(f"{path}: {where}, column {col}{name} holds {text!r}, a missing label; "
                               "a row without its class cannot be trained or scored on: drop the rows whose label "
                               "is missing (pandas: df.dropna(subset=[label column]))")
    written = _number_written_otherwise(f"{path}: {where}, column {col}{name}", text, layout.delimiter)
    if written is not None:
        return written
    if text.strip().lower() in _SPREADSHEET_ERRORS:
        return FileFormatError(f"{path}: {where}, column {col}{name} holds {text!r}, a spreadsheet error value (a "
                               "formula that failed), not a number; fix the formula in the spreadsheet and save the "
                               "file again, or remove the row")
    if text.strip().lower() in _MISSING_MARKERS:
        error = FileFormatError(f"{path}: {where}, column {col}{name} holds {text!r}, a missing value; "
                                "every value must be a number: fill in the missing values (impute them, e.g. with "
                                "the column's mean) or drop the rows or columns that hold them.")
        error.missing_column = col - 1  # in a label column known as one: a missing label (_with_text_labels)
        if text.strip().lower() not in MISSING_LABELS:  # 'none': a class name in a label column of names
            error.text_column = col - 1
        return error
    error = FileFormatError(f"{path}: {where}, column {col}{name} holds {text!r}, not a number; every feature "
                            "value must be a number: encode or drop text feature columns (one-hot: pd.get_dummies). "
                            "A label column of class names is read as such when none of its cells is a number; "
                            "name it with --label-column NAME|INDEX (label_column= in load_arrays)")
    error.text_column = col - 1  # where it is: the label column, if it holds class names (_with_text_labels)
    error.cell = f"{path}: {where}, column {col}{name} holds {text!r}"  # for predict's own advice (read_rows)
    return error


def _number_written_otherwise(cell: str, text: str, delimiter: str) -> FileFormatError | None:
    """The error for a cell holding a number with a decimal comma (quoted in a comma-separated
    file) or with thousands separators, and the conversion; None for any other text."""
    # quoted, in a comma-separated file: "0,125" (a leading 0 is never followed by a thousands separator)
    if _DECIMAL_COMMA.match(text) and (not _THOUSANDS.match(text) or text.strip().lstrip("+-").startswith("0")):
        return FileFormatError(f"{cell} holds {text!r}, a number written with a decimal comma (quoted between the "
                               "separating commas); deltaprop reads numbers with a decimal point: convert it, e.g. in "
                               "Python: pd.read_csv(path, decimal=',').to_csv('fixed.csv', index=False)")
    if _THOUSANDS_POINTS.match(text):
        return FileFormatError(f"{cell} holds {text!r}, a number written with thousands points; deltaprop reads "
                               "numbers without thousands separators and with a decimal point: convert it, e.g. in "
                               f"Python: pd.read_csv(path, sep={delimiter!r}, thousands='.', decimal=',')"
                               ".to_csv('fixed.csv', index=False)")
    if _THOUSANDS.match(text):
        return FileFormatError(f"{cell} holds {text!r}, a number written with thousands separators; write the numbers "
                               "without them (1234.5, not 1,234.5)")
    return None


def _numpy_words(exc: Exception) -> str:
    """NumPy's reason without its advice to the programmer (``use `usecols` ...``)."""
    return str(exc).split("; use `usecols`")[0]


def _check_labels(y: np.ndarray, path: Path, source: str) -> np.ndarray:
    """1-D class ids, refusing a label column that looks like a feature."""
    if y.dtype.kind == "f" and y.size and np.isfinite(y).all() and not (y == np.round(y)).all():
        example = y[y != np.round(y)][0]
        raise DataError(f"{path}: the labels ({source}) hold {example:g}, not a whole-number class id: a "
                        f"regression target (or a feature)? {_NOT_REGRESSION}; {_HOW_TO_CHOOSE}.")
    if y.dtype.kind in "biuf" and y.size:
        distinct = np.unique(y)
        if distinct[0] < 0 and len(distinct) <= MAX_CLASSES:
            shown = ", ".join(f"{v:g}" for v in distinct[:6]) + (", ..." if len(distinct) > 6 else "")
            raise DataError(f"{path}: the labels ({source}) hold {distinct[0]:g}, a negative number (values {shown}); "
                            "class ids count 0, 1, 2, ... (whole numbers >= 0): renumber the classes in the file "
                            "(-1/1 as 0/1; in Python: ids = np.unique(labels, return_inverse=True)[1]), or if these "
                            f"are no labels, {_HOW_TO_CHOOSE}.")
        if len(distinct) > MAX_CLASSES:
            raise DataError(f"{path}: the labels ({source}) have {len(distinct):,} distinct values, more than "
                            f"{MAX_CLASSES:,} classes: is this a feature? {_HOW_TO_CHOOSE}.")
    ids = _checks.class_labels(y, name=f"{path}: the labels ({source})")
    if ids.size:
        _refuse_regression_like(np.unique(ids), path, source)
    return ids


def _refuse_regression_like(distinct: np.ndarray, path: Path, source: str) -> None:
    """Whole numbers that measure something (disease progression 25..346) rather than
    name classes: many values, with more than :data:`_MOST_IDS_MISSING` of the ids
    ``0..max`` never used (class ids count 0, 1, 2, ... with few gaps)."""
    if len(distinct) <= _FEW_CLASSES or not np.isfinite(distinct).all() or distinct.min() < 0:
        return
    top = int(distinct.max())
    unused = top + 1 - len(distinct)
    if unused <= _MOST_IDS_MISSING * (top + 1):
        return
    raise DataError(f"{path}: the labels ({source}) are {len(distinct)} distinct whole numbers from "
                    f"{distinct.min():g} to {top}, and {unused} of the class ids 0..{top} are never used: this looks "
                    f"like a regression target, not class ids. {_NOT_REGRESSION}; {_HOW_TO_CHOOSE}.")


def _check_xy(x: np.ndarray, y: np.ndarray, path: Path, source: str):
    if x.ndim < 2:
        one = "; for a single feature, save it as one column: x.reshape(-1, 1)" if x.ndim == 1 and len(x) == len(y) else ""
        raise ShapeError(f"{path}: x must be (n, features...), one row an example, got shape {x.shape}{one}.")
    if len(x) != len(y):
        turned = (f"; its {x.shape[1]} columns match y's {len(y)} labels: is x saved transposed (features as rows)? "
                  "Save x.T" if x.ndim == 2 and x.shape[1] == len(y) else "")
        raise ShapeError(f"{path}: x has {len(x)} rows but y has {len(y)}{turned}.")
    if len(x) == 0:
        raise ShapeError(f"{path}: holds no rows (x has shape {x.shape}); nothing to train or test on.")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{path}: x contains NaN or inf; clean or impute them first.")
    if y.ndim == 1:
        return x, _check_labels(y, path, source)
    if y.ndim == 2:
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise DataError(f"{path}: y contains NaN or inf.")
        return x, y.astype(np.float32)
    raise ShapeError(f"{path}: y must be 1-D class ids or 2-D rows, got shape {y.shape}.")
