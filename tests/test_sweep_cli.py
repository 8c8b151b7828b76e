"""deltaprop sweep's command line: the --scheduler address and the --grid names and values."""

import pytest
from cli_in_process import run_cli

from deltaprop import ConfigError
from deltaprop.sweep import parse_grid


def _sweep(tmp_path, *args):
    return run_cli("sweep", *args, cwd=tmp_path)


@pytest.mark.parametrize("address", ["localhost", "foo:bar", "tcp://host", "tcp://:8786", "udp://h:1", "h:70000"])
def test_a_malformed_scheduler_address_is_one_line_naming_the_form(tmp_path, address):
    result = _sweep(tmp_path, "--grid", "lr=0.3", "--scheduler", address, "--out", "s")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "tcp://HOST:PORT" in lines[0], result.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tls://sched.example:8786", "localhost:8786",
                                     "tcp://[::1]:8786"])
def test_well_formed_scheduler_addresses_pass(address):
    from deltaprop.sweep import check_scheduler_address

    check_scheduler_address(address)


@pytest.mark.parametrize("spec, values", [
    ("schedule=cosine:t_max=2", ["cosine:t_max=2"]),
    ("schedule=step:step_size=2,gamma=0.5", ["step:step_size=2,gamma=0.5"]),
    ("schedule=cosine:t_max=2;", ["cosine:t_max=2"]),
    ("schedule=cosine:t_max=2;step", ["cosine:t_max=2", "step"]),
    ("schedule=step:gamma=0.5;cosine;", ["step:gamma=0.5", "cosine"]),
    ("schedule=step:cosine", ["step", "cosine"]),
])
def test_one_schedule_with_settings_is_one_grid_value(spec, values):
    assert parse_grid([spec], {"schedule"}) == {"schedule": values}


@pytest.mark.parametrize("spec", ["schedule=cosine:t_max=2:step", "schedule=step:cosine:t_max=2"])
def test_several_schedules_with_settings_need_semicolons(spec):
    with pytest.raises(ConfigError, match="separate the grid's schedules with ';'"):
        parse_grid([spec], {"schedule"})


@pytest.mark.parametrize("spec", ["lr=0.1,,0.2", "schedule=cosine;;step", "lr=;"])
def test_empty_values_are_still_refused(spec):
    with pytest.raises(ConfigError, match="empty value|KEY=V1,V2"):
        parse_grid([spec], {"lr", "schedule"})


def test_trains_flag_names_are_grid_keys_too():
    grid = parse_grid(["output-activation=softmax,sigmoid", "--data-dir=d"], {"output", "data_dir"},
                      aliases={"output_activation": "output", "data_dir": "data_dir"})
    assert grid == {"output": ["softmax", "sigmoid"], "data_dir": ["d"]}


def test_the_command_line_takes_output_activation_in_a_grid(tmp_path):
    # a bad --scheduler stops the sweep after the grid is read, before anything trains
    result = _sweep(tmp_path, "--grid", "output-activation=softmax,sigmoid", "--scheduler", "bad", "--out", "s")
    assert "not an option of deltaprop train" not in result.stderr
    assert "tcp://HOST:PORT" in result.stderr
