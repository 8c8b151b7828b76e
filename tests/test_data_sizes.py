"""Sizes and values from data files are checked before they are used or cast: the number
of classes (capped, with the labels shown), zero rows, values too large for the type
(reported as they are in the file), complex inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import _checks
from deltaprop.data import load_arrays, open_mapped
from deltaprop.serialization import apply_scaling

from test_cli_errors import cli, fails


def _npz(path, x, y):
    np.savez(path, x=x, y=y)
    return path


# -- number of classes ----------------------------------------------------------------------------
def test_labels_of_a_billion_are_refused_with_the_values(tmp_path):
    path = _npz(tmp_path / "d.npz", np.zeros((3, 4), np.float32), np.array([0, 1, 10**9]))
    with pytest.raises(dp.DataError, match=r"up to 1000000000 \(values found: 0, 1, 1000000000\).*at most 100,000 classes"):
        load_arrays(path)


def test_labels_of_a_billion_through_the_command(tmp_path):
    path = _npz(tmp_path / "d.npz", np.zeros((30, 4), np.float32), np.arange(30) * 10**8)
    fails(cli("train", "--dataset", path, "--out", tmp_path / "run"), 1, "d.npz", "at most 100,000 classes",
          "2900000000")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").glob("*.safetensors"))


@pytest.mark.parametrize("labels, shown", [
    (np.array([0.0, 1e300]), "1e+300"),
    (np.array([0.0, -3.0]), "-3"),
    (np.array([0.5, 1.0]), "0.5"),
    (np.array([0.0, np.nan]), "nan"),
])
def test_class_labels_show_the_value_in_the_data(labels, shown):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cast warning on the way to the message
        with pytest.raises(dp.DataError, match=shown.replace("+", r"\+")):
            _checks.class_labels(labels)


def test_csv_label_of_1e300(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1e300\n")
    with pytest.raises(dp.DataError, match=r"1e\+300"):
        load_arrays(path)
    fails(cli("train", "--dataset", path, "--out", tmp_path / "run"), 1, "d.csv", "1e+300")


def test_csv_input_of_1e300_is_too_large_not_nan(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,0\n3,1e300,1\n")
    with pytest.raises(dp.DataError, match=r"1e\+300 .*too large for float32"):
        load_arrays(path)


# -- zero rows ------------------------------------------------------------------------------------
def test_zero_row_npz(tmp_path):
    path = _npz(tmp_path / "d.npz", np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    with pytest.raises(dp.ShapeError, match="no rows"):
        load_arrays(path)
    fails(cli("train", "--dataset", path, "--out", tmp_path / "run"), 1, "d.npz", "no rows")


def test_zero_row_npy(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((0, 784), np.float32))
    with pytest.raises(dp.ShapeError, match="no rows"):
        open_mapped(path)
    model = dp.save(dp.mlp([784, 8, 10], seed=0), tmp_path / "m.safetensors")
    fails(cli("predict", model, path), 1, "x.npy", "no values")


# -- values that overflow on the way in -----------------------------------------------------------
def test_npy_row_of_1e300_is_reported_as_too_large(tmp_path):
    row = np.zeros((1, 784))
    row[0, 5] = 1e300
    np.save(tmp_path / "row.npy", row)
    model = dp.save(dp.mlp([784, 8, 10], seed=0), tmp_path / "m.safetensors")
    err = fails(cli("predict", model, tmp_path / "row.npy"), 1, "1e+300", "too large for float32", "overflow")
    assert "NaN" not in err and "Warning" not in err
    with pytest.raises(dp.DataError, match=r"1e\+300 \(first in row 0\)"):
        apply_scaling(None, row, np.float32)


def test_complex_inputs_are_refused_by_fit():
    X = np.ones((8, 3), np.complex128)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(dp.DataError, match="complex"):
            dp.fit(dp.mlp([3, 4, 2], seed=0), X, np.arange(8) % 2, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
                   epochs=1)


def test_complex_npz_inputs_are_refused(tmp_path):
    path = _npz(tmp_path / "d.npz", np.ones((4, 2), np.complex64), np.arange(4) % 2)
    with pytest.raises(dp.DataError):
        load_arrays(path)
