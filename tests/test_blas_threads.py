"""fit's BLAS threads follow the machine's load during a run: steps that slow down move to
fewer threads, and the larger count is tried again later (deltaprop.blas_threads)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import deltaprop as dp
from deltaprop import blas_threads
from deltaprop.blas_threads import RETRY_SECONDS, SLOWDOWN, ThreadGovernor


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _governor(idle=1.0):
    clock, applied = Clock(), []
    gov = ThreadGovernor(2, applied.append, idle=lambda: idle, clock=clock)
    return gov, clock, applied


def _window(gov, clock, per_row, step, rows=100):
    """One window of steps taking ``per_row`` seconds a row; the clock moves by its length."""
    for _ in range(100_000):
        clock.now += per_row * rows
        gov.step_done(per_row * rows, rows, step)
        if gov._seconds == 0.0:  # the window closed
            return
    raise AssertionError("the window never closed")


def test_a_slowdown_moves_to_the_idle_cpus_and_the_larger_count_is_tried_again():
    gov, clock, applied = _governor(idle=1.0)
    for _ in range(3):
        _window(gov, clock, 1e-4, step=10)
    assert applied == [] and gov.current == 2
    _window(gov, clock, 1e-4 * (SLOWDOWN + 0.5), step=20)  # another process took a core
    assert applied == [1] and gov.current == 1 and gov.changes == [(20, 1)]
    _window(gov, clock, 2e-4, step=30)  # one thread, before the wait is over: stays
    assert applied == [1]
    clock.now += RETRY_SECONDS
    _window(gov, clock, 2e-4, step=40)  # the wait is over: the next window tries 2 again
    assert applied == [1, 2]
    _window(gov, clock, 1.1e-4, step=50)  # fast again on two: kept
    assert applied == [1, 2] and gov.current == 2
    _window(gov, clock, 1e-4, step=60)
    assert gov.changes == [(20, 1), (40, 2)]


def test_a_try_that_is_still_slow_goes_back_and_waits_twice_as_long():
    gov, clock, applied = _governor(idle=None)  # idle CPUs unknown: one thread
    _window(gov, clock, 1e-4, step=1)
    _window(gov, clock, 5e-4, step=2)
    assert applied == [1]
    clock.now += RETRY_SECONDS
    _window(gov, clock, 2e-4, step=3)
    assert applied == [1, 2]
    _window(gov, clock, 5e-4, step=4)  # still slow on two
    assert applied == [1, 2, 1]
    clock.now += RETRY_SECONDS  # half the doubled wait: no try yet
    _window(gov, clock, 2e-4, step=5)
    assert applied == [1, 2, 1]
    clock.now += RETRY_SECONDS
    _window(gov, clock, 2e-4, step=6)
    assert applied == [1, 2, 1, 2]


def test_steady_or_faster_steps_change_nothing():
    gov, clock, applied = _governor()
    for per_row in (3e-4, 2e-4, 1e-4, 1.9e-4, 1e-4):  # slower than the best, but under SLOWDOWN times it
        _window(gov, clock, per_row, step=1)
    assert applied == [] and gov.changes == []


def _blas_threads_now() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


@pytest.fixture
def two_idle_cpus(monkeypatch):
    """fit sees two idle CPUs; windows of 4 ms of step time."""
    from deltaprop import cpus

    monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05: 1.0 if slowed else 2.0)
    monkeypatch.setattr(blas_threads, "WINDOW_SECONDS", 0.004)
    slowed = False

    class SlowAfter(dp.Callback):
        """From step ``after`` on, each step takes 5 ms longer, as if another process took a core."""

        def __init__(self, after):
            self.after, self.threads = after, []

        def on_gradients(self, state):  # inside the step, as the governor times it
            nonlocal slowed
            if state.step + 1 >= self.after:
                slowed = True
                time.sleep(0.005)

        def on_epoch_end(self, state):
            self.threads.append(_blas_threads_now())

    return SlowAfter


def _fit(callback, epochs=6, **kw):
    rng = np.random.default_rng(3)
    X, y = rng.random((512, 784), dtype=np.float32), rng.integers(0, 10, 512)
    net = dp.mlp([784, 256, 10], activation="relu", seed=0)
    states = []  # batches of 64: 64 · 784 · 256 multiply-adds, a step large enough for two threads
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.01), epochs=epochs, batch_size=64, seed=0,
           callbacks=[callback, dp.LambdaCallback(on_train_end=states.append)], diagnostics=False, **kw)
    return states[0]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_fit_moves_to_one_thread_when_its_steps_slow_down_and_records_it(two_idle_cpus):
    slow = two_idle_cpus(after=24)
    with threadpool_limits(limits=2, user_api="blas"):
        state = _fit(slow)
        assert _blas_threads_now() == 2  # fit gives back the limits it found
    # (on a crowded machine the steps may slow down before step 24 too: the change may come earlier)
    assert slow.threads[-1] == 1 and state.threads == 1
    assert state.thread_changes and state.thread_changes[0][1] == 1 and state.thread_changes[-1][1] == 1
    assert "thread_changes" not in state.to_dict()


@pytest.mark.slow  # about a second
def test_a_count_given_or_resumed_is_kept_whatever_the_steps_take(two_idle_cpus):
    with threadpool_limits(limits=2, user_api="blas"):
        slow = two_idle_cpus(after=4)
        state = _fit(slow, threads=2)
        assert state.threads == 2 and state.thread_changes == [] and slow.threads == [2] * 6


def test_the_command_line_says_when_the_threads_changed(capsys):
    from deltaprop import cli
    from deltaprop.training import TrainingState

    cli._thread_changes_note(TrainingState(net=None, loss=None, optimizer=None, rng=None, thread_changes=[(812, 1), (2400, 2)]))
    err = capsys.readouterr().err
    assert "the BLAS threads changed: 1 from step 812, 2 from step 2400" in err and "--threads N" in err
    cli._thread_changes_note(None)
    assert capsys.readouterr().err == ""


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_slow_callback_is_not_taken_for_a_slow_step(two_idle_cpus, monkeypatch):
    """A callback's own time (a logger, a run.json write, a progress bar) is not the step's:
    it used to count, so a callback that grew slow looked like a lost core."""
    from deltaprop import cpus

    monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05: 2.0)
    timed = []
    step_done = ThreadGovernor.step_done
    monkeypatch.setattr(ThreadGovernor, "step_done",
                        lambda self, seconds, rows, step: (timed.append(seconds), step_done(self, seconds, rows, step)))

    # the callback takes 1000 s of perf_counter's time without sleeping: a step on a loaded
    # machine may take a good part of a second, never that
    real_clock, taken = time.perf_counter, [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: real_clock() + taken[0])

    class SlowCallback(dp.Callback):
        def on_batch_end(self, state, rows, loss):
            if state.step in (3, 5):
                taken[0] += 1000.0

    with threadpool_limits(limits=2, user_api="blas"):
        _fit(SlowCallback(), epochs=1)
    assert len(timed) == 8 and timed[2] < 1000 and timed[4] < 1000
