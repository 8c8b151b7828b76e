"""Optimizer settings changed between steps, schedules and their rates: edge values."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((64, 4)), rng.integers(0, 2, 64)


# -- settings are checked whenever they are set ------------------------------------------------
@pytest.mark.parametrize(("make", "name", "bad"), [
    (dp.SGD, "lr", -0.1),
    (dp.SGD, "lr", math.nan),
    (dp.Adam, "lr", "0.001"),
    (dp.SGD, "weight_decay", -1e-4),
    (dp.AdamW, "weight_decay", math.inf),
    (dp.Adam, "beta1", 1.0),
    (dp.Adam, "beta2", 1.0),
    (dp.AdamW, "beta1", -0.1),
    (dp.Adam, "eps", 0.0),
    (dp.AdaGrad, "eps", -1e-10),
    (dp.RMSprop, "rho", 1.0),
    (dp.AdaDelta, "rho", 1.5),
    (dp.AdaDelta, "eps", 0.0),
])
def test_a_bad_setting_assigned_after_construction_is_refused_and_the_old_value_kept(make, name, bad):
    # Adam's beta1 = 1 was a ZeroDivisionError at the first step (1 − β₁ᵗ = 0), lr = -0.1 a
    # silent gradient ascent: the constructor refused them, an assignment did not.
    opt = make()
    before = getattr(opt, name)
    with pytest.raises(ConfigError, match=name):
        setattr(opt, name, bad)
    assert getattr(opt, name) == before


def test_a_setting_assigned_between_steps_takes_effect_as_a_python_float():
    # Adam's rule written out, with β₁ changed after the first step (as PyTorch's param_groups allow)
    p = dp.Parameter("w", np.array([1.0], dtype=np.float32))
    opt = dp.Adam(lr=0.1)
    opt.build([p])
    w, m, v, b1 = 1.0, 0.0, 0.0, 0.9
    for t, g in enumerate([0.5, -0.2, 0.3], start=1):
        if t == 2:
            opt.beta1 = np.float64(0.5)
            b1 = 0.5
        p.grad = np.array([g], dtype=np.float32)
        opt.step()
        m = b1 * m + (1 - b1) * g
        v = 0.999 * v + 0.001 * g * g
        w -= 0.1 * (m / (1 - b1**t)) / (math.sqrt(v / (1 - 0.999**t)) + 1e-8)
        assert p.value[0] == pytest.approx(w, rel=1e-6)
    assert type(opt.beta1) is float and p.value.dtype == np.float32
    opt.lr = 0.0  # a schedule's end (cosine to min_lr 0) is a rate
    assert opt.lr == 0.0


def test_fit_refuses_an_optimizer_whose_rate_was_set_to_zero():
    # It trained every epoch at α = 0, returned normally and left the weights as they were.
    X, y = _data()
    net = dp.mlp([4, 8, 2], activation="relu", seed=0)
    opt = dp.SGD(lr=0.4)
    opt.lr = 0
    before = [p.value.copy() for p in net.parameters()]
    with pytest.raises(ConfigError, match=r"optimizer.lr is 0.*rate > 0"):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=16, seed=0)
    for p, w in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.value, w)
