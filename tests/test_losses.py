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
