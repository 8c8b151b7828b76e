"""BLAS threads that follow the machine's load while ``fit`` runs.

``fit`` counts the idle CPUs when it starts (:func:`deltaprop.cpus.idle_cpus`). When another
process starts later, two BLAS threads on two cores become several times slower than one
(each GEMM waits for the thread that lost its core: 0.52 s an epoch became 1.8 to 3.7 s at
batch 32 of 784-256-128-10, where one thread took 0.63 to 0.70 s; bench/README.md).
:class:`ThreadGovernor` watches the steps and moves to fewer threads when they slow down,
and back when the larger count pays again. It acts only on a count ``fit`` chose itself:
``threads=`` given, or a resumed run's recorded count, is kept as it is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["ThreadGovernor"]

#: Seconds of step time one window measures (time between epochs does not count).
WINDOW_SECONDS = 0.5
#: A window this many times slower per row than the fastest one seen on the same count
#: moves to fewer threads.
SLOWDOWN = 2.0
#: Wall seconds on fewer threads before the larger count is tried again for one window;
#: doubled after each try that was still slow, up to :data:`RETRY_MAX_SECONDS`.
RETRY_SECONDS = 10.0
RETRY_MAX_SECONDS = 160.0


class ThreadGovernor:
    """Steps the BLAS threads of a run down when its steps slow down, and back up.

    Step times are summed into windows of :data:`WINDOW_SECONDS`; a window's time per row
    is compared with the fastest window seen on the same thread count. One more than
    :data:`SLOWDOWN` times slower moves from ``top`` threads to the CPUs other processes
    leave idle (``idle()``; one where it cannot tell). After :data:`RETRY_SECONDS` there,
    the next window runs on ``top`` again: kept if it is within :data:`SLOWDOWN` of that
    count's best, else back down, and the wait doubles. ``set_threads(n)`` applies a
    count; ``changes`` lists ``(step, threads)`` for every change."""

    def __init__(self, top: int, set_threads: Callable[[int], None], *,
                 idle: Callable[[], float | None] | None = None, clock: Callable[[], float] = time.perf_counter):
        self.top = self.current = int(top)
        self._set_threads, self._idle, self._clock = set_threads, idle, clock
        self._best: dict[int, float] = {}
        self._seconds = 0.0
        self._rows = 0
        self._wait = RETRY_SECONDS
        self._changed_at = clock()
        self._trying = False
        self.changes: list[tuple[int, int]] = []

    def step_done(self, seconds: float, rows: int, step: int) -> None:
        """Count one step of ``rows`` rows that took ``seconds``; ``step`` is the run's step number."""
        self._seconds += seconds
        self._rows += rows
        if self._seconds < WINDOW_SECONDS or self._rows == 0:
            return
        per_row = self._seconds / self._rows
        self._seconds, self._rows = 0.0, 0
        best = self._best.get(self.current, math.inf)
        if self._trying:  # the first window back on the larger count
            self._trying = False
            if per_row > SLOWDOWN * best:
                self._wait = min(2 * self._wait, RETRY_MAX_SECONDS)
                self._switch(self._fewer(), step)
                return
            self._wait = RETRY_SECONDS
        elif self.current == self.top and per_row > SLOWDOWN * best:
            self._switch(self._fewer(), step)
            return
        self._best[self.current] = min(best, per_row)
        if self.current < self.top and self._clock() - self._changed_at >= self._wait:
            self._trying = True
            self._switch(self.top, step)

    def _fewer(self) -> int:
        idle = self._idle() if self._idle is not None else None
        return 1 if idle is None else max(1, min(self.top - 1, int(idle + 0.5)))

    def _switch(self, threads: int, step: int) -> None:
        if threads != self.current:
            self._set_threads(threads)
            self.current = threads
            self.changes.append((step, threads))
        self._changed_at = self._clock()
        self._seconds, self._rows = 0.0, 0
