"""Four small files in MNIST's format, and the file specs that recognise them, for tests of
where the MNIST loader looks and what it downloads."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib

import numpy as np

from deltaprop.data import mnist
from deltaprop.data.idx import write_idx


def write_mnist_files(folder, n_train: int, n_test: int) -> tuple[dict, dict]:
    """Random images and labels 0..9 written (gzip) into ``folder`` under MNIST's names;
    returns (arrays by role, MNIST's file specs with these files' digests)."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train_labels": np.arange(n_train, dtype=np.uint8) % 10,
              "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "test_labels": np.arange(n_test, dtype=np.uint8) % 10}
    files = {}
    for role, rf in mnist.MNIST.files.items():
        blob = write_idx(folder / rf.name, arrays[role]).read_bytes()
        files[role] = dataclasses.replace(rf, digests=(("sha256", hashlib.sha256(blob).hexdigest()),),
                                          content_sha256=hashlib.sha256(gzip.decompress(blob)).hexdigest())
    return arrays, files
