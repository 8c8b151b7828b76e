"""Answers read from a file, kept while the file stays the same: its device, inode, size,
modification and change times (``deltaprop train`` replaces a table by a rename, which
changes them all), as :func:`deltaprop.serve.run.run_signature` tells a change."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

__all__ = ["FileCache", "file_identity"]


def file_identity(path: str | os.PathLike) -> tuple[int, ...] | None:
    """What changes when ``path``'s file does (followed through links); None when unreadable."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class FileCache:
    """The last ``entries`` answers made from files, each under the file's identity and the
    question's ``key``; an answer is kept only where the file was the same before and after
    it was read. Answers are shared between callers: read them, never change them."""

    def __init__(self, entries: int = 4):
        self.entries = entries
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str | os.PathLike, key: Hashable, make: Callable[[], Any]) -> Any:
        """The answer to ``key`` about ``path``: the kept one while the file is unchanged,
        else ``make()`` (kept when the file did not change meanwhile); ``make``'s errors pass."""
        before = file_identity(path)
        full = (os.fspath(path), before, key)
        with self._lock:
            if before is not None and full in self._kept:
                self._kept.move_to_end(full)
                return self._kept[full]
        answer = make()
        if before is not None and file_identity(path) == before:
            with self._lock:
                self._kept[full] = answer
                while len(self._kept) > self.entries:
                    self._kept.popitem(last=False)
        return answer

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
