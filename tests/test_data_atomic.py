"""Atomic writes: all or nothing, and never a stray temporary file."""

from __future__ import annotations

import os

import pytest

from deltaprop.atomic import atomic_write


def test_replaces_on_success(tmp_path):
    path = tmp_path / "sub" / "f.bin"
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(path.parent) == ["f.bin"]


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_keeps_old_file_and_removes_temp(tmp_path, exc):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(exc):
        with atomic_write(path) as f:
            f.write(b"half")
            raise exc()
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_new_file_gets_normal_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f") as f:
            f.write(b"x")
    finally:
        os.umask(mask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_write_idx_refuses_a_device_or_folder_target(tmp_path):
    import numpy as np

    from deltaprop.data import write_idx

    folder = tmp_path / "f.idx"
    folder.mkdir()
    with pytest.raises(OSError):
        write_idx(folder, np.zeros((2, 2), np.uint8))
    assert folder.is_dir()
    fifo = tmp_path / "pipe.idx"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        write_idx(fifo, np.zeros((2, 2), np.uint8))
    assert fifo.is_fifo()
