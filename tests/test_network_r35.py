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
