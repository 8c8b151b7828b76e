"""A signal that stops a command as Ctrl-C does, once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def interrupt_once(signum: int) -> Iterator[list[bool]]:
    """While active, ``signum`` raises KeyboardInterrupt the first time it comes and is
    ignored after that (the files of a stopped run are being written, or its trials are
    being stopped); the previous handler is back on exit, unless another was set meanwhile
    (a finished run ignores the signal to its exit: that is kept). Yields a list that holds
    True once the signal came. Only the main thread can set handlers: elsewhere nothing changes."""
    came: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return

    def first_only(number, frame):
        if not came:
            came.append(True)
            raise KeyboardInterrupt

    previous = signal.signal(signum, first_only)
    try:
        yield came
    finally:
        if signal.getsignal(signum) is first_only:
            signal.signal(signum, previous)


@contextlib.contextmanager
def ignored(signum: int) -> Iterator[None]:
    """While active, ``signum`` is ignored (a stopped run's last files are being written, or
    its trials are being stopped); the previous handler is back on exit. Only the main
    thread can set handlers: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signum, previous)
