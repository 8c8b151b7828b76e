"""MNIST and Fashion-MNIST files side by side in one data folder (the two name their files
alike), and CSV files whose first line is a header of numbers."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

import deltaprop.data as d
from deltaprop.data import mnist
from deltaprop.data.download import cache_dir
from deltaprop.data.idx import idx_header_bytes, write_idx
from deltaprop.errors import FileFormatError

N_TRAIN, N_TEST = 12, 6


@pytest.fixture(autouse=True)
def isolated(private_data_env):
    """A private, empty cache and no DELTAPROP_DATA."""


def _arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
            "train_labels": rng.integers(0, 10, N_TRAIN).astype(np.uint8),
            "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
            "test_labels": rng.integers(0, 10, N_TEST).astype(np.uint8)}


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(idx_header_bytes(array.shape, array.dtype) + array.tobytes()).hexdigest()


@pytest.fixture
def two_datasets(monkeypatch):
    """Small fake MNIST and Fashion-MNIST (different content, the same file names), each
    spec knowing its own fake files' content, as the real specs know the real ones'."""
    arrays = {"mnist": _arrays(1), "fashion-mnist": _arrays(2)}
    for attr, name in (("MNIST", "mnist"), ("FASHION_MNIST", "fashion-mnist")):
        spec = getattr(mnist, attr)
        files = {role: dataclasses.replace(rf, digests=(("sha256", "0" * 64),),
                                           content_sha256=_sha(arrays[name][role]))
                 for role, rf in spec.files.items()}
        monkeypatch.setattr(mnist, attr, dataclasses.replace(spec, files=files, n_train=N_TRAIN, n_test=N_TEST,
                                                             mirrors=[], system_dirs=()))
    return arrays


def _write(folder, arrays, raw=False):
    folder.mkdir(parents=True, exist_ok=True)
    for role, rf in mnist.MNIST.files.items():
        write_idx(folder / (rf.raw_name if raw else rf.name), arrays[role])


def _same(ds, arrays):
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"])
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(ds.x_test, arrays["test_images"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])


@pytest.mark.parametrize("raw", [False, True])
def test_mnist_on_top_and_fashion_in_its_folder_each_load_their_own(two_datasets, tmp_path, raw):
    _write(tmp_path, two_datasets["mnist"], raw)
    _write(tmp_path / "fashion-mnist", two_datasets["fashion-mnist"])
    _same(d.load("fashion-mnist", data_dir=tmp_path, download=False), two_datasets["fashion-mnist"])
    _same(d.load("mnist", data_dir=tmp_path, download=False), two_datasets["mnist"])


def test_fashion_on_top_and_mnist_in_its_folder_each_load_their_own(two_datasets, tmp_path):
    _write(tmp_path, two_datasets["fashion-mnist"])
    _write(tmp_path / "mnist", two_datasets["mnist"], raw=True)
    _same(d.load("mnist", data_dir=tmp_path, download=False), two_datasets["mnist"])
    _same(d.load("fashion-mnist", data_dir=tmp_path, download=False), two_datasets["fashion-mnist"])


def test_the_other_datasets_files_in_data_dir_are_refused_not_passed_over_for_the_cache(two_datasets, tmp_path):
    """data_dir means that folder: a genuine cached copy does not silently stand in."""
    _write(tmp_path / "data", two_datasets["mnist"])
    _write(cache_dir() / "fashion-mnist", two_datasets["fashion-mnist"])
    with pytest.raises(FileFormatError, match="this is mnist's train-images-idx3-ubyte, not fashion-mnist's"):
        d.load("fashion-mnist", data_dir=tmp_path / "data", download=False)


def test_only_the_other_datasets_files_are_refused_saying_whose_they_are(two_datasets, tmp_path):
    _write(tmp_path, two_datasets["mnist"])
    with pytest.raises(FileFormatError) as info:
        d.load("fashion-mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in message
    assert "mnist's train-images-idx3-ubyte, not fashion-mnist's" in message
    assert "fashion-mnist/" in message


def test_a_damaged_file_in_the_datasets_folder_is_the_one_named(two_datasets, tmp_path):
    _write(tmp_path, two_datasets["mnist"])
    arrays = dict(two_datasets["fashion-mnist"])
    arrays["test_labels"] = (arrays["test_labels"] + 1) % 10
    _write(tmp_path / "fashion-mnist", arrays)
    with pytest.raises(FileFormatError) as info:
        d.load("fashion-mnist", data_dir=tmp_path, download=False)
    assert str(info.value).startswith(f"{tmp_path / 'fashion-mnist' / 't10k-labels-idx1-ubyte.gz'}: its content "
                                      "differs from the published fashion-mnist t10k-labels")
