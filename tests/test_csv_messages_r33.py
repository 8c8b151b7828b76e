"""The CSV reader's messages name what a cell or a first line really is, and the fix:
a spreadsheet's error value, a label column out of range, a first line of numbers read
as a row whose label is a class of its own."""

from __future__ import annotations

import pytest

from deltaprop.data import read_table
from deltaprop.errors import FileFormatError


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
