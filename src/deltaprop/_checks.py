"""Input validation shared by the library and the CLI: one place that checks numbers,
arrays and labels and says what to do about a bad one."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ConfigError, DataError, ShapeError


def positive_number(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with ``allow_zero``), else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")
    return value


def fraction(name: str, value: Any, *, low_open: bool = False, high_open: bool = True) -> float:
    """``value`` as a float in [0, 1) (bounds open or closed as asked)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    value = float(value)
    ok = math.isfinite(value) and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        lo = "(0" if low_open else "[0"
        hi = "1)" if high_open else "1]"
        raise ConfigError(f"{name} must be a number in {lo}, {hi}, got {value!r}")
    return value


def seed(value: Any, name: str = "seed"):
    """A seed as ``np.random.default_rng`` takes it: None, a whole number ``>= 0``, a
    sequence of them (``[seed, rank]``), or a NumPy ``Generator``, ``BitGenerator`` or
    ``SeedSequence`` (used as given)."""
    if value is None or isinstance(value, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        entries = np.asarray(value)
        if entries.ndim == 1 and entries.size and entries.dtype.kind in "iu" and entries.min() >= 0:
            return value
    raise ConfigError(f"{name} must be a whole number >= 0, a sequence of them, or None for a fresh random one; "
                      f"got {value!r}")


def flag(name: str, value: Any) -> bool:
    """``value`` as a bool: only True or False (a NumPy bool too), never a truthy string."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    """``value`` as an int >= 1 (>= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if value < (0 if allow_zero else 1):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '>= 1'}, got {value}")
    return value


def features(X: Any, n_features: int | None, dtype, *, name: str = "X", rows: np.ndarray | None = None,
             warn_rounding: bool = False) -> np.ndarray:
    """``X`` as a C-contiguous ``(n, n_features)`` array of ``dtype``, finite, else a typed error.
    ``rows``: the row numbers ``X`` holds of a larger array, which a message names.
    ``warn_rounding``: warn where the cast to ``dtype`` rounds a feature by a share of its
    range (:func:`rounded_feature`), as ``fit`` does for its training rows."""
    if is_sparse(X):  # np.asarray makes a 0-d object array of it
        raise DataError(f"{name} is a sparse matrix; this call takes a dense array: pass {name}.toarray() "
                        "(predict, predict_proba, evaluate and fit read a sparse matrix a batch at a time)")
    if np.ma.is_masked(X):  # np.asarray drops the mask and keeps the values under it
        row = int(np.argwhere(np.ma.getmaskarray(X))[0][0])
        raise DataError(f"{name} is a masked array with masked entries (first in row {row}); the values under "
                        f"the mask would be used: fill them, e.g. {name}.filled(value), or drop those rows")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise DataError(f"{name} cannot be read as a numeric array: {ragged(X, name) or exc}") from None
    if arr.dtype == object and is_pandas(X):  # numbers and booleans mixed, or nullable Int64/Float64 columns
        arr = pandas_numbers(X, name)
    if arr.dtype.kind == "m":  # a number type to NumPy, counted in its own unit
        raise DataError(f"{name} holds durations ({arr.dtype}); convert them to numbers in the unit you mean, "
                        f"e.g. {name} / np.timedelta64(1, 's') for seconds")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{name} must hold numbers, got dtype {arr.dtype}; convert it with np.asarray(..., float)")
    if arr.dtype.kind == "c":
        raise DataError(f"{name} holds complex numbers ({arr.dtype}); a network takes real inputs: pass "
                        f"{name}.real, abs({name}) or both as separate features")
    if arr.ndim == 1 and n_features is not None and arr.size == n_features:
        arr = arr.reshape(1, -1)
    elif arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2:
        raise ShapeError(f"{name} must be 2-D (examples, features), got shape {arr.shape}"
                         f"{_one_dimension_fix(name, arr, n_features)}")
    if n_features is not None and arr.shape[1] != n_features:
        raise _width_error(name, arr.shape[1], n_features, shape=arr.shape)
    if arr.shape[0] == 0:
        raise ShapeError(f"{name} has no rows")
    source = arr
    with np.errstate(over="ignore"):  # a value beyond the dtype's range becomes inf: caught below
        arr = np.ascontiguousarray(arr, dtype=dtype)
    if not all_finite(arr):
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        row = bad if rows is None else int(rows[bad])
        if np.all(np.isfinite(source[bad])):
            raise DataError(
                f"{name} holds values too large for {np.dtype(dtype).name} (first in row {row}); "
                "scale the data, e.g. to [0, 1] or to zero mean and unit variance"
            )
        raise DataError(f"{name} contains NaN or infinity (first in row {row}); clean, impute or drop those rows")
    if warn_rounding:
        _warn_rounded(name, source, arr)
    return arr


def ragged(rows: Any, name: str) -> str | None:
    """Where a list of rows is ragged, in words (the first row whose length differs from row
    0's, and the fix); None where it is not, or is no list of rows."""
    if not isinstance(rows, (list, tuple)) or not rows:
        return None
    def width(row):
        return len(row) if isinstance(row, (list, tuple, np.ndarray)) else None
    first = width(rows[0])
    i = next((i for i, row in enumerate(rows) if width(row) != first), None)
    if i is None:
        return None
    def said(row, k):
        return f"{k} values" if k is not None else f"one value ({row!r:.30})"
    return (f"row {i} holds {said(rows[i], width(rows[i]))} where row 0 holds {said(rows[0], first)}; give every row "
            f"of {name} the same number of values")


def _warn_rounded(name: str, source: np.ndarray, arr: np.ndarray) -> None:
    """Warn where the cast of ``source`` to ``arr``'s dtype rounds a feature by a share of
    its range (:func:`rounded_feature`)."""
    rounded = rounded_feature(source, arr)
    if rounded is not None:
        import warnings

        column, low, high, error = rounded
        share = f"{error / (high - low):.1%} of that range" if error < high - low else "more than that whole range"
        warnings.warn(
            f"{name}'s column {column} holds {low:.12g} to {high:.12g}: {arr.dtype.name}, the network's dtype, "
            f"rounds these values by up to {error:.3g}, {share}, so training "
            "sees them rounded (a Standardization layer too: it gets them after the cast). Build the network "
            f"with dtype='float64', or subtract the offset in float64 first (e.g. {name} - {name}.mean(axis=0))",
            UserWarning, stacklevel=7)  # user → fit → _fit → _prepare → _training_inputs → features → here


#: A cast that rounds a feature by more than this share of its range ``max − min`` is warned
#: of (a timestamp in seconds, 1e9 + 0..50, in float32), as the data readers do for a file.
ROUNDING_SHARE = 1e-3


def rounded_feature(source: np.ndarray, cast: np.ndarray) -> tuple[int, float, float, float] | None:
    """The feature (column) of a finite 2-D ``source`` that its ``cast`` to a float dtype
    rounds by the largest share of its range, ``(column, min, max, rounding)``, where that
    share is over :data:`ROUNDING_SHARE`; else None. Half the dtype's spacing at a column's
    ``max |x|`` bounds its rounding; only the columns that bound puts over the share are
    measured, ``max |x − cast(x)|`` (whole numbers near 1e6 are exact in float32)."""
    if source.ndim != 2 or not source.size or source.dtype.kind not in "iuf" or np.can_cast(source.dtype, cast.dtype):
        return None
    low, high = source.min(axis=0).astype(np.float64), source.max(axis=0).astype(np.float64)
    top = np.maximum(np.abs(low), np.abs(high))
    with np.errstate(over="ignore"):
        bound = np.spacing(top.astype(cast.dtype)).astype(np.float64) / 2
    span = high - low
    suspects = np.flatnonzero((span > 0) & (bound > ROUNDING_SHARE * span))
    if not suspects.size:
        return None
    rounding = np.array([np.abs(source[:, j].astype(np.float64) - cast[:, j]).max() for j in suspects])
    share = rounding / span[suspects]
    k = int(np.argmax(share))
    if not share[k] > ROUNDING_SHARE:
        return None
    j = int(suspects[k])
    return j, float(low[j]), float(high[j]), float(rounding[k])


def is_pandas(X: Any) -> bool:
    """A pandas DataFrame or Series (pandas is never imported to tell)."""
    return type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "to_numpy") and hasattr(X, "dtypes")


def pandas_numbers(X: Any, name: str) -> np.ndarray:
    """A pandas table or column whose columns all hold numbers or booleans as float64 (a
    table of both, or of nullable Int64/Float64 columns, is an object array to NumPy; a
    missing value becomes NaN, refused later with its row); else a :class:`DataError`
    naming the columns that hold something else."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    dtypes = X.dtypes
    columns = list(dtypes.items()) if hasattr(dtypes, "items") else [(getattr(X, "name", None), dtypes)]
    bad = [(column, dtype) for column, dtype in columns if not (is_numeric_dtype(dtype) or is_bool_dtype(dtype))]
    if bad:
        named = ", ".join(f"{column!r} ({dtype})" for column, dtype in bad[:5]) + (", ..." if len(bad) > 5 else "")
        listed = ", ".join(repr(column) for column, _ in bad[:5])
        raise DataError(f"{name} holds columns that are not numbers: {named}. Encode them as numbers (e.g. "
                        f"pd.get_dummies({name}, columns=[{listed}], dtype=float)) or drop them")
    return X.to_numpy(dtype=np.float64, na_value=np.nan)


def _one_dimension_fix(name: str, arr: np.ndarray, n_features: int | None) -> str:
    """How to give a 1-D ``arr`` (read as one example of ``n_features`` values) as rows."""
    if arr.ndim != 1 or n_features is None:
        return ""
    if n_features == 1:
        return f": for {arr.size} examples of the network's one feature, pass {name}.reshape(-1, 1)"
    return (f": a 1-D {name} is read as one example, which needs the network's {n_features} features, not "
            f"{arr.size}; pass rows of shape (examples, {n_features})")


def _width_error(name: str, width: int, n_features: int, *, shape: tuple[int, ...] | None = None) -> ShapeError:
    """The network takes ``n_features`` values a row, ``name`` has ``width``; with its ``shape``,
    an array holding one example (an image, a column) or its examples as columns is named so."""
    fix = f"reshape the data or build the network with Dense({width}, ...) first"
    if shape is not None and len(shape) == 2 and shape[0] * shape[1] == n_features:
        fix = (f"its shape {shape} holds {n_features} values, one example's worth: for one example (an image), "
               f"pass {name}.reshape(1, -1), one example a row")
    elif shape is not None and len(shape) == 2 and shape[0] == n_features < shape[1]:
        fix = (f"its {n_features} rows look like the features, one example a column: pass {name}.T, "
               "one example a row")
    return ShapeError(f"{name} has {width} features but the network's first layer takes {n_features}; {fix}")


# -- lazy arrays: rows read from disk (or densified) a batch at a time ----------------------------
def is_sparse(X: Any) -> bool:
    """A SciPy sparse matrix or array (SciPy is never imported to tell)."""
    import sys

    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def is_lazy(X: Any) -> bool:
    """A lazy array: rows gathered by ``X[index_array]``, such as a MappedArray or a sparse
    matrix. Not a pandas table, whose ``X[labels]`` selects columns: it is read whole."""
    return is_sparse(X) or (not isinstance(X, np.ndarray) and not hasattr(X, "iloc") and hasattr(X, "shape")
                            and hasattr(X, "__getitem__") and hasattr(X, "__len__"))


def lazy_features(X: Any, n_features: int, *, name: str = "X"):
    """A lazy ``X`` whose shape is checked as :func:`features` checks an array's (rows of
    ``n_features`` values, after flattening), before any row is read; a sparse matrix comes
    back as :class:`~deltaprop.data.streaming.SparseRows`, densified a batch at a time."""
    if is_sparse(X):
        from .data.streaming import SparseRows

        X = SparseRows(X)
    shape = tuple(X.shape)
    if len(shape) < 2:
        raise ShapeError(f"{name} must be 2-D (examples, features), got shape {shape}")
    if math.prod(shape[1:]) != n_features:
        raise _width_error(name, math.prod(shape[1:]), n_features)
    if shape[0] == 0:
        raise ShapeError(f"{name} has no rows")
    return X


def feature_rows(X: Any, rows: np.ndarray, n_features: int, dtype, *, name: str = "X") -> np.ndarray:
    """Rows ``rows`` (ascending reads a file in order) of a lazy ``X``, checked as
    :func:`features` checks an array in memory: same errors, a message naming the row's
    number in ``X``."""
    x = X[rows]
    if len(x) != len(rows):
        raise ShapeError(f"{name} returned {len(x)} rows when {len(rows)} were asked for")
    in_file = getattr(X, "rows_in_file", None)  # a view of some rows of a file names them by the file's numbers
    return features(x, n_features, dtype, name=name, rows=in_file(rows) if in_file is not None else rows)


#: Most classes a label column may imply (labels are 0 .. MAX_CLASSES - 1).
MAX_CLASSES = 100_000


def _shown(values: np.ndarray, k: int = 6) -> str:
    """A few distinct values of ``values`` as they are (no cast), for a message."""
    distinct = np.unique(values.ravel()[: 1 << 20])
    head = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in distinct[:k].tolist())
    return head + (", ..." if distinct.size > k else "")


def class_labels(y: Any, *, name: str = "labels", max_classes: int = MAX_CLASSES) -> np.ndarray:
    """1-D class ids as int64, each checked before the cast, so a message shows the value
    that is in the data: numbers only, whole, finite, in 0 .. ``max_classes`` - 1."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise DataError(f"{name} have dtype {y.dtype}, not numbers; class ids are whole numbers >= 0")
    if y.size == 0:
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise DataError(f"{name} must be whole-number class ids; found {_shown(y[bad])}")
    low, high = y.min().item(), y.max().item()  # Python numbers: float16 cannot hold max_classes
    if low < 0:
        raise DataError(f"{name} must be class ids >= 0; found {_shown(y[y < 0])}")
    if high >= max_classes:
        raise DataError(f"{name} go up to {_shown(np.array([high]))} (values found: {_shown(y)}), more than "
                        f"the at most {max_classes:,} classes supported; number the classes 0, 1, 2, ...")
    return y.astype(np.int64)


def cast_checked(x: np.ndarray, dtype, *, name: str = "X") -> np.ndarray:
    """``x`` as ``dtype``, its range checked first: a value too large for the type is
    reported as it is in the data (e.g. 1e+300 for float32), never as inf or NaN."""
    dtype = np.dtype(dtype)
    x = np.asarray(x)
    if dtype.kind == "f" and x.dtype.kind == "f" and x.dtype.itemsize > dtype.itemsize and x.size:
        limit = np.finfo(dtype).max
        with np.errstate(invalid="ignore"):  # the extremes first: no |x| copy of a table that fits
            big = None if not (x.max() > limit or x.min() < -limit) else np.abs(x) > limit
        if big is not None and big.any():
            value = x[big].flat[0]
            row = int(np.argwhere(big)[0][0])
            raise DataError(f"{name} holds {value:.6g} (first in row {row}), too large for {dtype.name} "
                            f"(overflow: its limit is {limit:.4g}); scale the data")
    return x.astype(dtype)


def all_finite(arr: np.ndarray) -> bool:
    """No NaN or ±inf in ``arr``, checked without a temporary the size of ``arr`` (a full
    ``isfinite`` mask of a training set would be a quarter of its size, at the peak): the
    smallest and largest element are finite exactly when every element is, and a NaN
    anywhere makes both NaN."""
    if arr.size == 0 or arr.dtype.kind not in "fc":
        return True
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(np.min(arr)) and np.isfinite(np.max(arr)))


def same_length(X_len: int, y_len: int, *, names: tuple[str, str] = ("X", "y")) -> None:
    if X_len != y_len:
        raise ShapeError(f"{names[0]} has {X_len} rows but {names[1]} has {y_len}; they must match one to one")


def history_records(records: Any, *, limit: float = math.inf, in_place: bool = False) -> list[dict[str, Any]]:
    """Per-epoch history records read from a file, checked: a list of mappings whose
    columns (:data:`deltaprop.training.HISTORY_KEYS`) are each missing, None or a real
    number (NaN means "not recorded"; ±inf and values beyond ±``limit`` are refused);
    ``epoch`` and ``steps`` are whole numbers >= 0. Returns the records with every column
    present (missing ones None; other entries, checked by their owners, kept as they are);
    any problem is a :class:`DataError` naming the record and the column. ``in_place``:
    the records are the caller's to give up (a file's, just parsed): the list returned is
    ``records``, each record replaced by its checked one as it is made, so a long history
    is never held twice. A history that certainly passes is checked in bulk, column by
    column; any other, one record at a time (which names the first problem)."""
    if not isinstance(records, list):
        raise DataError(f"the history must be a list of records, got {type(records).__name__}")
    from .training import HISTORY_KEYS

    empty = dict.fromkeys(HISTORY_KEYS)
    if _history_passes(records, limit):
        out = records if in_place else [None] * len(records)
        for i, record in enumerate(records):
            out[i] = _checked_record(i + 1, record, empty, passed=True)
        return out
    out = []
    for i, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataError(f"history record {i} is {type(record).__name__}, not a mapping of columns to numbers")
        for key in HISTORY_KEYS:
            if record.get(key) is not None:
                _history_value(i, key, record[key], limit)
        out.append(_checked_record(i, record, empty, passed=False))
    if in_place:
        records[:] = out
        return records
    return out


def _checked_record(i: int, record: dict[str, Any], empty: dict[str, None], *, passed: bool) -> dict[str, Any]:
    """Record ``i`` with every column present (``empty``: each None) and its diagnostics
    and alerts checked (its columns were); ``passed``: its diagnostics passed the bulk
    check already."""
    checked = {**empty, **record}
    diagnostics, alerts = record.get("diagnostics"), record.get("alerts")
    if diagnostics is not None or alerts:  # the diagnostics recorder's
        from .alerts import checked_alerts
        from .diagnostics import checked_diagnostics, passed_diagnostics

        try:
            checked["diagnostics"] = (passed_diagnostics(diagnostics) if passed and diagnostics is not None
                                      else checked_diagnostics(diagnostics))
            checked["alerts"] = checked_alerts(alerts) if alerts else []
        except DataError as exc:
            raise DataError(f"history record {i}: {exc}") from None
    return checked


_NONE = type(None)


def _history_passes(records: list, limit: float) -> bool:
    """Whether every record certainly passes :func:`history_records`' checks of the columns
    and the diagnostics (alerts are checked one by one, as they are few): the columns
    tested in bulk (NumPy over each column's numbers), the diagnostics by
    :func:`deltaprop.diagnostics.diagnostics_pass`. False when one may not: the
    one-by-one check then finds it and names it."""
    from .diagnostics import diagnostics_pass

    from .training import HISTORY_KEYS

    keys = HISTORY_KEYS
    whole = [k for k in keys if k in ("epoch", "steps")]
    real = [k for k in keys if k not in whole]
    numbers: list[Any] = []
    counts: list[Any] = []
    diagnostics = []
    for record in records:
        if type(record) is not dict:
            return False
        numbers.extend(map(record.get, real))
        counts.extend(map(record.get, whole))
        if record.get("diagnostics") is not None:
            diagnostics.append(record["diagnostics"])
    types = set(map(type, numbers))
    if not types <= {float, int, _NONE} or not set(map(type, counts)) <= {int, _NONE}:
        return False
    bound = min(limit, 2**62)
    if not all(0 <= v <= bound for v in counts if v is not None):
        return False
    if int in types and any(type(v) is int and abs(v) > bound for v in numbers):
        return False
    try:
        values = np.array(numbers, dtype=np.float64)  # None becomes NaN, which passes as NaN does
    except OverflowError:
        return False
    with np.errstate(invalid="ignore"):
        if np.any(np.isinf(values) | (np.abs(values) > limit)):
            return False
    return diagnostics_pass(diagnostics)


def _history_value(i: int, key: str, value: Any, limit: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"history record {i}: {key} is {value!r:.60}, not a number")
    if isinstance(value, int) and abs(value) > 2**62:
        raise DataError(f"history record {i}: {key} is {value:.3g}, out of range")
    if math.isinf(value) or abs(value) > limit:
        raise DataError(f"history record {i}: {key} is {value:.6g}, beyond the ±{limit:.0g} that can be used")
    if key in ("epoch", "steps") and not (value >= 0 and float(value).is_integer()):
        raise DataError(f"history record {i}: {key} must be a whole number >= 0, got {value!r}")
