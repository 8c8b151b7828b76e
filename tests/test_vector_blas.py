"""The SGD and Adam updates by NumPy's BLAS (deltaprop.vector_blas) against the NumPy forms
they replace.

The BLAS rounds ``αx + y`` once (a fused multiply-add) where NumPy rounds ``αx`` first, so
the two agree to an ulp or so a step, not bit for bit; each element is computed alone, so
the BLAS thread count does not change a bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import deltaprop as dp
from deltaprop import vector_blas

needs_blas = pytest.mark.skipif(not vector_blas.available(),
                                reason="NumPy's BLAS here is not an OpenBLAS deltaprop can call (the NumPy form runs)")

SGDS = {
    "plain": lambda: dp.SGD(lr=0.05),
    "momentum": lambda: dp.SGD(lr=0.05, momentum=0.9),
    "nesterov": lambda: dp.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "decay": lambda: dp.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3),
    "adam": lambda: dp.Adam(lr=0.01),
    "adamw": lambda: dp.AdamW(lr=0.01, weight_decay=0.1),
}


def _train(make, dtype, *, blas: bool, shape=(53, 31), steps=6):
    rng = np.random.default_rng(7)
    p = dp.Parameter("W", rng.standard_normal(shape).astype(dtype))
    opt = make()
    opt.build([p])
    with vector_blas.use(blas):
        for _ in range(steps):
            p.grad = rng.standard_normal(shape).astype(dtype)
            opt.step()
    return p.value.copy(), {k: np.asarray(v).copy() for k, v in opt.state().items()}


def _by_hand(dtype, steps=6, shape=(53, 31), lr=0.05, mu=0.9):
    """Seed 002's momentum rule written out: V := μV − αg; W := W + V."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal(shape).astype(dtype)
    v = np.zeros_like(w)
    for _ in range(steps):
        g = rng.standard_normal(shape).astype(dtype)
        v = mu * v - lr * g
        w = w + v
    return w, v


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(SGDS))
def test_the_blas_update_agrees_with_the_numpy_form_to_rounding(name, dtype):
    (w0, s0), (w1, s1) = _train(SGDS[name], dtype, blas=False), _train(SGDS[name], dtype, blas=True)
    assert w1.dtype == dtype
    tol = 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(w1, w0, rtol=tol, atol=tol)
    for key in s0:
        np.testing.assert_allclose(s1[key], s0[key], rtol=tol, atol=tol)


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_blas_momentum_update_follows_seed_002s_rule(dtype):
    w, state = _train(SGDS["momentum"], dtype, blas=True)
    want_w, want_v = _by_hand(dtype)
    tol = 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(w, want_w, rtol=tol, atol=tol)
    np.testing.assert_allclose(state["0.velocity"], want_v, rtol=tol, atol=tol)


@needs_blas
@pytest.mark.parametrize("name, routine", [("momentum", "sgd"), ("adamw", "adam")])
def test_the_blas_update_is_what_the_optimizer_runs(monkeypatch, name, routine):
    done = []
    real = getattr(vector_blas, routine)
    monkeypatch.setattr(vector_blas, routine, lambda *a, **k: done.append(real(*a, **k)) or done[-1])
    from deltaprop import kernels

    with kernels.use("numpy"):
        _train(SGDS[name], np.float32, blas=True)
    assert done == [True] * 6, f"{name} did not hand its update to the BLAS"


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_blas_adam_update_follows_kingma_and_bas_rule(dtype):
    w, state = _train(SGDS["adam"], dtype, blas=True)
    rng = np.random.default_rng(7)
    want = rng.standard_normal((53, 31)).astype(dtype)
    m = np.zeros_like(want)
    v = np.zeros_like(want)
    for t in range(1, 7):
        g = rng.standard_normal((53, 31)).astype(dtype)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        want = want - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    tol = 16 * np.finfo(dtype).eps
    np.testing.assert_allclose(state["0.m"], m, rtol=tol, atol=tol)
    np.testing.assert_allclose(state["0.v"], v, rtol=tol, atol=tol)
    np.testing.assert_allclose(w, want, rtol=tol, atol=tol)


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
@needs_blas
@pytest.mark.parametrize("name", list(SGDS))
def test_the_thread_count_does_not_change_a_bit(name):
    """OpenBLAS splits axpy over its threads; every element must come out the same."""
    shape = (235146 + 7,)  # the benchmark network's parameter count, plus a ragged tail

    def run(threads):
        with threadpool_limits(threads, user_api="blas"):
            return _train(SGDS[name], np.float32, blas=True, shape=shape, steps=3)

    (w1, s1), (w2, s2) = run(1), run(2)
    np.testing.assert_array_equal(w1, w2)
    assert s1.keys() == s2.keys()
    for key in s1:
        np.testing.assert_array_equal(s1[key], s2[key])


@needs_blas
def test_arrays_the_blas_cannot_take_fall_back_to_numpy():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 10)).astype(np.float32)
    g = rng.standard_normal((20, 10)).astype(np.float32)
    v = np.zeros_like(w)
    assert not vector_blas.sgd(w[:, ::2], g[:, ::2], v[:, ::2], 0.1, 0.9, False)  # strided
    assert not vector_blas.sgd(w, g.astype(np.float64), v, 0.1, 0.9, False)  # mixed precision
    assert not vector_blas.sgd(w, g[:10], v, 0.1, 0.9, False)  # sizes differ
    assert not vector_blas.sgd(w, w, v, 0.1, 0.9, False)  # gradient is the weights
    assert not vector_blas.sgd(w.astype(np.float16), g.astype(np.float16), None, 0.1, 0.0, False)
    frozen = w.copy()
    frozen.flags.writeable = False
    assert not vector_blas.sgd(frozen, g, v, 0.1, 0.9, False)
    with np.errstate(over="raise"):
        assert not vector_blas.sgd(w, g, v, 0.1, 0.9, False)
    before = w.copy()
    assert vector_blas.sgd(w, g, v, 0.1, 0.9, False)
    np.testing.assert_allclose(v, -0.1 * g, rtol=1e-6)
    np.testing.assert_allclose(w, before - 0.1 * g, rtol=1e-6, atol=1e-7)


def test_errstate_raise_still_raises_on_an_overflowing_update():
    """np.errstate(over='raise') is honoured: the NumPy form runs and raises."""
    p = dp.Parameter("W", np.full((4, 4), 3e38, np.float32))
    opt = dp.SGD(lr=1.0, momentum=0.9)
    opt.build([p])
    p.grad = np.full((4, 4), -3e38, np.float32)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        opt.step()


def test_use_false_gives_the_numpy_forms_bits():
    w, state = _train(SGDS["momentum"], np.float32, blas=False)
    want_w, want_v = _by_hand(np.float32)
    np.testing.assert_array_equal(state["0.velocity"], want_v)
    np.testing.assert_array_equal(w, want_w)


@pytest.mark.parametrize("value, expected", [("off", "False"), ("OFF", "False"), ("0", "False"),
                                             ("on", str(vector_blas.available())), ("", str(vector_blas.available()))])
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_the_environment_variable_turns_it_off(value, expected):
    env = {**os.environ, "DELTAPROP_BLAS_UPDATES": value}
    out = subprocess.run([sys.executable, "-c", "from deltaprop import vector_blas; print(vector_blas.available())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_a_misspelt_environment_value_is_refused_in_one_line(tmp_path):
    env = {**os.environ, "DELTAPROP_BLAS_UPDATES": "of"}
    command = str(Path(sys.executable).with_name("deltaprop"))  # the console script uv installs
    out = subprocess.run([command, "train", "--epochs", "1", "--out", str(tmp_path / "run")],
                         env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0
    assert "DELTAPROP_BLAS_UPDATES='of': use on or off" in out.stderr
    assert "Traceback" not in out.stderr


@needs_blas
def test_same_seed_fits_stay_bit_identical_with_the_blas_update():
    X = np.random.default_rng(1).standard_normal((256, 12)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)

    def run():
        net = dp.mlp([12, 16, 2], activation="relu", output="softmax", seed=3)
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1, momentum=0.9),
               epochs=3, batch_size=32, seed=5, threads=1)
        return [p.value.copy() for p in net.parameters()]

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)
