"""One run per folder: a lock file that keeps a second process out while one trains.

The lock is ``run.lock`` in the run folder, held with ``fcntl.flock`` for the life of the
process (the kernel releases it when the process ends, however it ends) and holding the
holder's PID, host and start time as JSON, so the refusal can name it. A lock file left
by a process that is gone (its PID no longer runs on this host) is taken over with a
note; one from another host is refused, since its PID cannot be checked from here.

:func:`writing` is a second, short lock: on the run folder itself, held by whoever reads
or writes the run's report files (the training process at each report write, ``deltaprop
report`` while it rebuilds the page), so the two take turns and the page written last is
rendered from the files as they stand then; one that never lets go is waited for
:data:`WRITING_WAIT` seconds at most.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import Error

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError", "is_held", "writing"]

LOCK_NAME = "run.lock"


class RunLockedError(Error, RuntimeError):
    """Another process holds the run folder's lock."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def is_held(folder: str | os.PathLike) -> bool:
    """Whether a live process holds ``folder``'s lock (a run is training there now); a
    lock file left by a killed process is not held."""
    try:
        fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)  # closing releases a lock it took
    return False


#: The most seconds :func:`writing` waits for the folder's lock before it goes on without it:
#: a holder that never lets go (a training run suspended with Ctrl-Z mid-write, a stopped
#: ``deltaprop report``) must not hang the other process for ever.
WRITING_WAIT = 10.0


@contextlib.contextmanager
def writing(folder: str | os.PathLike, wait: float | None = None) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on the folder ``folder`` itself (waiting for it, at most
    ``wait`` seconds, default :data:`WRITING_WAIT`) while its report files are read or
    written; the kernel releases it when the process ends, however it ends. Not re-entrant:
    a process must not take it twice at once. Gives False when another process still held
    it as the wait ran out, else True; where the wait ran out, or the folder cannot be
    opened or locked, nothing is held (each file is still written atomically)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        fd = None
    free = True
    try:
        if fd is not None:
            deadline = time.monotonic() + (WRITING_WAIT if wait is None else wait)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        break
                    if time.monotonic() >= deadline:
                        free = False
                        break
                time.sleep(0.02)
        yield free
    finally:
        if fd is not None:
            os.close(fd)  # closing releases the flock


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8")
        holder = json.loads(text) if text.strip() else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process"
    return f"process {holder.get('pid')} on {holder.get('host')} (started {holder.get('started')})"


class RunLock:
    """``with RunLock(folder): ...`` holds ``folder/run.lock``; ``note`` says whether a
    stale lock was taken over. Raises :class:`RunLockedError` naming the holder."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / LOCK_NAME
        self.note: str | None = None
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(fd)
                waited = 0.0
                while not holder and waited < 1.0:  # the holder locks first, then writes who it is
                    time.sleep(0.02)
                    waited += 0.02
                    holder = _read_holder(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise RunLockedError(f"{self.path.parent} is in use by {_describe(holder)}: its lock {self.path} "
                                     "is held; wait for that run to end or choose another --out") from None
            if self._same_file(fd):  # not unlinked by a holder that released it meanwhile
                break
            os.close(fd)
        self._fd = fd
        self._check_previous(_read_holder(fd))
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode("utf-8"), 0)
        except OSError as exc:  # a full disk: say which file and what to do, and let the folder go
            self.release()
            raise type(exc)(exc.errno, f"{exc.strerror}; the run's lock file could not be written: free space "
                            "on its disk (or fix the folder), then run the command again", str(self.path)) from None
        return self

    def _same_file(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _check_previous(self, holder: dict[str, Any] | None) -> None:
        """A lock file with content that we could lock: its process is gone, or elsewhere."""
        if not holder:
            return
        pid, host = holder.get("pid"), holder.get("host")
        if host != socket.gethostname():
            self.release()
            raise RunLockedError(f"{self.path} was taken by {_describe(holder)}, another host, whose process cannot "
                                 "be checked from here; delete the lock file if that run has ended")
        if isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid):
            self.note = f"note: {self.path} named {_describe(holder)}, still running but not holding the lock; taking it over"
        else:
            self.note = f"note: took over the stale lock {self.path} of {_describe(holder)}, which is no longer running"

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)  # closing releases the flock
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
