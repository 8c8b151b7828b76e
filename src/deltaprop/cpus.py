"""How many of this process's CPUs are idle now, measured rather than guessed.

Two BLAS threads on two cores where another process is busy are many times slower than one
(each GEMM waits for the thread that lost its core): ``fit`` asks :func:`idle_cpus` before
it chooses a thread count for large steps.
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


def idle_cpus(window: float = 0.05) -> float | None:
    """How many of :func:`available_cpus` were idle over the next ``window`` seconds (this
    thread sleeps meanwhile, so the work seen is other processes'); None where the counters
    cannot be read."""
    cpus = available_cpus()
    before = _ticks(cpus)
    if before is None:
        return None
    time.sleep(window)
    after = _ticks(cpus)
    if after is None or after[1] <= before[1]:
        return None
    return len(cpus) * (after[0] - before[0]) / (after[1] - before[1])
