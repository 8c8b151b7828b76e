"""Own data files across commands: a second file scored against the model's training file."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from cli_in_process import run_cli
from deltaprop.data import load_arrays, read_table, train_validation_split


def _write(path, table: np.ndarray) -> str:
    lines = ["a,b,c,label"] + [",".join(f"{v:.4g}" for v in row[:-1]) + f",{int(row[-1])}" for row in table]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _table(n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(3)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 3)) * 0.3 + y[:, None] * np.array([1.0, -1.0, 0.5])
    return np.column_stack([np.round(x, 2), y])


def _rows_in(rows: np.ndarray, seen: np.ndarray) -> int:
    return sum(any(np.array_equal(r, s) for s in seen) for r in rows)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_evaluate_split_test_of_a_shuffled_copy_says_which_rows_were_trained_on(tmp_path):
    """A copy of the training file with its rows in another order (other bytes) has a
    "test" split of its own, most of whose rows the model trained on: the note says how
    many, as it does for --split all."""
    table = _table()
    train = _write(tmp_path / "train.csv", table)
    res = run_cli("train", "--dataset", train, "--out", tmp_path / "run", "--epochs", "2", "-q", "--seed", "0")
    assert res.returncode == 0, res.stderr
    shuffled = table[np.random.default_rng(7).permutation(len(table))]
    copy = _write(tmp_path / "copy.csv", shuffled)

    x_tr, y_tr = train_validation_split(table[:, :3], table[:, 3].astype(int), 0.2, seed=0)[:2]
    fit_x, _, val_x, _ = train_validation_split(x_tr, y_tr, 0.1, seed=0)  # the default --validation-split
    test_x = train_validation_split(shuffled[:, :3], shuffled[:, 3].astype(int), 0.2, seed=0)[2]
    expected = _rows_in(test_x, fit_x)
    assert expected > 0  # the copy's "test" rows are mostly training rows

    res = run_cli("evaluate", tmp_path / "run", "--dataset", copy, "--split", "test")
    assert res.returncode == 0, res.stderr
    assert f"(test, {len(test_x)} examples)" in res.stdout
    note = re.search(r"note: (\d+) of the (\d+) test rows of \S+ repeat the features of a row the model trained on",
                     res.stderr)
    assert note is not None, res.stderr
    assert (int(note.group(1)), int(note.group(2))) == (expected, len(test_x))
    assert f"({_rows_in(test_x, val_x)} more repeat a validation row" in res.stderr

    # the training file itself: its own test rows, no such note
    own = run_cli("evaluate", tmp_path / "run", "--dataset", train)
    assert own.returncode == 0 and "trained on" not in own.stderr, own.stderr


@pytest.mark.slow  # about 0.7 s in the quick suite on 2 cores
def test_evaluate_another_file_counts_validation_rows_apart_from_trained_rows(tmp_path):
    """Rows the training run held out for validation were never trained on: the note
    counts them apart, each row once, so the trained count is the rows fitted on."""
    table = _table(90)
    train = _write(tmp_path / "train.csv", table)
    res = run_cli("train", "--dataset", train, "--out", tmp_path / "run", "--epochs", "1", "-q",
                  "--validation-split", "0.3", "--seed", "4")
    assert res.returncode == 0, res.stderr
    copy = _write(tmp_path / "copy.csv", table[::-1])
    x_tr, y_tr = train_validation_split(table[:, :3], table[:, 3].astype(int), 0.2, seed=4)[:2]
    fit_x, _, val_x, _ = train_validation_split(x_tr, y_tr, 0.3, seed=4)

    res = run_cli("evaluate", tmp_path / "run", "--dataset", copy)
    assert res.returncode == 0, res.stderr
    fitted, validated = _rows_in(table[:, :3], fit_x), _rows_in(table[:, :3], val_x)
    assert (fitted, validated) == (len(fit_x), len(val_x))  # the rows are distinct
    assert (f"{fitted} of the 90 rows of {copy} repeat the features of a row the model trained on "
            f"(in {train}) exactly ({validated} more repeat a validation row, held out of training)") in res.stderr


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_evaluate_refuses_rows_of_a_class_the_training_file_had_no_example_of(tmp_path):
    """Labels 1..3 in the training file (output 0 never trained) and 0..2 in the file
    scored: the rows of class 0 would only count as errors; refused in one line, saying
    how the files number their classes. The same classes as trained are scored."""
    table = _table()
    x, y = table[:, :3], table[:, 3].astype(int)
    np.savez(tmp_path / "from1.npz", x=x, y=y + 1)
    res = run_cli("train", "--dataset", tmp_path / "from1.npz", "--out", tmp_path / "run", "--epochs", "1", "-q")
    assert res.returncode == 0, res.stderr
    np.savez(tmp_path / "from0.npz", x=x, y=y)
    res = run_cli("evaluate", tmp_path / "run", "--dataset", tmp_path / "from0.npz")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and not res.stdout, res.stderr
    assert f"{(y == 0).sum()} of its 60 rows scored are of class 0, of which the model's training file had no " \
        "example" in res.stderr and "(from 0 here, from 1 there)" in res.stderr
    np.savez(tmp_path / "again.npz", x=x[::-1], y=y[::-1] + 1)
    ok = run_cli("evaluate", tmp_path / "run", "--dataset", tmp_path / "again.npz")
    assert ok.returncode == 0 and "accuracy" in ok.stdout, ok.stderr


def _write_named(path, table: np.ndarray, order: list[int], header: list[str]) -> str:
    """``table``'s columns (features a, b, c, then the label) in ``order`` under ``header``."""
    lines = [",".join(header)] + [",".join(f"{row[j]:.4g}" for j in order) for row in table]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_evaluate_reads_the_label_by_name_when_training_named_it_by_index(tmp_path):
    """Trained with --label-column 0 on a header 'outcome,a,b,c': a file with the same
    columns in another order is read by its header (the label is the column that is no
    feature), not by the index, which there names a feature."""
    table = _table()
    train = _write_named(tmp_path / "train.csv", table, [3, 0, 1, 2], ["outcome", "a", "b", "c"])
    res = run_cli("train", "--dataset", train, "--out", tmp_path / "run", "--epochs", "1", "-q", "--label-column", "0")
    assert res.returncode == 0, res.stderr
    moved = _write_named(tmp_path / "moved.csv", table, [1, 0, 3, 2], ["b", "a", "outcome", "c"])
    own = run_cli("evaluate", tmp_path / "run", "--dataset", train, "--split", "all")
    res = run_cli("evaluate", tmp_path / "run", "--dataset", moved, "--split", "all")
    assert own.returncode == 0 and res.returncode == 0, res.stderr
    assert res.stdout.split(": accuracy", 1)[1] == own.stdout.split(": accuracy", 1)[1]
    assert "another order (b, a, c)" in res.stderr


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_an_npz_test_set_saved_beside_the_training_arrays_is_said_not_read(tmp_path):
    """x, y, x_test, y_test in one archive: x and y are read, and a note says the test
    arrays are not (the test rows are split from x); an archive of x and y only: no note."""
    table = _table()
    x, y = table[:, :3], table[:, 3].astype(int)
    np.savez(tmp_path / "both.npz", x=x[:40], y=y[:40], x_test=x[40:], y_test=y[40:])
    with pytest.warns(UserWarning, match=r"the arrays 'x_test', 'y_test' are not read, only the inputs 'x' and "
                                         r"the labels 'y'"):
        got_x, got_y = load_arrays(tmp_path / "both.npz")
    assert np.array_equal(got_x, x[:40]) and np.array_equal(got_y, y[:40])
    np.savez(tmp_path / "pair.npz", x=x, y=y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_table(tmp_path / "pair.npz").notes == ()
    res = run_cli("train", "--dataset", tmp_path / "both.npz", "--out", tmp_path / "run", "--epochs", "1", "-q")
    assert res.returncode == 0 and "'x_test', 'y_test' are not read" in res.stderr, res.stderr


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_evaluate_split_test_of_another_small_file_does_not_call_its_rows_training_rows(tmp_path):
    """Another file too small to split, asked for its test part: every row is scored,
    rows the model never saw; the words say it has no test part, not that they are the
    training rows. The model's own small training file still says so."""
    table = _table()
    run = tmp_path / "run"
    assert run_cli("train", "--dataset", _write(tmp_path / "train.csv", table), "--out", run, "--epochs", "1",
                   "-q").returncode == 0
    fresh = table[:8].copy()
    fresh[:, :3] += 10.0  # rows the model never saw
    res = run_cli("evaluate", run, "--dataset", _write(tmp_path / "new.csv", fresh), "--split", "test")
    assert res.returncode == 0, res.stderr
    assert "(all 8 rows, no test part: a file under 10 rows" in res.stdout and "training rows" not in res.stdout
    small = _write(tmp_path / "small.csv", table[:8])
    assert run_cli("train", "--dataset", small, "--out", tmp_path / "small", "--epochs", "1", "-q").returncode == 0
    own = run_cli("evaluate", tmp_path / "small")
    assert own.returncode == 0 and "(all 8 rows, the training rows: no held-out test set" in own.stdout, own.stderr


def test_predict_notes_npy_rows_far_outside_the_training_inputs_range(tmp_path):
    """A model of inputs in [0, 1] given rows multiplied by 255: a note says the rows lie
    far outside its raw training inputs; rows of the training data's scale get none."""
    rng = np.random.default_rng(2)
    y = np.arange(60) % 2
    x = np.round(np.clip(rng.random((60, 3)) * 0.5 + 0.4 * y[:, None], 0, 1), 4)  # as written
    lines = ["a,b,c,label"] + [",".join(f"{v:.4f}" for v in row) + f",{label}" for row, label in zip(x, y)]
    (tmp_path / "unit.csv").write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    assert run_cli("train", "--dataset", tmp_path / "unit.csv", "--out", run, "--epochs", "1", "-q").returncode == 0
    np.save(tmp_path / "same.npy", x[:3])
    np.save(tmp_path / "times255.npy", x[:3] * 255)
    same = run_cli("predict", run, tmp_path / "same.npy")
    assert same.returncode == 0 and "far outside" not in same.stderr, same.stderr
    res = run_cli("predict", run, tmp_path / "times255.npy")
    assert res.returncode == 0, res.stderr
    high = float(f"{(x[:3] * 255).max():g}")
    assert f"to {high:g}, far outside the model's raw training inputs, {x.min():g} to {x.max():g}" in res.stderr
    # evaluate on a file of the same rows multiplied by 255: the same note; the training file itself: none
    lines = ["a,b,c,label"] + [",".join(f"{v * 255:.4f}" for v in row) + f",{label}" for row, label in zip(x, y)]
    (tmp_path / "scaled.csv").write_text("\n".join(lines) + "\n")
    scored = run_cli("evaluate", run, "--dataset", tmp_path / "scaled.csv")
    assert scored.returncode == 0 and "far outside the model's raw training inputs" in scored.stderr, scored.stderr
    own = run_cli("evaluate", run)
    assert own.returncode == 0 and "far outside" not in own.stderr, own.stderr


class _CountedNames(list):
    """Feature names that count how many times they are walked through."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()


def test_a_wide_file_is_matched_to_the_trained_names_in_a_few_passes(tmp_path):
    """A header of the trained names in another order, plus the label: read by name in
    the trained order, the names walked a few times in all, not once per column (a file
    of 20,000 columns took 20 s)."""
    n = 300
    names = [f"f{i}" for i in range(n)]
    perm = np.random.default_rng(0).permutation(n)
    rows = np.column_stack([np.arange(8.0)[:, None] + np.arange(n) * 10.0, np.arange(8) % 2])
    header = ",".join([names[i] for i in perm] + ["label"])
    body = "\n".join(",".join(f"{v:g}" for v in np.append(row[:-1][perm], row[-1])) for row in rows)
    (tmp_path / "wide.csv").write_text(header + "\n" + body + "\n")
    trained = _CountedNames(names)
    _CountedNames.walks = 0
    table = read_table(tmp_path / "wide.csv", feature_names=trained)
    assert np.array_equal(table.x, rows[:, :-1]) and np.array_equal(table.y, rows[:, -1])
    assert _CountedNames.walks < 10, _CountedNames.walks


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_sequential_batches_of_a_file_sorted_by_label_get_a_note(tmp_path):
    """--batching sequential takes the training rows in file order: a file sorted by label
    gives batches of one class, which a note says; shuffled batches, or a file whose
    classes are mixed, get none."""
    table = _table(90)
    by_label = _write(tmp_path / "sorted.csv", table[np.argsort(table[:, 3], kind="stable")])
    mixed = _write(tmp_path / "mixed.csv", table)
    said = "training rows come grouped by class"
    for data, batching, expected in ((by_label, "sequential", True), (by_label, "sliding", True),
                                     (by_label, "shuffled", False), (mixed, "sequential", False)):
        res = run_cli("train", "--dataset", data, "--batching", batching, "--out", tmp_path / f"run-{batching}",
                      "--epochs", "1", "-q", "--overwrite")
        assert res.returncode == 0, res.stderr
        assert (said in res.stderr) == expected, (data, batching, res.stderr)
    assert "--batching sequential takes them in that order" in run_cli(
        "train", "--dataset", by_label, "--batching", "sequential", "--out", tmp_path / "again", "--epochs", "1",
        "-q").stderr
