"""Benchmark peer: deltaprop's own training loop, as a user runs it (``fit``'s defaults:
subnormals flushed, BLAS threads chosen by ``fit``). ``DELTAPROP_BENCH_FLUSH=0`` turns the
flush off (``fit(flush_subnormals=False)``); ``DELTAPROP_BENCH_THREADS=N`` trains on N BLAS
threads (``fit(threads=N)``) instead of the count ``fit`` chooses."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import common  # noqa: E402

import deltaprop as dp  # noqa: E402


def kernels_in_use() -> str:
    """The elementwise kernels fit used: numba and its version, or NumPy (and whether the
    optimizer's updates ran by NumPy's OpenBLAS)."""
    if dp.kernels.backend() == "numba":
        import numba

        return f"numba {numba.__version__}"
    return "NumPy, updates by OpenBLAS" if dp.vector_blas.available() else "NumPy"


class ThreadsChosen(dp.Callback):
    """Keeps the BLAS thread count ``fit`` chose for the run (None: the BLAS default) and
    paces the epochs (``--lockstep``): each epoch's seconds as ``fit`` measured them
    (before the callbacks), then the driver's word before the next epoch."""

    threads = None

    def __init__(self, pacer: common.Pacer, epochs: int):
        self.pacer, self.epochs = pacer, epochs

    def on_train_begin(self, state):
        self.threads = state.threads

    def on_train_end(self, state):
        self.threads = common.threads_used(self.threads, state.thread_changes)

    def on_epoch_end(self, state):
        self.pacer.done(state.logs["seconds"])
        if state.epoch < self.epochs:
            self.pacer.wait()


def main() -> None:
    args = common.parser(__doc__).parse_args()
    x_train, y_train, x_test, y_test = common.load_arrays(args.data)
    net = common.deltaprop_network(common.initial_weights(args.data), args.seed)
    opt = dp.SGD(lr=common.LR, momentum=common.MOMENTUM)
    flush = os.environ.get("DELTAPROP_BENCH_FLUSH", "1") != "0"
    threads = int(os.environ["DELTAPROP_BENCH_THREADS"]) if os.environ.get("DELTAPROP_BENCH_THREADS") else None
    pacer = common.Pacer(args.lockstep)
    chosen = ThreadsChosen(pacer, args.epochs)
    from threadpoolctl import threadpool_limits

    pacer.wait()  # fit chooses its threads when it starts: in the condition the driver runs it in
    started = time.perf_counter()
    with threadpool_limits(args.threads, user_api="blas"):  # at most this many; fit may use fewer
        history = dp.fit(
            net, x_train, y_train, loss=dp.CrossEntropy(), optimizer=opt,
            epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
            flush_subnormals=flush, callbacks=[chosen], threads=threads,
        )
    pacer.wait()
    total = time.perf_counter() - started
    acc = float(np.mean(net.predict(x_test) == y_test))
    common.report({
        "peer": "deltaprop", "batch_size": args.batch_size, "epoch_seconds": history["seconds"],
        "seconds_per_epoch": common.median_after_first(history["seconds"]), "total_seconds": total,
        "test_accuracy": acc, "blas": common.blas_info(), "kernels": kernels_in_use(),
        "threads": chosen.threads, "flush_subnormals": flush,
    })


if __name__ == "__main__":
    main()
