"""The numerical core against an independent NumPy forward pass, closed forms and central
differences, in float64: every loss (value and ∂L/∂θ, with and without row weights), every
activation in hidden and output positions and at extreme inputs, dropout's scaling, weight
decay, the initialisers' moments, gradcheck's verdicts, and float32 against float64."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import layers as L
from deltaprop.training import row_weights

N, F, H = 7, 5, 4


def _sigmoid(z):
    """σ(z) = e^{min(z,0)} / (1 + e^{−|z|}): no overflow either side."""
    return np.exp(np.minimum(z, 0)) / (1 + np.exp(-np.abs(z)))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_ACT = {
    "Sigmoid": _sigmoid,
    "Tanh": np.tanh,
    "ReLU": lambda z: np.maximum(z, 0),
    "LeakyReLU": lambda z, s=0.1: np.where(z > 0, z, s * z),
    "Identity": lambda z: z,
    "Softmax": _softmax,
}


def _numpy_forward(net, X, params):
    """The network's output from its configs alone, with the given parameter arrays."""
    x = X
    it = iter(params)
    for layer in net.layers:
        if isinstance(layer, dp.Dense):
            x = x @ next(it) + next(it)
        elif isinstance(layer, dp.LeakyReLU):
            x = _ACT["LeakyReLU"](x, layer.slope)
        else:
            x = _ACT[layer.type_name](x)
    return x


def _numpy_loss(kind, a, Y, w):
    """Each loss written out from its definition: L = (1/n) Σ_i w_i ℓ_i."""
    if kind == "ce":
        rows = -(Y * np.log(a)).sum(axis=1)
    elif kind == "ce_logits":
        rows = -(Y * np.log(_softmax(a))).sum(axis=1)
    elif kind == "bce":
        rows = -(Y * np.log(a) + (1 - Y) * np.log(1 - a)).sum(axis=1)
    elif kind == "bce_logits":
        p = _sigmoid(a)
        rows = -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).sum(axis=1)
    else:  # squared error: summed over outputs, no ½, averaged over rows
        rows = ((a - Y) ** 2).sum(axis=1)
    return float(np.sum(w * rows) / len(a))


HIDDEN = {"sigmoid": dp.Sigmoid, "tanh": dp.Tanh, "relu": dp.ReLU, "leaky": lambda: dp.LeakyReLU(0.1),
          "linear": dp.Identity}
# name: (output layers, loss, k, numpy form, target kind)
CASES = {
    "ce": ([dp.Softmax], lambda: dp.CrossEntropy(), 3, "ce", "ids"),
    "ce_soft": ([dp.Softmax], lambda: dp.CrossEntropy(), 3, "ce", "probs"),
    "ce_logits": ([], lambda: dp.CrossEntropy(from_logits=True), 3, "ce_logits", "ids"),
    "ce_sigmoid_softmax": ([dp.Sigmoid, dp.Softmax], lambda: dp.CrossEntropy(), 3, "ce", "ids"),
    "bce_one": ([dp.Sigmoid], lambda: dp.BinaryCrossEntropy(), 1, "bce", "ids"),
    "bce_several": ([dp.Sigmoid], lambda: dp.BinaryCrossEntropy(), 3, "bce", "multi"),
    "bce_soft": ([dp.Sigmoid], lambda: dp.BinaryCrossEntropy(), 3, "bce", "soft"),
    "bce_logits_one": ([], lambda: dp.BinaryCrossEntropy(from_logits=True), 1, "bce_logits", "ids"),
    "bce_logits_several": ([], lambda: dp.BinaryCrossEntropy(from_logits=True), 3, "bce_logits", "multi"),
    "mse_linear": ([], lambda: dp.MeanSquaredError(classification=False), 3, "mse", "real"),
    "mse_sigmoid": ([dp.Sigmoid], lambda: dp.MeanSquaredError(), 3, "mse", "ids"),
    "mse_softmax": ([dp.Softmax], lambda: dp.MeanSquaredError(), 3, "mse", "ids"),
    "mse_tanh": ([dp.Tanh], lambda: dp.MeanSquaredError(classification=False), 2, "mse", "real"),
    "mse_leaky": ([lambda: dp.LeakyReLU(0.2)], lambda: dp.MeanSquaredError(classification=False), 2, "mse", "real"),
}


def _targets(rng, kind, k):
    if kind == "ids":
        return rng.integers(0, max(k, 2), N)
    if kind == "probs":
        p = rng.uniform(0.1, 1, (N, k))
        return p / p.sum(axis=1, keepdims=True)
    if kind == "multi":
        return rng.integers(0, 2, (N, k)).astype(float)
    if kind == "soft":
        return rng.uniform(0, 1, (N, k))
    return rng.standard_normal((N, k)) * 2


def _case(hidden, case, seed=0):
    outs, make_loss, k, form, kind = CASES[case]
    rng = np.random.default_rng(seed)
    net = dp.Network([dp.Dense(F, H), HIDDEN[hidden](), dp.Dense(H, k)] + [c() for c in outs],
                     seed=seed, dtype="float64")
    X = rng.standard_normal((N, F)) * 1.5
    loss = make_loss()
    Y = loss.prepare_targets(_targets(rng, kind, k), k, np.float64)
    w = row_weights(rng.uniform(0.1, 3.0, N), N, np.float64)
    return net, loss, form, X, Y, w


def _central_differences(f, params, h=1e-6):
    grads = []
    for p in params:
        g = np.empty_like(p)
        flat, gf = p.reshape(-1), g.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + h
            plus = f()
            flat[j] = old - h
            minus = f()
            flat[j] = old
            gf[j] = (plus - minus) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_loss_value_and_every_gradient_match_numpy(hidden, case):
    """The training path (forward, loss.value, _backward as fit runs them) gives the value of
    the loss written out in NumPy and its central differences, unweighted and weighted."""
    net, loss, form, X, Y, w = _case(hidden, case)
    params = [p.value.copy() for p in net.parameters()]
    for weights in (None, w):
        wn = np.ones(N) if weights is None else weights
        a = net._forward(X.copy(), True)
        extra = () if weights is None else (weights,)
        value = loss.value(a, Y, *extra)
        net._backward(loss, a, Y, *extra)
        expected = _numpy_loss(form, _numpy_forward(net, X, params), Y, wn)
        assert value == pytest.approx(expected, rel=1e-12)
        numeric = _central_differences(lambda: _numpy_loss(form, _numpy_forward(net, X, params), Y, wn), params)
        for p, g in zip(net.parameters(), numeric):
            scale = max(np.abs(g).max(), 1e-3)
            assert np.abs(p.grad - g).max() <= 1e-7 * scale, (p.name, p.grad, g)


def test_squared_error_convention_sum_over_outputs_mean_over_rows_no_half():
    """L = (1/n) Σ_i Σ_k (a_ik − y_ik)², ∂L/∂a = 2(a − y)/n: as the docstring and backprop.md say."""
    rng = np.random.default_rng(1)
    a, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    mse = dp.MeanSquaredError(classification=False)
    assert mse.value(a, y) == pytest.approx(np.sum((a - y) ** 2) / 6, rel=1e-14)
    assert mse.value(a, y) == pytest.approx(3 * np.mean((a - y) ** 2), rel=1e-14)  # k times the per-element mean
    np.testing.assert_allclose(mse.gradient(a, y), 2 * (a - y) / 6, rtol=1e-14)
    w = rng.uniform(0, 2, 6)
    assert mse.value(a, y, w) == pytest.approx(np.sum(w * ((a - y) ** 2).sum(axis=1)) / 6, rel=1e-14)
    np.testing.assert_allclose(mse.gradient(a, y, w), 2 * (a - y) * w[:, None] / 6, rtol=1e-14)


def _fd_matrix(f, z, h=1e-6):
    g = np.empty_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        g[i] = (f(zp) - f(zm)) / (2 * h)
    return g


def test_cross_entropy_gradient_is_that_of_its_value_for_rows_not_summing_to_one():
    """−Σ_k y_k log a_k has ∂L/∂z = (a Σ_k y_k − y)/n; loss.gradient (from logits) and
    fused_delta (after a Softmax) gave (a − y)/n whatever the rows summed to: a gradient of
    another function for multi-hot or unnormalised rows given to them directly."""
    z = np.array([[0.3, -1.2, 2.0], [1.0, 0.0, -1.0], [0.5, 0.1, -0.4]])
    Y = np.array([[1.0, 1.0, 0.0], [0.2, 0.2, 0.2], [0.0, 1.0, 0.0]])
    logits = dp.CrossEntropy(from_logits=True)
    numeric = _fd_matrix(lambda t: logits.value(t, Y), z)
    np.testing.assert_allclose(logits.gradient(z, Y), numeric, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(logits.gradient(z, Y), (_softmax(z) * Y.sum(1, keepdims=True) - Y) / 3, rtol=1e-14)
    w = np.array([0.5, 2.0, 1.0])
    np.testing.assert_allclose(logits.gradient(z, Y, w), _fd_matrix(lambda t: logits.value(t, Y, w), z),
                               rtol=1e-7, atol=1e-9)

    probs = dp.CrossEntropy()
    softmax = dp.Softmax()
    softmax.build(3, np.float64, np.random.default_rng(0))
    a = softmax.forward(z, train=True).copy()
    delta = probs.fused_delta(softmax, a, Y)
    numeric = _fd_matrix(lambda t: probs.value(_softmax(t), Y), z)
    np.testing.assert_allclose(delta, numeric, rtol=1e-7, atol=1e-9)
    # the softmax backward from −y/a, the path without fusion, agrees
    np.testing.assert_allclose(softmax.backward(probs.gradient(a, Y)), delta, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("make", [
    dp.BinaryCrossEntropy, dp.CrossEntropy, lambda: dp.MeanSquaredError(classification=False),
    lambda: dp.BinaryCrossEntropy(from_logits=True), lambda: dp.CrossEntropy(from_logits=True),
])
def test_loss_gradient_is_that_of_its_value_weighted_and_not(make):
    """loss.gradient (the path without a fused output δ) against central differences of
    loss.value, with soft targets and row weights."""
    loss = make()
    rng = np.random.default_rng(7)
    a = rng.uniform(0.05, 0.95, (4, 3))
    y = rng.uniform(0, 1, (4, 3))
    if isinstance(loss, dp.CrossEntropy):
        y /= y.sum(axis=1, keepdims=True)
    for w in (None, rng.uniform(0, 2, 4)):
        extra = () if w is None else (w,)
        numeric = _fd_matrix(lambda t: loss.value(t, y, *extra), a)
        np.testing.assert_allclose(loss.gradient(a, y, *extra), numeric, rtol=1e-7, atol=1e-9)


def test_cross_entropy_gradient_of_one_hot_rows_is_a_minus_y_bit_for_bit():
    """Rows that sum to exactly 1 keep (a − y)/n exactly (training runs keep their bits)."""
    rng = np.random.default_rng(2)
    for dtype in (np.float32, np.float64):
        z = rng.standard_normal((9, 4)).astype(dtype)
        Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, 9)]
        softmax = dp.Softmax()
        a = softmax.forward(z, train=True).copy()
        delta = dp.CrossEntropy().fused_delta(softmax, a, Y)
        expected = a - Y
        expected *= 1.0 / 9
        assert np.array_equal(delta, expected)


Z_EXTREME = np.array([-1000.0, -100.0, -40.0, -1.0, -1e-300, 0.0, 1e-300, 1.0, 40.0, 100.0, 1000.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activations_at_extreme_inputs_and_their_slopes(dtype):
    """Forward values within one rounding of the closed forms (absolute: σ keeps the absolute
    precision of 1, as its docstring says), never NaN; slopes at 0: ReLU 0, LeakyReLU its slope."""
    z = Z_EXTREME.astype(dtype)
    g = np.linspace(-1, 1, z.size).astype(dtype)
    eps = np.finfo(dtype).eps
    slope = 0.1
    zd = z.astype(np.float64)  # ±1e-300 is 0 in float32
    closed = {
        "Sigmoid": (_sigmoid(zd), _sigmoid(zd) * (1 - _sigmoid(zd))),
        "Tanh": (np.tanh(zd), 1 - np.tanh(zd) ** 2),
        "ReLU": (np.maximum(zd, 0), (zd > 0).astype(float)),
        "LeakyReLU": (np.where(zd > 0, zd, slope * zd), np.where(zd > 0, 1.0, slope)),
        "Identity": (zd, np.ones_like(zd)),
    }
    for name, (value, derivative) in closed.items():
        layer = dp.LeakyReLU(slope) if name == "LeakyReLU" else getattr(dp, name)()
        for train in (True, False):
            a = layer.forward(z.reshape(1, -1), train=train)
            assert a.dtype == dtype and np.all(np.isfinite(a))
            np.testing.assert_allclose(a.ravel(), value, rtol=2 * eps, atol=2 * eps)
        layer.forward(z.reshape(1, -1), train=True)
        grad = layer.backward(g.reshape(1, -1)).ravel()
        np.testing.assert_allclose(grad, g * derivative, rtol=4 * eps, atol=4 * eps)
        zero = int(np.flatnonzero(Z_EXTREME == 0.0)[0])
        assert grad[zero] == g[zero] * {"ReLU": 0.0, "LeakyReLU": slope}.get(name, derivative[zero])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_and_logit_losses_at_extreme_inputs(dtype):
    Z = np.array([[1000, 0, -1000], [0, 0, 0], [-1000, -1000, -999], [100, 99, -100], [800, 0, 700]], dtype=dtype)
    eps = np.finfo(dtype).eps
    S = dp.Softmax()
    a = S.forward(Z, train=True)
    np.testing.assert_allclose(a, _softmax(Z.astype(np.float64)), rtol=4 * eps, atol=4 * eps)
    G = np.arange(15, dtype=dtype).reshape(5, 3) / 7
    jac = a * (G - (G * a).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(S.backward(G), jac, rtol=8 * eps, atol=8 * eps)
    Y = np.eye(3, dtype=dtype)[[2, 0, 1, 2, 1]]
    Zd = Z.astype(np.float64)
    lse = Zd.max(1) + np.log(np.exp(Zd - Zd.max(1, keepdims=True)).sum(1))
    ce = dp.CrossEntropy(from_logits=True)
    np.testing.assert_allclose(ce.row_values(Z, Y), lse - (Zd * Y).sum(1), rtol=4 * eps, atol=1e4 * eps)  # |z| ≤ 1000
    Yb = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=dtype)
    bce = dp.BinaryCrossEntropy(from_logits=True)
    exact = (np.logaddexp(0, Zd) - Zd * Yb).sum(1)  # −[y log σ(z) + (1 − y) log(1 − σ(z))]
    np.testing.assert_allclose(bce.row_values(Z, Yb), exact, rtol=4 * eps, atol=1e-28)
    np.testing.assert_allclose(bce.gradient(Z, Yb), (_sigmoid(Zd) - Yb) / 5, rtol=4 * eps, atol=4 * eps)


def test_dropout_is_inverted_off_at_inference_and_backpropagates_through_its_mask():
    p = 0.3
    drop = dp.Dropout(p)
    drop.build(None, np.float64, np.random.default_rng(1))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 50))
    a = drop.forward(x, train=True).copy()
    kept = a != 0
    np.testing.assert_allclose(a[kept], x[kept] / (1 - p), rtol=1e-15)  # kept units scaled by 1/(1 − p)
    assert abs(kept.mean() - (1 - p)) < 0.01  # m ~ Bernoulli(1 − p): 20000 draws, σ ≈ 0.0032
    g = rng.standard_normal(x.shape)
    np.testing.assert_allclose(drop.backward(g), g * kept / (1 - p), rtol=1e-15)
    assert np.array_equal(drop.forward(x, train=False), x)  # inference: the identity, no scaling


def test_gradient_through_a_frozen_dropout_mask_matches_central_differences():
    net = dp.mlp([F, 6, 3], activation="tanh", dropout=0.4, seed=3, dtype="float64")
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((N, F)), rng.integers(0, 3, N)
    loss = dp.CrossEntropy()
    Y = loss.prepare_targets(y, 3, np.float64)
    w = row_weights(rng.uniform(0.2, 2, N), N, np.float64)
    a = net._forward(X, True)
    drop = net.layers[2]
    drop.freeze_mask = True
    net._backward(loss, a, Y, w)
    params = [p.value for p in net.parameters()]
    numeric = _central_differences(lambda: loss.value(net._forward(X, True), Y, w), params)
    for p, g in zip(net.parameters(), numeric):
        np.testing.assert_allclose(p.grad, g, rtol=1e-6, atol=1e-9)


def test_weight_decay_is_in_the_step_not_in_the_reported_loss():
    """SGD(weight_decay=λ) steps W − α(∂L/∂W + λW) (the gradient of L + ½λ‖W‖²), biases
    included; fit's loss is L itself, and Parameter.grad keeps ∂L/∂W alone."""
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    lam, lr = 0.1, 0.05
    net = dp.mlp([4, 5, 3], activation="tanh", seed=0, dtype="float64")
    ref = net.copy()
    loss = dp.CrossEntropy()
    L0 = ref.loss_and_gradients(loss, X, y)
    history = dp.fit(net, X, y, loss=loss, optimizer=dp.SGD(lr=lr, weight_decay=lam), epochs=1, batch_size=None,
                     seed=0)
    assert history["loss"][0] == pytest.approx(L0, rel=1e-14)
    for p, q in zip(net.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.value, q.value - lr * (q.grad + lam * q.value), rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("name, mean_var", [
    ("he_normal", lambda n_in, n_out: 2 / n_in),
    ("glorot_uniform", lambda n_in, n_out: 6 / (n_in + n_out) / 3),
    ("scaled_normal", lambda n_in, n_out: 0.01),
    ("scaled_normal(0.03)", lambda n_in, n_out: 0.03**2),
])
def test_initialisers_moments_and_fans(name, mean_var):
    """Variance by its formula with fan-in = n_in (W is (n_in, n_out)); mean 0. 60000 draws:
    the sample variance is within 2% (about 4σ), the mean within 4σ."""
    for n_in, n_out in ((300, 200), (40, 1500)):
        layer = dp.Dense(n_in, n_out, init=name)
        layer.build(n_in, np.float64, np.random.default_rng(5))
        W = layer.W.value
        var = mean_var(n_in, n_out)
        assert W.shape == (n_in, n_out)
        assert abs(W.var() / var - 1) < 0.02
        assert abs(W.mean()) < 4 * np.sqrt(var / W.size)
        assert np.all(layer.b.value == 0)
        if name == "glorot_uniform":
            assert np.abs(W).max() <= np.sqrt(6 / (n_in + n_out))


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((9, 4)), rng.integers(0, 3, 9), rng.uniform(0.2, 2, 9)


def _nets():
    yield dp.mlp([4, 5, 3], activation="tanh", seed=0)
    yield dp.mlp([4, 6, 3], activation="sigmoid", dropout=0.4, seed=1)
    yield dp.Network([dp.Dense(4, 5), dp.LeakyReLU(0.1), dp.Dense(5, 3), dp.Softmax()], seed=2)


def test_gradcheck_passes_correct_gradients_with_dropout_and_weights():
    X, y, sw = _data()
    for net in _nets():
        for loss in (dp.CrossEntropy(), dp.MeanSquaredError()):
            for w in (None, sw):
                report = dp.gradcheck(net, loss, X, y, sample_weight=w)
                assert report.passed, report.table()


@pytest.mark.parametrize("cls", [L.Dense, L.Tanh, L.Sigmoid, L.LeakyReLU, L.Dropout, L.Softmax])
def test_gradcheck_reports_a_gradient_one_percent_off(monkeypatch, cls):
    """A layer whose ∂L/∂x is 1.01 times the true one fails the check (relative error ≈ 0.005)."""
    X, y, sw = _data()
    backward = cls.backward

    def wrong(self, g, *, need_input_grad=True):
        out = backward(self, g, need_input_grad=need_input_grad)
        return None if out is None else out * 1.01

    monkeypatch.setattr(cls, "backward", wrong)
    seen = 0
    for net in _nets():
        if not any(type(layer) is cls for layer in net.layers[1:]):  # the first layer's ∂L/∂x is not used
            continue
        seen += 1
        for w in (None, sw):
            report = dp.gradcheck(net, dp.MeanSquaredError(), X, y, sample_weight=w)
            assert not report.passed
            # the parameters'; the input row's ∂L/∂x passes through the first layer's wrong backward too
            assert max(p.relative_error for p in report.parameters) == pytest.approx(0.005, rel=0.05)
    assert seen


def test_gradcheck_reports_a_parameter_gradient_one_percent_off(monkeypatch):
    X, y, sw = _data()
    backward = L.Dense.backward

    def wrong(self, g, *, need_input_grad=True):
        out = backward(self, g, need_input_grad=need_input_grad)
        self.W.grad *= 1.01
        return out

    monkeypatch.setattr(L.Dense, "backward", wrong)
    for net in _nets():
        report = dp.gradcheck(net, dp.CrossEntropy(), X, y, sample_weight=sw)
        assert not report.passed
        assert all(p.relative_error > 1e-3 for p in report.parameters if p.name.endswith(".W"))


@pytest.mark.parametrize("case", ["ce", "ce_logits", "bce_several", "bce_logits_one", "mse_linear", "mse_softmax"])
@pytest.mark.parametrize("hidden", ["sigmoid", "relu"])
def test_float32_agrees_with_float64_to_float32_precision(hidden, case):
    net, loss, _, X, Y, w = _case(hidden, case, seed=6)
    results = []
    for dtype in (np.float64, np.float32):
        work = net.copy(dtype=dtype)
        a = work._forward(X.astype(dtype), True)
        value = loss.value(a, Y.astype(dtype), w.astype(dtype))
        work._backward(loss, a, Y.astype(dtype), w.astype(dtype))
        results.append((value, [p.grad.astype(np.float64) for p in work.parameters()]))
    (v64, g64), (v32, g32) = results
    assert v32 == pytest.approx(v64, rel=1e-5)
    for a64, a32 in zip(g64, g32):
        assert np.linalg.norm(a32 - a64) <= 1e-5 * np.linalg.norm(a64) + 1e-7
