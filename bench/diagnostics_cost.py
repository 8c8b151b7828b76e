"""What the per-epoch diagnostics cost: the recorder's own time against the epoch's.

    uv run python bench/diagnostics_cost.py --epochs 3 --rounds 3

Benchmark network (784-256-128-10 ReLU, softmax + cross-entropy, SGD lr 0.05 with momentum
0.9, float32) on the Fashion-MNIST training set (60,000 images, Debian's dataset-fashion-mnist;
random pixels with --random), batch 128. Two readings:

* the recorder's time, summed over its hooks (the weight copies before each epoch's last
  step, the probe pass, the statistics and the alert rules), against each epoch's time
  measured by fit (the step loop and validation); this is what the 5% budget is about;
* whole-epoch times of fit with diagnostics on and off, alternated over rounds (the median
  of each), which shows the same cost through the noise of a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import deltaprop as dp
from deltaprop.callbacks import DiagnosticsRecorder


class TimedRecorder(DiagnosticsRecorder):
    """The recorder, with the time spent in each of its hooks added up."""

    seconds = 0.0

    def _timed(self, hook, *args):
        started = time.perf_counter()
        hook(*args)
        self.seconds += time.perf_counter() - started

    def on_train_begin(self, state):
        self._timed(super().on_train_begin, state)

    def on_epoch_begin(self, state):
        self._timed(super().on_epoch_begin, state)

    def on_batch_end(self, state, batch_size, batch_loss):
        self._timed(super().on_batch_end, state, batch_size, batch_loss)

    def on_epoch_end(self, state):
        self._timed(super().on_epoch_end, state)


def load(random: bool):
    if random:
        rng = np.random.default_rng(0)
        return rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)
    from deltaprop.data import load as load_dataset

    ds = load_dataset("fashion-mnist", flatten=True)
    return (ds.x_train / np.float32(255)).astype(np.float32), ds.y_train


def train(X, y, epochs: int, recorder, threads: int):
    net = dp.mlp([784, 256, 128, 10], activation="relu", seed=0)
    callbacks = [recorder] if recorder is not None else []
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.05, momentum=0.9), epochs=epochs,
                     batch_size=128, seed=0, callbacks=callbacks, diagnostics=recorder is not None, threads=threads)
    return [r["seconds"] for r in history.records]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--random", action="store_true", help="random pixels instead of Fashion-MNIST")
    args = ap.parse_args()
    X, y = load(args.random)
    shares, with_diag, without = [], [], []
    for _ in range(args.rounds):
        recorder = TimedRecorder(X, y)
        seconds = train(X, y, args.epochs, recorder, args.threads)
        # the recorder's work at an epoch's end runs after fit stops the epoch's clock: add it
        shares.append(recorder.seconds / (sum(seconds) + recorder.seconds))
        with_diag += [s + recorder.seconds / args.epochs for s in seconds]
        without += train(X, y, args.epochs, None, args.threads)
    print(f"benchmark network 784-256-128-10 ReLU, batch 128, {len(X):,} examples, {args.threads} BLAS threads, "
          f"{args.rounds} rounds of {args.epochs} epochs")
    print(f"recorder's own time: {100 * statistics.median(shares):.2f}% of an epoch "
          f"(rounds: {', '.join(f'{100 * s:.2f}%' for s in shares)})")
    on, off = statistics.median(with_diag), statistics.median(without)
    print(f"median epoch: {on:.3f} s with diagnostics, {off:.3f} s without ({100 * (on / off - 1):+.1f}%)")


if __name__ == "__main__":
    main()
