"""A run early stopping ended with its best epoch's weights restored is judged at its end by
that epoch's record, the model the run hands back: not at chance where that epoch learned
though the last fell to chance, and at chance where that epoch was though the last was not."""

from __future__ import annotations

import dataclasses

import numpy as np

import deltaprop as dp
from deltaprop.alerts import AlertMonitor, Context, standing


def _records(accuracies, *, steps_each=10):
    return [{"epoch": k, "steps": k * steps_each, "loss": 0.6, "accuracy": acc} for k, acc in enumerate(accuracies, start=1)]


CTX = Context(chance=0.5, run_epochs=50)


def _as_ended(ctx):
    """The context the check of which alerts still hold judges in: the last record ends the run."""
    return dataclasses.replace(ctx, run_epochs=None)


def test_a_restored_epoch_that_learned_is_not_told_it_ends_at_chance():
    records = _records([0.9, 0.95, 0.97, 0.5, 0.5, 0.5])  # the best, epoch 3, learned; the last fell to chance
    assert [a.rule for a in AlertMonitor(CTX).at_end(records, restored=True)] == ["chance_accuracy"]  # the last's
    monitor = AlertMonitor(CTX)
    assert monitor.at_end(records, restored=True, restored_epoch=3) == []
    kept = standing([], records, _as_ended(monitor.ctx))
    assert kept == {"last_epoch": 6, "alerts": []}


def test_a_restored_epoch_at_chance_is_told_so_naming_it():
    records = _records([0.5, 0.5, 0.9, 0.95])  # the best by its monitor, epoch 2, at chance; the last learned
    assert AlertMonitor(CTX).at_end(records, restored=True) == []  # the last epoch's record: a miss
    monitor = AlertMonitor(CTX)
    found = monitor.at_end(records, restored=True, restored_epoch=2)
    assert [(a.rule, a.epoch) for a in found] == [("chance_accuracy", 4)]
    assert found[0].evidence.startswith("at epoch 2, whose weights early stopping restored (the run went on to epoch 4): ")
    assert "training accuracy is 0.500 after 2 epochs" in found[0].evidence
    held = standing(found, records, _as_ended(monitor.ctx))["alerts"]
    assert [(a["rule"], a["cleared_by"]) for a in held] == [("chance_accuracy", None)]


def test_unsettled_weights_of_the_restored_epoch_are_those_the_model_holds():
    records = _records([0.9, 0.9, 0.9], steps_each=60)
    records[1]["diagnostics"] = {"accuracy": 0.2, "loss": 2.0}  # epoch 2's weights as it ended scored 0.2
    records[2]["diagnostics"] = {"accuracy": 0.9, "loss": 0.3}
    found = AlertMonitor(CTX).at_end(records, restored_epoch=2)
    assert [a.rule for a in found] == ["unsettled_weights"]
    assert found[0].evidence.startswith("at epoch 2, whose weights early stopping restored")
    assert AlertMonitor(CTX).at_end(records, restored_epoch=3) == []  # the last epoch's own weights: settled


def test_fit_that_restores_a_learned_epoch_is_not_told_it_ends_at_chance():
    # two kinds of rows, 3/4 of each of the class of its kind (half the rows each class): a
    # network that tells the kinds apart scores 0.75 at a loss near 0.56, not near 0. From
    # epoch 4 on the inputs are made uninformative in place (every row the same), so every
    # network answers one class for all rows and scores 0.5, chance, at a loss near ln 2
    n = 200
    kind = np.arange(n) % 2
    X = np.repeat(kind[:, None], 4, axis=1).astype(np.float32)  # the network's dtype: fit trains on X itself
    y = kind ^ ((np.arange(n) // 2) % 4 == 0)
    rows = X.copy()

    def uninformative(state):
        if state.epoch == 3:
            X[:] = 0.5

    stopper = dp.EarlyStopping("accuracy", patience=2)
    net = dp.mlp([4, 8, 2], seed=0)
    history = dp.fit(
        net,
        X,
        y,
        loss=dp.CrossEntropy(),
        optimizer=dp.Adam(lr=0.1),
        epochs=50,
        batch_size=n,
        seed=0,
        callbacks=[stopper, dp.LambdaCallback(on_epoch_end=uninformative)],
    )
    last = len(history.records)
    assert stopper.stopped_epoch == last < 50 and stopper.best_epoch <= 3
    assert history.records[-1]["accuracy"] == 0.5 and history.records[stopper.best_epoch - 1]["accuracy"] == 0.75
    assert (net.predict(rows) == kind).mean() == 1.0  # the model handed back: its best epoch's
    assert [a for a in history.alerts if a.rule == "chance_accuracy"] == []
    assert "chance_accuracy" not in [a.rule for a in history.standing_alerts]
