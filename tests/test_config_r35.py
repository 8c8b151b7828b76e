"""Configuration files and the predict and info commands as a user meets them: values at the
edges of their ranges, and what the commands say about them."""

import pytest
from cli_in_process import run_cli

from deltaprop import ConfigError
from deltaprop.config import MAX_INT, TrainConfig
from test_cli_cfg_r34 import _one_error_line




# -- whole numbers config.toml cannot hold -----------------------------------------------------------
@pytest.mark.parametrize("line, name", [
    ("steps = 1e300", "steps"),
    ("epochs = 1e20", "epochs"),
    ("batch_size = 1e19", "batch_size"),
    ("early_stopping = 1e300", "early_stopping"),
    ("layers = [10, 1e300, 2]", "layers width"),
    ('schedule = {type = "cosine", t_max = 1e300}', "schedule.t_max"),
    ('schedule = {type = "plateau", patience = 1e300}', "schedule.patience"),
])
def test_a_whole_number_beyond_64_bits_is_refused_before_training(tmp_path, line, name):
    """A value past TOML's 64-bit integers used to pass the checks, print the run's header and
    leave a folder of config.toml and run.json behind, then fail on the checkpoint's metadata
    ('a number in extra has 301 digits'), or write a config.toml no TOML reader takes."""
    config = tmp_path / "c.toml"
    limit = "steps = 2" if name == "epochs" else "epochs = 2" if name != "steps" else ""
    config.write_text(f'dataset = "parity"\n{limit}\n{line}\n')
    out = tmp_path / "run"
    line = _one_error_line(run_cli("train", "--config", config, "--out", out, "--quiet"))
    assert f"{name} must be at most 2**63 - 1" in line
    assert not out.exists() or not any(out.iterdir())


def test_the_largest_64_bit_limit_is_taken_and_one_more_is_not():
    assert TrainConfig.from_mapping({"epochs": MAX_INT}).epochs == MAX_INT
    with pytest.raises(ConfigError, match="epochs must be at most"):
        TrainConfig.from_mapping({"epochs": MAX_INT + 1})
    with pytest.raises(ConfigError, match="steps must be at most .* a number of 400 digits"):
        TrainConfig.from_mapping({"steps": 10**399})


# -- a relative path in a config file in another folder ----------------------------------------------
def _csv(path):
    rows = "\n".join(f"{i % 5},{(i * 7) % 3},{i % 2}" for i in range(40))
    path.write_text("a,b,label\n" + rows + "\n")
    return path


def test_a_relative_dataset_beside_the_config_file_is_named_when_the_current_folder_has_none(tmp_path):
    """`train --config proj/c.toml` with dataset = "data.csv" reads ./data.csv; the error used
    to say only 'data.csv: no such file' while proj/data.csv sat beside the file."""
    (tmp_path / "proj").mkdir()
    beside = _csv(tmp_path / "proj" / "data.csv")
    (tmp_path / "proj" / "c.toml").write_text('dataset = "data.csv"\nepochs = 1\n')
    result = run_cli("train", "--config", "proj/c.toml", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    note, error = result.stderr.strip().splitlines()
    assert note.startswith("note: proj/c.toml: dataset = \"data.csv\" is read from the current folder")
    assert str(beside) in note
    assert "data.csv" in error


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_relative_dataset_that_names_another_file_than_the_one_beside_the_config_file_is_said(tmp_path):
    """Both ./data.csv and proj/data.csv exist: the run trained on ./data.csv without a word."""
    (tmp_path / "proj").mkdir()
    beside = _csv(tmp_path / "proj" / "data.csv")
    here = _csv(tmp_path / "data.csv")
    (tmp_path / "proj" / "c.toml").write_text('dataset = "data.csv"\nepochs = 1\n')
    result = run_cli("train", "--config", "proj/c.toml", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "beside" in line]
    assert len(notes) == 1 and str(here) in notes[0] and str(beside) in notes[0]


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_no_note_from_the_config_files_own_folder_or_for_a_flag_over_it(tmp_path):
    (tmp_path / "proj").mkdir()
    _csv(tmp_path / "proj" / "data.csv")
    _csv(tmp_path / "data.csv")
    (tmp_path / "proj" / "c.toml").write_text('dataset = "data.csv"\nepochs = 1\n')
    inside = run_cli("train", "--config", "c.toml", "--out", "../run1", "--quiet", cwd=tmp_path / "proj")
    flag = run_cli("train", "--config", "proj/c.toml", "--dataset", "data.csv", "--out", "run2", "--quiet",
                   cwd=tmp_path)
    for result in (inside, flag):
        assert result.returncode == 0, result.stderr
        assert "beside" not in result.stderr


# -- info on a checkpoint a steps limit ended inside an epoch -----------------------------------------
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_info_on_a_checkpoint_its_steps_limit_ended_does_not_promise_a_plain_resume_finishes_it(tmp_path):
    """It said 'a resume finishes it', but `train --resume RUN` refuses: the run already made
    its steps; a resume needs a larger --steps, and info now says so."""
    out = tmp_path / "run"
    assert run_cli("train", "--dataset", "parity", "--steps", "7", "--out", out, "--quiet").returncode == 0
    info = run_cli("info", out / "checkpoint.safetensors")
    assert info.returncode == 0, info.stderr
    line = next(line for line in info.stdout.splitlines() if line.startswith("checkpoint:"))
    assert "7 batches of it trained" in line
    assert "a resume finishes it" not in line
    assert "steps = 7" in line and "--steps N above 7" in line
    plain = run_cli("train", "--resume", out)
    assert plain.returncode != 0 and "--steps N with N > 7" in plain.stderr
    assert run_cli("train", "--resume", out, "--steps", "8", "--quiet").returncode == 0


# -- an unknown key's suggestion ------------------------------------------------------------------------
@pytest.mark.parametrize("line, hint", [
    ('out = "runs/x"', "--out is an option of the command line only"),
    ("threads = 2", "--threads is an option of the command line only"),
    ("log-json = true", "--log-json is an option of the command line only"),
    ("LR = 0.1", "did you mean 'lr'?"),
    ("Batch-Size = 20", "did you mean 'batch_size'?"),
    ("learning_rate = 0.1", "did you mean 'lr'?"),
])
def test_an_unknown_key_gets_the_suggestion_that_fits(tmp_path, line, hint):
    """`out = "runs/x"` was asked 'did you mean 'output'?' (the output activation, which then
    refuses a folder's name); LR and learning_rate were offered nothing."""
    config = tmp_path / "c.toml"
    config.write_text(line + "\n")
    error = _one_error_line(run_cli("train", "--config", config, "--out", tmp_path / "run"))
    assert hint in error
    assert "'output'?" not in error


# -- a named dataset written in other letters ------------------------------------------------------------
@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_predict_reads_images_for_a_model_of_a_named_dataset_written_in_capitals(tmp_path):
    """train takes dataset = "MNIST-Sample" as the bundled sample (names are read case- and
    underscore-blind), but predict refused its images: 'this model was trained on
    MNIST-Sample, not on MNIST or Fashion-MNIST'."""
    from PIL import Image
    import numpy as np

    out = tmp_path / "run"
    config = tmp_path / "c.toml"
    config.write_text('dataset = "MNIST-Sample"\nsteps = 1\n')
    assert run_cli("train", "--config", config, "--out", out, "--quiet").returncode == 0
    pixels = np.zeros((40, 40), np.uint8)
    pixels[8:32, 18:22] = 255
    Image.fromarray(pixels).save(tmp_path / "one.png")
    result = run_cli("predict", out, tmp_path / "one.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("class ")


@pytest.mark.parametrize("name, style", [("MNIST", "digit"), ("mnist_sample", "digit"), ("Fashion_MNIST", "fashion"),
                                         ("FASHION-MNIST", "fashion"), ("digits.csv", None)])
def test_the_image_style_of_a_named_dataset_does_not_depend_on_its_letters(name, style):
    """serve drew a FASHION-MNIST model's images as digits (style_for gave None)."""
    from deltaprop.images import style_for

    assert style_for(name) == style


# -- a schedule's setting given twice -------------------------------------------------------------------
@pytest.mark.parametrize("text, key", [("step:step_size=2,step_size=3", "step_size"), ("step:type=cosine", "type"),
                                       ("cosine:min_lr=0.01, min_lr=0", "min_lr")])
def test_a_schedule_setting_given_twice_is_refused_not_the_last_taken(text, key):
    """--schedule step:step_size=2,step_size=3 trained with 3, and step:type=cosine trained a
    cosine schedule, without a word."""
    with pytest.raises(ConfigError, match=f"sets {key} twice"):
        TrainConfig.from_mapping({"schedule": text})


def test_a_schedule_flag_given_twice_is_one_error_line(tmp_path):
    result = run_cli("train", "--dataset", "parity", "--schedule", "step:type=cosine", "--out", tmp_path / "run")
    assert "sets type twice" in _one_error_line(result)


# -- predict on rows of 0 and 1 for a model that divides by 255 ---------------------------------------------
@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "run"
    assert run_cli("train", "--dataset", "mnist-sample", "--steps", "1", "--out", out, "--quiet").returncode == 0
    return out


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
@pytest.mark.parametrize("dtype", ["float64", "int64", "uint8"])
def test_predict_says_when_rows_of_zeros_and_ones_reach_a_model_that_divides_by_255(tmp_path, sample_run, dtype):
    """A black-and-white image saved as 0/1 rows was scored as a near-blank one (1 / 255 each)
    without a word; fractions in [0, 1] are refused, but whole 0 and 1 passed unsaid."""
    import numpy as np

    rows = np.zeros((2, 784), dtype=dtype)
    rows[:, 300:320] = 1
    np.save(tmp_path / "rows.npy", rows)
    result = run_cli("predict", sample_run, tmp_path / "rows.npy")
    assert result.returncode == 0, result.stderr
    notes = result.stderr.strip().splitlines()
    assert len(notes) == 1 and "holds only 0 and 1" in notes[0] and "rows * 255" in notes[0]
    assert len(result.stdout.splitlines()) == 2


def test_predict_says_nothing_of_blank_rows_or_levels_of_an_image(tmp_path, sample_run):
    import numpy as np

    blank, levels = np.zeros((1, 784)), np.zeros((1, 784))
    levels[0, 300:320] = [1, 255] * 10
    np.save(tmp_path / "blank.npy", blank)
    np.save(tmp_path / "levels.npy", levels)
    result = run_cli("predict", sample_run, tmp_path / "blank.npy", tmp_path / "levels.npy")
    assert result.returncode == 0 and result.stderr == ""


# -- a path under the home folder written with ~ -------------------------------------------------------------
def test_a_dataset_written_from_the_home_folder_is_found(tmp_path, monkeypatch):
    """dataset = "~/data.csv" in a config file (no shell expands it there) said
    '~/data.csv: no such file.' for a file that is there."""
    monkeypatch.setenv("HOME", str(tmp_path))
    data = _csv(tmp_path / "data.csv")
    config = tmp_path / "c.toml"
    config.write_text('dataset = "~/data.csv"\nepochs = 1\n')
    result = run_cli("train", "--config", config, "--out", tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    assert f'dataset = "{data}"' in (tmp_path / "run" / "config.toml").read_text()
    cfg = TrainConfig.from_mapping({"dataset": "mnist", "data_dir": "~/idx"})
    assert cfg.data_dir == str(tmp_path / "idx")


# -- an image of 32-bit float levels in [0, 1] ----------------------------------------------------------------
@pytest.mark.parametrize("style", ["digit", "fashion", "as-is"])
def test_a_float_image_in_0_1_is_read_as_its_8_bit_copy(tmp_path, style):
    """A mode-F TIFF of levels in [0, 1] became levels 0 and 1 (pillow's convert('L')): the
    fashion style called it blank, and as-is handed the model a near-black image unsaid."""
    from PIL import Image
    import numpy as np

    from deltaprop.images import load_image

    levels = np.zeros((60, 60))
    levels[10:50, 20:40] = np.linspace(0.2, 1.0, 20)
    Image.fromarray(levels.astype(np.float32)).save(tmp_path / "float.tiff")
    Image.fromarray(np.rint(levels * 255).astype(np.uint8)).save(tmp_path / "eight.png")
    as_float, as_bytes = load_image(tmp_path / "float.tiff", style), load_image(tmp_path / "eight.png", style)
    assert np.abs(as_float.astype(int) - as_bytes.astype(int)).max() <= 1
    assert as_float.max() >= 200


def test_a_float_image_with_nan_pixels_is_one_error_line(tmp_path, sample_run):
    from PIL import Image
    import numpy as np

    levels = np.zeros((40, 40), np.float32)
    levels[5:35, 18:22] = np.nan
    Image.fromarray(levels).save(tmp_path / "nan.tiff")
    assert "NaN or infinite" in _one_error_line(run_cli("predict", sample_run, tmp_path / "nan.tiff"), code=1)


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_a_named_dataset_is_no_path_even_with_a_folder_of_its_name_beside_the_config_file(tmp_path):
    """proj/c.toml with dataset = "parity" beside a folder proj/parity: the name is the
    dataset, not a path, so no note offers the folder's path as the dataset."""
    (tmp_path / "proj" / "parity").mkdir(parents=True)
    (tmp_path / "proj" / "c.toml").write_text('dataset = "parity"\nepochs = 1\n')
    result = run_cli("train", "--config", "proj/c.toml", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "beside" not in result.stderr


# -- options for images given with .npy rows only -------------------------------------------------------------
@pytest.mark.parametrize("options, said", [(["--levels", "16"], "--levels 16 applies"),
                                           (["--images", "fashion"], "--images fashion applies"),
                                           (["--images", "as-is", "--levels", "1"], "--images as-is and --levels 1 apply")])
def test_predict_says_that_options_for_images_leave_npy_rows_as_they_are(tmp_path, sample_run, options, said):
    """predict --levels 16 MODEL rows.npy scored the rows unscaled without a word: --levels and
    --images make images into inputs, and a user may take them to scale the rows too."""
    import numpy as np

    np.save(tmp_path / "rows.npy", np.full((1, 784), 8, np.uint8))
    plain = run_cli("predict", sample_run, tmp_path / "rows.npy")
    result = run_cli("predict", *options, sample_run, tmp_path / "rows.npy")
    assert result.returncode == 0, result.stderr
    assert result.stdout == plain.stdout
    assert said in result.stderr and "images only" in result.stderr
    assert plain.stderr == ""
