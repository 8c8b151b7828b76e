"""Errors about a user's data files name the real problem and the fix: text where a CSV
file needs a number, one-hot labels given to the command line, a damaged gzip file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cli_in_process import run_cli
from deltaprop.data import read_idx, read_table
from deltaprop.errors import FileFormatError


def test_a_csv_label_written_as_a_word_is_named_with_the_fix(tmp_path):
    path = tmp_path / "pets.csv"
    path.write_text("a,b,label\n0.1,0.2,0\n0.3,0.4,1\n0.5,0.6,cat\n")
    with pytest.raises(FileFormatError) as info:
        read_table(path)
    message = str(info.value)
    assert "data row 3, column 3 ('label') holds 'cat', not a number" in message
    assert "ids 0, 1, 2" in message and "np.unique(labels, return_inverse=True)[1]" in message


def test_text_in_a_csv_file_without_a_header_names_its_row_and_column(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("1,2,0\nn/a,4,1\n")
    with pytest.raises(FileFormatError, match=r"data row 2, column 1 holds 'n/a', not a number"):
        read_table(path)


def test_one_hot_labels_are_refused_with_the_line_that_turns_them_into_ids(tmp_path):
    path = tmp_path / "onehot.npz"
    y = np.eye(3, dtype=np.float32)[np.arange(30) % 3]
    np.savez(path, x=np.random.default_rng(0).normal(size=(30, 4)), y=y)
    res = run_cli("train", "--dataset", path, "--steps", "1", "--out", tmp_path / "run")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
    assert "the labels have shape (30, 3) (one-hot rows)" in res.stderr
    assert f"np.savez({str(path)!r}, x=x, y=y.argmax(axis=1))" in res.stderr


def test_rows_of_several_labels_are_sent_to_python(tmp_path):
    path = tmp_path / "multi.npz"
    np.savez(path, x=np.zeros((10, 2)), y=np.ones((10, 3)))
    res = run_cli("train", "--dataset", path, "--steps", "1", "--out", tmp_path / "run")
    assert res.returncode != 0
    assert "shape (10, 3) (rows of values, not one class id a row)" in res.stderr and "in Python" in res.stderr


def test_a_gzip_file_that_decompresses_past_its_declared_data_is_called_corrupt(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 4]) + bytes(range(9)), mtime=0))
    with pytest.raises(FileFormatError, match="corrupt gzip stream: it decompresses to more than the 4 bytes of "
                                              "data the header declares.*Delete it and fetch or copy it again"):
        read_idx(path)
