"""Seed 000's SGD experiment, transcribed from the seed's Julia code into plain NumPy float64.

A reference to measure deltaprop against, not part of the library: it imports nothing of
deltaprop's networks or training (only its MNIST reader, for the data). Line for line it is
the code the seed shows under "Improving learning with Stochastic Gradient Descent":

- ``loadMnistData``: images as columns (784 × n), each set standardised with its own
  statistics, ``(x .- mean(x,2)) / std(x .- mean(x,2))``: a mean per pixel and one
  standard deviation of all the centred pixels (Julia's ``std``: divisor N − 1);
- ``buildNetworkArchitectureWithOneHiddenSigmoids([784, 50, 10])``: a sigmoid layer of 50,
  a linear layer of 10, a softmax; each layer's parameters ``randn(n_out, n_in + 1) * 0.1``,
  the bias the last column;
- ``backwardPass!``: ``δ² = 1 · (o³ − y)`` at the linear layer, ``δ¹ = o¹(1 − o¹) ⊙ (Θ²ᵀ δ²)``
  (Θ² without its bias column);
- ``updateParameters!``: ``W ← W − α δ aᵀ / m``, ``b ← b − α mean(δ)``, α = 0.3, m the
  number of columns of the batch;
- iteration ``i`` (1 … 30,000) trains on ``collect((20i):(20i + 20)) % 60000 + 1``: the 21
  rows ``20i … 20i + 20`` (0-based) modulo 60,000, in the data's order;
- the test accuracy: ``indmax`` of the network's output against the label.

Julia's random numbers cannot be had here: ``--seeds`` draws the initial parameters from
NumPy's ``default_rng(seed)`` (layer 1 then layer 2). ``--same-start-deltaprop`` also trains
deltaprop's ``seed000_sgd`` config in float64 from the very same initial parameters (its
biases included) and scores it the same way, which says whether deltaprop computes the
seed's algorithm.

    uv run python scripts/seed000_reference.py --data-dir DIR --seeds 0-4
    uv run python scripts/seed000_reference.py --data-dir DIR --seeds 0-1 --iterations 90000 --every 5000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from deltaprop.errors import Error
from threadpoolctl import threadpool_limits

ALPHA = 0.3
BATCH = 20
SIZES = (784, 50, 10)


def standardise(images: np.ndarray) -> np.ndarray:
    """``(x .- mean(x,2)) / std(x .- mean(x,2))`` on the columns-as-examples matrix (784 × n),
    computed in place (the same operations: two fewer copies of 60,000 × 784 float64)."""
    x = images.reshape(len(images), -1).T.astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    x /= x.std(ddof=1)
    return x


def initial_parameters(seed: int) -> list[np.ndarray]:
    """``randn(n_out, n_in + 1) * 0.1`` for each layer; the last column is the bias."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n_out, n_in + 1)) * 0.1 for n_in, n_out in zip(SIZES[:-1], SIZES[1:])]


def forward(params: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sigmoid layer's output o¹ and the softmax output o³ (columns are examples)."""
    (p1, p2) = params
    o1 = 1.0 / (1.0 + np.exp(-(p1[:, :-1] @ x + p1[:, -1:])))
    o2 = p2[:, :-1] @ o1 + p2[:, -1:]
    e = np.exp(o2)
    return o1, e / e.sum(axis=0, keepdims=True)


def update(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> None:
    """One ``updateParameters!(unit, 0.3)`` on the batch ``x`` (784 × m), one-hot ``y`` (10 × m)."""
    (p1, p2) = params
    m = x.shape[1]
    o1, o3 = forward(params, x)
    d2 = o3 - y
    d1 = o1 * (1.0 - o1) * (p2[:, :-1].T @ d2)
    p1[:, :-1] -= ALPHA * (d1 @ x.T) / m
    p1[:, -1] -= ALPHA * d1.mean(axis=1)
    p2[:, :-1] -= ALPHA * (d2 @ o1.T) / m
    p2[:, -1] -= ALPHA * d2.mean(axis=1)


def accuracy(params: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> float:
    """The share of columns whose largest output is the label."""
    return float(np.mean(forward(params, x)[1].argmax(axis=0) == labels))


def train(params, x_train, y_train, iterations: int, on_iteration=None) -> None:
    """Iterations ``1 … iterations`` of the seed's loop; ``on_iteration(i)`` after each."""
    n = x_train.shape[1]
    onehot = np.eye(10)[:, y_train]
    window = np.arange(BATCH + 1)
    for i in range(1, iterations + 1):
        rows = (BATCH * i + window) % n
        update(params, x_train[:, rows], onehot[:, rows])
        if on_iteration is not None:
            on_iteration(i)


def run(seed: int, data, iterations: int, every: int | None) -> dict:
    """One training seed: test accuracy (test set standardised with its own statistics, as
    the seed does) at the end and every ``every`` iterations."""
    x_train, y_train, x_test, y_test = data
    params = initial_parameters(seed)
    curve: dict[int, float] = {}

    def read(i: int) -> None:
        if every and i % every == 0:
            curve[i] = accuracy(params, x_test, y_test)

    started = time.perf_counter()
    with threadpool_limits(1):  # 50 × 784 × 21 products: a second BLAS thread only waits, and on a busy machine far longer
        train(params, x_train, y_train, iterations, read)
    result = {"seed": seed, "iterations": iterations, "accuracy": accuracy(params, x_test, y_test),
              "seconds": round(time.perf_counter() - started, 1)}
    if curve:
        result["accuracy_by_iteration"] = curve
    return result


def deltaprop_same_start(seed: int, x_train, y_train, iterations: int):
    """deltaprop's seed000_sgd network (float64: sigmoid 50, linear 10, softmax, cross-entropy)
    started from ``initial_parameters(seed)`` and trained as the config does (SGD, α = 0.3,
    sliding windows of 21 rows); inputs are rows, so ``x_train`` is transposed."""
    import deltaprop as dp

    net = dp.Network([dp.Dense(784, 50), dp.Sigmoid(), dp.Dense(50, 10), dp.Softmax()], seed=0, dtype="float64")
    dense = [layer for layer in net.layers if isinstance(layer, dp.Dense)]
    for layer, p in zip(dense, initial_parameters(seed)):
        layer.W.value[...] = p[:, :-1].T
        layer.b.value[...] = p[:, -1]
    with np.errstate(over="ignore"):
        dp.fit(net, np.ascontiguousarray(x_train.T), y_train, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=ALPHA),
               steps=iterations, batch_size=BATCH, batching="sliding", seed=seed, threads=1, diagnostics=False)
    return net


def load(data_dir: str | None):
    from deltaprop.data import load as load_dataset

    ds = load_dataset("mnist", data_dir=data_dir, download=False)
    return standardise(ds.x_train), ds.y_train, standardise(ds.x_test), ds.y_test


def seed_list(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the folder holding the four MNIST IDX files")
    parser.add_argument("--seeds", default="0-4", help="initialisation seeds, e.g. 0-4 (default)")
    parser.add_argument("--iterations", type=int, default=30000, help="SGD iterations (the seed's 30,000)")
    parser.add_argument("--every", type=int, help="also score the test set every this many iterations")
    parser.add_argument("--same-start-deltaprop", action="store_true",
                        help="also train deltaprop (float64) from the same initial parameters")
    args = parser.parse_args(argv)
    try:
        data = load(args.data_dir)
    except Error as exc:  # MNIST not there, or a damaged file: the library's message, one line
        print(f"seed000_reference.py: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    results = []
    for seed in seed_list(args.seeds):
        with np.errstate(over="ignore"):
            result = run(seed, data, args.iterations, args.every)
        if args.same_start_deltaprop:
            net = deltaprop_same_start(seed, data[0], data[1], args.iterations)
            result["deltaprop_same_start"] = float(np.mean(net.predict(np.ascontiguousarray(data[2].T)) == data[3]))
        results.append(result)
        print(json.dumps(result), flush=True)
    final = [r["accuracy"] for r in results]
    spread = f" ± {statistics.stdev(final):.4f}" if len(final) > 1 else ""
    print(f"reference, {args.iterations} iterations: {statistics.mean(final):.4f}{spread} over {len(final)} "
          f"seeds ({min(final):.4f}-{max(final):.4f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
