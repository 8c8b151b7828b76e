"""The parity problem of seed 001: classify every n-bit number as even or odd."""

from __future__ import annotations

import numpy as np

from deltaprop.data.dataset import Dataset
from deltaprop.errors import ConfigError

__all__ = ["PARITY_CLASS_NAMES", "load_parity", "parity_arrays"]

#: Label 0 is odd, label 1 is even, as in seed 001 (``y = int(e % 2 == 0)``).
PARITY_CLASS_NAMES = ("odd", "even")
_MAX_BITS = 24


def parity_arrays(bits: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """All ``2**bits`` numbers in order: x float32 0/1 of shape ``(2**bits, bits)``, most
    significant bit first (seed 001's ``'{0:010b}'.format(e)``); y int64, 1 when even."""
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= _MAX_BITS:
        raise ConfigError(f"bits must be an integer in 1..{_MAX_BITS}, got {bits!r}.")
    numbers = np.arange(2**bits, dtype=np.int64)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    x = ((numbers[:, None] >> shifts) & 1).astype(np.float32)
    y = (numbers % 2 == 0).astype(np.int64)
    return x, y


def load_parity(bits: int = 10, n_train: int | None = None) -> Dataset:
    """Seed 001's parity data: the first ``n_train`` numbers train, the rest test.

    ``n_train`` defaults to the seed's 700 for 10 bits and to the same share (700/1024)
    of the numbers for other widths. x is float32 0/1 (already in [0, 1]).
    """
    x, y = parity_arrays(bits)
    if n_train is None:
        n_train = 700 if bits == 10 else int(round(len(x) * 700 / 1024))
    if not 0 < n_train < len(x):
        raise ConfigError(f"n_train must be in 1..{len(x) - 1} for {bits} bits, got {n_train}.")
    return Dataset(x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:],
                   y_test=y[n_train:], name="parity", class_names=PARITY_CLASS_NAMES,
                   source="every n-bit number, label 1 when even (seed 001)")
