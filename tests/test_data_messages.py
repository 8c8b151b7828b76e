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
    assert "line 4, column 3 ('label') holds 'cat', where 2 of the 3 labels are numbers" in message
    assert "all numbers (class ids 0, 1, 2, ...) or all text (class names" in message


def test_text_in_a_csv_file_without_a_header_names_its_row_and_column(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("1,2,0\nn/a,4,1\n")
    with pytest.raises(FileFormatError, match=r"line 2, column 1 holds 'n/a', a missing value; .* fill in"):
        read_table(path)
    path.write_text("a,b,label\n1,2,0\n3,,1\n")  # an empty cell, as a spreadsheet writes a missing value
    with pytest.raises(FileFormatError, match=r"line 3, column 2 \('b'\) holds '', a missing value") as err:
        read_table(path)
    assert "class labels" not in str(err.value)


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


def _comma_file(tmp_path):
    path = tmp_path / "comma.csv"
    path.write_text("a,b,label\n0.5,-1.25,0\n1e3,2,1\n3,4.5,2\n")
    return path


@pytest.mark.parametrize("sep", ["\t", ";"])
def test_tab_and_semicolon_separated_files_are_read_like_comma_separated_ones(tmp_path, sep):
    comma = read_table(_comma_file(tmp_path))
    path = tmp_path / "other.csv"
    path.write_text(_comma_file(tmp_path).read_text().replace(",", sep))
    table = read_table(path)
    assert np.array_equal(table.x, comma.x) and np.array_equal(table.y, comma.y)
    assert table.feature_names == ("a", "b")


def test_quoted_numbers_as_csv_quote_all_writes_them_are_numbers(tmp_path):
    import csv

    path = tmp_path / "quoted.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)
        writer.writerows([["a", "b", "label"], [0.5, -1.25, 0], [1000.0, 2, 1], [3, 4.5, 2]])
    table, comma = read_table(path), read_table(_comma_file(tmp_path))
    assert np.array_equal(table.x, comma.x) and np.array_equal(table.y, comma.y)


def test_lines_of_only_spaces_are_blank(tmp_path):
    path = tmp_path / "spaces.csv"
    path.write_text("a,b,label\n0.5,-1.25,0\n   \n1e3,2,1\n3,4.5,2\n  \t \n")
    comma = read_table(_comma_file(tmp_path))
    assert np.array_equal(read_table(path).x, comma.x)


def test_a_row_of_another_width_is_named_without_numpy_advice(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("a,b,label\n0.5,-1.25,0\n1e3,2\n")
    with pytest.raises(FileFormatError) as info:
        read_table(path)
    assert "line 3 has 2 comma-separated values, the rows above 3; every row needs 3" in str(info.value)
    assert "usecols" not in str(info.value)


@pytest.mark.parametrize("text", ["a;b;label\n-0,5;1,25;0\n1;2;1\n", "-0,5;1,25;0\n1;2;1\n", "a\tb\tlabel\n-0,5\t1\t0\n"])
def test_decimal_commas_are_named_with_the_conversion(tmp_path, text):
    path = tmp_path / "euro.csv"
    path.write_text(text)
    with pytest.raises(FileFormatError, match=r"holds '-0,5', a number written with a decimal comma; deltaprop reads "
                                              r"numbers with a decimal point") as info:
        read_table(path)
    assert "decimal=','" in str(info.value)


def test_a_space_separated_file_says_which_separators_are_read(tmp_path):
    path = tmp_path / "spaced.csv"
    path.write_text("0.5 -1.25 0\n1 2 1\n")
    with pytest.raises(FileFormatError, match="separated by spaces; deltaprop reads comma-separated files"):
        read_table(path)
    path.write_text("0.5\n1\n")
    with pytest.raises(FileFormatError, match="needs at least two columns"):
        read_table(path)
