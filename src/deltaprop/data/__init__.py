"""Datasets: MNIST-format (IDX) files, MNIST and Fashion-MNIST, a bundled MNIST sample,
seed 001's parity problem, your own arrays, transforms, and streaming from disk.

>>> import deltaprop.data as d
>>> d.load("mnist-sample")            # offline: ships with the package
>>> d.load("mnist")                   # found on disk, or downloaded and verified
>>> d.load("parity", bits=10)
"""

from __future__ import annotations

from deltaprop.data.arrays import LABEL_NAMES, Table, load_arrays, read_rows, read_table
from deltaprop.data.dataset import Dataset
from deltaprop.data.download import cache_dir, fetch
from deltaprop.data.idx import read_idx, read_idx_header, write_idx
from deltaprop.data.labels import encode_labels
from deltaprop.data.mnist import FASHION_MNIST_MIRRORS, MNIST_MIRRORS
from deltaprop.data.parity import load_parity
from deltaprop.data.streaming import MappedArray, RowView, iter_batches, mapped_idx, open_mapped
from deltaprop.data.transforms import (
    Standardizer,
    from_one_hot,
    one_hot,
    scale_to_unit,
    train_validation_split,
)

__all__ = [
    "DATASETS",
    "LABEL_NAMES",
    "FASHION_MNIST_MIRRORS",
    "MNIST_MIRRORS",
    "Dataset",
    "MappedArray",
    "RowView",
    "Standardizer",
    "Table",
    "cache_dir",
    "encode_labels",
    "fetch",
    "from_one_hot",
    "iter_batches",
    "load",
    "load_arrays",
    "load_parity",
    "one_hot",
    "mapped_idx",
    "open_mapped",
    "read_idx",
    "read_idx_header",
    "read_rows",
    "read_table",
    "scale_to_unit",
    "train_validation_split",
    "write_idx",
]

#: The names :func:`load` knows.
DATASETS = ("mnist-sample", "mnist", "fashion-mnist", "parity")

#: The shape of one image of each named image dataset (the others are tables' rows).
IMAGE_SHAPES = {"mnist-sample": (28, 28), "mnist": (28, 28), "fashion-mnist": (28, 28)}


def load(name: str, *, data_dir=None, flatten: bool = False, download: bool = True,
         bits: int = 10, timeout: float | None = None, mirrors=None, mmap: bool = False) -> Dataset:
    """Load a dataset by name.

    ``"mnist-sample"`` (bundled, offline), ``"mnist"``, ``"fashion-mnist"``: uint8 images
    ``(n, 28, 28)``, or ``(n, 784)`` with ``flatten=True``. MNIST files are looked for in
    ``data_dir``, ``$DELTAPROP_DATA/<name>/``, the user cache, and system folders, then
    downloaded (unless ``download=False``) from the mirrors with a per-read ``timeout``
    in seconds, into ``data_dir`` when given, else into the cache. ``mmap``: the MNIST
    images memory-mapped read-only instead of read (a gzip file is decompressed once into
    the cache and the copy mapped). ``"parity"``:
    every ``bits``-bit number, x float32 0/1, label 1 = even.
    """
    from deltaprop.data import mnist
    from deltaprop.data.download import DEFAULT_TIMEOUT
    from deltaprop.errors import ConfigError

    key = str(name).lower().replace("_", "-")
    if key == "parity":
        return load_parity(bits)
    specs = {"mnist": mnist.MNIST, "fashion-mnist": mnist.FASHION_MNIST,
             "mnist-sample": mnist.MNIST_SAMPLE}
    if key not in specs:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, "
                          "or load your own arrays with load_arrays(path).")
    return mnist.load_idx_dataset(specs[key], data_dir=data_dir, flatten=flatten,
                                  download=download, mirrors=mirrors, mmap=mmap,
                                  timeout=DEFAULT_TIMEOUT if timeout is None else timeout)
