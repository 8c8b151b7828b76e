"""Input scaling, standardising, one-hot labels and a stratified validation split."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from deltaprop.errors import ConfigError, DataError, ShapeError

__all__ = [
    "Standardizer",
    "from_one_hot",
    "one_hot",
    "scale_to_unit",
    "train_validation_split",
]


def pixel_maximum(x: np.ndarray) -> int:
    """The full scale of integer pixels ``x``: 255 for 8-bit levels (a uint8 array, or any
    integers up to 255, as arrays built from Python ints or read by pandas are int64), 65535
    for 16-bit ones; :class:`DataError` for negative values or values above 65535."""
    if x.size and x.min() < 0:
        raise DataError("integer pixels must be >= 0; these inputs hold negative integers. Use Standardizer "
                        "for signed data.")
    top = int(x.max()) if x.size else 0
    if top > 65535:
        raise DataError(f"integer pixels are 8- or 16-bit levels; these inputs reach {top}. Divide them by their "
                        "full scale first, or use Standardizer.")
    return 255 if x.dtype.itemsize == 1 or top <= 255 else 65535


def scale_to_unit(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Map inputs to [0, 1]: integer pixels are divided by their full scale
    (:func:`pixel_maximum`: 255 for 8-bit levels whatever the integer type, 65535 for 16-bit).

    Float arrays are taken as already scaled: they are checked to lie in [0, 1] and only
    cast, so 0/1 data such as parity passes through unchanged.
    """
    x = np.asarray(x)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ConfigError(f"scale_to_unit needs a float dtype, got {dtype}.")
    if x.dtype.kind == "b":
        return x.astype(dtype)
    if x.dtype.kind in "ui":
        out = x.astype(dtype)
        out *= dtype.type(1.0 / pixel_maximum(x))
        return out
    if x.dtype.kind == "f":
        if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise DataError("scale_to_unit got floats outside [0, 1] (or NaN/inf); float input "
                            "is taken as already scaled. Divide by the data's maximum first.")
        return x.astype(dtype, copy=False)
    raise DataError(f"scale_to_unit cannot scale {x.dtype} data.")


#: A float feature whose spread ``max − min`` is at most this share of its size
#: ``max(|min|, |max|)`` is constant to :class:`Standardizer` (timestamps 1e9 + 0..50 s,
#: 5e-8 of their size, are not); in a narrower float type, at most
#: :data:`_ROUNDING_STEPS` of its steps (float32: 4.8e-7, rounding noise of 1.0).
NEGLIGIBLE_SPREAD = 1e-8
_ROUNDING_STEPS = 4


def _negligible_spread(low: np.ndarray, high: np.ndarray, *, per_feature: bool) -> np.ndarray:
    """Per feature, whether ``high − low`` is 0 or at most :data:`NEGLIGIBLE_SPREAD` (for
    float32 inputs :data:`_ROUNDING_STEPS` float32 steps, 4.8e-7) of ``max(|low|, |high|)``;
    a warning names the features that are not exactly constant where that changes σ
    (``per_feature``, or one σ for features that are all so)."""
    narrow = low.dtype.itemsize <= 4  # float32 (or float16, whose values float32 holds: its steps would be 1e-3)
    share = max(NEGLIGIBLE_SPREAD, _ROUNDING_STEPS * float(np.finfo(np.float32).eps) if narrow else 0.0)
    low, high = low.astype(np.float64), high.astype(np.float64)
    spread = high - low
    constant = spread <= share * np.maximum(np.abs(low), np.abs(high))
    near = np.flatnonzero((constant & (spread > 0)).ravel())
    if near.size and (per_feature or constant.all()):
        j = int(near[0])
        lo, hi = low.ravel()[j], high.ravel()[j]
        others = f" (and {near.size - 1} other feature{'s' if near.size > 2 else ''} so)" if near.size > 1 else ""
        warnings.warn(f"feature {j + 1} of {low.size} varies only from {lo:.12g} to {hi:.12g}{others}, a spread of "
                      f"{hi - lo:.3g}, under {share:.2g} of its size: standardising takes it as constant "
                      f"(centred, not divided by its deviation, which would multiply a new value's difference by more "
                      f"than {1 / (hi - lo):.2g}); if those differences matter, subtract the offset from the column first",
                      UserWarning, stacklevel=3)
    return constant


def _check_overflow(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
    """Refuse (:class:`DataError`) statistics that overflowed float64: values beyond about
    1e154, whose squares are infinite, give an infinite σ, and every input would become 0."""
    bad = ~(np.isfinite(mean) & np.isfinite(std))
    if not bad.any():
        return
    rows = x.reshape(len(x), -1)
    with np.errstate(over="ignore", invalid="ignore"):  # the feature farthest from its mean overflowed,
        spread = np.abs(rows.astype(np.float64) - mean.reshape(-1)).max(axis=0)  # not a large constant one
    column = int(np.argmax(np.where(np.broadcast_to(bad, mean.shape).reshape(-1), spread, -1.0)))
    top = float(np.abs(rows[:, column]).max())
    raise DataError(f"feature {column + 1} of {spread.size} holds values up to {top:.3g}, too large to "
                    "standardise (their squares overflow float64): rescale that feature (divide it by a power "
                    "of ten, or take its logarithm), or drop it if such a value is a placeholder for a missing one")


class Standardizer:
    """Centre and scale inputs with statistics of the training set.

    ``mode="global"`` (seed 000): subtract the mean of each feature, divide by one
    standard deviation of all the centred values, ``(x - mu_j) / sigma`` with
    ``sigma^2 = mean_ij (x_ij - mu_j)^2``. ``mode="per_feature"``: ``(x - mu_j) / sigma_j``.
    Population deviations (ddof 0); a constant feature (``min == max``, such as a blank
    MNIST corner pixel) gets its value as mean and 1 as deviation, so it maps to 0 and
    nothing is divided by zero or by a rounding residue. A float feature whose spread is
    negligible beside its size (``max − min ≤ 1e-8 · max(|min|, |max|)``: 1.0 give or take
    1e-9; for float32 inputs ``4.8e-7``, four of its steps) is taken as constant too, with a
    ``UserWarning``: its σ would multiply a new value's difference by ~1e9. Features are
    everything after the first axis. Statistics are kept in float64; the result comes in
    the requested dtype (inputs it cannot hold exactly are centred in float64 first).
    """

    MODES = ("global", "per_feature")

    def __init__(self, mode: str = "global"):
        if mode not in self.MODES:
            raise ConfigError(f"Standardizer mode must be one of {self.MODES}, got {mode!r}.")
        self.mode = mode
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> Standardizer:
        """Learn mean and deviation from training inputs ``x`` (rows are examples)."""
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[0] == 0:
            raise ShapeError(f"Standardizer.fit needs (n, features...) with n >= 1, got {x.shape}.")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise DataError("Standardizer.fit: x contains NaN or inf.")
        mean = x.mean(axis=0, dtype=np.float64)
        constant = np.zeros(mean.shape, dtype=bool)
        if x.dtype.kind == "f":
            # A float column's mean is rounded (0.1 a thousand times averages to 0.1 + 1e-17),
            # so a constant column's deviation comes out ~1e-15, not 0, and dividing by it
            # would blow a new value up by 1e15: such a column is recognised by min == max,
            # and one that varies by 1e-9 around 1.0 by a spread negligible beside its size.
            low, high = x.min(axis=0), x.max(axis=0)
            mean = np.where(low == high, low.astype(np.float64), mean)
            constant = _negligible_spread(low, high, per_feature=self.mode == "per_feature")
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, naming the feature
            if self.mode == "global":
                # Var of the centred data, computed in float64 chunks of rows to bound memory.
                sq = 0.0
                step = max(1, (1 << 22) // max(1, mean.size))
                for start in range(0, x.shape[0], step):
                    d = x[start:start + step].astype(np.float64) - mean
                    sq += float(np.vdot(d, d))
                std = np.asarray(0.0 if constant.all() else np.sqrt(sq / x.size))
            else:
                std = np.where(constant, 0.0, x.std(axis=0, dtype=np.float64))
        _check_overflow(x, mean, std)
        self.mean = mean
        self.std = np.where(std > 0, std, 1.0)
        return self

    def _require_fit(self) -> None:
        if self.mean is None:
            from deltaprop.errors import NotFittedError

            raise NotFittedError("Standardizer is not fitted: call fit(x_train) first.")

    def transform(self, x: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Return ``(x - mean) / std`` in ``dtype``. Inputs ``dtype`` cannot hold exactly
        (float64 or int32 data for float32) are centred in float64 first, a block of rows
        at a time: cast first, 1e9 + 0..50 would keep only multiples of 64."""
        self._require_fit()
        x = np.asarray(x)
        if x.shape[1:] != self.mean.shape:
            raise ShapeError(f"Standardizer was fitted on features of shape {self.mean.shape}, "
                             f"got {x.shape[1:]}.")
        dtype = np.dtype(dtype)
        if np.can_cast(x.dtype, dtype, "safe"):
            out = x.astype(dtype)
            out -= self.mean.astype(dtype)
            out *= (1.0 / self.std).astype(dtype)
            return out
        out = np.empty(x.shape, dtype)
        step = max(1, (1 << 22) // max(1, self.mean.size))
        for start in range(0, len(x), step):
            out[start:start + step] = (x[start:start + step] - self.mean) * (1.0 / self.std)
        return out

    def fit_transform(self, x: np.ndarray, dtype=np.float32) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x, dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state, for model metadata."""
        self._require_fit()
        return {"mode": self.mode, "shape": list(self.mean.shape),
                "mean": self.mean.ravel().tolist(), "std": np.ravel(self.std).tolist()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Standardizer:
        """Rebuild from :meth:`to_dict`'s output, checking every field."""
        try:
            obj = cls(state["mode"])
            shape = state["shape"]
            mean = np.asarray(state["mean"], dtype=np.float64)
            std = np.asarray(state["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid Standardizer state: {exc!r}.") from None
        if not isinstance(shape, (list, tuple)) or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in shape):
            raise ConfigError(f"invalid Standardizer state: shape must be whole numbers above 0 (the shape of one "
                              f"example's features), got {str(shape)[:80]}.")
        shape = tuple(int(d) for d in shape)
        n = math.prod(shape)  # a Python int: a product beyond int64 cannot wrap round to the means' count
        want_std = 1 if obj.mode == "global" else n
        if mean.shape != (n,) or std.shape != (want_std,):
            raise ConfigError(f"invalid Standardizer state: mean has {mean.size} values and std "
                              f"{std.size} for features of shape {shape} in mode {obj.mode!r}.")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ConfigError("invalid Standardizer state: mean and std must be finite, std > 0.")
        obj.mean = mean.reshape(shape)
        obj.std = std.reshape(()) if obj.mode == "global" else std.reshape(shape)
        return obj

    def __repr__(self) -> str:
        state = "unfitted" if self.mean is None else f"features={self.mean.shape}"
        return f"Standardizer(mode={self.mode!r}, {state})"


def _class_ids(labels: np.ndarray, what: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ShapeError(f"{what} must be 1-D class ids, got shape {labels.shape}.")
    if labels.dtype.kind == "f":
        if not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
            raise DataError(f"{what} must be whole numbers (class ids).")
    elif labels.dtype.kind not in "iub":
        raise DataError(f"{what} must be integer class ids, got {labels.dtype}.")
    if labels.size and labels.min() < 0:
        raise DataError(f"{what} must be >= 0, found {labels.min()}.")
    return labels.astype(np.int64)


def one_hot(labels: np.ndarray, n_classes: int | None = None, dtype=np.float32) -> np.ndarray:
    """Rows of zeros with a one at each label: ``(n,)`` ids -> ``(n, n_classes)``."""
    ids = _class_ids(labels)
    if n_classes is None:
        n_classes = int(ids.max()) + 1 if ids.size else 0
    if ids.size and ids.max() >= n_classes:
        raise DataError(f"label {ids.max()} does not fit n_classes={n_classes}.")
    out = np.zeros((ids.size, n_classes), dtype=dtype)
    out[np.arange(ids.size), ids] = 1
    return out


def from_one_hot(y: np.ndarray) -> np.ndarray:
    """Class ids (int64) from one-hot or probability rows: the index of each row's maximum.
    A single column holds the ids themselves (as ``df[["label"]]`` gives); its argmax
    would make every row class 0."""
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] == 0:
        raise ShapeError(f"from_one_hot needs (n, n_classes) rows, got shape {y.shape}.")
    if y.shape[1] == 1:
        return _class_ids(y[:, 0])
    return y.argmax(axis=1).astype(np.int64)


def train_validation_split(x: np.ndarray, y: np.ndarray, fraction: float = 0.1,
                           seed: int | None = 0, *, keep_order: bool = False):
    """Split off a stratified validation set: ``(x_train, y_train, x_val, y_val)``.

    Each class gives ``round(fraction * its count)`` examples to validation, so class
    proportions match in both parts, but keeps at least one for training (a class whose
    every row is held out would have an output that is never trained). ``y`` may be class ids or one-hot rows. The rows are
    chosen by ``numpy.random.default_rng(seed)``, and each part comes back shuffled, or
    with ``keep_order`` in the order the rows have in ``x`` (the same rows either way).
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"fraction must be in (0, 1), got {fraction!r}.")
    x, y = np.asarray(x), np.asarray(y)
    ids = from_one_hot(y) if y.ndim == 2 else _class_ids(y)
    if len(x) != len(ids):
        raise ShapeError(f"x has {len(x)} rows but y has {len(ids)} labels.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    # Group the shuffled rows by class (stable, so each class keeps its random order),
    # then the first round(fraction * count) of each group go to validation.
    grouped = order[np.argsort(ids[order], kind="stable")]
    classes, starts, counts = np.unique(ids[grouped], return_index=True, return_counts=True)
    n_val = np.minimum(np.floor(fraction * counts + 0.5).astype(np.int64), counts - 1)
    rank = np.arange(len(grouped)) - np.repeat(starts, counts)
    is_val = np.zeros(len(ids), dtype=bool)
    is_val[grouped] = rank < np.repeat(n_val, counts)
    val = order[is_val[order]]
    train = order[~is_val[order]]
    if keep_order:
        val, train = np.sort(val), np.sort(train)
    return x[train], y[train], x[val], y[val]
