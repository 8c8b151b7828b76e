"""MNIST and Fashion-MNIST files side by side in one data folder (the two name their files
alike), and CSV files whose first line is a header of numbers."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

import deltaprop.data as d
from deltaprop.data import mnist
from deltaprop.data.download import cache_dir
from deltaprop.data.idx import idx_header_bytes, write_idx
from deltaprop.data import load_arrays, read_table
from deltaprop.errors import ConfigError, DataError, FileFormatError

N_TRAIN, N_TEST = 12, 6


@pytest.fixture(autouse=True)
def isolated(private_data_env):
    """A private, empty cache and no DELTAPROP_DATA."""


def _arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
            "train_labels": rng.integers(0, 10, N_TRAIN).astype(np.uint8),
            "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
            "test_labels": rng.integers(0, 10, N_TEST).astype(np.uint8)}


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(idx_header_bytes(array.shape, array.dtype) + array.tobytes()).hexdigest()


@pytest.fixture
def two_datasets(monkeypatch):
    """Small fake MNIST and Fashion-MNIST (different content, the same file names), each
    spec knowing its own fake files' content, as the real specs know the real ones'."""
    arrays = {"mnist": _arrays(1), "fashion-mnist": _arrays(2)}
    for attr, name in (("MNIST", "mnist"), ("FASHION_MNIST", "fashion-mnist")):
        spec = getattr(mnist, attr)
        files = {role: dataclasses.replace(rf, digests=(("sha256", "0" * 64),),
                                           content_sha256=_sha(arrays[name][role]))
                 for role, rf in spec.files.items()}
        monkeypatch.setattr(mnist, attr, dataclasses.replace(spec, files=files, n_train=N_TRAIN, n_test=N_TEST,
                                                             mirrors=[], system_dirs=()))
    return arrays


def _write(folder, arrays, raw=False):
    folder.mkdir(parents=True, exist_ok=True)
    for role, rf in mnist.MNIST.files.items():
        write_idx(folder / (rf.raw_name if raw else rf.name), arrays[role])


def _same(ds, arrays):
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"])
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(ds.x_test, arrays["test_images"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])


@pytest.mark.parametrize("raw", [False, True])
def test_mnist_on_top_and_fashion_in_its_folder_each_load_their_own(two_datasets, tmp_path, raw):
    _write(tmp_path, two_datasets["mnist"], raw)
    _write(tmp_path / "fashion-mnist", two_datasets["fashion-mnist"])
    _same(d.load("fashion-mnist", data_dir=tmp_path, download=False), two_datasets["fashion-mnist"])
    _same(d.load("mnist", data_dir=tmp_path, download=False), two_datasets["mnist"])


def test_fashion_on_top_and_mnist_in_its_folder_each_load_their_own(two_datasets, tmp_path):
    _write(tmp_path, two_datasets["fashion-mnist"])
    _write(tmp_path / "mnist", two_datasets["mnist"], raw=True)
    _same(d.load("mnist", data_dir=tmp_path, download=False), two_datasets["mnist"])
    _same(d.load("fashion-mnist", data_dir=tmp_path, download=False), two_datasets["fashion-mnist"])


def test_the_other_datasets_files_in_data_dir_are_refused_not_passed_over_for_the_cache(two_datasets, tmp_path):
    """data_dir means that folder: a genuine cached copy does not silently stand in."""
    _write(tmp_path / "data", two_datasets["mnist"])
    _write(cache_dir() / "fashion-mnist", two_datasets["fashion-mnist"])
    with pytest.raises(FileFormatError, match="this is mnist's train-images-idx3-ubyte, not fashion-mnist's"):
        d.load("fashion-mnist", data_dir=tmp_path / "data", download=False)


def test_only_the_other_datasets_files_are_refused_saying_whose_they_are(two_datasets, tmp_path):
    _write(tmp_path, two_datasets["mnist"])
    with pytest.raises(FileFormatError) as info:
        d.load("fashion-mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in message
    assert "mnist's train-images-idx3-ubyte, not fashion-mnist's" in message
    assert "fashion-mnist/" in message


def test_a_damaged_file_in_the_datasets_folder_is_the_one_named(two_datasets, tmp_path):
    _write(tmp_path, two_datasets["mnist"])
    arrays = dict(two_datasets["fashion-mnist"])
    arrays["test_labels"] = (arrays["test_labels"] + 1) % 10
    _write(tmp_path / "fashion-mnist", arrays)
    with pytest.raises(FileFormatError) as info:
        d.load("fashion-mnist", data_dir=tmp_path, download=False)
    assert str(info.value).startswith(f"{tmp_path / 'fashion-mnist' / 't10k-labels-idx1-ubyte.gz'}: its content "
                                      "differs from the published fashion-mnist t10k-labels")


# ---------------------------------------------------------------- CSV: a header of numbers
def _csv(path, first_line: str | None, rows: np.ndarray, fmt: str = "{:g}"):
    lines = ([first_line] if first_line is not None else []) + [",".join(fmt.format(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _measurements(n: int = 30) -> np.ndarray:
    """Three measurements in 0..1 and a class id 0..2 last."""
    rng = np.random.default_rng(3)
    return np.column_stack([np.round(rng.random((n, 3)), 3), np.arange(n) % 3])


def test_column_numbers_from_1_are_a_header_not_a_row(tmp_path):
    rows = np.column_stack([np.random.default_rng(2).integers(0, 256, size=(40, 784)), np.arange(40) % 3])
    path = _csv(tmp_path / "d.csv", ",".join(str(i) for i in range(1, 786)), rows)
    table = read_table(path, label_column=-1)
    assert len(table.y) == 40 and set(table.y.tolist()) == {0, 1, 2}  # no row 1..784 labelled 785
    np.testing.assert_array_equal(table.x, rows[:, :-1])
    assert table.x.dtype == np.uint8 and table.notes == () and table.feature_names[-1] == "784"
    assert table.label_source == "column '785' (785 of 785, as named)"
    table = read_table(_csv(tmp_path / "small.csv", "1,2,3,4", _measurements()))
    assert len(table.y) == 30 and table.label_source.startswith("column '4' (4 of 4")


@pytest.mark.parametrize("n_rows", [12, 5])
def test_a_first_row_1_2_that_could_be_data_is_kept_as_data(tmp_path, n_rows):
    """1..n is a header only above rows it could not be one of (and 10 rows or more)."""
    rows = np.column_stack([np.linspace(0.5, 2.5, n_rows), np.arange(n_rows) % 2 + 1])
    table = read_table(_csv(tmp_path / "d.csv", "1,2", rows))
    assert len(table.y) == n_rows + 1 and table.y[0] == 2 and table.feature_names is None


@pytest.mark.parametrize("first, value", [("400.5,410.2,420.1,-1", "-1"), ("100,200,300,0.5", "0.5")])
def test_a_first_row_whose_label_is_no_class_id_is_refused_as_a_header_of_numbers(tmp_path, first, value):
    path = _csv(tmp_path / "d.csv", first, _measurements())
    with pytest.raises(DataError) as info:
        read_table(path)
    assert str(info.value) == (f"{path}: line 1, the first row, holds {value} in column 4 of 4, not a class id, where "
                               "every other row holds a class id (0..2): is line 1 a header of numbers? Give the "
                               "columns names that are words (x1,x2,...,label) or delete the line; if it is a row of "
                               "data, correct its label")
    path.write_text("x1,x2,x3,label\n" + path.read_text().split("\n", 1)[1])  # the fix it gives
    assert len(read_table(path).y) == 30


def test_a_header_of_numbers_is_judged_in_the_named_label_column_and_counts_comment_lines(tmp_path):
    rows = _measurements()[:, ::-1]  # the class id first
    path = tmp_path / "d.csv"
    path.write_text("# exported\n" + _csv(tmp_path / "rows.csv", "-1,7.5,8.5,9.5", rows).read_text())
    with pytest.raises(DataError, match=r"line 2, the first row, holds -1 in column 1 of 4, not a class id"):
        read_table(path, label_column=0)
    with pytest.raises(DataError, match=r"line 2, the first row, holds -1 in column 1 of 4"):
        read_table(path)  # found as the label column by the rows below it


def test_a_first_row_with_a_class_no_other_row_has_above_theirs_gets_a_note(tmp_path):
    path = _csv(tmp_path / "d.csv", "400,410,420,7", _measurements())
    with pytest.warns(UserWarning, match="line 1, the first row, holds 7 in column 4 of 4, a class no other row has, "
                                         r"where every other row holds a class id \(0..2\): is line 1 a header"):
        x, y = load_arrays(path)
    assert len(y) == 31  # a note, not a refusal: it may be a row of data


@pytest.mark.parametrize("first", ["0.25,0.5,0.75,2", "5,6,7,1", "0.1,0.2,0.3,0", "3,4,5,6"])
def test_a_real_first_data_row_is_kept_without_a_word(tmp_path, first):
    rows = _measurements()
    if first == "3,4,5,6":  # classes 0..6 throughout: the first row's 6 is one of them
        rows[:, -1] = np.arange(len(rows)) % 7
    path = _csv(tmp_path / "d.csv", first, rows)
    table = read_table(path)
    assert len(table.y) == 31 and table.y[0] == int(first.split(",")[-1]) and table.notes == ()
    np.testing.assert_allclose(table.x[0], [float(v) for v in first.split(",")[:3]], rtol=1e-6)


def test_a_negative_feature_in_the_first_row_is_no_header(tmp_path):
    rows = np.column_stack([np.arange(30) % 4, np.arange(30) % 3])  # two columns of whole numbers
    rows[0, 0] = -2
    table = read_table(_csv(tmp_path / "d.csv", None, rows), label_column=-1)
    assert len(table.y) == 30 and table.x[0, 0] == -2


def test_a_label_column_given_as_digits_that_a_header_of_numbers_names_elsewhere_is_refused(tmp_path):
    """Above a header 1,2,...,n, '5' names the fifth column and indexes the sixth."""
    rows = np.column_stack([np.random.default_rng(2).integers(0, 256, size=(40, 3)),
                            np.random.default_rng(3).integers(0, 2, size=(40, 4))])  # pixels, then 0/1 ids
    path = _csv(tmp_path / "d.csv", "1,2,3,4,5,6,7", rows)
    with pytest.raises(ConfigError) as info:
        read_table(path, label_column="5")
    assert str(info.value) == (f"{path}: label column '5' is both the name of column 5 of 7 and the index of another "
                               "(0 first: the column named '6'); give the one you mean as an index counted from the "
                               "end: --label-column -3 for the column named '5' (label_column= in load_arrays)")
    np.testing.assert_array_equal(read_table(path, label_column=-3).y, rows[:, 4])
    np.testing.assert_array_equal(read_table(path, label_column="7").y, rows[:, 6])  # a name only: no index 7
    np.testing.assert_array_equal(read_table(path, label_column=5).y, rows[:, 5])  # an int is an index
    pandas = _csv(tmp_path / "pd.csv", "0,1,2,3,4,5,6", rows)  # names 0..n-1 are the indices
    np.testing.assert_array_equal(read_table(pandas, label_column="4").y, rows[:, 4])


# ---------------------------------------------------------------- CSV: a first row with missing values
@pytest.mark.parametrize("first, cell", [("0.5,NA,0.25,1", "NA"), ("0.5,?,0.25,1", "?"), ("0.5,,0.25,1", ""),
                                         ("0.5,0.1,0.25,n/a", "n/a")])
def test_a_first_data_row_with_a_missing_value_is_refused_not_dropped_as_a_header(tmp_path, first, cell):
    path = _csv(tmp_path / "d.csv", first, _measurements())
    with pytest.raises(FileFormatError) as info:
        read_table(path)
    column = first.split(",").index(cell) + 1
    assert str(info.value).startswith(f"{path}: line 1, column {column} holds {cell!r}, a missing value")


@pytest.mark.parametrize("header", ["400,410,420,label", "x1,x2,x3,label", "400,NA,420,label"])
def test_headers_that_name_columns_by_numbers_are_still_headers(tmp_path, header):
    rows = _measurements()
    table = read_table(_csv(tmp_path / "d.csv", header, rows))
    assert len(table.y) == 30 and table.feature_names == tuple(header.split(",")[:3])
    np.testing.assert_array_equal(table.y, rows[:, -1])


def test_pandas_index_above_column_numbers_is_still_refused_as_an_index(tmp_path):
    rows = np.column_stack([np.arange(30), _measurements()])
    with pytest.raises(DataError, match="the first column has no name in the header: a row index"):
        read_table(_csv(tmp_path / "d.csv", ",0,1,2,3", rows))
