"""Watching a metric for improvement: what early stopping and the plateau schedule share."""

from __future__ import annotations

import math
from typing import Any

from . import _checks
from .errors import ConfigError


#: The metrics a watch can follow: those every epoch's history record holds.
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")


class MetricWatch:
    """The best value of ``monitor`` so far and the epochs since it last improved.

    Names ending in ``accuracy`` are maximised, others minimised; an improvement beats the
    best by more than ``min_delta``. A ``val_`` metric falls back to its training
    counterpart when there is no validation data; epochs with a non-finite value are
    skipped, and a metric the run does not record at all (accuracy when the targets are
    not classes) raises :class:`~deltaprop.errors.ConfigError` at the first epoch."""

    def __init__(self, monitor: str = "val_loss", *, min_delta: float = 0.0):
        if not isinstance(monitor, str) or monitor not in MONITORS:
            raise ConfigError(f"monitor must be one of the metrics training records: {', '.join(MONITORS)}; "
                              f"got {monitor!r}")
        self.monitor = monitor
        self.min_delta = _checks.positive_number("min_delta", min_delta, allow_zero=True)
        self.maximise = monitor.endswith("accuracy")
        self.reset()

    def reset(self) -> None:
        self.best = math.nan
        self.wait = 0

    def value(self, logs: dict[str, Any]) -> float | None:
        """The watched value in an epoch's ``logs`` (None if absent)."""
        value = logs.get(self.monitor)
        if value is None and self.monitor.startswith("val_"):
            value = logs.get(self.monitor[4:])
        return value

    def update(self, logs: dict[str, Any]) -> bool | None:
        """Note an epoch: True if it improved on the best (now its value), False if not (one
        more epoch waited), None if its value is not finite."""
        value = self.value(logs)
        if value is None:
            raise ConfigError(
                f"monitor {self.monitor!r} has no value in this run: accuracy is recorded only for class "
                "targets; watch 'loss' or 'val_loss' instead"
            )
        if not math.isfinite(value):
            return None
        best = self.best
        if math.isnan(best):
            improved = True
        elif self.maximise:  # bool: a NumPy value compares to np.bool_, which `is False` misses
            improved = bool(value > best + self.min_delta)
        else:
            improved = bool(value < best - self.min_delta)
        if improved:
            self.best = value
            self.wait = 0
        else:
            self.wait += 1
        return improved
