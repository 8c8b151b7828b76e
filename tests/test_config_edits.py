"""A run's config.toml edited by hand, and the settings whose meaning depended on what a
file did not say: a derived value edited in the file is the user's to keep, a default
length is not a limit asked for, and small files, seeds and initialiser scales say what
they do in one line."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.config import TrainConfig, config_file
from config_files import written as _written
from deltaprop.layers import Parameter




def test_a_derived_value_edited_in_the_file_is_kept_and_the_others_are_filled_in_again(tmp_path):
    path = _written(tmp_path, {"optimizer": "adam", "schedule": "cosine", "epochs": 3})
    text = path.read_text()
    path.write_text(text.replace("lr = 0.001", "lr = 0.01").replace("layers = [10, 50, 2]", "layers = [10, 20, 2]"))
    mapping = config_file(path)
    assert (mapping["lr"], mapping["layers"]) == (0.01, [10, 20, 2])  # edited: kept
    assert "weight_decay" not in mapping  # unedited: filled in again
    unedited = config_file(_written(tmp_path, {"optimizer": "adam", "schedule": "cosine", "epochs": 3}))
    again = TrainConfig.from_mapping(unedited, {"optimizer": "sgd"})
    assert again.lr == 0.3  # the new optimizer's own default, not adam's 0.001


def test_an_edited_schedule_length_follows_the_run_and_a_note_says_how_to_keep_it(tmp_path):
    path = _written(tmp_path, {"schedule": "cosine", "epochs": 3})
    path.write_text(path.read_text().replace("t_max = 3", "t_max = 30"))
    notes: list[str] = []
    mapping = config_file(path, notes)
    assert mapping["schedule"] == {"type": "cosine"}
    assert len(notes) == 1 and "t_max = 30" in notes[0] and 'remove "schedule.t_max"' in notes[0]
    quiet: list[str] = []
    config_file(_written(tmp_path, {"schedule": "cosine", "epochs": 3}), quiet)
    assert quiet == []  # the length its epochs derive: nothing to say


def test_the_default_epochs_are_no_limit_when_a_rerun_gives_steps(tmp_path):
    path = _written(tmp_path, {})
    assert "epochs" in TrainConfig.from_mapping({}).derived
    rerun = TrainConfig.from_mapping(config_file(path), {"steps": 500})
    assert (rerun.epochs, rerun.steps) == (None, 500)  # as `train --steps 500` without a file
    path.write_text(path.read_text().replace("epochs = 10", "epochs = 4"))
    edited = TrainConfig.from_mapping(config_file(path), {"steps": 500})
    assert (edited.epochs, edited.steps) == (4, 500)


@pytest.mark.slow
def test_no_nesterov_turns_off_a_config_files_nesterov(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('dataset = "parity"\nmomentum = 0.9\nnesterov = true\n')
    code = main(["train", "--config", str(path), "--momentum", "0", "--no-nesterov", "--epochs", "1",
                 "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    refused = main(["train", "--config", str(path), "--momentum", "0", "--out", str(tmp_path / "b")])
    assert refused == 2 and "--no-nesterov" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["--seed", "99999999999999999999"], "seed must be at most 2**63 - 1"),
    (["--schedule", "cosine:t_max=abc"], "t_max must be a whole number, got 'abc'"),
    (["--init", "scaled_normal(-1)"], "got '-1'"),
])
def test_values_config_toml_could_not_hold_or_that_are_not_what_they_name_are_one_line(tmp_path, capsys, argv, words):
    assert main(["train", "--dataset", "parity", *argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "run").exists()


def test_a_scale_in_exponent_notation_is_read_with_its_sign():
    name, init = dp.initializers.resolve("scaled_normal(1e-3)")
    assert name == "scaled_normal(1e-3)" and init.scale == 0.001
    TrainConfig.from_mapping({"init": "scaled_normal(2.5E-2)"})


def _tiny_csv(tmp_path, rows_per_class, classes):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(classes), rows_per_class)
    x = rng.normal(size=(len(y), 3)) + y[:, None]
    path = tmp_path / "tiny.csv"
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="a,b,c,label", comments="", fmt="%.4f")
    return path


def test_early_stopping_on_a_file_whose_default_split_holds_out_nothing_is_refused(tmp_path, capsys):
    data = _tiny_csv(tmp_path, 4, 4)  # 16 rows: 0.1 of each class's 3-4 training rows rounds to none
    code = main(["train", "--dataset", str(data), "--early-stopping", "2", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--early-stopping 2 watches the validation loss" in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_file_with_no_class_of_three_rows_is_scored_on_its_training_rows_not_refused_after_training(tmp_path,
                                                                                                       capsys):
    data = _tiny_csv(tmp_path, 2, 6)  # 12 rows: 20% of each class's 2 rows rounds to none
    assert main(["train", "--dataset", str(data), "--epochs", "2", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "training accuracy" in captured.out and "no held-out test set" in captured.err
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert "the training rows: no held-out test set" in capsys.readouterr().out


def _one_weight(opt):
    p = Parameter("W", np.array([1.0]))
    opt.build([p])
    return p


def test_momentum_switched_on_after_build_steps_as_momentum_from_the_start():
    late, early = dp.SGD(lr=0.1), dp.SGD(lr=0.1, momentum=0.9)
    p_late, p_early = _one_weight(late), _one_weight(early)
    late.momentum = 0.9
    for _ in range(3):
        for p, opt in ((p_late, late), (p_early, early)):
            p.grad[...] = 0.5
            opt.step()
    assert p_late.value[0] == p_early.value[0] == pytest.approx(0.7195)
    late.momentum = 0.0  # off: plain steps from here
    p_late.grad[...] = 0.5
    before = p_late.value[0]
    late.step()
    assert p_late.value[0] == pytest.approx(before - 0.05)
    with pytest.raises(dp.ConfigError, match="nesterov=True needs momentum > 0"):
        late.nesterov = True
    with pytest.raises(dp.ConfigError, match="set nesterov = False"):
        dp.SGD(lr=0.1, momentum=0.9, nesterov=True).momentum = 0
    with pytest.raises(dp.ConfigError, match=r"momentum must be a number in \[0, 1\)"):
        late.momentum = 1.0
