"""Seed 001's MNIST experiment, transcribed from the seed's Python code into vectorised NumPy.

A reference to measure deltaprop against, not part of the library: it imports nothing of
deltaprop's networks or training (only its MNIST reader, for the data). It computes what
the seed's ``Network`` class computes, one batch at a time instead of one example at a time:

- inputs: the raw pixels 0 … 255 as the seed's reader returns them, in float64;
- ``np.random.seed(seed)``, then for each layer ``W = randn(n_out, n_in)`` and
  ``b = randn(n_out)`` (the seed's ``random_weights_biases``, σ = 1, μ = 0);
- every epoch ``np.random.shuffle`` of the row numbers, then ``int(n / 256) − 1`` batches of
  256 and a last batch of the rest (352 rows for 60,000), every batch's summed gradient
  divided by 256 (the seed's ``batches`` and ``average_gradient``);
- ``a = σ(W a + b)`` at both layers, ``σ(z) = 1 / (1 + e^{−z})``; ``δ² = −2(y − a²) σ′(z²)``,
  ``δ¹ = (W²ᵀ δ²) σ′(z¹)``, ``σ′ = σ(1 − σ)``; ``W ← W − 0.3 ∇W`` (``self.eta = 0.3``);
- the printed error: ``Σ (y − a)²`` of each example, summed over a batch and divided by 256,
  averaged over the batches of the epoch; the test accuracy: ``argmax`` against the label.

``--last-batch rest`` instead divides every batch by its own size and ends the epoch with
the 96 rows left over (deltaprop's batches); ``--dtype float32`` computes in float32.
``--same-start-deltaprop`` trains deltaprop's ``seed001_mnist_mse`` network instead (its
float32, its own shuffled batches), started from the seed's draws for ``seed``, weights
and biases: the seed's initialisation with everything else deltaprop's.

    uv run python scripts/seed001_reference.py --data-dir DIR --seeds 0 --epochs 300 --every 25
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from deltaprop.errors import Error

ETA = 0.3
BATCH = 256
SIZES = (784, 32, 10)


def initial_parameters(seed: int, dtype=np.float64) -> list[tuple[np.ndarray, np.ndarray]]:
    """``np.random.seed(seed)``; ``(randn(n_out, n_in), randn(n_out))`` per layer, in that order."""
    np.random.seed(seed)
    params = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        W = np.random.randn(n_out, n_in)
        b = np.random.randn(n_out)
        params.append((W.astype(dtype), b.astype(dtype)))
    return params


def batches(n: int, last_batch: str) -> list[tuple[int, int, float]]:
    """``(start, stop, divisor)`` of each batch of a shuffled epoch."""
    if last_batch == "seed":
        k = int(n / BATCH)
        return [(i * BATCH, (i + 1) * BATCH, BATCH) for i in range(k - 1)] + [((k - 1) * BATCH, n, BATCH)]
    return [(lo, min(lo + BATCH, n), min(lo + BATCH, n) - lo) for lo in range(0, n, BATCH)]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def forward(params, x: np.ndarray) -> list[np.ndarray]:
    """The activations ``a⁰ = x, a¹, a²`` (rows are examples)."""
    out = [x]
    for W, b in params:
        out.append(sigmoid(out[-1] @ W.T + b))
    return out


def step(params, x: np.ndarray, y: np.ndarray, divisor: float) -> float:
    """One update on the batch ``x`` with one-hot ``y``; its error ``Σ (y − a)² / divisor``."""
    a = forward(params, x)
    delta = -2 * (y - a[-1]) * a[-1] * (1 - a[-1])
    grads = []
    for layer in range(len(params), 0, -1):
        grads.append((delta.T @ a[layer - 1] / divisor, delta.sum(axis=0) / divisor))
        if layer > 1:
            delta = (delta @ params[layer - 1][0]) * a[layer - 1] * (1 - a[layer - 1])
    for (W, b), (gW, gb) in zip(params, reversed(grads)):
        W -= ETA * gW
        b -= ETA * gb
    return float(np.sum(np.square(y - a[-1]))) / divisor


def accuracy(params, x: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(forward(params, x)[-1].argmax(axis=1) == labels))


def run(seed: int, data, epochs: int, every: int, last_batch: str, dtype) -> dict:
    """Train one seed; the error of every epoch and the test accuracy every ``every`` epochs."""
    x_train, y_train, x_test, y_test = (np.asarray(d, dtype=dtype) if i % 2 == 0 else d for i, d in enumerate(data))
    params = initial_parameters(seed, dtype)
    onehot = np.eye(10, dtype=dtype)[y_train]
    errors, curve = [], {}
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = np.arange(len(x_train))
        np.random.shuffle(order)
        parts = batches(len(order), last_batch)
        total = 0.0
        for lo, hi, divisor in parts:
            rows = order[lo:hi]
            total += step(params, x_train[rows], onehot[rows], divisor)
        errors.append(round(total / len(parts), 5))
        if epoch % every == 0 or epoch == epochs:
            curve[epoch] = accuracy(params, x_test, y_test)
    return {"seed": seed, "epochs": epochs, "last_batch": last_batch, "dtype": np.dtype(dtype).name,
            "accuracy": curve[epochs], "accuracy_by_epoch": curve, "error_by_epoch": errors,
            "seconds": round(time.perf_counter() - started, 1)}


def deltaprop_same_start(seed: int, data, epochs: int, every: int) -> dict:
    """deltaprop's seed001_mnist_mse training (float32, SGD α = 0.3, reshuffled batches of
    256, squared error) from ``initial_parameters(seed)``."""
    import deltaprop as dp

    x_train, y_train, x_test, y_test = (np.asarray(d, dtype=np.float32) if i % 2 == 0 else d for i, d in enumerate(data))
    net = dp.Network([dp.Dense(784, 32), dp.Sigmoid(), dp.Dense(32, 10), dp.Sigmoid()], seed=seed, dtype="float32")
    for layer, (W, b) in zip([net.layers[0], net.layers[2]], initial_parameters(seed)):
        layer.W.value[...] = W.T
        layer.b.value[...] = b
    curve: dict[int, float] = {}

    class Score(dp.Callback):
        def on_epoch_end(self, state):
            if state.epoch % every == 0 or state.epoch == epochs:
                curve[state.epoch] = dp.accuracy(y_test, net.predict(x_test))

    started = time.perf_counter()
    history = dp.fit(net, x_train, y_train, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=ETA), epochs=epochs,
                     batch_size=BATCH, seed=seed, callbacks=[Score()], threads=1, diagnostics=False)
    return {"seed": seed, "epochs": epochs, "deltaprop_same_start": True, "accuracy": curve[epochs],
            "accuracy_by_epoch": curve, "error_by_epoch": [round(r["loss"], 5) for r in history.records],
            "seconds": round(time.perf_counter() - started, 1)}


def load(data_dir: str | None):
    from deltaprop.data import load as load_dataset

    ds = load_dataset("mnist", data_dir=data_dir, flatten=True, download=False)
    return ds.x_train, ds.y_train, ds.x_test, ds.y_test


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the folder holding the four MNIST IDX files")
    parser.add_argument("--seeds", default="0", help="np.random seeds, e.g. 0-4 (default 0, the seed's)")
    parser.add_argument("--epochs", type=int, default=300, help="epochs (the seed's 300)")
    parser.add_argument("--every", type=int, default=25, help="score the test set every this many epochs")
    parser.add_argument("--last-batch", choices=("seed", "rest"), default="seed",
                        help="seed: 352 rows divided by 256 (default); rest: the 96 rows left over")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--same-start-deltaprop", action="store_true",
                        help="train deltaprop's seed001_mnist_mse network from the seed's draws instead")
    args = parser.parse_args(argv)
    try:
        data = load(args.data_dir)
    except Error as exc:  # MNIST not there, or a damaged file: the library's message, one line
        print(f"seed001_reference.py: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    first, _, last = args.seeds.partition("-")
    for seed in range(int(first), int(last or first) + 1):
        with np.errstate(over="ignore"):
            if args.same_start_deltaprop:
                result = deltaprop_same_start(seed, data, args.epochs, args.every)
            else:
                result = run(seed, data, args.epochs, args.every, args.last_batch, np.dtype(args.dtype))
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
