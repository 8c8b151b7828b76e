"""What each part of a training step costs where it runs: inside ``fit``, between the
GEMMs, with the caches as the rest of the step leaves them.

    uv run python bench/step_parts.py --data DIR --batch-size 128 --part optimizer

``bench/profile_step.py`` times each part alone, over and over on the same arrays, which
keeps them in cache; in a real step they are read again from memory after the GEMMs and
the next batch pushed them out, and cost two to five times more. Here one ``fit`` runs
with a callback that, every ``K`` batches, switches the part off or back on; a part off is
skipped (the optimizer's update, the loss value, the bias gradient), replaced by its
cheapest stand-in (ReLU: the identity; the gather: the first batch again). The part's
cost is the difference between neighbouring chunks with it on and off, per step; medians
and quartiles over the chunk pairs of the epochs after the first. With a part off the run
does not train as it should (that is the point: only the time is read), so the learning
rate of the ReLU part is lowered to keep the linear network from diverging.
"""

from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import common  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import layers, losses, optimizers, training  # noqa: E402

PARTS = ("optimizer", "gather", "relu", "loss-value", "bias-gradient")


def _dense_backward_without_bias(self, grad_out, *, need_input_grad=True):
    np.matmul(self._x.T, grad_out, out=self.W.grad)
    if not need_input_grad:
        return None
    grad_in = self._buffer("grad_in", (grad_out.shape[0], self.n_in))
    np.matmul(grad_out, self.W.value.T, out=grad_in)
    return grad_in


def _relu_forward_identity(self, x, *, train=False):
    self._a = x
    return x


def _relu_backward_identity(self, grad_out, *, need_input_grad=True):
    return grad_out


def switches(part: str) -> list[tuple[type, str, object]]:
    """``(class, attribute, stand-in)`` for each method the part swaps out."""
    if part == "optimizer":
        return [(optimizers.Optimizer, "step", lambda self: None)]
    if part == "loss-value":
        return [(losses.Loss, "value", lambda self, a, y, weights=None: 1.0)]
    if part == "bias-gradient":
        return [(layers.Dense, "backward", _dense_backward_without_bias)]
    if part == "relu":
        return [(layers.ReLU, "forward", _relu_forward_identity), (layers.ReLU, "backward", _relu_backward_identity)]
    if part == "gather":
        gather = training.MiniBatches.batch
        first: dict[int, tuple] = {}

        def same_batch(self, k):
            if id(self) not in first:
                first[id(self)] = tuple(None if a is None else a.copy() for a in gather(self, k))
            return first[id(self)]

        return [(training.MiniBatches, "batch", same_batch)]
    raise SystemExit(f"--part must be one of {', '.join(PARTS)}")


class Toggle(dp.Callback):
    """Every ``k`` batches: the seconds of the chunk just run, then the part switched."""

    def __init__(self, k: int, swaps):
        self.k, self.swaps = k, [(cls, name, getattr(cls, name), stand_in) for cls, name, stand_in in swaps]
        self.on = True
        self.chunks: dict[bool, list[float]] = {True: [], False: []}
        self.batches, self.started = 0, 0.0

    def switch(self, on: bool) -> None:
        self.on = on
        for cls, name, original, stand_in in self.swaps:
            setattr(cls, name, original if on else stand_in)

    def on_epoch_begin(self, state):
        self.batches = 0
        self.started = time.perf_counter()

    def on_batch_end(self, state, batch_size, batch_loss):
        self.batches += 1
        if self.batches % self.k:
            return
        if state.epoch >= 1:  # epoch 0 warms up
            self.chunks[self.on].append(time.perf_counter() - self.started)
        self.switch(not self.on)
        self.started = time.perf_counter()

    def on_train_end(self, state):
        self.switch(True)


def summary(chunks: dict[bool, list[float]], k: int) -> dict:
    """Per step: the mean with the part on and off, and the part's cost from neighbouring
    chunks (on − off), median and quartiles."""
    n = min(len(chunks[True]), len(chunks[False]))
    on, off = np.array(chunks[True][:n]), np.array(chunks[False][:n])
    cost = (on - off) / k * 1e6
    step = float(on.mean()) / k * 1e6
    return {"us_per_step": step, "us_per_step_without": float(off.mean()) / k * 1e6, "pairs": int(n),
            "cost_us": [float(np.percentile(cost, q)) for q in (25, 50, 75)],
            "share": float(np.median(cost)) / step}


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--part", required=True, choices=PARTS)
    ap.add_argument("--chunk", type=int, default=0, help="steps a chunk (default: about 4096 rows)")
    args = ap.parse_args()
    bs = args.batch_size
    k = args.chunk or max(4, 4096 // bs)
    x_train, y_train, _, _ = common.load_arrays(args.data)
    net = common.deltaprop_network(common.initial_weights(args.data), args.seed)
    toggle = Toggle(k, switches(args.part))
    lr = common.LR / 50 if args.part == "relu" else common.LR
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads, user_api="blas"):  # at most this many; fit may use fewer
        dp.fit(net, x_train, y_train, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=lr, momentum=common.MOMENTUM),
               epochs=max(2, args.epochs), batch_size=bs, seed=args.seed, callbacks=[toggle], diagnostics=False)
    result = summary(toggle.chunks, k)
    common.report({"peer": "step-parts", "part": args.part, "batch_size": bs, "chunk_steps": k,
                   "kernels": dp.kernels.backend(), **result})
    q = result["cost_us"]
    print(f"batch {bs}, {args.part}: {q[1]:.0f} µs a step (quartiles {q[0]:.0f} to {q[2]:.0f}) of "
          f"{result['us_per_step']:.0f}, {result['share']:.1%}; {result['pairs']} chunk pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
