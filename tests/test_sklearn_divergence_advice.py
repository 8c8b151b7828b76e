"""A diverged estimator gives the estimator's fix (learning_rate_init, scaling X), not fit's
advice to write an on_gradients callback, which an estimator cannot be given; the layer
fit names stays in the message."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.sklearn import NeuralNetClassifier


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 20))
    return X, (X[:, 0] > 0).astype(np.int64)


def test_a_diverged_classifier_names_learning_rate_init_and_the_layer_not_callbacks():
    X, y = _data()
    clf = NeuralNetClassifier(hidden_layer_sizes=(64, 64), activation="relu", solver="sgd", momentum=0.0,
                              learning_rate_init=1e6, batch_size=16, max_iter=3, random_state=0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as info:
            clf.fit(X, y)
    message = str(info.value)
    assert isinstance(info.value, dp.TrainingDivergedError)
    assert "Lower learning_rate_init (it was 1e+06)" in message
    assert "on_gradients" not in message and "callback" not in message
    assert info.value.layer and info.value.layer in message


def test_under_early_stopping_the_warning_gives_the_estimators_fix():
    X, y = _data()
    clf = NeuralNetClassifier(hidden_layer_sizes=(64, 64), activation="relu", solver="sgd", momentum=0.0,
                              learning_rate_init=1e6, batch_size=16, max_iter=3, random_state=0,
                              early_stopping=True, n_iter_no_change=5)
    with warnings.catch_warnings(record=True) as seen, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        clf.fit(X, y)
    diverged = [str(w.message) for w in seen if "diverged" in str(w.message)]
    assert diverged, [str(w.message) for w in seen]
    assert "Lower learning_rate_init (it was 1e+06)" in diverged[0] and "on_gradients" not in diverged[0]
