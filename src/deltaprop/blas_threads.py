"""BLAS threads that follow the machine's load while ``fit`` runs.

``fit`` counts the idle CPUs when it starts (:func:`deltaprop.cpus.idle_cpus`). When another
process starts later, two BLAS threads on two cores become several times slower than one
(each GEMM waits for the thread that lost its core: 0.52 s an epoch became 1.8 to 3.7 s at
batch 32 of 784-256-128-10, where one thread took 0.63 to 0.70 s; bench/README.md).
:class:`ThreadGovernor` watches the steps and moves to fewer threads when they slow down,
and back when the larger count pays again. It acts only on a count ``fit`` chose itself:
``threads=`` given, or a resumed run's recorded count, is kept as it is.

Small steps (``fit`` starts them on one thread) gain from a second thread on one idle
machine and lose on another, or on the same machine minutes later (0.79 against 1.35 times
one thread's epoch at batch 32 of 784-256-128-10, measured in one process; bench/README.md).
So the governor measures instead of guessing: with ``probe_steps`` = K it trains steps
K/2 … K on the starting count and K … 3K/2 on the larger one, then keeps the count whose
median time per row was lower (by :data:`PROBE_MARGIN`). K is counted in steps, so the
change happens at the same step in every rerun; only the choice depends on the machine.
"""

from __future__ import annotations

import math
import statistics
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
#: The larger count wins the probe only when its median time per row is this much lower.
PROBE_MARGIN = 0.05
#: On the larger count, a window this much slower per row than the last one on fewer
#: threads moves back to fewer (a try on the larger count is kept only when faster).
FEWER_MARGIN = 0.1


class ThreadGovernor:
    """Steps the BLAS threads of a run down when its steps slow down, and back up.

    Step times are summed into windows of :data:`WINDOW_SECONDS`; a window's time per row
    is compared with the fastest window seen on the same thread count and with the last
    window on fewer threads. On ``top`` threads, one more than :data:`SLOWDOWN` times
    slower than that count's best, or :data:`FEWER_MARGIN` slower than fewer threads
    were, moves to the CPUs other processes leave idle (``idle()``; one where it cannot
    tell). After
    :data:`RETRY_SECONDS` there, the next window runs on ``top`` again: kept if it is
    within :data:`SLOWDOWN` of that count's best and faster than fewer threads, else back
    down, and the wait doubles. ``start`` is the count the run starts on (default ``top``)
    and ``probe_steps`` the probe's K (module docstring). ``set_threads(n)`` applies a
    count; ``changes`` lists ``(step, threads)`` for every change, ``probed`` the steps of
    the probe's own changes. ``kept`` is the count a run records (a resume trains on it):
    ``current``, but the starting count while the probe's trial of ``top`` is under way."""

    def __init__(self, top: int, set_threads: Callable[[int], None], *,
                 idle: Callable[[], float | None] | None = None, clock: Callable[[], float] = time.perf_counter,
                 start: int | None = None, probe_steps: int | None = None):
        self.top = int(top)
        self.current = self.top if start is None else int(start)
        self._set_threads, self._idle, self._clock = set_threads, idle, clock
        self._best: dict[int, float] = {}
        self._fewer_per_row: float | None = None  # the last window's time per row on fewer threads
        self._seconds = 0.0
        self._rows = 0
        self._wait = RETRY_SECONDS
        self._changed_at = clock()
        self._trying = False
        self.changes: list[tuple[int, int]] = []
        #: the probe's K (None: no probe, or it is over); ``probed`` lists its changes' steps
        self.probe_steps = probe_steps if probe_steps and self.current < self.top else None
        self.probed: list[int] = []
        self._start = self.current
        self._seen = 0
        self._probe_times: dict[int, list[float]] = {}

    def step_done(self, seconds: float, rows: int, step: int) -> None:
        """Count one step of ``rows`` rows that took ``seconds``; ``step`` is the run's step number."""
        if self.probe_steps is not None:
            self._probe_step(seconds, rows, step)
            return
        self._seconds += seconds
        self._rows += rows
        if self._seconds < WINDOW_SECONDS or self._rows == 0:
            return
        per_row = self._seconds / self._rows
        self._seconds, self._rows = 0.0, 0
        best = self._best.get(self.current, math.inf)
        if self._trying:  # the first window back on the larger count
            self._trying = False
            if per_row > SLOWDOWN * best or self._slower_than_fewer(per_row):
                self._wait = min(2 * self._wait, RETRY_MAX_SECONDS)
                self._switch(self._fewer(), step)
                return
            self._wait = RETRY_SECONDS
        elif self.current == self.top and (per_row > SLOWDOWN * best or self._slower_than_fewer(per_row, FEWER_MARGIN)):
            self._switch(self._fewer(), step)
            return
        self._best[self.current] = min(best, per_row)
        if self.current < self.top:
            self._fewer_per_row = per_row
            if self._clock() - self._changed_at >= self._wait:
                self._trying = True
                self._switch(self.top, step)

    @property
    def kept(self) -> int:
        """The count to record for the run: a trial in the probe is not a choice."""
        return self._start if self.probe_steps is not None else self.current

    def _slower_than_fewer(self, per_row: float, margin: float = 0.0) -> bool:
        """Whether a window on the larger count took longer per row than the last one on
        fewer, by more than ``margin`` of it."""
        return self._fewer_per_row is not None and per_row >= (1.0 + margin) * self._fewer_per_row

    def _probe_step(self, seconds: float, rows: int, step: int) -> None:
        """Steps K/2 … K time the starting count, K … 3K/2 the larger one; then the count
        with the lower median time per row is kept, and windows take over."""
        self._seen += 1
        k = self.probe_steps
        if self._seen > k // 2 and rows:
            per_row, total = self._probe_times.setdefault(self.current, ([], [0.0, 0]))
            per_row.append(seconds / rows)
            total[0] += seconds
            total[1] += rows
        if self._seen == k:
            self.probed.append(step)
            self._switch(self.top, step)
        elif self._seen >= k + k // 2:
            self.probe_steps = None
            (fewer, (s1, r1)), (larger, (s2, r2)) = self._probe_times[self._start], self._probe_times[self.top]
            self._fewer_per_row = self._best[self._start] = s1 / r1  # window figures are means
            if statistics.median(larger) < (1.0 - PROBE_MARGIN) * statistics.median(fewer):
                self._best[self.top] = s2 / r2
            else:
                self.probed.append(step)
                self._switch(self._start, step)

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
