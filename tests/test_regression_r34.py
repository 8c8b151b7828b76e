"""NeuralNetRegressor: regression paths compared with what a user expects of MLPRegressor."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop.errors import ModelFileError  # noqa: E402
from deltaprop.sklearn import NeuralNetRegressor  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_regressor_load_refuses_a_classifier_model_file(tmp_path, output):
    """A classifier written without an estimator record (as `deltaprop train` writes one:
    class names, a Softmax or Sigmoid output) loaded as a regressor whose predict answered
    the class probabilities as if they were regression values."""
    n_out = 3 if output == "softmax" else 1
    names = ["cat", "dog", "eel"] if output == "softmax" else ["no", "yes"]
    path = dp.save(dp.mlp([4, 5, n_out], output=output, seed=0), tmp_path / "clf.safetensors", class_names=names)
    with pytest.raises(ModelFileError, match="holds a classifier.*NeuralNetClassifier.load"):
        NeuralNetRegressor.load(path)


def test_regressor_load_still_reads_its_own_files_and_plain_networks(tmp_path):
    X = np.random.default_rng(0).normal(size=(20, 4))
    reg = NeuralNetRegressor(hidden_layer_sizes=(3,), output="sigmoid", max_iter=2, random_state=0)
    reg.fit(X, (X[:, 0] > 0) * 1.0)  # 0/1 values: still a regressor's file
    back = NeuralNetRegressor.load(reg.save(tmp_path / "reg.safetensors"))
    np.testing.assert_array_equal(back.predict(X), reg.predict(X))
    net = dp.mlp([4, 3, 2], output="identity", seed=0)
    plain = NeuralNetRegressor.load(dp.save(net, tmp_path / "plain.safetensors"))
    np.testing.assert_allclose(plain.predict(X), net.predict_proba(X))
