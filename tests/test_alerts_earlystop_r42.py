"""A run stopped before its last planned epoch (early stopping, a callback's stop) has its
last epoch judged as the run's end, as a run that reached its limits has: one that ends at
chance accuracy says so, in the history, at the end and in the command line's files."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.alerts import AlertMonitor, Context
from deltaprop.cli import main

CHANCE = Context(chance=0.75, frequencies_loss=0.5623, run_epochs=50)


def _records(n, *, steps_each=1, accuracy=0.75, losses=None):
    return [
        {"epoch": k, "steps": k * steps_each, "loss": 0.6 if losses is None else losses[k - 1], "accuracy": accuracy}
        for k in range(1, n + 1)
    ]


def test_the_last_record_of_a_stopped_run_is_judged_as_its_end():
    records = _records(2)
    monitor = AlertMonitor(CHANCE)
    assert monitor.update(records) == []  # too few updates yet: a run that goes on is not judged
    found = monitor.at_end(records)
    assert [(a.rule, a.epoch) for a in found] == [("chance_accuracy", 2)]
    assert "the run ended after too few updates to learn" in found[0].evidence
    assert monitor.at_end(records) == []  # raised once


def test_a_stop_while_the_loss_still_falls_is_judged_as_the_end():
    # 30 epochs of 10 updates, at chance, the loss below the frequencies' and still falling
    records = _records(30, steps_each=10, losses=[0.55 * 0.97**k for k in range(30)])
    monitor = AlertMonitor(CHANCE)
    assert monitor.update(records) == []
    assert [a.rule for a in monitor.at_end(records)] == ["chance_accuracy"]


def test_a_run_that_reached_its_limits_or_learned_is_not_judged_again():
    ended = _records(50)
    assert AlertMonitor(CHANCE).at_end(ended) == []  # its last epoch was judged as the end already
    assert AlertMonitor(CHANCE).at_end(_records(2, accuracy=0.95)) == []  # healthy: no false alarm


def test_restored_weights_leave_unsettled_weights_out():
    # the last epoch's weights score 0.2 on the probe against a running accuracy of 0.9
    records = _records(2, steps_each=60, accuracy=0.9)
    records[0]["diagnostics"] = {"accuracy": 0.9, "loss": 0.3}
    records[1]["diagnostics"] = {"accuracy": 0.2, "loss": 2.0}
    ctx = Context(chance=0.5, run_epochs=50)
    assert AlertMonitor(ctx).update(records) == []  # one unsettled epoch of a run that goes on
    assert [a.rule for a in AlertMonitor(ctx).at_end(records)] == ["unsettled_weights"]
    # early stopping's best weights are what the network ends with, not these
    assert AlertMonitor(ctx).at_end(records, restored=True) == []


def _no_information(n=200):
    """Two kinds of rows, each 3/4 class 0: no network beats always answering 0 (chance 0.75)."""
    kind = np.tile([0.0, 1.0], n // 2)
    X = np.repeat(kind[:, None], 4, axis=1)
    y = (np.arange(n) % 8 >= 6).astype(int)
    return X, y


def _stop_at(epoch):
    return dp.LambdaCallback(on_epoch_end=lambda state: setattr(state, "stop_training", state.epoch >= epoch))


def test_fit_stopped_by_a_callback_at_chance_says_so():
    X, y = _no_information()
    net = dp.mlp([4, 8, 2], seed=0)
    history = dp.fit(
        net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=50, batch_size=200, seed=0, callbacks=[_stop_at(2)]
    )
    assert len(history.records) == 2 and history.records[-1]["accuracy"] <= 0.75
    assert [(a.rule, a.epoch) for a in history.alerts] == [("chance_accuracy", 2)]
    assert [a.rule for a in history.standing_alerts] == ["chance_accuracy"]
    assert history.alerts_at_end["alerts"][0]["cleared_by"] is None
    assert history.records[-1]["alerts"][0]["rule"] == "chance_accuracy"


def test_fit_that_learns_and_stops_early_raises_nothing_at_its_end():
    X = np.repeat(np.tile([0.0, 1.0], 100)[:, None], 4, axis=1)
    y = X[:, 0].astype(int)  # the rows tell their class
    net = dp.mlp([4, 8, 2], seed=0)
    history = dp.fit(
        net, X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.05), epochs=50, batch_size=20, seed=0, callbacks=[_stop_at(3)]
    )
    assert len(history.records) == 3 and history.records[-1]["accuracy"] > 0.9
    assert [a.rule for a in history.alerts if a.rule == "chance_accuracy"] == []


def test_an_interrupted_run_is_not_judged_as_ended():
    X, y = _no_information()

    def interrupt(state):
        if state.epoch >= 2:
            raise KeyboardInterrupt

    net = dp.mlp([4, 8, 2], seed=0)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        dp.fit(
            net,
            X,
            y,
            loss=dp.CrossEntropy(),
            optimizer=dp.SGD(lr=0.1),
            epochs=50,
            batch_size=200,
            seed=0,
            callbacks=[dp.LambdaCallback(on_epoch_end=interrupt, on_train_end=seen.append)],
        )
    assert [a for r in seen[0].history.records for a in r.get("alerts") or ()] == []  # a resume goes on from it


@pytest.mark.slow
def test_the_command_line_early_stopped_at_chance_says_so(tmp_path, capsys):
    X, y = _no_information()
    np.savez(tmp_path / "noinfo.npz", x=(X * 255).astype(np.uint8), y=y)
    out = tmp_path / "r"
    assert (
        main(
            [
                "train",
                "--dataset",
                str(tmp_path / "noinfo.npz"),
                "--epochs",
                "50",
                "--early-stopping",
                "1",
                "--lr",
                "0.1",
                "--seed",
                "0",
                "--threads",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr()
    facts = json.loads((out / "run.json").read_text())
    at_end = facts["alerts_at_end"]
    assert at_end["last_epoch"] < 50  # early stopping ended it
    held = [a["rule"] for a in at_end["alerts"] if a["cleared_by"] is None]
    assert "chance_accuracy" in held
    assert f"\n{at_end['last_epoch']},chance_accuracy," in (out / "alerts.csv").read_text()
    assert f"alert [chance_accuracy] epoch {at_end['last_epoch']}:" in printed.out + printed.err
    assert "chance_accuracy" in (out / "report.html").read_text()


def test_fit_ended_by_early_stopping_at_chance_says_so():
    X, y = _no_information()
    # every validation row is class 1: as the network learns that most rows are 0, val_loss rises
    validation = (X[:40], np.ones(40, dtype=int))
    stopper = dp.EarlyStopping("val_loss", patience=0)
    net = dp.mlp([4, 8, 2], seed=0)
    history = dp.fit(
        net,
        X,
        y,
        loss=dp.CrossEntropy(),
        optimizer=dp.SGD(lr=0.1),
        epochs=50,
        batch_size=200,
        seed=0,
        validation=validation,
        callbacks=[stopper],
    )
    last = len(history.records)
    assert stopper.stopped_epoch == last < 50 and history.records[-1]["accuracy"] <= 0.75
    assert ("chance_accuracy", last) in [(a.rule, a.epoch) for a in history.standing_alerts]
