"""Benchmark peer: a plain, careful NumPy training loop written for this one network.

What a competent NumPy programmer writes by hand, with no library around it: buffers
allocated once, every batch gathered into one with ``np.take(out=)``, ``z = a W + b`` and
``a = max(z, 0)`` in place, the softmax and ``δ = (a − y)/n`` in place, the ReLU mask as a
multiply, and seed 002's momentum ``V := μV − α g;  W := W + V`` per array. It starts from
deltaprop's initial weights and shuffles in deltaprop's order, so the test accuracies agree
up to rounding. It is the bar for deltaprop's own overhead: a step of the library should
cost no more than this loop's step."""

from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import common  # noqa: E402


class CarefulLoop:
    """The network's arrays and buffers, sized for batches of ``bs`` rows."""

    def __init__(self, weights, bs: int):
        self.W = [w.copy() for w, _ in weights]
        self.b = [b.copy() for _, b in weights]
        self.params = self.W + self.b
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.grads = [np.empty_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]
        sizes = [self.W[0].shape[0]] + [w.shape[1] for w in self.W]
        self.acts = [np.empty((bs, s), np.float32) for s in sizes]
        self.deltas = [np.empty((bs, s), np.float32) for s in sizes]
        self.mask = [np.empty((bs, s), np.float32) for s in sizes]
        self.row = np.empty((bs, 1), np.float32)
        self.targets = np.empty((bs, sizes[-1]), np.float32)

    def step(self, X, Y, idx, lr: float, mu: float) -> None:
        m, L = idx.shape[0], len(self.W)
        a = [t[:m] for t in self.acts]
        d = [t[:m] for t in self.deltas]
        np.take(X, idx, axis=0, out=a[0])
        y = self.targets[:m]
        np.take(Y, idx, axis=0, out=y)
        for k in range(L):
            np.matmul(a[k], self.W[k], out=a[k + 1])
            a[k + 1] += self.b[k]
            if k < L - 1:
                np.maximum(a[k + 1], 0.0, out=a[k + 1])
        out, row = a[L], self.row[:m]
        np.max(out, axis=1, keepdims=True, out=row)
        out -= row
        np.exp(out, out=out)
        np.sum(out, axis=1, keepdims=True, out=row)
        out /= row
        np.subtract(out, y, out=d[L])
        d[L] *= 1.0 / m
        gW, gb = self.grads[:L], self.grads[L:]
        for k in range(L - 1, -1, -1):
            np.matmul(a[k].T, d[k + 1], out=gW[k])
            np.add.reduce(d[k + 1], axis=0, out=gb[k])
            if k > 0:
                np.matmul(d[k + 1], self.W[k].T, out=d[k])
                mask = self.mask[k][:m]
                np.greater(a[k], 0.0, out=mask)
                d[k] *= mask
        for p, v, g, s in zip(self.params, self.velocity, self.grads, self.scratch):
            v *= mu
            np.multiply(g, lr, out=s)
            v -= s
            p += v

    def predict(self, X) -> np.ndarray:
        a = X
        for k, (W, b) in enumerate(zip(self.W, self.b)):
            a = a @ W + b
            if k < len(self.W) - 1:
                np.maximum(a, 0.0, out=a)
        return a.argmax(axis=1)


def main() -> None:
    from threadpoolctl import threadpool_limits

    args = common.parser(__doc__).parse_args()
    x_train, y_train, x_test, y_test = common.load_arrays(args.data)
    Y = np.eye(common.LAYERS[-1], dtype=np.float32)[y_train]
    loop = CarefulLoop(common.initial_weights(args.data), args.batch_size)
    orders = common.epoch_orders(args.seed, x_train.shape[0])
    n, bs = x_train.shape[0], args.batch_size
    times = []
    pacer = common.Pacer(args.lockstep)
    started = time.perf_counter()
    with threadpool_limits(args.threads, user_api="blas"):
        for _ in range(args.epochs):
            pacer.wait()
            t0 = time.perf_counter()
            order = next(orders)
            for i in range(0, n, bs):
                loop.step(x_train, Y, order[i : i + bs], common.LR, common.MOMENTUM)
            times.append(time.perf_counter() - t0)
            pacer.done(times[-1])
    pacer.wait()
    total = time.perf_counter() - started
    acc = float(np.mean(loop.predict(x_test) == y_test))
    common.report({
        "peer": "numpy-loop", "batch_size": bs, "epoch_seconds": times,
        "seconds_per_epoch": common.median_after_first(times), "total_seconds": total, "test_accuracy": acc,
        "threads": args.threads,
    })


if __name__ == "__main__":
    main()
