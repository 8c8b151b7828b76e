"""Layers: forward values against their definitions, backward against central differences,
dtype preservation, numerical stability, initialisers and configs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.layers import LAYERS, layer_from_config

N, WIDTH = 7, 5


def built(layer, n_in=WIDTH, dtype=np.float64, seed=0):
    layer.build(n_in, np.dtype(dtype), np.random.default_rng(seed))
    return layer


def away_from_zero(rng, shape, margin=0.1):
    """Inputs at least ``margin`` from 0, so finite differences never straddle a ReLU kink."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (margin + np.abs(x))


def input_gradient_error(layer, x, *, h=1e-6, train=False) -> float:
    """Relative error of ``layer.backward(g)`` against central differences of ``⟨g, f(x)⟩``."""
    rng = np.random.default_rng(1)
    out = layer.forward(x, train=train)
    g = rng.standard_normal(out.shape)
    analytic = layer.backward(g).copy()
    numeric = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = float(np.sum(g * layer.forward(x, train=train)))
        x[idx] = old - h
        minus = float(np.sum(g * layer.forward(x, train=train)))
        x[idx] = old
        numeric[idx] = (plus - minus) / (2 * h)
    return float(np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric)))


ACTIVATION_LAYERS = [
    ("Sigmoid", lambda: dp.Sigmoid()),
    ("Tanh", lambda: dp.Tanh()),
    ("ReLU", lambda: dp.ReLU()),
    ("LeakyReLU", lambda: dp.LeakyReLU(0.1)),
    ("Identity", lambda: dp.Identity()),
    ("Softmax", lambda: dp.Softmax()),
]


# -- forward values against the definitions -------------------------------------------------
def test_activation_forward_matches_definitions():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((N, WIDTH)) * 3
    expected = {
        "Sigmoid": 1.0 / (1.0 + np.exp(-z)),
        "Tanh": np.tanh(z),
        "ReLU": np.where(z > 0, z, 0.0),
        "LeakyReLU": np.where(z > 0, z, 0.1 * z),
        "Identity": z,
        "Softmax": np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
    }
    for name, make in ACTIVATION_LAYERS:
        out = built(make()).forward(z.copy())
        np.testing.assert_allclose(out, expected[name], rtol=1e-12, atol=1e-15, err_msg=name)


def test_dense_forward_is_xW_plus_b_and_backward_is_the_three_products():
    rng = np.random.default_rng(0)
    layer = built(dp.Dense(WIDTH, 3))
    layer.b.value[...] = rng.standard_normal(3)
    x = rng.standard_normal((N, WIDTH))
    np.testing.assert_allclose(layer.forward(x), x @ layer.W.value + layer.b.value, rtol=1e-13)
    delta = rng.standard_normal((N, 3))
    dx = layer.backward(delta)
    np.testing.assert_allclose(layer.W.grad, x.T @ delta, rtol=1e-13)
    np.testing.assert_allclose(layer.b.grad, delta.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(dx, delta @ layer.W.value.T, rtol=1e-13)
    assert layer.W.value.shape == (WIDTH, 3) and layer.b.value.shape == (3,)


def test_backward_overwrites_gradients_instead_of_accumulating():
    rng = np.random.default_rng(0)
    layer = built(dp.Dense(WIDTH, 3))
    x, delta = rng.standard_normal((N, WIDTH)), rng.standard_normal((N, 3))
    layer.forward(x)
    layer.backward(delta)
    layer.forward(x)
    layer.backward(delta)
    np.testing.assert_allclose(layer.W.grad, x.T @ delta, rtol=1e-13)


def test_softmax_rows_sum_to_one_and_ignore_a_shift():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((N, WIDTH)) * 5
    layer = built(dp.Softmax())
    a = layer.forward(z).copy()
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(layer.forward(z + 123.0), a, rtol=1e-12)


# -- backward against central differences -----------------------------------------------------
@pytest.mark.parametrize(("name", "make"), ACTIVATION_LAYERS, ids=[n for n, _ in ACTIVATION_LAYERS])
def test_activation_input_gradient_matches_central_differences(name, make):
    x = away_from_zero(np.random.default_rng(2), (N, WIDTH))
    assert input_gradient_error(built(make()), x) < 1e-7


def test_dense_input_and_parameter_gradients_match_central_differences():
    rng = np.random.default_rng(3)
    layer = built(dp.Dense(WIDTH, 4))
    layer.b.value[...] = rng.standard_normal(4)
    x = rng.standard_normal((N, WIDTH))
    assert input_gradient_error(layer, x) < 1e-7
    # parameters, through a whole network: dp.gradcheck
    net = dp.Network([dp.Dense(WIDTH, 4)], seed=0, dtype="float64")
    report = dp.gradcheck(net, dp.MeanSquaredError(), x, rng.standard_normal((N, 4)), max_entries=None)
    assert report.max_relative_error < 1e-6, report.table()


def test_dropout_gradient_with_a_fixed_mask():
    layer = built(dp.Dropout(0.4))
    x = np.random.default_rng(4).standard_normal((N, WIDTH))
    layer.forward(x, train=True)
    mask = layer._mask.copy()
    layer.freeze_mask = True
    assert input_gradient_error(layer, x, train=True) < 1e-7
    np.testing.assert_array_equal(layer._mask, mask)
    np.testing.assert_allclose(layer.forward(x, train=True), x * mask / 0.6, rtol=1e-14)


# -- dropout ------------------------------------------------------------------------------------
def test_dropout_is_identity_at_inference_and_inverted_in_training():
    rate = 0.3
    layer = built(dp.Dropout(rate), n_in=200)
    x = np.ones((500, 200))
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    np.testing.assert_array_equal(layer.backward(np.full_like(x, 2.0)), 2.0)
    out = layer.forward(x, train=True)
    mask = layer._mask
    assert mask.dtype == np.bool_  # an int mask would promote float32 to float64
    np.testing.assert_allclose(out[mask], 1.0 / (1.0 - rate), rtol=1e-14)
    assert np.all(out[~mask] == 0)
    assert abs(np.mean(~mask) - rate) < 0.01  # 100 000 draws: the standard error is 0.0015
    assert abs(out.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation
    g = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(g, out)  # same mask, same scale


def test_dropout_draws_a_new_mask_every_step_from_the_network_rng():
    net = dp.Network([dp.Dense(4, 50), dp.Dropout(0.5)], seed=0, dtype="float64")
    x = np.ones((10, 4))
    first = net.forward(x, train=True)
    second = net.forward(x, train=True)
    assert not np.array_equal(first == 0, second == 0)
    again = dp.Network([dp.Dense(4, 50), dp.Dropout(0.5)], seed=0, dtype="float64")
    np.testing.assert_array_equal(again.forward(x, train=True), first)


def test_dropout_rate_zero_is_identity_even_in_training():
    layer = built(dp.Dropout(0.0))
    x = np.random.default_rng(0).standard_normal((N, WIDTH))
    np.testing.assert_array_equal(layer.forward(x, train=True), x)


# -- dtype --------------------------------------------------------------------------------------
ALL_LAYERS = [*ACTIVATION_LAYERS, ("Dense", lambda: dp.Dense(WIDTH, WIDTH)), ("Dropout", lambda: dp.Dropout(0.5))]


@pytest.mark.parametrize(("name", "make"), ALL_LAYERS, ids=[n for n, _ in ALL_LAYERS])
def test_float32_stays_float32_through_forward_and_backward(name, make):
    layer = built(make(), dtype=np.float32)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, WIDTH)).astype(np.float32)
    out = layer.forward(x, train=True)
    grad = layer.backward(rng.standard_normal(out.shape).astype(np.float32))
    assert out.dtype == np.float32 and grad.dtype == np.float32
    for p in layer.parameters():
        assert p.value.dtype == np.float32 and p.grad.dtype == np.float32


def test_numpy_float64_hyperparameters_do_not_promote_float32():
    # Under NumPy 2, float32_array * np.float64(0.1) is float64: the layers must cast once.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, WIDTH)).astype(np.float32)
    for layer in (dp.LeakyReLU(np.float64(0.2)), dp.Dropout(np.float64(0.25))):
        built(layer, dtype=np.float32)
        out = layer.forward(x, train=True)
        assert out.dtype == np.float32
        assert layer.backward(np.ones_like(out)).dtype == np.float32
        assert type(layer.config()[next(k for k in layer.config() if k != "type")]) is float


# -- numerical stability (np.errstate(all="raise") is on: see conftest) -------------------------
def test_softmax_of_large_logits_is_finite_in_float32():
    layer = built(dp.Softmax(), n_in=2, dtype=np.float32)
    a = layer.forward(np.array([[1000.0, 0.0], [0.0, 1000.0], [-1000.0, -1000.0]], np.float32))
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, [[1, 0], [0, 1], [0.5, 0.5]], atol=1e-7)
    g = layer.backward(np.ones_like(a))
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, 0.0, atol=1e-7)  # softmax is invariant to a shift


def test_sigmoid_of_minus_100_is_finite_in_float32():
    layer = built(dp.Sigmoid(), n_in=3, dtype=np.float32)
    a = layer.forward(np.array([[-100.0, 100.0, 0.0]], np.float32))
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, [[0.0, 1.0, 0.5]], atol=1e-7)
    g = layer.backward(np.ones_like(a))
    np.testing.assert_allclose(g, [[0.0, 0.0, 0.25]], atol=1e-7)


def test_tanh_and_relu_of_extreme_inputs_are_finite_in_float32():
    x = np.array([[-1e30, 1e30, 0.0]], np.float32)
    for layer in (dp.Tanh(), dp.ReLU(), dp.LeakyReLU(0.01)):
        out = built(layer, n_in=3, dtype=np.float32).forward(x)
        assert np.all(np.isfinite(out)), layer


# -- initialisers -------------------------------------------------------------------------------
def test_zero_init_warns_about_symmetry():
    with pytest.warns(UserWarning, match="symmetry"):
        net = dp.Network([dp.Dense(4, 3, init="zeros"), dp.Sigmoid(), dp.Dense(3, 2)], seed=0)
    assert np.all(net.parameters()[0].value == 0)


def test_he_normal_has_std_sqrt_2_over_fan_in():
    n_in, n_out = 400, 500
    W = built(dp.Dense(n_in, n_out, init="he_normal"), n_in=n_in, dtype=np.float64).W.value
    # 200 000 draws: the sample std is within 1% of sigma with overwhelming probability.
    assert abs(W.std() / math.sqrt(2.0 / n_in) - 1.0) < 0.01
    assert abs(W.mean()) < 0.01 * math.sqrt(2.0 / n_in) * 5


def test_glorot_uniform_bounds_and_scaled_normal_std():
    n_in, n_out = 300, 200
    W = built(dp.Dense(n_in, n_out), n_in=n_in, dtype=np.float64).W.value
    limit = math.sqrt(6.0 / (n_in + n_out))
    assert W.min() >= -limit and W.max() <= limit
    assert abs(W.std() / (limit / math.sqrt(3.0)) - 1.0) < 0.02  # U(-r, r) has std r/√3
    W = built(dp.Dense(n_in, n_out, init="scaled_normal"), n_in=n_in, dtype=np.float64).W.value
    assert abs(W.std() / 0.1 - 1.0) < 0.02


def test_biases_start_at_zero_and_callable_inits_are_used():
    def ones(rng, n_in, n_out, dtype):
        return np.ones((n_in, n_out), dtype)

    layer = built(dp.Dense(3, 2, init=ones), n_in=3)
    np.testing.assert_array_equal(layer.W.value, 1.0)
    np.testing.assert_array_equal(layer.b.value, 0.0)


def test_unknown_initialiser_is_a_config_error():
    with pytest.raises(dp.ConfigError, match="unknown initialiser"):
        dp.Dense(3, 2, init="orthogonal")


# -- construction and configs -------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: dp.Dense(0, 3),
        lambda: dp.Dense(3, -1),
        lambda: dp.Dense(2.5, 3),
        lambda: dp.Dense(True, 3),
        lambda: dp.LeakyReLU(1.0),
        lambda: dp.LeakyReLU(-0.1),
        lambda: dp.Dropout(1.0),
        lambda: dp.Dropout(-0.1),
        lambda: dp.Dropout("0.5"),
    ],
)
def test_bad_layer_settings_are_config_errors(make):
    with pytest.raises(dp.ConfigError):
        make()


def test_numpy_scalars_are_accepted_as_settings():
    assert dp.Dropout(np.float32(0.5)).rate == 0.5 and type(dp.Dropout(np.float32(0.5)).rate) is float
    assert dp.LeakyReLU(np.float32(0.25)).slope == 0.25
    assert dp.Dense(np.int64(3), np.int32(2)).config()["n_in"] == 3


def test_every_layer_type_round_trips_through_its_config():
    layers = [dp.Dense(3, 4, init="he_normal"), dp.Sigmoid(), dp.Tanh(), dp.ReLU(), dp.LeakyReLU(0.2),
              dp.Identity(), dp.Softmax(), dp.Dropout(0.3), dp.Rescaling(1 / 255),
              dp.Standardization([1.0, 2.0, 3.0], [0.5])]
    assert {type(layer).type_name for layer in layers} == set(LAYERS)
    for layer in layers:
        again = layer_from_config(layer.config())
        assert type(again) is type(layer) and again.config() == layer.config()


def test_layer_from_config_refuses_unknown_types_and_bad_settings():
    with pytest.raises(dp.ConfigError, match="unknown layer type"):
        layer_from_config({"type": "os.system"})
    with pytest.raises(dp.ConfigError):
        layer_from_config({"type": "Dense", "n_in": 3})
    with pytest.raises(dp.ConfigError):
        layer_from_config(["Dense"])


def test_core_tests_run_with_floating_point_errors_raised():
    assert set(np.geterr().values()) == {"raise"}
    with pytest.raises(FloatingPointError):
        np.array([1e30], np.float32) * np.float32(1e30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_in_training_gives_the_bits_of_np_maximum_with_zero(dtype):
    """Training's ReLU compares against kept zeros (NumPy's fast loop); it must give what
    ``np.maximum(z, 0.0)`` gives, NaN, ±0, ±inf and subnormals included, batch after batch."""
    rng = np.random.default_rng(3)
    layer = dp.ReLU()
    layer.build(7, np.dtype(dtype), rng)
    tiny = np.finfo(dtype).smallest_subnormal
    with dp.kernels.use("numpy"):
        for rows in (5, 5, 3):
            z = rng.standard_normal((rows, 7)).astype(dtype)
            z[0] = [0.0, -0.0, np.inf, -np.inf, np.nan, tiny, -tiny]
            z[1, :2] = [-np.nan, 1.0]
            want = np.maximum(z, 0.0)
            for train in (True, False):
                a = layer.forward(z, train=train)
                assert a.dtype == dtype
                np.testing.assert_array_equal(a.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_in_training_gives_the_bits_of_the_row_wise_maximum_form(dtype):
    """Training's softmax finds each row's max by argmax and one gather (faster than a
    row-wise reduction over few columns); the probabilities must be the same bits, rows
    with NaN, ±inf, signed zeros and tied maxima included."""
    from deltaprop.layers import softmax_rows

    rng = np.random.default_rng(5)
    z = (rng.standard_normal((96, 10)) * 20).astype(dtype)
    z[0] = np.nan
    z[1, 3] = np.nan
    z[2] = [-0.0, 0.0] * 5
    z[3] = [0.0, -0.0] * 5
    z[4, [2, 7]] = 50.0
    z[5, 0], z[6, 9], z[7] = np.inf, -np.inf, -np.inf
    layer = dp.Softmax()
    layer.build(10, np.dtype(dtype), rng)
    with dp.kernels.use("numpy"), np.errstate(invalid="ignore"):
        want = softmax_rows(z, np.empty_like(z), np.empty((96, 1), dtype))  # np.maximum.reduce per row
        for rows in (96, 64, 96):
            got = layer.forward(z[:rows], train=True)
            np.testing.assert_array_equal(got.view(np.uint8), want[:rows].view(np.uint8))
