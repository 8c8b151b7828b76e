"""The BLAS updates check an optimizer's arrays once and keep the result (vector_blas._FIT):
what can change between steps (a read-only flag, np.errstate, the arrays themselves) is
still checked every call, and the updates are the same bits as before."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop import vector_blas

pytestmark = pytest.mark.skipif(not vector_blas.available(), reason="NumPy's BLAS is no OpenBLAS with axpby")


def _arrays(n=257, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(3)]


def _momentum_numpy_fma(w, g, v, lr, mu):
    """``V := (−α) g + μV;  W := 1·V + W`` in float64, rounded once to the arrays' dtype."""
    v_new = (-lr * g.astype(np.float64) + mu * v.astype(np.float64)).astype(w.dtype)
    return (w.astype(np.float64) + v_new.astype(np.float64)).astype(w.dtype), v_new


def test_repeated_calls_update_the_arrays_they_are_given():
    w, g, v = _arrays()
    for step in range(3):
        want_w, want_v = _momentum_numpy_fma(w, g, v, 0.1, 0.9)
        assert vector_blas.sgd(w, g, v, 0.1, 0.9, False)
        np.testing.assert_allclose(v, want_v, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(w, want_w, rtol=1e-6, atol=1e-6)
    # other arrays of the same sizes: their own addresses, not the first ones'
    w2, g2, v2 = _arrays(seed=1)
    before = w.copy()
    want_w2, _ = _momentum_numpy_fma(w2, g2, v2, 0.1, 0.9)
    assert vector_blas.sgd(w2, g2, v2, 0.1, 0.9, False)
    np.testing.assert_allclose(w2, want_w2, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(w, before)


def test_a_read_only_array_or_a_raising_errstate_is_seen_after_the_arrays_were_kept():
    w, g, v = _arrays()
    assert vector_blas.sgd(w, g, v, 0.1, 0.9, False)  # checked and kept
    w.flags.writeable = False
    before = w.copy()
    assert not vector_blas.sgd(w, g, v, 0.1, 0.9, False)  # the NumPy form then raises on it
    np.testing.assert_array_equal(w, before)
    w.flags.writeable = True
    with np.errstate(over="raise"):
        assert not vector_blas.sgd(w, g, v, 0.1, 0.9, False)
    with vector_blas.use(False):
        assert not vector_blas.sgd(w, g, v, 0.1, 0.9, False)
    assert vector_blas.sgd(w, g, v, 0.1, 0.9, False)


def test_a_kept_entry_of_other_arrays_under_the_same_ids_is_not_trusted(monkeypatch):
    """Ids are reused once an array is freed: an entry is used only for the very arrays it
    was made for (weak references), so a new array under a freed one's id is checked anew."""
    w, g, v = _arrays()
    strided = np.zeros(2 * w.size, np.float32)[::2]  # not contiguous: BLAS must not take it
    other = _arrays(seed=2)
    assert vector_blas.sgd(*other, 0.1, 0.9, False)
    kept = vector_blas._FIT[tuple(map(id, other))]
    monkeypatch.setitem(vector_blas._FIT, (id(strided), id(g), id(v)), kept)
    assert not vector_blas.sgd(strided, g, v, 0.1, 0.9, False)


def test_shared_memory_or_mixed_sizes_still_take_the_numpy_form():
    w, g, v = _arrays()
    assert not vector_blas.sgd(w, w, v, 0.1, 0.9, False)
    assert not vector_blas.sgd(w, g[:-1], v, 0.1, 0.9, False)
    assert not vector_blas.sgd(w, g.astype(np.float64), v, 0.1, 0.9, False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [0.0, -0.0, 1e-46, 7e-46, 1e-45, 1e-40, 1e-31, 1e-30, 0.1, float("nan"), float("inf"),
                               5e-324, -1e-320])
def test_a_zero_coefficient_is_told_as_the_dtype_rounds_it(dtype, c):
    dt = np.dtype(dtype)
    assert vector_blas._any_zero(dt, 0.5, c) == bool(dt.type(c) == 0)
