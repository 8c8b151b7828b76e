"""Optimizers: the first three updates against the published rules, computed here in float64
straight from the formulas; state export and import; dtype preservation; settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.optimizers import OPTIMIZERS, optimizer_from_config, optimizer_from_name

STEPS = 3


def make_net(dtype="float64"):
    net = dp.Network([dp.Dense(3, 2), dp.Sigmoid()], seed=0, dtype=dtype)
    net.parameters()[1].value[...] = [0.5, -0.25]  # nonzero biases, so decay shows on them too
    return net


CENTERS = [np.array([[0.3, -1.0], [2.0, 0.1], [-0.7, 0.4]]), np.array([1.5, -0.5])]


def gradient(i, w, scale):
    """∂/∂W of ½ scale ‖W − c‖²: the gradient depends on W, so every step sees a new one."""
    return scale * (w - CENTERS[i])


def run(opt, *, scale=1.0, steps=STEPS, dtype="float64"):
    """Weights after each of ``steps`` updates of ``opt`` on the quadratic."""
    net = make_net(dtype)
    params = net.parameters()
    opt.build(params)
    trajectory = []
    for _ in range(steps):
        for i, p in enumerate(params):
            p.grad[...] = gradient(i, p.value, scale)
        opt.step()
        trajectory.append([p.value.copy() for p in params])
    return trajectory


def reference(update, *, scale=1.0, steps=STEPS):
    """The same run with ``update(t, i, w, g, state) -> w`` written from the published rule."""
    ws = [p.value.copy() for p in make_net().parameters()]
    states = [{} for _ in ws]
    trajectory = []
    for t in range(1, steps + 1):
        ws = [update(t, i, w, gradient(i, w, scale), states[i]) for i, w in enumerate(ws)]
        trajectory.append([w.copy() for w in ws])
    return trajectory


def assert_same(trajectory, expected, rtol=1e-12):
    for step, (got, want) in enumerate(zip(trajectory, expected), start=1):
        for i, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-15, err_msg=f"step {step}, parameter {i}")
    # the updates really moved the weights (a no-op optimizer would fail the comparison too)
    assert not np.allclose(trajectory[0][0], trajectory[-1][0])


# -- the rules --------------------------------------------------------------------------------
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sgd(weight_decay):
    lr = 0.1

    def update(t, i, w, g, s):  # W := W − α (g + λW)
        return w - lr * (g + weight_decay * w)

    assert_same(run(dp.SGD(lr=lr, weight_decay=weight_decay)), reference(update))


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sgd_momentum_as_seed_002_writes_it(weight_decay):
    lr, mu = 0.1, 0.9

    def update(t, i, w, g, s):  # V := μV − α ∂J/∂W;  W := W + V
        s["V"] = mu * s.get("V", 0.0) - lr * (g + weight_decay * w)
        return w + s["V"]

    assert_same(run(dp.SGD(lr=lr, momentum=mu, weight_decay=weight_decay)), reference(update))


def test_sgd_momentum_equals_pytorchs_form_while_the_rate_is_constant():
    lr, mu = 0.05, 0.8

    def torch_update(t, i, w, g, s):  # b := μb + g;  W := W − α b
        s["b"] = mu * s["b"] + g if "b" in s else g.copy()
        return w - lr * s["b"]

    assert_same(run(dp.SGD(lr=lr, momentum=mu)), reference(torch_update))


def test_nesterov():
    lr, mu = 0.1, 0.9

    def update(t, i, w, g, s):  # Sutskever et al.: V := μV − αg;  W := W + μV − αg
        s["V"] = mu * s.get("V", 0.0) - lr * g
        return w + mu * s["V"] - lr * g

    def torch_update(t, i, w, g, s):  # PyTorch: b := μb + g;  W := W − α (g + μb)
        s["b"] = mu * s["b"] + g if "b" in s else g.copy()
        return w - lr * (g + mu * s["b"])

    trajectory = run(dp.SGD(lr=lr, momentum=mu, nesterov=True))
    assert_same(trajectory, reference(update))
    assert_same(trajectory, reference(torch_update))


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adagrad(weight_decay):
    lr, eps = 0.5, 1e-10

    def update(t, i, w, g, s):  # G := G + g²;  W := W − α g / (√G + ε)
        g = g + weight_decay * w
        s["G"] = s.get("G", 0.0) + g**2
        return w - lr * g / (np.sqrt(s["G"]) + eps)

    assert_same(run(dp.AdaGrad(lr=lr, weight_decay=weight_decay)), reference(update))


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_rmsprop(weight_decay):
    lr, rho, eps = 0.01, 0.9, 1e-8

    def update(t, i, w, g, s):  # S := ρS + (1 − ρ) g²;  W := W − α g / (√S + ε)
        g = g + weight_decay * w
        s["S"] = rho * s.get("S", 0.0) + (1 - rho) * g**2
        return w - lr * g / (np.sqrt(s["S"]) + eps)

    assert_same(run(dp.RMSprop(lr=lr, rho=rho, weight_decay=weight_decay)), reference(update))


@pytest.mark.parametrize("lr", [1.0, 0.5])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adadelta(lr, weight_decay):
    rho, eps = 0.9, 1e-6

    def update(t, i, w, g, s):  # Zeiler (2012), Algorithm 1, with PyTorch's learning rate
        g = g + weight_decay * w
        s["Eg"] = rho * s.get("Eg", 0.0) + (1 - rho) * g**2
        delta = np.sqrt(s.get("Ed", 0.0) + eps) / np.sqrt(s["Eg"] + eps) * g
        s["Ed"] = rho * s.get("Ed", 0.0) + (1 - rho) * delta**2  # Δ², not (αΔ)²
        return w - lr * delta

    assert_same(run(dp.AdaDelta(lr=lr, rho=rho, weight_decay=weight_decay)), reference(update), rtol=1e-11)


def adam_rule(lr, b1, b2, eps, weight_decay=0.0, decoupled=0.0):
    def update(t, i, w, g, s):  # Kingma and Ba (2015), Algorithm 1
        w = w * (1 - lr * decoupled)  # AdamW: decay the weights directly, before the step
        g = g + weight_decay * w if weight_decay else g
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
        m_hat = s["m"] / (1 - b1**t)
        v_hat = s["v"] / (1 - b2**t)
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)

    return update


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam(weight_decay):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    opt = dp.Adam(lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=weight_decay)
    assert_same(run(opt), reference(adam_rule(lr, b1, b2, eps, weight_decay)))


def test_adam_adds_eps_after_the_bias_correction_even_for_tiny_gradients():
    # With gradients ~1e-9, √v̂ and ε are of the same size: this is where scikit-learn's folded
    # form α√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε) differs from Algorithm 1 by tens of percent.
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    trajectory = run(dp.Adam(lr=lr), scale=1e-9)
    assert_same(trajectory, reference(adam_rule(lr, b1, b2, eps), scale=1e-9))

    def folded(t, i, w, g, s):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
        return w - lr * math.sqrt(1 - b2**t) / (1 - b1**t) * s["m"] / (np.sqrt(s["v"]) + eps)

    start = make_net().parameters()[0].value
    ours = trajectory[0][0] - start
    theirs = reference(folded, scale=1e-9)[0][0] - start
    assert np.max(np.abs(ours / theirs - 1)) > 0.1


def test_adamw_decays_the_weights_directly():
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    opt = dp.AdamW(lr=lr, weight_decay=wd)
    assert_same(run(opt), reference(adam_rule(lr, b1, b2, eps, decoupled=wd)))
    # and differs from L2 in the gradient, which Adam's normalisation would scale away
    l2 = run(dp.Adam(lr=lr, weight_decay=wd))
    assert not np.allclose(run(dp.AdamW(lr=lr, weight_decay=wd))[-1][0], l2[-1][0])


def test_a_changed_learning_rate_scales_new_gradients_only():
    # Seed 002's momentum keeps the old velocity as it is when α changes (PyTorch's would rescale it).
    lr, mu = 0.1, 0.9
    net = make_net()
    params = net.parameters()
    opt = dp.SGD(lr=lr, momentum=mu)
    opt.build(params)
    w0 = params[0].value.copy()
    params[0].grad[...] = 1.0
    params[1].grad[...] = 1.0
    opt.step()
    opt.lr = 0.01
    opt.step()
    # V1 = −0.1;  V2 = 0.9·(−0.1) − 0.01 = −0.1;  W2 = W0 − 0.2
    np.testing.assert_allclose(params[0].value, w0 - 0.2, rtol=1e-13)


def test_adadelta_survives_a_learning_rate_of_zero():
    # Cosine annealing ends at α = 0 by default; AdaDelta keeps accumulating E[Δ²] and W stays.
    net = make_net()
    params = net.parameters()
    opt = dp.AdaDelta()
    opt.build(params)
    opt.lr = 0.0
    before = [p.value.copy() for p in params]
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    for p, w in zip(params, before):
        np.testing.assert_array_equal(p.value, w)
    # Eg = 0.1;  Δ = √(1e-6) / √(0.1 + 1e-6);  E[Δ²] = 0.1 Δ²
    expected = 0.1 * (1e-6 / (0.1 + 1e-6))
    np.testing.assert_allclose(opt.state()["0.mean_sq_delta"], expected, rtol=1e-12)


# -- defaults -------------------------------------------------------------------------------------
def test_defaults_are_the_documented_ones():
    assert dp.SGD().config() == {"type": "SGD", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.0, "nesterov": False}
    assert dp.AdaGrad().config() == {"type": "AdaGrad", "lr": 0.01, "weight_decay": 0.0, "eps": 1e-10}
    assert dp.RMSprop().config() == {"type": "RMSprop", "lr": 0.01, "weight_decay": 0.0, "rho": 0.99, "eps": 1e-8}
    assert dp.AdaDelta().config() == {"type": "AdaDelta", "lr": 1.0, "weight_decay": 0.0, "rho": 0.9, "eps": 1e-6}
    adam = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert dp.Adam().config() == {"type": "Adam", "weight_decay": 0.0, **adam}
    assert dp.AdamW().config() == {"type": "AdamW", "weight_decay": 0.01, **adam}


# -- state ------------------------------------------------------------------------------------------
STATEFUL = [
    lambda: dp.SGD(lr=0.1, momentum=0.9),
    lambda: dp.SGD(lr=0.1, momentum=0.9, nesterov=True),
    lambda: dp.AdaGrad(lr=0.1),
    lambda: dp.RMSprop(),
    lambda: dp.AdaDelta(),
    lambda: dp.Adam(lr=0.01),
    lambda: dp.AdamW(lr=0.01),
]


@pytest.mark.parametrize("make", STATEFUL, ids=lambda m: m().type_name + ("-nesterov" if getattr(m(), "nesterov", False) else ""))
def test_state_round_trip_continues_the_same_trajectory(make):
    straight = run(make(), steps=3)[-1]
    # two steps, export, a fresh optimizer on a copy of the weights, import, one more step
    net = make_net()
    params = net.parameters()
    opt = make()
    opt.build(params)
    for _ in range(2):
        for i, p in enumerate(params):
            p.grad[...] = gradient(i, p.value, 1.0)
        opt.step()
    saved = opt.state()
    assert saved["iterations"] == 2
    assert set(saved) == {"iterations"} | {f"{i}.{slot}" for i in range(2) for slot in opt.slots}
    exported = {k: v.copy() for k, v in saved.items()}
    opt.step()  # later steps must not change an exported state
    for key, value in saved.items():
        np.testing.assert_array_equal(value, exported[key])
    other_params = make_net().parameters()
    for p, w in zip(other_params, run(make(), steps=2)[-1]):
        p.value[...] = w
    resumed = make()
    resumed.build(other_params)
    resumed.load_state(saved)
    for i, p in enumerate(other_params):
        p.grad[...] = gradient(i, p.value, 1.0)
    resumed.step()
    for p, w in zip(other_params, straight):
        np.testing.assert_array_equal(p.value, w)


def test_load_state_mismatches_raise_state_error():
    opt = dp.Adam()
    opt.build(make_net().parameters())
    good = opt.state()
    other = dp.Adam()
    other.build(dp.Network([dp.Dense(4, 2)], seed=0, dtype="float64").parameters())
    with pytest.raises(dp.StateError, match="expected"):
        other.load_state(good)  # shapes differ
    with pytest.raises(dp.StateError, match="missing"):
        opt.load_state({k: v for k, v in good.items() if k != "1.v"})
    with pytest.raises(dp.StateError, match="unexpected"):
        opt.load_state({**good, "2.m": np.zeros(3)})
    with pytest.raises(dp.StateError):
        opt.load_state({k: v.astype(np.float32) if k != "iterations" else v for k, v in good.items()})
    rms = dp.RMSprop()
    rms.build(make_net().parameters())
    with pytest.raises(dp.StateError):
        rms.load_state(good)  # another optimizer's slots
    with pytest.raises(dp.StateError, match="build"):
        dp.Adam().load_state(good)  # not built yet
    assert issubclass(dp.StateError, dp.Error)


def test_step_before_build_is_an_error():
    with pytest.raises(dp.ConfigError, match="build"):
        dp.SGD().step()


# -- dtype ----------------------------------------------------------------------------------------------
ALL = [lambda: dp.SGD(lr=0.1, weight_decay=0.01), *STATEFUL,
       lambda: dp.Adam(weight_decay=0.01), lambda: dp.RMSprop(weight_decay=0.01)]


@pytest.mark.parametrize("make", ALL)
def test_float32_stays_float32_through_three_steps(make):
    trajectory = run(make(), dtype="float32")
    assert all(w.dtype == np.float32 for step in trajectory for w in step)
    opt = make()
    net = make_net("float32")
    opt.build(net.parameters())
    for p in net.parameters():
        p.grad[...] = 0.5
    opt.step()
    for key, value in opt.state().items():
        if key != "iterations":
            assert value.dtype == np.float32, key


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_numpy_float64_hyperparameters_do_not_promote_float32(name):
    # NumPy 2: float32 array ⊙ np.float64 scalar is float64; the optimizer must keep float32.
    settings = {"lr": np.float64(0.01), "weight_decay": np.float64(0.01)}
    if name == "sgd":
        settings["momentum"] = np.float64(0.9)
    if name in ("adam", "adamw"):
        settings.update(beta1=np.float64(0.9), beta2=np.float64(0.999), eps=np.float64(1e-8))
    opt = optimizer_from_name(name, **settings)
    for value in opt.config().values():
        assert not isinstance(value, np.generic), opt.config()
    net = make_net("float32")
    opt.build(net.parameters())
    for _ in range(2):
        for p in net.parameters():
            p.grad[...] = 0.5
        opt.step()
        opt.lr = np.float64(0.02)  # what a schedule computed in numpy would set
    for p in net.parameters():
        assert p.value.dtype == np.float32 and p.grad.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state().items() if k != "iterations")


# -- settings and names -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: dp.SGD(lr=0),
        lambda: dp.SGD(lr=-0.1),
        lambda: dp.SGD(lr=float("nan")),
        lambda: dp.Adam(lr=float("inf")),
        lambda: dp.SGD(lr="0.1"),
        lambda: dp.SGD(momentum=1.0),
        lambda: dp.SGD(nesterov=True),
        lambda: dp.SGD(weight_decay=-1e-4),
        lambda: dp.Adam(beta1=1.0),
        lambda: dp.Adam(beta2=-0.1),
        lambda: dp.Adam(eps=0),
        lambda: dp.RMSprop(rho=1.5),
        lambda: dp.AdaDelta(eps=-1.0),
    ],
)
def test_bad_settings_are_config_errors(make):
    with pytest.raises(dp.ConfigError):
        make()


def test_names_and_configs_round_trip():
    for name, cls in OPTIMIZERS.items():
        opt = optimizer_from_name(name)
        assert type(opt) is cls
        again = optimizer_from_config(opt.config())
        assert type(again) is cls and again.config() == opt.config()
    with pytest.raises(dp.ConfigError, match="unknown optimizer"):
        optimizer_from_name("lbfgs")
    with pytest.raises(dp.ConfigError, match="bad settings"):
        optimizer_from_name("adam", momentum=0.9)


# -- weight decay leaves the loss gradient alone ---------------------------------------------------
@pytest.mark.parametrize("make", [lambda: dp.SGD(lr=0.1, weight_decay=10.0), lambda: dp.Adam(weight_decay=10.0),
                                  lambda: dp.AdaGrad(weight_decay=10.0), lambda: dp.AdamW(weight_decay=10.0)],
                         ids=["SGD", "Adam", "AdaGrad", "AdamW"])
def test_weight_decay_never_changes_parameter_grad_so_the_trace_reports_the_loss_gradient(make):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    net = dp.Network([dp.Dense(3, 4), dp.Sigmoid(), dp.Dense(4, 2), dp.Softmax()], seed=0, dtype="float64")
    opt = make()
    opt.build(net.parameters())
    net.loss_and_gradients(dp.CrossEntropy(), X, y)
    before = net.trace()
    loss_gradient = [p.grad.copy() for p in net.parameters()]
    opt.step()
    for p, g in zip(net.parameters(), loss_gradient):
        np.testing.assert_array_equal(p.grad, g)  # still ∂L/∂θ, without λW
    assert [t.grad_norms for t in net.trace()] == [t.grad_norms for t in before]
    assert max(n for t in before for n in t.grad_norms.values()) < 1.0  # the loss gradient, not λ‖W‖
