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


def test_a_file_whose_both_ends_could_be_labels_says_which_end_holds_one_hot_rows(tmp_path):
    """One-hot labels first and a count (0..4) last, no header: the refusal asking which end
    holds the labels led to --label-column 0, a one-hot column whose siblings give it away;
    it now says the first columns are one-hot and how to make them one column."""
    from deltaprop.errors import ConfigError

    x, y = _rows()
    counts = np.arange(60) % 5
    with pytest.raises(ConfigError, match=r"both the first and the last column hold whole numbers .*; the first 3 "
                                          r"columns hold one-hot rows \(a single 1 a row\): if they are the labels, "
                                          r"write them as one column of class ids first"):
        read_table(_csv(tmp_path / "data.csv", None, np.column_stack([np.eye(3)[y], x, counts])))


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


def _text(n: int = 30) -> str:
    x, y = _rows(n)
    return "a,b,c,label\n" + "".join(",".join(f"{v:g}" for v in row) + f",{k}\n" for row, k in zip(x, y))


@pytest.mark.parametrize("case", ["utf-16", "cp1252 header", "cp1252 row", "xlsx", "gzip", "carriage returns"])
def test_a_file_that_is_no_utf8_csv_text_is_named_for_what_it_is_with_the_way_to_save_it(tmp_path, case):
    """What Excel and others save under a .csv name: a UTF-16 or Windows code page file, a
    workbook, a compressed file, old Mac line ends. They were refused as "cannot read as
    text CSV ('utf-8' codec can't decode byte 0xff ...)" or, for carriage returns alone, as
    a header naming hundreds of columns the rows do not have."""
    import gzip
    import zipfile

    from deltaprop.errors import FileFormatError

    path, text = tmp_path / "data.csv", _text()
    if case == "utf-16":
        path.write_bytes(text.encode("utf-16"))
    elif case == "cp1252 header":
        path.write_bytes(text.replace("a,b", "température,b", 1).encode("cp1252"))
    elif case == "cp1252 row":
        lines = text.splitlines(keepends=True)
        lines[9] = lines[9].replace("\n", " é\n")
        path.write_bytes("".join(lines).encode("cp1252"))
    elif case == "xlsx":
        with zipfile.ZipFile(path, "w") as book:
            book.writestr("xl/workbook.xml", bytes(range(256)) * 4)
    elif case == "gzip":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_bytes(text.replace("\n", "\r").encode())
    expected = {"utf-16": r"is UTF-16 text .*iconv -f utf-16 -t utf-8 data.csv > utf8.csv",
                "cp1252 header": r"is not UTF-8 text \(it holds the byte 0xe9 .*iconv -f cp1252 -t utf-8",
                "cp1252 row": r"is not UTF-8 text \(it holds the byte 0xe9 .*save it as 'CSV UTF-8",
                "xlsx": r"is a zip archive \(an Excel .xlsx workbook\?\), not CSV text; save the sheet from Excel",
                "gzip": r"is gzip-compressed, not CSV text; decompress it first \(gzip -dc data.csv > unpacked.csv\)",
                "carriage returns": r"its lines end with a carriage return alone .*tr '\\r' '\\n' < data.csv"}[case]
    with pytest.raises(FileFormatError, match=expected):
        read_table(path)


def test_crlf_line_ends_and_a_byte_order_mark_are_still_read(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(_text().replace("\n", "\r\n").encode("utf-8-sig"))
    table = read_table(path)
    assert table.feature_names == ("a", "b", "c") and table.x.shape == (30, 3)
    np.testing.assert_array_equal(table.y, np.arange(30) % 3)


def _regression_alerts(offset: float, epochs: int = 12, scaled: bool = False):
    import deltaprop as dp

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = x @ np.array([1.0, 2.0, -1.0, 0.5]) * 1e6 + offset
    y = (y - y.mean()) / y.std() if scaled else y
    net = dp.mlp([4, 16, 1], output="identity", seed=0)
    history = dp.fit(net, x, y, loss=dp.MeanSquaredError(classification=False), optimizer=dp.Adam(), epochs=epochs,
                     batch_size=20, seed=0, threads=1)
    return [a for a in history.alerts if a.rule == "loss_above_guess"]


def test_regression_targets_far_from_the_outputs_start_raise_an_alert_saying_to_scale_them():
    """Targets in the millions (mean 3e6) on an identity output: Adam moves the output about
    0.001 a step, so 100 updates later the loss was still its start, 4× that of predicting
    the mean, and no alert said so (a flat-loss alert came after 1,000 updates, its fix about
    the learning rate and the inputs); predictions stayed in the tens."""
    alerts = _regression_alerts(3e6)
    assert alerts, "no loss_above_guess alert"
    assert "updates have not halved it: the targets lie far from where the outputs start" in str(alerts[0])
    assert "scale the targets: fit on (y − y.mean()) / y.std()" in str(alerts[0])


def test_the_same_targets_scaled_raise_no_such_alert():
    assert _regression_alerts(3e6, scaled=True) == []
