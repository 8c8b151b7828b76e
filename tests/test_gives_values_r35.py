"""Whether predict gives values or classes is decided by what fit trained on, once."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(48, 3))
    return X, 3.0 + X[:, 0] + 0.5 * X[:, 1]


def test_a_squared_error_fit_on_real_targets_predicts_values():
    """MeanSquaredError() decides from the targets: real values are a regression, and
    predict gave class ids (a >= 0.5) for them."""
    X, y = _data()
    net = dp.mlp([3, 6, 1], activation="tanh", output="identity", seed=0)
    dp.fit(net, X, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.01), epochs=3, batch_size=16, seed=0)
    assert net.gives_values
    np.testing.assert_array_equal(net.predict(X), net.predict_proba(X))


def test_a_gradient_check_with_a_values_loss_leaves_a_classifier_a_classifier():
    X, _ = _data()
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.mlp([3, 4, 2], seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=16, seed=0)
    net.loss_and_gradients(dp.MeanSquaredError(classification=False), X, np.eye(2)[y] * 2.5)
    dp.gradcheck(net, dp.MeanSquaredError(classification=False), X[:8], np.eye(2)[y[:8]] * 2.5)
    assert not net.gives_values
    assert set(np.unique(net.predict(X))) <= {0, 1} and net.predict(X).shape == (48,)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_the_scikit_learn_regressors_network_predicts_values(solver):
    """NeuralNetRegressor's net_ answered predict with class ids: the estimator trains with
    an objective of its own, which said nothing of values."""
    X, y = _data()
    reg = NeuralNetRegressor(hidden_layer_sizes=(5,), solver=solver, max_iter=5, random_state=0).fit(X, y)
    assert reg.net_.gives_values
    np.testing.assert_allclose(reg.net_.predict(X)[:, 0], reg.predict(X), rtol=1e-5, atol=1e-6)
    clf = NeuralNetClassifier(hidden_layer_sizes=(5,), solver=solver, max_iter=5, random_state=0)
    clf.fit(X, (y > 3).astype(int))
    assert not clf.net_.gives_values
