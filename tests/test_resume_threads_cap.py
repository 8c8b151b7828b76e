"""A resumed run trains on the BLAS threads its state records, but never on more than the
caller allows: a resume inside ``threadpool_limits(1)`` (a joblib worker, a CV loop) or on a
smaller machine used to take the recorded count and oversubscribe the cores."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import deltaprop as dp


def _blas_threads_now() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def _resume_seen(recorded: int, allowed: int):
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 12), dtype=np.float32), rng.integers(0, 3, 64)
    net = dp.mlp([12, 8, 3], seed=0)
    opt = dp.SGD(lr=0.1)
    states, seen = [], []
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=1, batch_size=16, threads=recorded,
           callbacks=[dp.LambdaCallback(on_train_end=states.append)], diagnostics=False)
    assert states[0].threads == recorded
    probe = dp.LambdaCallback(on_epoch_end=lambda state: seen.append(_blas_threads_now()),
                              on_train_end=states.append)
    with threadpool_limits(limits=allowed, user_api="blas"):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=16, resume=states[0],
               callbacks=[probe], diagnostics=False)
    return seen, states[1].threads


def test_a_resume_inside_a_callers_limit_trains_on_at_most_that_many_threads():
    seen, kept = _resume_seen(recorded=2, allowed=1)
    assert seen == [1] and kept == 1


def test_a_resume_allowed_its_recorded_count_keeps_it():
    with threadpool_limits(limits=2, user_api="blas"):
        if _blas_threads_now() < 2:  # a BLAS built for one thread
            return
    seen, kept = _resume_seen(recorded=2, allowed=2)
    assert seen == [2] and kept == 2
