"""Losses ``L(a, y)``: means over the batch, so every gradient carries the ``1/n``.

Every loss is a mean of per-row terms, ``L = (1/n) Σ_i ℓ_i`` (:meth:`Loss.row_values`
gives the ``ℓ_i``). With row weights ``w`` (``fit(sample_weight=...)``, scaled to mean 1
over the training set) it is ``L = (1/n) Σ_i w_i ℓ_i``: a weight of k counts a row k
times, 0 removes it, and the gradient of row ``i`` is scaled by ``w_i``.

Targets reach a loss as dense float rows ``y`` of shape ``(n, k)`` (one-hot rows for
classification); :meth:`Loss.prepare_targets` turns class ids into that form once, before
training. A loss gives its value, ``∂L/∂a`` for the network output ``a``, and, where the
output layer and the loss cancel algebraically, the fused ``δ = ∂L/∂z`` at the output
layer's input (see :meth:`CrossEntropy.fused_delta`).
"""

from __future__ import annotations

import contextlib
import functools
import math
from abc import ABC

from typing import Any, ClassVar

import numpy as np

from . import _checks
from .buffers import BufferOwner
from .errors import ConfigError, DataError, ShapeError
from .layers import Layer, Sigmoid, Softmax, _exp_floor, softmax_rows
from .registry import Registry



@functools.cache
def _eps(dtype: np.dtype) -> float:
    """The dtype's machine epsilon: probabilities are clipped there before ``log``."""
    return float(np.finfo(dtype).eps)

class Loss(BufferOwner, ABC):
    """Base class: ``value(a, y) -> float``, ``row_values(a, y) -> ℓ_i``,
    ``gradient(a, y) -> ∂L/∂a``, each with optional row ``weights``. A subclass writes the
    elementwise terms once (``_terms``, summing to ``n L``) and the gradient of the mean
    (``_gradient``, the ``1/n`` included); the weighting is done here for every loss."""

    type_name: ClassVar[str] = "Loss"
    #: Whether targets are class labels (accuracy is meaningful).
    classification: ClassVar[bool] = True

    def __init__(self) -> None:
        self._buffers: dict[tuple, np.ndarray] = {}

    def config(self) -> dict[str, Any]:
        return {"type": self.type_name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{self.type_name}({args})"

    def __call__(self, a: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
        return self.value(a, y, weights)

    # -- targets --------------------------------------------------------------------------
    def prepare_targets(self, y, n_outputs: int, dtype) -> np.ndarray:
        """Targets as float rows ``(n, n_outputs)``: class ids become one-hot rows."""
        return targets_as_rows(y, n_outputs, dtype, allow_real=not self.classification)

    def targets_are_classes(self, rows: np.ndarray) -> bool:
        """Whether prepared targets stand for classes, so that accuracy means something."""
        return self.classification

    #: A single output ``a`` predicts class 1 when ``a ≥ decision_threshold``.
    decision_threshold: ClassVar[float] = 0.5

    def check_output(self, net) -> None:
        """Raise :class:`ConfigError` if the network's output layer cannot give this loss
        what it is defined on (every output goes with a squared error)."""

    # -- math -----------------------------------------------------------------------------
    # ``y``: target rows shaped as ``a``; class ids (1-D, one a row) are turned into rows
    # by :meth:`prepare_targets` first. ``weights``: one number a row.
    def value(self, a: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
        """``L = (1/n) Σ_i ℓ_i``, or ``(1/n) Σ_i w_i ℓ_i`` with row ``weights`` (shape ``(n,)``)."""
        _some_rows(a)
        y = self._target_rows(a, y)
        if weights is None:
            return float(self._terms(a, y).sum(dtype=np.float64)) / a.shape[0]
        return float(np.dot(self._row_weights(a, weights).astype(np.float64), self.row_values(a, y))) / a.shape[0]

    def row_values(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The per-row terms ``ℓ_i`` (float64, shape ``(n,)``) whose mean is :meth:`value`."""
        return self._terms(a, self._target_rows(a, y)).sum(axis=1, dtype=np.float64)

    def gradient(self, a: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """``∂L/∂a`` (the ``1/n`` included; row ``i`` scaled by ``w_i`` when weighted).

        The array returned is the loss's own buffer, overwritten by its next call (a
        training step allocates nothing): copy it to keep it."""
        _some_rows(a)
        g = self._gradient(a, self._target_rows(a, y))
        if weights is not None:
            g *= self._row_weights(a, weights)[:, None]
        return g

    def _target_rows(self, a: np.ndarray, y) -> np.ndarray:
        """``y`` as rows shaped as ``a``: class ids become rows; other shapes are refused (a
        1-D ``y`` would otherwise broadcast across the columns of ``a``)."""
        if isinstance(y, np.ndarray) and y.shape == a.shape:
            return y
        y = np.asarray(y)
        if y.ndim == 1 and a.ndim == 2 and y.shape[0] == a.shape[0]:
            return self.prepare_targets(y, a.shape[1], a.dtype)
        if y.shape != a.shape:
            raise ShapeError(f"the targets have shape {y.shape} but the outputs a have shape {a.shape}: give one "
                             "class id a row, or target rows as wide as the outputs "
                             "(loss.prepare_targets(ids, n_outputs, dtype) makes them)")
        return y

    @staticmethod
    def _row_weights(a: np.ndarray, weights) -> np.ndarray:
        """``weights`` as an array of one number a row of ``a``."""
        w = weights if isinstance(weights, np.ndarray) else np.asarray(weights, dtype=a.dtype)
        if w.shape != (a.shape[0],):
            raise ShapeError(f"weights must hold one number a row, shape ({a.shape[0]},); got shape {w.shape}")
        return w

    def fused_delta(self, last_layer: Layer, a: np.ndarray, y: np.ndarray,
                    weights: np.ndarray | None = None) -> np.ndarray | None:
        """``∂L/∂z`` at the input of ``last_layer`` when it has a cheap closed form, else None."""
        _some_rows(a)
        delta = self._fused_delta(last_layer, a, self._target_rows(a, y))
        if delta is not None and weights is not None:
            delta *= self._row_weights(a, weights)[:, None]
        return delta

    def _terms(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The elementwise terms, shape ``(n, k)``, whose sum over a row is ``ℓ_i`` (a reused buffer)."""
        raise NotImplementedError(f"{type(self).__name__} must define _terms (or override value and row_values)")

    def _gradient(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``∂L/∂a`` of the unweighted mean (a reused buffer)."""
        raise NotImplementedError(f"{type(self).__name__} must define _gradient (or override gradient)")

    def _fused_delta(self, last_layer: Layer, a: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        return None


def _some_rows(a: np.ndarray) -> None:
    """Refuse outputs of no rows: the mean ``(1/n) Σ_i ℓ_i`` and its gradient are 0/0 at ``n = 0``."""
    if a.ndim < 1 or a.shape[0] == 0:
        raise ShapeError(f"the outputs a have no rows (shape {a.shape}): a loss is a mean over rows, (1/n) Σ_i ℓ_i, "
                         "undefined for n = 0; give at least one row")


def target_array(y) -> np.ndarray:
    """``y`` as a NumPy array of numbers or booleans: a pandas column or table of nullable
    numbers (``Int64``, ``boolean``) as float64, a missing value as NaN (refused later with
    its row); anything else (class names, text, objects) a :class:`DataError` naming the fix."""
    source = y
    try:
        y = np.asarray(y)
    except ValueError as exc:  # ragged rows: a one-hot row too short or too long
        raise DataError(f"the targets cannot be read as an array: {_checks.ragged(source, 'y') or exc}") from None
    if y.dtype == object and _checks.is_pandas(source):  # a nullable Int64 column, numbers and booleans
        with contextlib.suppress(DataError):  # names (a category column): refused below, with the fix for names
            y = _checks.pandas_numbers(source, "y")
    if y.dtype == object or not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
        category = _checks.is_pandas(source) and str(getattr(source, "dtype", "")) == "category"
        raise DataError(_not_numbers(y, category=category))
    return y


def targets_as_rows(y, n_outputs: int, dtype, *, allow_real: bool, regression_advice: bool = True) -> np.ndarray:
    """Validate targets and return them as float rows of shape ``(n, n_outputs)``.

    Accepts class ids (1-D integers in ``[0, n_outputs)``; with one output, 0/1 labels)
    or rows of shape ``(n, n_outputs)`` (one-hot for classification losses).
    ``regression_advice``: a refused label of a single output names the regression losses
    (not for a loss, such as binary cross-entropy, whose real targets are probabilities)."""
    y = target_array(y)
    if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and n_outputs == 1):
        y1 = y.reshape(-1)
        if np.issubdtype(y1.dtype, np.floating) and n_outputs == 1 and allow_real:
            return _finite_rows(y1.reshape(-1, 1), dtype)
        return _id_rows(y1, n_outputs, dtype, regression_advice=regression_advice and allow_real)
    if y.ndim == 2:
        if y.shape[1] == 1 != n_outputs:  # a column of ids, as y.reshape(-1, 1) or df[["label"]] gives
            raise ShapeError(
                f"targets have shape {y.shape}, one column, but the network has {n_outputs} outputs; for class ids "
                "pass them 1-D (y.ravel(); of a pandas table, its column df['label'], not df[['label']]), else "
                "rows as wide as the last layer"
            )
        if y.shape[1] != n_outputs:
            raise ShapeError(
                f"targets have {y.shape[1]} columns but the network has {n_outputs} outputs; "
                "pass class ids (1-D) or rows as wide as the last layer"
            )
        rows = _finite_rows(y, dtype)
        if not allow_real and (rows.min(initial=0) < 0 or rows.max(initial=0) > 1):
            raise DataError("one-hot / probability targets must lie in [0, 1]")
        return rows
    raise ShapeError(f"targets must be 1-D class ids or 2-D rows, got shape {y.shape}")


def _id_rows(y1: np.ndarray, n_outputs: int, dtype, *, regression_advice: bool) -> np.ndarray:
    """Class ids ``y1`` (1-D numbers) as one-hot rows (a column of 0/1 for one output), each
    checked first: whole, finite, in ``0 .. n_classes − 1``; a message names the first row
    that is not and the fix its labels suggest."""
    if np.issubdtype(y1.dtype, np.floating):
        bad = ~np.isfinite(y1) | (y1 != np.round(y1))
        if bad.any():
            raise DataError(_not_whole(y1, int(np.argmax(bad)), int(np.count_nonzero(bad))))
    n_classes = max(n_outputs, 2) if n_outputs == 1 else n_outputs
    if y1.size and (y1.min() < 0 or y1.max() >= n_classes):  # checked before the cast: 1e20 has no int64
        raise DataError(_out_of_range(y1, n_outputs, n_classes, regression_advice))
    ids = y1.astype(np.int64)
    if n_outputs == 1:
        return ids.astype(dtype).reshape(-1, 1)
    rows = np.zeros((ids.size, n_outputs), dtype=dtype)
    rows[np.arange(ids.size), ids] = 1
    return rows


def _not_whole(y1: np.ndarray, row: int, count: int) -> str:
    """Why float labels with a fraction, a NaN or an infinity in row ``row`` are refused."""
    value = y1[row].item()
    said = (f"class labels must be whole numbers (class ids 0, 1, 2, ...), but row {row} holds {value!r}"
            f"{f' (and {count - 1} other rows)' if count > 1 else ''}")
    if math.isnan(value):
        return (f"{said}: a missing label. A row without its class cannot be trained or scored on: drop the rows "
                "whose label is missing, e.g. keep = ~np.isnan(y); X, y = X[keep], y[keep]")
    if math.isinf(value):
        return f"{said}: fix or drop that row"
    return f"{said}. Pass integer class ids, or one-hot rows of shape (n, classes)"


def _out_of_range(y1: np.ndarray, n_outputs: int, n_classes: int, regression_advice: bool) -> str:
    """Why labels outside ``0 .. n_classes − 1`` are refused, and the fix their values suggest:
    labels numbered from 1 (1..k for k classes), two labels other than 0 and 1 for a single
    output (−1/1, 1/2), or a network too narrow."""
    outside = (y1 < 0) | (y1 >= n_classes)
    row = int(np.argmax(outside))
    bad = y1[row]
    shown = int(bad) if abs(bad) < 2**63 else f"{bad:g}"
    said = (f"class label {shown} is out of range (row {row}): the network has {n_outputs} output"
            f"{'s' if n_outputs != 1 else ''}, so labels must lie in 0..{n_classes - 1}.")
    low, high = y1.min().item(), y1.max().item()
    distinct = np.unique(y1) if n_outputs == 1 else None
    if distinct is not None and distinct.size == 2:
        a, b = (f"{v:g}" if isinstance(v, float) else str(v) for v in distinct.tolist())
        fix = (f" The labels are {a} and {b}: give class 1 as 1 and the other as 0, e.g. y = (y == {b}).astype(int) "
               f"(predict then gives 1 for {b})")
    elif low >= 1 and high == n_classes:
        fix = (f" The labels run from {low:g} to {high:g}, numbered from 1: pass y - 1, ids 0..{n_classes - 1} (and "
               "add 1 to what predict returns)")
    else:
        fix = (" Make the last layer as wide as the number of classes, or fix the labels (rows of a class the "
               "network has no output for cannot be scored: drop them).")
    if regression_advice and n_outputs == 1:
        fix += (" For real-valued targets (a regression) pass them as floats, or use "
                "MeanSquaredError(classification=False)")
    return said + fix


def _not_numbers(y: np.ndarray, *, category: bool = False) -> str:
    """Why targets of a dtype that is no number type are refused, and what to pass instead:
    class names (strings, a pandas category column) become ids by ``np.unique``, or the
    scikit-learn estimator takes them as they are."""
    said = f"targets must be numbers (class ids or one-hot rows), got dtype {y.dtype}"
    if y.ndim == 0 and y.item() is None:
        return "the targets are None: pass y, the labels (class ids or one-hot rows) or target values, one a row of X"
    if not y.size:
        return said
    first = y.ravel()[0]
    first = first.item() if isinstance(first, np.generic) else first
    said = f"{said} (such as {first!r:.40})"
    try:  # numbers written as text ("1", a CSV column read as strings) or held as objects
        y.astype(np.float64)
    except (TypeError, ValueError):
        if isinstance(first, (str, bytes)):
            codes = " (of a pandas category column: ids = y.cat.codes, names = y.cat.categories)" if category else ""
            return (f"{said}: fit, evaluate and predict work with class ids 0, 1, 2, ...: map the class names to "
                    "ids first, names, ids = deltaprop.data.encode_labels(y) (as np.unique(y, return_inverse=True), "
                    f"missing labels refused){codes}; pass ids (names[k] is class k's name), and a test set's labels "
                    "by the same names, deltaprop.data.encode_labels(y_test, names)[1]; keep the names with the "
                    "model: deltaprop.save(net, path, class_names=names). Or train "
                    "deltaprop.sklearn.NeuralNetClassifier, which takes the names as they are and predicts names")
        return f"{said}; pass class ids 0, 1, 2, ... or rows of numbers"
    return f"{said}: convert them to numbers first, e.g. np.asarray(y, dtype=float)"


def _finite_rows(y: np.ndarray, dtype) -> np.ndarray:
    """``y`` as rows of ``dtype``, every value finite; a :class:`DataError` names the first row
    that is not, and whether the data holds NaN or infinity or a value ``dtype`` cannot hold."""
    with np.errstate(over="ignore"):  # a value beyond the dtype's range becomes inf: told below
        rows = np.ascontiguousarray(y, dtype=dtype)
    if not np.all(np.isfinite(rows)):
        row = int(np.argwhere(~np.isfinite(rows))[0][0])
        if np.all(np.isfinite(np.asarray(y)[row])):
            raise DataError(f"targets hold values too large for {np.dtype(dtype).name} (first in row {row}); scale "
                            "them (and the predictions back), or build the network with dtype='float64'")
        raise DataError(f"targets contain NaN or infinity (first in row {row}); clean or drop those rows")
    return rows


class _LikelihoodLoss(Loss):
    """A negative log-likelihood on probabilities ``a`` or, with ``from_logits=True``, on
    the logits ``z`` before the output activation. After its own output activation (the
    ``matching_output`` layer) the network starts backward at ``δ = (a − y)/n``."""

    matching_output: ClassVar[type[Layer]]

    def __init__(self, *, from_logits: bool = False):
        super().__init__()
        if not isinstance(from_logits, bool):
            raise ConfigError(f"from_logits must be True or False, got {from_logits!r}")
        self.from_logits = from_logits

    def config(self):
        return {"type": self.type_name, "from_logits": self.from_logits}

    @property
    def decision_threshold(self) -> float:  # type: ignore[override]
        return 0.0 if self.from_logits else 0.5  # σ(z) ≥ ½ exactly when z ≥ 0

    def check_output(self, net) -> None:
        """Probabilities (``from_logits=False``) come from the matching activation (Softmax
        for CrossEntropy, Sigmoid for BinaryCrossEntropy) as the last layer: on any other
        output ``−Σ y log a`` is not a likelihood and can fall below 0 without bound. Logits
        (``from_logits=True``) are the last Dense layer's ``z``: after a Softmax or Sigmoid
        the activation would be applied twice."""
        last = next((layer for layer in reversed(net.layers) if layer.type_name != "Dropout"), None)
        name = type(last).__name__ if last is not None else "nothing"
        want = self.matching_output.__name__
        if not self.from_logits and not isinstance(last, self.matching_output):
            raise ConfigError(
                f"{self.type_name}() needs probabilities from a {want} output layer, but the network ends in "
                f"{name}; add dp.{want}() as the last layer, or use {self.type_name}(from_logits=True) to train "
                "on the outputs as logits"
            )
        if self.from_logits and isinstance(last, (Softmax, Sigmoid)):
            raise ConfigError(
                f"{self.type_name}(from_logits=True) applies the {want} itself, but the network already ends in "
                f"{name}; remove that last layer, or use {self.type_name}() on its probabilities"
            )

    def _fused_delta(self, last_layer, a, y):
        # Where the output delta starts (seed 000, "o − y"; seed 003's δ^L = ∇_a C ⊙ σ'(z^L)).
        # For a softmax output a = softmax(z) and L = −(1/n) Σ y log a, the chain rule through
        # the softmax Jacobian collapses: ∂L/∂z = (a − y)/n whenever each row of y sums to 1;
        # for a sigmoid output and binary cross-entropy, σ'(z) = a(1 − a) cancels the
        # denominator the same way. Starting here skips the output layer's backward and never
        # divides by a probability, so a probability of exactly 0 or 1 still gives a finite,
        # exact gradient.
        if self.from_logits or not isinstance(last_layer, self.matching_output):
            return None
        delta = self._buffer("delta", a.shape, a.dtype)
        self._output_minus_target(a, y, delta)
        delta *= 1.0 / a.shape[0]
        return delta

    def _output_minus_target(self, a: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
        """``out = a − y``: ``n ∂L/∂z`` for probabilities ``a`` of the matching output."""
        np.subtract(a, y, out=out)


#: Probability targets of cross-entropy whose rows sum to 1 within this are normalised; others are refused.
TARGET_SUM_TOLERANCE = 1e-3


class CrossEntropy(_LikelihoodLoss):
    """Categorical cross-entropy ``L = −(1/n) Σ_i Σ_k y_ik log a_ik``.

    ``a`` are softmax probabilities, clipped at ``eps`` of the dtype so that a zero
    probability gives a large finite loss rather than ``log 0``. With
    ``from_logits=True``, ``a`` is the pre-softmax ``z`` and ``log softmax`` is computed
    by log-sum-exp: ``log a_k = z_k − m − log Σ_i e^{z_i − m}``, ``m = max z``.
    Backward starts at the softmax's input, ``∂L/∂z = (a Σ_k y_k − y)/n``: ``(a − y)/n`` for
    rows that sum to 1, as class ids and the rows :meth:`prepare_targets` gives do.
    """

    type_name = "CrossEntropy"
    matching_output = Softmax

    @staticmethod
    def _check_classes(n_outputs: int) -> None:
        """One output a class, at least 2: the softmax of a single output is 1 whatever ``z`` is."""
        if n_outputs == 1:
            raise ConfigError(
                "CrossEntropy needs one output per class (a softmax over at least 2 units); "
                "for a single sigmoid output use BinaryCrossEntropy"
            )

    def check_output(self, net) -> None:
        super().check_output(net)
        self._check_classes(net.n_outputs)

    def prepare_targets(self, y, n_outputs, dtype):
        self._check_classes(n_outputs)
        rows = super().prepare_targets(y, n_outputs, dtype)
        # −Σ_k y_k log a_k is a likelihood only where Σ_k y_k = 1 (its gradient, ∂L/∂z =
        # (a Σ_k y_k − y)/n, is (a − y)/n there): rows a rounding away from 1 (soft labels
        # printed to a few decimals) are divided by their sum; rows further away are refused.
        if n_outputs > 1 and rows.size:
            sums = rows.sum(axis=1, dtype=np.float64)
            bad = np.flatnonzero(np.abs(sums - 1.0) > TARGET_SUM_TOLERANCE)
            if bad.size:
                raise DataError(
                    f"cross-entropy targets must be one-hot or probability rows that sum to 1; "
                    f"row {int(bad[0])} sums to {sums[bad[0]]:g}. Pass class ids, normalise the rows, "
                    "or use BinaryCrossEntropy for independent 0/1 outputs"
                )
            if np.any(sums != 1.0):
                rows = (rows / sums[:, None]).astype(rows.dtype, copy=False)
        return rows

    def _output_minus_target(self, a, y, out):
        """``out = a Σ_k y_k − y`` per row: ``n ∂L/∂z`` of a softmax output for any target rows
        (``a − y`` where a row sums to 1, as one-hot and prepared rows do, bit for bit)."""
        sums = self._buffer("target_sums", (a.shape[0], 1), a.dtype)
        np.add.reduce(y, axis=1, keepdims=True, out=sums)
        np.multiply(a, sums, out=out)
        out -= y

    def _log_probs(self, a: np.ndarray) -> np.ndarray:
        logp = self._buffer("logp", a.shape, a.dtype)
        if self.from_logits:
            col = self._buffer("col", (a.shape[0], 1), a.dtype)
            np.maximum.reduce(a, axis=1, keepdims=True, out=col)
            np.subtract(a, col, out=logp)
            e = self._buffer("exp", a.shape, a.dtype)
            np.maximum(logp, _exp_floor(a.dtype), out=e)
            np.exp(e, out=e)
            np.add.reduce(e, axis=1, keepdims=True, out=col)
            np.log(col, out=col)
            logp -= col
        else:
            np.maximum(a, _eps(a.dtype), out=logp)
            np.log(logp, out=logp)
        return logp

    def _terms(self, a, y):
        logp = self._log_probs(a)
        logp *= y
        np.negative(logp, out=logp)
        return logp

    def _gradient(self, a, y):
        n = a.shape[0]
        g = self._buffer("grad", a.shape, a.dtype)
        if self.from_logits:  # softmax(z) Σ_k y_k − y, over n
            softmax_rows(a, g, self._buffer("col", (n, 1), a.dtype))
            self._output_minus_target(g, y, g)
        else:  # −y / a, with a clipped as in value
            np.maximum(a, _eps(a.dtype), out=g)
            np.divide(y, g, out=g)
            np.negative(g, out=g)
        g *= 1.0 / n
        return g


class BinaryCrossEntropy(_LikelihoodLoss):
    """``L = −(1/n) Σ_i Σ_k [y log a + (1 − y) log(1 − a)]`` for independent 0/1 outputs.

    ``a`` is clipped to ``[eps, 1 − eps]``. With ``from_logits=True`` the stable form
    ``max(z, 0) − z y + log(1 + e^{−|z|})`` is used. After a Sigmoid output the network
    starts backward at ``δ = (a − y)/n``, the sigmoid's derivative cancelling."""

    type_name = "BinaryCrossEntropy"
    matching_output = Sigmoid


    def targets_are_classes(self, rows):
        """One class a row: 0/1 targets of a single output, or one-hot rows. Rows with
        several 1s (or none) are independent labels, for which the argmax accuracy would
        count a row right whatever the other labels are: no accuracy is given for them."""
        if rows.shape[1] == 1 or not rows.size:
            return True
        return bool(np.all((rows == 0) | (rows == 1)) and np.all(rows.sum(axis=1) == 1))

    def prepare_targets(self, y, n_outputs, dtype):
        y = target_array(y)
        if y.ndim == 1 and n_outputs > 1:  # class ids into one-hot rows of independent outputs
            return targets_as_rows(y, n_outputs, dtype, allow_real=False)
        rows = targets_as_rows(y.reshape(-1, 1) if y.ndim == 1 else y, n_outputs, dtype, allow_real=True,
                               regression_advice=False)
        if rows.size and (rows.min() < 0 or rows.max() > 1):
            raise DataError("binary cross-entropy targets must lie in [0, 1]")
        return rows

    def _terms(self, a, y):
        t = self._buffer("t", a.shape, a.dtype)
        if self.from_logits:
            u = self._buffer("u", a.shape, a.dtype)
            np.abs(a, out=u)
            np.negative(u, out=u)
            np.maximum(u, _exp_floor(a.dtype), out=u)
            np.exp(u, out=u)
            np.log1p(u, out=u)
            np.maximum(a, 0.0, out=t)
            t += u
            np.multiply(a, y, out=u)
            t -= u
            return t
        eps = _eps(a.dtype)
        np.clip(a, eps, 1.0 - eps, out=t)
        u = self._buffer("u", a.shape, a.dtype)
        np.subtract(1.0, t, out=u)
        np.log(t, out=t)
        np.log(u, out=u)
        t *= y
        one_minus_y = self._buffer("omy", a.shape, a.dtype)
        np.subtract(1.0, y, out=one_minus_y)
        u *= one_minus_y
        t += u
        np.negative(t, out=t)
        return t

    def _gradient(self, a, y):
        n = a.shape[0]
        g = self._buffer("grad", a.shape, a.dtype)
        if self.from_logits:  # σ(z) − y, over n
            np.multiply(a, 0.5, out=g)
            np.tanh(g, out=g)
            g *= 0.5
            g += 0.5
            g -= y
        else:  # (a − y) / (a (1 − a)), with a clipped
            eps = _eps(a.dtype)
            t = self._buffer("t", a.shape, a.dtype)
            np.clip(a, eps, 1.0 - eps, out=t)
            np.subtract(t, y, out=g)
            u = self._buffer("u", a.shape, a.dtype)
            np.subtract(1.0, t, out=u)
            u *= t
            g /= u
        g *= 1.0 / n
        return g


class MeanSquaredError(Loss):
    """``L = (1/n) Σ_i ‖a_i − y_i‖²``: squares summed over outputs, averaged over the batch.

    Seed 001 sums the squares of one example (``error = Σ (y − a)²``) and averages the
    gradients of a mini-batch, which is exactly this loss: ``∂L/∂a = 2(a − y)/n``. Keras
    and PyTorch also divide by the number of outputs ``k``; multiply the learning rate by
    ``k`` to compare. Class ids are one-hot encoded, as in seed 001. ``classification``:
    True (the targets are classes, ids or rows in [0, 1], and accuracy is reported), False
    (real values) or None (decided from the targets: 0/1 or one-hot rows are classes)."""

    type_name = "MeanSquaredError"

    def __init__(self, *, classification: bool | None = None):
        super().__init__()
        if classification is not None and not isinstance(classification, bool):
            raise ConfigError(
                f"classification must be True, False or None (decide from the targets), got {classification!r}"
            )
        self._classification = classification

    @property
    def classification(self) -> bool:  # type: ignore[override]
        return True if self._classification is None else self._classification

    def config(self):
        out = super().config()
        if self._classification is not None:
            out["classification"] = self._classification
        return out

    def targets_are_classes(self, rows):
        """Explicit ``classification``, or else: the targets are one-hot rows (or 0/1 for
        a single output), as class ids become; real-valued targets are regression."""
        if self._classification is not None:
            return self._classification
        if not rows.size or not np.all((rows == 0) | (rows == 1)):
            return False
        return rows.shape[1] == 1 or bool(np.all(rows.sum(axis=1) == 1))

    def prepare_targets(self, y, n_outputs, dtype):
        y = target_array(y)
        if self._classification is False:  # real values, whatever their dtype (ages, counts)
            if y.ndim == 1 and n_outputs > 1:
                raise ShapeError(f"regression targets for {n_outputs} outputs must be rows of shape (n, {n_outputs}); "
                                 f"got one value a row, shape {y.shape}")
            if y.dtype == np.bool_ or np.issubdtype(y.dtype, np.number):
                y = y.astype(np.float64)
            return targets_as_rows(y, n_outputs, dtype, allow_real=True)
        is_ids = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
        real = (not is_ids or n_outputs == 1) and not (self._classification and np.issubdtype(y.dtype, np.integer))
        rows = targets_as_rows(y, n_outputs, dtype, allow_real=real)
        # classification=True: the targets are classes (their accuracy is reported), so real
        # values such as 5.3 or a float label 2.0 for one output are refused, not thresholded
        if self._classification and rows.size and (rows.min() < 0 or rows.max() > 1):
            bad = rows[(rows < 0) | (rows > 1)][0]
            raise DataError(
                f"MeanSquaredError(classification=True) takes class ids or 0/1 (one-hot) target rows, but a "
                f"target is {bad:g}: for real-valued targets use MeanSquaredError(classification=False); for "
                f"classes give ids in 0..{max(n_outputs, 2) - 1}"
            )
        return rows

    def _terms(self, a, y):
        d = self._buffer("diff", a.shape, a.dtype)
        np.subtract(a, y, out=d)
        np.multiply(d, d, out=d)
        return d

    def _gradient(self, a, y):
        g = self._buffer("grad", a.shape, a.dtype)
        np.subtract(a, y, out=g)
        g *= 2.0 / a.shape[0]
        return g


#: Loss names for configs and the command line; class names and short forms are aliases.
LOSSES: Registry[type[Loss]] = Registry(
    "loss",
    {"cross_entropy": CrossEntropy, "binary_cross_entropy": BinaryCrossEntropy, "mse": MeanSquaredError},
    aliases={"crossentropy": CrossEntropy, "categorical_cross_entropy": CrossEntropy, "ce": CrossEntropy,
             "binarycrossentropy": BinaryCrossEntropy, "bce": BinaryCrossEntropy,
             "mean_squared_error": MeanSquaredError, "meansquarederror": MeanSquaredError},
)


def loss_from_name(name: str | Loss, **settings) -> Loss:
    """A loss from a name in :data:`LOSSES` and its settings (an instance is returned as it is)."""
    return name if isinstance(name, Loss) else LOSSES.create(name, **settings)


#: A loss from its :meth:`Loss.config` mapping.
loss_from_config = LOSSES.create
