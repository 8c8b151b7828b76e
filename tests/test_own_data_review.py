"""A user's own files, trained on and then scored end to end: the rows scored are read as
the model was trained on them, or refused, never silently read another way."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cli_in_process import run_cli
from deltaprop.data import read_table
from deltaprop.errors import FileFormatError


def _rows(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes told apart by column a; b and c are noise, c a 0/1 indicator."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    a = y * 4.0 + rng.normal(scale=0.3, size=n)
    b = rng.normal(size=n)
    c = rng.integers(0, 2, size=n)
    return np.column_stack([a, b, c]), y


def _write(path, x, y, *, label_at: int, header: bool) -> None:
    """Columns a, b, c with the label column at place ``label_at``."""
    names = ["a", "b", "c"]
    names.insert(label_at, "label")
    lines = [",".join(names)] if header else []
    for row, label in zip(x, y):
        cells = [f"{row[0]:.4f}", f"{row[1]:.4f}", f"{int(row[2])}"]
        cells.insert(label_at, str(label))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def _accuracy(res) -> float:
    assert res.returncode == 0, res.stderr
    return float(re.search(r"accuracy (\d\.\d+)", res.stdout).group(1))


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_a_file_without_a_header_is_scored_with_the_label_column_where_training_had_it(tmp_path):
    x, y = _rows()
    _write(tmp_path / "train.csv", x, y, label_at=1, header=True)
    assert run_cli("train", "--dataset", tmp_path / "train.csv", "--out", tmp_path / "run", "--epochs", "3",
                   "--seed", "1").returncode == 0
    x2, y2 = _rows(seed=2)
    _write(tmp_path / "named.csv", x2, y2, label_at=1, header=True)
    _write(tmp_path / "bare.csv", x2, y2, label_at=1, header=False)
    named = run_cli("evaluate", tmp_path / "run", "--dataset", tmp_path / "named.csv")
    bare = run_cli("evaluate", tmp_path / "run", "--dataset", tmp_path / "bare.csv")
    # the same rows: the same score and the same support per class (the labels were taken from c)
    assert _accuracy(bare) == _accuracy(named)
    assert bare.stdout.split("\n", 1)[1] == named.stdout.split("\n", 1)[1]


def test_read_table_takes_a_label_position_for_a_file_without_a_header_only(tmp_path):
    x, y = _rows(12)
    _write(tmp_path / "bare.csv", x, y, label_at=2, header=False)
    _write(tmp_path / "named.csv", x, y, label_at=2, header=True)
    bare = read_table(tmp_path / "bare.csv", label_position=2)
    np.testing.assert_array_equal(bare.y, y)
    assert bare.label_index == 2 and "training file" in bare.label_source
    named = read_table(tmp_path / "named.csv", label_position=0)  # a header names the label column
    np.testing.assert_array_equal(named.y, y)
    assert named.label_index == 2
    given = read_table(tmp_path / "bare.csv", label_column=-1, label_position=2)  # an index given wins
    assert given.label_index == 3


def test_a_class_of_one_row_is_never_held_out_whole():
    from deltaprop.data import train_validation_split

    y = np.array([0] * 6 + [1] * 6 + [2])
    x = np.arange(len(y), dtype=np.float32)[:, None]
    _, y_tr, _, y_va = train_validation_split(x, y, 0.5, seed=0)
    assert set(y_tr.tolist()) == {0, 1, 2} and 2 not in y_va
    assert sorted(np.bincount(y_va).tolist()) == [3, 3]  # the other classes still give half their rows


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_validation_split_of_a_rare_class_keeps_its_row_for_training(tmp_path):
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(30, int), np.ones(30, int), [2]]
    x = rng.normal(size=(len(y), 2)) + y[:, None] * 3
    (tmp_path / "rare.csv").write_text("a,b,label\n" + "".join(f"{r[0]:.4f},{r[1]:.4f},{c}\n" for r, c in zip(x, y)))
    res = run_cli("train", "--dataset", tmp_path / "rare.csv", "--out", tmp_path / "run", "--epochs", "1",
                  "--validation-split", "0.5", "-q")
    assert res.returncode == 0, res.stderr
    from deltaprop.cli import TrainConfig, _training_data  # the rows the run trained on

    cfg = TrainConfig.from_mapping({"dataset": str(tmp_path / "rare.csv"), "validation_split": 0.5},
                                   origin="the test")
    data = _training_data(cfg)
    assert 2 in data.y_train and 2 not in data.validation[1]


def _with_id(path, n: int = 90, *, first: int = 1, header: bool = True) -> None:
    """An id column first (the row numbers), then two features and a label, sorted by class."""
    x, y = _rows(n)
    order = np.argsort(y, kind="stable")
    lines = ["Id,a,b,label"] if header else []
    lines += [f"{i + first},{x[r, 0]:.4f},{x[r, 1]:.4f},{y[r]}" for i, r in enumerate(order)]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_row_id_column_is_named_as_one_when_training_on_the_file(tmp_path):
    _with_id(tmp_path / "ids.csv")
    res = run_cli("train", "--dataset", tmp_path / "ids.csv", "--out", tmp_path / "run", "--epochs", "1", "-q")
    assert res.returncode == 0, res.stderr
    assert "column 'Id' (1 of 4) holds the row numbers 1..90, each once: a row id" in res.stderr


def test_row_ids_from_0_in_a_file_without_a_header_are_noted_and_features_are_not(tmp_path):
    _with_id(tmp_path / "bare.csv", first=0, header=False)
    notes = read_table(tmp_path / "bare.csv", label_column=-1).notes
    assert len(notes) == 1 and "column (1 of 4) holds the row numbers 0..89, each once" in notes[0]
    _write(tmp_path / "plain.csv", *_rows(90), label_at=3, header=True)  # c is a 0/1 indicator, no id
    assert read_table(tmp_path / "plain.csv").notes == ()
    _with_id(tmp_path / "few.csv", 9)
    assert read_table(tmp_path / "few.csv").notes == ()  # too few rows to tell an id from a feature
    rows = "".join(f"{i + 1},{i % 7},{i % 2}\n" for i in range(300))  # ids past 255 (a uint16 column)
    (tmp_path / "wide.csv").write_text("id,f,label\n" + rows)
    assert "holds the row numbers 1..300" in read_table(tmp_path / "wide.csv").notes[0]


def _oversampled(path) -> None:
    """A rare class copied five times over (oversampling before the split), as a user might."""
    x, y = _rows(80)
    rare = np.flatnonzero(y == 1)[:6]
    keep = np.r_[np.flatnonzero(y == 0), np.tile(rare, 5)]
    _write(path, x[keep], y[keep], label_at=3, header=True)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_test_rows_that_repeat_training_rows_are_said_by_train_and_evaluate(tmp_path):
    _oversampled(tmp_path / "over.csv")
    res = run_cli("train", "--dataset", tmp_path / "over.csv", "--out", tmp_path / "run", "--epochs", "1", "-q")
    assert res.returncode == 0, res.stderr
    said = re.search(r"(\d+) of the (\d+) test rows of \S+ repeat a training row's features exactly", res.stderr)
    assert said is not None and 0 < int(said.group(1)) <= 6, res.stderr  # only the copies of the rare class
    scored = run_cli("evaluate", tmp_path / "run")
    assert scored.returncode == 0 and said.group(0) in scored.stderr
    everything = run_cli("evaluate", tmp_path / "run", "--split", "all")
    assert "repeat a training row" not in everything.stderr  # no test part: nothing to say


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_file_without_repeated_rows_gets_no_note(tmp_path):
    _write(tmp_path / "plain.csv", *_rows(80), label_at=3, header=True)
    res = run_cli("train", "--dataset", tmp_path / "plain.csv", "--out", tmp_path / "run", "--epochs", "1", "-q")
    assert res.returncode == 0 and "repeat a training row" not in res.stderr, res.stderr


def test_a_missing_label_says_to_drop_the_row_not_to_impute_it(tmp_path):
    (tmp_path / "f.csv").write_text("a,b,label\n0.5,1.5,0\n0.25,2.5,\n0.75,3.5,1\n")
    with pytest.raises(FileFormatError) as caught:
        read_table(tmp_path / "f.csv")
    message = str(caught.value)
    assert "line 3, column 3 ('label') holds '', a missing label" in message and "drop the rows" in message
    assert "mean" not in message


def test_a_quoted_number_with_thousands_separators_is_named_as_such(tmp_path):
    (tmp_path / "f.csv").write_text('income,age,label\n"1,250.5",31,0\n"980",45,1\n')
    with pytest.raises(FileFormatError) as caught:
        read_table(tmp_path / "f.csv")
    assert "line 2, column 1 ('income') holds '1,250.5', a number written with thousands separators" \
        in str(caught.value)


def test_labels_saved_as_one_column_say_to_save_them_1d(tmp_path):
    x, y = _rows(30)
    np.savez(tmp_path / "col.npz", x=x, y=y[:, None])
    res = run_cli("train", "--dataset", tmp_path / "col.npz", "--out", tmp_path / "run", "--epochs", "1")
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "shape (30, 1), one column" in res.stderr and "y=y.ravel()" in res.stderr
    assert "several labels" not in res.stderr


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_evaluate_on_another_file_says_how_many_of_its_rows_the_model_trained_on(tmp_path):
    x, y = _rows(80)
    _write(tmp_path / "train.csv", x, y, label_at=3, header=True)
    assert run_cli("train", "--dataset", tmp_path / "train.csv", "--out", tmp_path / "run", "--epochs", "1",
                   "-q").returncode == 0
    # the same rows with the columns in another order and Windows line endings: other bytes, the same rows
    _write(tmp_path / "again.csv", x, y, label_at=0, header=True)
    (tmp_path / "again.csv").write_bytes((tmp_path / "again.csv").read_bytes().replace(b"\n", b"\r\n"))
    res = run_cli("evaluate", tmp_path / "run", "--dataset", tmp_path / "again.csv")
    assert res.returncode == 0, res.stderr
    said = re.search(r"(\d+) of the 80 rows of \S+ repeat the features of a row the model trained on \(in \S+\) "
                     r"exactly \((\d+) more repeat a validation row", res.stderr)
    assert said is not None, res.stderr  # every row but the 16 held out: trained on, or validated on
    assert int(said.group(1)) + int(said.group(2)) == 80 - 16 and int(said.group(2)) > 0, res.stderr
    x2, y2 = _rows(40, seed=5)
    _write(tmp_path / "new.csv", x2, y2, label_at=3, header=True)
    fresh = run_cli("evaluate", tmp_path / "run", "--dataset", tmp_path / "new.csv")
    assert fresh.returncode == 0 and "trained on" not in fresh.stderr, fresh.stderr
    whole = run_cli("evaluate", tmp_path / "run", "--split", "all")  # the training file itself, asked for whole
    assert whole.returncode == 0 and "repeat" not in whole.stderr, whole.stderr
