"""Benchmark peer: an idiomatic PyTorch loop (nn.Sequential + torch.optim.SGD), tensors preloaded,
starting from deltaprop's initial weights and shuffling in deltaprop's order, so that the
two should reach the same test accuracy up to rounding. ``DELTAPROP_BENCH_FLUSH=1`` sets
``torch.set_flush_denormal(True)`` first (PyTorch's default leaves subnormals on)."""

from __future__ import annotations

import os
import sys
import time


sys.path.insert(0, __file__.rsplit("/", 1)[0])
import common  # noqa: E402


def main() -> None:
    import torch
    from torch import nn

    args = common.parser(__doc__).parse_args()
    torch.set_num_threads(args.threads)
    flush = os.environ.get("DELTAPROP_BENCH_FLUSH", "0") == "1" and torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = common.load_arrays(args.data)
    X, Y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    Xt, Yt = torch.from_numpy(x_test), torch.from_numpy(y_test)
    a, b, c, d = common.LAYERS
    model = nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c), nn.ReLU(), nn.Linear(c, d))
    with torch.no_grad():  # the same starting weights as deltaprop (torch stores W as (out, in))
        for linear, (W, b) in zip([m for m in model if isinstance(m, nn.Linear)], common.initial_weights(args.data)):
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
    orders = common.epoch_orders(args.seed, X.shape[0])  # and the same batches
    opt = torch.optim.SGD(model.parameters(), lr=common.LR, momentum=common.MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()
    n = X.shape[0]
    times = []
    pacer = common.Pacer(args.lockstep)
    started = time.perf_counter()
    for _ in range(args.epochs):
        pacer.wait()
        t0 = time.perf_counter()
        perm = torch.from_numpy(next(orders))
        for i in range(0, n, args.batch_size):
            idx = perm[i : i + args.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        pacer.done(times[-1])
    pacer.wait()
    total = time.perf_counter() - started
    with torch.no_grad():
        acc = float((model(Xt).argmax(1) == Yt).float().mean())
    common.report({
        "peer": "pytorch", "version": torch.__version__, "batch_size": args.batch_size, "epoch_seconds": times,
        "seconds_per_epoch": common.median_after_first(times), "total_seconds": total, "test_accuracy": acc,
        "threads": torch.get_num_threads(), "flush_subnormals": bool(flush),
    })


if __name__ == "__main__":
    main()
