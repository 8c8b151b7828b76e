"""Watching a metric for improvement: what early stopping and the plateau schedule share."""

from __future__ import annotations

import math
from typing import Any

from . import _checks
from .errors import ConfigError


class MetricWatch:
    """The best value of ``monitor`` so far and the epochs since it last improved.

    Names ending in ``accuracy`` are maximised, others minimised; an improvement beats the
    best by more than ``min_delta``. A ``val_`` metric falls back to its training
    counterpart when there is no validation data; epochs without a finite value are
    skipped."""

    def __init__(self, monitor: str = "val_loss", *, min_delta: float = 0.0):
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(f"monitor must be a metric name such as 'val_loss' or 'val_accuracy', got {monitor!r}")
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
        more epoch waited), None if it had no finite value."""
        value = self.value(logs)
        if value is None or not math.isfinite(value):
            return None
        best = self.best
        if math.isnan(best):
            improved = True
        elif self.maximise:
            improved = value > best + self.min_delta
        else:
            improved = value < best - self.min_delta
        if improved:
            self.best = value
            self.wait = 0
        else:
            self.wait += 1
        return improved
