"""Classification metrics from class ids: accuracy, confusion matrix, per-class
precision, recall and F1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks
from .errors import ConfigError, DataError, ShapeError
from .network import predictions_from_outputs


def _ids(name: str, y) -> np.ndarray:
    """Class ids from 1-D ids, a column of ids (as ``df[["label"]]`` gives), a column of
    single-output probabilities (class 1 where ``a ≥ 0.5``; fractions outside [0, 1], such
    as a logit's, are refused: their threshold is not 0.5), or rows of class scores
    (one-hot targets or outputs: the argmax). Rows of several 0/1 labels are refused:
    one class a row is what these metrics count."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        try:  # numbers held as objects (a pandas object column) are numbers still
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{name} holds labels that are no numbers (such as {str(y.ravel()[0])!r}); these metrics "
                            "count class ids 0, 1, 2...: map the names to ids first (e.g. names, ids = "
                            "np.unique(y, return_inverse=True))") from None
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise DataError(f"{name} holds NaN or infinity; class ids and scores must be finite numbers")
    if y.ndim == 2 and y.shape[1] == 1:
        column = y[:, 0]
        whole = column.dtype == np.bool_ or np.issubdtype(column.dtype, np.integer) or np.all(column == np.round(column))
        if not whole and (column.min() < 0 or column.max() > 1):  # a logit or raw score: its threshold is not 0.5
            raise DataError(f"{name} is one column of values outside [0, 1] (such as {column[(column < 0) | (column > 1)][0]:.4g}"
                            "), neither class ids nor probabilities of class 1: pass class ids, e.g. net.predict(X), "
                            "which applies the model's own threshold (0 for a logit)")
        y = column if whole else predictions_from_outputs(y)
    elif y.ndim == 2:
        if y.size and np.all((y == 0) | (y == 1)) and not np.all(y.sum(axis=1) == 1):
            raise DataError(
                f"{name} has 0/1 rows with more (or fewer) than one 1: several labels a row, not one class. "
                "Compare them label by label (e.g. np.mean(y_true == y_pred)) or row by row "
                "(np.mean(np.all(y_true == y_pred, axis=1)))"
            )
        y = predictions_from_outputs(y)
    if y.ndim != 1:
        raise ShapeError(f"{name} must be 1-D class ids or 2-D one-hot rows, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        fractions = y != np.round(y)
        if fractions.any():
            value = float(y[fractions][0])
            ids = "net.predict(X), or (p >= 0.5).astype(int)" if name == "y_pred" else "(p >= 0.5).astype(int)"
            probability = (f"; if they are probabilities of class 1, pass class ids: {ids}"
                           if np.all((y >= 0) & (y <= 1)) else "")
            raise DataError(f"{name} must hold whole-number class ids, not fractions such as {value:.4g}{probability}")
    # checked before the cast to int64, which turns 1e20 or a uint64 2**64 - 1 into a negative id
    big = y.size and ((y.dtype.kind == "f" and float(y.max()) >= 2.0**63) or  # float16 cannot hold 2**63
                      (y.dtype == np.uint64 and y.max() > np.iinfo(np.int64).max))
    if y.size and (y.min() < 0 or big):
        low = y.min() < 0
        bad = y.min() if low else y.max()
        shown = f"{bad:g}" if y.dtype.kind == "f" else str(int(bad))
        raise DataError(f"{name} holds a negative class id ({shown}); class ids count 0, 1, 2...: map the labels "
                        "to ids first (e.g. names, ids = np.unique(y, return_inverse=True))" if low else
                        f"{name} holds {shown}, too large for a class id; class ids count 0, 1, 2...: map the "
                        "labels to ids first (e.g. names, ids = np.unique(y, return_inverse=True))")
    return y.astype(np.int64)


def _some(n: int, what: str) -> None:
    """Refuse ``n = 0`` examples: a share of none is undefined (0/0), not a score of 0."""
    if not n:
        raise DataError(f"y_true and y_pred hold no labels: {what} of no examples is undefined (0/0); "
                        "give at least one example")


def accuracy(y_true, y_pred) -> float:
    """Share of examples whose predicted class equals the true class, ``(1/n) Σ_i [t_i = p_i]``;
    no examples (``n = 0``) are refused, as scikit-learn's ``accuracy_score`` does."""
    t, p = _ids("y_true", y_true), _ids("y_pred", y_pred)
    if t.shape != p.shape:
        raise ShapeError(f"y_true has {t.size} labels but y_pred has {p.size}")
    _some(t.size, "the accuracy")
    return float(np.mean(t == p))


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """``C[i, j]`` = number of examples of true class ``i`` predicted as ``j``."""
    t, p = _ids("y_true", y_true), _ids("y_pred", y_pred)
    if t.shape != p.shape:
        raise ShapeError(f"y_true has {t.size} labels but y_pred has {p.size}")
    if n_classes is not None:
        n_classes = _checks.positive_int("n_classes", n_classes)
    k = n_classes if n_classes is not None else int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    if k > _checks.MAX_CLASSES and n_classes is not None:  # a k × k table of them would not fit in memory
        raise ConfigError(f"n_classes={k:,}: a confusion matrix counts at most {_checks.MAX_CLASSES:,} classes "
                          f"({k:,}×{k:,} counts would not fit in memory); give the number of classes the labels hold")
    if k > _checks.MAX_CLASSES:
        raise DataError(f"class ids reach {k - 1:,}: a confusion matrix counts classes 0..k-1, at most "
                        f"{_checks.MAX_CLASSES:,}; map the labels to 0..k-1 first (np.unique(y, return_inverse=True))")
    if t.size and max(t.max(), p.max()) >= k:
        which, top = ("y_true", int(t.max())) if t.max() >= k else ("y_pred", int(p.max()))
        raise DataError(f"{which} holds class id {top}, but n_classes={k} counts the classes 0..{k - 1}")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _names(class_names) -> list[str]:
    """``class_names`` as strings, one a class; one string is refused (its letters are no names)."""
    if isinstance(class_names, (str, bytes)):
        raise ConfigError(f"class_names must be a list of names, one a class, not the one string {class_names!r}")
    return [str(c) for c in class_names]


@dataclass
class ClassReport:
    """Per-class precision ``C_ii / Σ_j C_ji``, recall ``C_ii / Σ_j C_ij`` and F1. Where a
    denominator is 0 (a class never predicted: precision; a class absent from ``y_true``:
    recall) the score is undefined and shown as 0, as scikit-learn's ``zero_division``
    default does; :meth:`table` marks those with ``*`` and says why. ``predicted``: how often
    each class was predicted, ``Σ_j C_ji``."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float
    class_names: tuple[str, ...]
    predicted: np.ndarray | None = None

    def table(self) -> str:
        w = max([len("class")] + [len(c) for c in self.class_names])
        never = self.predicted == 0 if self.predicted is not None else np.zeros(len(self.class_names), dtype=bool)
        absent = self.support == 0
        lines = [f"{'class'.ljust(w)}  precision  recall  f1      support"]
        for i, name in enumerate(self.class_names):
            p_mark, r_mark = "*" if never[i] else " ", "*" if absent[i] else " "
            scores = f"{self.precision[i]:9.4f}{p_mark} {self.recall[i]:6.4f}{r_mark} {self.f1[i]:6.4f}"
            lines.append(f"{name.ljust(w)}  {scores}  {int(self.support[i]):7d}")
        lines.append(f"accuracy {self.accuracy:.4f} on {int(self.support.sum())} examples")
        if never.any():
            lines.append(f"* precision of {_listed(self.class_names, never)}: never predicted, so 0/0, undefined "
                         "and shown as 0")
        if absent.any():
            lines.append(f"* recall of {_listed(self.class_names, absent)}: not in y_true (support 0), so 0/0, "
                         "undefined and shown as 0")
        return "\n".join(lines)


def _listed(names, which: np.ndarray) -> str:
    chosen = [n for n, w in zip(names, which) if w]
    return ("class " if len(chosen) == 1 else "classes ") + ", ".join(chosen)


def classification_report(y_true, y_pred, n_classes: int | None = None, class_names=None) -> ClassReport:
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    names = tuple(_names(class_names)) if class_names is not None else tuple(str(i) for i in range(cm.shape[0]))
    if len(names) != cm.shape[0]:
        raise ShapeError(f"class_names has {len(names)} names for {cm.shape[0]} classes; give one name a class "
                         "(and n_classes= when some class appears in neither y_true nor y_pred)")
    _some(int(cm.sum()), "a report")
    acc = float(tp.sum() / cm.sum())
    return ClassReport(precision, recall, f1, actual, acc, names, predicted)


def confusion_table(cm: np.ndarray, class_names=None) -> str:
    """The confusion matrix as text: rows are true classes, columns predictions, every
    column right-aligned under its header. Names longer than 6 characters (Fashion-MNIST's
    "T-shirt/top") label the rows as "index name" and the columns by index."""
    k = cm.shape[0]
    names = _names(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:  # more names headed columns that are not there; fewer was an IndexError
        raise ShapeError(f"class_names has {len(names)} names for a {k}×{k} confusion matrix; give one name a class")
    short = max((len(n) for n in names), default=0) <= 6
    columns = names if short else [str(i) for i in range(k)]
    row_labels = names if short else [f"{i} {n}" for i, n in enumerate(names)]
    width = max(max((len(c) for c in columns), default=1), len(str(int(cm.max(initial=0)))), 4)
    label_width = max(len("true\\pred"), max((len(r) for r in row_labels), default=0))
    head = "true\\pred".ljust(label_width) + " " + " ".join(c.rjust(width) for c in columns)
    rows = [row_labels[i].ljust(label_width) + " " + " ".join(str(int(v)).rjust(width) for v in cm[i])
            for i in range(k)]
    return "\n".join([head, *rows])
