"""A model file's classes in an order that is not sorted (the command line's Fashion-MNIST
names, or labels such as "9" before "10"): training a loaded classifier on further labels
maps each label to its own output, not to its place in a sorted list."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from deltaprop import Network  # noqa: E402
from deltaprop.layers import Dense, Sigmoid, Softmax  # noqa: E402
from deltaprop.serialization import save  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier  # noqa: E402


def _loaded(tmp_path, names):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    ids = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    net = Network([Dense(2, 8), Sigmoid(), Dense(8, 3), Softmax()], seed=0)
    path = save(net, tmp_path / "m.safetensors", class_names=list(names))
    est = NeuralNetClassifier.load(path)
    return est, X, np.asarray(names)[ids]


@pytest.mark.parametrize("names", [["b", "a", "c"], ["zebra", "ant", "moth"], ["9", "10", "11"]])
def test_a_warm_start_on_a_loaded_model_trains_each_label_to_its_own_output(tmp_path, names):
    """Labels were placed by a sorted search of ``classes_``: with ``["b", "a", "c"]`` rows of
    ``"a"`` trained output 0 (``"b"``) and rows of ``"b"`` and ``"c"`` both output 2, and a
    label sorted past the end (``"zebra"``) failed with an IndexError."""
    est, X, y = _loaded(tmp_path, names)
    assert est.classes_.tolist() == names  # the file's order, its outputs' order
    est.set_params(learning_rate_init=0.05, warm_start=True, max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert (est.predict(X) == y).mean() > 0.95
    proba = est.predict_proba(X)
    assert np.array_equal(est.classes_[proba.argmax(axis=1)], est.predict(X))


def test_partial_fit_on_a_loaded_model_takes_its_classes_in_any_order(tmp_path):
    """``classes=`` naming the same labels was refused unless given in the file's order."""
    est, X, y = _loaded(tmp_path, ["b", "a", "c"])
    est.partial_fit(X, y, classes=["a", "b", "c"])
    est.partial_fit(X, y, classes=["b", "a", "c"])
    assert est.classes_.tolist() == ["b", "a", "c"] and est.n_iter_ == 1
