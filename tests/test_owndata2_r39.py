"""Own data given to predict and evaluate: an empty label column and an id column are not
read, a one-column file is a model of one feature's inputs, images are refused for a model
of a table's columns, and a label column named nearly right is named as the header has it."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.data import read_rows, read_table
from deltaprop.errors import ConfigError, DataError, FileFormatError
from cli_in_process import run_cli


def _write(path, header, rows):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_predict_rows_leave_out_an_empty_label_column(tmp_path):
    f = _write(tmp_path / "new.csv", "a,b,label", [(0.5, 1.5, ""), (2.0, -1.0, "")])
    rows, notes, left = read_rows(f, 2, feature_names=["a", "b"])
    assert rows.tolist() == [[0.5, 1.5], [2.0, -1.0]] and left == 1 and "'label'" in notes[0]


def test_predict_rows_leave_out_an_empty_label_column_without_trained_names(tmp_path):
    f = _write(tmp_path / "new.csv", "a,b,label", [(0.5, 1.5, ""), (2.0, -1.0, "")])
    rows, _, left = read_rows(f, 2)
    assert rows.tolist() == [[0.5, 1.5], [2.0, -1.0]] and left == 1


def test_predict_rows_never_read_an_id_column_the_model_lacks(tmp_path):
    f = _write(tmp_path / "new.csv", "id,a,b", [("nan", 0.5, 1.5), ("nan", 2.0, -1.0)])
    rows, _, left = read_rows(f, 2, feature_names=["a", "b"])
    assert rows.tolist() == [[0.5, 1.5], [2.0, -1.0]] and left == 1
    _write(f, "id,a,b", [(1, "nan", 1.5), (2, 2.0, -1.0)])  # in a feature column: still refused
    with pytest.raises(DataError, match="'a'"):
        read_rows(f, 2, feature_names=["a", "b"])


@pytest.mark.parametrize("header", ["x\n", ""])
def test_predict_reads_a_one_column_file_for_a_model_of_one_feature(tmp_path, header):
    f = tmp_path / "one.csv"
    f.write_text(header + "0.5\n-1.25\n3\n")
    rows, notes, left = read_rows(f, 1, feature_names=["x"] if header else None)
    assert rows.tolist() == [[0.5], [-1.25], [3.0]] and left == 0 and notes == ()
    with pytest.raises(FileFormatError, match="at least two columns"):  # training still needs inputs and a label
        read_table(f)


@pytest.mark.parametrize("given", ["Label", "lable", "LABLE"])
def test_a_label_column_named_nearly_right_is_suggested(tmp_path, given):
    f = _write(tmp_path / "d.csv", "a,b,label", [(0.5, 1.5, 0), (2.0, -1.0, 1)])
    with pytest.raises(ConfigError, match=r"no column named .* \(did you mean 'label'\?\)") as info:
        read_table(f, label_column=given)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        read_table(f, label_column="zzzz")
    assert "did you mean" not in str(info.value)


def test_a_labels_array_named_nearly_right_is_suggested(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, x=np.zeros((4, 2)), labels=np.arange(4) % 2)
    with pytest.raises(ConfigError, match=r"\(did you mean 'labels'\?\)"):
        read_table(f, label_column="Labels")


@pytest.fixture(scope="module")
def table_model(tmp_path_factory):
    """A model trained (one epoch) on a CSV file of 4 named columns, and the folder."""
    root = tmp_path_factory.mktemp("owndata2")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).round(3)
    _write(root / "train.csv", "a,b,c,d,label", [(*r, int(r[0] > 0)) for r in x])
    done = run_cli("train", "--dataset", root / "train.csv", "--epochs", "1", "--quiet", "--out", root / "run")
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.slow
def test_predict_cli_reads_rows_whose_label_column_is_empty(table_model):
    f = _write(table_model / "new.csv", "id,a,b,c,d,label", [("r1", 0.1, 0.2, 0.3, 0.4, ""), ("nan", 1, 2, 3, 4, "")])
    done = run_cli("predict", table_model / "run", f)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("new.csv[") == 2


@pytest.mark.slow
def test_predicts_evaluate_hint_does_not_claim_an_empty_column_holds_labels(table_model):
    """With one column left out, predict said "to score the rows against their labels use:
    deltaprop evaluate ...", also where that column is empty (evaluate then fails on it)."""
    f = _write(table_model / "unlabelled.csv", "a,b,c,d,label", [(0.1, 0.2, 0.3, 0.4, ""), (1, 2, 3, 4, "")])
    done = run_cli("predict", table_model / "run", f)
    assert done.returncode == 0, done.stderr
    assert "note: if the column left out holds the rows' labels, score the rows against them with: " \
           "deltaprop evaluate" in done.stderr
    assert "to score the rows against their labels use" not in done.stderr


@pytest.mark.slow
def test_predict_refuses_images_for_a_model_of_a_table(table_model):
    np.save(table_model / "images.npy", np.zeros((3, 2, 2)))
    done = run_cli("predict", table_model / "run", table_model / "images.npy")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    err = done.stderr.strip()
    assert "\n" not in err and "(2, 2)" in err and "a, b, c, d" in err
    np.save(table_model / "rows.npy", np.zeros((3, 4)))  # rows of its 4 columns: read
    assert run_cli("predict", table_model / "run", table_model / "rows.npy").returncode == 0


@pytest.mark.slow
def test_evaluate_refuses_images_for_a_model_of_a_table(table_model):
    np.savez(table_model / "images.npz", x=np.zeros((40, 2, 2)), y=np.arange(40) % 2)
    done = run_cli("evaluate", table_model / "run", "--dataset", table_model / "images.npz")
    assert done.returncode != 0 and "(2, 2)" in done.stderr and "a, b, c, d" in done.stderr
