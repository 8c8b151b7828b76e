"""What a run that probes a second BLAS thread records and says: the count a checkpoint
keeps for a resume, and the command line's note (deltaprop.blas_threads, fit)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import deltaprop as dp
from deltaprop import blas_threads, cli, training
from deltaprop.blas_threads import ThreadGovernor


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _blas_threads_now() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


@pytest.fixture
def probing(monkeypatch):
    """Two idle CPUs, and a probe at K = 32 steps of [20, 16, 3] at batch 8."""
    from deltaprop import cpus

    monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05: 2.0)
    monkeypatch.setattr(training, "PROBE_MACS", 8 * 368 * 16)
    monkeypatch.setattr(blas_threads, "WINDOW_SECONDS", 1e9)  # only the probe changes the count


def _fit(rows=320, epochs=4, callbacks=()):
    """40 steps an epoch: the first epoch ends at step 40, inside the probe's steps 33-48."""
    rng = np.random.default_rng(5)
    X, y = rng.random((rows, 20), dtype=np.float32), rng.integers(0, 3, rows)
    net = dp.mlp([20, 16, 3], activation="relu", seed=1)
    ends, states = [], []
    record = dp.LambdaCallback(on_epoch_end=lambda s: ends.append((s.step, s.threads, s.to_dict()["threads"])),
                               on_train_end=states.append)
    with threadpool_limits(limits=2, user_api="blas"):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.05), epochs=epochs, batch_size=8, seed=0,
               callbacks=[record, *callbacks], diagnostics=False)
        assert _blas_threads_now() == 2
    return ends, states[0]


@pytest.mark.parametrize("margin, kept", [(-1e9, 2), (1e9, 1)])
def test_a_checkpoint_inside_the_probe_records_the_count_the_run_started_on(probing, monkeypatch, margin, kept):
    """The probe's steps on two threads are a trial: a checkpoint written then (a resume
    trains on its count to the end, with no probe) keeps one thread; the probe's choice is
    recorded once it is made."""
    monkeypatch.setattr(blas_threads, "PROBE_MARGIN", margin)
    ends, state = _fit()
    assert ends[0] == (40, 1, 1)
    assert ends[1] == (80, kept, kept) and state.threads == kept
    assert state.thread_changes[0] == (32, 2) and state.thread_probe[0] == 32


def test_a_run_stopped_inside_the_probe_ends_on_the_count_it_started_on(probing, monkeypatch):
    monkeypatch.setattr(blas_threads, "PROBE_MARGIN", -1e9)

    class Stop(dp.Callback):
        def on_batch_end(self, state, rows, loss):
            if state.step == 36:
                state.stop_training = True

    _, state = _fit(callbacks=[Stop()])
    assert state.step == 36 and state.thread_changes == [(32, 2)]
    assert state.threads == 1 and state.to_dict()["threads"] == 1


def test_the_governor_keeps_the_starting_count_until_the_probe_decides():
    clock, applied = Clock(), []
    gov = ThreadGovernor(2, applied.append, idle=lambda: 1.0, clock=clock, start=1, probe_steps=8)
    for step in range(1, 13):
        clock.now += 1e-3
        gov.step_done(1e-3 if step <= 8 else 1e-4, 10, step)
        assert gov.kept == (2 if step >= 12 else 1), step
    assert applied == [2] and gov.current == 2


def test_the_command_line_says_a_probe_changed_the_threads(capsys):
    """The probe's steps on two threads round differently from one thread's: neither count
    in run.json or the checkpoint, passed as --threads, gives this run's bits again."""
    state = training.TrainingState(net=None, loss=None, optimizer=None, rng=None,
                                   thread_changes=[(266, 2)], thread_probe=[266])
    cli._thread_changes_note(state)
    err = capsys.readouterr().err
    assert "probe" in err and "2 from step 266" in err and "--threads N" in err and "slowed down" not in err
