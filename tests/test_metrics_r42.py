"""Reported quality numbers cross-checked against scikit-learn's definitions, and outputs
that are NaN refused rather than scored."""

import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import DataError

skm = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_match_sklearn_with_missing_classes(seed):
    rng = np.random.default_rng(seed)
    k, n = 4, 23
    t, p = rng.integers(0, k, n), rng.integers(0, k, n)
    t[t == 2] = 3  # class 2 absent from y_true: its recall is 0/0
    for dtype in (np.int64, np.float32, np.float64):
        assert dp.accuracy(t.astype(dtype), p.astype(dtype)) == skm.accuracy_score(t, p)
    labels = list(range(k))
    assert (dp.confusion_matrix(t, p, k) == skm.confusion_matrix(t, p, labels=labels)).all()
    report = dp.classification_report(t, p, k)
    precision, recall, f1, support = skm.precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
    np.testing.assert_allclose(report.precision, precision)
    np.testing.assert_allclose(report.recall, recall)
    np.testing.assert_allclose(report.f1, f1)
    assert (report.support == support).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_evaluate_loss_and_accuracy_match_sklearn(dtype):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    net = dp.mlp([4, 5, 3], output="softmax", seed=0, dtype=dtype)
    p = net.predict_proba(X).astype(np.float64)
    p /= p.sum(axis=1, keepdims=True)  # float32 rounding
    got = dp.evaluate(net, X, y, loss=dp.CrossEntropy())
    assert got["accuracy"] == skm.accuracy_score(y, p.argmax(axis=1))
    assert got["loss"] == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2]), rel=1e-5)


def test_weighted_history_loss_is_mean_one_weighted_mean():
    rng = np.random.default_rng(4)
    X, y, w = rng.normal(size=(30, 4)), rng.integers(0, 3, 30), rng.random(30) * 3
    net = dp.mlp([4, 5, 3], output="softmax", seed=0, dtype="float64")
    p = net.predict_proba(X)
    h = dp.fit(
        net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=1e-30), epochs=1, batch_size=7, sample_weight=w, diagnostics=False
    )
    expected = skm.log_loss(y, p, sample_weight=w / w.mean(), labels=[0, 1, 2])
    assert h["loss"][0] == pytest.approx(expected, rel=1e-9)
    assert h["accuracy"][0] == skm.accuracy_score(y, p.argmax(axis=1))  # every row counted once


def _nan_net(sizes, output):
    net = dp.mlp(sizes, output=output, seed=0)
    for param in net.parameters():
        param.value[...] = np.nan
    return net


@pytest.mark.parametrize(
    ("sizes", "output", "loss"),
    [([4, 3, 1], "sigmoid", dp.BinaryCrossEntropy()), ([4, 3, 3], "softmax", dp.CrossEntropy()), ([4, 3, 3], "softmax", None)],
)
def test_evaluate_refuses_nan_outputs(sizes, output, loss):
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(10, 4)), rng.integers(0, 2, 10)
    with pytest.raises(DataError, match="NaN or infinite for row 0 of X"):
        dp.evaluate(_nan_net(sizes, output), X, y, loss=loss)


def test_classifier_score_refuses_nan_outputs_and_matches_sklearn():
    from deltaprop.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 3))
    y = np.array(["zeta", "alpha", "mid"])[rng.integers(0, 3, 40)]
    w = rng.random(40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = NeuralNetClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, y)
    assert clf.score(X, y, sample_weight=w) == pytest.approx(skm.accuracy_score(y, clf.predict(X), sample_weight=w))
    for param in clf.net_.parameters():
        param.value[...] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        clf.score(X, y)
    with pytest.raises(DataError, match="NaN or infinite"):
        clf.predict(X)
