"""Flushing subnormal floats to zero while training, scoped to one thread.

A momentum buffer ``V := μV − αg`` of a weight whose gradient stays zero (a border pixel of
MNIST, a dead unit) decays geometrically, ``|V| ∝ μᵗ``, and spends about 150 steps in the
subnormal range below 1.2e-38 (float32) before reaching zero. On many x86 processors each
arithmetic operation on a subnormal operand or result takes a slow microcode path (tens of
times slower), so a whole optimizer pass slows down with them. Setting the processor's
flush-to-zero (FTZ: subnormal results become 0) and denormals-are-zero (DAZ: subnormal
operands read as 0) modes removes that cost; they change only values below the smallest
normal float, which no training run can tell from zero.

The modes live in a per-thread control register (MXCSR on x86-64, FPCR on AArch64).
NumPy cannot set them and Python's standard library has no call for them, but the C
library's ``fegetenv``/``fesetenv`` save and load the whole floating-point environment, the
control register included; :func:`flush_subnormals` edits the saved register's bits through
``ctypes`` and restores the caller's environment on exit, exceptions and Ctrl-C included.
On a platform whose environment layout is not known here it does nothing and says so
(:func:`supported`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import platform
import sys
from collections.abc import Iterator

__all__ = ["flush_subnormals", "subnormals_flushed", "supported"]

# (byte offset of the control register in glibc's fenv_t, the bits that flush subnormals)
_LAYOUTS = {
    "x86_64": (28, (1 << 15) | (1 << 6)),  # MXCSR: FTZ (bit 15) and DAZ (bit 6)
    "amd64": (28, (1 << 15) | (1 << 6)),
    "aarch64": (0, 1 << 24),  # FPCR: FZ (bit 24)
    "arm64": (0, 1 << 24),
}
_FENV_BYTES = 64  # larger than glibc's fenv_t on either machine


def _libm():
    if not sys.platform.startswith("linux") or platform.machine().lower() not in _LAYOUTS:
        return None
    name = ctypes.util.find_library("m")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.fegetenv.argtypes = [ctypes.c_void_p]
        lib.fesetenv.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


_LIB = _libm()


def supported() -> bool:
    """Whether this platform's flush-to-zero mode can be set (Linux on x86-64 or AArch64)."""
    return _LIB is not None


def _register(env) -> int:
    offset, _ = _LAYOUTS[platform.machine().lower()]
    return int.from_bytes(env.raw[offset : offset + 4], "little")


def subnormals_flushed() -> bool:
    """Whether the calling thread flushes subnormals now."""
    if _LIB is None:
        return False
    env = ctypes.create_string_buffer(_FENV_BYTES)
    _LIB.fegetenv(env)
    _, bits = _LAYOUTS[platform.machine().lower()]
    return _register(env) & bits == bits


@contextlib.contextmanager
def flush_subnormals(enabled: bool = True) -> Iterator[bool]:
    """Within the block, the calling thread flushes subnormal results and operands to zero;
    the caller's floating-point environment is restored on the way out. Yields whether
    flushing is on (False when ``enabled`` is False or the platform is not supported)."""
    if not enabled or _LIB is None:
        yield False
        return
    saved = ctypes.create_string_buffer(_FENV_BYTES)
    if _LIB.fegetenv(saved) != 0:
        yield False
        return
    offset, bits = _LAYOUTS[platform.machine().lower()]
    flushed = ctypes.create_string_buffer(saved.raw, _FENV_BYTES)
    ctypes.memmove(ctypes.addressof(flushed) + offset, (_register(saved) | bits).to_bytes(4, "little"), 4)
    _LIB.fesetenv(flushed)
    try:
        yield True
    finally:
        _LIB.fesetenv(saved)
