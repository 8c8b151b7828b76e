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


def _classes(n=30):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 2))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)


def test_partial_fit_goes_on_past_a_cosine_with_a_floor():
    """Past t_max a cosine trains at its min_lr: partial_fit goes on there (the epoch count
    runs on over partial_fit calls). It raised 'cannot extend this run to 4 epochs ...
    start a new fit with epochs=4', a parameter the estimator does not have."""
    from deltaprop.sklearn import NeuralNetClassifier

    X, y = _classes()
    est = NeuralNetClassifier((4,), solver="sgd", learning_rate={"type": "cosine", "min_lr": 1e-3}, max_iter=2,
                              random_state=0)
    for _ in range(4):
        before = None if not hasattr(est, "net_") else est.coefs_[0].copy()
        est.partial_fit(X, y, classes=[0, 1, 2])
        assert before is None or not np.array_equal(before, est.coefs_[0])
    assert len(est.loss_curve_) == 4
    est.fit(X, y).partial_fit(X, y)  # after a fit of max_iter epochs, too
    assert len(est.loss_curve_) == 3


def test_partial_fit_past_a_cosine_to_zero_is_refused_in_the_estimators_words():
    """At min_lr 0 the epoch would change nothing: a ConfigError that names partial_fit and
    max_iter (the estimator's words), not fit's epochs=."""
    from deltaprop.errors import ConfigError
    from deltaprop.sklearn import NeuralNetClassifier

    X, y = _classes()
    est = NeuralNetClassifier((4,), solver="sgd", learning_rate="cosine", max_iter=2, random_state=0).fit(X, y)
    weights = est.coefs_[0].copy()
    with pytest.raises(ConfigError, match=r"partial_fit .*rate 0.*raise max_iter") as info:
        est.partial_fit(X, y)
    assert "epochs=" not in str(info.value)
    np.testing.assert_array_equal(est.coefs_[0], weights)
