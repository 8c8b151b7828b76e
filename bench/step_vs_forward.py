"""Time of one training step divided by the time of one forward pass, for seed 000's
784-50-10 sigmoid + softmax network (seed 003: backprop costs about one more forward pass;
with the ∂L/∂W GEMMs the ideal step is near 3 forward passes)."""

from __future__ import annotations

import argparse
import json
import sys
import timeit

import numpy as np

import deltaprop as dp


def main() -> None:
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, 784), dtype=np.float32)
    y = dp.losses.targets_as_rows(rng.integers(0, 10, args.batch_size), 10, np.float32, allow_real=False)
    net = dp.mlp([784, 50, 10], activation="sigmoid", output="softmax", seed=0)
    loss = dp.CrossEntropy()
    opt = dp.SGD(lr=0.3)
    opt.build(net.parameters())

    def forward():
        net._forward(x, False)

    def step():
        a = net._forward(x, True)
        loss.value(a, y)
        net._backward(loss, a, y)
        opt.step()

    with threadpool_limits(args.threads):
        for fn in (forward, step):
            fn()
        reps = 2000
        f = min(timeit.repeat(forward, number=reps, repeat=5)) / reps
        s = min(timeit.repeat(step, number=reps, repeat=5)) / reps
    json.dump({"batch_size": args.batch_size, "forward_ms": f * 1e3, "step_ms": s * 1e3, "ratio": s / f}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
