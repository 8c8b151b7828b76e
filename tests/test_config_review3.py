"""``deltaprop train``'s configuration file and options: what a run's config.toml keeps when
its optimizer is edited by hand, notes said once and only about values that are used, and an
option that the dataset does not read."""

from __future__ import annotations

import types

import pytest

import deltaprop as dp
from deltaprop.cli import _new_config, _train_flags, build_parser
from deltaprop.config import TrainConfig, config_file
from config_files import written as _written




def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_an_optimizer_edited_in_config_toml_says_that_the_old_optimizers_rate_is_kept(tmp_path):
    # An adam run's config.toml lists lr = 0.001 as derived; the file's header says another
    # optimizer gets its own. With the optimizer edited to sgd the 0.001 reads as a hand edit
    # and is kept: SGD trained 300 times slower than its own 0.3 without a word.
    path = _written(tmp_path, {"optimizer": "adam"})
    _edit(path, 'optimizer = "adam"', 'optimizer = "sgd"')
    notes: list[str] = []
    cfg = TrainConfig.from_mapping(config_file(path, notes))
    assert (cfg.optimizer, cfg.lr) == ("sgd", 0.001)
    assert len(notes) == 1
    assert "lr = 0.001" in notes[0] and "sgd's own lr (0.3" in notes[0] and "delete the lr line" in notes[0]
    # adamw's decoupled decay kept for adam (L2 of 0.01 where adam's own is 0)
    path = _written(tmp_path, {"optimizer": "adamw"})
    _edit(path, 'optimizer = "adamw"', 'optimizer = "adam"')
    notes = []
    assert TrainConfig.from_mapping(config_file(path, notes)).weight_decay == 0.01
    assert len(notes) == 1 and "weight_decay = 0.01" in notes[0] and "--weight-decay 0" in notes[0]


def test_a_derived_rate_edited_to_no_optimizers_own_is_kept_without_a_note(tmp_path):
    path = _written(tmp_path, {"optimizer": "adam"})
    _edit(path, "lr = 0.001", "lr = 0.005")
    notes: list[str] = []
    assert config_file(path, notes)["lr"] == 0.005 and notes == []
    unedited: list[str] = []
    assert "lr" not in config_file(_written(tmp_path, {"optimizer": "adam"}), unedited) and unedited == []


def test_no_note_speaks_of_a_value_the_command_line_replaces(tmp_path):
    path = _written(tmp_path, {"optimizer": "adam", "schedule": "cosine", "epochs": 3})
    _edit(path, 'optimizer = "adam"', 'optimizer = "sgd"')
    _edit(path, "t_max = 3", "t_max = 30")
    notes: list[str] = []
    config_file(path, notes)
    assert len(notes) == 2  # the rate kept, the cosine's length taken from the run again
    quiet: list[str] = []
    config_file(path, quiet, overridden={"lr": "0.3", "schedule": "cosine:t_max=30"})
    assert quiet == []


def _args(*argv):
    args = build_parser().parse_args(["train", *map(str, argv)])
    return args, _train_flags(args)


def test_a_config_files_notes_are_said_by_rank_0_only(tmp_path, capsys):
    path = _written(tmp_path, {"optimizer": "adam"})
    _edit(path, 'optimizer = "adam"', 'optimizer = "sgd"')
    args, flags = _args("--config", path)
    args.team = types.SimpleNamespace(rank=1)  # a process mpiexec started besides rank 0
    assert _new_config(args, flags).lr == 0.001
    assert capsys.readouterr().err == ""
    args.team = types.SimpleNamespace(rank=0)
    _new_config(args, flags)
    assert capsys.readouterr().err.count("note: ") == 1


def test_a_label_column_given_for_a_named_dataset_is_said_unread_and_not_recorded(tmp_path, capsys):
    # Recorded in config.toml and the model, it made `evaluate MODEL --dataset other.csv` read
    # that file's labels from the column a parity or MNIST run was given, not its label column.
    args, flags = _args("--dataset", "parity", "--label-column", "3")
    cfg = _new_config(args, flags)
    assert cfg.label_column is None and "label_column" not in cfg.to_toml()
    err = capsys.readouterr().err
    assert "note: --label-column 3 is not read" in err and "parity is generated" in err
    path = tmp_path / "mnist.toml"
    path.write_text('dataset = "mnist"\nlabel_column = "label"\n')
    args, flags = _args("--config", path)
    assert _new_config(args, flags).label_column is None
    assert f'note: label_column = "label" in {path} is not read' in capsys.readouterr().err
    given = tmp_path / "data.csv"  # a file's label column is read as given
    given.write_text("a,b,y\n1,2,0\n")
    args, flags = _args("--dataset", given, "--label-column", "y")
    assert _new_config(args, flags).label_column == "y" and capsys.readouterr().err == ""


def test_a_limit_given_over_a_file_that_sets_the_other_one_says_that_both_bound_the_run(tmp_path, capsys):
    # A file with steps = 40 and `--epochs 20` printed "epoch 1/20", "epoch 2/20" and ended.
    path = tmp_path / "steps.toml"
    path.write_text('dataset = "parity"\nsteps = 40\n')
    args, flags = _args("--config", path, "--epochs", "20")
    assert (_new_config(args, flags).epochs, _new_config(args, flags).steps) == (20, 40)
    err = capsys.readouterr().err
    assert "sets steps = 40, which still bounds the run beside --epochs 20" in err and "remove steps" in err
    path.write_text('dataset = "parity"\nepochs = 3\n')
    args, flags = _args("--config", path, "--steps", "500")
    _new_config(args, flags)
    assert "sets epochs = 3, which still bounds the run beside --steps 500" in capsys.readouterr().err
    for argv in (("--steps", "500", "--epochs", "2"), ()):  # both given here, or neither: nothing to say
        _new_config(*_args("--config", path, *argv))
        assert capsys.readouterr().err == ""
    rerun = _written(tmp_path, {})  # a run's config.toml: its default 10 epochs are derived, not a limit
    args, flags = _args("--config", rerun, "--steps", "500")
    assert _new_config(args, flags).epochs is None and capsys.readouterr().err == ""


def _checkpointed_run(folder, epochs_done: int):
    """A run of the default length (10 epochs, derived) stopped after ``epochs_done``: its
    checkpoint, as ``deltaprop train`` writes it."""
    import numpy as np

    import deltaprop as dp
    from deltaprop.callbacks import CheckpointWriter

    cfg = TrainConfig.from_mapping({"dataset": "parity", "batch_size": 8})
    cfg.fill_from_run(4, 2, batches_per_epoch=4)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 4)), rng.integers(0, 2, 32)
    writer = CheckpointWriter(folder, {"class_names": ("0", "1"), "extra": {"config": cfg.as_dict()}})
    dp.fit(cfg.build_network(4, 2), X, y, loss=cfg.build_loss(), optimizer=cfg.build_optimizer(), epochs=epochs_done,
           batch_size=8, seed=cfg.seed, callbacks=[writer])
    return cfg


def test_resume_with_steps_alone_trains_that_many_steps_past_the_default_epochs(tmp_path):
    # `train` (10 epochs by default), stopped at epoch 3, then `train --resume DIR --steps 400`:
    # the default 10 epochs still bounded the run, which stopped at step 40 without a word
    # (and a finished run was refused with "pass --epochs N"), where `train --steps 400` of a
    # new run trains 400 steps.
    from deltaprop.cli import _resume_config

    assert "epochs" in _checkpointed_run(tmp_path, 3).derived
    cfg, _ = _resume_config(tmp_path, {"steps": "400"})
    assert (cfg.epochs, cfg.steps, cfg.run_epochs(4)) == (None, 400, 100)
    assert "epochs" not in cfg.derived and "\nepochs =" not in cfg.to_toml()
    both, _ = _resume_config(tmp_path, {"steps": "400", "epochs": "12"})
    assert (both.epochs, both.steps) == (12, 400)  # both given: whichever first, as in a new run
    longer, _ = _resume_config(tmp_path, {"epochs": "12"})
    assert (longer.epochs, longer.steps) == (12, None)


def test_dropout_with_no_hidden_layer_is_said_unapplied(capsys):
    # --layers 10,2 --dropout 0.5 trained without dropout (it follows hidden activations)
    # and without a word, while config.toml, the model and the report said dropout = 0.5.
    args, flags = _args("--dataset", "parity", "--layers", "10,2", "--dropout", "0.5")
    assert _new_config(args, flags).build_network(10, 2).layers[-2].__class__.__name__ == "Dense"  # none there
    assert "note: --dropout 0.5 is not applied" in capsys.readouterr().err
    args, flags = _args("--dataset", "parity", "--layers", "10,8,2", "--dropout", "0.5")
    assert _new_config(args, flags).dropout == 0.5 and capsys.readouterr().err == ""


def test_a_rate_too_small_to_be_a_number_in_training_is_refused_by_name():
    # --lr 1e-320 (a subnormal, flushed to 0 while training) stopped with "load_checkpoint
    # rebuilds only deltaprop's own optimizer, not 'SGD'", which named neither lr nor the fix.
    with pytest.raises(dp.ConfigError, match=r"lr must be at least 2\.23e-308, got 1e-320"):
        TrainConfig.from_mapping({"lr": "1e-320"})
    assert TrainConfig.from_mapping({"lr": "3e-308"}).lr == 3e-308
