"""Atomic file writes for every file deltaprop writes (models, checkpoints, CSV, TOML, PNG,
IDX files, downloads).

A reader sees the old file or the new one, never half of either: the bytes go to a
temporary file in the destination's folder (same file system, so the rename is atomic),
which is flushed and fsynced, renamed over the destination with ``os.replace``, and the
folder is fsynced so the rename survives a power cut. Any failure, ``KeyboardInterrupt``
included, removes the temporary file, leaves the previous file untouched and raises.

Temporary names are ``.{name}.{pid}.{random}.tmp``: hidden, with a suffix no loader
accepts, so a leftover from a killed process cannot be mistaken for the file. The next
write to the same destination removes leftovers whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_bytes", "check_target", "fsync_dir", "remove_stale_temps"]


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_target(path: str | os.PathLike) -> Path:
    """Refuse a destination that exists and is not a regular file (a folder, a device, a
    pipe, a socket): renaming over it would replace a device node or fail half-way.
    A symbolic link is judged by what it points to and is itself replaced."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return path
    except NotADirectoryError:
        raise NotADirectoryError(f"{path}: a parent of this path is a file, not a folder") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path} is a folder; give a file name inside it")
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path} exists and is not a regular file (a device or pipe); refusing to replace it")
    return path


def _new_file_mode(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0o666 & ~umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` left by processes that no longer run."""
    path = Path(path)
    pattern = re.compile(r"^\." + re.escape(path.name) + r"\.(\d+)\.[^.]+\.tmp$")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


# Errors of the file itself (not of, say, a network the caller reads from while writing).
_FILE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}


def _naming(exc: OSError, path: Path) -> OSError:
    """The same error, naming the destination rather than the temporary file (or nothing)."""
    what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EFBIG: "the file size limit is reached"}.get(exc.errno)
    text = f"{exc.strerror} ({what}; any previous version of the file is kept)" if what else exc.strerror
    return type(exc)(exc.errno, text, str(path))


def _hold_stop_signals():
    """Hold SIGINT and SIGTERM back (in the main thread, where Python runs signal handlers):
    a Ctrl-C between the temporary file's creation and the ``try`` that removes it would
    leave the file behind. Returns what :func:`_release` needs (None elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    came: list[int] = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if handler is not None:  # None: set outside Python, which could not be put back
            previous[signum] = handler
            signal.signal(signum, lambda number, frame: came.append(number))
    return previous, came


def _release(held) -> None:
    """Undo :func:`_hold_stop_signals`; a signal that came meanwhile is raised again, now
    that its own handler is back."""
    if held is None:
        return
    previous, came = held
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    if came:
        signal.raise_signal(came[0])


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for writing; on a clean exit it is flushed,
    fsynced and renamed over ``path``. On any exception it is removed at once and ``path``
    is left as it was. The folder is created if needed; a target that is not a regular
    file is refused before anything is written. A failure to create, write or rename the
    file (a full disk, a read-only folder) raises ``OSError`` naming ``path``."""
    path = check_target(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    held = _hold_stop_signals()
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    except OSError as exc:
        _release(held)
        raise _naming(exc, path) from None
    done = False
    try:
        _release(held)  # a Ctrl-C that came meanwhile is raised here, where the file is removed
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _new_file_mode(path))
            yield f
            f.flush()
            os.fsync(f.fileno())
        check_target(path)  # it may have become a folder or device meanwhile
        os.replace(tmp, path)
        done = True
        fsync_dir(folder)
    except OSError as exc:
        if exc.errno in _FILE_ERRNOS and exc.filename in (None, tmp):
            raise _naming(exc, path) from None
        raise
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically and durably; returns ``path``.

    Raises ``OSError`` (disk full, read-only folder, a target that is not a regular file,
    ...) after removing the temporary file; the previous content of ``path`` is kept."""
    with atomic_write(path) as f:
        view = memoryview(data)
        while view.nbytes:  # write() may be partial on some file systems
            written = f.write(view)
            view = view[written:]
    return Path(path)
