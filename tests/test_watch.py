"""Watching a metric: what EarlyStopping and ReduceOnPlateau share, and that both decide by it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.watch import MetricWatch


def test_a_loss_is_minimised_and_improves_only_by_more_than_min_delta():
    watch = MetricWatch("loss", min_delta=0.1)
    assert math.isnan(watch.best)
    assert [watch.update({"loss": v}) for v in (1.0, 0.95, 0.85, 0.8)] == [True, False, True, False]
    assert watch.best == 0.85 and watch.wait == 1


def test_an_accuracy_is_maximised_and_val_falls_back_to_the_training_metric():
    watch = MetricWatch("val_accuracy")
    assert watch.update({"accuracy": 0.5, "val_accuracy": None}) is True  # no validation data
    assert watch.update({"accuracy": 0.4}) is False and watch.update({"accuracy": 0.6}) is True
    assert watch.update({"accuracy": math.nan}) is None
    assert watch.best == 0.6 and watch.wait == 0


def test_a_bad_monitor_is_refused_by_both_users():
    for make in (lambda: dp.EarlyStopping(""), lambda: dp.ReduceOnPlateau(monitor=3),
                 lambda: dp.EarlyStopping(monitor="val_acuracy"), lambda: dp.ReduceOnPlateau(monitor="val_los"),
                 lambda: dp.EarlyStopping(monitor="lr")):
        with pytest.raises(dp.ConfigError, match="monitor must be one of .*loss, accuracy, val_loss, val_accuracy"):
            make()


def test_watching_accuracy_of_a_run_without_classes_is_an_error_not_a_no_op():
    watch = MetricWatch("val_accuracy")
    with pytest.raises(dp.ConfigError, match="'val_accuracy' has no value in this run"):
        watch.update({"loss": 1.0, "accuracy": None, "val_loss": 1.0, "val_accuracy": None})
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))  # regression: no accuracy
    for kw in ({"callbacks": [dp.EarlyStopping("accuracy")]}, {"schedule": dp.ReduceOnPlateau(monitor="accuracy")}):
        with pytest.raises(dp.ConfigError, match="'accuracy' has no value"):
            dp.fit(dp.mlp([3, 4, 1], output="identity", seed=0), X, y, loss=dp.MeanSquaredError(),
                   optimizer=dp.SGD(0.01), epochs=3, diagnostics=False, **kw)


def test_early_stopping_and_the_plateau_schedule_count_patience_alike():
    logs = [{"val_loss": v} for v in (1.0, 0.9, 0.95, 0.93, 0.92, 0.91)]
    stopper, plateau = dp.EarlyStopping(patience=2), dp.ReduceOnPlateau(factor=0.5, patience=2, min_delta=0.0)

    class State:  # what the stopper reads of a TrainingState
        stop_training, step, progress, resume_weights, completed_epochs = False, 0, None, None, 0
        net = dp.mlp([2, 2], seed=0)
        callback_records: dict = {}
        saved_weights: dict = {}

    state = State()
    stopper.on_train_begin(state)
    for epoch, record in enumerate(logs):
        state.logs, state.epoch = record, epoch + 1
        stopper.on_epoch_end(state)
        plateau.observe(epoch, record)
        if state.stop_training:
            break
    assert stopper.stopped_epoch == 5 and stopper.best == 0.9 and stopper.best_epoch == 2
    assert plateau.scale == 0.5  # the third epoch without improvement, as for the stopper
    assert plateau.state() == {"scale": 0.5, "best": 0.9, "wait": 0}


def test_the_plateau_state_round_trips_for_maximised_metrics():
    plateau = dp.ReduceOnPlateau(monitor="val_accuracy")
    assert plateau.state()["best"] == math.inf  # nothing seen yet
    plateau.observe(0, {"val_accuracy": 0.75})
    assert plateau.state()["best"] == -0.75  # stored as a score to minimise, as checkpoints hold it
    again = dp.ReduceOnPlateau(monitor="val_accuracy")
    again.load_state(plateau.state())
    assert again.watch.best == 0.75 and again.state() == plateau.state()
