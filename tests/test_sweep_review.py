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


def _data_csv(path, rows=60, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    lines = ["a,b,c,d,label", *(",".join(f"{v:.4f}" for v in row) + f",{c}" for row, c in zip(x, y))]
    path.write_text("\n".join(lines) + "\n")


def _trained_sweep(tmp_path, lrs=("0.3",)):
    """A sweep's finished trials, trained by the command line its workers run (in this process)."""
    from deltaprop.sweep_trial import _argv

    config = tmp_path / "c.toml"
    config.write_text('dataset = "data.csv"\nlayers = [4, 3, 2]\nepochs = 1\nbatch_size = 16\n')
    for trial in plan_trials({"lr": list(lrs)}, tmp_path / "s"):
        trained = run_cli(*_argv(str(config), trial.options, str(trial.folder)), cwd=tmp_path)
        assert trained.returncode == 0, trained.stderr
    return [str(config), "--grid", f"lr={','.join(lrs)}", "--out", "s", "--resume"]


def test_resume_refuses_finished_trials_trained_on_a_data_file_that_changed_since(tmp_path):
    _data_csv(tmp_path / "data.csv")
    args = _trained_sweep(tmp_path)
    same = run_cli("sweep", *args, cwd=tmp_path)
    assert same.returncode == 0 and same.stdout.count("finished before, skipped") == 1, same.stderr
    before = (tmp_path / "s" / "sweep.csv").read_bytes()
    _data_csv(tmp_path / "data.csv", seed=1)  # the same rows in number, other values
    result = run_cli("sweep", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "trial 0" in lines[0] and "data.csv as it was then" in lines[0], result.stderr
    assert "skipped" not in result.stdout
    assert (tmp_path / "s" / "sweep.csv").read_bytes() == before
