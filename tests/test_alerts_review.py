"""Alerts against real small runs: what the end-of-run lines say must agree with the
diagnostics the run recorded."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import alerts
from deltaprop.callbacks import DiagnosticsRecorder


@pytest.fixture(scope="module")
def digits():
    """1,200 training rows of the bundled MNIST sample, scaled to [0, 1]."""
    from deltaprop.data import load

    ds = load("mnist-sample", flatten=True)
    return (ds.x_train[:1200] / 255.0).astype(np.float32), ds.y_train[:1200]


def _saturated_quiet_run(digits):
    """RMSprop on a sigmoid network: most hidden outputs saturate while it learns, so no rule fires."""
    X, y = digits
    net = dp.mlp([784, 50, 10], activation="sigmoid", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.RMSprop(lr=0.05), epochs=3, batch_size=32,
                     seed=0, callbacks=[DiagnosticsRecorder(X, y)])
    shares = [s["saturated"] for s in history.records[-1]["diagnostics"]["layers"] if s.get("saturated") is not None]
    return history, max(shares)


def test_no_alerts_summary_does_not_deny_saturated_units_the_diagnostics_show(digits):
    history, share = _saturated_quiet_run(digits)
    assert history.alerts == []
    assert share > alerts.SATURATED_SHARE  # diagnostics.csv shows most hidden outputs saturated
    text = alerts.summary(history.alerts)
    assert text.startswith("no alerts")
    assert "no dead, saturated" not in text and "curves as expected" not in text
    assert "slowly learning saturated units" in text


def test_report_page_without_alerts_says_the_same_as_the_terminal():
    from deltaprop.report_html import _alerts

    page = _alerts([{"epoch": 1, "loss": 1.0, "alerts": []}])
    assert "no dead, saturated" not in page.lower()
    assert "slowly learning saturated units" in page
