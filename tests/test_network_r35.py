"""Network.predict of a regressor: its values, not class ids made of them."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError
from deltaprop.serialization import read_model


def _regressor(n_outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(64, 3))
    y = X @ rng.normal(size=(3, n_outputs)) + 3.0
    net = dp.mlp([3, 8, n_outputs], activation="tanh", output="identity", seed=seed)
    dp.fit(net, X, y if n_outputs > 1 else y[:, 0], loss=dp.MeanSquaredError(classification=False),
           optimizer=dp.SGD(lr=0.01), epochs=3, batch_size=16, seed=seed)
    return net, X


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_predict_of_a_fitted_regressor_returns_its_values(n_outputs):
    """predict answered a ≥ 0.5 (one output) or the argmax of the outputs (two): class ids
    0 and 1 for values around 3, with no word that they were not the predictions."""
    net, X = _regressor(n_outputs)
    assert net.gives_values
    values = net.predict(X)
    np.testing.assert_array_equal(values, net.predict_proba(X))
    assert values.shape == (len(X), n_outputs) and values.dtype == net.dtype
    assert not np.all(np.isin(values, [0, 1]))  # not class ids
    with pytest.raises(ConfigError, match="regressor.*leave threshold out"):
        net.predict(X, threshold=0.5)


def test_a_saved_and_loaded_regressor_still_predicts_its_values(tmp_path):
    """dp.save of a fitted regressor recorded nothing of its targets: dp.load(...).predict
    gave class ids, and deltaprop predict called its values scores."""
    net, X = _regressor()
    path = dp.save(net, tmp_path / "reg.safetensors")
    assert read_model(path).outputs == "values"
    back = dp.load(path)
    assert back.gives_values
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    np.testing.assert_array_equal(net.copy().predict(X), net.predict(X))


def test_a_file_saved_with_a_values_loss_predicts_values(tmp_path):
    net = dp.mlp([3, 4, 1], output="identity", seed=1)
    X = np.random.default_rng(1).normal(size=(5, 3))
    back = dp.load(dp.save(net, tmp_path / "m.safetensors", loss=dp.MeanSquaredError(classification=False)))
    np.testing.assert_array_equal(back.predict(X), net.predict_proba(X))


def test_classifiers_still_predict_class_ids():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    for output, loss in (("identity", dp.MeanSquaredError()), ("sigmoid", dp.BinaryCrossEntropy())):
        net = dp.mlp([3, 4, 1], output=output, seed=2)
        dp.fit(net, X, y, loss=loss, optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=8, seed=0)
        assert not net.gives_values
        assert set(np.unique(net.predict(X))) <= {0, 1} and net.predict(X).shape == (40,)


# -- float32 Sigmoid in its negative tail -------------------------------------------------------------
def _sigmoid_outputs(biases, dtype="float32"):
    net = dp.Network([dp.Dense(1, len(biases)), dp.Sigmoid()], seed=0, dtype=dtype)
    net.layers[0].W.value[...] = 0
    net.layers[0].b.value[...] = biases
    return net


def test_float32_sigmoid_of_minus_20_is_its_value_not_zero():
    """½(1 + tanh(z/2)) rounds to exactly 0 below z ≈ −17 in float32, where σ(−20) = 2.1e-9
    is representable: predict_proba answered probability 0."""
    z = np.array([-9.0, -12.0, -17.0, -20.0, -25.0, -33.0])
    a = _sigmoid_outputs(z).predict_proba(np.zeros((1, 1)))[0]
    np.testing.assert_allclose(a, 1.0 / (1.0 + np.exp(-z)), rtol=1e-6)
    assert np.all(a > 0) and np.all(np.diff(a) < 0)


def test_the_argmax_of_several_tiny_sigmoid_outputs_is_the_largest():
    """One sigmoid unit a class, every z below −17 (an input far from every class): all
    outputs were 0 and predict said class 0, where class 1's σ(−20) is the largest."""
    net = _sigmoid_outputs([-25.0, -20.0, -30.0])
    assert net.predict(np.zeros((1, 1)))[0] == 1
    assert net.predict(np.zeros((1, 1)))[0] == _sigmoid_outputs([-25.0, -20.0, -30.0], "float64").predict(
        np.zeros((1, 1)))[0]


def test_float64_sigmoid_and_training_forwards_keep_their_one_form_and_the_tail_raises_nothing():
    """The accurate tail is the answers' (inference): float64, and every training forward,
    keep ½(1 + tanh(z/2)) bit for bit, so runs keep their trajectories."""
    z = np.linspace(-45, 45, 181)
    a64 = _sigmoid_outputs(z, "float64").predict_proba(np.zeros((1, 1)))[0]
    np.testing.assert_array_equal(a64, 0.5 * (1.0 + np.tanh(z / 2)))
    net = _sigmoid_outputs(z)
    trained = net.forward(np.zeros((1, 1)), train=True)[0]
    np.testing.assert_array_equal(trained, (0.5 * (1 + np.tanh(z.astype(np.float32) / 2))).astype(np.float32))
    net = _sigmoid_outputs([-200.0, -40.0, -33.0, -20.0, 0.0])
    with np.errstate(all="raise"):  # no underflow in the tail: below z ≈ −33.7 the output is 0
        a = net.predict_proba(np.zeros((3, 1)))
        dp.MeanSquaredError()(a, np.zeros((3, 5)))
        net.loss_and_gradients(dp.MeanSquaredError(), np.zeros((3, 1)), np.zeros((3, 5)))
    assert np.all(a[:, :2] == 0) and np.all(a[:, 2:4] > 0) and a[0, 4] == 0.5


def test_same_seed_float32_runs_with_saturated_sigmoids_are_identical():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(64, 5)) * 10, rng.integers(0, 3, 64)  # hidden z far into both tails

    def run():
        net = dp.mlp([5, 16, 3], activation="sigmoid", seed=4)
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=2, batch_size=16, seed=5)
        return np.concatenate([p.value.ravel() for p in net.parameters()])

    first, second = run(), run()
    assert first.dtype == np.float32 and first.tobytes() == second.tobytes()
