"""The per-step cost of ``fit`` on networks too small for their GEMMs to matter: what the
library's own Python and NumPy calls cost a step.

    DELTAPROP_KERNELS=numpy uv run python bench/small_steps.py

Seed 001's parity network (10-3-2 sigmoid, squared error, plain SGD, batches of 8 of 700
rows) and a 64-32-10 ReLU network (cross-entropy, SGD with momentum 0.9, batches of 32 of
4,096 random rows); ``threads=1``, no diagnostics. Each figure is the process time of a
whole ``fit`` over its steps (epoch costs included), the best of five. Compare two source
trees by running it with ``PYTHONPATH=TREE/src`` for each, alternating.
"""

from __future__ import annotations

import time

import numpy as np

import deltaprop as dp


def per_step_us(make_net, X, y, *, loss, optimizer, batch_size: int, epochs: int, repeats: int = 5) -> float:
    steps = epochs * -(-len(X) // batch_size)
    best = float("inf")
    for _ in range(repeats):
        net = make_net()
        started = time.process_time()
        dp.fit(net, X, y, loss=loss(), optimizer=optimizer(), epochs=epochs, batch_size=batch_size, seed=0,
               diagnostics=False, threads=1)
        best = min(best, (time.process_time() - started) / steps)
    return best * 1e6


def main() -> None:
    numbers = np.arange(700)
    X_parity = ((numbers[:, None] >> np.arange(9, -1, -1)) & 1).astype(np.float32)
    y_parity = (numbers % 2 == 0).astype(np.int64)
    parity = per_step_us(lambda: dp.mlp([10, 3, 2], activation="sigmoid", output="sigmoid", seed=0),
                         X_parity, y_parity, loss=dp.MeanSquaredError, optimizer=lambda: dp.SGD(lr=0.3),
                         batch_size=8, epochs=60)
    rng = np.random.default_rng(0)
    X, y = rng.random((4096, 64), dtype=np.float32), rng.integers(0, 10, 4096)
    relu = per_step_us(lambda: dp.mlp([64, 32, 10], activation="relu", seed=0), X, y, loss=dp.CrossEntropy,
                       optimizer=lambda: dp.SGD(lr=0.05, momentum=0.9), batch_size=32, epochs=20)
    print(f"parity 10-3-2, batch 8: {parity:.1f} µs a step; 64-32-10 ReLU, batch 32: {relu:.1f} µs a step")


if __name__ == "__main__":
    main()
