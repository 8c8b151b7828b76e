"""A count of BLAS threads over what the BLAS runs (NumPy's OpenBLAS runs at most 64) or over
the CPUs this process may run on: ``fit(threads=1000)`` and ``train --threads 1000`` ran on the
BLAS's cap while the state, the checkpoint and run.json recorded 1000, with no word of it.
The run now trains on the count the BLAS runs, records that count, and says in one line that
the CPUs are oversubscribed and what it trains on; a rerun or resume on the recorded count
repeats the run's bits."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from cli_in_process import run_cli
from threadpoolctl import threadpool_info

import deltaprop as dp
from deltaprop import cpus
from deltaprop.serialization import load_checkpoint
from deltaprop.training import threads_words

ASKED = 1000  # more than the CPUs of any machine the tests run on, and than OpenBLAS runs


def _blas_threads_now() -> int:
    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)


def _data():
    rng = np.random.default_rng(0)
    return rng.random((64, 12), dtype=np.float32), rng.integers(0, 3, 64)


def _fit(threads, epochs, resume=None, net=None, opt=None):
    """A fit of a fixed run; its state at the end, the BLAS threads seen at each epoch's end
    and the threads warnings it gave."""
    X, y = _data()
    net = net or dp.mlp([12, 8, 3], seed=0)
    states, seen = [], []
    probe = dp.LambdaCallback(on_epoch_end=lambda state: seen.append(_blas_threads_now()), on_train_end=states.append)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        dp.fit(
            net,
            X,
            y,
            loss=dp.CrossEntropy(),
            optimizer=opt or dp.SGD(lr=0.1),
            epochs=epochs,
            batch_size=16,
            seed=0,
            threads=threads,
            resume=resume,
            callbacks=[probe],
            diagnostics=False,
        )
    return net, states[0], seen, [str(w.message) for w in said if str(w.message).startswith("threads=")]


def test_fit_records_the_threads_the_blas_ran_on_and_says_the_cpus_are_oversubscribed():
    _, state, seen, said = _fit(ASKED, epochs=1)
    assert state.threads == seen[0] <= ASKED  # was 1000 while the BLAS ran its own cap
    cpu_count = len(cpus.available_cpus())
    (line,) = said
    assert line.startswith(f"threads={ASKED}: more than the {cpu_count} CPU")
    assert "oversubscribe" in line and f"training runs on {seen[0]} BLAS thread" in line and "recorded" in line


def test_a_rerun_and_a_resume_on_the_recorded_count_repeat_the_runs_bits():
    whole, state, _, _ = _fit(ASKED, epochs=2)
    recorded = state.threads
    rerun, again, _, said = _fit(recorded, epochs=2)
    assert again.threads == recorded
    assert all(np.array_equal(a.value, b.value) for a, b in zip(whole.parameters(), rerun.parameters()))
    opt = dp.SGD(lr=0.1)
    half, first, _, _ = _fit(ASKED, epochs=1, opt=opt)
    resumed, last, _, _ = _fit(first.threads, epochs=2, resume=first, net=half, opt=opt)
    assert last.threads == recorded
    assert all(np.array_equal(a.value, b.value) for a, b in zip(whole.parameters(), resumed.parameters()))


def test_a_count_within_the_cpus_that_the_blas_runs_says_nothing():
    _, state, seen, said = _fit(1, epochs=1)
    assert state.threads == seen[0] == 1 and said == []


def test_the_words_name_what_runs_when_the_blas_runs_fewer_than_asked(monkeypatch):
    monkeypatch.setattr(cpus, "available_cpus", lambda: set(range(128)))
    assert threads_words(100, 64) == (
        "the BLAS runs at most 64 threads, so training runs on 64 BLAS threads, the count recorded for a rerun or resume"
    )
    assert threads_words(100, 100) is None
    monkeypatch.setattr(cpus, "available_cpus", lambda: {0})
    words = threads_words(4, 4)
    assert words.startswith("more than the 1 CPU this process may run on, so the BLAS threads oversubscribe them")
    assert words.endswith("training runs on 4 BLAS threads, the count recorded for a rerun or resume")


@pytest.mark.slow  # two short runs of the command
def test_train_records_the_threads_it_ran_on_and_a_resume_on_them_keeps_the_bits(tmp_path):
    run = tmp_path / "run"
    first = run_cli(
        "train", "--dataset", "parity", "--layers", "10,6,2", "--epochs", "1", "--threads", ASKED, "--out", run, "--quiet"
    )
    assert first.returncode == 0, first.stderr
    facts = json.loads((run / "run.json").read_text())
    recorded = facts["threads"]
    assert recorded == facts["sessions"][-1]["threads"] == _capped(ASKED)
    notes = [line for line in first.stderr.splitlines() if "--threads" in line]
    assert notes == [line for line in first.stderr.splitlines() if line.startswith(f"note: --threads {ASKED}: ")]
    assert len(notes) == 1 and "oversubscribe" in notes[0] and f"training runs on {recorded} BLAS thread" in notes[0]
    assert "UserWarning" not in first.stderr  # fit's own warning is the note, said once
    state = load_checkpoint(run / "checkpoint.safetensors").training_state()
    assert state.threads == recorded
    resumed = run_cli("train", "--resume", run, "--epochs", "2", "--threads", recorded, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "round differently" not in resumed.stderr  # the recorded count is the count it trained on


def _capped(threads: int) -> int:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        return _blas_threads_now()
