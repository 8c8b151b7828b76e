"""The exploding-gradients rule reads a run's growing history once, not once an epoch."""

import math

import numpy as np
import pytest

from deltaprop import alerts
from deltaprop.alerts import Alert, AlertMonitor, Context, _HistoryScan, _overshooting, _scanning, cleared_by, exploding_loss


def _record(epoch, loss, grads):
    params = [{"name": f"layers.{2 * i}.W", "layer": 2 * i, "grad_norm": g, "norm": 1.0} for i, g in enumerate(grads)]
    params += [{"name": f"layers.{2 * i}.b", "layer": 2 * i, "grad_norm": 1e9, "norm": 1.0} for i in range(len(grads))]
    return {"epoch": epoch, "loss": loss, "diagnostics": {"parameters": params, "layers": []}}


def _stream(seed, n=60):
    """Records of a run whose losses fall, plateau, jump and turn NaN, and whose gradients
    start at zero, grow by orders of magnitude, or stop being finite."""
    rng = np.random.default_rng(seed)
    records, loss = [], 2.0
    for k in range(n):
        loss = float(loss * rng.choice([0.5, 0.9, 1.0, 1.0, 3.0, 50.0]))
        if rng.random() < 0.05:
            loss = math.nan
        grads = []
        for _ in range(2):
            g = float(10 ** rng.uniform(-3, 3)) if k > 2 or rng.random() < 0.5 else 0.0
            if rng.random() < 0.04:
                g = rng.choice([math.inf, math.nan, None])
            grads.append(g)
        records.append(_record(k + 1, loss, grads))
    return records


@pytest.mark.slow  # about 0.7 s in the quick suite on 2 cores
@pytest.mark.parametrize("seed", range(40))
def test_the_scan_read_once_gives_what_a_fresh_pass_gives_at_every_epoch(seed):
    records = _stream(seed)
    scan, growing = _HistoryScan(), []
    for record in records:
        growing.append(record)
        assert scan.read(growing).overshooting(len(growing)) == _overshooting(list(growing))
    for n in range(1, len(records) + 1):  # every prefix of a finished run, as cleared_by asks
        assert scan.overshooting(n) == _overshooting(records[:n])
        assert scan.best_loss(n) is min(r["loss"] for r in records[:n])  # min()'s own answer, NaN order included


def test_a_monitor_reads_each_record_of_a_long_run_once(monkeypatch):
    calls = []
    exploded = alerts._exploded
    monkeypatch.setattr(alerts, "_exploded", lambda record, scale: calls.append(1) or exploded(record, scale))
    monitor, history = AlertMonitor(), []
    for k, record in enumerate(_stream(7, n=400)):
        history.append(record)
        monitor.update(history)
    assert len(calls) <= 3 * 400  # a few a record; a fresh pass each epoch read about 400²/2 of them


def test_a_monitor_given_another_history_starts_its_scan_over():
    first, second = _stream(1, n=30), _stream(2, n=30)
    monitor = AlertMonitor()
    for k in range(1, 31):
        monitor.update(first[:k])
    monitor.update(second)
    assert monitor._scan.read(second).overshooting(30) == _overshooting(list(second))


@pytest.mark.parametrize("seed", range(10))
def test_the_loss_rule_reads_the_same_through_a_scan(seed):
    records = _stream(seed)
    monitor = AlertMonitor()
    for k in range(1, len(records) + 1):
        fresh = exploding_loss(records[:k], Context())
        monitor.update(records[:k])
        with _scanning(monitor._scan):
            assert exploding_loss(records[:k], Context()) == fresh


def test_when_an_alert_cleared_is_found_reading_each_record_once(monkeypatch):
    """cleared_by asks whether the alert held at every shorter prefix of the run: with a
    fresh pass for each, an exploding_gradients alert cleared early in an 8,000-epoch run
    took 56 s to place at the end of the run."""
    records = _stream(3, n=300)
    calls = []
    exploded = alerts._exploded
    monkeypatch.setattr(alerts, "_exploded", lambda record, scale: calls.append(1) or exploded(record, scale))
    cleared_by(Alert("exploding_gradients", 2, 0, "", ""), records)
    assert len(calls) <= 3 * 300
