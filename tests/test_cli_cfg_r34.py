"""How the command line and configuration files become a run: flags over a file, the sweep's
own options, layer widths as written, and the names a file's ``derived`` list may hold."""

import pytest
from cli_in_process import run_cli

from deltaprop import ConfigError, sweep
from deltaprop.config import TrainConfig, load_toml
from deltaprop.sweep import parse_grid, plan_trials

# A file that fails train's checks alone: adam's own rate 0.001 is below the cosine's min_lr.
ADAM_COSINE = 'dataset = "parity"\nlayers = [10, 3, 2]\noptimizer = "adam"\nepochs = 1\n' \
              '[schedule]\ntype = "cosine"\nmin_lr = 0.005\n'


def _file(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _one_error_line(result, code=2):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- flags override a file whose own values fail a check they fix ---------------------------------
@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_flag_that_fixes_a_files_cross_check_is_taken(tmp_path):
    path = _file(tmp_path, ADAM_COSINE)
    result = run_cli("train", "--config", path, "--lr", "0.05", "--out", tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    assert load_toml(tmp_path / "run" / "config.toml")["lr"] == 0.05


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_validation_split_flag_makes_a_files_early_stopping_valid(tmp_path):
    path = _file(tmp_path, 'dataset = "parity"\nlayers = [10, 3, 2]\nepochs = 1\nearly_stopping = 2\n'
                           'validation_split = 0\n')
    result = run_cli("train", "--config", path, "--validation-split", "0.2", "--out", tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    saved = load_toml(tmp_path / "run" / "config.toml")
    assert (saved["validation_split"], saved["early_stopping"]) == (0.2, 2)


def test_a_refusal_names_the_rate_the_flag_gave_not_the_files_default(tmp_path):
    path = _file(tmp_path, ADAM_COSINE)
    line = _one_error_line(run_cli("train", "--config", path, "--lr", "0.002", "--out", tmp_path / "run"))
    assert "above lr 0.002" in line
    assert not (tmp_path / "run").exists()


def _trials(tmp_path, *grid):
    return plan_trials(parse_grid(list(grid), set(TrainConfig.keys())), tmp_path / "s")


def test_a_sweeps_file_is_taken_when_the_grid_gives_what_it_lacks(tmp_path):
    path = _file(tmp_path, ADAM_COSINE)
    sweep.check_shared_config(str(path), _trials(tmp_path, "lr=0.01,0.05"))


def test_a_sweeps_file_no_trial_can_train_with_is_refused(tmp_path):
    path = _file(tmp_path, ADAM_COSINE)
    with pytest.raises(ConfigError, match="min_lr 0.005 is above lr 0.001"):
        sweep.check_shared_config(str(path), _trials(tmp_path, "batch_size=8,16"))


def test_the_sweep_command_runs_a_file_that_the_grid_completes(tmp_path, no_dask):
    path = _file(tmp_path, ADAM_COSINE)
    result = run_cli("sweep", path, "--grid", "lr=0.01,0.05", "--out", "s", cwd=tmp_path)
    assert "min_lr" not in result.stderr, result.stderr
    assert [t.options for t in no_dask] == [{"lr": "0.01"}, {"lr": "0.05"}]


# -- sweep --seed seeds the --random draw only -------------------------------------------------------
def test_sweep_seed_without_random_is_refused_in_one_line(tmp_path, no_dask):
    line = _one_error_line(run_cli("sweep", "--grid", "lr=0.1,0.3", "--seed", "5", "--out", "s", cwd=tmp_path))
    assert "--random" in line and "seed = 5" in line and "--grid seed=5" in line
    assert not (tmp_path / "s").exists() and not no_dask


def test_sweep_seed_with_random_draws_the_trials(tmp_path, no_dask):
    result = run_cli("sweep", "--grid", "lr=0.1,0.3,1.0", "--random", "2", "--seed", "5", "--out", "s", cwd=tmp_path)
    assert "--seed" not in result.stderr, result.stderr
    expected = plan_trials({"lr": ["0.1", "0.3", "1.0"]}, tmp_path / "s", random=2, seed=5)
    assert [t.options for t in no_dask] == [t.options for t in expected]


# -- layer widths are read as written ----------------------------------------------------------------
@pytest.mark.parametrize("text", ["78 4,50,10", "784,5 0,10"])
def test_a_width_with_a_space_inside_is_refused_not_joined(text):
    with pytest.raises(ConfigError, match="whole number"):
        TrainConfig.from_mapping({"layers": text})


def test_widths_with_spaces_around_commas_still_read():
    assert TrainConfig.from_mapping({"layers": " 784, 50 ,10 "}).layers == [784, 50, 10]


def test_the_layers_flag_with_a_space_inside_a_width_is_one_line(tmp_path):
    line = _one_error_line(run_cli("train", "--dataset", "parity", "--layers", "1 0,3,2", "--out", tmp_path / "r"))
    assert "'1 0'" in line


# -- a derived list names only what train fills in ---------------------------------------------------
@pytest.mark.parametrize("name, line", [("seed", "seed = 5"), ("dataset", 'dataset = "parity"'),
                                        ("steps", "steps = 50"), ("schedule", 'schedule = "step"')])
def test_a_derived_name_train_never_fills_in_is_refused_not_dropped(tmp_path, name, line):
    from deltaprop.config import config_file

    path = _file(tmp_path, f'{line}\nderived = ["{name}"]\n')
    with pytest.raises(ConfigError, match=f"derived lists '{name}'"):
        config_file(path)


def test_every_name_train_writes_as_derived_is_still_read(tmp_path):
    from config_files import written

    from deltaprop.config import config_file

    path = written(tmp_path, {"schedule": "cosine", "dataset": "parity"})
    assert set(load_toml(path)["derived"]) >= {"lr", "weight_decay", "epochs", "layers", "schedule.t_max"}
    assert config_file(path) == {k: v for k, v in load_toml(path).items()
                                 if k not in ("derived", "lr", "weight_decay", "epochs", "layers", "schedule")} | \
        {"schedule": {"type": "cosine"}}


def test_the_train_command_refuses_a_file_whose_derived_list_would_drop_its_dataset(tmp_path):
    path = _file(tmp_path, 'dataset = "parity"\nepochs = 1\nderived = ["dataset"]\n')
    line = _one_error_line(run_cli("train", "--config", path, "--out", tmp_path / "r"))
    assert "derived lists 'dataset'" in line
    assert not (tmp_path / "r").exists()


# -- an unknown key named after train's flag points to its key -------------------------------------
@pytest.mark.parametrize("key", ["output_activation", "output-activation"])
def test_the_output_activation_flags_name_as_a_key_points_to_output_not_activation(key):
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_mapping({key: "sigmoid"}, origin="c.toml")
    assert "'output'" in str(caught.value) and "did you mean 'activation'" not in str(caught.value)


def test_a_config_file_with_output_activation_says_its_key_in_one_line(tmp_path):
    path = _file(tmp_path, 'dataset = "parity"\noutput_activation = "sigmoid"\n')
    line = _one_error_line(run_cli("train", "--config", path, "--out", tmp_path / "r"))
    assert "c.toml" in line and "'output'" in line and "'activation'?" not in line


# -- names of other bytes than UTF-8 are refused before a run's files need them ----------------------
NOT_UTF8 = "d\udcff"  # the byte 0xff of a file name, as Python holds it


@pytest.mark.parametrize("flag", ["--dataset", "--data-dir"])
def test_a_setting_that_is_not_utf8_is_one_line_before_any_folder(tmp_path, flag):
    result = run_cli("train", "--dataset", "parity", flag, NOT_UTF8 + ".csv", "--out", tmp_path / "r", cwd=tmp_path)
    line = _one_error_line(result)
    assert "not UTF-8" in line
    assert not (tmp_path / "r").exists()


def test_a_train_out_folder_that_is_not_utf8_is_one_line_not_a_traceback_after_training(tmp_path):
    out = tmp_path / NOT_UTF8
    line = _one_error_line(run_cli("train", "--dataset", "parity", "--epochs", "1", "--out", out, "--quiet"))
    assert "--out" in line and "not UTF-8" in line
    assert not out.exists()


def test_a_sweep_out_folder_that_is_not_utf8_is_one_line(tmp_path, no_dask):
    line = _one_error_line(run_cli("sweep", "--grid", "lr=0.1,0.3", "--out", NOT_UTF8, cwd=tmp_path))
    assert "--out" in line and "not UTF-8" in line
    assert not (tmp_path / NOT_UTF8).exists() and not no_dask


def test_a_data_file_in_a_folder_whose_name_is_not_utf8_is_one_line(tmp_path):
    folder = tmp_path / NOT_UTF8
    folder.mkdir()
    rows = "\n".join(f"{i % 2},{i % 2 + 0.1 * (i % 5)},{i % 3}" for i in range(60))
    (folder / "data.csv").write_text("label,a,b\n" + rows + "\n")
    line = _one_error_line(run_cli("train", "--dataset", "data.csv", "--epochs", "1", "--out", tmp_path / "r",
                                   cwd=folder))
    assert "dataset" in line and "not UTF-8" in line
    assert not (tmp_path / "r").exists()


# -- a UTF-8 file that an editor began with a byte-order mark ----------------------------------------
def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b'\xef\xbb\xbfdataset = "parity"\nepochs = 2\n')
    assert load_toml(path) == {"dataset": "parity", "epochs": 2}


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_train_reads_a_config_file_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b'\xef\xbb\xbfdataset = "parity"\r\nlayers = [10, 3, 2]\r\nepochs = 1\r\n')
    result = run_cli("train", "--config", path, "--out", tmp_path / "r", "--quiet")
    assert result.returncode == 0, result.stderr
    assert load_toml(tmp_path / "r" / "config.toml")["layers"] == [10, 3, 2]


# -- a derived list of other things than names --------------------------------------------------------
@pytest.mark.parametrize("derived", [[1, [2]], [True, "lr"], [3]])
def test_a_derived_list_of_other_things_than_names_is_a_config_error(derived):
    with pytest.raises(ConfigError, match="derived must be a list of setting names"):
        TrainConfig.from_mapping({"derived": derived})


def test_sweep_resume_over_a_trial_whose_derived_list_is_damaged_is_one_line(tmp_path, no_dask):
    import json

    folder = tmp_path / "s" / "trial-000"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"stands for a finished trial's model")
    (folder / "run.json").write_text(json.dumps({"status": "done"}))
    (folder / "config.toml").write_text('dataset = "parity"\nlr = 0.1\nderived = [1, [2]]\n')
    result = run_cli("sweep", "--grid", "lr=0.1,0.3", "--out", "s", "--resume", cwd=tmp_path)
    line = _one_error_line(result)
    assert "trial 0" in line and "config.toml cannot be read" in line
    assert not no_dask


# -- other names of activations inside a stack of outputs ----------------------------------------------
@pytest.mark.parametrize("given, read", [("sigmoid+linear", "sigmoid+identity"), ("logistic+softmax", "sigmoid+softmax"),
                                         ("Logistic + Linear", "sigmoid+identity")])
def test_other_names_of_activations_read_the_same_in_a_stack_as_alone(given, read):
    assert TrainConfig.from_mapping({"output": given}).output == read


def test_a_stack_ending_in_linear_goes_with_cross_entropy_as_one_ending_in_identity():
    assert TrainConfig.from_mapping({"output": "sigmoid+linear"}).build_loss().from_logits


# -- two sweeps started in the same second -------------------------------------------------------------
def test_two_sweeps_started_in_the_same_second_get_folders_of_their_own(tmp_path, no_dask, monkeypatch):
    from deltaprop import cli

    monkeypatch.setattr(cli.time, "strftime", lambda fmt, *a: fmt.replace("%Y%m%d-%H%M%S", "20261201-000000"))
    first = run_cli("sweep", "--grid", "lr=0.1,0.3", cwd=tmp_path)
    second = run_cli("sweep", "--grid", "lr=0.1,0.3", cwd=tmp_path)
    assert "Traceback" not in first.stderr + second.stderr
    folders = sorted({t.folder.parent for t in no_dask})
    assert [f.name for f in folders] == ["sweep-20261201-000000", "sweep-20261201-000000-2"]
