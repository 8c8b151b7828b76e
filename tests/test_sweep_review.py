"""deltaprop sweep: a grid's trials are distinct runs, and the results table names them right."""

from pathlib import Path

import pytest
from cli_in_process import run_cli

from deltaprop import ConfigError
from deltaprop.sweep import parse_grid, plan_trials

KNOWN = {"lr", "layers", "optimizer", "epochs", "batch_size"}


@pytest.mark.parametrize("spec, named", [
    ("lr=0.1,0.1", "'0.1' twice"), ("lr=1,1", "'1' twice"), ("lr=0.1,0.3,0.10", "'0.1' and '0.10'"),
    ("optimizer=sgd,SGD", "'sgd' and 'SGD'"), ("layers=10,3,2:10,8,2:10,3,2", "'10,3,2' twice"),
    ("optimizer=nonsense,nonsense", "'nonsense' twice"),
])
def test_a_value_listed_twice_is_refused_rather_than_trained_twice(spec, named):
    with pytest.raises(ConfigError, match=f"lists {named}.*same runs trained twice"):
        parse_grid([spec], KNOWN)


def test_distinct_values_still_give_every_combination_once():
    grid = parse_grid(["lr=0.1,0.3", "layers=10,3,2:10,8,2", "optimizer=sgd,adam"], KNOWN)
    trials = plan_trials(grid, Path("s"))
    points = {tuple(sorted(t.options.items())) for t in trials}
    assert len(trials) == len(points) == 8


def test_the_command_line_refuses_a_repeated_value_in_one_line_before_any_folder(tmp_path):
    result = run_cli("sweep", "--grid", "lr=0.1,0.10", "--out", "s", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'0.1' and '0.10'" in lines[0], result.stderr
    assert not (tmp_path / "s").exists()
