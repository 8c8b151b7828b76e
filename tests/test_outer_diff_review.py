"""Review of the command line's outer modules: a resume's ``--steps`` alone and the epochs a
run was given."""

from __future__ import annotations

import csv

import pytest
from deltaprop.cli import main


def _epochs(out) -> int:
    with open(out / "history.csv", newline="") as f:
        return len(list(csv.DictReader(f)))


@pytest.mark.slow  # about 0.8 s in the quick suite on 2 cores
def test_steps_alone_on_a_resume_keeps_the_epochs_an_earlier_resume_asked_for(tmp_path, capsys):
    # `train` (10 epochs by default), `train --resume DIR --epochs 12`, then `--resume DIR
    # --steps N`: the 12 epochs were asked for, so they bound the run as a new run's --epochs 12
    # --steps N would (config.toml still lists the epochs as derived from the first session).
    # The derived epochs were dropped as if they were the default 10, and the run trained on
    # past epoch 12 without a word.
    out = tmp_path / "run"
    base = ["--dataset", "parity", "--quiet", "--batch-size", "full"]
    assert main(["train", *base, "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out), "--epochs", "12", "--quiet"]) == 0
    assert _epochs(out) == 12
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "40", "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "already has 12 epochs" in err and "Traceback" not in err
    assert _epochs(out) == 12


@pytest.mark.slow  # about 0.7 s in the quick suite on 2 cores
def test_steps_alone_on_a_resume_of_the_default_epochs_still_trains_to_that_step(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "parity", "--quiet", "--batch-size", "full", "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out), "--steps", "14", "--quiet"]) == 0
    assert _epochs(out) == 14  # full batch: a step an epoch



@pytest.mark.slow  # about 0.8 s in the quick suite on 2 cores
def test_the_dropout_note_names_the_config_files_lines_not_options_never_given(tmp_path, capsys):
    # dropout and layers set in --config's file, not on the command line: the note said
    # "--dropout 0.2 is not applied: ..., and --layers 10,2 has no hidden layer".
    path = tmp_path / "my.toml"
    path.write_text('dataset = "parity"\nlayers = [10, 2]\ndropout = 0.2\nepochs = 1\nbatch_size = "full"\n')
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"note: dropout = 0.2 in {path} is not applied: it drops hidden units, and layers = [10, 2] in {path}" in err
    assert "--dropout" not in err and "--layers" not in err
    assert main(["train", "--config", str(path), "--dropout", "0.3", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"note: --dropout 0.3 is not applied: it drops hidden units, and layers = [10, 2] in {path}" in err
