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


#: A fresh process: fit whose callback loads SciPy's own OpenBLAS mid-run, then a probe that
#: goes back to one thread; prints each BLAS library's threads before the load and after fit.
_LOADS_SCIPY_MID_RUN = """
import json, sys
import numpy as np
from threadpoolctl import threadpool_info
import deltaprop as dp
from deltaprop import blas_threads, cpus, training
def counts():
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
if "scipy.linalg" in sys.modules or max(counts().values(), default=1) < 2:
    print(json.dumps(None)); sys.exit()
cpus.idle_cpus = lambda window=0.05: 2.0
training.PROBE_MACS = 8 * 368 * 16
blas_threads.PROBE_MARGIN = 1e9
blas_threads.WINDOW_SECONDS = 1e9
before = {}
def load(state, *args):
    if state.step == 5:
        import scipy.linalg  # noqa: F401
        before.update(counts())
rng = np.random.default_rng(5)
X, y = rng.random((320, 20), dtype=np.float32), rng.integers(0, 3, 320)
net = dp.mlp([20, 16, 3], activation="relu", seed=1)
states = []
dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.05), epochs=4, batch_size=8, seed=0,
       callbacks=[dp.LambdaCallback(on_batch_end=load, on_train_end=states.append)], diagnostics=False)
print(json.dumps([states[0].thread_changes, before, counts()]))
"""


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_a_blas_loaded_during_the_run_keeps_its_threads_after_fit():
    """``import scipy.linalg`` in a callback loads SciPy's own OpenBLAS; the probe's move
    back to one thread set that library too, and fit, which restores only the libraries it
    limited, left it on one thread for the rest of the process."""
    import json
    import subprocess
    import sys

    pytest.importorskip("scipy")
    out = subprocess.run([sys.executable, "-c", _LOADS_SCIPY_MID_RUN], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    if result is None:
        pytest.skip("deltaprop's import loads scipy.linalg here, or the BLAS default is one thread (no probe)")
    changes, before, after = result
    assert changes == [[32, 2], [48, 1]]
    loaded = [path for path in before if "scipy.libs" in path]
    if not loaded:
        pytest.skip("SciPy shares NumPy's BLAS here")
    for path in loaded:
        assert after[path] == before[path], path


def test_a_run_too_short_for_the_probe_does_not_measure_the_idle_cpus(monkeypatch):
    """Counting the idle CPUs takes 50 ms, which every small-step fit paid (a fit of a few
    steps, many times that), though only a run of 4K steps or more can probe."""
    from deltaprop import cpus

    calls = []
    monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05: calls.append(window) or 2.0)
    monkeypatch.setattr(training, "PROBE_MACS", 8 * 368 * 16)  # K = 32: a probe needs 128 steps
    with threadpool_limits(limits=2, user_api="blas"):
        ends, state = _fit(rows=320, epochs=1)  # 40 steps
    assert calls == [] and state.thread_changes == [] and ends[-1][1] == 1
    with threadpool_limits(limits=2, user_api="blas"):
        ends, state = _fit(rows=320, epochs=4)  # 160 steps: measured once, and the probe runs
    assert len(calls) == 1 and state.thread_changes[0] == (32, 2)
