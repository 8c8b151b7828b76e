"""More checks of the BLAS updates (deltaprop.vector_blas): the flush-to-zero mode ``fit``
trains in, awkward sizes, and the NumPy form they stand for."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_vector_blas import SGDS as MAKERS
from threadpoolctl import threadpool_limits

import deltaprop as dp
from deltaprop import fpenv, kernels, vector_blas

needs_blas = pytest.mark.skipif(not vector_blas.available(),
                                reason="NumPy's BLAS here is not an OpenBLAS deltaprop can call (the NumPy form runs)")
needs_flush = pytest.mark.skipif(not fpenv.supported(), reason="no flush-to-zero mode here")

N = 235146 + 7  # large enough for OpenBLAS to split an axpy over its threads


def _step_subnormal_weights(dtype, threads: int, blas: bool, nesterov: bool = False):
    """One momentum step, as ``fit`` takes it (subnormals flushed), of weights below the
    smallest normal float with a zero gradient: FTZ/DAZ make them 0."""
    p = dp.Parameter("W", np.full(N, np.finfo(dtype).smallest_normal / 64, dtype))
    opt = dp.SGD(lr=0.1, momentum=0.9, nesterov=nesterov)
    opt.build([p])
    p.grad = np.zeros(N, dtype)
    with (kernels.use("numpy"), vector_blas.use(blas), threadpool_limits(threads, user_api="blas"),
          fpenv.flush_subnormals()):
        opt.step()
    return p.value.copy()


@needs_blas
@needs_flush
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flushed_subnormal_weights_do_not_depend_on_the_thread_count(dtype):
    """OpenBLAS's threads do not inherit the caller's flush-to-zero mode: an axpy split over
    two threads left the second half of the weights subnormal where one thread (and NumPy)
    made them 0."""
    numpy_form = _step_subnormal_weights(dtype, 2, blas=False)
    assert not numpy_form.any()
    np.testing.assert_array_equal(_step_subnormal_weights(dtype, 1, blas=True), numpy_form)
    np.testing.assert_array_equal(_step_subnormal_weights(dtype, 2, blas=True), numpy_form)


@needs_blas
@needs_flush
def test_the_flushing_probe_follows_the_calling_threads_mode():
    assert not vector_blas._flushing()
    with fpenv.flush_subnormals():
        assert vector_blas._flushing()
    assert not vector_blas._flushing()


@needs_blas
@pytest.mark.parametrize("threads", [1, 2])
def test_w_plus_v_by_axpby_has_axpys_bits(threads):
    """Under flush-to-zero ``W += V`` runs by axpby: in the normal range it must give the
    bits axpy gives, so a run with and without flushing differs only below normal floats."""
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        axpy, axpby = vector_blas._load().by_dtype[np.dtype(dtype)]
        v = rng.standard_normal(N).astype(dtype)
        w = rng.standard_normal(N).astype(dtype)
        w1, w2 = w.copy(), w.copy()
        with threadpool_limits(threads, user_api="blas"):
            axpy(N, 1.0, v.ctypes.data, 1, w1.ctypes.data, 1)
            axpby(N, 1.0, v.ctypes.data, 1, 1.0, w2.ctypes.data, 1)
        np.testing.assert_array_equal(w1, v + w)  # one rounding of the sum, as NumPy's
        np.testing.assert_array_equal(w2, v + w)




def _train(make, dtype, n, *, blas: bool, flush: bool = False, steps: int = 3):
    rng = np.random.default_rng(11)
    p = dp.Parameter("W", rng.standard_normal(n).astype(dtype))
    opt = make()
    opt.build([p])
    with kernels.use("numpy"), vector_blas.use(blas), fpenv.flush_subnormals(flush):
        for _ in range(steps):
            p.grad = rng.standard_normal(n).astype(dtype)
            opt.step()
    return p.value.copy(), opt.state()


@needs_blas
@pytest.mark.parametrize("n", [0, 1, 7, 17, 1023])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(MAKERS))
def test_awkward_sizes_agree_with_the_numpy_form(name, dtype, n):
    (w0, s0), (w1, s1) = _train(MAKERS[name], dtype, n, blas=False), _train(MAKERS[name], dtype, n, blas=True)
    tol = 16 * np.finfo(dtype).eps
    assert w1.dtype == dtype and w1.shape == (n,)
    np.testing.assert_allclose(w1, w0, rtol=tol, atol=tol)
    for key in s0:
        np.testing.assert_allclose(s1[key], s0[key], rtol=tol, atol=tol)


@needs_blas
@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam"])
def test_flushing_changes_no_normal_float(name):
    """With and without flush-to-zero the BLAS updates of normal floats are the same bits."""
    (w0, s0), (w1, s1) = (_train(MAKERS[name], np.float32, N, blas=True, flush=flush) for flush in (False, True))
    np.testing.assert_array_equal(w0, w1)
    for key in s0:
        np.testing.assert_array_equal(s0[key], s1[key])


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
@needs_blas
def test_a_thread_stepping_while_another_checks_the_blas_waits_for_it(monkeypatch):
    """The first use checks the routines; a second thread that stepped meanwhile got the
    NumPy form (another last bit), so two same-seed fits run side by side differed."""
    monkeypatch.setattr(vector_blas, "_routines", vector_blas._UNSET)
    real_check = vector_blas._passes_check
    checking, other_stepped = threading.Event(), threading.Event()

    def slow_check(routines):
        checking.set()
        other_stepped.wait(0.3)  # the other thread steps now unless it waits for the check
        return real_check(routines)

    monkeypatch.setattr(vector_blas, "_passes_check", slow_check)
    done = {}

    def step(name):
        rng = np.random.default_rng(5)
        w, g, v = (rng.standard_normal(64) for _ in range(3))
        if name == "second":
            checking.wait(5)
        done[name] = vector_blas.sgd(w, g, v, 0.1, 0.9, False)
        if name == "second":
            other_stepped.set()

    threads = [threading.Thread(target=step, args=(name,)) for name in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done == {"first": True, "second": True}


@needs_blas
@pytest.mark.parametrize("name, dtype, lr", [
    *((name, dtype, 0.0) for name in ("plain", "momentum", "nesterov", "adam") for dtype in (np.float32, np.float64)),
    ("momentum", np.float32, 1e-50), ("adam", np.float32, 1e-50)])
def test_a_zero_learning_rate_with_an_inf_gradient_gives_the_numpy_forms_nan(name, dtype, lr):
    """At α = 0 (1e-50 is 0 in float32) OpenBLAS's axpby skips ``αx``, so an inf or NaN in
    the gradient left the weights finite where ``0·inf`` makes them NaN in NumPy (and in
    the compiled kernels), and fit would report the divergence."""

    def run(blas):
        p = dp.Parameter("W", np.ones(9, dtype))
        opt = MAKERS[name]()
        opt.build([p])
        opt.lr = lr
        p.grad = np.array([np.inf, -np.inf, np.nan, 1, 2, 3, 4, 5, 6], dtype)
        with kernels.use("numpy"), vector_blas.use(blas), np.errstate(all="ignore"):
            opt.step()
        return p.value

    want = run(False)
    assert np.isnan(want[:3]).all()
    np.testing.assert_array_equal(run(True), want)


@needs_blas
def test_adam_with_beta1_zero_keeps_a_nan_moment_as_numpy_does():
    """β₁ = 0 (as in some GAN recipes) made axpby write ``m := g``, dropping a NaN in m."""

    def run(blas):
        p = dp.Parameter("W", np.ones(5))
        opt = dp.Adam(lr=0.01, beta1=0.0)
        opt.build([p])
        opt._state[0]["m"][0] = np.nan
        p.grad = np.ones(5)
        with kernels.use("numpy"), vector_blas.use(blas), np.errstate(all="ignore"):
            opt.step()
        return opt.state()["0.m"]

    want = run(False)
    assert np.isnan(want[0])
    np.testing.assert_array_equal(run(True), want)
