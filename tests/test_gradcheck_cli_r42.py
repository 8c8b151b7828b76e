"""``deltaprop gradcheck`` offers what ``dp.gradcheck`` does: ``--max-entries N|all``,
``--dropout P`` (masks drawn once and frozen), ``--inference`` (dropout off) and
``--no-input-check``; each prints the table the library's report gives for the same network,
and a bad value is one line on stderr with exit status 2."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli


def library_table(widths, *, dropout=0.0, seed=0, examples=8, weighted=False, **options) -> str:
    """The report ``dp.gradcheck`` gives for the network and examples the command draws."""
    net = dp.mlp(widths, activation="sigmoid", output="softmax", dropout=dropout, seed=seed, dtype="float64")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((examples, widths[0]))
    y = rng.integers(0, widths[-1], size=examples)
    if weighted:
        options["sample_weight"] = rng.uniform(0, 2, size=examples)
    return dp.gradcheck(net, dp.CrossEntropy(), X, y, seed=seed, **options).table()


def table_of(res) -> str:
    assert res.returncode == 0, res.stderr
    return res.stdout.split("\n", 1)[1].rstrip("\n")


def checked(table: str) -> dict[str, int]:
    rows = [line.split() for line in table.splitlines()[1:] if line.startswith(("layers.", "input x"))]
    return {(" ".join(r[:2]) if r[0] == "input" else r[0]): int(r[-4]) for r in rows}


def test_max_entries_samples_and_all_checks_every_entry():
    sampled = table_of(run_cli("gradcheck", "--layers", "3,30,2", "--max-entries", "3"))
    assert sampled == library_table([3, 30, 2], max_entries=3)
    assert checked(sampled) == {"layers.0.W": 3, "layers.0.b": 3, "layers.2.W": 3, "layers.2.b": 2, "input x": 3}
    every = table_of(run_cli("gradcheck", "--layers", "3,30,2", "--max-entries", "ALL"))
    assert every == library_table([3, 30, 2], max_entries=None)
    assert checked(every) == {"layers.0.W": 90, "layers.0.b": 30, "layers.2.W": 60, "layers.2.b": 2, "input x": 24}


def test_dropout_masks_frozen_and_inference():
    res = run_cli("gradcheck", "--layers", "3,6,2", "--dropout", "0.5", "--seed", "3")
    assert "dropout 0.5 (masks frozen)" in res.stdout.splitlines()[0]
    frozen = table_of(res)
    assert frozen == library_table([3, 6, 2], dropout=0.5, seed=3, train=True)
    assert "layers.3.W" in frozen  # the Dropout layer sits after the hidden activation
    res = run_cli("gradcheck", "--layers", "3,6,2", "--dropout", "0.5", "--seed", "3", "--inference")
    assert "dropout 0.5 off (inference)" in res.stdout.splitlines()[0]
    off = table_of(res)
    assert off == library_table([3, 6, 2], dropout=0.5, seed=3, train=False)
    assert off != frozen


def test_dropout_without_hidden_layer_is_noted():
    res = run_cli("gradcheck", "--layers", "3,2", "--dropout", "0.5")
    assert res.returncode == 0
    assert res.stderr.strip() == "note: --dropout 0.5 is not applied: it drops hidden units, and --layers 3,2 has no hidden layer"


def test_no_input_check_leaves_out_the_input_row():
    table = table_of(run_cli("gradcheck", "--layers", "3,4,2", "--no-input-check"))
    assert table == library_table([3, 4, 2], check_input=False)
    assert "input x" not in table and "layers.2.W" in table


@pytest.mark.parametrize(
    "option, value, fragment",
    [
        ("--max-entries", "0", "--max-entries must be >= 1"),
        ("--max-entries", "-2", "or all"),
        ("--max-entries", "some", "whole number"),
        ("--max-entries", "nan", "finite"),
        ("--max-entries", "1e999", "finite"),
        ("--dropout", "1", "dropout must be a number in [0, 1)"),
        ("--dropout", "-0.1", "[0, 1)"),
        ("--dropout", "nan", "finite"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(option, value, fragment):
    res = run_cli("gradcheck", "--layers", "3,4,2", option, value)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == ""
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("deltaprop: error: ") and fragment in err, err


def test_dropout_refused_alike_by_train_and_gradcheck(tmp_path):
    grad = run_cli("gradcheck", "--dropout", "1.5")
    train = run_cli("train", "--dataset", "parity", "--dropout", "1.5", "--out", tmp_path / "r")
    assert grad.returncode == train.returncode == 2
    assert grad.stderr == train.stderr


def test_help_names_the_options():
    res = run_cli("gradcheck", "--help")
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    for option in ("--max-entries N|all", "--dropout DROPOUT", "--inference", "--no-input-check", "--weighted"):
        assert option in text, option


def test_weighted_checks_the_weighted_loss():
    res = run_cli("gradcheck", "--layers", "3,4,2", "--weighted", "--seed", "5")
    assert res.stdout.splitlines()[0].endswith("8 examples, weighted")
    weighted = table_of(res)
    assert weighted == library_table([3, 4, 2], seed=5, weighted=True)
    assert weighted != library_table([3, 4, 2], seed=5)
