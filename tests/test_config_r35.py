"""Configuration files and the predict and info commands as a user meets them: values at the
edges of their ranges, and what the commands say about them."""

import pytest
from cli_in_process import run_cli

from deltaprop import ConfigError
from deltaprop.config import MAX_INT, TrainConfig


def _one_error_line(result, code=2):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


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
