"""NeuralNetClassifier as a drop-in MLPClassifier: labels whose rows all weigh 0."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the sklearn extra is not installed")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from deltaprop.errors import DataError  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier  # noqa: E402


def _data(n=60):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, np.array(["a", "b", "c"])[np.arange(n) % 3]


def _fit(est, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kw)


def test_a_class_whose_rows_all_weigh_zero_stays_in_classes_():
    """Weight-0 rows were dropped before the labels were read, so their class vanished from
    ``classes_`` and ``predict_proba`` lost its column (MLPClassifier keeps it)."""
    X, y = _data()
    weight = np.where(y == "c", 0.0, 1.0)
    est = _fit(NeuralNetClassifier((5,), max_iter=20, random_state=0), X, y, sample_weight=weight)
    assert est.classes_.tolist() == ["a", "b", "c"]
    assert est.n_outputs_ == 3 and est.predict_proba(X).shape == (60, 3)


def test_a_binary_problem_with_one_class_at_weight_zero_keeps_both_classes():
    """Two labels, one of them all weight 0: the old model had one class and could only ever
    predict it; MLPClassifier keeps both classes and two probability columns."""
    X, y = _data()
    y = np.where(y == "a", "yes", "no")
    est = _fit(NeuralNetClassifier((5,), max_iter=5, random_state=0), X, y, sample_weight=(y == "yes") * 1.0)
    assert est.classes_.tolist() == ["no", "yes"]
    proba = est.predict_proba(X)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert est.net_.n_outputs == 1  # one logistic unit, as for any two classes


def test_warm_start_with_a_class_at_weight_zero_is_the_same_classes():
    """The warm start's same-classes check saw only the weighted rows and refused y with
    the very classes of the first fit."""
    X, y = _data()
    est = _fit(NeuralNetClassifier((5,), max_iter=3, random_state=0, warm_start=True), X, y)
    _fit(est, X, y, sample_weight=np.where(y == "c", 0.0, 1.0))
    assert est.classes_.tolist() == ["a", "b", "c"]


def test_partial_fit_refuses_an_unknown_label_even_at_weight_zero():
    """A label outside ``classes=`` is refused as scikit-learn refuses it, whatever its weight."""
    X, y = _data()
    est = NeuralNetClassifier((5,), random_state=0)
    with pytest.raises(DataError, match="classes"):
        est.partial_fit(X, y, classes=["a", "b"], sample_weight=np.where(y == "c", 0.0, 1.0))


def test_weight_zero_rows_still_train_as_if_absent():
    """The rows of weight 0 are still left out of training: the same model as without them
    (one full batch, so the batches agree)."""
    X, y = _data()
    weight = np.where(np.arange(60) < 15, 0.0, 1.0)
    kw = dict(hidden_layer_sizes=(5,), max_iter=10, random_state=0)
    weighted = _fit(NeuralNetClassifier(**kw), X, y, sample_weight=weight)
    dropped = _fit(NeuralNetClassifier(**kw), X[15:], y[15:])
    assert np.allclose(weighted.predict_proba(X), dropped.predict_proba(X))


# -- label indicators and label columns -----------------------------------------------------
def _indicator():
    X, _ = _data()
    return X, np.c_[X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0].astype(np.int64)


def test_a_sparse_label_indicator_trains_and_predicts_sparse_as_mlpclassifier():
    """A sparse indicator ``y`` (MLPClassifier takes one) crashed with a TypeError; it now
    trains as its dense twin, and ``predict`` answers a CSR matrix as MLPClassifier's."""
    import scipy.sparse

    X, Y = _indicator()
    kw = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50, random_state=0)
    sparse = _fit(NeuralNetClassifier(**kw), X, scipy.sparse.csr_matrix(Y))
    dense = _fit(NeuralNetClassifier(**kw), X, Y)
    assert sparse.classes_.tolist() == [0, 1, 2]
    pred = sparse.predict(X)
    assert scipy.sparse.issparse(pred) and pred.shape == Y.shape
    assert np.array_equal(pred.toarray(), dense.predict(X))
    assert sparse.score(X, Y) == dense.score(X, Y)
    assert not scipy.sparse.issparse(dense.predict(X))


def test_the_sparse_label_kind_survives_save_and_load(tmp_path):
    import scipy.sparse

    X, Y = _indicator()
    est = _fit(NeuralNetClassifier((5,), max_iter=3, random_state=0), X, scipy.sparse.csr_matrix(Y))
    back = NeuralNetClassifier.load(est.save(tmp_path / "tagger.safetensors"))
    assert scipy.sparse.issparse(back.predict(X))
    assert np.array_equal(back.predict(X).toarray(), est.predict(X).toarray())


def test_several_label_columns_are_refused_with_a_typed_error():
    """Multiclass-multioutput ``y`` raised scikit-learn's 'Unknown label type' with the whole
    array in the message; it is a DataError that names the problem and the way out."""
    X, _ = _data()
    Y = np.c_[np.arange(60) % 3, np.arange(60) % 4]
    with pytest.raises(DataError, match="MultiOutputClassifier"):
        NeuralNetClassifier((5,), max_iter=3).fit(X, Y)


@pytest.mark.parametrize("shift", [(2, -1), (2, 0)], ids=["minus-one-one", "zero-two"])
def test_a_label_indicator_of_other_values_than_0_and_1_is_refused(shift):
    """A -1/1 (or 0/2) indicator is multilabel to scikit-learn, and its -1 went into binary
    cross-entropy as a target: the loss ran below 0 and the model answered 0/1 for -1/1
    labels (score near 0), silently. It is now refused with the way to recode it."""
    X, Y = _indicator()
    scale, offset = shift
    with pytest.raises(DataError, match="must hold 0 and 1"):
        _fit(NeuralNetClassifier((5,), max_iter=20, random_state=0), X, Y * scale + offset)
    with pytest.raises(DataError, match="must hold 0 and 1"):
        NeuralNetClassifier((5,), random_state=0).partial_fit(X, Y * scale + offset)


def test_a_boolean_or_float_0_1_indicator_still_trains():
    X, Y = _indicator()
    for labels in (Y.astype(bool), Y.astype(np.float64)):
        est = _fit(NeuralNetClassifier((5,), max_iter=3, random_state=0), X, labels)
        assert est.predict(X).shape == Y.shape and est.classes_.tolist() == [0, 1, 2]


# -- model files ----------------------------------------------------------------------------
def test_numpy_valued_settings_survive_save_and_load(tmp_path):
    """Settings a grid hands over as NumPy values (``hidden_layer_sizes=np.array([4, 3])``,
    ``np.float64`` numbers, a schedule mapping holding one) failed JSON and were left out of
    the file without a word: the loaded model said ``hidden_layer_sizes=(100,)`` for a 4→3
    network, and its partial_fit refused the activation list."""
    X, y = _data()
    est = _fit(NeuralNetClassifier(hidden_layer_sizes=np.array([4, 3]), activation=["relu", "tanh"],
                                   alpha=np.float64(0.01), batch_size=np.int64(16), max_iter=np.int64(3),
                                   learning_rate={"type": "step", "step_size": 2, "gamma": np.float64(0.5)},
                                   random_state=0), X, y)
    back = NeuralNetClassifier.load(est.save(tmp_path / "m.safetensors"))
    params = back.get_params()
    assert params["hidden_layer_sizes"] == (4, 3) and params["activation"] == ("relu", "tanh")
    assert (params["alpha"], params["batch_size"], params["max_iter"]) == (0.01, 16, 3)
    assert params["learning_rate"] == {"type": "step", "step_size": 2, "gamma": 0.5}
    back.partial_fit(X, y)  # the layers the settings name are the file's network
    assert back.coefs_[0].shape == (3, 4)


@pytest.mark.parametrize("mode", ["warm_start", "partial_fit"])
def test_more_label_columns_after_the_first_fit_are_refused_before_training(mode):
    """A multilabel y of another width on a warm start or partial_fit failed inside the
    training loop ('objective targets must have 3 columns') after resetting ``n_iter_``; it
    is refused up front, as MLPClassifier refuses new classes, and the model is untouched."""
    X, Y = _indicator()
    est = _fit(NeuralNetClassifier((5,), max_iter=3, random_state=0, warm_start=mode == "warm_start"), X, Y)
    before = (est.n_iter_, est.predict_proba(X))
    wider = np.c_[Y, Y[:, :1]]
    with pytest.raises(DataError, match="4 label columns, but the fitted model has 3"):
        est.fit(X, wider) if mode == "warm_start" else est.partial_fit(X, wider)
    assert est.n_iter_ == before[0] and np.array_equal(est.predict_proba(X), before[1])
