"""What a gradient check reports: the tolerance it judged by, as given, and a wrong
backward it catches."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli


def _net():
    return dp.Network([dp.Dense(4, 5), dp.Tanh(), dp.Dense(5, 3), dp.Softmax()], seed=0, dtype="float64")


def test_the_verdict_line_shows_the_tolerance_it_was_judged_by(monkeypatch):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    true_backward = dp.Tanh.backward
    monkeypatch.setattr(dp.Tanh, "backward", lambda self, g, *, need_input_grad=True:
                        true_backward(self, g, need_input_grad=need_input_grad) * 1.01)
    report = dp.gradcheck(_net(), dp.CrossEntropy(), X, y)
    worst = report.max_relative_error
    # a tolerance just above the error passes, one just below fails: each line says which it was
    for tolerance, verdict in ((worst * 1.5, "passed"), (worst / 1.5, "FAILED")):
        report.tolerance = tolerance
        last = report.table().splitlines()[-1]
        assert last.endswith(f"(tolerance {tolerance:.3g}): {verdict}"), last


def test_the_command_says_the_tolerance_given():
    res = run_cli("gradcheck", "--layers", "3,4,2", "--tolerance", "1.5e-6")
    assert res.returncode == 0, res.stderr
    assert "(tolerance 1.5e-06): passed" in res.stdout.splitlines()[-1]


def test_sample_weights_are_checked_and_a_backward_that_drops_them_fails(monkeypatch):
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    w = rng.uniform(0.0, 3.0, 8)
    report = dp.gradcheck(_net(), dp.CrossEntropy(), X, y, sample_weight=w)
    assert report.passed, report.table()
    unweighted = dp.gradcheck(_net(), dp.CrossEntropy(), X, y)
    assert report.parameters[0].relative_error != unweighted.parameters[0].relative_error
    with pytest.raises(dp.DataError, match="sample_weight"):
        dp.gradcheck(_net(), dp.CrossEntropy(), X, y, sample_weight=-w)
    # a fused softmax/cross-entropy δ that leaves the weights out: right unweighted, wrong weighted
    fused = dp.CrossEntropy.fused_delta
    monkeypatch.setattr(dp.CrossEntropy, "fused_delta", lambda self, layer, a, t, *weights: fused(self, layer, a, t))
    assert dp.gradcheck(_net(), dp.CrossEntropy(), X, y).passed
    assert not dp.gradcheck(_net(), dp.CrossEntropy(), X, y, sample_weight=w).passed
