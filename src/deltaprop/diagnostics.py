"""Diagnostics: what backpropagation does inside a network, layer by layer.

One forward and one backward pass of the inference function (dropout off) on a probe batch
give, for every layer ``l``:

* the mean and standard deviation of its output ``aˡ``;
* sigmoid and tanh: the share of entries whose slope ``σ'(zˡ)`` is under
  :data:`SATURATED_SLOPE` of its peak. Seed 003: ``∂C/∂w = δ a`` and ``δ`` carries the
  factor ``σ'(z)``, so a saturated unit (``a ≈ 0`` or ``1``) learns slowly; and the share of
  units saturated at the same end on every probe row (stuck: a near-constant output that
  passes back under that share of the peak slope for any input, as a dead ReLU passes none);
  for the network's sigmoid or tanh output, the share of the entries off their target's
  flat end (a one-hot row's entries on the wrong side of 1/2) that are saturated (off
  target). An output saturated at its target's end is what fitting it looks like (a one-hot
  row's nine zeros): under squared error only the others learn slowly;
* ReLU and leaky ReLU: the share of units with ``z ≤ 0`` on every probe row (dead: a ReLU
  unit passes no gradient back, so nothing moves it out of that state; a leaky ReLU unit
  still passes ``α`` times it, so only ReLU layers, and leaky ReLUs of slope ``α = 0``,
  raise the dead-unit alert);
* ``‖δ‖``: the Frobenius norm of ``∂L/∂aˡ`` that reached the layer in backward (for a
  Dense layer ``δ = ∂L/∂z``); None for a softmax or sigmoid output fused with its loss;
* Dense: whether its units are copies of a few (columns of ``W`` and entries of ``b``): the
  symmetry that zero initialisation never breaks (seed 002);

and for every parameter ``θ``: ``‖∂L/∂θ‖`` of the loss alone (weight decay is an update
rule, never part of this gradient), ``‖θ‖`` and, when the caller passes the values before the
last training step, the update-to-weight ratio ``‖Δθ‖/‖θ‖``. With row weights ``w`` (a run's
``sample_weight``) the loss, ``δ`` and ``∂L/∂θ`` are those of ``L = (1/n) Σ w_i ℓ_i``, the
loss the run minimises; the activation statistics count every probe row. With row weights
and class targets, the probe's weighted accuracy ``Σ w_i [ŷ_i = y_i] / Σ w_i`` too: a constant
answer scores the weighted share of its class, the chance level of a weighted run (accuracy
in the history counts every row once). With class targets, the probe's accuracy (every row
once) and, for any loss, its value: those of the weights as they are, where the history's
running loss and accuracy are means over an epoch's steps, each batch scored before its
step (and with dropout on).

A statistic that is not finite (values that overflowed on their way to a divergence) is
recorded as None, as a gap: history records, checkpoints, reports and the live page hold
finite numbers only, so the last good checkpoint of such a run stays readable; a
parameter's ``grad_norm`` is None only then.

Everything here is a pure function of a network and arrays: the pass runs on a copy, so the
network's weights, gradients and :meth:`~deltaprop.network.Network.trace` are untouched.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import itemgetter
from typing import Any

import numpy as np

from . import _checks
from .errors import ConfigError, DataError, ShapeError
from .layers import Dense, LeakyReLU, ReLU, Sigmoid, Tanh
from .losses import Loss
from .network import Network, predictions_from_outputs

#: Rows in the probe batch the recorder takes from the training data (or all, if fewer).
#: One forward and backward of 512 rows costs about four steps at batch 128: under 1% of an
#: epoch of 60,000 examples, and enough rows that a unit called dead is dead on many inputs.
PROBE_SIZE = 512

#: An entry of a sigmoid or tanh layer is saturated when its slope is below this share of
#: the slope's peak (σ' = a(1 − a) ≤ 1/4, tanh' = 1 − a² ≤ 1). 4% is a sigmoid output outside
#: [0.01, 0.99] or a tanh output beyond ±0.98: the gradient through it is 25× smaller than
#: at the centre, which is seed 003's "the weight has stopped learning (or is learning slowly)".
SATURATED_SLOPE = 0.04

#: Two units of a Dense layer count as identical when their weights differ by at most this
#: share of the larger unit's largest weight (exact equality can be broken by BLAS rounding),
#: or by :data:`IDENTICAL_EPSILONS` of the dtype's machine epsilon where that is more: in
#: float32 the rounding of a few hundred steps of zero-initialised units already spreads them
#: by 1.6e-6 of the largest weight (by 2e-16 in float64), though they are copies of one unit.
#: The share is of the units compared, never of the layer's largest weight: one step on
#: unscaled inputs can blow a few units up to 1e6 while the rest keep their distinct 0.5-sized
#: He draws, which a layer-wide 1e-4 × 1e6 would call copies of each other.
IDENTICAL_TOLERANCE = 1e-6
IDENTICAL_EPSILONS = 1000


@dataclass(frozen=True)
class LayerStats:
    """One layer on the probe batch; statistics that do not apply to it are None."""

    index: int
    layer: str
    mean: float | None
    std: float | None
    saturated: float | None = None
    dead: float | None = None
    delta_norm: float | None = None
    identical_units: bool | None = None
    stuck: float | None = None
    #: the network's sigmoid/tanh output: share of the entries off their target's flat end that are saturated
    off_target: float | None = None


@dataclass(frozen=True)
class ParameterStats:
    """One parameter (``layers.{i}.W``): loss gradient norm, value norm, last update ratio."""

    name: str
    layer: int
    grad_norm: float | None
    norm: float | None
    update_ratio: float | None = None


@dataclass(frozen=True)
class Diagnostics:
    """Per-layer and per-parameter statistics of one network on one probe batch."""

    probe_size: int
    layers: tuple[LayerStats, ...]
    parameters: tuple[ParameterStats, ...]
    #: with row weights and class targets: ``Σ w_i [ŷ_i = y_i] / Σ w_i`` on the probe batch
    weighted_accuracy: float | None = None
    #: with class targets: the accuracy of the weights as the epoch ends on the probe batch
    #: (every row once, dropout off), where the history's is a running mean over the epoch's steps
    accuracy: float | None = None
    #: the loss on the probe batch (dropout off; weighted as the run's), None where not finite
    loss: float | None = None

    def parameter(self, name: str) -> ParameterStats:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"no parameter {name!r}; parameters: {', '.join(p.name for p in self.parameters)}")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form (history records and checkpoints keep this)."""
        out = {
            "probe_size": self.probe_size,
            "layers": [dict(vars(s)) for s in self.layers],  # scalars only: asdict's deep copy is
            "parameters": [dict(vars(s)) for s in self.parameters],  # 10x slower, for a 45,000-epoch resume
        }
        for key in _OPTIONAL:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Diagnostics":
        return cls(
            int(data["probe_size"]),
            tuple(LayerStats(**s) for s in data["layers"]),
            tuple(ParameterStats(**s) for s in data["parameters"]),
            *(data.get(key) for key in _OPTIONAL),
        )


def checked_diagnostics(data: Any) -> dict[str, Any] | None:
    """A record's diagnostics read from a file, checked field by field (numbers finite or
    None); :class:`~deltaprop.errors.DataError` names what is wrong."""
    if data is None:
        return None
    try:
        diag = Diagnostics.from_dict(data)
    except (TypeError, KeyError, ValueError, AttributeError, OverflowError) as exc:  # int(inf): OverflowError
        raise DataError(f"its diagnostics are malformed ({type(exc).__name__}: {exc})") from None
    if isinstance(data["probe_size"], bool) or not isinstance(data["probe_size"], int):
        raise DataError(f"its diagnostics hold probe_size = {data['probe_size']!r:.40}, not a whole number")
    for key in _SHARES:
        share = getattr(diag, key)
        if share is not None and not (_is_kind(share, "float") and 0 <= share <= 1):
            raise DataError(f"its diagnostics hold {key} = {share!r:.40}, not a number from 0 to 1")
    if diag.loss is not None and not _is_kind(diag.loss, "float"):
        raise DataError(f"its diagnostics hold loss = {diag.loss!r:.40}, not a finite number")
    for s in (*diag.layers, *diag.parameters):
        for f in fields(s):
            value = getattr(s, f.name)
            kind = f.type.removesuffix(" | None")
            if not (_is_kind(value, kind) or (value is None and f.type.endswith(" | None"))):
                raise DataError(f"its diagnostics hold {f.name} = {value!r:.40}, not {_KINDS[kind]}")
    return diag.as_dict()


#: The optional numbers of a record's diagnostics, in field order; those that are shares (0 to 1).
_OPTIONAL = ("weighted_accuracy", "accuracy", "loss")
_SHARES = ("weighted_accuracy", "accuracy")


def _stats_form(cls) -> tuple:
    """How a file's mappings of ``cls`` (:class:`LayerStats`, :class:`ParameterStats`) are
    read in bulk: its field names (as a set, the required ones), the defaults, the values
    in field order, and the field types."""
    names = tuple(f.name for f in fields(cls))
    required = frozenset(f.name for f in fields(cls) if f.default is dataclasses.MISSING)
    defaults = {f.name: f.default for f in fields(cls) if f.default is not dataclasses.MISSING}
    return names, frozenset(names), required, defaults, itemgetter(*names), tuple(f.type for f in fields(cls))


_LAYER_FORM = _stats_form(LayerStats)
_PARAMETER_FORM = _stats_form(ParameterStats)
_NONE = type(None)


def _stats_rows(items: Any, form: tuple, rows: list[tuple]) -> bool:
    """Append the values of ``items`` (a file's list of stats mappings) to ``rows``, one
    tuple in field order each; False where one is not a mapping of the fields (those with
    defaults may be missing): the one-by-one check says what is wrong with it."""
    _, names, required, defaults, in_order, _ = form
    if type(items) is not list:
        return False
    for s in items:
        if type(s) is not dict:
            return False
        keys = s.keys()
        if keys != names:
            if not (keys <= names and keys >= required):
                return False
            s = {**defaults, **s}
        rows.append(in_order(s))
    return True


def _values_pass(kind: str, values: Sequence[Any]) -> bool:
    """Whether every entry of ``values`` is of the field type ``kind`` (as :func:`_is_kind`
    says, or None where the type allows it), tested in bulk."""
    optional = kind.endswith(" | None")
    base = kind.removesuffix(" | None")
    allowed = {"int": {int}, "str": {str}, "bool": {bool}, "float": {float, int}}.get(base)
    if allowed is None:
        return False
    if not set(map(type, values)) <= allowed | ({_NONE} if optional else set()):
        return False
    if base != "float":
        return True
    try:
        numbers = np.array(values, dtype=np.float64)  # None becomes NaN: NaN only where the entry is None
    except OverflowError:  # a whole number past float64's range: the one-by-one check says what it says
        return False
    return not np.isinf(numbers).any() and int(np.isnan(numbers).sum()) == values.count(None)


def diagnostics_pass(items: Sequence[Any]) -> bool:
    """Whether :func:`checked_diagnostics` accepts every one of ``items`` (a history's
    diagnostics, None left out), tested in bulk, field by field over all of them: True
    only when it certainly does; False where one may be refused, which the one-by-one
    check then names."""
    layers: list[tuple] = []
    parameters: list[tuple] = []
    shares: list = []
    losses: list = []
    for n, data in enumerate(items, start=1):
        if type(data) is not dict or type(data.get("probe_size")) is not int:
            return False
        if not (_stats_rows(data.get("layers"), _LAYER_FORM, layers)
                and _stats_rows(data.get("parameters"), _PARAMETER_FORM, parameters)):
            return False
        shares.extend(data[key] for key in _SHARES if data.get(key) is not None)
        if data.get("loss") is not None:
            losses.append(data["loss"])
        if n % 256 == 0 or n == len(items):  # a few hundred records at a time: the rows stay small
            for form, rows in ((_LAYER_FORM, layers), (_PARAMETER_FORM, parameters)):
                if rows and not all(_values_pass(kind, column) for kind, column in zip(form[-1], zip(*rows))):
                    return False
                rows.clear()
    if losses and not _values_pass("float", losses):
        return False
    if not shares:
        return True
    if not _values_pass("float", shares):
        return False
    shares = np.array(shares, dtype=np.float64)
    return bool(np.all((shares >= 0) & (shares <= 1)))


def passed_diagnostics(data: dict[str, Any]) -> dict[str, Any]:
    """``checked_diagnostics(data)`` of diagnostics :func:`diagnostics_pass` accepted,
    built without checking them again: the same mapping, in the same order."""
    out = {"probe_size": data["probe_size"]}
    for key, (names, _, _, defaults, in_order, _) in (("layers", _LAYER_FORM), ("parameters", _PARAMETER_FORM)):
        out[key] = [dict(zip(names, in_order(s if len(s) == len(names) else {**defaults, **s}))) for s in data[key]]
    for key in _OPTIONAL:
        if data.get(key) is not None:
            out[key] = data[key]
    return out


#: What each field type of :class:`LayerStats` and :class:`ParameterStats` holds, in words.
_KINDS = {"int": "a whole number", "str": "a name", "bool": "true or false", "float": "a finite number"}


def _is_kind(value: Any, kind: str) -> bool:
    """Whether ``value`` read from a file is of the field type ``kind`` (a float: finite)."""
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) if kind == "int" else math.isfinite(value)


def probe_rows(n: int, size: int = PROBE_SIZE) -> np.ndarray:
    """Indices of a fixed probe batch: ``min(size, n)`` rows spread evenly over ``0 … n−1``
    (no random draw, so the run's random streams are the same with or without diagnostics)."""
    n = _checks.positive_int("the number of rows", n)
    size = _checks.positive_int("probe size", size)
    return np.unique(np.linspace(0, n - 1, min(size, n)).round().astype(np.int64))


def diagnose(net: Network, X, y, loss: Loss, *, previous: Sequence[np.ndarray] | None = None,
             sample_weight=None) -> Diagnostics:
    """Diagnostics of ``net`` on the probe batch ``(X, y)`` (all its rows).

    ``previous``: the parameter values before the last training step, in
    ``net.parameters()`` order, for the update ratios ``‖θ − previous‖ / ‖θ‖``.
    ``sample_weight``: one weight ``≥ 0`` per row, as ``fit`` takes it (scaled to mean 1):
    the gradients are then those of the weighted loss ``(1/n) Σ w_i ℓ_i``."""
    if not isinstance(net, Network):
        raise ConfigError(f"diagnose needs a deltaprop Network, got {type(net).__name__}")
    if not isinstance(loss, Loss):
        raise ConfigError(f"loss must be a deltaprop loss such as CrossEntropy(), got {loss!r}")
    loss.check_output(net)  # as fit does: no statistics of a loss the network cannot be trained with
    with warnings.catch_warnings():  # a zero-initialised network warned when it was built
        warnings.simplefilter("ignore", UserWarning)
        work = net.copy()
    if previous is not None:
        previous = _checked_previous(previous)
    weights = None
    if sample_weight is not None:
        from .training import row_weights

        weights = row_weights(sample_weight, len(X), net.dtype)
    return diagnose_copy(work, net, X, y, own_loss(loss), previous=previous, weights=weights)


def own_loss(loss: Loss) -> Loss:
    """The same loss with buffers of its own: a loss reuses its buffers, and the training
    step's output δ (what ``trace`` shows) lives in one of them."""
    twin = copy.copy(loss)
    twin._buffers = {}
    for name, value in vars(loss).items():  # a loss wrapping another (scikit-learn's objective)
        if isinstance(value, Loss) and value is not loss:
            setattr(twin, name, own_loss(value))
    return twin


def diagnose_copy(work: Network, net: Network, X, y, loss: Loss, *, previous=None, weights=None) -> Diagnostics:
    """:func:`diagnose` using ``work``, a network of the same layers, and ``loss`` (see
    :func:`own_loss`) as scratch: ``net``'s weights are copied into ``work`` first (a recorder
    keeps one ``work`` for the whole run). ``weights``: the rows' weights, already scaled
    (None: every row counts once)."""
    x = _checks.features(X, net.n_features, net.dtype)
    targets = loss.prepare_targets(y, net.n_outputs, net.dtype)
    _checks.same_length(x.shape[0], targets.shape[0])
    np.copyto(work._flat_values, net._flat_values)
    with work.dropout_bypassed():
        a = work._forward(x, True)
        weighted = None if weights is None else _weighted_accuracy(a, targets, loss, weights)
        hits = _probe_accuracy(a, targets, loss)
        extra = () if weights is None else (weights,)
        with np.errstate(all="ignore"):  # a loss that overflowed is recorded as a gap
            value = _finite(float(loss.value(a, targets, *extra)))  # a loss may keep what its gradient needs
        work._backward(loss, a, targets, weights)
    params = net.parameters()
    if previous is not None:
        if len(previous) != len(params):
            raise ConfigError(f"previous holds {len(previous)} arrays; the network has {len(params)} parameters")
        for k, (p, before) in enumerate(zip(params, previous)):
            if np.shape(before) != p.value.shape:
                raise ShapeError(f"previous[{k}] has shape {np.shape(before)}; parameter {p.name} of the network has "
                                 f"shape {p.value.shape} (pass the values before the step, in net.parameters() order)")
    with np.errstate(under="ignore"):  # squares of tiny gradients may underflow to 0: harmless
        last = len(work.layers) - 1
        layers = tuple(_layer_stats(i, layer, work._outputs[i], work._deltas[i], targets if i == last else None)
                       for i, layer in enumerate(work.layers))
        return Diagnostics(int(x.shape[0]), layers, tuple(_parameter_stats(work, params, previous)), weighted,
                           hits, value)


def _probe_accuracy(a: np.ndarray, targets: np.ndarray, loss: Loss) -> float | None:
    """The share of rows whose class outputs ``a`` choose as training counts its accuracy;
    None for targets that are no classes."""
    if not loss.targets_are_classes(targets) or len(targets) == 0:
        return None
    hits = predictions_from_outputs(a, threshold=loss.decision_threshold) == predictions_from_outputs(targets)
    return _finite(float(np.mean(hits)))


def _weighted_accuracy(a: np.ndarray, targets: np.ndarray, loss: Loss, weights: np.ndarray) -> float | None:
    """``Σ w_i [ŷ_i = y_i] / Σ w_i`` of outputs ``a`` (classes chosen as training counts its
    accuracy); None for targets that are no classes, or rows of weight 0 only."""
    total = float(np.sum(weights, dtype=np.float64))
    if not loss.targets_are_classes(targets) or not total > 0:
        return None
    hits = predictions_from_outputs(a, threshold=loss.decision_threshold) == predictions_from_outputs(targets)
    return _finite(float(np.sum(weights[hits], dtype=np.float64)) / total)


def _checked_previous(previous) -> list[np.ndarray]:
    """``previous`` as a list of float64 arrays; :class:`ConfigError` where it is not a
    sequence of arrays of numbers."""
    if isinstance(previous, (str, bytes)) or not hasattr(previous, "__iter__"):
        raise ConfigError(f"previous must be a list of arrays, one per parameter in net.parameters() order; "
                          f"got {type(previous).__name__}")
    out = []
    for k, before in enumerate(previous):
        try:
            array = np.asarray(before, dtype=np.float64)
        except (TypeError, ValueError):
            kind = getattr(before, "dtype", type(before).__name__)
            raise ConfigError(f"previous[{k}] holds {kind} values, not numbers; pass the parameter values before "
                              "the step, in net.parameters() order") from None
        out.append(array)
    return out


def _parameter_stats(work: Network, params, previous) -> list[ParameterStats]:
    """Per parameter: ‖∂L/∂θ‖ from ``work``'s backward, ‖θ‖ and ‖θ − previous‖/‖θ‖."""
    stats = []
    k = 0
    for i, layer in enumerate(work.layers):
        for p in layer.parameters():
            value = params[k].value
            norm = _norm(value)
            ratio = None
            if previous is not None and norm > 0:
                ratio = _finite(_norm(value, minus=previous[k]) / norm)
            stats.append(ParameterStats(f"layers.{i}.{p.name}", i, _finite(_norm(p.grad)), _finite(norm), ratio))
            k += 1
    return stats


def _norm(v: np.ndarray, minus: np.ndarray | None = None) -> float:
    """‖v − minus‖₂ (‖v‖₂ without ``minus``) accumulated in float64, :data:`UNIT_BLOCK`
    entries at a time: no float64 copy of a whole layer's weights."""
    v = np.asarray(v).ravel()
    minus = None if minus is None else np.asarray(minus).ravel()
    total = 0.0
    for start in range(0, v.size, UNIT_BLOCK):
        block = v[start:start + UNIT_BLOCK].astype(np.float64)
        if minus is not None:
            block -= minus[start:start + UNIT_BLOCK]
        total += float(np.dot(block, block))
    return math.sqrt(total)


def _finite(x: float) -> float | None:
    """``x``, or None where it is not finite (see the module's docstring)."""
    return x if math.isfinite(x) else None


def _layer_stats(index: int, layer, a: np.ndarray, delta: np.ndarray | None, targets=None) -> LayerStats:
    with np.errstate(over="ignore", invalid="ignore"):  # overflowed outputs: recorded as None
        mean, std = float(np.mean(a, dtype=np.float64)), float(np.std(a, dtype=np.float64))
    return LayerStats(
        index=index,
        layer=layer.type_name,
        mean=_finite(mean),
        std=_finite(std),
        saturated=saturated_share(layer, a),
        dead=dead_share(layer, a),
        delta_norm=None if delta is None else _finite(_norm(delta)),
        identical_units=identical_units(layer) if isinstance(layer, Dense) else None,
        stuck=stuck_share(layer, a),
        off_target=None if targets is None else off_target_share(layer, a, targets),
    )


def _slope(layer, a: np.ndarray) -> np.ndarray | None:
    """Sigmoid/tanh: the slope of each entry of ``a`` as a share of its peak (sigmoid
    ``4a(1 − a)``, tanh ``1 − a²``); None for other layers."""
    if isinstance(layer, Sigmoid):
        return 4.0 * a * (1.0 - a)
    if isinstance(layer, Tanh):
        return 1.0 - a * a
    return None


def saturated_share(layer, a: np.ndarray) -> float | None:
    """Sigmoid/tanh: share of entries of ``a`` whose slope is under :data:`SATURATED_SLOPE`
    of its peak (sigmoid ``4a(1 − a)``, tanh ``1 − a²``); None for other layers."""
    slope = _slope(layer, a)
    if slope is None:
        return None
    return float(np.count_nonzero(slope < SATURATED_SLOPE) / max(slope.size, 1))


def stuck_share(layer, a: np.ndarray) -> float | None:
    """Sigmoid/tanh: share of units (columns of ``a``) whose slope is under
    :data:`SATURATED_SLOPE` of its peak on every row, at the same end (every row above the
    midpoint, 1/2 or 0, or every row below it): such a unit outputs nearly one value whatever
    the input and passes back under 4% of the peak slope, as a dead ReLU passes none. None
    for other layers."""
    slope = _slope(layer, a)
    if slope is None or a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        return None
    flat = slope < SATURATED_SLOPE
    mid = 0.5 if isinstance(layer, Sigmoid) else 0.0
    stuck = np.all(flat & (a > mid), axis=0) | np.all(flat & (a < mid), axis=0)
    return float(np.count_nonzero(stuck) / a.shape[1])


def off_target_share(layer, a: np.ndarray, targets: np.ndarray) -> float | None:
    """Sigmoid/tanh output: of the entries of ``a`` not on the flat end their target is on
    (for a one-hot row, those on the wrong side of 1/2), the share whose slope is under
    :data:`SATURATED_SLOPE` of its peak: under squared error ``δ = (a − y) σ'(z)``, so they
    learn slowly, while an entry saturated at its target's end is fitted. 0 where every entry
    is at its target's end; None for other layers or targets of another shape."""
    slope = _slope(layer, a)
    if slope is None or np.shape(targets) != a.shape or a.size == 0:
        return None
    mid = 0.5 if isinstance(layer, Sigmoid) else 0.0
    y = np.asarray(targets, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        at_end = _slope(layer, y) < SATURATED_SLOPE  # a target outside the range counts as on its nearest end
        off = ~(at_end & ((a > mid) == (y > mid)))
        far = np.count_nonzero(off)
    return float(np.count_nonzero(off & (slope < SATURATED_SLOPE)) / far) if far else 0.0


def dead_share(layer, a: np.ndarray) -> float | None:
    """ReLU/leaky ReLU: share of units whose ``z ≤ 0`` (so ``a ≤ 0``) on every row; else None."""
    if not isinstance(layer, (ReLU, LeakyReLU)) or a.shape[1] == 0:
        return None
    return float(np.count_nonzero(np.all(a <= 0, axis=0)) / a.shape[1])


def identical_units(layer: Dense) -> bool:
    """Whether the units of a Dense layer with more than one unit are copies: they fall into
    at most half as many distinct units (see :func:`distinct_units`) as the layer has. Zero
    initialisation makes every unit a copy of the first; float32 rounding may split the
    copies into a few groups that then train apart (50 units as 3 distinct ones), but the
    layer still computes only those few functions."""
    width = layer.W.value.shape[1]
    if width < 2:
        return False
    return distinct_units(layer, limit=width // 2) <= width // 2


def distinct_units(layer: Dense, limit: int | None = None) -> int:
    """How many distinct units (columns ``u`` of ``W`` stacked on ``b``) a Dense layer has:
    units with ``‖uᵢ − uⱼ‖∞ ≤ r·max(‖uᵢ‖∞, ‖uⱼ‖∞)`` count once, ``r`` being
    :data:`IDENTICAL_TOLERANCE` (or :data:`IDENTICAL_EPSILONS` machine epsilons).
    ``limit``: stop counting beyond it.

    Cheap on a healthy layer: copies have sizes ``‖u‖∞`` within a factor ``1 − r`` of each
    other, so units are first parted by ``ln ‖u‖∞`` (gap ``−ln(1 − r)``); each part's
    tolerance is ``tol = r·`` its largest size. Units are then projected on up to
    :data:`PROJECTIONS` fixed directions ``v``; two copies' projections differ by at most
    ``‖v‖₁·tol``, so units split apart by a wider gap in any projection are distinct without
    comparing their weights. Only units that stay together in every projection are
    compared entry by entry."""
    W, b = layer.W.value, layer.b.value
    info = np.finfo(W.dtype)
    share = max(IDENTICAL_TOLERANCE, IDENTICAL_EPSILONS * float(info.eps))
    if W.shape[1] == 0:
        return 0

    def units(columns=slice(None)) -> np.ndarray:  # units' columns as float64 (W stacked on b)
        return np.vstack([W[:, columns], b[None, columns]]).astype(np.float64, copy=False)

    # sizes and projections a block of W's rows at a time: no float64 copy of the whole layer
    size = np.abs(b).astype(np.float64)
    directions = _directions(W.shape[0] + 1)
    projections = directions[:, -1:] * b.astype(np.float64)
    step = max(1, UNIT_BLOCK // W.shape[1])
    for start in range(0, W.shape[0], step):
        block = W[start:start + step].astype(np.float64)
        projections += directions[:, start:start + len(block)] @ block
        np.maximum(size, np.max(np.abs(block), axis=0), out=size)
    size = np.maximum(size, info.tiny)
    labels = _split(np.zeros(W.shape[1], dtype=np.int64), np.log(size), -math.log1p(-share))
    top = np.zeros(int(labels.max()) + 1)
    np.maximum.at(top, labels, size)
    tol = share * top[labels]  # per unit: r times the largest size in its part
    for v, projection in zip(directions, projections):
        labels = _split(labels, projection, 2.0 * float(np.sum(np.abs(v))) * tol)
        if limit is not None and int(labels.max()) + 1 > limit:
            return int(labels.max()) + 1  # at least one distinct unit per part
    return _count_copies(units, labels, tol, limit)


#: Fixed directions :func:`distinct_units` projects the units on before comparing them.
PROJECTIONS = 4

#: Weights :func:`distinct_units` converts to float64 at a time (whole rows of the layer).
UNIT_BLOCK = 1 << 16


def _split(labels: np.ndarray, p: np.ndarray, gap) -> np.ndarray:
    """Parts refined by ``p``: units of one part whose sorted ``p`` are more than ``gap``
    (a number, or one per unit, the same within a part) apart go to different parts.
    Labels come back as 0, 1, …."""
    order = np.lexsort((p, labels))
    cut = np.ones(order.size, dtype=bool)
    gaps = np.broadcast_to(np.asarray(gap, dtype=np.float64), p.shape)[order][1:]
    cut[1:] = (labels[order][1:] != labels[order][:-1]) | (np.diff(p[order]) > gaps)
    out = np.empty_like(labels)
    out[order] = np.cumsum(cut) - 1
    return out


def _count_copies(units, labels: np.ndarray, tol: np.ndarray, limit: int | None) -> int:
    """Distinct units within each part of ``labels``, compared entry by entry (``tol``: one
    per unit, the same within a part; ``units(columns)``: those units as float64 columns)."""
    count = 0
    for part in np.split(np.argsort(labels, kind="stable"), np.flatnonzero(np.diff(np.sort(labels))) + 1):
        while part.size:
            these = units(part)
            part = part[np.max(np.abs(these - these[:, :1]), axis=0) > tol[part[0]]]
            count += 1
            if limit is not None and count > limit:
                return count
    return count


@functools.lru_cache(maxsize=16)
def _directions(n: int) -> np.ndarray:
    """:data:`PROJECTIONS` fixed directions of ``n`` entries in [−1, 1] (the same every call)."""
    v = np.random.default_rng(20240).uniform(-1.0, 1.0, (PROJECTIONS, n))
    v.setflags(write=False)
    return v
