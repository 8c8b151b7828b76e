"""Layers: the building blocks of a :class:`~deltaprop.network.Network`.

A batch is rows: ``x`` has shape ``(n, features)``. Every layer

* ``forward(x, train=...)`` computes its output ``a`` and keeps what ``backward`` needs
  (one slot per layer, replaced on every call, never a growing cache);
* ``backward(grad_out)`` receives ``∂L/∂a`` for its own output and returns ``∂L/∂x``
  for its input, writing ``Parameter.grad`` for its parameters (overwritten, not
  accumulated).

Outputs and input gradients live in buffers the layer owns and reuses from one batch to
the next (one set per batch shape), so a training step allocates nothing after the first
step of a given batch size. A returned array is therefore valid until the layer's next
call; :class:`~deltaprop.network.Network` copies what it hands to users. Inference
(``train=False``) writes to buffers of its own, so predicting after a training step leaves
that step's outputs and deltas (the network's ``trace``) intact.

Activation derivatives are computed from the cached output ``a``, in place, never by
recomputing ``σ(z)``: sigmoid ``a(1 − a)``, tanh ``1 − a²``, ReLU ``a > 0``.

A layer computes in one dtype, float32 or float64: the one ``build`` gave it (a network's),
to which an input of another dtype is cast, as a network casts its input. A layer used on
its own and never built computes a float32 or float64 input in that dtype, and anything
else (integers, booleans, float16) in float32.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import functools
import math
import operator
from typing import Any, ClassVar

import numpy as np

from . import _checks, kernels
from .errors import ConfigError, DataError, ShapeError
from .buffers import BufferOwner
from .initializers import resolve as resolve_initializer
from .registry import Registry


_DTYPES = {"float32": np.float32, "float64": np.float64}


def resolve_dtype(dtype) -> np.dtype:
    """float32 or float64, given as a name or a numpy dtype; anything else is refused (None
    too, which NumPy reads as float64 where deltaprop's default is float32)."""
    try:
        dt = None if dtype is None else np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _DTYPES:
        raise ConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(_DTYPES[dt.name])  # in native byte order


class Parameter:
    """One trainable array and its gradient ``∂L/∂value`` (same shape and dtype).

    Both arrays are bound once and never replaced: assigning ``p.value = x`` or
    ``p.grad = g`` copies into them, so views held elsewhere (the network keeps all its
    parameters in one flat buffer, which optimizers update in a few calls) stay valid."""

    __slots__ = ("name", "_value", "_grad")

    def __init__(self, name: str, value: np.ndarray):
        self.name = name
        self._value = value
        self._grad = np.zeros_like(value)

    @property
    def value(self) -> np.ndarray:
        return self._value

    @value.setter
    def value(self, new) -> None:
        self._assign(self._value, new, "value")

    @property
    def grad(self) -> np.ndarray:
        return self._grad

    @grad.setter
    def grad(self, new) -> None:
        self._assign(self._grad, new, "grad")

    def _assign(self, target: np.ndarray, new, what: str) -> None:
        new = np.asarray(new)
        if new.shape != target.shape:
            raise ShapeError(f"parameter {self.name!r} {what} has shape {target.shape}; got {new.shape}")
        target[...] = new

    def _rebind(self, value: np.ndarray, grad: np.ndarray) -> None:
        """Move the arrays into (views of) shared buffers; values are copied over."""
        value[...] = self._value
        grad[...] = self._grad
        self._value, self._grad = value, grad

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self._value.shape}, dtype={self._value.dtype})"


class Layer(BufferOwner, ABC):
    """Base class. Subclasses set ``type_name`` and implement ``forward``/``backward``."""

    type_name: ClassVar[str] = "Layer"
    #: Whether ``build`` bound the layer to a dtype (a network builds its layers); one never
    #: built computes in its input's float32 or float64 (see :meth:`_input`).
    _bound: bool = True

    def __init__(self) -> None:
        self._buffers: dict[tuple, np.ndarray] = {}
        self.dtype = np.dtype(np.float32)
        self.n_in: int | None = None
        self._bound = False

    # -- construction -------------------------------------------------------------------
    def build(self, n_in: int | None, dtype: np.dtype, rng: np.random.Generator) -> int | None:
        """Bind the layer to an input width and dtype (float32 or float64); return the output width."""
        self.dtype = resolve_dtype(dtype)
        self._bound = True
        self.n_in = n_in
        self._buffers.clear()
        return n_in

    def _input(self, x) -> np.ndarray:
        """``x`` in the dtype the layer computes in, which ``forward`` calls for an ``x`` of
        another dtype. A built layer casts it to its own, as a network casts its input to the
        network's dtype; a layer never built computes a float32 or float64 ``x`` in that
        dtype, and anything else (integers, booleans, float16) in float32, the default.
        Complex numbers, text or a ragged list are a :class:`DataError`."""
        try:
            x = np.asarray(x)
        except ValueError as exc:  # a ragged list
            raise DataError(f"{self.type_name} takes a numeric array: {exc}") from None
        if x.dtype.kind not in "biuf":  # a cast would drop a complex part, or fail on text
            raise DataError(f"{self.type_name} takes real numbers, got dtype {x.dtype}; "
                            "convert them first, e.g. np.asarray(x, dtype=float)")
        if not self._bound:
            self.dtype = np.dtype(x.dtype.name if x.dtype.name in _DTYPES else np.float32)
        return np.asarray(x, dtype=self.dtype, order="C")

    def parameters(self) -> list[Parameter]:
        return []

    def config(self) -> dict[str, Any]:
        """JSON-able description that :func:`layer_from_config` turns back into the layer."""
        return {"type": self.type_name}

    # -- computation ----------------------------------------------------------------------
    @abstractmethod
    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        """The layer's output ``a`` for the batch ``x``; keeps what ``backward`` needs."""

    @abstractmethod
    def backward(self, grad_out: np.ndarray, *, need_input_grad: bool = True) -> np.ndarray | None:
        """``∂L/∂x`` from ``∂L/∂a`` (None when not needed); writes ``Parameter.grad``."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{self.type_name}({args})"


class Dense(Layer):
    """Fully connected layer: ``z = x W + b`` with ``W`` of shape ``(n_in, n_out)``.

    The seeds write columns, ``z = W a + b`` with ``W`` of shape ``(n_out, n_in)``; our
    ``W`` is theirs transposed because our batch is rows. Backward, with ``δ = ∂L/∂z``:
    ``∂L/∂W = xᵀ δ``, ``∂L/∂b = Σ_rows δ``, ``∂L/∂x = δ Wᵀ``.
    """

    type_name = "Dense"

    def __init__(self, n_in: int, n_out: int, *, init="glorot_uniform"):
        super().__init__()
        for name, value in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"Dense {name} must be a positive integer, got {value!r}")
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.init_name, self._init = resolve_initializer(init)
        self.W: Parameter | None = None
        self.b: Parameter | None = None
        self._x: np.ndarray | None = None

    def build(self, n_in, dtype, rng):
        self._bind(n_in, dtype)
        W = np.ascontiguousarray(self._init(rng, self.n_in, self.n_out, self.dtype), dtype=self.dtype)
        if W.shape != (self.n_in, self.n_out):
            raise ShapeError(f"Dense({self.n_in}, {self.n_out}): the initialiser {self.init_name!r} returned weights "
                             f"of shape {W.shape}; it must return W of shape (n_in, n_out) = ({self.n_in}, "
                             f"{self.n_out}), as z = x W + b (transpose a (n_out, n_in) matrix)")
        if not np.isfinite(W).all():
            raise ConfigError(f"Dense({self.n_in}, {self.n_out}): the initialiser {self.init_name!r} returned "
                              "NaN or infinite weights; return finite numbers")
        self.W = Parameter("W", W)
        self.b = Parameter("b", np.zeros(self.n_out, dtype=self.dtype))
        return self.n_out

    def _bind(self, n_in, dtype) -> int:
        """Check the input width and bind the layer to ``dtype``, leaving its weights as they are."""
        if n_in is not None and n_in != self.n_in:
            raise ShapeError(
                f"Dense({self.n_in}, {self.n_out}) receives {n_in} features from the layer "
                f"before it; make its first size {n_in}, or the previous layer's output {self.n_in}"
            )
        self.dtype = resolve_dtype(dtype)
        self._bound = True
        self._buffers.clear()
        return self.n_out

    def parameters(self):
        return [] if self.W is None else [self.W, self.b]

    def config(self):
        return {"type": self.type_name, "n_in": self.n_in, "n_out": self.n_out, "init": self.init_name}

    def forward(self, x, *, train=False):
        if self.W is None:
            raise ConfigError(f"{self!r} has no weights yet: put it in a Network, or call "
                              "layer.build(n_in, dtype, rng) first")
        if getattr(x, "dtype", None) is not self.dtype or x.ndim != 2 or x.shape[1] != self.n_in:
            x = self._rows(x)
        out = self._buffer("out" if train else "eval", (x.shape[0], self.n_out))
        np.matmul(x, self.W.value, out=out)
        out += self.b.value
        self._x = x
        return out

    def _rows(self, x) -> np.ndarray:
        """``x`` as a network reads it: one example a row (a 1-D ``x`` is one example, an
        image's axes are flattened), ``n_in`` values each, in the layer's dtype."""
        x = self._input(x)
        x = x.reshape(1, -1) if x.ndim == 1 else x.reshape(len(x), -1) if x.ndim > 2 else x
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ShapeError(f"{self!r} takes rows of {self.n_in} features, got "
                             f"{'shape ()' if x.ndim != 2 else f'{x.shape[1]} features'}")
        return x

    def backward(self, grad_out, *, need_input_grad=True):
        if self._x is None:
            raise _no_forward(self)
        np.matmul(self._x.T, grad_out, out=self.W.grad)
        # Σ_rows δ as the product 1ᵀδ: BLAS's matrix-vector kernel reads δ once, where a
        # reduction over the rows of a C-ordered δ adds one row at a time (about twice as slow)
        ones = self._buffer("ones", (grad_out.shape[0],), grad_out.dtype)
        ones.fill(1)
        np.matmul(ones, grad_out, out=self.b.grad)
        if not need_input_grad:
            return None
        grad_in = self._buffer("grad_in", (grad_out.shape[0], self.n_in))
        np.matmul(grad_out, self.W.value.T, out=grad_in)
        return grad_in


#: The ``z`` below which a float32 :class:`Sigmoid` computes ``e^z / (1 + e^z)`` at inference:
#: ``½ ln ε``; and the ``z`` below which it is 0 (``½ ln(tiny) + 10``: the square of such an
#: output, a squared error's, stays a normal number).
_SIGMOID_TAIL = {np.dtype(np.float32): 0.5 * float(np.log(np.finfo(np.float32).eps))}
_SIGMOID_FLOOR = 0.5 * float(np.log(np.finfo(np.float32).tiny)) + 10.0


def _no_forward(layer: Layer) -> ConfigError:
    """A layer's backward called before any forward: it has no input or output kept to use."""
    return ConfigError(f"{layer!r}.backward was called before its forward: backward uses what forward kept "
                       "(the input x, or the output a); call layer.forward(x, train=True) on the batch first")


class Activation(Layer):
    """An elementwise ``a = f(z)`` whose derivative is computed from ``a``."""

    def __init__(self) -> None:
        super().__init__()
        self._a: np.ndarray | None = None


class Sigmoid(Activation):
    """``a = σ(z) = 1 / (1 + e^{−z})``, computed as ``½(1 + tanh(z/2))`` (no overflow);
    ``σ'(z) = a(1 − a)``.

    In the negative tail that form keeps only the absolute precision of 1: in float32
    ``a`` is a multiple of ``ε/4 ≈ 3e-8``: 3e-8 from about ``z = −17.3`` to ``−20`` (up to
    14 times ``σ(z)``) and exactly 0 below, where ``σ(z) ≈ e^z`` is representable. An
    inference forward (``train=False``: ``predict``, ``predict_proba``) in float32 takes
    ``a = e^z / (1 + e^z)`` below ``½ ln ε = −8.0``, where the form has lost half of
    float32's digits, so tiny outputs keep their order (the argmax of several sigmoid
    outputs) and are no 0, down to ``½ ln(tiny) + 10 ≈ −33.7`` (``a ≈ 2e-15``), below which
    ``a`` is 0. A training forward keeps the one form, whose slope ``a(1 − a)`` there is
    under 3.4e-4 either way: training runs keep the bits they had (a run's trajectory would
    change with the last bits of such slopes). float64 keeps the
    one form (its ``a`` is 0 only below ``z ≈ −37``)."""

    type_name = "Sigmoid"

    def forward(self, x, *, train=False):
        if getattr(x, "dtype", None) is not self.dtype:
            x = self._input(x)
        a = self._buffer("out" if train else "eval", x.shape)
        np.multiply(x, 0.5, out=a)
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5
        cut = None if train else _SIGMOID_TAIL.get(self.dtype)
        if cut is not None and x.size and np.fmin.reduce(x, axis=None) < cut:  # the least z, NaN passed over
            tail = np.flatnonzero(x < cut)  # few, as a rule: index them rather than mask every entry
            z = x.ravel()[tail]
            e = np.exp(np.maximum(z, _SIGMOID_FLOOR))
            e[z < _SIGMOID_FLOOR] = 0.0
            a.ravel()[tail] = e / (1 + e)
        self._a = a
        return a

    def backward(self, grad_out, *, need_input_grad=True):
        a = self._a
        if a is None:
            raise _no_forward(self)
        g = self._buffer("grad_in", a.shape)
        np.subtract(1.0, a, out=g)
        g *= a
        g *= grad_out
        return g


class Tanh(Activation):
    """``a = tanh(z)``; ``tanh'(z) = 1 − a²``."""

    type_name = "Tanh"

    def forward(self, x, *, train=False):
        if getattr(x, "dtype", None) is not self.dtype:
            x = self._input(x)
        a = self._buffer("out" if train else "eval", x.shape)
        np.tanh(x, out=a)
        self._a = a
        return a

    def backward(self, grad_out, *, need_input_grad=True):
        a = self._a
        if a is None:
            raise _no_forward(self)
        g = self._buffer("grad_in", a.shape)
        np.multiply(a, a, out=g)
        np.subtract(1.0, g, out=g)
        g *= grad_out
        return g


class ReLU(Activation):
    """``a = max(z, 0)``; derivative ``1`` where ``a > 0``, else ``0`` (a boolean mask)."""

    type_name = "ReLU"

    def forward(self, x, *, train=False):
        if getattr(x, "dtype", None) is not self.dtype:
            x = self._input(x)
        a = self._buffer("out" if train else "eval", x.shape)
        if not kernels.relu(x, a):  # against kept zeros in training (a batch's worth): NumPy's fast loop
            np.maximum(x, self._zeros(x.shape, x.dtype) if train else 0.0, out=a)
        self._a = a
        return a

    def backward(self, grad_out, *, need_input_grad=True):
        if self._a is None:
            raise _no_forward(self)
        g = self._buffer("grad_in", self._a.shape)
        if kernels.relu_backward(grad_out, self._a, g):
            return g
        mask = self._buffer("mask", self._a.shape, np.bool_)
        np.greater(self._a, 0.0, out=mask)
        np.multiply(grad_out, mask, out=g)
        return g


class LeakyReLU(Activation):
    """``a = z`` for ``z > 0``, ``slope·z`` otherwise (0 ≤ slope < 1); derivative 1 or ``slope``."""

    type_name = "LeakyReLU"

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = _checks.fraction("LeakyReLU slope", slope)

    def config(self):
        return {"type": self.type_name, "slope": self.slope}

    def forward(self, x, *, train=False):
        if getattr(x, "dtype", None) is not self.dtype:
            x = self._input(x)
        a = self._buffer("out" if train else "eval", x.shape)
        np.multiply(x, self.slope, out=a)
        np.maximum(x, a, out=a)
        self._a = a
        return a

    def backward(self, grad_out, *, need_input_grad=True):
        if self._a is None:
            raise _no_forward(self)
        mask = self._buffer("mask", self._a.shape, np.bool_)
        np.greater(self._a, 0.0, out=mask)
        g = self._buffer("grad_in", self._a.shape)
        np.multiply(grad_out, self.slope, out=g)
        np.copyto(g, grad_out, where=mask)
        return g


class Identity(Activation):
    """The seeds' "linear layer" activation: ``a = z``, derivative 1."""

    type_name = "Identity"

    def forward(self, x, *, train=False):
        if getattr(x, "dtype", None) is not self.dtype:
            x = self._input(x)
        self._a = x
        return x

    def backward(self, grad_out, *, need_input_grad=True):
        return grad_out


@functools.cache
def _exp_floor(dtype: np.dtype) -> float:
    """Exponents below this are clipped before ``exp``: ``e^floor`` is still a normal number
    (no underflow), and ~1e-29 (float32) is 0 for any probability we compute."""
    return math.log(np.finfo(dtype).tiny) + 20.0


def _row_max(z: np.ndarray, col: np.ndarray, index: np.ndarray | None) -> None:
    """``col = max z`` per row (NaN wins, as in ``np.max``). A row-wise ``np.maximum.reduce``
    over a few columns runs one short reduction a row (21 µs for 512 × 10 float32); the
    argmax into ``index`` (an intp scratch array of ``len(z)``), then one gather of those
    entries, takes 5 µs and gives the same values."""
    n, k = z.shape
    if index is None or n < 64 or k == 0 or not z.flags.c_contiguous:
        np.maximum.reduce(z, axis=1, keepdims=True, out=col)
        return
    z.argmax(axis=1, out=index)
    index += _row_starts(n, k)
    np.take(z.reshape(-1), index, out=col.reshape(-1))


@functools.lru_cache(maxsize=16)
def _row_starts(n: int, k: int) -> np.ndarray:
    """The flat index of each row's first entry in a C-ordered ``(n, k)`` array."""
    starts = np.arange(0, n * k, k, dtype=np.intp)
    starts.flags.writeable = False
    return starts


def softmax_rows(z: np.ndarray, out: np.ndarray, col: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """``out = softmax(z)`` per row, stably: ``e^{z − max z}`` (exponents floored so nothing
    underflows) over its row sum. ``col`` is an ``(n, 1)`` scratch array, ``index`` an
    optional ``(n,)`` intp one (a faster row max where given)."""
    if kernels.softmax_rows(z, out, _exp_floor(out.dtype)):
        return out
    _row_max(z, col, index)
    np.subtract(z, col, out=out)
    np.maximum(out, _exp_floor(out.dtype), out=out)
    np.exp(out, out=out)
    np.add.reduce(out, axis=1, keepdims=True, out=col)
    out /= col
    return out


def one_unit_softmax(name: str) -> str:
    """Why a softmax over one unit is refused: ``e^{z}/e^{z} = 1`` for every ``z``, so its
    output is constant and every example gets the same class."""
    return (f"{name} normalises over 1 unit: its output is 1.0 whatever the input, so every example gets "
            "the same class; use Sigmoid for a single output, or give the Softmax 2 or more units "
            "(Dense(n_in, k) with k >= 2 before it)")


class Softmax(Activation):
    """``a_k = e^{u_k} / Σ_i e^{u_i}`` per row, ``u = max(z − max z, ln(tiny) + 20)`` (stable:
    the row max is subtracted first; the floor, about −67.3 in float32 and −688.4 in float64,
    keeps every ``a_k`` a normal number, never 0, so ``softmax([1000, 0])`` is
    ``[1, 5.7e-30]`` in float32). Backward: ``∂L/∂z = a ⊙ (g − Σ_k g_k a_k)``. With
    :class:`~deltaprop.losses.CrossEntropy` the network skips this and starts at
    ``δ = (a − y)/n`` (see ``CrossEntropy.fused_delta``). Over one unit ``a = e^z/e^z = 1``
    for every input, so a width of 1 is refused when built (use Sigmoid for one output)."""

    type_name = "Softmax"

    def build(self, n_in, dtype, rng):
        if n_in == 1:
            raise ConfigError(one_unit_softmax("Softmax"))
        return super().build(n_in, dtype, rng)

    def forward(self, x, *, train=False):
        if getattr(x, "dtype", None) is not self.dtype or x.ndim != 2 or x.shape[1] == 1:
            x = self._input(x)
            if x.ndim == 1:  # one example's scores
                x = x.reshape(1, -1)
            if x.ndim != 2:
                raise ShapeError(f"Softmax takes rows (examples, scores), one softmax a row; got shape {x.shape}")
            if x.shape[1] == 1:
                raise ConfigError(one_unit_softmax("Softmax"))
        a = self._buffer("out" if train else "eval", x.shape)
        softmax_rows(x, a, self._buffer("col" if train else "eval_col", (x.shape[0], 1)),
                     self._buffer("index" if train else "eval_index", (x.shape[0],), np.intp))
        self._a = a
        return a

    def backward(self, grad_out, *, need_input_grad=True):
        a = self._a
        if a is None:
            raise _no_forward(self)
        g = self._buffer("grad_in", a.shape)
        col = self._buffer("col", (a.shape[0], 1))
        np.multiply(grad_out, a, out=g)
        np.add.reduce(g, axis=1, keepdims=True, out=col)
        np.subtract(grad_out, col, out=g)
        g *= a
        return g


class Dropout(Layer):
    """Inverted dropout: in training ``a = x ⊙ m / (1 − p)`` with ``m_ij ~ Bernoulli(1 − p)``
    drawn per step; at inference ``a = x``. Backward: ``∂L/∂x = g ⊙ m / (1 − p)``.

    The mask is drawn from the network's random generator. ``freeze_mask = True`` keeps
    the last mask (gradient checks need a fixed mask). ``rate`` may be changed between
    fits; it is checked whenever it is set."""

    type_name = "Dropout"

    def __init__(self, rate: float = 0.5):
        super().__init__()
        self.rate = rate
        self.rng: np.random.Generator | None = None
        self.freeze_mask = False
        self.bypass = False  # identity in training mode too: gradients of the inference function
        self._mask: np.ndarray | None = None
        self._active = False

    def _set_rate(self, value) -> None:
        self._rate = _checks.fraction("Dropout rate", value)

    # read by every forward and backward: a C getter, no Python call per step
    rate = property(operator.attrgetter("_rate"), _set_rate, doc="""p in [0, 1): 1 would divide by 0, and
        outside [0, 1) the kept units' scale 1/(1 − p) is wrong.""")

    def build(self, n_in, dtype, rng):
        self.rng = rng
        self._mask = None
        return super().build(n_in, dtype, rng)

    def config(self):
        return {"type": self.type_name, "rate": self.rate}

    def forward(self, x, *, train=False):
        if getattr(x, "dtype", None) is not self.dtype:
            x = self._input(x)
        self._active = train and self.rate > 0.0 and not self.bypass
        if not self._active:
            return x
        if self.rng is None:
            raise ConfigError("Dropout has no random generator for its masks yet: put it in a Network, or call "
                              "layer.build(n_in, dtype, rng) first")
        if not (self.freeze_mask and self._mask is not None and self._mask.shape == x.shape):
            u = self._buffer("uniform", x.shape)
            self.rng.random(x.shape, dtype=self.dtype.type, out=u)
            self._mask = self._buffer("mask", x.shape, np.bool_)
            np.greater_equal(u, self.rate, out=self._mask)
        a = self._buffer("out", x.shape)
        np.multiply(x, self._mask, out=a)
        a *= 1.0 / (1.0 - self.rate)
        return a

    def backward(self, grad_out, *, need_input_grad=True):
        if not self._active:
            return grad_out
        g = self._buffer("grad_in", grad_out.shape)
        np.multiply(grad_out, self._mask, out=g)
        g *= 1.0 / (1.0 - self.rate)
        return g


#: The closed table of layer types: configs, the CLI and model files may name only these.
LAYERS: Registry[type[Layer]] = Registry(
    "layer type", {cls.type_name: cls for cls in (Dense, Sigmoid, Tanh, ReLU, LeakyReLU, Identity, Softmax, Dropout)}
)

#: Activation names accepted by configs and the CLI and their classes.
ACTIVATIONS: Registry[type[Activation]] = Registry(
    "activation",
    {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU, "identity": Identity, "linear": Identity,
     "softmax": Softmax},
)


def layer_from_config(config: dict[str, Any]) -> Layer:
    """Rebuild a layer from :meth:`Layer.config`; only types in :data:`LAYERS` are accepted.
    A Dense layer whose initialiser was a custom callable gets the default (its weights
    come from the file)."""
    if isinstance(config, dict) and config.get("type") == "Dense" and not _known_initializer(config.get("init")):
        config = {**config, "init": "glorot_uniform"}
    return LAYERS.create(config)


def _known_initializer(init: Any) -> bool:
    try:
        resolve_initializer(init)
    except ConfigError:
        return False
    return True


# Preprocessing layers (raw inputs to network inputs, no parameters) live in their own module.
from .preprocessing import PREPROCESSING  # noqa: E402

for _name, _layer in PREPROCESSING.items():
    LAYERS.add(_name, _layer)
