"""fit limits NumPy's BLAS threads through one threadpoolctl controller for the process:
building one reads /proc/self/maps and inspects every loaded library (about 6 ms), which
every fit and partial_fit paid (scikit-learn's partial_fit loops: 7.6 ms a call, 1.9 now)."""

from __future__ import annotations

import numpy as np
import pytest
import threadpoolctl

import deltaprop as dp
from deltaprop import training


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_fits_share_one_controller_and_each_runs_on_the_threads_asked(monkeypatch):
    built = []
    original = threadpoolctl.ThreadpoolController

    class Counting(threadpoolctl.ThreadpoolController):
        def __init__(self):
            built.append(self)
            super().__init__()

    X = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.mlp([3, 4, 2], activation="tanh", output="softmax", seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(0.1), epochs=1, threads=1)  # its lazy imports
    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", Counting)
    monkeypatch.setattr(training, "_BLAS_CONTROLLER", None)
    seen = []

    class Threads(dp.callbacks.Callback):
        def on_epoch_end(self, state):
            seen.append(max(i["num_threads"] for i in original().info() if i["user_api"] == "blas"))

    for threads in (1, 1, 2):
        net = dp.mlp([3, 4, 2], activation="tanh", output="softmax", seed=0)
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(0.1), epochs=1, threads=threads, callbacks=[Threads()])
    assert len(built) == 1
    assert seen == [1, 1, 2]


def test_the_controller_is_built_again_after_an_import_that_may_have_loaded_a_blas(monkeypatch):
    """``import scipy.optimize`` after a first fit loads SciPy's own OpenBLAS: a controller
    built before it would leave that library's threads unlimited."""
    import sys
    import types

    first = training.blas_controller()
    assert training.blas_controller() is first
    monkeypatch.setitem(sys.modules, "deltaprop_test_newly_imported", types.ModuleType("deltaprop_test_newly_imported"))
    second = training.blas_controller()
    assert second is not first and training.blas_controller() is second
