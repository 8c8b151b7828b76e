"""Where a training step's time goes: each layer's forward and backward, the loss, the
optimizer, and the rest of the training loop, against the step's GEMMs alone.

    uv run python bench/profile_step.py --batch-size 128

Benchmark network (784-256-128-10 ReLU, softmax + cross-entropy, SGD with momentum 0.9),
float32; each part is timed alone, best of five repeats."""

from __future__ import annotations

import argparse
import time

import numpy as np

import deltaprop as dp


def best_us(fn, number: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - started) / number)
    return best * 1e6


def main() -> None:
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    bs = args.batch_size
    number = max(20, 20000 // bs)
    rng = np.random.default_rng(0)
    net = dp.mlp([784, 256, 128, 10], activation="relu", seed=0)
    loss = dp.CrossEntropy()
    opt = dp.SGD(lr=0.05, momentum=0.9)
    opt.build(net.parameters())
    n = 8192
    X = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    Y = loss.prepare_targets(y, 10, np.float32)
    xb, yb = X[:bs].copy(), Y[:bs].copy()
    a = net._forward(xb, True)
    net._backward(loss, a, yb)
    inputs = [xb] + list(net._outputs)
    rows = []
    with threadpool_limits(args.threads):
        for i, layer in enumerate(net.layers):
            rows.append((f"forward  {i} {layer.type_name}", best_us(lambda: layer.forward(inputs[i], train=True), number)))
        out = net._outputs[-1]
        rows.append(("loss value", best_us(lambda: loss.value(out, yb), number)))
        rows.append(("output delta (a − y)/n", best_us(lambda: loss.fused_delta(net.layers[-1], out, yb), number)))
        for i in range(len(net.layers) - 2, -1, -1):
            layer, delta = net.layers[i], net._deltas[i]
            rows.append((f"backward {i} {layer.type_name}",
                         best_us(lambda: layer.backward(delta, need_input_grad=i > 0), number)))
        rows.append(("optimizer step", best_us(opt.step, number)))

        def step():
            out = net._forward(xb, True)
            loss.value(out, yb)
            net._backward(loss, out, yb)
            opt.step()

        step_us = best_us(step, number)
        steps = n // bs

        def epoch_us() -> float:  # the epoch's own clock: fit's checks of X before it are not a step's cost
            h = dp.fit(net, X, y, loss=loss, optimizer=opt, epochs=1, batch_size=bs, seed=0, threads=args.threads)
            return h["seconds"][0] / steps * 1e6

        fit_us = min(epoch_us() for _ in range(5))
        Ws = [layer.W.value for layer in net.layers if isinstance(layer, dp.Dense)]
        acts = [xb] + [np.empty((bs, w.shape[1]), np.float32) for w in Ws]
        deltas = [np.empty_like(t) for t in acts]
        grads = [np.empty_like(w) for w in Ws]
        for d in deltas:
            d[...] = 0.01

        def gemms():
            for k, w in enumerate(Ws):
                np.matmul(acts[k], w, out=acts[k + 1])
            for k in range(len(Ws) - 1, -1, -1):
                np.matmul(acts[k].T, deltas[k + 1], out=grads[k])
                if k:
                    np.matmul(deltas[k + 1], Ws[k].T, out=deltas[k])

        gemm_us = best_us(gemms, number)
    print(f"batch {bs}, {dp.kernels.backend()} kernels, {args.threads} BLAS threads for every part "
          "(fit's automatic choice overridden); microseconds")
    for name, us in rows:
        print(f"  {name:<28} {us:9.1f}")
    print(f"  {'sum of the parts':<28} {sum(us for _, us in rows):9.1f}")
    print(f"one step (forward, loss, backward, update) {step_us:9.1f}")
    print(f"one step inside fit (with batch gathering)  {fit_us:9.1f}")
    print(f"the step's GEMMs alone                      {gemm_us:9.1f}  ({gemm_us / fit_us:.0%} of the step in fit)")


if __name__ == "__main__":
    main()
