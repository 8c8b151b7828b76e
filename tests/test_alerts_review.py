"""Alerts against real small runs: what the end-of-run lines say must agree with the
diagnostics the run recorded."""

from __future__ import annotations

import numpy as np

import deltaprop as dp
from deltaprop import alerts
from deltaprop.callbacks import DiagnosticsRecorder


def _saturated_quiet_run(digits):
    """RMSprop on a sigmoid network: most hidden outputs saturate while it learns, so no rule fires
    (at its default rate: at lr 0.05 more than half the hidden units sit on one flat end for
    every example, test accuracy 0.80 against 0.905, and the saturated alert says so)."""
    X, y = digits
    net = dp.mlp([784, 50, 10], activation="sigmoid", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.RMSprop(), epochs=3, batch_size=32,
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


def _unscaled_blobs(n=600, seed=0):
    """Three Gaussian classes in 4 features of size about 5,000 (a CSV trained with --scaling none)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(0.0, 2.0, (3, 4))[y] + rng.normal(0.0, 1.0, (n, 4))
    return (X * 1000.0 + 5000.0).astype(np.float32), y


def test_a_few_blown_up_units_do_not_make_the_other_units_copies():
    from deltaprop.diagnostics import distinct_units, identical_units

    net = dp.mlp([4, 50, 3], activation="relu", seed=0)  # he_normal: 50 distinct units of size about 1
    layer = net.layers[0]
    layer.W.value[:, :5] *= 1e6  # five units thrown far by one huge step
    assert distinct_units(layer) == 50
    assert identical_units(layer) is False


def test_copies_are_still_copies_next_to_a_blown_up_unit():
    from deltaprop.diagnostics import distinct_units, identical_units

    layer = dp.mlp([30, 50, 10], seed=0).layers[0]
    rng = np.random.default_rng(0)
    base = rng.standard_normal((31, 3)).astype(np.float32)
    units = base[:, np.arange(50) % 3] * (1 + 1e-7 * rng.standard_normal((31, 50)))  # float32-rounding copies
    units[:, 0] *= 1e6
    layer.W.value[...] = units[:-1]
    layer.b.value[...] = units[-1]
    assert distinct_units(layer) == 4
    assert identical_units(layer) is True


def test_he_initialised_relu_on_unscaled_inputs_is_not_called_zero_initialised():
    X, y = _unscaled_blobs()
    net = dp.mlp([4, 50, 3], activation="relu", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3), epochs=1, batch_size=20, seed=0)
    rules = {a.rule for a in history.alerts}
    assert "dead_relu" in rules  # the huge first steps kill most units: that alert is right
    assert "zero_init_symmetry" not in rules  # the units were never copies: he_normal drew them apart
    assert history.records[-1]["diagnostics"]["layers"][0]["identical_units"] is False


def _guess_alert(digits, net, optimizer):
    X, y = digits
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=optimizer, epochs=1, batch_size=20, seed=0)
    return next(a for a in history.alerts if a.rule == "loss_above_guess")


def test_a_loss_above_guessing_from_the_start_blames_the_initial_weights_not_the_learning_rate(digits):
    # ReLU units drawn 20x too large: the loss is 13 before any step, and a learning rate of
    # 0.001 (300x under the default) leaves it above guessing after an epoch
    net = dp.mlp([784, 50, 10], activation="relu", init="scaled_normal(1)", seed=0)
    alert = _guess_alert(digits, net, dp.SGD(lr=0.001))
    assert "before the first step" in alert.evidence and "initial weights" in alert.evidence
    assert "steps are too large" not in alert.evidence
    assert "smaller weights" in alert.fix and "keep the learning rate" in alert.fix


def test_a_loss_that_rose_above_guessing_still_blames_the_learning_rate(digits):
    alert = _guess_alert(digits, dp.mlp([784, 50, 10], seed=0), dp.SGD(lr=200.0))
    assert "steps are too large" in alert.evidence and "before the first step" not in alert.evidence
    assert "(dp.SGD(lr=200))" in alert.fix
