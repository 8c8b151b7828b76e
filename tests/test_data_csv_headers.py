"""CSV headers as other programs write them: np.savetxt's '# name,...' comment, Excel's
byte-order mark, R's quoted names, pandas' integer column names and index column, a
comment line above the header. The label column is found by its name in each, and a file
whose label column cannot be told is refused, never guessed."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.data import load_arrays, read_table
from deltaprop.errors import ConfigError, DataError

NAMES = ["label", "p0", "p1", "p2"]


def _rows(n: int = 60) -> np.ndarray:
    """Label first (0..2), then three pixel-like columns of whole numbers 0..16."""
    rng = np.random.default_rng(0)
    return np.column_stack([np.arange(n) % 3, rng.integers(0, 17, size=(n, 3))])


def _write(path, header: str | None, rows: np.ndarray, *, encoding: str = "utf-8"):
    lines = ([header] if header is not None else []) + [",".join(str(int(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


@pytest.mark.parametrize("header, encoding", [
    ("# " + ",".join(NAMES), "utf-8"),                       # np.savetxt(header=...)
    (",".join(NAMES), "utf-8-sig"),                          # Excel "CSV UTF-8"
    (",".join(f'"{n}"' for n in NAMES), "utf-8"),            # R write.csv(row.names=FALSE)
    ("# exported today\n" + ",".join(NAMES), "utf-8"),       # a comment line above the header
])
def test_the_label_column_is_found_by_its_name_however_the_header_is_written(tmp_path, header, encoding):
    rows = _rows()
    path = _write(tmp_path / "d.csv", header, rows, encoding=encoding)
    table = read_table(path)
    assert table.label_source == "column 'label' (1 of 4, by its name)"
    assert np.array_equal(table.y, rows[:, 0]) and np.array_equal(table.x, rows[:, 1:])
    named = read_table(path, label_column="label")  # the bare name names it
    assert np.array_equal(named.y, rows[:, 0])


def test_a_header_with_no_label_name_gets_the_same_ambiguity_check_as_no_header(tmp_path):
    path = _write(tmp_path / "d.csv", "digit,p0,p1,p2", _rows())
    with pytest.raises(ConfigError, match="--label-column digit or --label-column p2"):
        read_table(path)
    assert read_table(path, label_column="digit").label_source == "column 'digit' (1 of 4, as named)"


def test_a_header_with_no_label_name_and_one_id_column_takes_that_column(tmp_path):
    rows = _rows().astype(float)
    rows[:, 1:] += 0.5  # features are not whole numbers: only the first column holds ids
    path = tmp_path / "d.csv"
    path.write_text("digit,a,b,c\n" + "\n".join(",".join(f"{v:g}" for v in r) for r in rows) + "\n")
    table = read_table(path)
    assert table.label_source.startswith("column 'digit' (1 of 4, the first")


def test_bom_without_a_header_reads_the_first_row(tmp_path):
    rows = _rows()
    path = _write(tmp_path / "d.csv", None, rows, encoding="utf-8-sig")
    table = read_table(path, label_column=0)
    assert len(table.y) == len(rows) and np.array_equal(table.y, rows[:, 0])


def test_label_is_preferred_to_a_coordinate_named_y(tmp_path):
    rng = np.random.default_rng(1)
    px, py = rng.integers(0, 20, 200), rng.integers(0, 20, 200)
    rows = np.column_stack([px, py, (px > py).astype(int)])
    table = read_table(_write(tmp_path / "points.csv", "x,y,label", rows))
    assert table.label_source == "column 'label' (3 of 3, by its name)"
    assert np.array_equal(table.y, rows[:, 2]) and np.array_equal(table.x, rows[:, :2])
    alone = read_table(_write(tmp_path / "xy.csv", "a,b,y", rows))
    assert alone.label_source.startswith("column 'y' (3 of 3, by its name")


def test_two_label_names_are_refused(tmp_path):
    path = _write(tmp_path / "d.csv", "label,p0,p1,class", _rows())
    with pytest.raises(ConfigError, match="'label' and 'class' both have a label's name"):
        read_table(path)


def test_pandas_integer_column_names_are_a_header_not_a_row(tmp_path):
    """pd.DataFrame(array).to_csv(index=False) writes the column numbers 0,1,...,n-1 first."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(40, 784))
    rows = np.column_stack([x, np.arange(40) % 3])
    path = _write(tmp_path / "pd.csv", ",".join(str(i) for i in range(785)), rows)
    table = read_table(path, label_column=-1)
    assert len(table.y) == 40 and set(table.y.tolist()) == {0, 1, 2}  # no row of 0..783 labelled 784
    assert table.x.dtype == np.uint8  # pixels stay pixels (the header's 783 was no pixel value)
    assert table.label_source == "column '784' (785 of 785, as named)"


def test_a_pandas_index_column_is_refused(tmp_path):
    rows = _rows()
    indexed = np.column_stack([np.arange(len(rows)), rows[:, 1:], rows[:, 0]])
    path = _write(tmp_path / "d.csv", ",p0,p1,p2,label", indexed)
    with pytest.raises(DataError, match="index=False"):
        read_table(path)


def test_feature_names_are_the_header_without_the_label_column(tmp_path):
    assert read_table(_write(tmp_path / "d.csv", ",".join(NAMES), _rows())).feature_names == ("p0", "p1", "p2")
    assert read_table(_write(tmp_path / "bare.csv", None, _rows()), label_column=0).feature_names is None


def test_trained_feature_names_put_a_reordered_header_back_in_order(tmp_path):
    rows = _rows()
    path = _write(tmp_path / "d.csv", "p2,label,p0,p1", rows[:, [3, 0, 1, 2]])
    table = read_table(path, feature_names=["p0", "p1", "p2"])
    assert np.array_equal(table.x, rows[:, 1:]) and np.array_equal(table.y, rows[:, 0])
    assert table.feature_names == ("p0", "p1", "p2")
    assert table.notes == (f"{path} names the model's 3 feature columns in another order (p2, p0, p1); they are "
                           "read by name, in the trained order (p0, p1, p2)",)
    assert read_table(path, feature_names=["p2", "p0", "p1"]).notes == ()  # the file's own order: no note


@pytest.mark.parametrize("header, words", [
    ("label,p0,p1,q", "its feature column 3 of 3, 'q', is not one the model was trained on, and it has no column 'p2'"),
    ("label,p0,p1,p1", "it has no column 'p2'"),
])
def test_trained_feature_names_refuse_a_header_that_names_other_columns(tmp_path, header, words):
    path = _write(tmp_path / "d.csv", header, _rows())
    with pytest.raises(DataError, match="the header does not name the feature columns the model was trained on") as info:
        read_table(path, feature_names=["p0", "p1", "p2"])
    assert words in str(info.value)
    assert read_table(_write(tmp_path / "bare.csv", None, _rows()), label_column=0,
                      feature_names=["p0", "p1", "p2"]).x.shape == (60, 3)


FIRST_ROW_0_1 = "0,1\n0.1,1\n0.9,0\n1.0,0\n0.2,1\n0.8,0\n0.15,1\n0.95,0\n0.05,1\n0.85,0\n0.3,1\n0.7,0\n"


def test_a_first_row_of_column_numbers_that_could_be_data_is_said_to_be_read_as_a_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(FIRST_ROW_0_1)
    table = read_table(path)
    assert len(table.y) == 11  # pandas' header for unnamed columns, as before
    assert table.notes == (f"{path}: the first line, '0,1', was read as column numbers (the header pandas writes for "
                           "unnamed columns), not as a data row; if it is a row of data, write a header line of names "
                           "above it",)
    with pytest.warns(UserWarning, match="was read as column numbers"):
        load_arrays(path)
    path.write_text("x,label\n" + FIRST_ROW_0_1)  # the fix the note gives
    assert len(read_table(path).y) == 12 and read_table(path).notes == ()


def test_pandas_column_numbers_above_a_wide_table_are_no_plausible_row_and_need_no_note(tmp_path):
    rows = np.column_stack([np.random.default_rng(2).integers(0, 256, size=(40, 784)), np.arange(40) % 3])
    path = _write(tmp_path / "pd.csv", ",".join(str(i) for i in range(785)), rows)
    assert read_table(path, label_column=-1).notes == ()
