"""`deltaprop train` and `evaluate` on the user's own files: which rows are scored, files
too small to split, and files that changed since training. Each either answers right and
says what it scored, or stops with one line naming the file and the fix."""

from __future__ import annotations

import re

import numpy as np

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
    res = run_cli("train", "--dataset", data, "--out", tmp_path / "a", "--epochs", "1")  # default 0.1 of 8 rows
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and "--validation-split 0.1 of" in res.stderr and "holds out no row" in res.stderr
    big = _write(tmp_path / "big.csv", *_blobs(150))
    res = run_cli("train", "--dataset", big, "--validation-split", "0.99", "--out", tmp_path / "b", "--epochs", "1")
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and "leaves no row to train on" in res.stderr, res.stderr
