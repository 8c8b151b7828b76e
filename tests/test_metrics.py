"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.metrics import confusion_table

Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2, 1]
Y_PRED = [0, 1, 0, 1, 2, 2, 2, 0, 2, 1]
# rows: true class, columns: predicted
#        0  1  2
# 0:     2  1  0
# 1:     0  2  1
# 2:     1  0  3
CM = [[2, 1, 0], [0, 2, 1], [1, 0, 3]]


def test_accuracy():
    assert dp.accuracy(Y_TRUE, Y_PRED) == 0.7
    assert dp.accuracy(np.eye(3)[Y_TRUE], Y_PRED) == 0.7  # one-hot rows are class ids too


def test_output_rows_choose_classes_by_the_networks_rule():
    # One rule everywhere: argmax of a row, or a ≥ 0.5 for a single sigmoid output.
    outputs = np.array([[0.2], [0.5], [0.9]], dtype=np.float32)
    assert dp.accuracy([0, 1, 1], outputs) == 1.0
    np.testing.assert_array_equal(dp.confusion_matrix([0, 1, 1], outputs), [[1, 0], [0, 2]])
    net = dp.mlp([2, 1], output="sigmoid", seed=0)
    X = np.random.default_rng(0).standard_normal((20, 2)).astype(np.float32)
    assert dp.accuracy(net.predict(X), net.predict_proba(X)) == 1.0


def test_confusion_matrix():
    cm = dp.confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(cm, CM)
    assert cm.sum() == len(Y_TRUE)
    wide = dp.confusion_matrix(Y_TRUE, Y_PRED, n_classes=5)
    assert wide.shape == (5, 5) and np.array_equal(wide[:3, :3], CM) and wide[3:].sum() == 0


def test_precision_recall_f1_by_hand():
    report = dp.classification_report(Y_TRUE, Y_PRED, class_names=["cat", "dog", "eel"])
    # precision = C_ii / column sum, recall = C_ii / row sum
    precision = [2 / 3, 2 / 3, 3 / 4]
    recall = [2 / 3, 2 / 3, 3 / 4]
    np.testing.assert_allclose(report.precision, precision)
    np.testing.assert_allclose(report.recall, recall)
    np.testing.assert_allclose(report.f1, [2 * p * r / (p + r) for p, r in zip(precision, recall)])
    np.testing.assert_array_equal(report.support, [3, 3, 4])
    assert report.accuracy == pytest.approx(0.7)
    table = report.table()
    assert "eel" in table and "0.7500" in table and "accuracy 0.7000 on 10 examples" in table


def test_precision_and_recall_differ_when_errors_are_one_sided():
    report = dp.classification_report([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(report.precision, [1.0, 2 / 3])
    np.testing.assert_allclose(report.recall, [3 / 4, 1.0])


def test_a_class_never_predicted_has_zero_precision_not_nan():
    report = dp.classification_report([0, 1, 2], [0, 0, 0], n_classes=4)
    np.testing.assert_array_equal(report.precision, [1 / 3, 0, 0, 0])
    np.testing.assert_array_equal(report.recall, [1, 0, 0, 0])
    assert np.all(np.isfinite(report.f1))


def test_confusion_table_text():
    text = confusion_table(np.array(CM), ["cat", "dog", "eel"])
    lines = text.splitlines()
    assert lines[0].startswith("true\\pred") and lines[0].split()[1:] == ["cat", "dog", "eel"]
    assert lines[3].split() == ["eel", "1", "0", "3"]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "error"),
    [
        ([0, 1], [0], dp.ShapeError),
        ([0, -1], [0, 1], dp.DataError),
        ([0, 0.5], [0, 1], dp.DataError),
        (np.zeros((2, 2, 2)), [0, 1], dp.ShapeError),
    ],
)
def test_bad_labels_are_typed_errors(y_true, y_pred, error):
    with pytest.raises(error):
        dp.confusion_matrix(y_true, y_pred)


def test_ids_beyond_n_classes_are_refused():
    with pytest.raises(dp.DataError, match="n_classes"):
        dp.confusion_matrix([0, 3], [0, 1], n_classes=3)


def test_a_column_of_class_ids_counts_as_the_ids_it_holds():
    # df[["label"]] is an (n, 1) column: its values are the classes, not a probability to threshold
    y_true = np.array([0, 1, 2, 2, 1, 0, 2])
    y_pred = np.array([0, 2, 2, 1, 1, 0, 2])
    assert dp.accuracy(y_true.reshape(-1, 1), y_pred) == dp.accuracy(y_true, y_pred) == 5 / 7
    assert dp.accuracy(y_true.reshape(-1, 1), y_pred.reshape(-1, 1).astype(float)) == 5 / 7
    np.testing.assert_array_equal(dp.confusion_matrix(y_true.reshape(-1, 1), y_pred), dp.confusion_matrix(y_true, y_pred))
    # a column of single-output probabilities is still class 1 where a >= 0.5
    assert dp.accuracy([1, 0, 1], np.array([[0.7], [0.2], [0.4]])) == 2 / 3


def test_rows_of_several_labels_are_not_taken_for_one_class():
    multi = np.array([[1, 0, 1], [1, 1, 0]])
    with pytest.raises(dp.DataError, match="several labels a row"):
        dp.accuracy(multi, multi)


@pytest.mark.parametrize("metric", [dp.accuracy, dp.confusion_matrix])
def test_text_labels_are_refused_with_the_mapping_to_ids(metric):
    with pytest.raises(dp.DataError, match="no numbers \\(such as 'cat'\\).*np.unique"):
        metric(np.array(["cat", "dog"]), np.array(["cat", "cat"]))
    assert dp.accuracy(np.array([0, 1, 1], dtype=object), np.array([0, 1, 0])) == pytest.approx(2 / 3)
