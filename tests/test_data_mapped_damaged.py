"""A damaged gzip IDX file read memory-mapped (``mapped_idx``: ``load(..., mmap=True)``,
``deltaprop sweep``, an MPI run) is the FileFormatError the in-memory reader gives for it,
and leaves nothing in the ``mapped/`` cache."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cli_in_process import run_cli
from deltaprop.data import load, mapped_idx, read_idx, write_idx
from deltaprop.data.download import cache_dir
from deltaprop.errors import FileFormatError

_FASHION = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _images(path, n=60):
    """Random (incompressible) 28x28 uint8 images as a gzip IDX file at ``path``."""
    write_idx(path, np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8), compresslevel=1)
    return path


def _cut_short(data: bytes) -> bytes:
    return data[:len(data) // 2]


def _byte_changed(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(data) // 2] ^= 0xFF
    return bytes(changed)


def _header_claims_more(data: bytes) -> bytes:
    raw = bytearray(gzip.decompress(data))
    raw[7] += 1  # one image more than the file holds, in a valid gzip stream
    return gzip.compress(bytes(raw), compresslevel=1, mtime=0)


def _gzip_of_more_than_declared(data: bytes) -> bytes:
    return gzip.compress(gzip.decompress(data) + b"\0" * 784, compresslevel=1, mtime=0)


DAMAGE = [_cut_short, _byte_changed, _header_claims_more, _gzip_of_more_than_declared]


def _damaged(path, damage):
    path.write_bytes(damage(path.read_bytes()))
    return path


def _mapped_cache_files() -> list[str]:
    folder = cache_dir() / "mapped"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_a_damaged_gzip_file_mapped_is_the_error_read_idx_gives_and_caches_nothing(private_data_env, tmp_path,
                                                                                  damage):
    path = _damaged(_images(tmp_path / "train-images-idx3-ubyte.gz"), damage)
    with pytest.raises(FileFormatError) as in_memory:
        read_idx(path)
    with pytest.raises(FileFormatError) as mapped:
        mapped_idx(path)
    assert str(mapped.value) == str(in_memory.value)
    assert str(mapped.value).startswith(f"{path}: ")
    assert _mapped_cache_files() == []


def test_an_intact_gzip_file_maps_to_its_images_and_one_digest(private_data_env, tmp_path):
    path = _images(tmp_path / "train-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(mapped_idx(path), read_idx(path))
    files = _mapped_cache_files()
    assert len(files) == 2 and files[1] == files[0] + ".sha256"


def test_a_write_that_fails_is_not_called_a_damaged_file(tmp_path):
    from deltaprop.data.idx import copy_idx

    def disk_full(chunk):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left") as caught:
        copy_idx(_images(tmp_path / "x.gz"), disk_full)
    assert not isinstance(caught.value, FileFormatError)


def _fashion_dir(tmp_path, damage):
    folder = tmp_path / "fashion"
    folder.mkdir()
    for name in _FASHION:
        _images(folder / name, n=3)
    _damaged(folder / _FASHION[0], damage)
    return folder


@pytest.mark.parametrize("damage", [_cut_short, _byte_changed], ids=["cut_short", "byte_changed"])
def test_load_with_mmap_names_the_damaged_file_as_without(private_data_env, tmp_path, damage):
    folder = _fashion_dir(tmp_path, damage)
    errors = []
    for mmap in (False, True):
        with pytest.raises(FileFormatError) as caught:
            load("fashion-mnist", data_dir=folder, download=False, mmap=mmap)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert "corrupt gzip stream" in errors[1] and "Delete it and fetch or copy it again." in errors[1]
    assert _mapped_cache_files() == []


def test_sweep_over_a_damaged_gzip_file_stops_in_one_line(private_data_env, tmp_path):
    folder = _fashion_dir(tmp_path, _cut_short)
    config = tmp_path / "sweep.toml"
    config.write_text(f'dataset = "fashion-mnist"\ndata_dir = "{folder}"\nlayers = [784, 10, 10]\nepochs = 1\n')
    done = run_cli("sweep", config, "--grid", "lr=0.1,0.2", "--workers", "1", "--out", tmp_path / "sweep")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"{folder / _FASHION[0]}: corrupt gzip stream" in lines[0]
    assert _mapped_cache_files() == []


def test_bad_deflate_data_after_an_intact_gzip_header_is_named(private_data_env, tmp_path):
    path = tmp_path / "x.gz"
    data = bytearray(_images(path).read_bytes())
    data[10:40] = b"\xff" * 30
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="corrupt gzip stream"):
        mapped_idx(path)
    assert _mapped_cache_files() == []
