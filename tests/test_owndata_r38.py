"""A newcomer's own data files, read as they are written: a layout the reader would take
the wrong way is refused in one line naming the fix, never trained on or scored wrong."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.data import read_table
from deltaprop.errors import DataError


def _rows(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return np.round(rng.normal(size=(n, 3)), 4), np.arange(n) % 3


def _csv(path, header: list[str] | None, rows: np.ndarray):
    lines = ([",".join(header)] if header else []) + [",".join(f"{v:g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("header", [["a", "b", "c", "y0", "y1", "y2"], None])
def test_one_hot_label_columns_last_are_refused_not_read_as_a_binary_label_and_two_features(tmp_path, header):
    """pandas' ``get_dummies`` of the labels saved beside the features: the last column
    (0/1) was taken as the labels of a two-class problem and the other two one-hot columns
    were trained on as features, which give its class away (test accuracy 1.0)."""
    x, y = _rows()
    path = _csv(tmp_path / "onehot.csv", header, np.column_stack([x, np.eye(3)[y]]))
    named = r" \('y0', 'y1', 'y2'\)" if header else ""
    with pytest.raises(DataError, match=rf"the last 3 columns{named} hold one-hot rows .*one column of class ids "
                                        r"\(in Python: ids = onehot.argmax\(axis=1\)\)"):
        read_table(path)


def test_one_hot_label_columns_first_are_refused_two_classes_too(tmp_path):
    x, y = _rows()
    path = _csv(tmp_path / "onehot.csv", None, np.column_stack([np.eye(2)[y % 2], x]))
    with pytest.raises(DataError, match=r"the first 2 columns hold one-hot rows"):
        read_table(path)


def test_a_binary_label_beside_binary_features_that_are_no_one_hot_rows_is_still_read(tmp_path):
    """A 0/1 feature next to a 0/1 label whose rows do not each hold a single 1 is a feature."""
    x, y = _rows()
    flag = (x[:, 0] > 0).astype(float)
    table = read_table(_csv(tmp_path / "flags.csv", None, np.column_stack([x, flag, y % 2])))
    assert table.x.shape == (60, 4)
    np.testing.assert_array_equal(table.y, y % 2)


def test_the_one_hot_refusal_reaches_train_as_one_line(tmp_path):
    from cli_in_process import run_cli

    x, y = _rows()
    path = _csv(tmp_path / "onehot.csv", ["a", "b", "c", "y0", "y1", "y2"], np.column_stack([x, np.eye(3)[y]]))
    res = run_cli("train", "--dataset", path, "--out", tmp_path / "run", "--epochs", "1")
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and "hold one-hot rows" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_a_file_whose_header_names_only_the_models_features_is_refused_as_holding_no_labels(tmp_path):
    """Rows to classify, saved with the training file's feature header and no label column:
    the last feature was taken as the labels and the message said the file had no column
    'c', which it has."""
    x, _ = _rows()
    path = _csv(tmp_path / "rows.csv", ["a", "b", "c"], x)
    with pytest.raises(DataError, match=r"the header names the model's 3 feature columns and no other: the file has "
                                        r"no label column.*add the labels as a column; to classify rows without "
                                        r"labels, use predict"):
        read_table(path, feature_names=["a", "b", "c"])


@pytest.mark.parametrize("layout", ["labels first", "no labels", "a column added"])
def test_a_file_without_a_header_whose_label_column_is_not_where_training_had_it_says_so(tmp_path, layout):
    """Read by position for a model trained on ``a,b,c,label`` without a header (labels in
    column 4): a file with its labels first, none, or one more feature column was refused as
    holding 'a regression target (or a feature)?', with a fix for training regressions."""
    x, y = _rows()
    rows = {"labels first": np.column_stack([y, x]), "no labels": x,
            "a column added": np.column_stack([x, x[:, :1], y])}[layout]
    with pytest.raises(DataError, match=r"a file without a header is read by position, and the model's training file "
                                        r"had its labels in column 4, but (column 4 of [45]|its last column \(it has "
                                        r"3, none of them a column 4\)) holds -?[0-9.]+, not a class id: give the "
                                        r"file the training file's columns in its order") as err:
        read_table(_csv(tmp_path / "rows.csv", None, rows), label_position=3)
    assert "regression" not in str(err.value)


def test_a_file_without_a_header_in_the_training_layout_is_still_read_by_position(tmp_path):
    x, y = _rows()
    table = read_table(_csv(tmp_path / "rows.csv", None, np.column_stack([x, y])), label_position=3)
    np.testing.assert_array_equal(table.y, y)
    np.testing.assert_allclose(table.x, x, rtol=1e-6)


@pytest.mark.slow
def test_evaluate_says_in_one_line_that_a_file_without_a_header_has_no_label_column(tmp_path):
    from cli_in_process import run_cli

    x, y = _rows(90)
    train = _csv(tmp_path / "train.csv", None, np.column_stack([x, y]))
    assert run_cli("train", "--dataset", train, "--out", tmp_path / "run", "--epochs", "1", "--quiet").returncode == 0
    res = run_cli("evaluate", tmp_path / "run", "--dataset", _csv(tmp_path / "rows.csv", None, x))
    assert res.returncode != 0 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "had its labels in column 4, but its last column (it has 3" in res.stderr
    assert "use predict" in res.stderr
