"""Small steps start on one BLAS thread and probe the larger count at a fixed step,
keeping whichever was faster (deltaprop.blas_threads.ThreadGovernor's probe, set up by fit)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import deltaprop as dp
from deltaprop import blas_threads, cli, training
from deltaprop.blas_threads import RETRY_SECONDS, ThreadGovernor


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _probing(k=8):
    clock, applied = Clock(), []
    gov = ThreadGovernor(2, applied.append, idle=lambda: 1.0, clock=clock, start=1, probe_steps=k)
    return gov, clock, applied


def _steps(gov, clock, per_rows, first_step, rows=10):
    for i, per_row in enumerate(per_rows):
        clock.now += per_row * rows
        gov.step_done(per_row * rows, rows, first_step + i)


def test_the_probe_keeps_the_larger_count_when_it_is_faster():
    gov, clock, applied = _probing(8)
    assert gov.current == 1
    _steps(gov, clock, [9e-4] * 4 + [2e-4] * 4, 1)  # warm-up steps 1-4 are not timed
    assert applied == [2] and gov.changes == [(8, 2)] and gov.probed == [8]
    _steps(gov, clock, [1e-4] * 4, 9)
    assert gov.current == 2 and applied == [2] and gov.probe_steps is None


def test_the_probe_goes_back_when_the_larger_count_is_not_faster_by_the_margin():
    gov, clock, applied = _probing(8)
    _steps(gov, clock, [2e-4] * 8, 1)
    _steps(gov, clock, [2e-4 * (1 - blas_threads.PROBE_MARGIN / 2)] * 4, 9)  # 2.5% faster: not enough
    assert applied == [2, 1] and gov.current == 1 and gov.probed == [8, 12] and gov.changes == [(8, 2), (12, 1)]


def test_the_probe_compares_medians_so_one_slow_step_does_not_decide():
    gov, clock, applied = _probing(8)
    _steps(gov, clock, [2e-4] * 4 + [2e-4, 2e-4, 2e-4, 5e-2], 1)  # a page fault in the one-thread half
    _steps(gov, clock, [1e-4, 1e-4, 8e-2, 1e-4], 9)  # and a longer one in the two-thread half
    assert gov.current == 2 and applied == [2]


def test_after_a_won_probe_a_window_slower_than_one_thread_was_moves_back():
    """The machine that made two threads pay may stop doing so (another virtual machine on
    the host): a window clearly slower per row than the probe's one-thread steps
    (FEWER_MARGIN) moves to one, though it is far from twice the best."""
    gov, clock, applied = _probing(8)
    _steps(gov, clock, [2e-4] * 8 + [1.2e-4] * 4, 1)
    assert gov.current == 2
    per_window = int(blas_threads.WINDOW_SECONDS / (1e-4 * 10)) + 1
    _steps(gov, clock, [1.3e-4] * per_window, 100)
    assert gov.current == 2
    _steps(gov, clock, [2.1e-4] * per_window, 1000)  # 5% slower than one thread was: noise
    assert gov.current == 2
    _steps(gov, clock, [2.3e-4] * per_window, 2000)  # 15% slower than one thread, under twice the best
    assert gov.current == 1 and applied == [2, 1]


def test_after_a_lost_probe_the_larger_count_is_tried_again_and_kept_only_when_faster():
    gov, clock, applied = _probing(8)
    _steps(gov, clock, [2e-4] * 8 + [3e-4] * 4, 1)
    assert applied == [2, 1]
    per_window = int(blas_threads.WINDOW_SECONDS / (2e-4 * 10)) + 1
    clock.now += RETRY_SECONDS
    _steps(gov, clock, [2e-4] * per_window, 100)  # a window on one thread, then the try on two
    assert applied == [2, 1, 2]
    _steps(gov, clock, [2.1e-4] * per_window, 1000)  # not faster than one thread was
    assert applied == [2, 1, 2, 1]
    clock.now += 2 * RETRY_SECONDS
    _steps(gov, clock, [2e-4] * per_window, 2000)
    assert applied[-1] == 2
    _steps(gov, clock, [1.5e-4] * per_window, 3000)  # faster: kept
    assert gov.current == 2 and applied == [2, 1, 2, 1, 2]


# -- fit --------------------------------------------------------------------------------------------
@pytest.fixture
def idle(monkeypatch):
    from deltaprop import cpus

    def set_idle(n):
        monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05: n)

    return set_idle


def _blas_threads_now() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


#: the steps whose BLAS threads _run looks at (threadpoolctl takes about 1 ms a look)
WATCHED = {1, 2, 31, 32, 33, 34, 47, 48, 49, 50, 120, 200}


def _run(epochs=4, rows=512, **kw):
    rng = np.random.default_rng(5)
    X, y = rng.random((rows, 20), dtype=np.float32), rng.integers(0, 3, rows)
    net = dp.mlp([20, 16, 3], activation="relu", seed=1)
    states, seen = [], []

    def look(state, *args):
        if state.step in WATCHED:
            seen.append((state.step, _blas_threads_now()))

    cb = dp.LambdaCallback(on_train_end=states.append, on_batch_end=look)
    with threadpool_limits(limits=2, user_api="blas"):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.05, momentum=0.9), epochs=epochs,
               batch_size=8, seed=0, callbacks=[cb], diagnostics=False, **kw)
        assert _blas_threads_now() == 2  # fit gives back the limits it found
    return net, states[0], dict(seen)


def _k(rows_per_step=8):
    return max(32, -(-2 * training.PROBE_MACS // (rows_per_step * (20 * 16 + 16 * 3))))


def test_a_small_step_run_on_two_idle_cpus_probes_two_threads_at_a_fixed_step(idle, monkeypatch):
    idle(2.0)
    monkeypatch.setattr(training, "PROBE_MACS", 8 * 368 * 16)  # K = 32 steps
    monkeypatch.setattr(blas_threads, "PROBE_MARGIN", -1e9)  # two threads always win
    k = _k()
    assert k == 32
    _, state, seen = _run()
    assert seen[k] == 1 and seen[k + 1] == 2 and state.thread_changes[0] == (k, 2) and state.thread_probe == [k]
    monkeypatch.setattr(blas_threads, "PROBE_MARGIN", 1e9)  # two threads always lose
    _, state, seen = _run()
    assert state.thread_changes[:2] == [(k, 2), (k + k // 2, 1)] and state.thread_probe == [k, k + k // 2]
    assert seen[k + 1] == 2 and seen[k + k // 2 + 1] == 1


def test_reruns_that_make_the_same_choice_give_the_same_bits(idle, monkeypatch):
    idle(2.0)
    monkeypatch.setattr(training, "PROBE_MACS", 8 * 368 * 16)
    monkeypatch.setattr(blas_threads, "WINDOW_SECONDS", 1e9)  # no slowdown moves: only the probe
    monkeypatch.setattr(blas_threads, "PROBE_MARGIN", -1e9)
    (a, sa, _), (b, sb, _) = _run(), _run()
    assert sa.thread_changes == sb.thread_changes == [(32, 2)]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(pa.value, pb.value)


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_no_probe_on_a_busy_machine_a_short_run_or_a_count_given(idle, monkeypatch):
    monkeypatch.setattr(training, "PROBE_MACS", 8 * 368 * 16)  # K = 32: 4K = 128 steps at least
    idle(1.0)
    assert _run()[1].thread_changes == []
    idle(2.0)
    _, state, seen = _run(epochs=1, rows=8 * 100)  # 100 steps < 4K
    assert state.thread_changes == [] and set(seen.values()) == {1}
    _, state, seen = _run(threads=1)
    assert state.thread_changes == [] and set(seen.values()) == {1}


def test_the_command_line_does_not_call_the_probe_a_slowdown(capsys):
    state = training.TrainingState(net=None, loss=None, optimizer=None, rng=None,
                                   thread_changes=[(266, 2), (399, 1)], thread_probe=[266, 399])
    cli._thread_changes_note(state)
    assert "slowed down" not in capsys.readouterr().err
    state.thread_changes.append((5000, 2))
    cli._thread_changes_note(state)
    err = capsys.readouterr().err
    assert "the BLAS threads changed: 2 from step 5000." in err
