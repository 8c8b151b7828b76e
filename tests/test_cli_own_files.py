"""`deltaprop train` and `evaluate` on the user's own files: which rows are scored, files
too small to split, and files that changed since training. Each either answers right and
says what it scored, or stops with one line naming the file and the fix."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cli_in_process import run_cli


def _blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated classes of 4 float features."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 4)) * 0.3 + y[:, None] * np.array([1.0, -1.0, 0.5, 2.0])
    return x, y


def _write(path, x, y, header: str = "a,b,c,d,label"):
    lines = [header] + [",".join(f"{v:.5g}" for v in row) + f",{int(label)}" for row, label in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _train(tmp_path, data, *extra, out="run"):
    res = run_cli("train", "--dataset", data, "--out", tmp_path / out, "--epochs", "5", "-q", *extra)
    assert res.returncode == 0, res.stderr
    return tmp_path / out


@pytest.mark.slow
def test_evaluate_scores_every_row_of_a_file_that_is_not_the_training_file(tmp_path):
    train = _write(tmp_path / "train.csv", *_blobs(100))
    test = _write(tmp_path / "test.csv", *_blobs(50, seed=1))
    run = _train(tmp_path, train)
    res = run_cli("evaluate", run, "--dataset", test)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"{test} (all 50 rows): accuracy")
    held = run_cli("evaluate", run)  # the training file: its held-out 20%
    assert held.stdout.startswith(f"{train} (test, 21 examples): accuracy"), held.stdout
    part = run_cli("evaluate", run, "--dataset", test, "--split", "test")  # asked for: the same 20% split
    assert re.match(rf"{re.escape(str(test))} \(test, 9 examples\)", part.stdout), part.stdout


XOR9 = "a,b,label\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n0.1,0,0\n0,0.9,1\n0.9,0,1\n1,1.1,0\n0.2,0.1,0\n"


@pytest.mark.slow
def test_a_file_too_small_to_split_says_its_accuracy_is_on_the_training_rows(tmp_path):
    data = tmp_path / "xor9.csv"
    data.write_text(XOR9)
    res = run_cli("train", "--dataset", data, "--validation-split", "0", "--out", tmp_path / "run", "--epochs", "3")
    assert res.returncode == 0, res.stderr
    assert "test accuracy" not in res.stdout
    assert re.search(r"^training accuracy \d\.\d{4} on all 9 examples", res.stdout, re.M), res.stdout
    assert "WARNING: no held-out test set" in res.stderr
    ev = run_cli("evaluate", tmp_path / "run")
    assert ev.returncode == 0, ev.stderr
    assert ev.stdout.startswith(f"{data} (all 9 rows, the training rows: no held-out test set"), ev.stdout


def test_a_validation_split_with_no_rows_on_one_side_is_refused_in_one_line(tmp_path):
    data = tmp_path / "xor8.csv"
    data.write_text(XOR9.rsplit("\n", 2)[0] + "\n")
    res = run_cli("train", "--dataset", data, "--validation-split", "0.1", "--out", tmp_path / "a", "--epochs", "1")
    assert res.returncode != 0  # asked for: 0.1 of 8 rows holds out none
    assert res.stderr.count("\n") == 1 and "--validation-split 0.1 of" in res.stderr and "holds out no row" in res.stderr
    big = _write(tmp_path / "big.csv", *_blobs(150))
    res = run_cli("train", "--dataset", big, "--validation-split", "0.99", "--out", tmp_path / "b", "--epochs", "1")
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and "leaves no row to train on" in res.stderr, res.stderr


def test_only_the_default_validation_split_gives_way_on_a_tiny_file(tmp_path):
    from deltaprop.cli import _load_data, _without_default_split
    from deltaprop.config import TrainConfig

    for rows, gives_way in ((8, True), (10, True), (60, False)):
        cfg = TrainConfig.from_mapping({"dataset": str(_write(tmp_path / f"f{rows}.csv", *_blobs(rows)))})
        ds = _load_data(cfg.dataset, "", cfg.seed)
        after = _without_default_split(cfg, ds)
        assert (cfg.validation_split, "validation_split" in cfg.derived) == ((0.0, True) if gives_way else (0.1, False))
        assert len(after.notes) == len(ds.notes) + gives_way and after.x_train is ds.x_train


@pytest.mark.slow
@pytest.mark.parametrize("rows", [8, 10])
def test_the_default_validation_split_of_a_tiny_file_trains_without_validation_and_says_so(tmp_path, rows):
    """README: a file under 10 rows is trained on whole. The default --validation-split (not
    given) holds out no row of it (nor of the 8 training rows of a 10-row file): the run trains
    without validation, as --validation-split 0 does, with one note; config.toml reruns it."""
    import tomllib

    data = _write(tmp_path / f"tiny{rows}.csv", *_blobs(rows))
    res = run_cli("train", "--dataset", data, "--out", tmp_path / "run", "--epochs", "2", "-q")
    assert res.returncode == 0, res.stderr
    notes = [line for line in res.stderr.splitlines() if line.startswith("note:")]
    training_rows = {8: 8, 10: 7}[rows]  # a 10-row file keeps 3 rows (20%, by class) for its test set
    assert notes == [f"note: the default --validation-split 0.1 of {data}'s {training_rows} training rows holds out no row: "
                     "training without validation (a larger --validation-split holds rows out)"], res.stderr
    saved = tomllib.loads((tmp_path / "run" / "config.toml").read_text())
    assert saved["validation_split"] == 0 and "validation_split" in saved["derived"]
    _train(tmp_path, data, "--validation-split", "0", "--epochs", "2", out="explicit")
    rerun = run_cli("train", "--config", tmp_path / "run" / "config.toml", "--out", tmp_path / "rerun", "-q")
    assert rerun.returncode == 0 and "holds out no row" in rerun.stderr, rerun.stderr
    from safetensors.numpy import load_file

    run, *others = [load_file(tmp_path / name / "model.safetensors") for name in ("run", "explicit", "rerun")]
    for other in others:  # the same run as --validation-split 0, and again from its config
        assert run.keys() == other.keys() and all(np.array_equal(run[k], other[k]) for k in run)
    big = _train(tmp_path, _write(tmp_path / "big.csv", *_blobs(60)), "--epochs", "1", out="big")
    assert "validation_split" not in tomllib.loads((big / "config.toml").read_text())["derived"]


def _reordered(path):
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *sorted(rows)]) + "\n")


@pytest.mark.slow
def test_evaluate_refuses_a_training_file_that_changed_since(tmp_path):
    data = _write(tmp_path / "d.csv", *_blobs(100))
    run = _train(tmp_path, data)
    _reordered(data)  # the same rows in another order: the held-out rows are others now
    res = run_cli("evaluate", run)
    assert res.returncode != 0 and res.stdout == ""
    assert res.stderr.count("\n") == 1
    assert f"{data} has changed since the model was trained on it" in res.stderr and "--split all" in res.stderr
    whole = run_cli("evaluate", run, "--split", "all")  # asked for: every row, said so
    assert whole.returncode == 0 and whole.stdout.startswith(f"{data} (all 100 rows)"), whole.stderr


@pytest.mark.slow
def test_evaluate_knows_a_copy_of_the_training_file_by_its_bytes(tmp_path):
    data = _write(tmp_path / "d.csv", *_blobs(100))
    run = _train(tmp_path, data)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(data.read_bytes())
    res = run_cli("evaluate", run, "--dataset", copy)
    assert res.stdout.startswith(f"{copy} (test, 21 examples)"), res.stdout + res.stderr


@pytest.mark.slow
def test_resume_refuses_a_data_file_that_changed_and_keeps_the_run_record(tmp_path):
    x, y = _blobs(100)
    data = _write(tmp_path / "d.csv", x, y)
    run = _train(tmp_path, data)
    record = (run / "run.json").read_text()
    _write(data, x, np.roll(y, 1))  # the labels changed
    res = run_cli("train", "--resume", run, "--epochs", "8")
    assert res.returncode != 0 and res.stderr.count("\n") == 1
    assert f"{data} has changed since the model was trained on it" in res.stderr
    assert "100 rows in number" in res.stderr
    assert (run / "run.json").read_text() == record


@pytest.mark.slow
def test_a_relative_dataset_path_is_recorded_so_that_it_resolves_from_anywhere(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write(tmp_path / "a" / "data.csv", *_blobs(100))
    x, y = _blobs(100, seed=5)
    _write(tmp_path / "b" / "data.csv", x, np.roll(y, 1))  # another file of the same name
    res = run_cli("train", "--dataset", "data.csv", "--out", tmp_path / "run", "--epochs", "3", cwd=tmp_path / "a")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("training on data.csv:")  # said as typed
    trained = str((tmp_path / "a" / "data.csv").resolve())
    assert f'dataset = "{trained}"' in (tmp_path / "run" / "config.toml").read_text()
    ev = run_cli("evaluate", tmp_path / "run", cwd=tmp_path / "b")
    assert ev.returncode == 0 and ev.stdout.startswith(f"{trained} (test, 21 examples)"), ev.stdout + ev.stderr
    again = run_cli("train", "--config", "config.toml", "--out", tmp_path / "run2", "--epochs", "1", "-q",
                    cwd=tmp_path / "run")
    assert again.returncode == 0, again.stderr


def _error(*args) -> str:
    res = run_cli(*args)
    assert res.returncode != 0 and res.stderr.count("\n") == 1, res.stderr
    return res.stderr


def test_binary_loss_on_labels_1_and_2_says_to_relabel(tmp_path):
    x, y = _blobs(60)
    data = _write(tmp_path / "d.csv", x[y < 2], y[y < 2] + 1)
    err = _error("train", "--dataset", data, "--loss", "binary_cross_entropy", "--output-activation", "sigmoid",
                 "--out", tmp_path / "r", "--epochs", "1")
    assert "labels are 1 and 2: relabel them 0 and 1" in err


@pytest.mark.slow
def test_a_file_of_one_class_is_refused_for_training_but_can_be_scored(tmp_path):
    x, y = _blobs(60)
    one = _write(tmp_path / "one.csv", x[y == 1], y[y == 1])
    err = _error("train", "--dataset", one, "--out", tmp_path / "r", "--epochs", "1")
    assert "hold one class only (1)" in err
    run = _train(tmp_path, _write(tmp_path / "d.csv", x, y))
    res = run_cli("evaluate", run, "--dataset", one)
    assert res.returncode == 0 and res.stdout.startswith(f"{one} (all 20 rows)"), res.stderr


@pytest.mark.slow
def test_evaluate_on_a_class_the_model_never_saw_names_the_file_and_the_class(tmp_path):
    x, y = _blobs(60)
    run = _train(tmp_path, _write(tmp_path / "two.csv", x[y < 2], y[y < 2]))
    every = _write(tmp_path / "three.csv", x, y)
    err = _error("evaluate", run, "--dataset", every)
    assert f"{every}: holds class 2, which the model never saw (it knows 2 classes, 0..1)" in err


@pytest.mark.slow
def test_an_infinite_cell_is_named_by_row_and_column(tmp_path):
    x, y = _blobs(60)
    x[4, 2] = np.inf
    err = _error("train", "--dataset", _write(tmp_path / "d.csv", x, y), "--out", tmp_path / "r", "--epochs", "1")
    assert "line 6, column 3 ('c') holds inf, not a finite number" in err


def test_strings_as_an_npz_s_inputs_say_to_save_numbers(tmp_path):
    x, y = _blobs(30)
    np.savez(tmp_path / "s.npz", x=x.astype(str), y=y)
    err = _error("train", "--dataset", tmp_path / "s.npz", "--out", tmp_path / "r", "--epochs", "1")
    assert "holds strings" in err and "save the inputs as numbers" in err


@pytest.mark.slow
def test_16_bit_integer_pixels_in_a_csv_scale_by_65535(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    x = rng.integers(0, 65536, size=(60, 64))
    data = _write(tmp_path / "d16.csv", x, y, header=",".join(f"p{i}" for i in range(64)) + ",label")
    res = run_cli("train", "--dataset", data, "--scaling", "unit", "--out", tmp_path / "r", "--epochs", "1")
    assert res.returncode == 0, res.stderr
    assert "inputs x / 65535" in res.stdout


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_evaluate_takes_a_label_column_for_a_file_that_names_it_differently(tmp_path):
    x, y = _blobs(60)
    run = _train(tmp_path, _write(tmp_path / "a.csv", x, y, header="a,b,c,d,diagnosis"), "--label-column", "diagnosis")
    other = _write(tmp_path / "b.csv", x, y, header="a,b,c,d,outcome")
    assert "name the label column with --label-column" in _error("evaluate", run, "--dataset", other)
    res = run_cli("evaluate", run, "--dataset", other, "--label-column", "outcome")
    assert res.returncode == 0 and res.stdout.startswith(f"{other} (all 60 rows)"), res.stderr


@pytest.mark.slow
def test_class_ids_with_gaps_are_said_on_the_labels_line(tmp_path):
    x, y = _blobs(60)
    res = run_cli("train", "--dataset", _write(tmp_path / "d.csv", x, y + 1), "--out", tmp_path / "r", "--epochs", "1")
    assert res.returncode == 0, res.stderr
    assert "NOTE: ids count from 0: class 0 of 0..3 has no example, and the network gets 4 outputs" in res.stdout
    gaps = np.array([0, 2, 5])[y]
    res = run_cli("train", "--dataset", _write(tmp_path / "g.csv", x, gaps), "--out", tmp_path / "g", "--epochs", "1")
    assert "NOTE: the ids have gaps: classes 1, 3, 4 of 0..5 have no example" in res.stdout


@pytest.mark.slow
def test_predict_on_a_labelled_csv_classifies_its_rows_and_points_to_evaluate(tmp_path):
    x, y = _blobs(60)
    data = _write(tmp_path / "d.csv", x, y)
    run = _train(tmp_path, data)
    res = run_cli("predict", run, data)
    assert res.returncode == 0 and res.stdout.count("\n") == 60, res.stderr
    assert "column 'label' is not among the model's features and left out" in res.stderr
    assert f"evaluate {run} --dataset {data}" in res.stderr and "28x28" not in res.stderr


def _repeats_seen(stderr: str, name) -> int:
    """The rows of file ``name`` evaluate's note says the model trained or validated on."""
    said = re.search(rf"(\d+) of the \d+ rows of {re.escape(str(name))} repeat the features of a row the model "
                     r"trained on \(in \S+\) exactly(?: \((\d+) more repeat a validation row)?", stderr)
    assert said is not None, stderr
    return int(said.group(1)) + int(said.group(2) or 0)


def _score(res) -> str:
    """evaluate's answer without the file's name: the accuracy line's end and the tables."""
    assert res.returncode == 0, res.stderr
    return res.stdout.split(": accuracy", 1)[1]


@pytest.mark.slow
def test_evaluate_reads_a_header_of_the_same_columns_in_another_order_by_name(tmp_path):
    x, y = _blobs(90)
    run = _train(tmp_path, _write(tmp_path / "train.csv", x, y))
    from deltaprop.serialization import read_model

    assert read_model(run / "model.safetensors").extra["feature_names"] == ["a", "b", "c", "d"]
    same = run_cli("evaluate", run, "--dataset", _write(tmp_path / "same.csv", x, y), "--split", "all")
    swapped = _write(tmp_path / "swapped.csv", x[:, ::-1], y, header="d,c,b,a,label")
    res = run_cli("evaluate", run, "--dataset", swapped, "--split", "all")
    assert _score(res) == _score(same)  # the same rows, read by name: the same scores
    order, repeats = res.stderr.splitlines()
    assert order == (f"note: {swapped} names the model's 4 feature columns in another order (d, c, b, a); "
                     "they are read by name, in the trained order (a, b, c, d)")
    said = re.search(rf"note: (\d+) of the 90 rows of {re.escape(str(swapped))} repeat the features of a row the "
                     r"model trained on \(in \S+\) exactly \((\d+) more repeat a validation row", repeats)
    assert said is not None and int(said.group(1)) + int(said.group(2)) == 72, repeats  # all but the 18 test rows


@pytest.mark.slow
def test_evaluate_refuses_a_header_that_names_other_columns_in_one_line(tmp_path):
    x, y = _blobs(90)
    run = _train(tmp_path, _write(tmp_path / "train.csv", x, y))
    renamed = _write(tmp_path / "renamed.csv", x, y, header="a,b,c,e,label")
    err = _error("evaluate", run, "--dataset", renamed)
    assert err.startswith(f"deltaprop: error: {renamed}: the header does not name the feature columns the model "
                          "was trained on: its feature column 4 of 4, 'e', is not one the model was trained on, "
                          "and it has no column 'd' (trained on a, b, c, d)"), err
    assert "give a file whose header names those columns, in any order" in err
    fewer = _write(tmp_path / "fewer.csv", x[:, :3], y, header="a,b,c,label")
    assert f"{fewer}: the header does not name the feature columns the model was trained on: it has no column " \
           "'d' (trained on a, b, c, d)" in _error("evaluate", run, "--dataset", fewer)
    more = _write(tmp_path / "more.csv", np.column_stack([x, x[:, :1]]), y, header="a,b,c,d,a2,label")
    assert "its feature column 5 of 5, 'a2', is not one the model was trained on" in \
        _error("evaluate", run, "--dataset", more)


@pytest.mark.slow
def test_columns_are_read_by_position_when_either_side_has_no_header(tmp_path):
    x, y = _blobs(90)
    named = _train(tmp_path, _write(tmp_path / "train.csv", x, y), out="named")
    same = _score(run_cli("evaluate", named, "--dataset", _write(tmp_path / "same.csv", x, y), "--split", "all"))
    bare = tmp_path / "bare.csv"
    bare.write_text("\n".join((tmp_path / "same.csv").read_text().splitlines()[1:]) + "\n")
    res = run_cli("evaluate", named, "--dataset", bare)
    assert _score(res) == same  # its training rows are said, nothing else
    assert res.stderr.startswith("note: ") and res.stderr.count("\n") == 1
    assert _repeats_seen(res.stderr, bare) == 72  # every row but the 18 test rows
    unnamed = _train(tmp_path, bare, out="unnamed")  # a model that records no names
    from deltaprop.serialization import read_model

    assert "feature_names" not in read_model(unnamed / "model.safetensors").extra
    swapped = _write(tmp_path / "swapped.csv", x, y, header="d,c,b,a,label")  # names it cannot check
    res = run_cli("evaluate", unnamed, "--dataset", swapped)
    assert res.returncode == 0 and _repeats_seen(res.stderr, swapped) == 72, res.stderr  # no word on names
    assert res.stderr.startswith("note: ")
    assert res.stderr.count("\n") == 1


@pytest.mark.slow
def test_evaluate_on_too_few_columns_without_a_header_names_the_file_and_the_width(tmp_path):
    x, y = _blobs(90)
    run = _train(tmp_path, _write(tmp_path / "train.csv", x, y))
    bare = tmp_path / "three.csv"
    bare.write_text("".join(",".join(f"{v:.5g}" for v in row) + f",{label}\n" for row, label in zip(x[:, :3], y)))
    err = _error("evaluate", run, "--dataset", bare)
    assert f"{bare}: holds 3 feature columns besides the label column, but the model takes 4; give a file with " \
           "the 4 feature columns it was trained on" in err
    assert "Dense(" not in err


@pytest.mark.slow
def test_predict_names_the_file_and_the_cell_that_is_not_finite(tmp_path):
    x, y = _blobs(90)
    run = _train(tmp_path, _write(tmp_path / "train.csv", x, y))
    for value, words in [(np.inf, "inf (infinity)"), (-np.inf, "-inf (infinity)"), (np.nan, "NaN (a missing value)")]:
        rows = x[:5].copy()
        rows[3, 2] = value
        np.save(tmp_path / "rows.npy", rows)
        err = _error("predict", run, tmp_path / "rows.npy")
        assert f"{tmp_path / 'rows.npy'}: rows[3, 2] holds {words}, not a finite number" in err
        assert "float32" not in err


@pytest.mark.slow
def test_train_says_that_a_first_row_of_column_numbers_was_read_as_a_header_even_when_quiet(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("0,1\n" + "".join(f"{v / 20},{int(v < 10)}\n" for v in range(20)))
    res = run_cli("train", "--dataset", data, "--out", tmp_path / "run", "--epochs", "1", "-q")
    assert res.returncode == 0, res.stderr
    assert f"note: {data}: the first line, '0,1', was read as column numbers" in res.stderr
    assert "write a header line of names above it" in res.stderr


def test_label_column_help_says_which_names_the_code_tries(tmp_path, capsys):
    """`train --help` names every header the CSV reader takes as labels, y last, as it tries them."""
    from deltaprop.cli import main
    from deltaprop.data import LABEL_NAMES, read_table

    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "default: the column named label, labels, class or target (any case), y only when none of those is there" in text
    assert LABEL_NAMES == ("label", "labels", "class", "target", "y")
    data = tmp_path / "both.csv"
    data.write_text("y,a,Labels\n5,0.5,1\n7,0.25,0\n")
    assert read_table(data).y.tolist() == [1, 0]  # 'labels' (any case) before 'y'
