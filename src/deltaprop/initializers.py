"""Weight initialisers: ``init(rng, n_in, n_out, dtype) -> W`` of shape ``(n_in, n_out)``.

Biases always start at zero. Weights must not: with equal weights every unit of a layer
computes the same ``a`` and receives the same ``δ``, so they stay equal for ever (the
symmetry problem of seed 002); :func:`zeros` exists for demonstrating exactly that.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from . import _checks
from .errors import ConfigError
from .registry import Registry, normalise

Initializer = Callable[[np.random.Generator, int, int, np.dtype], np.ndarray]


def _fans(n_in, n_out) -> tuple[int, int]:
    """The layer's widths, each a whole number ``>= 1``."""
    return _checks.positive_int("n_in", n_in), _checks.positive_int("n_out", n_out)


def he_normal(rng: np.random.Generator, n_in: int, n_out: int, dtype=np.float32) -> np.ndarray:
    """He et al. (2015), seed 002: ``W ~ N(0, 2 / n_in)``; keeps the variance of ReLU layers."""
    n_in, n_out = _fans(n_in, n_out)
    std = math.sqrt(2.0 / n_in)
    return (rng.standard_normal((n_in, n_out)) * std).astype(dtype, copy=False)


def glorot_uniform(rng: np.random.Generator, n_in: int, n_out: int, dtype=np.float32) -> np.ndarray:
    """Glorot and Bengio (2010): ``W ~ U(−r, r)``, ``r = sqrt(6 / (n_in + n_out))``; for sigmoid/tanh."""
    n_in, n_out = _fans(n_in, n_out)
    limit = math.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out)).astype(dtype, copy=False)


class ScaledNormal:
    """Seed 000's initialiser: ``W = scale · randn`` (``scale`` 0.1 by default).
    A class rather than a closure, so networks that use it can be pickled."""

    def __init__(self, scale: float = 0.1):
        if isinstance(scale, bool) or not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ConfigError(f"scaled_normal scale must be a finite number > 0, got {scale!r}")
        self.scale = float(scale)
        self.__name__ = f"scaled_normal({self.scale:g})"

    def __call__(self, rng: np.random.Generator, n_in: int, n_out: int, dtype=np.float32) -> np.ndarray:
        return (rng.standard_normal((n_in, n_out)) * self.scale).astype(dtype, copy=False)

    def __repr__(self) -> str:
        return self.__name__


def scaled_normal(scale: float = 0.1) -> Initializer:
    """Seed 000's initialiser ``W = scale · randn``, as a callable for ``Dense(init=...)``."""
    return ScaledNormal(scale)


def zeros(rng: np.random.Generator, n_in: int, n_out: int, dtype=np.float32) -> np.ndarray:
    """All-zero weights. Almost always a mistake in a layer that feeds another: warns about the
    symmetry problem (a :class:`~deltaprop.network.Network` does not for its last Dense layer,
    whose units each have a target of their own)."""
    warnings.warn(
        "Dense weights initialised to zero: every unit of the layer gets the same output and "
        "the same gradient, so the units never become different (the symmetry problem). "
        "Use init='he_normal' (ReLU) or 'glorot_uniform' (sigmoid, tanh) instead.",
        UserWarning,
        stacklevel=4,
    )
    return np.zeros((n_in, n_out), dtype=dtype)


INITIALIZERS: Registry[Initializer] = Registry(
    "initialiser",
    {"he_normal": he_normal, "glorot_uniform": glorot_uniform, "scaled_normal": scaled_normal(0.1), "zeros": zeros},
)


def forms() -> list[str]:
    """Every form an initialiser may be named by (``init=``, ``--init``, a config's ``init``),
    in the registry's order: each name, followed by ``NAME(S)`` where the entry takes a
    scale (a :class:`ScaledNormal`)."""
    out = []
    for name in INITIALIZERS:
        out.append(name)
        if isinstance(INITIALIZERS[name], ScaledNormal):
            out.append(f"{name}(S)")
    return out


def forms_words() -> str:
    """:func:`forms` as a choice to name in a message or a help text."""
    named = forms()
    scaled = next((form for form in named if form.endswith("(S)")), None)
    example = "" if scaled is None else f" (S: a scale > 0, e.g. {scaled.removesuffix('(S)')}(0.01))"
    return ", ".join(named) + example


def _scale(text: str) -> float:
    """The ``S`` of ``scaled_normal(S)``, read before names are normalised (``1e-3`` keeps its
    minus sign); anything but a finite number > 0 is refused, naming what was written."""
    try:
        scale = float(text)
    except ValueError:
        scale = float("nan")
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"scaled_normal's scale must be a finite number > 0, got {text!r}; "
                          "for example scaled_normal(0.01)")
    return scale


def resolve(init: str | Initializer) -> tuple[str, Initializer]:
    """Name and function of an initialiser given by name (see ``INITIALIZERS``, or
    ``"scaled_normal(s)"``) or as a callable."""
    if callable(init):
        return getattr(init, "__name__", "custom"), init
    if isinstance(init, str):
        key = normalise(init)
        if key in INITIALIZERS:
            return key, INITIALIZERS[key]
        head, _, arg = init.strip().lower().replace(" ", "").partition("(")
        if normalise(head) == "scaled_normal" and arg.endswith(")"):
            return f"scaled_normal({arg[:-1]})", scaled_normal(_scale(arg[:-1]))
    raise ConfigError(
        f"unknown initialiser {init!r}; choose one of {forms_words()} "
        "or pass a callable (rng, n_in, n_out, dtype) -> W"
    )
