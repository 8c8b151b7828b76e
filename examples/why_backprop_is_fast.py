"""Why backpropagation is fast (seed 003's last section), measured.

The finite-difference gradient needs two forward passes for every parameter,
``∂L/∂θ_j ≈ (L(θ + h e_j) − L(θ − h e_j)) / 2h``; backprop gets every ``∂L/∂θ_j`` from one
forward and one backward pass. This script times both for the same network and batch and
checks that they agree.

    uv run python examples/why_backprop_is_fast.py [--sizes 784,30,10] [--batch 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import deltaprop as dp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,30,10", help="layer widths, input first")
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    net = dp.mlp(sizes, activation="sigmoid", seed=0, dtype="float64")
    X = rng.random((args.batch, sizes[0]))
    y = rng.integers(0, sizes[-1], args.batch)
    loss = dp.CrossEntropy()

    net.loss_and_gradients(loss, X, y)  # the first call allocates the network's buffers: not timed
    backprop = float("inf")
    for _ in range(5):  # the fastest of a few passes, as the finite differences run thousands
        started = time.perf_counter()
        net.loss_and_gradients(loss, X, y)
        backprop = min(backprop, time.perf_counter() - started)

    started = time.perf_counter()
    report = dp.gradcheck(net, loss, X, y, max_entries=None, check_input=False)  # parameters only
    numeric = time.perf_counter() - started

    n = net.n_parameters
    print(f"network {'-'.join(map(str, sizes))}, batch {args.batch}, {n:,} parameters")
    print(f"backprop:           1 forward + 1 backward pass  {backprop * 1e3:10.2f} ms")
    print(f"finite differences: {2 * n:,} forward passes  {numeric * 1e3:10.2f} ms")
    print(f"backprop is {numeric / backprop:,.0f}x faster; "
          f"the gradients agree to a relative error of {report.max_relative_error:.1e}")


if __name__ == "__main__":
    main()
