"""Metrics, third review: class ids beyond int64 are named as given; class names are one a class."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError, DataError, ShapeError
from deltaprop.metrics import confusion_table


@pytest.mark.parametrize("y_true, shown", [
    (np.array([1e20, 0.0]), "1e+20"),                                 # was "a negative class id (-9223372036854775808)"
    (np.array([2**64 - 1, 0], dtype=np.uint64), "18446744073709551615"),  # was "a negative class id (-1)"
])
@pytest.mark.parametrize("metric", [dp.accuracy, dp.confusion_matrix, dp.classification_report])
def test_ids_too_large_for_int64_are_named_as_given(metric, y_true, shown):
    with pytest.raises(DataError) as info:
        metric(y_true, [0, 0])
    message = str(info.value)
    assert shown in message and "too large" in message and "negative" not in message


@pytest.mark.parametrize("y_true, shown", [
    (np.array([-1.5e20, 0.0]), "-1.5e+20"),
    (np.array([-2, 0], dtype=np.int8), "-2"),
])
def test_negative_ids_are_named_as_given(y_true, shown):
    with pytest.raises(DataError) as info:
        dp.accuracy(y_true, [0, 0])
    assert f"negative class id ({shown})" in str(info.value)


def test_the_largest_uint64_that_fits_an_int64_is_still_an_id():
    y = np.array([2**63 - 1, 0], dtype=np.uint64)
    assert dp.accuracy(y, y) == 1.0
    assert dp.accuracy([True, False], np.array([1, 0], dtype=np.uint8)) == 1.0


# -- class names ----------------------------------------------------------------------------
CM = np.array([[2, 1], [0, 3]])


@pytest.mark.parametrize("names", [["a", "b", "c"], ["a"]])
def test_confusion_table_refuses_names_not_one_a_class(names):
    # Three names headed a 2-column table (a column "c" with no numbers); one name was an IndexError.
    with pytest.raises(ShapeError, match="one name a class"):
        confusion_table(CM, names)


def test_confusion_table_takes_names_that_are_not_strings():
    lines = confusion_table(CM, [10, 20]).splitlines()
    assert lines[0].split()[1:] == ["10", "20"] and lines[2].split() == ["20", "0", "3"]


def test_one_string_is_not_taken_for_class_names():
    # "cat" for 3 classes labelled them c, a and t.
    with pytest.raises(ConfigError, match="list of names"):
        dp.classification_report([0, 1, 2], [0, 1, 1], class_names="cat")
    with pytest.raises(ConfigError, match="list of names"):
        confusion_table(CM, "ab")
