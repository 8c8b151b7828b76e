"""Class labels written as names ("setosa", "versicolor", "virginica") made class ids.

The distinct names, sorted (as ``np.unique`` and scikit-learn's ``LabelEncoder`` sort
them), are the classes: name ``classes[k]`` is class ``k``, and each label becomes
``ids[i]`` with ``classes[ids[i]] == labels[i]``. The rule that tells names from ids: a
label column is read as names only when none of its cells is a number; a column of
numbers with a few words in it (``?``, ``NA``, a typo) is refused at the first odd cell,
never trained on with ``'?'`` as a class of its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from deltaprop.errors import DataError, FileFormatError, ShapeError

__all__ = ["MISSING_LABELS", "RULE", "as_model_classes", "class_ids", "encode_labels"]

#: Cells that stand for a missing label (compared without case and surrounding spaces);
#: ``none`` is not one: it names a class in some datasets (the UCI lenses' "none").
MISSING_LABELS = frozenset({"", "na", "n/a", "nan", "null", "?", "#n/a", "<na>"})
#: How a file's labels should be: the rule :func:`class_ids` applies, in words.
RULE = ("the labels must be all numbers (class ids 0, 1, 2, ...) or all text (class names, none of them a number, "
        "read in sorted order as the classes)")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _listed(names: Sequence[str], most: int = 10) -> str:
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")


def class_ids(cells: np.ndarray, where: Callable[[int], str], *, max_classes: int,
              min_rows_for_id: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(ids, classes)`` for text labels ``cells`` (1-D, surrounding spaces trimmed here):
    ``classes = sorted(set(cells))`` and ``classes[ids[i]] == cells[i]``. Refused, naming
    the cell by ``where(i)``: a missing label (:data:`MISSING_LABELS`), numbers and words
    mixed (the first cell of the fewer kind), more than ``max_classes`` names, or a name on
    every row of ``min_rows_for_id`` rows or more (a row's name, not its class)."""
    cells = np.char.strip(np.asarray(cells, dtype=str))
    distinct, ids = np.unique(cells, return_inverse=True)
    # one test a distinct value, not a row: a column of 10^6 labels holds a few names
    missing = np.isin(np.char.lower(distinct), list(MISSING_LABELS))[ids]
    number = np.array([_is_number(v) for v in distinct], dtype=bool)[ids] & ~missing
    if missing.any():
        i = int(np.argmax(missing))
        raise FileFormatError(f"{where(i)} holds {str(cells[i])!r}, a missing label; a row without its class cannot be trained "
                        "or scored on: drop the rows whose label is missing (pandas: df.dropna(subset=[label "
                        "column]))")
    if number.any():
        text = ~number
        n_num, n_text = int(number.sum()), int(text.sum())
        odd = text if n_num >= n_text else number  # the first cell of the fewer kind
        i = int(np.argmax(odd))
        kind = (f"where {n_num} of the {len(cells)} labels are numbers: a missing or mistyped label?" if odd is text
                else f"a number, where {n_text} of the {len(cells)} labels are text (class names)")
        raise FileFormatError(f"{where(i)} holds {str(cells[i])!r}, {kind} {RULE[0].upper()}{RULE[1:]}: fix or drop that row")
    if len(distinct) > max_classes:
        raise DataError(f"{where(0)}: the labels are {len(distinct):,} distinct names, more than {max_classes:,} "
                        "classes: is this a column of text features or row names? Choose the label column with "
                        "--label-column NAME|INDEX (label_column= in load_arrays)")
    if len(distinct) == len(cells) >= min_rows_for_id:
        raise DataError(f"{where(0)}: every one of the {len(cells)} labels is a different name ({str(cells[0])!r}, "
                        f"{str(cells[1])!r}, ...): row names, not classes; drop that column, or choose the label column "
                        "with --label-column NAME|INDEX (label_column= in load_arrays)")
    return ids.astype(np.int64), tuple(str(c) for c in distinct)


def as_model_classes(ids: np.ndarray, classes: Sequence[str], model: Sequence[str],
                     where: str) -> np.ndarray:
    """A file's labels (``classes[ids[i]]``) as the positions of the same names among a
    model's class names ``model``; a name the model does not have is refused, naming it
    and the model's classes (mapping it to any id would score it as another class)."""
    model = [str(c) for c in model]
    place = {name: k for k, name in enumerate(model)}
    unseen = [c for c in classes if c not in place]
    if unseen:
        more = f" (and {len(unseen) - 1} other names)" if len(unseen) > 1 else ""
        raise DataError(f"{where} holds the class name {unseen[0]!r}{more}, which is none of the model's classes "
                        f"({_listed(model)}); score rows of those classes only, labelled with those names, or "
                        "train a model on rows of every class")
    return np.array([place[c] for c in classes], dtype=np.int64)[np.asarray(ids, dtype=np.int64)]


def encode_labels(labels, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, ids)`` for labels of any kind (class names, or numbers such as 1..10):
    ``classes[ids[i]] == labels[i]``, ``ids`` the class ids 0..k−1 that ``fit``,
    ``evaluate`` and ``predict`` take. ``classes`` None: the distinct labels, sorted (as
    ``np.unique(labels, return_inverse=True)`` gives them), a training set's. Given (a
    training set's classes, or a model file's ``class_names``): a test set's labels by
    those same classes, compared as text, so that a class missing from the test set shifts
    no id; a label that is none of them is refused (any id would score it as another
    class). A missing label (None, NaN, or a cell such as ``""`` or ``"NA"``:
    :data:`MISSING_LABELS`) and names mixed with numbers are refused, naming the row."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ShapeError(f"labels must be 1-D, one a row; got shape {y.shape}"
                         + (" (one column: pass labels.ravel())" if y.ndim == 2 and y.shape[1] == 1 else ""))
    _check_no_missing(y)
    try:
        distinct, inverse = np.unique(y, return_inverse=True)
    except TypeError:  # text and numbers cannot be sorted together
        text = np.array([isinstance(v, (str, bytes)) for v in y.tolist()])
        i = int(np.argmax(~text if text.sum() >= text.size / 2 else text))
        raise DataError(f"labels mix class names and numbers: row {i} holds {y[i]!r}; give them one kind, "
                        "e.g. labels.astype(str)") from None
    if classes is None:
        return distinct, inverse.astype(np.int64).reshape(-1)
    known = np.asarray(classes)
    names = [str(c) for c in known.tolist()]
    if known.ndim != 1 or len(set(names)) != len(names):
        raise DataError(f"classes must be distinct names, one a class, 1-D; got {list(names)[:10]!r:.200}")
    place = {name: k for k, name in enumerate(names)}
    texts = [str(v) for v in distinct.tolist()]
    unseen = [t for t in texts if t not in place]
    if unseen:
        i = int(np.argmax(np.isin(inverse, [texts.index(t) for t in unseen])))
        more = f" (and {len(unseen) - 1} other labels)" if len(unseen) > 1 else ""
        raise DataError(f"row {i} holds the label {unseen[0]!r}{more}, "
                        f"which is none of the classes ({_listed(names)}); a class the model has no output for cannot "
                        "be scored: drop those rows, or train on rows of every class")
    return known, np.array([place[t] for t in texts], dtype=np.int64)[inverse.reshape(-1)]


def _check_no_missing(y: np.ndarray) -> None:
    """Refuse a missing label (None, NaN, pandas' NA, a :data:`MISSING_LABELS` cell), naming its row."""
    if y.dtype.kind == "f":
        missing = np.isnan(y)
    elif y.dtype.kind in "OUS":
        values = y.tolist()
        missing = np.array([v is None or type(v).__name__ == "NAType" or (isinstance(v, float) and v != v)
                            or (isinstance(v, (str, bytes)) and str(v).strip().lower() in MISSING_LABELS)
                            for v in values], dtype=bool)
    else:
        return
    if missing.any():
        i = int(np.argmax(missing))
        raise DataError(f"row {i} holds {y[i].item() if isinstance(y[i], np.generic) else y[i]!r}, a missing label; a "
                        "row without its class cannot be trained or scored on: drop the rows whose label is missing")
