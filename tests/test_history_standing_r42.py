"""``fit``'s History says which alerts still hold at the run's last epoch, as ``train``'s
summary and run.json's ``alerts_at_end`` do: a Python caller had ``history.alerts`` only,
with no word of which had cleared. ``history.alerts_at_end`` is judged in the context the
per-epoch check used (the classes' chance level, the optimizer), and
``history.standing_alerts`` lists the alerts that still hold."""

from __future__ import annotations

import numpy as np

import deltaprop as dp
from deltaprop.alerts import Context, standing


def _data(labels: str):
    rng = np.random.default_rng(0)
    X = rng.random((200, 8), dtype=np.float32)
    if labels == "random":  # nothing to learn: the accuracy stays at chance
        return X, rng.integers(0, 3, 200)
    return X, np.argmax(X @ rng.standard_normal((8, 3)), axis=1)


def _fit(labels: str, lr: float, epochs: int, **kwargs):
    X, y = _data(labels)
    net = dp.mlp([8, 16, 3], seed=0)
    return dp.fit(
        net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=lr), epochs=epochs, batch_size=20, seed=0, threads=1, **kwargs
    )


def test_an_alert_that_holds_to_the_end_is_standing():
    history = _fit("random", lr=0.1, epochs=6)
    assert [(a.rule, a.epoch) for a in history.alerts] == [("chance_accuracy", 6)]
    assert history.alerts_at_end == {
        "last_epoch": 6,
        "alerts": [{"rule": "chance_accuracy", "layer": None, "epoch": 6, "cleared_by": None}],
    }
    assert history.standing_alerts == history.alerts
    # judged without the run's chance level it would read as cleared: the context matters
    assert standing(history.alerts, history.records, Context())["alerts"][0]["cleared_by"] == 6


def test_an_alert_that_cleared_before_the_end_is_not_standing():
    held = _fit("linear", lr=3.0, epochs=16)  # the loss oscillates from epoch 16 ...
    assert [(a.rule, a.epoch) for a in held.alerts] == [("oscillating_loss", 16)]
    assert [a.rule for a in held.standing_alerts] == ["oscillating_loss"]
    history = _fit("linear", lr=3.0, epochs=24)  # ... and settles by epoch 22
    assert [(a.rule, a.epoch) for a in history.alerts] == [("oscillating_loss", 16)]
    assert history.alerts_at_end == {
        "last_epoch": 24,
        "alerts": [{"rule": "oscillating_loss", "layer": None, "epoch": 16, "cleared_by": 22}],
    }
    assert history.standing_alerts == []


def test_a_run_without_alerts_has_none_standing_and_one_not_judged_says_none():
    clean = _fit("linear", lr=0.5, epochs=12)
    assert clean.alerts == [] and clean.alerts_at_end == {"last_epoch": 12, "alerts": []}
    assert clean.standing_alerts == []
    unjudged = _fit("random", lr=0.1, epochs=6, diagnostics=False)
    assert unjudged.alerts_at_end is None and unjudged.standing_alerts is None
    assert dp.History(_fit("random", lr=0.1, epochs=6).records).standing_alerts is None  # rebuilt from records
