"""What ``deltaprop train`` says about a run's settings: a setting read from a ``--config``
file is named by its line in that file, not by an option the user never gave; a relative
``data_dir`` is recorded as the folder it was; the header and notes say what trains."""

import tomllib

import pytest
from cli_in_process import run_cli


def _error_line(result):
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- a value from the --config file is named as the file has it ----------------------------------------
@pytest.mark.parametrize("line, said, not_said", [
    ("layers = [8, 4, 2]", "layers = [8, 4, 2] in {config} starts with 8 inputs", "--layers"),
    ("layers = [10, 4, 3]", "layers = [10, 4, 3] in {config} ends with 3 outputs", "--layers"),
    ("validation_split = 1e-9", "validation_split = 1e-09 in {config} of parity's", "--validation-split"),
    ("validation_split = 0.9999", "validation_split = 0.9999 in {config} of parity's", "--validation-split"),
])
def test_an_error_about_a_config_file_value_names_its_line_not_an_option(tmp_path, line, said, not_said):
    """These errors said "--layers ends with 3 outputs" (or "--validation-split 1e-09 ... use
    --validation-split 0") for a value read from the --config file."""
    config = tmp_path / "c.toml"
    config.write_text(f'dataset = "parity"\nepochs = 1\n{line}\n')
    text = _error_line(run_cli("train", "--config", config, "--out", tmp_path / "run", "--quiet"))
    assert said.format(config=config) in text, text
    assert not_said not in text, text


def test_an_option_over_the_config_file_is_still_named_as_the_option(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('dataset = "parity"\nepochs = 1\nlayers = [10, 4, 2]\n')
    text = _error_line(run_cli("train", "--config", config, "--layers", "10,3", "--out", tmp_path / "run"))
    assert text.endswith("--layers 10,3 ends with 3 outputs but parity has 2 classes"), text


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_an_unread_data_dir_from_the_config_file_is_named_by_its_line(tmp_path):
    """The note said "--data-dir somedir is not read" for a data_dir the config file gave."""
    config = tmp_path / "c.toml"
    config.write_text('dataset = "parity"\nepochs = 1\ndata_dir = "somedir"\n')
    res = run_cli("train", "--config", config, "--out", tmp_path / "run", "--quiet")
    assert res.returncode == 0, res.stderr
    assert f'note: data_dir = "somedir" in {config} is not read' in res.stderr, res.stderr
    assert "--data-dir" not in res.stderr


# -- a relative data_dir is recorded as the folder it named --------------------------------------------
def test_a_relative_data_dir_is_recorded_absolute_in_config_toml(tmp_path):
    """config.toml kept data_dir = "somedir" while it made dataset absolute: rerun from another
    folder, it read another data folder."""
    (tmp_path / "somedir").mkdir()
    res = run_cli("train", "--dataset", "parity", "--epochs", "1", "--data-dir", "somedir", "--out", "run",
                  "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    recorded = tomllib.loads((tmp_path / "run" / "config.toml").read_text())["data_dir"]
    assert recorded == str((tmp_path / "somedir").resolve())


# -- the header says a batch of every training row is full batch ---------------------------------------
def test_a_batch_larger_than_the_training_rows_is_said_to_be_full_batch(tmp_path):
    """The header said "batch 5000" for a run whose every step takes all 700 training rows."""
    res = run_cli("train", "--dataset", "parity", "--epochs", "1", "--batch-size", "5000", "--validation-split", "0",
                  "--out", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    header = next(line for line in res.stdout.splitlines() if line.startswith("training on"))
    assert "batch 5000 (full batch: 700 training rows)" in header, header


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
def test_a_batch_smaller_than_the_training_rows_is_said_as_given(tmp_path):
    res = run_cli("train", "--dataset", "parity", "--epochs", "1", "--batch-size", "50", "--out", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    header = next(line for line in res.stdout.splitlines() if line.startswith("training on"))
    assert ", batch 50, " in header and "full batch" not in header, header


# -- a plateau schedule without validation rows says what it watches -----------------------------------
@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
@pytest.mark.parametrize("schedule, watched", [("plateau", "loss"), ("plateau:monitor=val_accuracy", "accuracy")])
def test_a_plateau_schedule_without_validation_rows_says_it_watches_the_training_metric(tmp_path, schedule,
                                                                                        watched):
    """It silently watched the training metric where it was told to watch the validation one."""
    res = run_cli("train", "--dataset", "parity", "--epochs", "1", "--schedule", schedule, "--validation-split", "0",
                  "--out", tmp_path / "run", "--quiet")
    assert res.returncode == 0, res.stderr
    assert f"no validation rows: it watches the training {watched} instead" in res.stderr


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_plateau_schedule_with_validation_rows_says_nothing_of_it(tmp_path):
    res = run_cli("train", "--dataset", "parity", "--epochs", "1", "--schedule", "plateau", "--out", tmp_path / "run",
                  "--quiet")
    assert res.returncode == 0, res.stderr
    assert "plateau" not in res.stderr


# -- more notes and errors that named an option for a --config file's value ----------------------------
def _csv(path, rows_per_class):
    lines = ["a,b,label"] + [f"{(7 * i % 11) / 11:.3f},{(5 * i % 13) / 13:.3f},{label}"
                             for label in (0, 1) for i in range(rows_per_class)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_early_stopping_from_the_config_file_on_a_file_too_small_to_split_is_named_by_its_line(tmp_path):
    """It said "--early-stopping watches ... or leave out --early-stopping" of the file's setting."""
    config = tmp_path / "c.toml"
    config.write_text(f'dataset = "{_csv(tmp_path / "t.csv", 4).as_posix()}"\nearly_stopping = 3\nepochs = 1\n')
    text = _error_line(run_cli("train", "--config", config, "--out", tmp_path / "run"))
    assert f"early_stopping = 3 in {config} watches the validation loss" in text, text
    assert text.endswith(f"or leave early_stopping out of {config}"), text
    assert "--early-stopping" not in text


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_grouped_rows_under_the_config_files_batching_name_its_line(tmp_path):
    """The note said "--batching sequential takes them in that order" of the file's setting."""
    config = tmp_path / "c.toml"
    config.write_text(f'dataset = "{_csv(tmp_path / "g.csv", 60).as_posix()}"\nbatching = "sequential"\n'
                      "batch_size = 10\nepochs = 1\n")
    res = run_cli("train", "--config", config, "--out", tmp_path / "run", "--quiet")
    assert res.returncode == 0, res.stderr
    assert f'batching = "sequential" in {config} takes them in that order' in res.stderr, res.stderr
    assert "--batching" not in res.stderr


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_short_cosine_from_the_config_file_is_told_to_be_lengthened_there(tmp_path):
    """The warning said "give --schedule cosine:t_max=3" of the file's schedule table."""
    config = tmp_path / "c.toml"
    config.write_text('dataset = "parity"\nschedule = {type = "cosine", t_max = 1}\nepochs = 3\n')
    res = run_cli("train", "--config", config, "--out", tmp_path / "run", "--quiet")
    assert res.returncode == 0, res.stderr
    assert f"give the schedule in {config} a t_max of 3 or more" in res.stderr, res.stderr
    assert "--schedule" not in res.stderr
