"""Fused elementwise kernels for the training step, compiled with numba where it is installed.

Outside the GEMMs, a step is elementwise work: ``a = max(z, 0)``, ``δ ⊙ 1[a > 0]``, a row
softmax, and the optimizer's update of every weight. NumPy does each as several passes
over memory (one per ufunc, plus temporaries such as a boolean mask); a compiled loop does
it in one. The updates and ReLU have the same arithmetic, in the same order and precision,
as the NumPy forms they replace, so they agree bit for bit (with NumPy's ufuncs; the
SGD update NumPy's BLAS runs where numba is absent, :mod:`deltaprop.vector_blas`, rounds
``αx + y`` once and differs by an ulp or so). The softmax agrees to a few
ulps: its ``exp`` rounds differently, and its row sum accumulates in float64 where NumPy's
adds float32 pairwise.

A kernel returns ``True`` when it did the work and ``False`` when the caller should run
its NumPy form instead: numba is not installed, ``DELTAPROP_KERNELS=numpy`` is set (or
:func:`use` chose NumPy), the arrays are not C-contiguous float32/float64 of one shape, or
(for the updates) ``np.errstate`` asks overflow or invalid results to raise, which a
compiled loop cannot do. Otherwise an overflow in a compiled update writes ``inf`` without
a warning; ``fit`` then reports the divergence at the next loss or the end of the epoch.
Compiled code is cached on disk beside this module, so only the first run compiles.
``import deltaprop`` never imports numba; the first kernel call does.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from types import SimpleNamespace

import numpy as np

from .errors import ConfigError

__all__ = ["backend", "check_environment", "use", "sgd", "adam", "relu", "relu_backward", "softmax_rows"]

_CHOICES = ("auto", "numba", "numpy")
_env_choice: str | None = None  # DELTAPROP_KERNELS, read on first use
#: the choice made by :func:`use` in this thread or task (None: the environment's)
_override: ContextVar[str | None] = ContextVar("deltaprop_kernels", default=None)
_compiled: SimpleNamespace | None = None
_import_failed = False


def _from_environment() -> str:
    global _env_choice
    if _env_choice is None:
        value = os.environ.get("DELTAPROP_KERNELS", "auto").strip().lower() or "auto"
        if value not in _CHOICES:
            raise ConfigError(f"DELTAPROP_KERNELS={value!r}: use one of {', '.join(_CHOICES)} (or unset it).")
        _env_choice = value
    return _env_choice


def _kernels() -> SimpleNamespace | None:
    """The compiled kernels, or None where NumPy is to be used."""
    global _compiled, _import_failed
    override = _override.get()
    choice = override or _env_choice or _from_environment()
    if choice == "numpy":
        return None
    if _compiled is None:
        if _import_failed and choice == "auto":
            return None
        try:
            _compiled = _build()
        except ImportError:
            _import_failed = True
            if choice == "numba":
                how = "kernels.use('numba')" if override else "DELTAPROP_KERNELS=numba"
                raise ConfigError(f"numba kernels requested ({how}), but numba is not installed: pip install numba, "
                                  "or in a checkout of deltaprop uv sync --extra numba (or pip install \".[numba]\"); "
                                  "or ask for 'auto'.") from None
            return None
    return _compiled


def check_environment() -> None:
    """Refuse a bad ``DELTAPROP_KERNELS`` before any work, without building the kernels."""
    _from_environment()


def backend() -> str:
    """``"numba"`` if compiled kernels are in use, else ``"numpy"``."""
    return "numba" if _kernels() is not None else "numpy"


@contextmanager
def use(name: str):
    """Within the block (in this thread or task only), use the ``"numba"`` or ``"numpy"``
    kernels (``"auto"``: numba if installed). For comparing the two forms;
    ``DELTAPROP_KERNELS`` sets the default."""
    if name not in _CHOICES:
        raise ConfigError(f"kernel backend {name!r}: use one of {', '.join(_CHOICES)}.")
    token = _override.set(name)
    try:
        _kernels()  # a request for numba fails here if it is missing
        yield
    finally:
        _override.reset(token)


def _flat(*arrays: np.ndarray) -> list[np.ndarray] | None:
    """1-D views of same-dtype, same-shape, C-contiguous float arrays, or None."""
    first = arrays[0]
    dtype, shape = first.dtype, first.shape
    if dtype != np.float32 and dtype != np.float64:
        return None
    for a in arrays:
        if a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous:
            return None
    return [a.reshape(-1) for a in arrays]


def _errors_raise() -> bool:
    """True under ``np.errstate(over="raise")`` or ``invalid="raise"``: compiled loops cannot
    raise FloatingPointError, so the NumPy form runs and raises where it would."""
    err = np.geterr()
    return err["over"] == "raise" or err["invalid"] == "raise"


# -- the kernels the library calls ---------------------------------------------------------


def _compiled_for(*arrays: np.ndarray, update: bool = False):
    """``(kernels, 1-D views of arrays)`` when a compiled kernel may run on ``arrays``, else
    None. ``update``: an optimizer update, which also steps aside under a raising errstate."""
    k = _kernels()
    if k is None or (update and _errors_raise()):
        return None
    flat = _flat(*arrays)
    return None if flat is None else (k, flat)


def sgd(w: np.ndarray, g: np.ndarray, v: np.ndarray | None, lr: float, momentum: float, nesterov: bool) -> bool:
    """Seed 002's update in one pass. Plain: ``W −= α g``. Momentum:
    ``v := μ v − α g;  W += v``. Nesterov: ``W := (W − α g) + μ v`` with the new ``v``."""
    ready = _compiled_for(w, g, update=True) if v is None else _compiled_for(w, g, v, update=True)
    if ready is None:
        return False
    k, flat = ready
    t = w.dtype.type
    if v is None:
        k.sgd_plain(*flat, t(lr))
    else:
        k.sgd_momentum(*flat, t(lr), t(momentum), bool(nesterov))
    return True


def adam(w, g, m, v, *, beta1: float, beta2: float, inv_sqrt_c2: float, eps: float, step: float) -> bool:
    """Adam's update in one pass: ``m := β₁m + (1−β₁)g;  v := β₂v + (1−β₂)g²;
    W −= (m / (√v · c₂^{-1/2} + ε)) · step`` with ``step = α / (1 − β₁ᵗ)``."""
    ready = _compiled_for(w, g, m, v, update=True)
    if ready is None:
        return False
    k, flat = ready
    t = w.dtype.type
    k.adam(*flat, t(beta1), t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(inv_sqrt_c2), t(eps), t(step))
    return True


def relu(z: np.ndarray, out: np.ndarray) -> bool:
    """``a = max(z, 0)`` (NaN passes through, as with ``np.maximum``)."""
    ready = _compiled_for(z, out)
    if ready is None:
        return False
    k, flat = ready
    k.relu(*flat, z.dtype.type(0))
    return True


def relu_backward(grad_out: np.ndarray, a: np.ndarray, out: np.ndarray) -> bool:
    """``∂L/∂z = g ⊙ 1[a > 0]``."""
    ready = _compiled_for(grad_out, a, out)
    if ready is None:
        return False
    k, flat = ready
    k.relu_backward(*flat, a.dtype.type(0))
    return True


def softmax_rows(z: np.ndarray, out: np.ndarray, floor: float) -> bool:
    """Per row ``e^{max(z − max z, floor)} / Σ`` in one read of ``z`` and one of ``out``."""
    if z.ndim != 2 or z.shape[1] == 0:
        return False
    ready = _compiled_for(z, out)  # the kernel takes the 2-D arrays themselves
    if ready is None:
        return False
    ready[0].softmax_rows(z, out, z.dtype.type(floor), z.dtype.type(0))
    return True


# -- compiled forms --------------------------------------------------------------------------


def _build() -> SimpleNamespace:
    """Compile (or load from the on-disk cache) the numba forms. No fastmath: every
    operation rounds as the NumPy form's does, and nothing is reassociated or fused."""
    import numba

    jit = numba.njit(cache=True, nogil=True, boundscheck=False)
    return SimpleNamespace(**_updates(jit), **_activations(jit))


def _updates(jit) -> dict:
    """The optimizers' updates, each one pass over the flat parameter buffer."""
    import math

    @jit
    def sgd_plain(w, g, lr):
        for i in range(w.size):
            w[i] -= g[i] * lr

    @jit
    def sgd_momentum(w, g, v, lr, mu, nesterov):
        if nesterov:
            for i in range(w.size):
                step = g[i] * lr
                vi = v[i] * mu - step
                v[i] = vi
                w[i] = (w[i] - step) + vi * mu
        else:
            for i in range(w.size):
                vi = v[i] * mu - g[i] * lr
                v[i] = vi
                w[i] += vi

    @jit
    def adam(w, g, m, v, b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_c2, eps, step):
        for i in range(w.size):
            gi = g[i]
            mi = m[i] * b1 + gi * one_minus_b1
            vi = v[i] * b2 + (gi * gi) * one_minus_b2
            m[i] = mi
            v[i] = vi
            w[i] -= (mi / (math.sqrt(vi) * inv_sqrt_c2 + eps)) * step

    return {"sgd_plain": sgd_plain, "sgd_momentum": sgd_momentum, "adam": adam}


def _activations(jit) -> dict:
    """ReLU forward and backward and the row softmax."""
    import math

    @jit
    def relu(z, out, zero):
        for i in range(z.size):  # np.maximum(z, 0): z where z > 0 or z is NaN, else +0
            x = z[i]
            out[i] = x if (x > zero or x != x) else zero

    @jit
    def relu_backward(grad_out, a, out, zero):
        for i in range(a.size):  # g · 1[a > 0], so ±0 and NaN come out as NumPy's product gives them
            out[i] = grad_out[i] if a[i] > zero else grad_out[i] * zero

    @jit
    def softmax_rows(z, out, floor, zero):  # the row sum accumulates in float64
        n, k = z.shape
        for r in range(n):
            top = z[r, 0]
            for j in range(1, k):
                if z[r, j] > top or z[r, j] != z[r, j]:  # a NaN wins, as in np.max
                    top = z[r, j]
            total = 0.0
            for j in range(k):
                d = z[r, j] - top
                if d < floor:  # NaN stays NaN
                    d = floor
                e = math.exp(d)
                out[r, j] = e
                total += e
            for j in range(k):
                out[r, j] = out[r, j] / total

    return {"relu": relu, "relu_backward": relu_backward, "softmax_rows": softmax_rows}
