"""The SGD and Adam updates by level-1 BLAS: ``y := αx + βy`` (axpby) and ``y += αx`` (axpy), from the
OpenBLAS that NumPy itself links, called through ctypes.

NumPy runs seed 002's momentum step ``V := μV − αg;  W := W + V`` as four passes over
memory on one core (``V *= μ``, ``s = αg``, ``V −= s``, ``W += V``). OpenBLAS does the first
line in one pass (axpby) and the second in one pass split over the BLAS threads (axpy), or on
the caller's thread where it flushes subnormals (see :func:`sgd`).
Measured in ``fit`` for 784-256-128-10 (``bench/interleaved.py``, chunks of steps against
the hand-written NumPy loop in one process, medians, two runs each with
``DELTAPROP_BLAS_UPDATES=off`` then ``on``): an epoch took 0.972-0.978 of the loop's time
without these updates and 0.945-0.946 with them at batch 128, 0.973-0.976 and 0.946-0.954
at batch 512. Before ``W += V`` was kept on the flushing caller's thread, the threaded
axpy gave 0.925 and 0.938 (against 0.964 and 0.985); at batch 32, on one thread, 0.949
against 0.998. With the update's arrays pushed out of the caches before each call
(``bench/update_forms.py``), the two forms take about the same time.

The arithmetic is the same, but OpenBLAS computes ``αx + y`` with one rounding (a fused
multiply-add) where NumPy rounds ``αx`` first: results differ from the NumPy form by an
ulp or so per step. Neither the thread count nor the run changes a bit (see :func:`sgd`),
so same-seed runs stay bit-identical.

The arrays of a call are checked once and kept (:data:`_FIT`): an optimizer passes the same
ones every step, and checking them again (and making a NumPy scalar of every coefficient)
cost more than the update of a small network. Measured by the process time of ``fit``
(``bench/small_steps.py``: ``threads=1``, NumPy kernels, best of five, three alternating runs each): a step of seed
001's 10-3-2 parity network at batch 8 took 33.3-34.6 µs before and 30.1-30.8 µs after,
one of a 64-32-10 ReLU network with momentum at batch 32 48.9-51.0 µs and 43.2-44.1 µs.

Used when NumPy's BLAS is an OpenBLAS (as in NumPy's own wheels on Linux and Windows) whose
``openblas_get_config`` says how wide its integers are, the arrays are C-contiguous
float32 or float64 of one size, and ``np.errstate`` does not ask overflow or invalid
results to raise (a BLAS call cannot). A check on first use compares both routines with
NumPy on a small vector; any failure, or ``DELTAPROP_BLAS_UPDATES=off``, leaves the
NumPy form.
"""

from __future__ import annotations

import ctypes
import os
import threading
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .errors import ConfigError

__all__ = ["adam", "available", "check_environment", "sgd", "use"]

_UNSET = object()
_routines: SimpleNamespace | None | object = _UNSET
#: False inside ``use(False)``: the NumPy form, in this thread or task
_enabled: ContextVar[bool] = ContextVar("deltaprop_blas_updates", default=True)


@contextmanager
def use(enabled: bool):
    """Within the block, run the updates by BLAS (``True``, where available) or in NumPy."""
    token = _enabled.set(bool(enabled))
    try:
        yield
    finally:
        _enabled.reset(token)


def _numpy_openblas() -> tuple[ctypes.CDLL, str, str, bool] | None:
    """NumPy's OpenBLAS: (library, symbol prefix, symbol suffix, 64-bit integers)."""
    from threadpoolctl import threadpool_info

    numpy_dir = Path(np.__file__).resolve().parent
    places = (numpy_dir, numpy_dir.parent / "numpy.libs")
    for info in threadpool_info():
        if info.get("internal_api") != "openblas" or not info.get("filepath"):
            continue
        path = Path(info["filepath"]).resolve()
        if not any(place in path.parents for place in places):
            continue  # another package's copy (SciPy's); NumPy's is the one its threads follow
        lib = ctypes.CDLL(str(path))
        for prefix in ("scipy_", ""):
            for suffix in ("64_", ""):
                get_config = getattr(lib, f"{prefix}openblas_get_config{suffix}", None)
                if get_config is None:
                    continue
                get_config.restype = ctypes.c_char_p
                config = get_config() or b""
                return lib, prefix, suffix, b"USE64BITINT" in config
    return None


def _bind(lib: ctypes.CDLL, prefix: str, suffix: str, wide: bool) -> SimpleNamespace | None:
    """ctypes prototypes of cblas_{s,d}axpy and cblas_{s,d}axpby, or None if one is missing."""
    n = ctypes.c_int64 if wide else ctypes.c_int32
    ptr = ctypes.c_void_p
    routines = {}
    for dtype, letter, real in ((np.float32, "s", ctypes.c_float), (np.float64, "d", ctypes.c_double)):
        axpy = getattr(lib, f"{prefix}cblas_{letter}axpy{suffix}", None)
        axpby = getattr(lib, f"{prefix}cblas_{letter}axpby{suffix}", None)
        if axpy is None or axpby is None:
            return None
        axpy.argtypes = [n, real, ptr, n, ptr, n]
        axpy.restype = None
        axpby.argtypes = [n, real, ptr, n, real, ptr, n]
        axpby.restype = None
        routines[np.dtype(dtype)] = (axpy, axpby)
    return SimpleNamespace(by_dtype=routines)


def _passes_check(r: SimpleNamespace) -> bool:
    """Both routines agree with NumPy on a vector with a ragged tail, in both precisions."""
    rng = np.random.default_rng(0)
    for dtype, (axpy, axpby) in r.by_dtype.items():
        x = rng.standard_normal(1037).astype(dtype)
        y = rng.standard_normal(1037).astype(dtype)
        want_by = np.asarray(-0.25, dtype) * x + np.asarray(0.5, dtype) * y
        want_py = want_by + np.asarray(1.5, dtype) * x
        axpby(x.size, -0.25, x.ctypes.data, 1, 0.5, y.ctypes.data, 1)
        ok = np.allclose(y, want_by, rtol=1e-5, atol=0)
        axpy(x.size, 1.5, x.ctypes.data, 1, y.ctypes.data, 1)
        if not (ok and np.allclose(y, want_py, rtol=1e-5, atol=0)):
            return False
    return True


_ON, _OFF = ("on", "1", "yes", "true", ""), ("off", "0", "no", "false")


def _from_environment() -> bool:
    """``DELTAPROP_BLAS_UPDATES``: on (the default) or off; anything else is refused, so a
    misspelt ``of`` does not leave them on unnoticed."""
    value = os.environ.get("DELTAPROP_BLAS_UPDATES", "on").strip().lower()
    if value not in _ON + _OFF:
        raise ConfigError(f"DELTAPROP_BLAS_UPDATES={value!r}: use on or off (or unset it)")
    return value in _ON


def check_environment() -> None:
    """Refuse a bad ``DELTAPROP_BLAS_UPDATES`` before any work: it is read on the first SGD
    update NumPy runs, which compiled kernels never make."""
    _from_environment()


_loading = threading.Lock()


def _load() -> SimpleNamespace | None:
    """The routines, found and checked on first use; a thread that asks meanwhile waits for
    them (given the NumPy form for its first steps, a run in it lost its bit-identity)."""
    global _routines
    if _routines is _UNSET:
        with _loading:
            if _routines is _UNSET:
                routines = None
                if _from_environment():
                    try:
                        found = _numpy_openblas()
                        bound = _bind(*found) if found is not None else None
                        routines = bound if bound is not None and _passes_check(bound) else None
                    except (OSError, AttributeError, ImportError):
                        routines = None
                _routines = routines
    return _routines  # type: ignore[return-value]


def available() -> bool:
    """Whether the SGD updates run by BLAS here (in this process, thread and ``use`` block)."""
    return _enabled.get() and _load() is not None


#: Arrays found fit for BLAS (:func:`_fit_arrays`), by the ids of the arrays of a call: weak
#: references to them, their routines and their data addresses. An optimizer passes the same
#: arrays every step; checking them again cost more than the update of a small network.
_FIT: dict[tuple[int, ...], tuple[tuple[weakref.ref, ...], tuple, tuple[int, ...]]] = {}
_FIT_MAX = 64


def _ready(*arrays: np.ndarray) -> tuple[tuple, tuple[int, ...]] | None:
    """``(routines, data addresses)`` for a call on ``arrays``, or None for the NumPy form:
    BLAS updates on, the arrays fit (:func:`_fit_arrays`) and writable, and ``np.errstate``
    not asking overflow or invalid results to raise."""
    if not _enabled.get() or _load() is None:
        return None
    key = tuple(map(id, arrays))
    found = _FIT.get(key)
    if found is None or any(ref() is not a for ref, a in zip(found[0], arrays)):
        fit = _fit_arrays(arrays)
        if fit is None:
            return None
        if len(_FIT) >= _FIT_MAX:
            _FIT.clear()
        found = _FIT[key] = (tuple(weakref.ref(a) for a in arrays), *fit)
    for a in arrays:
        if not a.flags.writeable:
            return None
    err = np.geterr()
    if err["over"] == "raise" or err["invalid"] == "raise":
        return None
    return found[1], found[2]


def _fit_arrays(arrays) -> tuple[tuple, tuple[int, ...]] | None:
    """The routines of the arrays' dtype and their data addresses, where they are NumPy arrays
    of one dtype BLAS has, one size, C-contiguous, and share no memory; else None. An
    array's address, dtype, size and layout stay as they are while it lives (``resize`` in
    place is refused to an array others refer to, as these are)."""
    first = arrays[0]
    routines = _routines.by_dtype.get(first.dtype)  # type: ignore[union-attr]
    if routines is None:
        return None
    for a in arrays:
        if a.dtype != first.dtype or a.size != first.size or not a.flags.c_contiguous:
            return None
    for i, a in enumerate(arrays):
        if any(np.may_share_memory(a, b) for b in arrays[i + 1:]):
            return None
    return routines, tuple(a.ctypes.data for a in arrays)


def sgd(w: np.ndarray, g: np.ndarray, v: np.ndarray | None, lr: float, momentum: float, nesterov: bool) -> bool:
    """Seed 002's update by BLAS; ``False`` when the caller should run the NumPy form.
    Plain: ``W := (−α) g + W``. Momentum: ``V := (−α) g + μV;  W += V``. Nesterov: the same
    ``V``, then ``W := (−α) g + W;  W := μV + W``.

    Only ``W += V`` goes to OpenBLAS's axpy, which it splits over its threads: with
    ``α ≠ 1`` its result changed with the thread count (5 of 235,153 elements differed in
    the last bit between one thread and two), while ``1·x`` is exact, so ``1·x + y`` has one
    rounding whichever thread computes it. The others run by axpby, which OpenBLAS runs on
    the caller's thread. Where that thread flushes subnormals (``fit``'s default), ``W += V``
    runs by axpby too (the same bits): OpenBLAS's threads take the caller's modes for a
    GEMM but not for axpy, so with axpy the share they computed kept subnormal weights that
    one thread, or the NumPy form, zeroes."""
    ready = _ready(w, g) if v is None else _ready(w, g, v)
    if ready is None or _any_zero(w.dtype, lr, momentum if v is not None else 1.0):
        return False
    (axpy, axpby), (wp, gp, *vp) = ready
    n = w.size
    if v is None:
        axpby(n, -lr, gp, 1, 1.0, wp, 1)
        return True
    vp = vp[0]
    axpby(n, -lr, gp, 1, momentum, vp, 1)
    if nesterov:
        axpby(n, -lr, gp, 1, 1.0, wp, 1)
        axpby(n, momentum, vp, 1, 1.0, wp, 1)
    elif _flushing():  # OpenBLAS's threads would not flush: the caller's thread does it all
        axpby(n, 1.0, vp, 1, 1.0, wp, 1)
    else:
        axpy(n, 1.0, vp, 1, wp, 1)
    return True


def _any_zero(dtype: np.dtype, *coefficients: float) -> bool:
    """Whether a coefficient is 0 in ``dtype``: OpenBLAS's axpby then skips its term
    (``y := βy`` for α = 0, ``y := αx`` for β = 0), so ``0·inf`` and ``0·NaN`` would not give
    NaN as in the NumPy form (an inf gradient at α = 0, the end of a cosine schedule, left
    the weights finite where NumPy and the compiled kernels make them NaN); the NumPy form
    runs instead. (A coefficient of at least 1e-30 in size is no 0 in either precision: checked
    without making a NumPy scalar of it.)"""
    if all(abs(c) >= 1e-30 for c in coefficients):  # NaN fails the test: checked below
        return False
    return any(dtype.type(c) == 0 for c in coefficients)


#: the smallest subnormal float64; ``_SUBNORMAL * 1.0`` is 0 in a thread that flushes
_SUBNORMAL = 5e-324


def _flushing() -> bool:
    """Whether the calling thread flushes subnormal results to zero or reads subnormal
    operands as zero (FTZ/DAZ, as :func:`deltaprop.fpenv.flush_subnormals` sets them, and as
    ``fit`` trains by default). The modes are per thread and OpenBLAS's own threads keep
    theirs, so an axpy split over them would flush only the caller's share."""
    return _SUBNORMAL * _ONE == 0.0


_ONE = 1.0  # a name, not a literal, so that the product is computed at run time


def adam(w, g, m, v, scratch, *, beta1: float, beta2: float, inv_sqrt_c2: float, eps: float, step: float) -> bool:
    """Adam's update with its three ``y := αx + βy`` by BLAS (``m := (1−β₁) g + β₁m``,
    ``v := (1−β₂) g² + β₂v``, ``W := (−step) m / (√v · c₂^{-1/2} + ε) + W``) and the rest in
    NumPy: eight passes over memory where NumPy takes twelve. ``False``: run the NumPy form."""
    ready = _ready(w, g, m, v, scratch)
    if ready is None or _any_zero(w.dtype, beta1, beta2, 1.0 - beta1, 1.0 - beta2, step):
        return False
    (_, axpby), (wp, gp, mp, vp, sp) = ready
    n = w.size
    axpby(n, 1.0 - beta1, gp, 1, beta1, mp, 1)
    np.multiply(g, g, out=scratch)
    axpby(n, 1.0 - beta2, sp, 1, beta2, vp, 1)
    np.sqrt(v, out=scratch)
    scratch *= inv_sqrt_c2
    scratch += eps
    np.divide(m, scratch, out=scratch)
    axpby(n, -step, sp, 1, 1.0, wp, 1)
    return True
