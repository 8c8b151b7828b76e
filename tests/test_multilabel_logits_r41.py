"""Multi-label rows fitted on logits: predict's argmax is said before training."""

import warnings

import numpy as np
import pytest

import deltaprop as dp


def _fit(Y):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    net = dp.mlp([4, 5, Y.shape[1]], activation="tanh", output="identity", seed=0)
    dp.fit(net, X, Y, loss=dp.BinaryCrossEntropy(from_logits=True), optimizer=dp.SGD(lr=0.1), epochs=1,
           batch_size=20, seed=0)
    return net, X


def test_multi_hot_rows_on_logits_warn_that_predict_takes_the_argmax():
    Y = (np.random.default_rng(1).random((40, 3)) > 0.5).astype(np.float32)
    with pytest.warns(UserWarning, match="multi-label .* outputs are logits .* predict gives one class a row"):
        net, X = _fit(Y)
    assert net.predict(X).shape == (40,)  # what the warning says


def test_one_hot_rows_on_logits_fit_without_that_warning():
    Y = np.eye(3, dtype=np.float32)[np.arange(40) % 3]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _fit(Y)
