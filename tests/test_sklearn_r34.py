"""scikit-learn estimators: inputs that MLPClassifier / MLPRegressor users pass."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
import scipy.sparse  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning  # noqa: E402

from deltaprop.sklearn import NeuralNetRegressor  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DataConversionWarning)  # a column y, as scikit-learn warns
        yield


def _regression(n=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    Y = np.c_[X[:, 0] - X[:, 1], 0.5 * X[:, 2]]
    Y[np.abs(Y) < 0.3] = 0.0  # a target with zeros, as sparse targets have
    return X, Y


@pytest.mark.parametrize("fmt", ["csr_matrix", "csc_array"])
@pytest.mark.parametrize("columns", [1, 2])
def test_a_sparse_target_trains_as_its_dense_copy(fmt, columns):
    """A sparse y (one column or several) is the same regression as the dense y: same
    weights, same predictions' shape. It raised 'setting an array element with a sequence'."""
    X, Y = _regression()
    Y = Y[:, :columns]
    dense_y = Y[:, 0] if columns == 1 else Y
    kw = dict(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    sparse = NeuralNetRegressor(**kw).fit(X, getattr(scipy.sparse, fmt)(Y))
    dense = NeuralNetRegressor(**kw).fit(X, dense_y)
    assert sparse.n_outputs_ == columns
    assert sparse.predict(X).shape == dense.predict(X).shape
    for a, b in zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_a_sparse_target_in_partial_fit_and_lbfgs():
    X, Y = _regression()
    est = NeuralNetRegressor(hidden_layer_sizes=(4,), random_state=0)
    est.partial_fit(X, scipy.sparse.csr_matrix(Y)).partial_fit(X, scipy.sparse.csr_matrix(Y))
    assert est.predict(X).shape == Y.shape and est.n_iter_ == 1
    lbfgs = NeuralNetRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5, random_state=0)
    assert lbfgs.fit(X, scipy.sparse.csr_matrix(Y)).predict(X).shape == Y.shape


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["2020-01-01", "2021-03-04", "2022-06-01"], dtype="datetime64[D]"),
        np.array(["2020-01-01T10:00", "2020-01-01T10:00:00.5", "2021-01-01"], dtype="datetime64[ns]"),
        np.array([-5, 2, 90], dtype="timedelta64[s]"),
        np.array([1, 2, 3], dtype="timedelta64[us]"),
    ],
    ids=["days", "ns", "seconds", "us"],
)
def test_date_and_duration_labels_come_back_from_a_model_file(tmp_path, labels):
    """Labels of dates or durations were read back from a model file as text ('2020-01-01',
    '1 seconds'): predict answered strings, and score() of the loaded model raised."""
    from deltaprop.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = labels[rng.integers(0, 3, 30)]
    est = NeuralNetClassifier((4,), max_iter=5, random_state=0).fit(X, y)
    again = NeuralNetClassifier.load(est.save(tmp_path / "dated.safetensors"))
    assert again.classes_.dtype == est.classes_.dtype
    np.testing.assert_array_equal(again.classes_, est.classes_)
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    assert again.score(X, y) == est.score(X, y)
