"""NeuralNetRegressor as a drop-in MLPRegressor: L-BFGS on float32 input with targets far
from 0, and bounded output units with targets they cannot produce."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the sklearn extra is not installed")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from deltaprop.errors import ConfigError, DataError  # noqa: E402
from deltaprop.sklearn import NeuralNetRegressor  # noqa: E402


def _offset_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    return X, X.astype(np.float64) @ np.array([1.0, 2.0, 3.0]) + 1e5


def test_lbfgs_on_float32_input_fits_targets_far_from_zero_as_float64_does():
    """Rounding each L-BFGS iterate to float32 made small steps leave the objective unchanged,
    which L-BFGS-B took for convergence: R² -1.04, no warning (float64 input: R² 1.0)."""
    X, y = _offset_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # the old run stopped "converged"
        f32 = NeuralNetRegressor(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0).fit(X, y)
        f64 = NeuralNetRegressor(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0, dtype="float64").fit(X, y)
    assert f32.net_.dtype == np.float32 and f32.predict(X).dtype == np.float32  # dtype kept
    assert f64.score(X, y) > 0.999
    assert f32.score(X, y) > 0.999
    assert f32.loss_ == pytest.approx(f64.loss_, rel=1e-3)


def test_lbfgs_on_float32_input_hands_its_weights_back_to_the_fitted_network():
    """The float64 copy L-BFGS works on is handed back: the estimator's network is the same
    float32 object, with the optimised weights, and a warm start goes on from them."""
    X, y = _offset_data()
    est = NeuralNetRegressor(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        net = est.net_
        first = [c.copy() for c in est.coefs_]
        first_loss = est.loss_
        est.set_params(warm_start=True).fit(X, y)
    assert est.net_ is net and est.net_.dtype == np.float32
    assert any(not np.array_equal(a, b) for a, b in zip(first, est.coefs_))
    assert len(est.loss_curve_) == 40 and est.loss_ < first_loss


@pytest.mark.parametrize(
    "output, bad",
    [("sigmoid", 1.5), ("logistic", -0.25), ("tanh", 2.0), ("tanh", -3.0), ("relu", -1.0)],
)
def test_bounded_output_refuses_targets_it_cannot_produce(output, bad):
    """A sigmoid output with targets in the tens trained to a near-constant (R² 0.002) and
    returned without a word; now fit says which range the output covers and what to do."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = np.full(30, 0.5)
    y[7] = bad
    est = NeuralNetRegressor(hidden_layer_sizes=(3,), output=output, max_iter=2, random_state=0)
    with pytest.raises(DataError, match=r"outside .*output=.*MinMaxScaler"):
        est.fit(X, y)
    with pytest.raises(DataError, match="outside"):
        est.partial_fit(X, y)


def test_bounded_output_refuses_bad_targets_in_a_later_partial_fit_and_in_one_column():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    Y = rng.uniform(0, 1, size=(30, 2))
    est = NeuralNetRegressor(hidden_layer_sizes=(3,), output="sigmoid", random_state=0)
    est.partial_fit(X, Y)
    Y[3, 1] = 4.0
    with pytest.raises(DataError, match="4"):
        est.partial_fit(X, Y)


@pytest.mark.parametrize("output, low, high", [("sigmoid", 0.0, 1.0), ("tanh", -1.0, 1.0), ("relu", 0.0, 50.0)])
def test_bounded_output_accepts_targets_on_its_range_bounds(output, low, high):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    y = rng.uniform(low, high, size=30)
    y[0], y[1] = low, high
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetRegressor(hidden_layer_sizes=(3,), output=output, max_iter=3, random_state=0).fit(X, y)
    assert est.predict(X).shape == (30,)


@pytest.mark.parametrize("sizes", [(5.0,), (8, 2.5), ("5",), (True,)])
def test_hidden_layer_sizes_that_are_not_whole_numbers_are_named_as_such(sizes):
    """(5.0,) was refused with "must be > 0, got [5.0]", which 5.0 is."""
    est = NeuralNetRegressor(hidden_layer_sizes=sizes, max_iter=1)
    with pytest.raises(ConfigError, match=r"whole numbers.*as an int"):
        est.fit(np.zeros((6, 2)), np.arange(6.0))


def test_hidden_layer_sizes_of_zero_keeps_scikit_learns_message():
    with pytest.raises(ConfigError, match=r"hidden_layer_sizes must be > 0, got \[0\]"):
        NeuralNetRegressor(hidden_layer_sizes=(0,), max_iter=1).fit(np.zeros((6, 2)), np.arange(6.0))


@pytest.mark.parametrize("first", [(16,), [8, 4], 16])
def test_layer_widths_passed_positionally_to_the_regressor_say_where_they_belong(first):
    """NeuralNetClassifier((16,)) is the classifier's widths; NeuralNetRegressor((16,)) is its
    loss (MLPRegressor's order), and was refused as 'deltaprop has no Poisson loss'."""
    with pytest.raises(ConfigError, match=r"first positional parameter is loss.*hidden_layer_sizes="):
        NeuralNetRegressor(first).fit(np.zeros((6, 2)), np.arange(6.0))


def test_an_unknown_loss_name_still_names_the_squared_error():
    with pytest.raises(ConfigError, match="squared_error.*Poisson"):
        NeuralNetRegressor("poisson").fit(np.zeros((6, 2)), np.arange(6.0))
