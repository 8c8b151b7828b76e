"""A first CSV line whose first cell is empty: a data row with a missing value unless
the rest are whole numbers (pandas' index column above its column names)."""

import pytest

from deltaprop.cli import main
from deltaprop.data.arrays import read_table
from deltaprop.errors import DataError, FileFormatError

_ROWS = ["0.81,0.18,4.94,1", "2.5,-1.25,3.0,0", "1.75,0.5,2.25,1"]


@pytest.mark.parametrize("first", [",0.93,3.56,0", ",-2,3,1", ",1.5e-3,2,0"])
def test_a_first_row_missing_its_first_value_is_a_row_not_pandas_index_header(tmp_path, first):
    """Refused as pandas' index header, whose fix ('name the column') turns the row into a
    header, dropped without a word; it is the row with a missing value, line 1."""
    path = tmp_path / "d.csv"
    path.write_text("\n".join([first, *_ROWS]) + "\n")
    with pytest.raises(FileFormatError) as info:
        read_table(path)
    assert str(info.value).startswith(f"{path}: line 1, column 1 holds '', a missing value")
    assert "name the column" not in str(info.value)


def test_the_command_line_says_line_1_misses_a_value(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("\n".join([",0.93,3.56,0", *_ROWS]) + "\n")
    assert main(["train", "--dataset", str(path), "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "line 1, column 1 holds '', a missing value" in err and "Traceback" not in err


@pytest.mark.parametrize("header", [",0,1,2", ",400.0,410.0,420.0", ",x1,x2,label"])
def test_pandas_index_header_is_still_refused_as_one(tmp_path, header):
    path = tmp_path / "d.csv"
    path.write_text("\n".join([header, "0,1.5,2.5,0", "1,0.5,1.5,1"]) + "\n")
    with pytest.raises(DataError, match="the first column has no name in the header: a row index"):
        read_table(path)


def test_a_header_1_to_n_is_judged_once_against_the_rows(tmp_path, monkeypatch):
    """A header 1,2,...,n was tested against every column's range twice, once to take it as
    the header (no row could hold it) and once more for a note that this test had ruled out:
    two more passes over the table (40 ms of 600 for 20,000 rows of 785 columns)."""
    import numpy as np

    from deltaprop.data import arrays

    rng = np.random.default_rng(5)
    rows = np.column_stack([rng.integers(100, 110, size=(30, 3)), np.arange(30) % 3])
    path = tmp_path / "d.csv"
    path.write_text("1,2,3,4\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    calls = []
    original = arrays._could_be_a_row
    monkeypatch.setattr(arrays, "_could_be_a_row", lambda *args: calls.append(args) or original(*args))
    table = read_table(path, label_column=-1)
    assert len(calls) == 1
    assert table.feature_names == ("1", "2", "3") and not any("column numbers" in n for n in table.notes)
    np.testing.assert_array_equal(table.x, rows[:, :-1])


# ---------------------------------------------------------------- Excel's #N/A is a cell, not a comment
@pytest.mark.parametrize("lines, line, column", [
    (["a,b,c,label", "1,2,3,0", "4,5,6,1", "#N/A,5,6,1", "7,8,9,0"], 4, "1 ('a')"),  # was dropped unsaid
    (["a,b,c,label", "#N/A,2,3,0", "4,5,6,1", "7,8,9,0"], 2, "1 ('a')"),
    (["a,b,c,label", "1,2,3,0", "4,#N/A,6,1", "7,8,9,0"], 3, "2 ('b')"),  # was 'has 2 values'
    (["#N/A,2,3,0", "4,5,6,1", "7,8,9,0"], 1, "1"),  # was a comment above the first row
])
def test_excel_na_is_refused_as_a_missing_value_not_read_as_a_comment(tmp_path, lines, line, column):
    """Excel writes a missing lookup as #N/A; a line starting with it was a comment, the row
    dropped from training without a word, and one inside a row cut the row short."""
    path = tmp_path / "d.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FileFormatError) as info:
        read_table(path, label_column=-1)
    assert str(info.value).startswith(f"{path}: line {line}, column {column} holds '#N/A', a missing value")


def test_comments_are_still_comments(tmp_path):
    import numpy as np

    path = tmp_path / "d.csv"
    path.write_text("# exported\na,b,c,label\n1,2,3,0 # checked\n  # indented\n#N/A note\n# c\n4,5,6,1\n7,8,9,0\n")
    with pytest.raises(FileFormatError, match="line 5 has 1 comma-separated"):  # "#N/A note" is a row
        read_table(path, label_column=-1)
    path.write_text("# exported\na,b,c,label\n1,2,3,0 # checked\n  # indented\n# c\n4,5,6,1\n7,8,9,0\n")
    table = read_table(path, label_column=-1)
    np.testing.assert_array_equal(table.x, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    np.testing.assert_array_equal(table.y, [0, 1, 0])
