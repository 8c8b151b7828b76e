"""How many of this process's CPUs are idle now, measured rather than guessed.

Two BLAS threads on two cores where another process is busy are many times slower than one
(each GEMM waits for the thread that lost its core): ``fit`` asks :func:`idle_cpus` before
it chooses a thread count for large steps. Only other processes' work counts: this
process's own BLAS threads keep spinning for a while after its last GEMM (a second ``fit``
right after a first, a cross-validation loop), and counting them as load would put every
fit after the first on one thread.
"""

from __future__ import annotations

import os
import time

__all__ = ["available_cpus", "idle_cpus"]


def available_cpus() -> set[int]:
    """The CPUs this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


def _ticks(cpus: set[int]) -> tuple[int, int] | None:
    """(idle, total) jiffies summed over ``cpus`` from /proc/stat, or None where unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.read(1 << 20).splitlines()
    except OSError:
        return None
    idle = total = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        fields = [int(v) for v in rest.split()[:8]]
        idle += fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        total += sum(fields)
    return (idle, total) if total else None


def _own_ticks() -> float:
    """This process's CPU time (all its threads, user and system) in /proc/stat's ticks."""
    return time.process_time() * _TICKS_PER_SECOND


_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _measure(window: float) -> tuple[float, float, float] | None:
    """(idle, own, total) ticks of :func:`available_cpus` over the next ``window`` seconds:
    idle time, this process's CPU time (all its threads) and all time; None where the
    counters cannot be read."""
    cpus = available_cpus()
    before, own_before = _ticks(cpus), _own_ticks()
    if before is None:
        return None
    time.sleep(window)
    after, own_after = _ticks(cpus), _own_ticks()
    if after is None or after[1] <= before[1]:
        return None
    return after[0] - before[0], max(0.0, own_after - own_before), after[1] - before[1]


def idle_cpus(window: float = 0.05) -> float | None:
    """How many of :func:`available_cpus` other processes left idle over the next ``window``
    seconds: ``n · (idle + own) / total`` in ticks, where ``own`` is this process's CPU time
    meanwhile (its BLAS threads may still spin; this thread sleeps); None where the counters
    cannot be read."""
    measured = _measure(window)
    if measured is None:
        return None
    idle, own, total = measured
    return len(available_cpus()) * min(1.0, (idle + own) / total)
