"""Subnormals are flushed inside fit and the caller's floating-point environment comes back."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import fpenv

needs_ftz = pytest.mark.skipif(not fpenv.supported(), reason="flush-to-zero is set only on Linux x86-64 and AArch64")
TINY = np.float32(1e-39)  # subnormal in float32


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


@needs_ftz
def test_the_block_flushes_and_restores():
    assert not fpenv.subnormals_flushed()
    assert TINY * np.float32(0.5) > 0
    with fpenv.flush_subnormals() as on:
        assert on and fpenv.subnormals_flushed()
        assert TINY * np.float32(0.5) == 0  # FTZ
        assert np.multiply(np.full(4, TINY), np.float32(1.0))[0] == 0  # DAZ: a subnormal operand reads as 0
    assert not fpenv.subnormals_flushed()
    assert TINY * np.float32(0.5) > 0


@needs_ftz
def test_fit_flushes_while_training_and_restores_on_return():
    seen = []
    X, y = _data()
    net = dp.mlp([4, 3, 2], seed=0)
    cb = dp.LambdaCallback(on_epoch_end=lambda state: seen.append(fpenv.subnormals_flushed()))
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1, momentum=0.9), epochs=2, callbacks=[cb])
    assert seen == [True, True]
    assert not fpenv.subnormals_flushed()


@needs_ftz
def test_fit_restores_after_an_exception():
    X, y = _data()

    def boom(state):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dp.fit(dp.mlp([4, 3, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1,
               callbacks=[dp.LambdaCallback(on_epoch_end=boom)])
    assert not fpenv.subnormals_flushed()


def test_the_flush_can_be_turned_off():
    seen = []
    X, y = _data()
    cb = dp.LambdaCallback(on_epoch_end=lambda state: seen.append(fpenv.subnormals_flushed()))
    dp.fit(dp.mlp([4, 3, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1,
           callbacks=[cb], flush_subnormals=False)
    assert seen == [False]


@needs_ftz
def test_flushed_runs_are_bit_identical_and_match_unflushed_ones_above_the_subnormal_range():
    X, y = _data()

    def train(flush):
        net = dp.mlp([4, 8, 2], seed=0)
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1, momentum=0.9), epochs=5, batch_size=16,
               seed=1, flush_subnormals=flush)
        return [p.value.copy() for p in net.parameters()]

    a, b, c = train(True), train(True), train(False)
    for pa, pb, pc in zip(a, b, c):
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_allclose(pa, pc, rtol=0, atol=np.finfo(np.float32).tiny * 8)


@needs_ftz
def test_the_blas_threads_of_a_matrix_product_take_the_callers_modes():
    """What the README says of NumPy's OpenBLAS: its matrix products' threads flush when the
    caller does (and not after), so a GEMM of subnormals gives 0 in every thread's share."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not any(i.get("internal_api") == "openblas" for i in threadpoolctl.threadpool_info()):
        pytest.skip("NumPy's BLAS is not an OpenBLAS")
    A = np.full((512, 512), TINY, dtype=np.float32)
    B = np.eye(512, dtype=np.float32)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        assert np.all(A @ B == TINY)
        with fpenv.flush_subnormals():
            assert np.all(A @ B == 0)
        assert np.all(A @ B == TINY)
