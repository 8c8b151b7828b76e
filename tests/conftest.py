"""Shared test setup.

The core engine's tests run under ``np.errstate(all="raise")``: an overflow, an invalid
operation (0/0, inf − inf), a division by zero or an underflow anywhere in the engine is
an error, not a warning that scrolls past. The stable forms (log-sum-exp, the clipped
exponent, sigmoid through tanh) must hold up without help. Other modules' tests (data,
CLI, files, plots, ...) run with numpy's defaults; a module joins by being named below.
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest

# The suite checks the NumPy forms of the kernels against the seeds' formulas; the compiled
# forms (numba, the optional extra: `uv run --extra numba pytest`) are compared with them in test_kernels.py and
# test_performance.py, which ask for them by name. DELTAPROP_KERNELS=auto runs every test on
# the compiled kernels instead (CI does so for the core's tests).
os.environ.setdefault("DELTAPROP_KERNELS", "numpy")

# The suite starts many Python processes (the command line, mpiexec's ranks, workers);
# where PYTHONDONTWRITEBYTECODE is set, each one compiled numpy's, matplotlib's and
# deltaprop's sources again (about a second each). Python's default caching is on for the
# suite and what it starts: `pytest -m "not slow"` took 127 s with the variable, 93 s without.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# A suite started in the background by a non-interactive shell (`cmd &`) inherits SIGINT
# ignored, and so does every command it starts: the Ctrl-C tests then wait for a training
# or a server that never sees the signal. A Python handler here is reset to the default in
# the commands the tests start, so they take Ctrl-C as a user's terminal would deliver it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Under pytest-xdist the workers share the machine's cores: NumPy's own products (scikit-learn's
# MLP, the reference scripts, the peers) then run on one BLAS thread each, where two threads
# per worker would wait on cores the other worker holds. fit sets its own count as it does for
# any caller (DELTAPROP_TEST_BLAS_THREADS overrides the limit; 0 leaves the BLAS default).
_BLAS_LIMIT = int(os.environ.get("DELTAPROP_TEST_BLAS_THREADS", "1"))
if os.environ.get("PYTEST_XDIST_WORKER") and _BLAS_LIMIT > 0:
    from threadpoolctl import threadpool_limits

    _blas_threads = threadpool_limits(_BLAS_LIMIT, user_api="blas")


def pytest_collection_modifyitems(config, items):
    """The slow tests first, each group in its own order: pytest-xdist's work stealing then
    spreads the short tests over whatever worker finishes its long ones first, where a 30-s
    test met at the end of a queue left the other worker idle for its length."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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


@pytest.fixture(scope="session")
def main_job(tmp_path_factory):
    """The main job, `deltaprop train --out FOLDER --quiet` (784 → 50 sigmoid → 10 softmax on
    the bundled MNIST sample, 10 epochs), trained once per test run and shared by the modules
    that read it. A test may add files beside the run's (an export, a rebuilt report that must
    equal the one written) but must not change or remove what the run wrote."""
    from deltaprop.cli import main

    out = tmp_path_factory.mktemp("main-job") / "run"
    assert main(["train", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def private_data_env(tmp_path, monkeypatch):
    """A private, empty cache (XDG_CACHE_HOME), no DELTAPROP_DATA, no proxies: dataset
    lookups and downloads see only what the test puts there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DELTAPROP_DATA", raising=False)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def digits():
    """1,200 training rows of the bundled MNIST sample, scaled to [0, 1] (the alert tests'
    small real task; a module may define its own ``digits``)."""
    from deltaprop.data import load

    ds = load("mnist-sample", flatten=True)
    return (ds.x_train[:1200] / 255.0).astype(np.float32), ds.y_train[:1200]


@pytest.fixture
def figures(monkeypatch):
    """Every figure deltaprop.plots draws, kept open for inspection, as it is saved."""
    from deltaprop import plots

    drawn = []
    save = plots._save

    def keep(fig, path):
        drawn.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return drawn


@pytest.fixture
def no_dask(monkeypatch):
    """deltaprop.sweep.run_sweep replaced: the trials it was handed, each marked failed, none trained."""
    from deltaprop import sweep

    handed = []

    def run_sweep(trials, **_):
        handed.extend(trials)
        for trial in trials:
            trial.result = {"status": "failed", "error": "not trained here"}
        return trials

    monkeypatch.setattr(sweep, "run_sweep", run_sweep)
    return handed
