"""The CSV reader's messages name what a cell or a first line really is, and the fix:
a spreadsheet's error value, a label column out of range, a first line of numbers read
as a row whose label is a class of its own."""

from __future__ import annotations

import pytest

from deltaprop.data import read_table
from deltaprop.errors import ConfigError, FileFormatError


@pytest.mark.parametrize("value", ["#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!"])
def test_a_spreadsheet_error_value_is_named_with_its_cell_and_the_fix(tmp_path, value):
    path = tmp_path / "sheet.csv"
    path.write_text(f"a,b,label\n0.1,0.2,0\n0.3,{value},1\n0.5,0.6,0\n")
    with pytest.raises(FileFormatError) as info:
        read_table(path)
    message = str(info.value)
    assert f"line 3, column 2 ('b') holds {value!r}, a spreadsheet error value (a formula that failed)" in message
    assert "fix the formula" in message and "remove the row" in message
    assert "class labels" not in message  # not the advice for a label written as a word


def test_a_spreadsheet_error_value_in_a_file_without_a_header_names_its_line(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('1,2,0\n3,4,1\n5,"#DIV/0!",0\n')
    with pytest.raises(FileFormatError, match=r"line 3, column 2 holds '#DIV/0!', a spreadsheet error value"):
        read_table(path)


@pytest.mark.parametrize("label_column", [4, "4", -5])
@pytest.mark.parametrize("first", ["4,5,6,1",  # a row like the others: it holds the 4, but is no header
                                   "1,2,3,4"])  # increasing, but each value within reach of its column's
def test_a_label_column_out_of_range_says_the_indexes_not_a_header_when_line_1_is_a_row(tmp_path, first,
                                                                                        label_column):
    path = tmp_path / "d.csv"
    path.write_text(f"{first}\n7,8,9,0\n1,2,3,1\n2,3,4,2\n")
    with pytest.raises(ConfigError) as info:
        read_table(path, label_column=label_column)
    message = str(info.value)
    assert "out of range for 4 columns (0..3, or -4..-1 from the end)" in message
    assert "header" not in message and "delete it" not in message


def test_a_label_column_out_of_range_still_asks_about_a_header_of_numbers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,3,4\n50,60,70,0\n80,90,95,1\n")  # 1,2,3 far below the columns' values: a header
    with pytest.raises(ConfigError) as info:
        read_table(path, label_column="4")
    message = str(info.value)
    assert "line 1, '1,2,3,4', holds numbers only and was read as a row of data" in message
    assert "If line 1 is a header" in message and "0..3, or -4..-1 from the end" in message
