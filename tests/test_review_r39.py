"""Review of the training-data fingerprint and the report's chart axes: the rows of X a
fingerprint reads are the ones its formula names (whole-number arithmetic, the same on
every NumPy), its digest of y never holds a second copy of all of y, and chart axes of
values near float64's limits (subnormal losses, 1e308 before an overflow) or of a huge
epoch count are labelled instead of raising."""

from __future__ import annotations

import hashlib
import math
import tracemalloc

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import training
from deltaprop.report_html import _epoch_ticks, _y_ticks, line_chart


def _net(features=6, outputs=3):
    return dp.Network([dp.Dense(features, outputs), dp.Softmax()], seed=0)


def test_the_fingerprint_reads_the_rows_floor_i_n_minus_1_over_k_minus_1(monkeypatch):
    """np.linspace's rounding read row 340 of 4603 where ⌊i (n − 1)/(k − 1)⌋, the rows the
    docstring names, is 341 (162 row counts of 1025..5000 differed), and could move with
    NumPy's linspace: a checkpoint's fingerprint must not depend on it."""
    seen = {}
    real = training._rows_digest
    monkeypatch.setattr(training, "_rows_digest", lambda net, X, rows: seen.setdefault("rows", rows) is None or
                        real(net, X, rows))
    n, k = 4603, training.FINGERPRINT_ROWS
    X = np.zeros((n, 6), dtype=np.float32)
    training.data_fingerprint(_net(), X, np.zeros(n, dtype=np.float32))
    assert seen["rows"].tolist() == [i * (n - 1) // (k - 1) for i in range(k)]


def test_the_digest_of_y_holds_no_second_copy_of_y():
    """One-hot targets are n × classes: the digest converted and copied all of them (twice,
    with tobytes) on every fit; now a chunk at a time, with the same digest."""
    n, classes = 200_000, 20
    Y = np.zeros((n, classes), dtype=np.float32)
    Y[np.arange(n), np.arange(n) % classes] = 1
    net = _net(6, classes)
    X = np.zeros((n, 6), dtype=np.float32)
    tracemalloc.start()
    try:
        fingerprint = training.data_fingerprint(net, X, Y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < Y.nbytes / 2
    assert fingerprint["y"] == hashlib.blake2b(Y.tobytes(), digest_size=16).hexdigest()


def test_a_log_chart_of_subnormal_or_near_overflow_values_is_labelled():
    """A loss of 5e-324 or 1.7e308 on a log axis raised ValueError (log10 of 0) or
    OverflowError (10**309) while labelling the axis, so no report was written."""
    for values, text in (([5e-324, 5e-324], "e-324"), ([1e-320, 1e-318], "e-3"), ([1.7e308, 1.7e308], "e+308"),
                         ([1e308, 1.7e308], "e+308")):
        svg = line_chart("loss", [1, 2], [("loss", values, "#000")], log=True)
        assert text in svg and "nan" not in svg.lower()


def test_axis_labels_of_ranges_near_float64s_limits_are_finite_and_inside_the_axis():
    for y0, y1, log in ((-323.8, -322.8, True), (308.1, 308.25, True), (307.75, 308.75, True), (-330.0, 300.0, True),
                        (-1.7e308, 1.7e308, False)):
        ticks = _y_ticks(y0, y1, log)
        assert 3 <= len(ticks) <= 6
        assert all(math.isfinite(at) and -1e-9 <= at <= 1 + 1e-9 for at, _ in ticks)
        assert all("nan" not in text and "inf" not in text for _, text in ticks)


def test_epoch_labels_of_a_long_run_are_counted_not_listed():
    """Every step's labels were listed before they were counted: 2 million epochs built a
    list of 2 million labels (10^13 raised MemoryError)."""
    tracemalloc.start()
    try:
        ticks = _epoch_ticks(1, 2_000_000, 5, lambda t: t / 2_000_000 * 300)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ticks == [1, 500_000, 1_000_000, 1_500_000, 2_000_000]
    assert peak < 1 << 20
    assert _epoch_ticks(1, 10**13, 5, lambda t: t / 10**13 * 300) == [1, 10**13]


@pytest.mark.slow
def test_the_adadelta_warning_gives_a_far_smaller_rate_as_a_power_of_ten():
    """learning_rate_init=1e-300 printed the factor with all of its 301 digits."""
    import warnings

    from deltaprop.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    est = NeuralNetClassifier(hidden_layer_sizes=(3,), solver="adadelta", learning_rate_init=1e-300, max_iter=1,
                              random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    [message] = [str(w.message) for w in caught if "solver='adadelta'" in str(w.message)]
    assert "learning_rate_init=1e-300 as AdaDelta's rate, 1e+300 times below" in message
