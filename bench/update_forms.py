"""The SGD-momentum update of the benchmark network's 235,146 parameters, in each form that
could run in the default install, timed side by side.

    uv run python bench/update_forms.py [--threads 2] [--rounds 400]

The update is ``v := μ v − α g;  W += v`` over one flat buffer of each (``v``, ``W``, ``g``).
Forms:

* ``numpy``: the NumPy form, four ufunc passes with a scratch buffer;
* ``blas``: ``deltaprop.vector_blas``, NumPy's OpenBLAS called for ``v := (−α) g + μ v``
  (axpby) and ``W += v`` (axpy, threaded): what ``fit`` runs without numba, where NumPy's
  BLAS is an OpenBLAS;
* ``numba``: the fused one-pass kernel of ``deltaprop.kernels`` (only with the extra);
* ``gemm``: the update as one GEMM, ``[v'; W'] = [[μ, 0, −α], [μ, 1, −α]] · [v; W; g]``
  (multi-threaded by the BLAS; it needs a second buffer to write into, so the weights would
  alternate between two buffers);
* ``numexpr``: ``numexpr.evaluate`` of ``v*μ − g*α`` into ``v``, then of ``W + v`` into
  ``W`` (only where numexpr is installed; it is no dependency of deltaprop).

Each round times every form once, in an order rotated from round to round; before each
call an 8 MB array is rewritten, standing in for the GEMMs and the next batch that push the
update's arrays out of the caches between two steps. Medians over rounds, and each form's
median ratio to ``numpy`` within the same round.
"""

from __future__ import annotations

import time

import numpy as np

SHAPES = ((784, 256), (256,), (256, 128), (128,), (128, 10), (10,))
LR, MOMENTUM = 0.05, 0.9


def forms(n: int, rng: np.random.Generator, threads: int) -> dict:
    """Each available form: ``(update, W)``, a function of no arguments that updates its own
    copies of ``v`` and ``W`` once, and the array that holds its ``W`` after the call."""
    f32 = np.float32
    lr, mu = f32(LR), f32(MOMENTUM)
    stack = np.empty((3, n), f32)
    stack[0] = 0.0
    stack[1] = rng.standard_normal(n) * 0.05
    stack[2] = rng.standard_normal(n) * 1e-3
    out = np.empty((2, n), f32)
    v, w, g = (stack[i].copy() for i in range(3))
    scratch = np.empty(n, f32)

    def numpy_form():
        np.multiply(v, mu, out=v)
        np.multiply(g, lr, out=scratch)
        np.subtract(v, scratch, out=v)
        np.add(w, v, out=w)

    coefficients = np.array([[mu, 0, -lr], [mu, 1, -lr]], f32)

    def gemm_form():
        np.matmul(coefficients, stack, out=out)

    found = {"numpy": (numpy_form, w), "gemm": (gemm_form, out[1])}
    from deltaprop import kernels, vector_blas

    if vector_blas.available():
        vb, wb, gb = v.copy(), w.copy(), g.copy()
        found["blas"] = (lambda: vector_blas.sgd(wb, gb, vb, LR, MOMENTUM, False), wb)

    if kernels.backend() == "numba":
        vn, wn, gn = v.copy(), w.copy(), g.copy()
        found["numba"] = (lambda: kernels.sgd(wn, gn, vn, LR, MOMENTUM, False), wn)
    try:
        import numexpr
    except ImportError:
        return found
    ve, we, ge = v.copy(), w.copy(), g.copy()

    def numexpr_form():
        numexpr.evaluate("ve * mu - ge * lr", local_dict={"ve": ve, "ge": ge, "mu": mu, "lr": lr}, out=ve)
        numexpr.evaluate("we + ve", local_dict={"we": we, "ve": ve}, out=we)

    numexpr.set_num_threads(threads)
    found["numexpr"] = (numexpr_form, we)
    return found


def main() -> None:
    import argparse

    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="BLAS (and numexpr) threads")
    ap.add_argument("--rounds", type=int, default=400)
    args = ap.parse_args()
    n = sum(int(np.prod(s)) for s in SHAPES)
    candidates = forms(n, np.random.default_rng(0), args.threads)
    names = list(candidates)
    polluter = np.zeros(2_000_000, np.float32)
    seconds = {name: [] for name in names}
    with threadpool_limits(args.threads, user_api="blas"):
        for r in range(args.rounds + 10):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                np.add(polluter, 1.0, out=polluter)
                start = time.perf_counter()
                candidates[name][0]()
                if r >= 10:  # the first rounds warm up (numba's first call compiles)
                    seconds[name].append(time.perf_counter() - start)
    base = np.array(seconds["numpy"])
    print(f"SGD-momentum update of {n:,} float32 parameters, {args.threads} BLAS threads, {args.rounds} rounds")
    print(f"{'form':<10}{'µs (median)':>14}{'time / numpy (same round)':>30}")
    for name in names:
        t = np.array(seconds[name])
        print(f"{name:<10}{np.median(t) * 1e6:>14.0f}{np.median(t / base):>30.2f}")


if __name__ == "__main__":
    main()
