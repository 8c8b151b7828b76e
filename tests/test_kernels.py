"""The compiled kernels against the NumPy forms they replace.

Each kernel runs on the same inputs as its NumPy form; updates and ReLU must agree bit for
bit (same operations, same rounding), the softmax to an ulp or two (``exp`` and the row
sum's order differ). The NumPy forms are what the rest of the suite checks against the
seeds' formulas, so agreement here carries those checks over to the compiled forms.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import kernels, vector_blas


def _numba_installed() -> bool:
    with kernels.use("auto"):  # the suite's default is NumPy (tests/conftest.py); ask for numba if present
        return kernels.backend() == "numba"


numba_only = pytest.mark.skipif(not _numba_installed(), reason="numba is not installed (uv run --extra numba pytest installs it)")
DTYPES = [np.float32, np.float64]


def _both(fn):
    """``fn()`` under the NumPy kernels (their ufunc forms, not the BLAS updates), then
    under numba; returns both results."""
    with kernels.use("numpy"), vector_blas.use(False):
        expected = fn()
    with kernels.use("numba"):
        got = fn()
    return expected, got


def _arrays(dtype, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(4)]


OPTIMIZERS = [
    lambda: dp.SGD(lr=0.05),
    lambda: dp.SGD(lr=0.05, momentum=0.9),
    lambda: dp.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: dp.Adam(lr=0.01),
    lambda: dp.AdamW(lr=0.01, weight_decay=0.1),
]


@numba_only
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", OPTIMIZERS, ids=["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_optimizer_updates_agree_bit_for_bit(make, dtype):
    def run():
        rng = np.random.default_rng(3)
        p = dp.Parameter("W", rng.standard_normal((40, 30)).astype(dtype))
        opt = make()
        opt.build([p])
        for _ in range(5):
            p.grad = rng.standard_normal((40, 30)).astype(dtype)
            opt.step()
        return p.value, opt.state()

    (w0, s0), (w1, s1) = _both(run)
    assert w1.dtype == dtype
    np.testing.assert_array_equal(w1, w0)
    for key in s0:
        np.testing.assert_array_equal(np.asarray(s1[key]), np.asarray(s0[key]))


@numba_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_forward_and_backward_agree_bit_for_bit(dtype):
    z, g, _, _ = _arrays(dtype)
    z[:5] = [0.0, -0.0, np.inf, -np.inf, np.nan]
    g[5:8] = [np.inf, -1.0, np.nan]

    def run():
        layer = dp.ReLU()
        layer.build(z.size, np.dtype(dtype), np.random.default_rng(0))
        a = layer.forward(z.reshape(50, 20), train=True).copy()
        return a, layer.backward(g.reshape(50, 20)).copy()

    (a0, d0), (a1, d1) = _both(run)
    np.testing.assert_array_equal(a1, a0)
    np.testing.assert_array_equal(d1, d0)
    assert np.array_equal(np.signbit(a1), np.signbit(a0)) and np.array_equal(np.signbit(d1), np.signbit(d0))


@numba_only
@pytest.mark.parametrize("classes", [10, 1000])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_agrees_to_a_few_ulps_and_stays_stable(dtype, classes):
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((64, classes)) * 30).astype(dtype)
    z[0] = 1e4  # equal huge logits
    z[1, 0] = -1e4  # an exponent far below the floor
    layer = dp.Softmax()
    layer.build(classes, np.dtype(dtype), rng)
    a0, a1 = _both(lambda: layer.forward(z).copy())
    assert a1.dtype == dtype and np.all(np.isfinite(a1))
    np.testing.assert_allclose(a1, a0, rtol=8 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny * 1e8)
    np.testing.assert_allclose(a1.sum(axis=1), 1.0, rtol=8 * np.finfo(dtype).eps)


@numba_only
def test_nan_propagates_through_the_compiled_kernels():
    with kernels.use("numba"):
        z = np.array([[1.0, np.nan, 2.0], [np.nan, 0.0, 1.0]], np.float32)
        out = np.empty_like(z)
        assert kernels.softmax_rows(z, out, -80.0)
        assert np.all(np.isnan(out))
        w, g, v = np.ones(3, np.float32), np.array([np.nan, 1, 1], np.float32), np.zeros(3, np.float32)
        assert kernels.sgd(w, g, v, 0.1, 0.9, False)
        assert np.isnan(w[0]) and np.isnan(v[0]) and np.isfinite(w[1:]).all()


@numba_only
def test_training_agrees_between_kernel_backends():
    rng = np.random.default_rng(0)
    X = rng.random((600, 30), dtype=np.float32)
    y = rng.integers(0, 4, 600)

    def run():
        net = dp.mlp([30, 40, 4], activation="relu", seed=0)
        h = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1, momentum=0.9),
                   epochs=3, batch_size=32, seed=0)
        return net.predict_proba(X), h["loss"]

    (p0, l0), (p1, l1) = _both(run)
    np.testing.assert_allclose(p1, p0, atol=1e-5)
    np.testing.assert_allclose(l1, l0, rtol=1e-5)


def test_kernels_decline_what_they_cannot_do_and_numpy_takes_over():
    with kernels.use("auto"):
        w = np.ones((4, 6), np.float32)[:, ::2]  # not contiguous
        assert not kernels.sgd(w, np.ones_like(w), None, 0.1, 0.0, False)
        ints = np.arange(6)
        assert not kernels.relu(ints, np.empty_like(ints))
        assert not kernels.relu(np.ones(3, np.float32), np.empty(3, np.float64))
    with kernels.use("numpy"):
        assert kernels.backend() == "numpy"
        assert not kernels.relu(np.ones(3, np.float32), np.empty(3, np.float32))
        layer = dp.ReLU()
        out = layer.forward(np.array([[-1.0, 2.0]], np.float32))
        np.testing.assert_array_equal(out, [[0.0, 2.0]])


def test_bad_backend_names_are_refused(monkeypatch):
    with pytest.raises(dp.ConfigError, match="use one of"):
        with kernels.use("fortran"):
            pass
    monkeypatch.setattr(kernels, "_env_choice", None)
    monkeypatch.setenv("DELTAPROP_KERNELS", "gpu")
    with pytest.raises(dp.ConfigError, match="DELTAPROP_KERNELS"):
        kernels.backend()
    with kernels.use("numpy"):  # an explicit choice does not consult the environment
        assert kernels.backend() == "numpy"
    monkeypatch.setenv("DELTAPROP_KERNELS", "numpy")
    monkeypatch.setattr(kernels, "_env_choice", None)
    assert kernels.backend() == "numpy"


def test_importing_deltaprop_does_not_import_numba():
    import subprocess
    import sys

    code = "import sys, deltaprop; deltaprop.mlp([3, 2]); print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_numba_auto_falls_back_to_numpy_and_an_explicit_request_fails(monkeypatch):
    def missing():
        raise ImportError("No module named 'numba'")

    monkeypatch.setattr(kernels, "_build", missing)
    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_import_failed", False)
    with kernels.use("auto"):
        assert kernels.backend() == "numpy"
        net = dp.mlp([4, 3, 2], activation="relu", seed=0)
        dp.fit(net, np.ones((8, 4), np.float32), np.arange(8) % 2, loss=dp.CrossEntropy(),
               optimizer=dp.SGD(lr=0.1, momentum=0.9), epochs=1, batch_size=4)
    with pytest.raises(dp.ConfigError, match="numba is not installed"):
        with kernels.use("numba"):
            pass


@numba_only
def test_compiled_updates_step_aside_when_errstate_raises():
    w, g, v = (np.full(4, 1e30, np.float32) for _ in range(3))
    with kernels.use("numba"):
        with np.errstate(over="raise"):
            assert not kernels.sgd(w, g, v, 1e10, 0.9, False)
        with np.errstate(over="ignore", invalid="ignore"):
            assert kernels.sgd(w, g, v, 1e10, 0.9, False)
            assert np.isinf(w).all()


@numba_only
def test_mismatched_shapes_are_left_to_numpy():
    with kernels.use("numba"):
        layer = dp.ReLU()
        layer.forward(np.ones((4, 6), np.float32), train=True)
        with pytest.raises(ValueError):
            layer.backward(np.ones((6, 4), np.float32))
        assert not kernels.softmax_rows(np.ones((3, 0), np.float32), np.ones((3, 0), np.float32), -80.0)


def test_the_backend_choice_is_per_thread():
    import threading

    seen = []
    with kernels.use("numpy"):
        worker = threading.Thread(target=lambda: seen.append(kernels._override.get()))
        worker.start()
        worker.join()
    assert seen == [None] and kernels._override.get() is None
