"""Gradient checks that must not pass a gradient they cannot vouch for."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.layers import Dense


def _data(n=6):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)), rng.integers(0, 3, n)


def test_a_nan_gradient_after_a_finite_one_fails_the_check(monkeypatch):
    # A backward that leaves NaN in the output layer's bias gradient, the first parameter
    # being right: the NaN row must fail the verdict, not be skipped by the maximum.
    backward = Dense.backward

    def lost_bias(self, grad_out, *, need_input_grad=True):
        out = backward(self, grad_out, need_input_grad=need_input_grad)
        if self.n_out == 3:
            self.b.grad[...] = np.nan
        return out

    monkeypatch.setattr(Dense, "backward", lost_bias)
    net = dp.mlp([4, 5, 3], activation="tanh", seed=0, dtype="float64")
    X, y = _data()
    report = dp.gradcheck(net, dp.CrossEntropy(), X, y)
    assert report.parameters[0].relative_error < 1e-6  # the first parameter is right
    assert np.isnan(report.parameters[-1].relative_error)
    assert np.isnan(report.max_relative_error)
    assert not report.passed
    assert report.table().splitlines()[len(report.checks) + 1].endswith("FAILED")  # the verdict, after ∂L/∂x's row


@pytest.mark.parametrize("tolerance", [1, 1.5, 100])
def test_a_tolerance_no_relative_error_can_reach_is_refused(monkeypatch, tolerance):
    # the relative error is at most 1: at such a tolerance a gradient 100 times too large passed
    backward = Dense.backward

    def too_large(self, grad_out, *, need_input_grad=True):
        out = backward(self, grad_out, need_input_grad=need_input_grad)
        self.W.grad[...] *= 100
        return out

    monkeypatch.setattr(Dense, "backward", too_large)
    net = dp.mlp([4, 5, 3], seed=0, dtype="float64")
    X, y = _data()
    with pytest.raises(dp.ConfigError, match="tolerance must be below 1"):
        dp.gradcheck(net, dp.CrossEntropy(), X, y, tolerance=tolerance)
    assert not dp.gradcheck(net, dp.CrossEntropy(), X, y, tolerance=0.5).passed


def test_the_command_refuses_a_tolerance_of_1_or_more_in_one_line(capsys):
    from deltaprop.cli import main

    assert main(["gradcheck", "--layers", "3,4,2", "--tolerance", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tolerance must be below 1" in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("setting", [{"seed": -1}, {"seed": 1.5}, {"seed": "a"}, {"train": "False"}])
def test_a_bad_seed_or_train_flag_is_a_typed_error(setting):
    X, y = _data()
    with pytest.raises(dp.ConfigError, match=next(iter(setting))):
        dp.gradcheck(dp.mlp([4, 5, 3], seed=0), dp.CrossEntropy(), X, y, **setting)
