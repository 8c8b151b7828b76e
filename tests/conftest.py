"""Shared test setup.

The core engine's tests run under ``np.errstate(all="raise")``: an overflow, an invalid
operation (0/0, inf − inf), a division by zero or an underflow anywhere in the engine is
an error, not a warning that scrolls past. The stable forms (log-sum-exp, the clipped
exponent, sigmoid through tanh) must hold up without help. Other modules' tests (data,
CLI, files, plots, ...) run with numpy's defaults; a module joins by being named below.
"""

from __future__ import annotations

import numpy as np
import pytest

#: Test modules that run under np.errstate(all="raise").
STRICT_FLOAT_MODULES = frozenset(
    {
        "test_layers",
        "test_losses",
        "test_gradcheck",
        "test_optimizers",
        "test_schedules",
        "test_network",
        "test_training",
        "test_callbacks",
        "test_metrics",
        "test_validation",
        "test_readme",
    }
)


@pytest.fixture(autouse=True)
def _strict_floating_point(request):
    module = getattr(getattr(request.node, "module", None), "__name__", "").rpartition(".")[2]
    if module not in STRICT_FLOAT_MODULES:
        yield
        return
    with np.errstate(all="raise"):
        yield
