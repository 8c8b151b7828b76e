"""Network: an ordered stack of layers, trained by backpropagation.

Forward: ``a⁰ = x``, ``aˡ = layerˡ(aˡ⁻¹)``. Backward runs the layers in reverse, each
turning ``∂L/∂(its output)`` into ``∂L/∂(its input)`` (seed 003:
``δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ σ'(zˡ)`` in the seeds' column layout). The first layer's input
gradient is never needed, so its ``δ Wᵀ`` GEMM is skipped.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _checks
from .errors import ConfigError, DataError, ShapeError
from .layers import (ACTIVATIONS, Dense, Dropout, Layer, LeakyReLU, Parameter, ReLU, Softmax, layer_from_config,
                     one_unit_softmax, resolve_dtype)
from .losses import Loss

@dataclass
class LayerTrace:
    """What one layer saw in the last training step (seed 000's "learning unit").

    ``output`` is the layer's ``a``; ``delta`` is ``∂L/∂a`` it received in backward (for a
    Dense layer that is ``δ = ∂L/∂z``); ``grad_norms`` maps parameter names to ``‖∂L/∂θ‖``.
    """

    index: int
    layer: str
    output: np.ndarray | None
    delta: np.ndarray | None
    grad_norms: dict[str, float]

    @property
    def saturated_fraction(self) -> float | None:
        """Sigmoid/tanh layers: share of outputs within 1% of the flat ends (σ' ≈ 0)."""
        if self.output is None or self.layer not in ("Sigmoid", "Tanh"):
            return None
        a = self.output
        lo, hi = (0.01, 0.99) if self.layer == "Sigmoid" else (-0.98, 0.98)
        return float(np.mean((a < lo) | (a > hi)))

    @property
    def dead_fraction(self) -> float | None:
        """ReLU layers: share of units that output 0 for every example of the batch."""
        if self.output is None or self.layer not in ("ReLU",):
            return None
        return float(np.mean(np.all(self.output <= 0, axis=0)))


class Network:
    """An ordered stack of layers.

    Layers that a network built already are copied, weights and all, so that
    ``Network(net.layers[1:], dtype=net.dtype)`` keeps the trained weights and leaves
    ``net`` as it was (each network keeps its parameters in one buffer of its own).

    >>> import deltaprop as dp
    >>> net = dp.Network([dp.Dense(10, 3), dp.Sigmoid(), dp.Dense(3, 2), dp.Sigmoid()], seed=0)
    >>> net.predict_proba(np.zeros((1, 10))).shape
    (1, 2)
    """

    def __init__(self, layers: Sequence[Layer], *, seed: int | None = None, dtype="float32"):
        if isinstance(layers, Layer) or not hasattr(layers, "__iter__"):
            raise ConfigError(f"layers must be a list of layers, e.g. Network([Dense(784, 10), Softmax()]); "
                              f"got {layers!r}")
        layers = list(layers)
        if not layers:
            raise ConfigError("a Network needs at least one layer, e.g. [Dense(784, 10), Softmax()]")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ConfigError(f"layer {i} is {layer!r}, not a deltaprop layer (Dense, ReLU, ...)")
        if not any(isinstance(layer, Dense) for layer in layers):
            raise ConfigError("a Network needs at least one Dense layer to know its input size")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ConfigError("the same layer object appears twice; create a new instance for each position")
        self.dtype = resolve_dtype(dtype)
        self.layers = layers = [_layer_copy(layer) if _built(layer) else layer for layer in layers]
        self.rng = np.random.default_rng(_checks.seed(seed))
        self.n_features: int = next(layer for layer in layers if isinstance(layer, Dense)).n_in
        width = None
        last_dense = max(i for i, layer in enumerate(layers) if isinstance(layer, Dense))
        for i, layer in enumerate(layers):
            if isinstance(layer, Softmax) and (self.n_features if width is None else width) == 1:
                raise ConfigError(one_unit_softmax(f"layer {i} (Softmax)"))
            # zero weights in the last Dense layer break no symmetry: each output unit has its own
            # target, so their gradients differ (a network of that layer alone is seed 000's
            # softmax regression); only units that feed a later Dense layer stay copies
            with _rebuilding(i == last_dense):
                width = _build_keeping_weights(layer, i, width, self.dtype, self.rng)
        self.n_outputs: int = width
        #: The class threshold of a single output when ``predict`` is given none: 0.5 for a
        #: probability; ``fit`` sets its loss's (0 for a single logit), and so does ``load``.
        self.decision_threshold: float = 0.5
        #: Whether the outputs are a regressor's values, not classes: set by ``fit`` from its
        #: targets (``MeanSquaredError(classification=False)``, or real-valued targets of a
        #: ``MeanSquaredError()``), and by ``load`` of such a model; :meth:`predict` then
        #: returns the outputs themselves.
        self.gives_values: bool = False
        #: Whether the outputs are independent labels, several or none a row (a multi-label
        #: classifier): set by ``fit`` from its targets (binary cross-entropy on several
        #: outputs, 0/1 target rows not all one-hot), and by ``load`` of such a model;
        #: :meth:`predict` then returns the ``(n, k)`` 0/1 matrix ``a ≥ threshold``.
        self.multilabel: bool = False
        #: The shape of one example before it was flattened into a row (``(h, w)``,
        #: ``(h, w, c)``): set by ``fit`` from images given as such, and by ``load`` of a
        #: file that records it; ``save`` records it, which draws the model's images. None: not known.
        self.input_shape: tuple[int, ...] | None = None
        self._pack_parameters()
        self._outputs: list[np.ndarray | None] = [None] * len(layers)
        self._deltas: list[np.ndarray | None] = [None] * len(layers)

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_config(cls, config: dict[str, Any], *, dtype=None, seed: int | None = None) -> "Network":
        """Rebuild from :meth:`config` (layer types come from the closed ``LAYERS`` table)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ConfigError("a network config must be a mapping with a 'layers' list")
        layers = [layer_from_config(c) for c in config["layers"]]
        with _rebuilding(True):  # the weights come from the network or file the config is of
            return cls(layers, seed=seed, dtype=dtype or config.get("dtype", "float32"))

    def config(self) -> dict[str, Any]:
        return {"layers": [layer.config() for layer in self.layers], "dtype": self.dtype.name}

    def copy(self, *, dtype=None) -> "Network":
        """An independent network with the same layers and weights (cast to ``dtype``).
        Nothing is drawn: the weights are copied once, into the new network's buffer (a cast
        to another dtype copies them once more)."""
        dtype = resolve_dtype(dtype or self.dtype)
        layers = self.layers
        if dtype != self.dtype:
            layers = [_layer_copy(layer) for layer in layers]
            for i, (mine, theirs) in enumerate(zip(self.parameters(), (p for layer in layers
                                                                        for p in layer.parameters()))):
                with np.errstate(over="ignore"):
                    cast = mine.value.astype(dtype)
                if not _checks.all_finite(cast) and _checks.all_finite(mine.value):
                    raise ConfigError(f"copy(dtype={dtype.name!r}): parameter {i} ({mine.name}) holds weights up "
                                      f"to {float(np.max(np.abs(mine.value))):.3g}, beyond {dtype.name}'s range: "
                                      "they would become infinite; keep the network in its own dtype")
                theirs._value, theirs._grad = cast, np.zeros_like(cast)
        with _rebuilding(True):
            other = Network(layers, dtype=dtype)
        other.decision_threshold = self.decision_threshold
        other.gives_values = self.gives_values
        other.multilabel = self.multilabel
        other.input_shape = self.input_shape
        other.rng = np.random.default_rng()
        other.rng.bit_generator.state = self.rng.bit_generator.state
        for layer in other.layers:
            if isinstance(layer, Dropout):
                layer.rng = other.rng
        return other

    # -- copying and pickling (copy, deepcopy, scikit-learn's clone and pickle) -------------
    def __copy__(self) -> "Network":
        """An independent network: a shallow copy would share parameters with this one."""
        return self.copy()

    def __getstate__(self) -> dict[str, Any]:
        """Layers without their batch buffers and cached inputs; the flat parameter buffer is
        rebuilt on unpickling, so parameters stay views of it."""
        state = self.__dict__.copy()
        state["_outputs"] = [None] * len(self.layers)
        state["_deltas"] = [None] * len(self.layers)
        state.pop("_flat_values", None)
        state.pop("_flat_grads", None)
        state["layers"] = [_layer_without_buffers(layer) for layer in self.layers]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"decision_threshold": 0.5, "gives_values": False, "multilabel": False, "input_shape": None,
                              **state})
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.rng = self.rng
        self._pack_parameters()

    # -- parameters -----------------------------------------------------------------------
    def _pack_parameters(self) -> None:
        """Put every parameter (and gradient) in one flat buffer, as views in layer order,
        so an optimizer updates the whole network in a handful of array operations."""
        params = self.parameters()
        self._first_trained = next((i for i, layer in enumerate(self.layers) if layer.parameters()), 0)
        total = sum(p.value.size for p in params)
        self._flat_values = np.empty(total, dtype=self.dtype)
        self._flat_grads = np.zeros(total, dtype=self.dtype)
        offset = 0
        for p in params:
            size, shape = p.value.size, p.value.shape
            p._rebind(
                self._flat_values[offset : offset + size].reshape(shape),
                self._flat_grads[offset : offset + size].reshape(shape),
            )
            offset += size

    def parameters(self) -> list[Parameter]:
        """Every trainable parameter, layer by layer (the order optimizer state uses)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``("layers.{i}.{name}", Parameter)`` pairs, the names model files use."""
        return [(f"layers.{i}.{p.name}", p) for i, layer in enumerate(self.layers) for p in layer.parameters()]

    @property
    def flat_gradients(self) -> np.ndarray:
        """Every ``Parameter.grad`` as one flat array (the parameters' gradients are views of
        it, in layer order): what a gradient hook reads, or averages in place across processes."""
        return self._flat_grads

    @property
    def n_parameters(self) -> int:
        return sum(p.value.size for p in self.parameters())

    # -- computation ----------------------------------------------------------------------
    def _forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        """Forward through every layer; returns the last layer's own buffer (not a copy).
        Only a training forward is recorded for :meth:`backward` and :meth:`trace`."""
        self._last_forward_trained = train
        if not train:
            for layer in self.layers:
                x = layer.forward(x, train=False)
            return x
        outputs = self._outputs
        for i, layer in enumerate(self.layers):
            x = layer.forward(x, train=True)
            outputs[i] = x
        return x

    def _backward(self, loss: Loss, a: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Fill every ``Parameter.grad`` with ``∂L/∂θ`` for the batch just forwarded (rows
        weighted by ``weights`` when given)."""
        layers = self.layers
        deltas = self._deltas
        last = len(layers) - 1
        extra = () if weights is None else (weights,)
        g = loss.fused_delta(layers[last], a, y, *extra)
        if g is not None:  # starts at the last layer's input: skip its backward
            deltas[last] = None
            last -= 1
        else:
            g = loss.gradient(a, y, *extra)
        first = self._first_trained  # layers before it (input scaling) need no gradient
        for i in range(last, first - 1, -1):
            deltas[i] = g
            g = layers[i].backward(g, need_input_grad=i > first)

    def forward(self, X, *, train: bool = False) -> np.ndarray:
        """The network output ``a^L`` for ``X`` (a new array). ``train=True`` applies dropout
        and keeps what :meth:`backward` needs: a copy of ``X`` where ``X`` itself (or a view of
        it) would be kept, so changing ``X`` before :meth:`backward` cannot change the gradients."""
        x = _checks.features(X, self.n_features, self.dtype)
        if train and (x is X or not x.flags.owndata):
            x = x.copy()
        return self._forward(x, train).copy()

    def backward(self, loss: Loss, y) -> None:
        """Backpropagate ``loss`` for the batch last passed to :meth:`forward`.

        Fills every parameter's ``grad``; :meth:`trace` then shows each layer's ``a`` and ``δ``."""
        a = self._outputs[-1]
        if a is None or not self._last_forward_trained:
            raise ConfigError(
                "call forward(X, train=True) right before backward; an inference forward cannot be backpropagated"
            )
        targets = loss.prepare_targets(y, self.n_outputs, self.dtype)
        _checks.same_length(a.shape[0], targets.shape[0], names=("the last forward batch", "y"))
        self._backward(loss, a, targets)

    def loss_and_gradients(self, loss: Loss, X, y, *, train: bool = True) -> float:
        """Forward, loss and backward in one call; returns ``L`` and fills ``Parameter.grad``.
        ``train=False`` differentiates the inference function (dropout off)."""
        x = _checks.features(X, self.n_features, self.dtype)
        targets = loss.prepare_targets(y, self.n_outputs, self.dtype)
        _checks.same_length(x.shape[0], targets.shape[0])
        with self.dropout_bypassed(not train):
            a = self._forward(x, True)
            value = loss.value(a, targets)
            self._backward(loss, a, targets)
        return value

    @contextmanager
    def dropout_bypassed(self, bypass: bool = True):
        """While active, Dropout layers pass inputs through even in training mode."""
        dropouts = [layer for layer in self.layers if isinstance(layer, Dropout)]
        previous = [layer.bypass for layer in dropouts]
        for layer in dropouts:
            layer.bypass = bypass or layer.bypass
        try:
            yield
        finally:
            for layer, value in zip(dropouts, previous):
                layer.bypass = value

    def predict_proba(self, X, *, batch_size: int = 4096) -> np.ndarray:
        """Network outputs for ``X`` (probabilities for a softmax/sigmoid output), computed
        in chunks of ``batch_size`` rows so a large ``X`` needs no huge intermediates. A lazy
        ``X`` (a MappedArray, a sparse matrix) is read and checked a chunk at a time."""
        lazy = _checks.is_lazy(X)
        x = _checks.lazy_features(X, self.n_features) if lazy else _checks.features(X, self.n_features, self.dtype)
        batch_size = _checks.positive_int("batch_size", batch_size)
        out = np.empty((x.shape[0], self.n_outputs), dtype=self.dtype)
        for start in range(0, x.shape[0], batch_size):
            stop = min(start + batch_size, x.shape[0])
            rows = (_checks.feature_rows(x, np.arange(start, stop), self.n_features, self.dtype) if lazy
                    else x[start:stop])
            out[start:stop] = self._forward(rows, False)
        return out

    def predict(self, X, *, batch_size: int = 4096, threshold: float | None = None) -> np.ndarray:
        """Class ids: the argmax of the output, or ``a ≥ threshold`` for a single output.
        ``threshold`` None: :attr:`decision_threshold`, 0.5 for a sigmoid probability and 0
        for a single logit once ``fit`` trained the network with
        ``BinaryCrossEntropy(from_logits=True)`` (or ``load`` read such a model). A threshold
        given to a network of several outputs is refused, the argmax would ignore it, unless it
        is multi-label (each output is compared with it). Outputs
        that are NaN or infinite are a :class:`DataError`, not class 0. A regressor
        (:attr:`gives_values`: trained with ``MeanSquaredError(classification=False)``, or
        loaded from such a model) has no classes: its outputs, shape ``(n, n_outputs)``, as
        :meth:`predict_proba` gives them. A multi-label classifier (:attr:`multilabel`) gives
        each row's labels: the int64 matrix ``[a_ik ≥ threshold]``, shape ``(n, n_outputs)``,
        a row of several 1s or of none as the outputs say; of logits (``fit`` with
        ``BinaryCrossEntropy(from_logits=True)``) the threshold is 0, ``z ≥ 0``, i.e. ``σ(z) ≥ ½``."""
        if self.gives_values:
            if threshold is not None:
                raise ConfigError("threshold decides a class, but this network is a regressor (trained with "
                                  "MeanSquaredError(classification=False)): predict returns its values; leave "
                                  "threshold out")
            return self.predict_proba(X, batch_size=batch_size)
        if threshold is not None and self.n_outputs > 1 and not self.multilabel:
            raise ConfigError(f"threshold applies to a single output, but this network has {self.n_outputs} outputs "
                              "and predicts the argmax of each row: leave threshold out, or compare a column "
                              "yourself, e.g. net.predict_proba(X)[:, k] >= t")
        if threshold is None:
            threshold = self.decision_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)) \
                or not math.isfinite(threshold):
            raise ConfigError(f"threshold must be a finite number, got {threshold!r}")
        proba = self.predict_proba(X, batch_size=batch_size)
        if not _checks.all_finite(proba):  # argmax and a >= t would call each such row class 0
            row = int(np.argwhere(~np.isfinite(proba))[0][0])
            raise DataError(f"the network's outputs are NaN or infinite for row {row} of X, so no class can be chosen: "
                            f"its weights hold NaN or infinity, or these inputs overflow {self.dtype.name} through "
                            "them. Check the weights (a diverged run?), scale X, or compute in dtype='float64'")
        if self.multilabel:  # each output its own label: no argmax across them
            return (proba >= float(threshold)).astype(np.int64)
        return predictions_from_outputs(proba, threshold=float(threshold))

    # -- inspection -----------------------------------------------------------------------
    def trace(self) -> list[LayerTrace]:
        """Per layer, the output ``a`` and delta from the last forward/backward (copies)."""
        traces = []
        for i, layer in enumerate(self.layers):
            a = self._outputs[i]
            d = self._deltas[i]
            # accumulated in float64: a float32 sum of squares overflows to inf from ‖g‖ ≈ 1.8e19 on
            norms = {p.name: float(np.linalg.norm(p.grad.astype(np.float64))) for p in layer.parameters()}
            traces.append(
                LayerTrace(i, layer.type_name, None if a is None else a.copy(), None if d is None else d.copy(), norms)
            )
        return traces

    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts."""
        rows = [("#", "layer", "output shape", "parameters")]
        width = self.n_features  # only Dense layers change the width; input scaling keeps it
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                width = layer.n_out
            n = sum(p.value.size for p in layer.parameters())
            rows.append((str(i), repr(layer), f"(n, {width})", f"{n:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        line = "  ".join("-" * w for w in widths)
        fmt = lambda r: "  ".join(  # noqa: E731
            r[c].ljust(widths[c]) if c < 3 else r[c].rjust(widths[c]) for c in range(4)
        )
        out = [fmt(rows[0]), line, *(fmt(r) for r in rows[1:]), line]
        out.append(f"{self.n_parameters:,} parameters, {self.dtype.name}, input {self.n_features} features")
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"Network([{', '.join(repr(layer) for layer in self.layers)}], dtype={self.dtype.name})"


def _layer_without_buffers(layer: Layer) -> Layer:
    """A shallow copy of ``layer`` whose reusable buffers and cached arrays are dropped."""
    clone = layer.__class__.__new__(layer.__class__)
    clone.__dict__.update(layer.__dict__)
    clone._buffers = {}
    for name in ("_x", "_a", "_mask"):
        if name in clone.__dict__:
            clone.__dict__[name] = None
    return clone


def predictions_from_outputs(outputs: np.ndarray, *, out: np.ndarray | None = None,
                             threshold: float = 0.5) -> np.ndarray:
    """Class ids from network outputs (or one-hot target rows): the argmax of each row, or
    ``a ≥ threshold`` for a single output (0.5 for a probability, 0 for a logit: see
    :attr:`deltaprop.losses.Loss.decision_threshold`). The one rule every part of deltaprop
    chooses a class by. ``out``: an int64 array of ``len(outputs)`` to write into instead of a new one."""
    if outputs.shape[1] == 1:
        if out is None:
            return (outputs[:, 0] >= threshold).astype(np.int64)
        return np.greater_equal(outputs[:, 0], threshold, out=out)
    return outputs.argmax(axis=1, out=out)


def mlp(
    sizes: Sequence[int],
    *,
    activation: str = "sigmoid",
    output: str = "softmax",
    dropout: float = 0.0,
    init: str | None = None,
    seed: int | None = None,
    dtype="float32",
) -> Network:
    """A multilayer perceptron from widths, e.g. ``mlp([784, 50, 10])`` is seed 000's
    784 → 50 sigmoid → 10 softmax. ``output`` names the output activation, or several
    applied in turn joined by ``+`` (see :func:`output_layers`). ``init`` defaults to He
    normal for ReLU-like hidden units and Glorot uniform otherwise; without a hidden layer
    (two widths) ``activation`` is not used, and the output activation after the one Dense
    layer chooses. ``dropout`` follows every hidden activation."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise ConfigError(f"mlp takes the widths of its layers as a list, input first, e.g. mlp([784, 50, 10]); "
                          f"got {sizes!r:.60}")
    sizes = [_checks.positive_int("layer width", s) for s in sizes]
    if len(sizes) < 2:
        raise ConfigError(f"need at least an input and an output width, got {list(sizes)}")
    act_cls = ACTIVATIONS.lookup(activation)
    out_classes = output_layers(output)
    dropout = _checks.fraction("dropout", dropout)
    if init is None:  # by the units the Dense layers feed: the hidden ones, else the output's first
        fed = act_cls if len(sizes) > 2 else out_classes[0]
        init = "he_normal" if fed in (ReLU, LeakyReLU) else "glorot_uniform"
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(n_in, n_out, init=init))
        if i < len(sizes) - 2:
            layers.append(act_cls())
            if dropout > 0:
                layers.append(Dropout(dropout))
        else:
            layers.extend(cls() for cls in out_classes)
    return Network(layers, seed=seed, dtype=dtype)


def _built(layer: Layer) -> bool:
    """Whether a network built ``layer`` already (it holds weights, a dtype ``build`` bound
    it to, an input width, buffers or a network's random generator). An activation before
    the first Dense layer is built with no width: only its binding tells."""
    if layer.parameters() or layer._bound:
        return True
    return bool((not isinstance(layer, Dense) and layer.n_in is not None) or layer._buffers
                or getattr(layer, "rng", None) is not None)


def _layer_copy(layer: Layer) -> Layer:
    """A layer another network built, for a new one: the same configuration and weights in
    parameters of its own (a network keeps its parameters in one buffer of its own, so two
    networks cannot share them: ``Network(net.layers[1:])`` leaves ``net`` as it was)."""
    clone = _layer_without_buffers(layer)
    for name, value in list(vars(clone).items()):
        if isinstance(value, Parameter):
            # the value array is shared until the network packs its parameters, which copies
            # it into the network's own buffer (one copy of the weights, not two)
            setattr(clone, name, Parameter(value.name, value.value))
    return clone


def _build_keeping_weights(layer: Layer, index: int, width, dtype: np.dtype, rng) -> int | None:
    """``layer.build`` (its output width); weights the layer already holds are kept, in the
    network's dtype only (a typed error otherwise), and no draw from ``rng`` is made for them."""
    kept = [p.value for p in layer.parameters()]
    if not kept:
        return layer.build(width, dtype, rng)
    if any(value.dtype != dtype for value in kept):
        theirs = next(value.dtype for value in kept if value.dtype != dtype)
        raise ConfigError(f"layer {index} ({layer!r}) holds {theirs} weights, but this network computes in "
                          f"{dtype.name}: pass dtype='{theirs}', or cast the network the layers come from first "
                          f"(net.copy(dtype='{dtype.name}'))")
    if type(layer).build is Dense.build:  # bound as they are: no weights drawn to be replaced
        width = layer._bind(width, dtype)
        for p, shape in zip(layer.parameters(), ((layer.n_in, layer.n_out), (layer.n_out,))):
            if p.value.shape != shape:
                raise ShapeError(f"parameter {p.name!r} value has shape {shape}; got {p.value.shape}")
        return width
    with _rebuilding(True):  # the weights drawn here are replaced by the kept ones
        width = layer.build(width, dtype, np.random.default_rng(0))
    for p, value in zip(layer.parameters(), kept):
        p.value = value
    return width


@contextmanager
def _rebuilding(quiet: bool):
    """Layers built again whose weights are set afterwards (a saved or copied network, a
    layer built before, whose weights are kept): no warning of zero-initialised weights,
    which they no longer hold (the first build warned)."""
    if not quiet:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Dense weights initialised to zero", category=UserWarning)
        yield


def output_layers(output: str) -> list[type[Layer]]:
    """The activation layers an ``output`` name puts after the last Dense layer: one name
    (``"softmax"``), or several applied in turn joined by ``+``. ``"sigmoid+softmax"`` is
    seed 000's stack, a softmax over the last sigmoid layer's outputs ``o = σ(z)``, whose
    δ with cross-entropy is ``σ'(z) ⊙ (softmax(o) − y)``."""
    names = output.split("+") if isinstance(output, str) else [None]
    classes = [ACTIVATIONS.get(name) if name else None for name in names]
    if any(cls is None for cls in classes):
        raise ConfigError(f"unknown output activation {output!r}; choose one of {', '.join(ACTIVATIONS)}, "
                          "or several joined by + such as sigmoid+softmax")
    return classes
