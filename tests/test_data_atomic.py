"""Atomic writes: all or nothing, and never a stray temporary file."""

from __future__ import annotations

import os
import re

import pytest

from deltaprop.atomic import atomic_write, atomic_write_bytes


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


# -- messages: the target is named, never the temporary file ----------------------------------
def _fail_with(monkeypatch, where, err):
    def boom(*args, **kwargs):
        raise err

    monkeypatch.setattr(*where, boom)


@pytest.mark.parametrize("code, words", [(28, "disk is full"), (27, "file size limit"), (122, "quota")])
def test_a_full_disk_names_the_file_and_leaves_no_temp(tmp_path, monkeypatch, code, words):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    _fail_with(monkeypatch, (os, "fsync"), OSError(code, os.strerror(code)))
    with pytest.raises(OSError) as info:
        with atomic_write(path) as f:
            f.write(b"new")
    monkeypatch.undo()
    assert info.value.filename == str(path) and words in str(info.value)
    assert info.value.errno == code
    assert os.listdir(tmp_path) == ["f.bin"] and path.read_bytes() == b"old"


def test_a_read_only_folder_names_the_target_not_the_temp(tmp_path, monkeypatch):
    import tempfile

    path = tmp_path / "f.bin"
    temp = str(tmp_path / f".f.bin.{os.getpid()}.abc.tmp")
    _fail_with(monkeypatch, (tempfile, "mkstemp"), PermissionError(13, "Permission denied", temp))
    with pytest.raises(PermissionError) as info:
        atomic_write_bytes(path, b"x")
    assert info.value.filename == str(path) and ".tmp" not in str(info.value)


def test_a_read_only_file_system_at_rename_names_the_target(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    def replace(src, dst):  # as the kernel reports it: the temporary file first
        raise OSError(30, "Read-only file system", str(src), str(dst))

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError) as info:
        atomic_write_bytes(path, b"x")
    monkeypatch.undo()
    assert info.value.filename == str(path) and ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_other_errors_raised_while_writing_are_left_alone(tmp_path):
    with pytest.raises(ConnectionResetError) as info:
        with atomic_write(tmp_path / "f.bin"):
            raise ConnectionResetError(104, "Connection reset by peer")
    assert info.value.filename is None and os.listdir(tmp_path) == []


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_cli_disk_full_names_the_file(tmp_path):
    import subprocess
    import sys

    from file_size_limit import limited

    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "deltaprop.cli", "train", "--dataset", "parity", "--epochs", "1",
                          "--quiet", "--out", str(out)], capture_output=True, text=True, timeout=120, **limited(2000))
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    # the first file of the run past the limit (the report or the checkpoint, whichever is written first)
    assert re.search(rf"{re.escape(str(out))}/[\w.]+\.(safetensors|html): File too large", res.stderr), res.stderr
    assert ".tmp" not in res.stderr
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_size_limited_process_leaves_no_truncated_bytecode(tmp_path):
    # Python writes a .pyc with one write() and does not check a short count: under a
    # file-size limit, the first import of a module would leave a truncated .pyc that breaks
    # every later import of it (EOFError: marshal data too short) in every other test.
    import subprocess
    import sys

    from file_size_limit import limited

    (tmp_path / "bulky.py").write_text("".join(f"VALUE_{i} = {i} * 2\n" for i in range(400)))
    res = subprocess.run([sys.executable, "-c", "import bulky"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, **limited(2000))
    assert res.returncode == 0, res.stderr
    cached = list((tmp_path / "__pycache__").glob("*.pyc")) if (tmp_path / "__pycache__").exists() else []
    assert cached == []
    res = subprocess.run([sys.executable, "-c", "import bulky; print(bulky.VALUE_399)"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "798", res.stderr


def test_a_ctrl_c_just_after_the_temporary_file_is_made_leaves_no_file_behind(tmp_path, monkeypatch):
    """The window between mkstemp and the try that removes the file on failure: a signal
    held there is raised inside it (a stopped run once left `.diagnostics.csv.PID.X.tmp`)."""
    import signal
    import tempfile

    made = tempfile.mkstemp

    def mkstemp_then_ctrl_c(*args, **kwargs):
        result = made(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "x.csv") as f:
            f.write(b"data")
    assert list(tmp_path.iterdir()) == []
