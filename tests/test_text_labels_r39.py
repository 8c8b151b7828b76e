"""Class labels written as names ("setosa", "versicolor", "virginica"), as the classic iris
CSV has them: read as classes in sorted order, recorded in the model, shown by train,
evaluate, predict and info; a column of numbers with a stray word in it is refused."""

from __future__ import annotations

import numpy as np
import pytest

from cli_in_process import run_cli
from deltaprop.data import read_table
from deltaprop.errors import DataError, FileFormatError
from deltaprop.serialization import read_model

NAMES = np.array(["setosa", "versicolor", "virginica"])
HEADER = "sepal_length,sepal_width,petal_length,petal_width,species"


def _iris_like(n=60, seed=0):
    """Three well-separated blobs of 4 features, labelled by name (classes 0, 1, 2 in turn)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return rng.normal(size=(n, 4)) * 0.3 + y[:, None] * 2.0, y


def _write(path, x, labels, header=HEADER):
    lines = [header] if header else []
    lines += [",".join(f"{v:.3f}" for v in row) + f",{label}" for row, label in zip(x, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained on an iris-like CSV whose labels are names, and the train command's result."""
    folder = tmp_path_factory.mktemp("names")
    x, y = _iris_like()
    data = _write(folder / "iris.csv", x, NAMES[y])
    res = run_cli("train", "--dataset", data, "--epochs", "30", "--seed", "0", "--out", folder / "run")
    return folder, res


# -- reading --------------------------------------------------------------------------------------
def test_a_label_column_of_names_becomes_sorted_class_ids_with_the_names(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,species\n0.1,0.2, virginica\n0.3,0.4,setosa \n0.5,0.6,virginica\n")
    table = read_table(path)
    assert table.class_names == ("setosa", "virginica")  # spaces trimmed, sorted as np.unique sorts them
    assert table.y.tolist() == [1, 0, 1]
    assert table.x.shape == (3, 2) and table.feature_names == ("a", "b")


def test_names_in_the_last_column_of_a_file_without_a_header_are_its_labels(tmp_path):
    x, y = _iris_like(12)
    table = read_table(_write(tmp_path / "iris.data", x, NAMES[y], header=None).rename(tmp_path / "iris.csv"))
    assert table.class_names == tuple(NAMES) and table.y.tolist() == y.tolist() and table.x.shape == (12, 4)
    assert table.feature_names is None


def test_a_test_file_s_names_are_read_as_the_model_s_classes(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,species\n1,2,virginica\n3,4,setosa\n")
    table = read_table(path, class_names=tuple(NAMES))  # two of the three, in another order
    assert table.y.tolist() == [2, 0] and table.class_names == tuple(NAMES)
    with pytest.raises(DataError, match=r"holds the class name 'virginica', which is none of the model's classes "
                                        r"\(setosa, versicolor\)"):
        read_table(path, class_names=("setosa", "versicolor"))


def test_an_empty_label_among_names_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,species\n1,2,setosa\n3,4,\n5,6,virginica\n")
    with pytest.raises(FileFormatError, match=r"line 3, column 3 \('species'\) holds '', a missing label"):
        read_table(path)


@pytest.mark.parametrize("cell, words", [("?", "a missing label"), ("NA", "a missing label"),
                                         ("cat", "where 3 of the 4 labels are numbers")])
def test_numbers_with_a_word_in_a_column_named_otherwise_are_refused_naming_the_line(tmp_path, cell, words):
    path = tmp_path / "d.csv"
    path.write_text(f"a,b,outcome\n1,2,0\n3,4,1\n5,6,{cell}\n7,8,1\n")
    with pytest.raises(FileFormatError) as info:
        read_table(path, label_column="outcome")
    assert f"line 4, column 3 ('outcome') holds '{cell}', {words}" in str(info.value)


def test_a_number_among_names_is_refused_by_the_rule(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,species\n1,2,setosa\n3,4,virginica\n5,6,2\n7,8,setosa\n")
    with pytest.raises(FileFormatError, match=r"line 4, column 3 \('species'\) holds '2', a number, where 3 of the "
                                              r"4 labels are text .* all numbers .* or all text"):
        read_table(path)


def test_text_in_a_feature_column_is_still_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,colour,species\n1,red,setosa\n3,blue,virginica\n")
    with pytest.raises(FileFormatError, match=r"line 2, column 2 \('colour'\) holds 'red', not a number; every "
                                              r"feature value must be a number"):
        read_table(path)


def test_an_npz_of_string_labels_is_read_as_class_names(tmp_path):
    x, y = _iris_like(12)
    np.savez(tmp_path / "d.npz", x=x, y=NAMES[y])  # a '<U10' array: no pickle needed
    table = read_table(tmp_path / "d.npz")
    assert table.class_names == tuple(NAMES) and table.y.tolist() == y.tolist()
    np.savez(tmp_path / "o.npz", x=x, y=NAMES[y].astype(object))  # an object array would need pickle
    with pytest.raises(FileFormatError, match="need pickle, which is never used"):
        read_table(tmp_path / "o.npz")


# -- the command line --------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_on_names_records_them_and_info_shows_them(trained):
    folder, res = trained
    assert res.returncode == 0, res.stderr
    assert ("labels: column 'species' (5 of 5, it holds text, class names; the others hold numbers); its 3 class "
            "names, sorted, are classes 0..2: setosa, versicolor, virginica") in res.stdout
    assert read_model(folder / "run" / "model.safetensors").class_names == tuple(NAMES)
    assert "classes: setosa, versicolor, virginica" in run_cli("info", folder / "run").stdout


@pytest.mark.slow
def test_predict_shows_class_names_and_leaves_the_text_label_column_out(trained):
    folder, _ = trained
    x, y = _iris_like(6, seed=1)
    res = run_cli("predict", folder / "run", _write(folder / "new.csv", x, NAMES[y]))
    assert res.returncode == 0, res.stderr
    predicted = [line.split("class ")[1].split()[0] for line in res.stdout.splitlines()]
    assert predicted == NAMES[y].tolist()


@pytest.mark.slow
def test_evaluate_reads_names_as_the_model_s_classes(trained):
    folder, _ = trained
    x, y = _iris_like(30, seed=2)
    keep = y != 1  # no versicolor, and virginica is then the second class the file names: still class 2
    res = run_cli("evaluate", folder / "run", "--dataset", _write(folder / "t.csv", x[keep], NAMES[y[keep]]))
    assert res.returncode == 0, res.stderr
    assert "accuracy 1.0000" in res.stdout
    assert "virginica      1.0000  1.0000  1.0000       10" in res.stdout


@pytest.mark.slow
def test_evaluate_refuses_an_unseen_name_and_numbers_for_names(trained):
    folder, _ = trained
    x, y = _iris_like(6, seed=3)
    res = run_cli("evaluate", folder / "run", "--dataset", _write(folder / "u.csv", x, ["setosa"] * 5 + ["nova"]))
    assert res.returncode != 0 and res.stderr.count("\n") == 1
    assert ("holds the class name 'nova', which is none of the model's classes (setosa, versicolor, virginica)"
            in res.stderr)
    res = run_cli("evaluate", folder / "run", "--dataset", _write(folder / "n.csv", x, y))
    assert res.returncode != 0 and res.stderr.count("\n") == 1
    assert "its labels (column 'species'" in res.stderr and "label the rows with those names" in res.stderr
