"""Learning-rate schedules: the formulas, configs and state, and fit applying them per epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.schedules import SCHEDULES, schedule_from_config


def test_constant_step_and_exponential():
    assert [dp.Constant().lr_at(t, 0.1) for t in range(3)] == [0.1, 0.1, 0.1]
    step = dp.StepDecay(step_size=2, gamma=0.5)
    assert [step.lr_at(t, 0.8) for t in range(6)] == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    exp = dp.ExponentialDecay(gamma=0.9)
    for t in range(5):
        assert math.isclose(exp.lr_at(t, 0.5), 0.5 * 0.9**t, rel_tol=1e-15)


def test_cosine_annealing_reaches_min_lr_at_t_max_and_stays():
    cos = dp.CosineAnnealing(t_max=4, min_lr=0.01)
    expected = [0.01 + 0.5 * (0.1 - 0.01) * (1 + math.cos(math.pi * t / 4)) for t in range(5)]
    got = [cos.lr_at(t, 0.1) for t in range(7)]
    for g, e in zip(got, expected):
        assert math.isclose(g, e, rel_tol=1e-14)
    assert got[0] == pytest.approx(0.1) and got[2] == pytest.approx(0.055)
    assert got[4:] == [pytest.approx(0.01)] * 3


def test_reduce_on_plateau_counts_epochs_without_improvement():
    plateau = dp.ReduceOnPlateau(factor=0.5, patience=1, min_delta=0.0, monitor="val_loss")
    rates = []
    for value in [1.0, 0.9, 0.95, 0.93, 0.92, 0.8, 0.85, 0.85]:
        rates.append(plateau.lr_at(len(rates), 0.1))
        plateau.observe(len(rates), {"val_loss": value, "loss": 0.0})
    # improvements at 1.0, 0.9 and 0.8; after more than `patience` (1) epochs without one the
    # rate halves: after 0.95, 0.93 (the 2nd) and after 0.85, 0.85 (the 2nd again)
    assert rates == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05]
    assert plateau.lr_at(8, 0.1) == 0.025
    # state round trip
    again = dp.ReduceOnPlateau(factor=0.5, patience=1, min_delta=0.0)
    again.load_state(plateau.state())
    assert again.lr_at(0, 0.1) == plateau.lr_at(0, 0.1) and again.state() == plateau.state()


def test_reduce_on_plateau_respects_min_lr_and_falls_back_to_training_loss():
    plateau = dp.ReduceOnPlateau(factor=0.1, patience=0, min_lr=0.005)
    for _ in range(5):
        plateau.observe(0, {"loss": 1.0})  # no val_loss: watches loss
    assert plateau.lr_at(5, 0.1) == 0.005


def test_reduce_on_plateau_never_raises_the_rate_above_the_base_rate():
    # a min_lr above the base rate keeps the base rate (PyTorch's ReduceLROnPlateau only lowers rates)
    plateau = dp.ReduceOnPlateau(min_lr=0.1)
    assert plateau.lr_at(0, 0.01) == 0.01
    for _ in range(20):
        plateau.observe(0, {"loss": 1.0})
    assert plateau.lr_at(20, 0.01) == 0.01
    X, y = _data()
    history = dp.fit(dp.mlp([3, 8, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.01), epochs=3,
                     batch_size=16, seed=0, schedule=dp.ReduceOnPlateau(min_lr=0.1))
    assert history["lr"] == [0.01, 0.01, 0.01]


def test_configs_round_trip_and_names_resolve():
    for name, cls in SCHEDULES.items():
        schedule = schedule_from_config(name)
        assert type(schedule) is cls
        again = schedule_from_config(schedule.config())
        assert type(again) is cls and again.config() == schedule.config()
    assert schedule_from_config({"type": "step", "step_size": 3, "gamma": 0.1}).lr_at(3, 1.0) == pytest.approx(0.1)
    assert isinstance(schedule_from_config(None), dp.Constant)
    with pytest.raises(dp.ConfigError, match="unknown schedule"):
        schedule_from_config("warmup")
    with pytest.raises(dp.ConfigError, match="bad settings"):
        schedule_from_config({"type": "cosine", "period": 3})
    for bad in ({"type": "step", "gamma": 1.5}, {"type": "step", "step_size": 0}, {"type": "exponential", "gamma": 0},
                {"type": "cosine", "min_lr": -1.0}, {"type": "plateau", "factor": 1.0}):
        with pytest.raises(dp.ConfigError):
            schedule_from_config(bad)


# -- in fit ------------------------------------------------------------------------------------
def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


class LrRecorder(dp.Callback):
    def __init__(self):
        self.per_batch = []

    def on_batch_end(self, state, batch_size, batch_loss):
        self.per_batch.append((state.epoch, state.optimizer.lr))


def test_fit_sets_the_rate_of_each_epoch_from_the_schedule():
    X, y = _data()
    net = dp.mlp([3, 4, 2], seed=0)
    recorder = LrRecorder()
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.8), epochs=6, batch_size=16,
                     seed=0, schedule=dp.StepDecay(step_size=2, gamma=0.5), callbacks=[recorder])
    assert history["lr"] == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    assert len(recorder.per_batch) == 6 * 3
    assert all(lr == 0.8 * 0.5 ** (epoch // 2) for epoch, lr in recorder.per_batch)


def test_the_scheduled_rate_is_the_rate_of_the_update():
    # full-batch gradient descent by hand, with the exponential schedule's α_t
    X, y = _data()
    net = dp.mlp([3, 4, 2], seed=0, dtype="float64")
    by_hand = net.copy()
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=4, batch_size=None,
           schedule={"type": "exponential", "gamma": 0.5})
    for t in range(4):
        by_hand.loss_and_gradients(dp.CrossEntropy(), X, y)
        for p in by_hand.parameters():
            p.value -= 0.5 * 0.5**t * p.grad
    for p, q in zip(net.parameters(), by_hand.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12)


def test_plateau_schedule_in_fit_halves_the_rate_after_patience():
    X, y = _data()
    net = dp.mlp([3, 4, 2], seed=0)
    # min_delta so large that nothing after the first epoch counts as an improvement
    schedule = dp.ReduceOnPlateau(factor=0.5, patience=1, min_delta=1e9)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=6, batch_size=8,
                     seed=0, schedule=schedule, validation=(X, y))
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])


def test_a_plateau_schedule_reused_for_a_new_run_starts_afresh_and_a_resume_keeps_its_state():
    X, y = _data()
    schedule = dp.ReduceOnPlateau(factor=0.5, patience=0, monitor="loss", min_delta=1e9)  # reduces every epoch
    rates = []
    for _ in range(2):  # two independent runs: a fresh network and optimizer each
        net, opt = dp.mlp([3, 4, 2], seed=0), dp.SGD(lr=0.1)
        rates.append(dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=3, batch_size=8, seed=0,
                            schedule=schedule, diagnostics=False)["lr"])
    assert rates[0] == rates[1] == pytest.approx([0.1, 0.1, 0.05])
    # a resume continues the reductions of the run it continues
    box = {}
    keep = dp.LambdaCallback(on_train_end=lambda s: box.update(state=s))
    net, opt = dp.mlp([3, 4, 2], seed=0), dp.SGD(lr=0.1)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=8, seed=0, schedule=schedule,
           callbacks=[keep], diagnostics=False)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=4, batch_size=8,
                     resume=box["state"], diagnostics=False)
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_adadelta_with_cosine_annealing_down_to_zero_trains():
    X, y = _data()
    net = dp.mlp([3, 4, 2], seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.AdaDelta(), epochs=4, batch_size=16,
                     seed=0, schedule={"type": "cosine", "t_max": 2})
    assert history["lr"] == pytest.approx([1.0, 0.5, 0.0, 0.0], abs=1e-15)
    assert all(np.all(np.isfinite(p.value)) for p in net.parameters())


def test_reduce_on_plateau_maximises_accuracy():
    from deltaprop.schedules import ReduceOnPlateau

    sched = ReduceOnPlateau(factor=0.5, patience=0, monitor="val_accuracy")
    for epoch, acc in enumerate([0.5, 0.6, 0.7, 0.8]):
        sched.observe(epoch, {"val_accuracy": acc})
    assert sched.lr_at(4, 1.0) == 1.0  # rising accuracy is improvement
    sched.observe(4, {"val_accuracy": 0.79})
    assert sched.lr_at(5, 1.0) == 0.5
    with pytest.raises(dp.ConfigError):
        ReduceOnPlateau(monitor=5)
