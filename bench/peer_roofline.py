"""Benchmark peer: the GEMMs of one epoch alone (the roofline), in NumPy, preallocated:
``common.step_gemms``, 3 + 3 + 2 GEMMs a step for this network."""

from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import common  # noqa: E402


def main() -> None:
    from threadpoolctl import threadpool_limits

    args = common.parser(__doc__, seed=False).parse_args()
    n = 60000
    bs = args.batch_size
    rng = np.random.default_rng(0)
    sizes = common.LAYERS
    step = common.step_gemms(bs, rng)
    steps = -(-n // bs)
    times = []
    pacer = common.Pacer(args.lockstep)
    with threadpool_limits(args.threads):
        for _ in range(args.epochs):
            pacer.wait()
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            times.append(time.perf_counter() - t0)
            pacer.done(times[-1])
    pacer.wait()
    flops = 2 * sum(i * o for i, o in zip(sizes[:-1], sizes[1:])) * 3 * n - 2 * sizes[0] * sizes[1] * n
    sec = common.median_after_first(times)
    common.report({
        "peer": "roofline", "batch_size": bs, "epoch_seconds": times, "seconds_per_epoch": sec,
        "gflop_per_epoch": flops / 1e9, "gflops": flops / 1e9 / sec, "blas": common.blas_info(),
    })


if __name__ == "__main__":
    main()
