"""deltaprop's training step against the careful NumPy loop and the GEMMs alone, measured
in one process, interleaved every few steps.

    uv run python bench/interleaved.py --data DIR --batch-size 128

``fit`` trains as a user runs it (its defaults, BLAS threads chosen by ``fit``, at most
``--threads``); a callback takes over every ``K`` batches and runs ``K`` steps of
``peer_numpy.CarefulLoop`` and ``K`` steps of the roofline's GEMMs (``peer_roofline``'s
three forward and five backward products), on the same BLAS threads, then hands back. The
three are compared chunk by chunk, tens of milliseconds apart, so the machine's drift
(which moves every peer's speed by tens of percent within seconds on shared machines)
cancels far better than between whole epochs of separate processes. Prints one JSON line:
each peer's mean microseconds a step and the median and quartiles of the chunk ratios."""

from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import common  # noqa: E402
from peer_numpy import CarefulLoop  # noqa: E402

import deltaprop as dp  # noqa: E402


class GemmsAlone:
    """The step's GEMMs on fixed buffers: ``z = a W`` per layer, then ``aᵀ δ`` per layer and
    ``δ Wᵀ`` for every layer but the first."""

    def __init__(self, weights, bs: int, rng: np.random.Generator):
        self.W = [w.copy() for w, _ in weights]
        self.dW = [np.empty_like(w) for w in self.W]
        sizes = [self.W[0].shape[0]] + [w.shape[1] for w in self.W]
        self.acts = [rng.random((bs, s), dtype=np.float32) for s in sizes]
        self.deltas = [(rng.standard_normal((bs, s)) * 0.01).astype(np.float32) for s in sizes]

    def step(self) -> None:
        W, acts, deltas = self.W, self.acts, self.deltas
        for k in range(len(W)):
            np.matmul(acts[k], W[k], out=acts[k + 1])
        for k in range(len(W) - 1, -1, -1):
            np.matmul(acts[k].T, deltas[k + 1], out=self.dW[k])
            if k > 0:
                np.matmul(deltas[k + 1], W[k].T, out=deltas[k])


class Interleave(dp.Callback):
    """Every ``k`` batches of ``fit``: ``k`` steps of each other peer, alternating which goes
    first. Keeps the seconds of each chunk; ``fit``'s first epoch is a warm-up."""

    def __init__(self, k: int, loop: CarefulLoop, gemms: GemmsAlone, X, Y, seed: int):
        self.k, self.loop, self.gemms, self.X, self.Y = k, loop, gemms, X, Y
        self.orders = common.epoch_orders(seed + 1, X.shape[0])
        self.order, self.pos = next(self.orders), 0
        self.chunks: dict[str, list[float]] = {"deltaprop": [], "numpy-loop": [], "roofline": []}
        self.batches = 0
        self.started = 0.0
        self.threads = None

    def on_train_begin(self, state):
        self.threads = state.threads

    def on_train_end(self, state):
        self.threads = common.threads_used(self.threads, state.thread_changes)

    def on_epoch_begin(self, state):
        self.batches = 0
        self.started = time.perf_counter()

    def _loop_steps(self) -> None:
        bs = self.loop.acts[0].shape[0]
        for _ in range(self.k):
            if self.pos + bs > self.order.shape[0]:
                self.order, self.pos = next(self.orders), 0
            self.loop.step(self.X, self.Y, self.order[self.pos : self.pos + bs], common.LR, common.MOMENTUM)
            self.pos += bs

    def _gemm_steps(self) -> None:
        for _ in range(self.k):
            self.gemms.step()

    def on_batch_end(self, state, batch_size, batch_loss):
        self.batches += 1
        if self.batches % self.k:
            return
        ours = time.perf_counter() - self.started
        measured = state.epoch >= 1  # the first epoch (0) warms up
        others = [("numpy-loop", self._loop_steps), ("roofline", self._gemm_steps)]
        if (self.batches // self.k) % 2:
            others.reverse()
        seconds = {"deltaprop": ours}
        for name, run in others:
            t0 = time.perf_counter()
            run()
            seconds[name] = time.perf_counter() - t0
        if measured:
            for name, s in seconds.items():
                self.chunks[name].append(s)
        self.started = time.perf_counter()


def summary(chunks: dict[str, list[float]], k: int) -> dict:
    """Each peer's mean microseconds a step, and per chunk: our time over the NumPy loop's,
    and the GEMMs' time over ours (the share of the roofline reached)."""
    ours = np.array(chunks["deltaprop"])
    ratios = {"numpy-loop": ours / np.array(chunks["numpy-loop"]), "roofline": np.array(chunks["roofline"]) / ours}
    return {
        "us_per_step": {name: float(np.mean(s)) / k * 1e6 for name, s in chunks.items()},
        "chunk_ratios": {name: [round(float(v), 4) for v in r] for name, r in ratios.items()},
        "ratio_quartiles": {name: [float(np.percentile(r, q)) for q in (25, 50, 75)] for name, r in ratios.items()},
    }


def main() -> None:
    from threadpoolctl import threadpool_limits

    ap = common.parser(__doc__)
    ap.add_argument("--chunk", type=int, default=0, help="steps a chunk (default: about 4096 rows)")
    args = ap.parse_args()
    bs = args.batch_size
    k = args.chunk or max(4, 4096 // bs)
    x_train, y_train, _, _ = common.load_arrays(args.data)
    weights = common.initial_weights(args.data)
    Y = np.eye(common.LAYERS[-1], dtype=np.float32)[y_train]
    net = common.deltaprop_network(weights, args.seed)
    spy = Interleave(k, CarefulLoop(weights, bs), GemmsAlone(weights, bs, np.random.default_rng(args.seed)),
                     x_train, Y, args.seed)
    with threadpool_limits(args.threads, user_api="blas"):  # at most this many; fit may use fewer
        dp.fit(net, x_train, y_train, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=common.LR, momentum=common.MOMENTUM),
               epochs=max(2, args.epochs), batch_size=bs, seed=args.seed, callbacks=[spy])
    common.report({"peer": "interleaved", "batch_size": bs, "chunk_steps": k, "threads": spy.threads,
                   "kernels": dp.kernels.backend(), **summary(spy.chunks, k)})


if __name__ == "__main__":
    main()
