"""Losses: values against their formulas, gradients against central differences of the
value, the fused output deltas, stability at the extremes, targets and configs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.losses import loss_from_config, loss_from_name

N, K = 6, 4


def loss_gradient_error(loss, a, y, h=1e-6) -> float:
    """Relative error of ``loss.gradient(a, y)`` against central differences of ``loss.value``."""
    analytic = loss.gradient(a, y).copy()
    numeric = np.empty_like(a)
    for idx in np.ndindex(*a.shape):
        old = a[idx]
        a[idx] = old + h
        plus = loss.value(a, y)
        a[idx] = old - h
        minus = loss.value(a, y)
        a[idx] = old
        numeric[idx] = (plus - minus) / (2 * h)
    return float(np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric)))


def one_hot(ids, k=K):
    return np.eye(k)[ids]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((N, K)) * 2
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    ids = rng.integers(0, K, N)
    soft = rng.random((N, K))
    soft /= soft.sum(axis=1, keepdims=True)
    bits = rng.integers(0, 2, (N, K)).astype(np.float64)
    return z, p, ids, soft, bits


# -- values -----------------------------------------------------------------------------------
def test_mean_squared_error_sums_over_outputs_and_averages_over_the_batch(data):
    z, _, _, soft, _ = data
    # Seed 001: error = Σ_k (y_k − a_k)² per example; the batch averages it.
    expected = sum(sum((soft[i, k] - z[i, k]) ** 2 for k in range(K)) for i in range(N)) / N
    assert math.isclose(dp.MeanSquaredError().value(z, soft), expected, rel_tol=1e-13)
    np.testing.assert_allclose(dp.MeanSquaredError().gradient(z, soft), 2 * (z - soft) / N, rtol=1e-13)


def test_cross_entropy_value_from_probabilities_and_from_logits(data):
    z, p, ids, soft, _ = data
    y = one_hot(ids)
    expected = -np.mean(np.log(p[np.arange(N), ids]))
    assert math.isclose(dp.CrossEntropy().value(p, y), expected, rel_tol=1e-12)
    assert math.isclose(dp.CrossEntropy(from_logits=True).value(z, y), expected, rel_tol=1e-12)
    expected_soft = -np.sum(soft * np.log(p)) / N
    assert math.isclose(dp.CrossEntropy(from_logits=True).value(z, soft), expected_soft, rel_tol=1e-12)


def test_binary_cross_entropy_value_from_probabilities_and_from_logits(data):
    z, _, _, soft, bits = data
    s = 1 / (1 + np.exp(-z))
    for y in (bits, soft):
        expected = -np.sum(y * np.log(s) + (1 - y) * np.log(1 - s)) / N
        assert math.isclose(dp.BinaryCrossEntropy().value(s, y), expected, rel_tol=1e-12)
        assert math.isclose(dp.BinaryCrossEntropy(from_logits=True).value(z, y), expected, rel_tol=1e-12)


# -- gradients against central differences ------------------------------------------------------
def test_loss_gradients_match_central_differences(data):
    z, p, ids, soft, bits = data
    rng = np.random.default_rng(5)
    probs = 0.05 + 0.9 * rng.random((N, K))  # away from the clipping at eps and 1 − eps
    cases = {
        "mse": (dp.MeanSquaredError(), z.copy(), soft),
        "ce probabilities, one-hot": (dp.CrossEntropy(), p.copy(), one_hot(ids)),
        "ce probabilities, soft": (dp.CrossEntropy(), probs.copy(), soft),
        "ce logits, one-hot": (dp.CrossEntropy(from_logits=True), z.copy(), one_hot(ids)),
        "ce logits, soft": (dp.CrossEntropy(from_logits=True), z.copy(), soft),
        "bce probabilities": (dp.BinaryCrossEntropy(), probs.copy(), bits),
        "bce probabilities, soft": (dp.BinaryCrossEntropy(), probs.copy(), soft),
        "bce logits": (dp.BinaryCrossEntropy(from_logits=True), z.copy(), bits),
    }
    errors = {name: loss_gradient_error(loss, a, y) for name, (loss, a, y) in cases.items()}
    assert max(errors.values()) < 1e-7, errors


def test_softmax_cross_entropy_starts_backward_at_a_minus_y_over_n(data):
    z, p, ids, _, _ = data
    y = one_hot(ids)
    softmax = dp.Softmax()
    softmax.build(K, np.dtype(np.float64), None)
    a = softmax.forward(z).copy()
    fused = dp.CrossEntropy().fused_delta(softmax, a, y)
    np.testing.assert_allclose(fused, (a - y) / N, rtol=1e-13)
    # the same as the full chain rule: CE gradient through the softmax Jacobian
    chained = softmax.backward(dp.CrossEntropy().gradient(a, y))
    np.testing.assert_allclose(fused, chained, rtol=1e-9, atol=1e-15)
    # and as the logits gradient
    np.testing.assert_allclose(fused, dp.CrossEntropy(from_logits=True).gradient(z, y), rtol=1e-12)


def test_sigmoid_binary_cross_entropy_fuses_to_a_minus_y_over_n(data):
    z, _, _, soft, _ = data
    sigmoid = dp.Sigmoid()
    sigmoid.build(K, np.dtype(np.float64), None)
    a = sigmoid.forward(z).copy()
    fused = dp.BinaryCrossEntropy().fused_delta(sigmoid, a, soft)
    np.testing.assert_allclose(fused, (a - soft) / N, rtol=1e-13)
    chained = sigmoid.backward(dp.BinaryCrossEntropy().gradient(a, soft))
    np.testing.assert_allclose(fused, chained, rtol=1e-9)
    np.testing.assert_allclose(fused, dp.BinaryCrossEntropy(from_logits=True).gradient(z, soft), rtol=1e-12)


def test_no_fusion_where_the_output_layer_does_not_cancel(data):
    z, p, ids, _, _ = data
    assert dp.CrossEntropy().fused_delta(dp.Sigmoid(), p, one_hot(ids)) is None
    assert dp.CrossEntropy(from_logits=True).fused_delta(dp.Softmax(), z, one_hot(ids)) is None
    assert dp.BinaryCrossEntropy().fused_delta(dp.Softmax(), p, one_hot(ids)) is None
    assert dp.MeanSquaredError().fused_delta(dp.Softmax(), p, one_hot(ids)) is None


# -- stability (np.errstate(all="raise") is on) ---------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_of_a_zero_probability_is_finite(dtype):
    a = np.array([[0.0, 1.0], [1.0, 0.0]], dtype)
    y = np.array([[1.0, 0.0], [1.0, 0.0]], dtype)
    loss = dp.CrossEntropy()
    value = loss.value(a, y)
    grad = loss.gradient(a, y)
    assert math.isfinite(value) and np.all(np.isfinite(grad))
    # clipped at eps: −log(eps) / 2 for the one wrong row
    assert math.isclose(value, -math.log(np.finfo(dtype).eps) / 2, rel_tol=1e-6)
    assert grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_of_probabilities_0_and_1_is_finite(dtype):
    a = np.array([[0.0, 1.0, 0.0, 1.0]], dtype)
    y = np.array([[1.0, 0.0, 0.0, 1.0]], dtype)
    loss = dp.BinaryCrossEntropy()
    assert math.isfinite(loss.value(a, y))
    grad = loss.gradient(a, y)
    assert np.all(np.isfinite(grad)) and grad.dtype == dtype
    assert grad[0, 0] < 0 < grad[0, 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_of_plus_minus_1e4_are_finite(dtype):
    z = np.array([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4]], dtype)
    y = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype)
    ce = dp.CrossEntropy(from_logits=True)
    value = ce.value(z, y)
    grad = ce.gradient(z, y)
    assert math.isfinite(value) and np.all(np.isfinite(grad))
    assert math.isclose(value, (0 + 2e4 + math.log(2)) / 3, rel_tol=1e-6)
    np.testing.assert_allclose(grad, [[0, 0], [-1 / 3, 1 / 3], [1 / 6, -1 / 6]], atol=1e-7)
    bce = dp.BinaryCrossEntropy(from_logits=True)
    value = bce.value(z, y)
    grad = bce.gradient(z, y)
    assert math.isfinite(value) and np.all(np.isfinite(grad))
    assert math.isclose(value, (0 + 2e4 + 1e4) / 3, rel_tol=1e-6)
    np.testing.assert_allclose(grad, [[0, 0], [-1 / 3, 1 / 3], [1 / 3, 0]], atol=1e-7)


def test_network_with_saturated_outputs_has_finite_loss_and_gradients():
    X = np.array([[1000.0, 0.0], [-100.0, 0.0]], np.float32)
    y = np.array([1, 0])  # both wrong: the network is sure of the other class
    for loss, last in ((dp.CrossEntropy(), dp.Softmax()), (dp.BinaryCrossEntropy(), dp.Sigmoid()),
                       (dp.CrossEntropy(from_logits=True), dp.Identity()),
                       (dp.BinaryCrossEntropy(from_logits=True), dp.Identity())):
        net = dp.Network([dp.Dense(2, 2), last], seed=0)
        net.layers[0].W.value[...] = np.eye(2) * 10
        value = net.loss_and_gradients(loss, X, y)
        assert math.isfinite(value) and value > 1, (loss, value)
        for p in net.parameters():
            assert p.grad.dtype == np.float32 and np.all(np.isfinite(p.grad)), loss


# -- targets ---------------------------------------------------------------------------------------
def test_class_ids_become_one_hot_rows():
    rows = dp.CrossEntropy().prepare_targets(np.array([2, 0, 1]), 3, np.float32)
    np.testing.assert_array_equal(rows, np.eye(3, dtype=np.float32)[[2, 0, 1]])
    assert rows.dtype == np.float32
    np.testing.assert_array_equal(dp.MeanSquaredError().prepare_targets([1, 0], 2, np.float64), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(dp.BinaryCrossEntropy().prepare_targets([1, 0, 1], 1, np.float64), [[1], [0], [1]])


def test_cross_entropy_refuses_rows_that_do_not_sum_to_one():
    with pytest.raises(dp.DataError, match="sum to 1"):
        dp.CrossEntropy().prepare_targets(np.array([[1.0, 1.0, 0.0]]), 3, np.float64)
    rows = dp.CrossEntropy().prepare_targets(np.array([[0.2, 0.3, 0.5]]), 3, np.float32)
    np.testing.assert_allclose(rows, [[0.2, 0.3, 0.5]])


def test_mse_accepts_real_targets_and_bce_refuses_targets_outside_0_1():
    rows = dp.MeanSquaredError().prepare_targets(np.array([0.25, -3.5]), 1, np.float64)
    np.testing.assert_array_equal(rows, [[0.25], [-3.5]])
    with pytest.raises(dp.DataError, match=r"\[0, 1\]"):
        dp.BinaryCrossEntropy().prepare_targets(np.array([0.5, 2.0]), 1, np.float64)


# -- names and configs -------------------------------------------------------------------------------
def test_loss_names_and_configs_round_trip():
    assert isinstance(loss_from_name("cross_entropy"), dp.CrossEntropy)
    assert isinstance(loss_from_name("mse"), dp.MeanSquaredError)
    assert isinstance(loss_from_name("binary-cross-entropy"), dp.BinaryCrossEntropy)
    for loss in (dp.CrossEntropy(from_logits=True), dp.BinaryCrossEntropy(), dp.MeanSquaredError()):
        again = loss_from_config(loss.config())
        assert type(again) is type(loss) and again.config() == loss.config()
    with pytest.raises(dp.ConfigError, match="unknown loss"):
        loss_from_name("hinge")
    with pytest.raises(dp.ConfigError):
        loss_from_config({"type": "Hinge"})
    with pytest.raises(dp.ConfigError):
        dp.CrossEntropy(from_logits="yes")


def test_cross_entropy_refuses_a_single_output():
    with pytest.raises(dp.ConfigError, match="BinaryCrossEntropy"):
        dp.CrossEntropy().prepare_targets(np.array([0, 1, 1]), 1, np.float32)


def test_mean_squared_error_reports_accuracy_only_for_class_targets():
    rng = np.random.default_rng(0)
    X = rng.random((40, 3))
    net = dp.mlp([3, 4, 1], activation="tanh", output="identity", seed=0)
    h = dp.fit(net, X, X.sum(axis=1), loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.01), epochs=1, seed=0)
    assert h["accuracy"] == [None]
    net = dp.mlp([3, 4, 2], seed=0)
    h = dp.fit(net, X, rng.integers(0, 2, 40), loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.1), epochs=1, seed=0)
    assert h["accuracy"][0] is not None
    loss = dp.MeanSquaredError(classification=False)
    from deltaprop.losses import loss_from_config

    assert loss_from_config(loss.config()).targets_are_classes(np.eye(2)) is False
    with pytest.raises(dp.ConfigError):
        loss_from_config({"type": "MeanSquaredError", "bogus": 1})


# -- per-row values and sample weights ----------------------------------------------------------------
ALL_LOSSES = [dp.CrossEntropy(), dp.CrossEntropy(from_logits=True), dp.BinaryCrossEntropy(),
              dp.BinaryCrossEntropy(from_logits=True), dp.MeanSquaredError()]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=repr)
def test_row_values_are_the_terms_whose_mean_is_the_value(data, loss):
    z, p, ids, soft, bits = data
    a = z if getattr(loss, "from_logits", False) or isinstance(loss, dp.MeanSquaredError) else p
    y = bits if isinstance(loss, dp.BinaryCrossEntropy) else soft
    rows = loss.row_values(a, y)
    assert rows.shape == (N,) and rows.dtype == np.float64
    assert math.isclose(rows.mean(), loss.value(a, y), rel_tol=1e-13)
    for i in range(N):  # each row's term is the loss of that row alone
        assert math.isclose(rows[i], loss.value(a[i : i + 1], y[i : i + 1]), rel_tol=1e-13)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=repr)
def test_a_weight_of_k_counts_a_row_k_times(data, loss):
    z, p, ids, soft, bits = data
    a = z if getattr(loss, "from_logits", False) or isinstance(loss, dp.MeanSquaredError) else p
    y = bits if isinstance(loss, dp.BinaryCrossEntropy) else soft
    w = np.array([3.0, 1.0, 0.0, 2.0, 1.0, 1.0])
    rows = np.repeat(np.arange(N), w.astype(int))  # row 0 three times, row 2 left out, ...
    w_scaled = w / w.mean()  # as fit scales them: (1/n) Σ w_i ℓ_i is then the mean over the repeated rows
    assert math.isclose(loss.value(a, y, w_scaled), loss.value(a[rows], y[rows]), rel_tol=1e-13)
    repeated = np.zeros_like(a)
    np.add.at(repeated, rows, loss.gradient(a[rows], y[rows]))
    np.testing.assert_allclose(loss.gradient(a, y, w_scaled), repeated, rtol=1e-12, atol=1e-15)
    assert loss_gradient_error(_Weighted(loss, w_scaled), a.copy(), y) < 1e-7


class _Weighted:
    """``loss`` with fixed row weights, for the central-difference check."""

    def __init__(self, loss, w):
        self.loss, self.w = loss, w

    def value(self, a, y):
        return self.loss.value(a, y, self.w)

    def gradient(self, a, y):
        return self.loss.gradient(a, y, self.w)


@pytest.mark.parametrize(("loss", "last"), [(dp.CrossEntropy(), dp.Softmax()), (dp.BinaryCrossEntropy(), dp.Sigmoid())])
def test_the_fused_delta_is_weighted_like_the_gradient(data, loss, last):
    z, p, ids, soft, bits = data
    y = soft if isinstance(last, dp.Softmax) else bits
    a = p if isinstance(last, dp.Softmax) else 1 / (1 + np.exp(-z))
    w = np.linspace(0.5, 1.5, N)
    np.testing.assert_allclose(loss.fused_delta(last, a, y, w), (a - y) / N * w[:, None], rtol=1e-12)
    assert loss.fused_delta(last, a, y) is not None


def test_fit_with_sample_weights_equals_fit_on_repeated_rows():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = rng.integers(0, 3, 12)
    w = rng.integers(0, 4, 12).astype(float)
    w[0] = 2
    rows = np.repeat(np.arange(12), w.astype(int))
    weighted, repeated = dp.mlp([3, 5, 3], seed=0, dtype="float64"), dp.mlp([3, 5, 3], seed=0, dtype="float64")
    h = dp.fit(weighted, X, y, sample_weight=w, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=5,
               batch_size=None)
    h2 = dp.fit(repeated, X[rows], y[rows], loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=5, batch_size=None)
    for p, q in zip(weighted.parameters(), repeated.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12)
    np.testing.assert_allclose(h["loss"], h2["loss"], rtol=1e-12)


def test_fit_with_sample_weights_in_mini_batches_keeps_float32_and_counts_accuracy_per_row():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    net = dp.mlp([3, 5, 3], seed=0)
    ones = dp.mlp([3, 5, 3], seed=0)
    h = dp.fit(net, X, y, sample_weight=np.full(40, 7.0), loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.01),
               epochs=2, batch_size=8, seed=0)
    h1 = dp.fit(ones, X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.01), epochs=2, batch_size=8, seed=0)
    for p, q in zip(net.parameters(), ones.parameters()):  # equal weights are no weights
        assert p.value.dtype == np.float32
        np.testing.assert_array_equal(p.value, q.value)
    assert h["accuracy"] == h1["accuracy"]


@pytest.mark.parametrize(
    ("weights", "error", "message"),
    [
        (np.ones(5), dp.ShapeError, r"one weight per row, shape \(12,\)"),
        (-np.ones(12), dp.DataError, "finite numbers >= 0"),
        (np.full(12, np.nan), dp.DataError, "finite numbers >= 0"),
        (np.zeros(12), dp.DataError, "0 everywhere"),
        (["a"] * 12, dp.DataError, "must be numbers"),
    ],
)
def test_bad_sample_weights_are_refused(weights, error, message):
    X = np.zeros((12, 3))
    with pytest.raises(error, match=message):
        dp.fit(dp.mlp([3, 2], seed=0), X, np.zeros(12, int), sample_weight=weights, loss=dp.CrossEntropy(),
               optimizer=dp.SGD(lr=0.1), epochs=1)


def _net(*last):
    return dp.Network([dp.Dense(2, 3), *last], seed=0, dtype="float64")


@pytest.mark.parametrize(("last", "loss", "match"), [
    ((), dp.CrossEntropy(), "needs probabilities from a Softmax output layer, but the network ends in Dense"),
    ((dp.Sigmoid(),), dp.CrossEntropy(), "ends in Sigmoid"),
    ((dp.Softmax(),), dp.CrossEntropy(from_logits=True), "already ends in Softmax"),
    ((dp.Sigmoid(),), dp.BinaryCrossEntropy(from_logits=True), "already ends in Sigmoid"),
    ((dp.Identity(),), dp.BinaryCrossEntropy(), "needs probabilities from a Sigmoid output layer"),
])
def test_fit_and_evaluate_refuse_a_likelihood_loss_on_the_wrong_output(last, loss, match):
    # CrossEntropy on raw outputs is no likelihood: it trained to a loss of -13 before this check
    net = _net(*last)
    X, y = np.zeros((4, 2)), np.array([0, 1, 2, 0])
    with pytest.raises(dp.ConfigError, match=match):
        dp.fit(net, X, y, loss=loss, optimizer=dp.SGD(0.1), epochs=1, diagnostics=False)
    with pytest.raises(dp.ConfigError, match=match):
        dp.evaluate(net, X, y, loss=loss)


@pytest.mark.parametrize(("last", "loss"), [
    ((dp.Softmax(),), dp.CrossEntropy()), ((), dp.CrossEntropy(from_logits=True)),
    ((dp.Sigmoid(),), dp.BinaryCrossEntropy()), ((), dp.BinaryCrossEntropy(from_logits=True)),
    ((dp.Softmax(), dp.Dropout(0.0)), dp.CrossEntropy()), ((dp.Tanh(),), dp.MeanSquaredError()),
])
def test_the_pairs_that_fit_train(last, loss):
    y = np.array([[1, 0, 0], [0, 1, 0]], dtype=float)
    dp.fit(_net(*last), np.zeros((2, 2)), y, loss=loss, optimizer=dp.SGD(0.1), epochs=1, diagnostics=False)


def test_a_single_logit_predicts_class_1_from_0():
    # σ(z) ≥ ½ exactly when z ≥ 0: accuracy on logits must threshold at 0, not at 0.5
    net = dp.Network([dp.Dense(1, 1)], seed=0, dtype="float64")
    net.layers[0].W.value[...] = 1.0
    net.layers[0].b.value[...] = 0.0
    X, y = np.array([[0.3], [-0.3], [0.2], [0.45]]), np.array([1, 0, 1, 1])
    loss = dp.BinaryCrossEntropy(from_logits=True)
    assert dp.evaluate(net, X, y, loss=loss)["accuracy"] == 1.0
    history = dp.fit(net, X, y, loss=loss, optimizer=dp.SGD(1e-12), epochs=1, diagnostics=False)
    assert history["accuracy"] == [1.0]
    np.testing.assert_array_equal(net.predict(X, threshold=0.0), y)


def test_rows_of_several_binary_labels_get_no_argmax_accuracy():
    # every row has label 0 on and the network says off: an argmax "accuracy" called that 1.0
    net = dp.Network([dp.Dense(2, 3), dp.Sigmoid()], seed=0, dtype="float64")
    net.layers[0].W.value[...] = 0.0
    net.layers[0].b.value[...] = np.log(np.array([0.4, 0.1, 0.1]) / (1 - np.array([0.4, 0.1, 0.1])))
    X = np.zeros((4, 2))
    Y = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1]], dtype=float)
    assert dp.evaluate(net, X, Y, loss=dp.BinaryCrossEntropy())["accuracy"] is None
    # one-hot rows are still one class a row (of a network not fitted on multi-label rows)
    one_hot = np.eye(3)[[0, 1, 2, 0]]
    assert dp.evaluate(net, X, one_hot, loss=dp.BinaryCrossEntropy())["accuracy"] == 0.5
    history = dp.fit(net, X, Y, loss=dp.BinaryCrossEntropy(), optimizer=dp.SGD(1e-12), epochs=1, diagnostics=False)
    assert history["accuracy"] == [None]


def test_whole_number_regression_targets_train_when_the_loss_says_regression():
    X = np.linspace(0, 1, 20).reshape(-1, 1)
    ages = np.arange(20, 40)  # int64: ages, counts
    net = dp.Network([dp.Dense(1, 4), dp.Tanh(), dp.Dense(4, 1)], seed=0, dtype="float64")
    history = dp.fit(net, X, ages, loss=dp.MeanSquaredError(classification=False), optimizer=dp.SGD(0.01),
                     epochs=2, diagnostics=False)
    assert history["accuracy"] == [None, None] and np.isfinite(history["loss"]).all()
    with pytest.raises(dp.DataError, match="MeanSquaredError\\(classification=False\\)"):
        dp.fit(net, X, ages, loss=dp.MeanSquaredError(), optimizer=dp.SGD(0.01), epochs=1, diagnostics=False)


@pytest.mark.parametrize("from_logits", [False, True])
def test_soft_targets_a_rounding_away_from_sum_1_get_the_gradient_of_the_reported_loss(from_logits):
    # soft labels printed to 4 decimals sum to 1 ± 2e-4: (a − y)/n is the gradient only where Σy = 1
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 5))
    Y = np.round(rng.dirichlet(np.ones(10), 16), 4)
    assert np.abs(Y.sum(axis=1) - 1).max() > 1e-5
    net = dp.mlp([5, 4, 10], activation="tanh", output="identity" if from_logits else "softmax", seed=0, dtype="float64")
    report = dp.gradcheck(net, dp.CrossEntropy(from_logits=from_logits), X, Y, max_entries=None)
    assert report.passed and report.max_relative_error < 1e-6
    rows = dp.CrossEntropy().prepare_targets(Y, 10, np.float64)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(rows, Y, rtol=3e-4)
    assert np.abs(Y.sum(axis=1) - 1).max() > 1e-5  # the caller's array is untouched


def test_a_label_too_large_for_an_integer_is_named_as_given():
    # 1e20 was cast first: "class label -9223372036854775808 is out of range" and a RuntimeWarning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(dp.DataError, match=r"class label 1e\+20 is out of range"):
            dp.CrossEntropy().prepare_targets(np.array([0.0, 1e20]), 3, np.float32)


@pytest.mark.parametrize(("last", "loss"), [
    ((dp.Softmax(), dp.Dropout(0.1)), dp.CrossEntropy()),
    ((dp.Dropout(0.5),), dp.CrossEntropy(from_logits=True)),
    ((dp.Tanh(), dp.Dropout(0.2), dp.Dropout(0.0)), dp.MeanSquaredError()),
])
def test_dropout_after_the_output_layer_is_refused_in_training_but_not_at_inference(last, loss):
    """A Dropout after the output drops what the loss compares (a dropped probability reads
    as log 0): fit refuses it naming the layer; evaluate and predict, where it is the
    identity, take the network."""
    y = np.array([[1, 0, 0], [0, 1, 0]], dtype=float)
    net = _net(*last)
    with pytest.raises(dp.ConfigError, match=r"layer \d \(Dropout\(rate=0\.\d\)\) comes after the output layer"):
        dp.fit(net, np.zeros((2, 2)), y, loss=loss, optimizer=dp.SGD(0.1), epochs=1, diagnostics=False)
    assert np.isfinite(dp.evaluate(net, np.zeros((2, 2)), y, loss=loss)["loss"])
