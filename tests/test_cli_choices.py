"""Every non-default choice on the command line is right or refused in one line: each
optimizer's own learning rate, output and loss checked together, schedules as long as the
run, early stopping that says what it did, messages in the command line's own terms, and
help for every argument."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from cli_in_process import run_cli as _cli
from deltaprop.cli import build_parser

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--batch-size", "16"]


def _process(*args):
    """`python -m deltaprop.cli ARGS` in a process of its own."""
    return subprocess.run([sys.executable, "-m", "deltaprop.cli", *args], capture_output=True, text=True, timeout=300)


def _one_error(res, code: int, *fragments: str) -> str:
    assert res.returncode == code, (res.stdout, res.stderr)
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.startswith("deltaprop: error: ") and not res.stderr.startswith("deltaprop: error: deltaprop")
    for fragment in fragments:
        assert fragment in res.stderr, res.stderr
    return res.stderr


@pytest.mark.slow
def test_each_optimizer_has_its_own_default_learning_rate(tmp_path):
    res = _cli("train", *PARITY, "--optimizer", "adam", "--epochs", "1", "--out", str(tmp_path / "a"))
    assert res.returncode == 0, res.stderr
    assert "adam lr 0.001" in res.stdout
    assert tomllib.loads((tmp_path / "a" / "config.toml").read_text())["lr"] == 0.001
    res = _cli("train", *PARITY, "--epochs", "1", "--out", str(tmp_path / "s"))
    assert "sgd lr 0.3" in res.stdout  # seed 000's rate stays SGD's default


@pytest.mark.parametrize("output, loss", [("sigmoid", "cross_entropy"), ("softmax", "binary_cross_entropy"),
                                          ("identity", "binary_cross_entropy")])
def test_output_and_loss_that_do_not_go_together_are_refused(tmp_path, output, loss):
    res = _cli("train", *PARITY, "--output-activation", output, "--loss", loss, "--out", str(tmp_path / "r"))
    _one_error(res, 2, f"output {output} does not go with loss {loss}", "softmax with cross_entropy",
               "identity with cross_entropy", "sigmoid with binary_cross_entropy", "any output with mse")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_identity_output_with_cross_entropy_trains_on_logits(tmp_path):
    res = _cli("train", *PARITY, "--lr", "0.5", "--epochs", "30", "--output-activation", "identity",
               "--out", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    assert float(res.stdout.split("test accuracy ")[1].split()[0]) > 0.9
    losses = [float(line.split("loss ")[1].split(",")[0]) for line in res.stdout.splitlines() if line.startswith("epoch")]
    assert all(v > 0 for v in losses)  # a cross-entropy, never negative


@pytest.mark.slow
def test_sigmoid_output_with_binary_cross_entropy_has_one_unit(tmp_path):
    res = _cli("train", "--dataset", "parity", "--output-activation", "sigmoid", "--loss", "binary_cross_entropy",
               "--lr", "0.5", "--batch-size", "16", "--epochs", "30", "--out", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    assert "10 → 50 → 1" in res.stdout and float(res.stdout.split("test accuracy ")[1].split()[0]) > 0.9


def test_softmax_is_not_a_hidden_activation(tmp_path):
    _one_error(_cli("train", *PARITY, "--activation", "softmax", "--out", str(tmp_path / "r")), 2,
               "unknown activation 'softmax'", "sigmoid, tanh, relu, leaky_relu, identity")


@pytest.mark.slow
def test_schedules_take_their_length_from_the_run(tmp_path):
    res = _cli("train", *PARITY, "--epochs", "6", "--schedule", "cosine", "--out", str(tmp_path / "c"))
    assert res.returncode == 0, res.stderr
    assert tomllib.loads((tmp_path / "c" / "config.toml").read_text())["schedule"] == {"type": "cosine", "t_max": 6}
    lrs = [r["lr"] for r in _history(tmp_path / "c")]
    assert lrs[0] == pytest.approx(0.3) and lrs[-1] < 0.03  # annealed over the 6 epochs, not 50
    res = _cli("train", *PARITY, "--epochs", "9", "--schedule", "step", "--out", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    assert [r["lr"] for r in _history(tmp_path / "s")][::3] == pytest.approx([0.3, 0.15, 0.075])
    res = _cli("train", *PARITY, "--epochs", "4", "--schedule", "cosine:t_max=20,min_lr=0.01", "--out", str(tmp_path / "k"))
    assert res.returncode == 0, res.stderr
    assert tomllib.loads((tmp_path / "k" / "config.toml").read_text())["schedule"] == {
        "type": "cosine", "t_max": 20, "min_lr": 0.01}


def _history(folder):
    import csv

    with open(folder / "history.csv") as f:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]


@pytest.mark.parametrize("table, fragment", [
    ('[schedule]\nname = "cosine"\n', "the schedule needs its type: type = one of"),
    ('[schedule]\ntype = "cosine"\nstep_size = 3\n', "schedule.step_size is not a setting of the cosine schedule; "
                                                     "its settings: t_max, min_lr"),
    ('schedule = "cosine:t_max"\n', "must be KEY=VALUE"),
    ('schedule = "plateau:monitor=val_los,patience=0"\n', "monitor must be one of the metrics training records: "
                                                          "loss, accuracy, val_loss, val_accuracy; got 'val_los'"),
])
def test_schedule_settings_errors_name_the_key(tmp_path, table, fragment):
    (tmp_path / "c.toml").write_text(table)
    _one_error(_cli("train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r")), 2, fragment)


def test_a_misspelt_plateau_monitor_on_the_command_line_is_refused(tmp_path):
    _one_error(_cli("train", *PARITY, "--epochs", "3", "--schedule", "plateau:monitor=val_los",
                    "--out", str(tmp_path / "r")), 2, "got 'val_los'", "val_loss, val_accuracy")
    assert not (tmp_path / "r" / "history.csv").exists()


@pytest.mark.slow
def test_the_help_gives_the_schedule_lengths_the_run_takes(tmp_path):
    text = " ".join(_process("train", "--help").stdout.split())
    assert "cosine's t_max defaults to the run's epochs and step's step_size to a third of them" in text
    res = _cli("train", *PARITY, "--epochs", "6", "--schedule", "step", "--out", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    assert tomllib.loads((tmp_path / "s" / "config.toml").read_text())["schedule"] == {"type": "step", "step_size": 2}
    assert [r["lr"] for r in _history(tmp_path / "s")] == pytest.approx([0.3, 0.3, 0.15, 0.15, 0.075, 0.075])


@pytest.mark.slow
def test_early_stopping_says_when_and_which_weights_it_kept(tmp_path):
    res = _cli("train", "--lr", "1.5", "--epochs", "40", "--early-stopping", "1", "--quiet", "--out", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    line = next(line for line in res.stdout.splitlines() if line.startswith("early stopping"))
    stopped, kept = (int(v) for v in
                     (line.split("at epoch ")[1].split(":")[0], line.split("weights of epoch ")[1].split(",")[0]))
    assert "val_loss did not improve" in line and "patience 1" in line and kept < stopped < 40
    assert stopped == kept + 2  # as --help says: one epoch without improvement tolerated, stopped at the next


def test_unknown_dataset_lists_the_names(tmp_path):
    _one_error(_cli("train", "--dataset", "foo", "--out", str(tmp_path / "r")), 2,
               "unknown dataset 'foo'", "mnist-sample, mnist, fashion-mnist, parity")


def test_an_empty_data_dir_is_not_replaced_by_another_folder(tmp_path):
    import os

    (tmp_path / "empty").mkdir()
    elsewhere = tmp_path / "elsewhere" / "mnist"  # a copy the search would otherwise fall back to
    elsewhere.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (elsewhere / name).write_bytes(b"")
    env = {**os.environ, "DELTAPROP_DATA": str(tmp_path / "elsewhere")}
    res = _cli("train", "--dataset", "mnist", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "r"), env=env)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert f"--data-dir {tmp_path / 'empty'} does not hold the mnist files" in lines[0]
    assert "data_dir=" not in res.stderr and "load(" not in res.stderr


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_predict_takes_several_inputs_one_line_each(tmp_path):
    out = tmp_path / "r"
    assert _cli("train", *PARITY, "--epochs", "2", "--out", str(out)).returncode == 0
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.integers(0, 2, (3, 10)).astype(np.float32))
    np.save(tmp_path / "b.npy", rng.integers(0, 2, 10).astype(np.float32))
    res = _cli("predict", str(out), str(tmp_path / "a.npy"), str(tmp_path / "b.npy"))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 4 and lines[0].startswith(f"{tmp_path / 'a.npy'}[0]: class ")
    assert lines[3].startswith(f"{tmp_path / 'b.npy'}: class ")


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_usage_error_has_one_prefix():
    _one_error(_process("train", "--bogus"), 2, "unrecognized arguments: --bogus (see deltaprop train --help)")


def _actions(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield parser.prog, action


def test_every_argument_has_help():
    missing = [f"{prog} {action.dest}" for prog, action in _actions(build_parser()) if not (action.help or "").strip()]
    assert missing == []


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_data_is_an_attribute_of_the_package():
    code = "import deltaprop as dp; print(dp.data.load('mnist-sample').x_train.shape[1:])"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "(28, 28)", res.stderr


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_progress_bar_fits_the_terminal_and_never_cuts_a_number(width):
    import io
    import re

    import deltaprop as dp

    buf = io.StringIO()
    rng = np.random.default_rng(0)
    X = rng.random((600, 4))
    y = (X[:, 0] > 0.5).astype(int)
    dp.fit(dp.mlp([4, 8, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=2,
           batch_size=10, seed=0, validation=(X[:100], y[:100]), callbacks=[dp.ProgressBar(file=buf, ncols=width)])
    segments = [seg for seg in re.split(r"[\r\n]", buf.getvalue()) if seg.strip()]
    bars = [seg for seg in segments if "ex/s" in seg or "|" in seg]
    assert bars and all(len(seg.rstrip()) <= width for seg in bars)
    for seg in segments:  # a field is shown whole or not at all
        assert not re.search(r"(loss|accuracy) (?!\d\.\d{4})", seg), seg
    summaries = [seg for seg in segments if seg.startswith("epoch ") and "val accuracy" in seg]
    assert [s.split(":")[0] for s in summaries] == ["epoch 1/2", "epoch 2/2"]
