"""Preprocessing layers: the model owns its input scaling.

A network's first layers may turn raw inputs into what it was trained on, as Keras's
``Rescaling`` and ``Normalization`` layers do: :class:`Rescaling` (``a = s · x``, e.g.
``s = 1/255`` for 8-bit pixels) and :class:`Standardization` (``a = (x − μ) / σ`` with μ
and σ from the training split). They have no trainable parameters and live in the
architecture, so a model file carries them and every front end that runs the network
(``predict``, ``evaluate``, ``fit``, the command line, the scikit-learn wrapper) applies
them: raw inputs in, the same predictions everywhere. Backward stops at the first layer
with parameters, so they cost no gradient work.

Inputs reach these layers already cast to the network's dtype: float32 keeps about seven
significant digits, so features whose offset is more than ~10⁵ times their spread need
``dtype="float64"`` (``fit`` warns of a feature the cast rounds by more than 0.1% of its
range). Used on their own, never built, they compute as the other layers do
(see :mod:`deltaprop.layers`): a float32 or float64 input in its own dtype, anything else
in float32.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .errors import ConfigError, ShapeError
from .layers import Layer

__all__ = [
    "PREPROCESSING", "Rescaling", "Standardization", "auto_scaling", "describe_inputs", "input_layer",
    "layer_scaling", "standardization_for", "unit_scaling", "with_input_layer",
]

#: Most features a Standardization layer may declare (its statistics live in JSON).
MAX_FEATURES = 1 << 20


def _finite_floats(name: str, values: Any, *, positive: bool = False) -> np.ndarray:
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple, np.ndarray)) or not 0 < len(values) <= MAX_FEATURES:
        raise ConfigError(f"{name} must be a list of 1 to {MAX_FEATURES:,} numbers")
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{name} must hold numbers only")
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).all() or (positive and not (arr > 0).all()):
        raise ConfigError(f"{name} must be finite{' and > 0' if positive else ''}")
    return arr


def _in_dtype(name: str, values: np.ndarray, dtype: np.dtype, *, nonzero: bool = False) -> np.ndarray:
    """``values`` (float64) in the dtype a network computes in, refused (:class:`ConfigError`)
    where one overflows it, or, with ``nonzero``, where a nonzero one rounds to 0 there: the
    layer would turn every input into ±inf, NaN or 0."""
    with np.errstate(over="ignore", under="ignore"):
        out = values.astype(dtype)
    lost = ~np.isfinite(out) | ((out == 0) & (values != 0) if nonzero else False)
    if lost.any():
        v = float(values[np.argmax(lost)])
        raise ConfigError(f"{name} {v:g} is {'beyond' if abs(v) > 1 else 'below'} what {np.dtype(dtype).name} holds: "
                          f"the layer would map every input to {'±inf or NaN' if abs(v) > 1 else '0'}; "
                          "use dtype float64, or scale the data")
    return out


class Rescaling(Layer):
    """``a = s · x``: raw inputs times a constant (``1/255`` maps 8-bit pixels to [0, 1])."""

    type_name = "Rescaling"

    def __init__(self, scale: float):
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
            got = repr(scale) if isinstance(scale, (str, bool)) or scale is None else f"a {type(scale).__name__}"
            raise ConfigError(f"Rescaling scale must be one number > 0 (e.g. 1/255), got {got[:80]}")
        self.scale = float(_finite_floats("Rescaling scale", float(scale), positive=True)[0])
        if not math.isfinite(1.0 / self.scale):  # x / (1/s) is how the scaling is told and exported
            raise ConfigError(f"Rescaling scale must be at least {np.finfo(np.float64).tiny:g}, got {self.scale:g}")
        with np.errstate(over="ignore", under="ignore"):  # float32 until built: a float64 network's s may exceed it
            self._factor = np.float32(self.scale)

    def build(self, n_in, dtype, rng):
        width = super().build(n_in, dtype, rng)
        self._factor = _in_dtype("Rescaling scale", np.array([self.scale]), self.dtype, nonzero=True)[0]
        return width

    def config(self):
        return {"type": self.type_name, "scale": self.scale}

    def forward(self, x, *, train=False):
        if getattr(x, "dtype", None) is not self.dtype:
            x = self._input(x)
            if self._factor.dtype != self.dtype:  # a layer never built, given another float dtype
                self._factor = self.dtype.type(self.scale)
        out = self._buffer("out" if train else "eval", x.shape)
        np.multiply(x, self._factor, out=out)
        return out

    def backward(self, grad_out, *, need_input_grad=True):
        if not need_input_grad:
            return None
        g = self._buffer("grad_in", grad_out.shape)
        np.multiply(grad_out, self._factor, out=g)
        return g


class Standardization(Layer):
    """``a = (x − μ) / σ`` per feature, with μ and σ of the training split (one σ for all
    features, or one per feature). Statistics are kept in float64 and applied in the
    network's dtype, to inputs already cast to it (see the module's note on float32)."""

    type_name = "Standardization"

    def __init__(self, mean, std):
        super().__init__()
        self.mean = _finite_floats("Standardization mean", mean)
        self.std = _finite_floats("Standardization std", std, positive=True)
        if self.std.size not in (1, self.mean.size):
            raise ConfigError(f"Standardization std has {self.std.size} values; give 1 or one per feature "
                              f"({self.mean.size})")
        with np.errstate(over="ignore"):  # float32 until built: a float64 network's μ or 1/σ may exceed it
            self._coefficients()

    def build(self, n_in, dtype, rng):
        n = self.mean.size
        if n_in is not None and n_in != n:
            raise ShapeError(f"Standardization was fitted on {n} features but receives {n_in}")
        super().build(n, dtype, rng)
        _in_dtype("Standardization mean", self.mean, self.dtype)
        with np.errstate(over="ignore"):
            _in_dtype("Standardization 1/std", 1.0 / self.std, self.dtype, nonzero=True)
        self._coefficients()
        return n

    def _coefficients(self) -> None:
        """μ and 1/σ in the dtype the layer computes in."""
        self._shift = self.mean.astype(self.dtype)
        self._factor = (1.0 / self.std).astype(self.dtype)

    def _features(self, x) -> np.ndarray:
        """``x`` in the layer's dtype (see :meth:`Layer._input`), its last axis the fitted features."""
        x = self._input(x)
        if x.ndim == 0 or x.shape[-1] != self.mean.size:
            got = "one number" if x.ndim == 0 else f"{x.shape[-1]} features"
            raise ShapeError(f"Standardization was fitted on {self.mean.size} features but receives {got}: "
                             f"give rows of {self.mean.size} values, or fit it on these inputs "
                             "(Standardization.fit(x))")
        if self._shift.dtype != self.dtype:  # a layer never built, given another float dtype
            self._coefficients()
        return x

    @classmethod
    def fit(cls, x: np.ndarray, *, per_feature: bool = False) -> "Standardization":
        """Statistics of the training inputs ``x`` (rows are examples). ``per_feature``: a μ
        and σ per feature, where a constant feature (``min == max``, or a float spread of at
        most 1e-8 of its size: see :class:`~deltaprop.data.transforms.Standardizer`) gets
        σ = 1, so it is only centred; else one μ and σ for all, σ = 1 when every value is the same."""
        from .data.transforms import Standardizer

        fitted = Standardizer("per_feature" if per_feature else "global").fit(np.asarray(x).reshape(len(x), -1))
        return cls(fitted.mean.ravel(), np.ravel(fitted.std))

    def config(self):
        return {"type": self.type_name, "mean": self.mean.tolist(), "std": self.std.tolist()}

    def __repr__(self) -> str:
        return f"Standardization(features={self.mean.size}, per_feature_std={self.std.size > 1})"

    def forward(self, x, *, train=False):
        if getattr(x, "dtype", None) is not self.dtype or x.shape[-1:] != self._shift.shape:
            x = self._features(x)
        out = self._buffer("out" if train else "eval", x.shape)
        np.subtract(x, self._shift, out=out)
        out *= self._factor
        return out

    def backward(self, grad_out, *, need_input_grad=True):
        if not need_input_grad:
            return None
        g = self._buffer("grad_in", grad_out.shape)
        np.multiply(grad_out, self._factor, out=g)
        return g


#: The preprocessing layer types, registered in :data:`deltaprop.layers.LAYERS`.
PREPROCESSING: dict[str, type[Layer]] = {cls.type_name: cls for cls in (Rescaling, Standardization)}


#: Pixel values: 8-bit levels (whole numbers in 0..255), or values in [−1, 1] (x/255, or
#: (x − 127.5)/127.5).
PIXEL_LEVELS, PIXEL_UNIT = 255, 1.0
#: Pixels share one scale: at least this share of the columns that vary span at least
#: :data:`_PIXEL_SPAN` of the whole range (10 MNIST digits: 92% of them; a table of
#: fractions beside an age in years: 1 column of 64).
_PIXEL_COLUMNS, _PIXEL_SPAN = 0.5, 0.25
_ROWS_A_BLOCK = 8192


def _whole_numbers(x: np.ndarray) -> bool:
    """Every value a whole number (a block of rows at a time: no copy of ``x``)."""
    if x.dtype.kind in "uib":
        return True
    return all(np.array_equal(block, np.round(block)) for block in
               (x[start:start + _ROWS_A_BLOCK] for start in range(0, len(x), _ROWS_A_BLOCK)))


def _pixel_like(x: np.ndarray) -> bool:
    """Images: more than two axes, or rows whose width is a square of at least 8x8 holding
    pixel values (:data:`PIXEL_LEVELS`, :data:`PIXEL_UNIT`, uint16 levels to 65535) on one
    scale (columns spanning a good part of the whole range, :data:`_PIXEL_COLUMNS`). A table of 64 or 100 columns
    has a square width too; columns in their own units (an age beside fractions, incomes
    beside a unit-scale feature) need a σ each."""
    if x.ndim > 2:
        return True
    n = int(np.prod(x.shape[1:]))
    if n < 64 or math.isqrt(n) ** 2 != n or x.size == 0:
        return False
    low, high = float(x.min()), float(x.max())
    unit = -PIXEL_UNIT <= low and high <= PIXEL_UNIT
    top = 65535 if x.dtype == np.uint16 else PIXEL_LEVELS  # 16-bit images' levels (as unit_scaling takes them)
    if not (unit or (0 <= low and high <= top and _whole_numbers(x))):
        return False
    spans = (x.max(axis=0) - x.min(axis=0)).astype(np.float64)
    varying = spans[spans > 0]
    return bool((varying >= _PIXEL_SPAN * (high - low)).sum() >= _PIXEL_COLUMNS * varying.size)


def auto_scaling(x: np.ndarray) -> str:
    """The scaling ``auto`` picks for raw training inputs ``x``: ``"unit"`` (÷255) for 8-bit
    images (integers in 0..255 reaching above 16, in a pixel-like shape), ``"none"`` for
    data already in [0, 1], ``"standardize"`` for everything else (small integers such as
    0..16 counts, floats with offsets)."""
    x = np.asarray(x)
    if x.size == 0:
        return "none"
    low, high = x.min(), x.max()
    if x.dtype.kind in "ui" and low >= 0 and 16 < high <= 255 and _pixel_like(x):
        return "unit"
    if low >= 0 and high <= 1:
        return "none"
    return "standardize"


def standardization_for(x: np.ndarray, *, per_feature: bool | None = None) -> Standardization:
    """``--scaling standardize`` on training inputs ``x``: with ``per_feature=None``, one σ
    for all features of images (pixels share one scale, and a σ per pixel would blow up
    nearly constant border pixels), a σ per feature for tabular data (columns in their own
    units, as scikit-learn's StandardScaler); images are told apart by shape and values
    (:func:`_pixel_like`). ``per_feature=True`` or ``False`` chooses."""
    if per_feature is None:
        per_feature = not _pixel_like(np.asarray(x))
    return Standardization.fit(x, per_feature=bool(per_feature))


#: ``unit`` scaling on inputs whose largest value is under this share of the full scale
#: (0..16 digit levels, 0/1 flags: x / 255 puts them in [0, 0.063]) gets a warning.
_UNIT_REACH = 0.25


def _unit_refusal_words(x: np.ndarray) -> str:
    """The end of ``unit``'s refusal of ``x``: the mend where the values are 8-bit levels
    stored as floats (save them as uint8) or already in [0, 1] (scale none), else the other
    scalings."""
    if x.size and x.dtype.kind == "f" and np.isfinite(x).all() and x.min() >= 0:
        if x.max() <= 1:
            return f" but {x.dtype} values already in [0, 1]: use none (what auto chooses for them)"
        if x.max() <= PIXEL_LEVELS and _whole_numbers(x):
            return (f" but whole levels 0..{PIXEL_LEVELS} stored as {x.dtype}: save them as 8-bit integers "
                    "(x.astype(np.uint8)), or use standardize or none")
    return ": use standardize or none"


def unit_scaling(x: np.ndarray, *, auto: bool = False) -> Rescaling:
    """``x / 255`` for 8-bit data (``x / 65535`` for 16-bit): integers only. Inputs whose
    largest value is under :data:`_UNIT_REACH` of that full scale (0..16 levels) get a
    ``UserWarning``: ``x / 255`` puts them in ``[0, max/255]``, far from ``[0, 1]``.
    ``auto``: :func:`auto_scaling` chose it (dark 8-bit images), which the warning says."""
    x = np.asarray(x)
    if x.dtype.kind not in "ui" or (x.size and x.min() < 0):
        raise ConfigError("scaling 'unit' divides integer pixels by their maximum; these inputs are not "
                          f"non-negative integers{_unit_refusal_words(x)}")
    top = 255 if x.dtype.itemsize == 1 or (x.size and x.max() <= 255) else 65535
    if x.size and x.max() > top:
        raise ConfigError(f"scaling 'unit' is for 8- or 16-bit pixels; these inputs reach {x.max()}: use standardize")
    if x.size and int(x.max()) < _UNIT_REACH * top:
        chosen = ("scaling auto took these inputs for 8-bit images and chose 'unit', which" if auto
                  else "scaling 'unit'")
        instead = "standardize" if auto else "auto or standardize"
        warnings.warn(f"{chosen} divides by {top}, the full scale of {8 if top == 255 else 16}-bit pixels, but "
                      f"these inputs reach only {int(x.max())}, so they come out in [0, {int(x.max()) / top:.3g}], not "
                      f"[0, 1]; use scaling {instead} instead, or scale them to 0.."
                      f"{top} first", UserWarning, stacklevel=2)
    return Rescaling(1.0 / top)


def input_layer(spec: dict[str, Any] | None) -> Layer | None:
    """The layer for an ``input_scaling`` mapping as model files before preprocessing
    layers stored it (``{"kind": "unit", "max": 255}``, ``{"kind": "standardize",
    "state": Standardizer.to_dict()}``, ``{"kind": "none"}``)."""
    if spec is None or spec.get("kind") == "none":
        return None
    if spec["kind"] == "unit":
        return Rescaling(1.0 / spec["max"])
    from .data.transforms import Standardizer

    state = Standardizer.from_dict(spec["state"])
    return Standardization(state.mean.ravel(), np.ravel(state.std))


def with_input_layer(net, layer: Layer | None):
    """``net`` with ``layer`` in front (same weights, dtype and random state, and what it
    records of its training: decision threshold, values or labels, the shape of one example);
    ``net`` itself when ``layer`` is None or ``net`` already starts with a preprocessing layer."""
    from .network import Network

    if layer is None or type(net.layers[0]).__name__ in PREPROCESSING:
        return net
    out = Network([layer, *net.layers], dtype=net.dtype)  # net's layers are copied with their weights
    out.rng.bit_generator.state = net.rng.bit_generator.state
    out.decision_threshold = net.decision_threshold
    # a trained regressor's predict gives its values, a multi-label one's its labels; save records the shape
    out.gives_values, out.multilabel, out.input_shape = net.gives_values, net.multilabel, net.input_shape
    return out


def describe_inputs(net) -> str:
    """How the network turns raw inputs into the first layer's input, in words."""
    first = net.layers[0]
    if isinstance(first, Rescaling):
        inverse = 1.0 / first.scale
        shown = f"{round(inverse):d}" if math.isclose(inverse, round(inverse), rel_tol=1e-9) else f"{inverse:g}"
        return f"x / {shown}"
    if isinstance(first, Standardization):
        sigma = "one σ for all features" if first.std.size == 1 else "σ per feature"
        return f"standardised ((x − μ) / σ, μ per feature and {sigma}, of the training split)"
    return "none (raw inputs)"


def layer_scaling(layer: Layer) -> dict[str, Any] | None:
    """A preprocessing layer as the ``input_scaling`` mapping that scales the same way
    (:func:`input_layer`'s inverse); None for any other layer."""
    if isinstance(layer, Rescaling):
        inverse = 1.0 / layer.scale
        return {"kind": "unit", "max": round(inverse) if math.isclose(inverse, round(inverse)) else inverse}
    if isinstance(layer, Standardization):
        mode = "global" if layer.std.size == 1 else "per_feature"
        return {"kind": "standardize", "state": {"mode": mode, "shape": [layer.mean.size],
                                                 "mean": layer.mean.tolist(), "std": layer.std.tolist()}}
    return None


def split_input_layer(net):
    """``(network, input_scaling)``: ``net`` without a leading preprocessing layer (same
    weights) and that layer as an ``input_scaling`` mapping (None without one), for code
    that scales raw inputs itself before the first Dense layer."""
    from .network import Network

    spec = layer_scaling(net.layers[0])
    if spec is None:
        return net, None
    rest = Network(net.layers[1:], dtype=net.dtype)  # copies of net's layers, with their weights
    rest.rng.bit_generator.state = net.rng.bit_generator.state
    rest.decision_threshold = net.decision_threshold
    return rest, spec
