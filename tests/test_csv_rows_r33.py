"""CSV errors name the file's line (comments, blank lines, a BOM and CRLF counted as an
editor counts them) and the column by its header name; a header of numbers such as years."""

import numpy as np
import pytest

from deltaprop.data.arrays import read_table
from deltaprop.errors import ConfigError, DataError, FileFormatError


def _rows(n, bad_row=None, cell="NA", seed=0):
    """n rows of four pixel-like features and a class id 0..2; data row ``bad_row`` (1 first)
    holds ``cell`` in column 3."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        row = [str(v) for v in rng.integers(0, 256, 4)] + [str(i % 3)]
        if i + 1 == bad_row:
            row[2] = cell
        out.append(",".join(row))
    return out


def _message(path, **kwargs):
    with pytest.raises((FileFormatError, DataError, ConfigError)) as info:
        read_table(path, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------- a header 1,2,...,n above a bad cell
@pytest.mark.parametrize("cell, words", [("NA", "a missing value"), ("abc", "not a number")])
def test_a_bad_cell_under_a_header_1_to_n_names_its_line_and_column_name(tmp_path, cell, words):
    path = tmp_path / "d.csv"
    path.write_text("1,2,3,4,5\n" + "\n".join(_rows(20, bad_row=13, cell=cell)) + "\n")
    assert _message(path).startswith(f"{path}: line 14, column 3 ('3') holds {cell!r}, {words}")


def test_a_bad_cell_under_a_first_row_1_to_n_of_a_small_file_gives_no_header_name(tmp_path):
    path = tmp_path / "d.csv"  # two rows: line 1 is a row, its numbers name no column
    path.write_text("1,2,3\n4,x,6\n")
    assert _message(path).startswith(f"{path}: line 2, column 2 holds 'x', not a number")


# ---------------------------------------------------------------- lines counted as the file has them
def _with_comments_and_blanks(rows, crlf=False, bom=False):
    lines = ["# measured 2024", "  # by hand", "a,b,c,d,label", *rows[:4], "", "# second batch", "   ", *rows[4:]]
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    return ("\ufeff" if bom else "") + text


@pytest.mark.parametrize("crlf, bom", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("cell, words", [("x", "not a number"), ("NA", "a missing value"),
                                         ("inf", "not a finite number"), ("nan", "not a finite number")])
def test_a_bad_cell_is_named_by_its_line_in_a_file_with_comments_blank_lines_bom_crlf(tmp_path, crlf, bom, cell,
                                                                                   words):
    path = tmp_path / "d.csv"
    path.write_bytes(_with_comments_and_blanks(_rows(10, bad_row=6, cell=cell), crlf, bom).encode())
    # lines 1-2 comments, 3 the header, 4-7 rows 1-4, 8 blank, 9 a comment, 10 spaces, 11 row 5, 12 row 6
    assert _message(path).startswith(f"{path}: line 12, column 3 ('c') holds ")
    assert words in _message(path)


def test_a_row_of_another_width_is_named_by_its_line(tmp_path):
    rows = _rows(8)
    rows[5] = "1,2"
    path = tmp_path / "d.csv"
    path.write_bytes(_with_comments_and_blanks(rows, crlf=True, bom=True).encode())
    assert f"{path}: malformed CSV: line 12 has 2 comma-separated values, the rows above 5" in _message(path)


def test_an_indented_comment_between_rows_is_a_comment_as_above_the_header(tmp_path):
    path = tmp_path / "d.csv"
    rows = _rows(6)
    path.write_text("a,b,c,d,label\n" + "\n".join(rows[:3]) + "\n   # checked\n" + "\n".join(rows[3:]) + "\n")
    assert read_table(path).x.shape == (6, 4)


def test_a_missing_label_read_as_nan_is_named_by_line_and_said_to_be_dropped(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("# export\na,b,label\n1,2,0\n\n3,4,nan\n5,6,1\n")
    message = _message(path)
    assert message.startswith(f"{path}: line 5, column 3 ('label') holds nan, a missing label")
    assert "drop the rows" in message


def test_rows_narrower_than_the_header_name_the_header_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("# export\na,b,c,label\n1,2,0\n3,4,1\n")
    assert "the rows have 3 comma-separated values, the header (line 2) names 4; every row" in _message(path)


# ---------------------------------------------------------------- a header of numbers that are not 1..n
def _yearly(n, first="2019,2020,2021,2022", seed=1):
    rng = np.random.default_rng(seed)
    rows = [",".join(str(v) for v in [*rng.integers(0, 100, 3), i % 3]) for i in range(n)]
    return first + "\n" + "\n".join(rows) + "\n"


def test_a_header_of_years_above_ten_rows_is_a_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(_yearly(20))
    table = read_table(path, label_column="2022")
    assert table.x.shape == (20, 3) and table.feature_names == ("2019", "2020", "2021")
    assert sorted(set(table.y.tolist())) == [0, 1, 2]
    assert read_table(path, label_column=-1).x.shape == (20, 3)


def test_a_header_of_years_with_a_label_name_is_read_by_name(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(_yearly(5, first="2019,2020,2021,label"))
    table = read_table(path)
    assert table.feature_names == ("2019", "2020", "2021") and len(table.y) == 5


@pytest.mark.parametrize("first", ["5,60,70,1",  # the label 1 is a class id there, the others in reach
                                   "2019,2020,2021,2"])  # large, increasing: but its label is a class id
def test_a_first_data_row_that_looks_like_a_header_of_numbers_stays_a_row(tmp_path, first):
    path = tmp_path / "d.csv"
    path.write_text(_yearly(20, first=first))
    table = read_table(path, label_column=-1)
    assert table.feature_names is None and len(table.y) == 21
    np.testing.assert_array_equal(table.x[0], [float(v) for v in first.split(",")[:3]])


def test_a_label_column_named_by_a_number_of_a_first_line_read_as_a_row_points_at_that_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("# yearly\n" + _yearly(5))  # too few rows to tell a header from a row
    message = _message(path, label_column="2022")
    assert "line 2, '2019,2020,2021,2022', holds numbers only and was read as a row of data" in message
    assert "give its columns names that are words (y2019,y2020,...,label) or delete it" in message
    assert _message(path, label_column=7) == (f"{path}: label_column 7 is out of range for 4 columns (0..3, or "
                                              "-4..-1 from the end).")


@pytest.mark.parametrize("text, words", [("# c\n\na,b\n1,0\n", "line 2 is blank, where the header (or the first row) "
                                                              "belongs; delete the blank lines above it"),
                                         ("\r\na,b\r\n1,0\r\n", "line 1 is blank"),
                                         ("# only\n# comments\n", "the CSV file is empty (it holds only 2 comment "
                                                                  "lines, no header or rows).")])
def test_a_blank_line_above_the_header_is_named_by_its_line(tmp_path, text, words):
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode())
    assert _message(path).startswith(f"{path}: {words}")


def test_a_small_file_under_the_years_header_a_model_was_trained_under_is_read_under_it(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(_yearly(4))
    table = read_table(path, feature_names=("2019", "2020", "2021"), label_column="2022")
    assert table.x.shape == (4, 3) and table.feature_names == ("2019", "2020", "2021")
