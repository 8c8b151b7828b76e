"""Hyperparameter sweeps on a Dask LocalCluster: a grid, a failing trial, resume."""

import csv
from pathlib import Path

import pytest
from cli_in_process import run_cli

from deltaprop import ConfigError
from deltaprop.sweep import parse_grid, plan_trials

pytest.importorskip("distributed", reason="Dask distributed is not installed (uv sync --extra sweep)")

KNOWN = {"lr", "layers", "optimizer", "epochs", "batch_size", "dataset"}


def _sweep(tmp_path, *args):
    """``deltaprop sweep ARGS`` in ``tmp_path``, in this process (its trials are processes of
    their own on the cluster's workers all the same); tests/test_sweep_interrupt.py runs the
    command as a process for its signals."""
    return run_cli("sweep", *args, cwd=tmp_path)


def test_grid_values_split_on_commas_or_on_colons_when_present():
    grid = parse_grid(["lr=0.03,0.1", "layers=10,4,2:10,8,2"], KNOWN)
    assert grid == {"lr": ["0.03", "0.1"], "layers": ["10,4,2", "10,8,2"]}
    trials = plan_trials(grid, Path("s"))
    assert [t.options for t in trials][:2] == [{"lr": "0.03", "layers": "10,4,2"}, {"lr": "0.03", "layers": "10,8,2"}]
    assert [t.folder.name for t in trials] == ["trial-000", "trial-001", "trial-002", "trial-003"]


def test_values_that_hold_colons_are_separated_by_semicolons_and_one_architecture_is_one_value():
    grid = parse_grid(["schedule=step:step_size=2,gamma=0.5;cosine", "layers=10,8,2", "lr=1"], KNOWN | {"schedule"})
    assert grid == {"schedule": ["step:step_size=2,gamma=0.5", "cosine"], "layers": ["10,8,2"], "lr": ["1"]}
    assert parse_grid(["schedule=step:cosine"], {"schedule"}) == {"schedule": ["step", "cosine"]}
    # one schedule with settings is one value; several need ';' between them
    assert parse_grid(["schedule=step:step_size=2,gamma=0.5"], {"schedule"}) == {"schedule": ["step:step_size=2,gamma=0.5"]}
    with pytest.raises(ConfigError, match="separate the grid's schedules with ';'"):
        parse_grid(["schedule=step:step_size=2,gamma=0.5:cosine"], {"schedule"})


def test_random_draws_distinct_points_of_the_grid_reproducibly():
    grid = parse_grid(["lr=1,2,3,4", "epochs=1,2,3"], KNOWN)
    a = plan_trials(grid, Path("s"), random=5, seed=1)
    b = plan_trials(grid, Path("s"), random=5, seed=1)
    assert [t.options for t in a] == [t.options for t in b]
    assert len({tuple(t.options.items()) for t in a}) == 5


@pytest.mark.parametrize("spec, match", [
    ("lr", "KEY=V1,V2"), ("colour=red", "not an option of deltaprop train"),
    ("nesterov=true,false", "a switch: set it in the sweep's CONFIG.toml"), ("lr=0.1,,0.2", "empty value"),
])
def test_bad_grids_are_refused(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_grid([spec], KNOWN)


@pytest.mark.slow
def test_a_sweep_trains_every_trial_records_a_failure_and_resumes(tmp_path):
    config = tmp_path / "parity.toml"
    config.write_text('dataset = "parity"\nlayers = [10, 4, 2]\nepochs = 3\nbatch_size = 16\n')
    args = [str(config), "--grid", "lr=0.5,1.0", "--grid", "optimizer=sgd,nonsense"]
    first = _sweep(tmp_path, *args, "--workers", "2", "--out", "s")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    rows = list(csv.DictReader((tmp_path / "s" / "sweep.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "failed"]
    assert all("unknown optimizer 'nonsense'" in r["error"] for r in rows if r["status"] == "failed")
    assert all(0.0 <= float(r["best_val_accuracy"]) <= 1.0 for r in rows if r["status"] == "ok")
    for r in rows:
        folder = Path(r["folder"])
        assert (folder / "model.safetensors").is_file() == (r["status"] == "ok")
    assert (tmp_path / "s" / "sweep.png").is_file()
    assert "best: trial" in first.stdout
    # the two failed trials run again: one worker is enough for them
    again = _sweep(tmp_path, *args, "--workers", "1", "--out", "s", "--resume")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("finished before, skipped") == 2
    rows2 = list(csv.DictReader((tmp_path / "s" / "sweep.csv").open()))
    assert [r["best_val_accuracy"] for r in rows2 if r["status"] == "ok"] == [
        r["best_val_accuracy"] for r in rows if r["status"] == "ok"]


@pytest.mark.slow
def test_a_sweep_whose_trials_all_finished_exits_0_without_a_validation_accuracy(tmp_path):
    # the trials are trained by the command line a sweep's worker runs (in this process), and
    # the sweep is resumed over them: its summary is the one of a sweep that trained them
    from deltaprop.sweep_trial import _argv

    config = tmp_path / "parity.toml"
    config.write_text('dataset = "parity"\nlayers = [10, 4, 2]\nepochs = 2\nbatch_size = 16\nvalidation_split = 0.0\n')
    for trial in plan_trials({"lr": ["0.3", "1"]}, tmp_path / "s"):
        trained = run_cli(*_argv(str(config), trial.options, str(trial.folder)))
        assert trained.returncode == 0, trained.stderr
    res = _sweep(tmp_path, str(config), "--grid", "lr=0.3,1", "--out", "s", "--resume")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("finished before, skipped") == 2, res.stdout
    assert "no best trial: the 2 finished trial(s) have no validation accuracy" in res.stdout


def test_a_used_folder_needs_resume(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "x").write_text("")
    result = _sweep(tmp_path, "--grid", "lr=0.1", "--out", "s")
    assert result.returncode == 2
    assert "--resume" in result.stderr and "Traceback" not in result.stderr


HISTORY = ("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n"
           "1,0.49,0.53,0.48,0.52,0.01,0.018,79\n2,0.48,0.57,0.47,0.58,0.01,0.023,158\n")


def _finished_trial(folder: Path, **settings) -> None:
    """A trial folder as deltaprop train leaves it: the resolved config.toml, a model, run.json."""
    from deltaprop.config import TrainConfig

    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(TrainConfig.from_mapping(settings).to_toml())
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "history.csv").write_text(HISTORY)
    (folder / "run.json").write_text('{"status": "done", "seconds": 4.25}')


def test_resume_refuses_a_finished_trial_trained_with_other_options(tmp_path):
    from deltaprop.sweep import check_resumable

    _finished_trial(tmp_path / "trial-000", lr=0.01, layers=[10, 3, 2])
    check_resumable(plan_trials({"lr": ["0.01"], "layers": ["10,3,2"]}, tmp_path), None)  # the same options: resumable
    with pytest.raises(ConfigError, match=r"trial 0 \(.*trial-000\) was trained with lr = 0.01, "
                                          r"but this sweep gives it lr = 3.0"):
        check_resumable(plan_trials({"lr": ["3.0"], "layers": ["10,3,2"]}, tmp_path), None)


def test_resume_refuses_a_trial_whose_configuration_file_changed(tmp_path):
    from deltaprop.sweep import check_resumable

    _finished_trial(tmp_path / "s" / "trial-000", dataset="parity", lr=0.5, epochs=3)
    config = tmp_path / "c.toml"
    config.write_text('dataset = "parity"\nepochs = 3\n')
    check_resumable(plan_trials({"lr": ["0.5"]}, tmp_path / "s"), str(config))
    config.write_text('dataset = "parity"\nepochs = 7\n')
    with pytest.raises(ConfigError, match="epochs = 3, but this sweep gives it epochs = 7"):
        check_resumable(plan_trials({"lr": ["0.5"]}, tmp_path / "s"), str(config))


def test_what_training_resolves_is_not_a_difference(tmp_path):
    """Widths filled in from the data and a cosine schedule's length (named in config.toml's
    derived list) are no change of options."""
    from deltaprop.config import TrainConfig
    from deltaprop.sweep import check_resumable

    _finished_trial(tmp_path / "trial-000", lr=0.5, epochs=4)
    cfg = TrainConfig.from_mapping({"lr": 0.5, "epochs": 4, "schedule": "cosine"})
    cfg.fill_from_run(10, 2, batches_per_epoch=5)
    assert cfg.layers == [10, 50, 2] and cfg.schedule == {"type": "cosine", "t_max": 4}
    (tmp_path / "trial-000" / "config.toml").write_text(cfg.to_toml())
    check_resumable(plan_trials({"lr": ["0.5"], "epochs": ["4"], "schedule": ["cosine"]}, tmp_path), None)
    with pytest.raises(ConfigError, match="schedule"):
        check_resumable(plan_trials({"lr": ["0.5"], "epochs": ["4"], "schedule": ["step"]}, tmp_path), None)


def test_seconds_mean_the_recorded_wall_time_whether_the_trial_ran_or_was_skipped(tmp_path):
    from deltaprop.sweep import summarise

    _finished_trial(tmp_path / "trial-000", lr=0.5)
    trial = plan_trials({"lr": ["0.5"]}, tmp_path)[0]
    skipped = summarise(trial, None)
    ran = summarise(trial, {"exit": 0, "error": "", "seconds": 9.0})
    assert skipped["status"] == ran["status"] == "ok"
    assert skipped["seconds"] == ran["seconds"] == 4.25


def test_resume_with_a_changed_grid_stops_before_training_and_keeps_the_results(tmp_path):
    _finished_trial(tmp_path / "s" / "trial-000", lr=0.01)
    (tmp_path / "s" / "sweep.csv").write_text("kept\n")
    result = _sweep(tmp_path, "--grid", "lr=3.0,5.0", "--out", "s", "--resume")
    assert result.returncode == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "trial 0" in errors[0] and "lr = 0.01" in errors[0], result.stderr
    assert "skipped" not in result.stdout
    assert (tmp_path / "s" / "sweep.csv").read_text() == "kept\n"
    assert not (tmp_path / "s" / "trial-001").exists()


def test_resume_of_a_folder_that_does_not_exist_names_it(tmp_path):
    res = _sweep(tmp_path, "--grid", "lr=1,2", "--out", "nowhere", "--resume")
    assert res.returncode == 2 and "nowhere: no such sweep folder to continue" in res.stderr


def test_a_trial_stopped_while_its_results_were_written_is_not_finished(tmp_path):
    # it holds its model, but run.json does not say done: resume trains it again, and its
    # row does not count it as ok
    import json

    from deltaprop.sweep import finished_trial, summarise

    trial = plan_trials({"lr": ["1"]}, tmp_path)[0]
    trial.folder.mkdir(parents=True)
    (trial.folder / "model.safetensors").write_bytes(b"model")
    for status, finished in (("interrupted", False), ("training", False), ("done", True)):
        (trial.folder / "run.json").write_text(json.dumps({"status": status}))
        assert finished_trial(trial.folder) is finished
    (trial.folder / "run.json").write_text(json.dumps({"status": "interrupted"}))
    assert summarise(trial, None)["status"] == "not run"


def test_a_trials_error_of_several_lines_is_kept_whole_and_results_do_not_repeat_an_option(tmp_path):
    # sweep.csv kept the last line of an error ("or train on the bundled sample: ...") without its
    # reason, and a grid over epochs gave it two columns named epochs (csv.DictReader kept the second)
    from deltaprop.sweep import Trial, _error_of, write_results

    stderr = ("deltaprop: error: dataset 'mnist' is not in ~/.cache and could not be downloaded\n"
              "  Fix: put its files in a folder and pass --data-dir FOLDER\n"
              "       or train on the bundled sample: --dataset mnist-sample\n")
    assert _error_of(stderr) == ("deltaprop: error: dataset 'mnist' is not in ~/.cache and could not be downloaded "
                                 "Fix: put its files in a folder and pass --data-dir FOLDER or train on the bundled "
                                 "sample: --dataset mnist-sample")
    assert _error_of("a warning\nthe last line\n") == "the last line"
    trial = Trial(1, {"epochs": "6"}, tmp_path / "trial-1")
    trial.result = {"status": "ok", "best_val_accuracy": 0.9, "best_epoch": 2, "epochs": 3, "seconds": 1.0,
                    "folder": str(trial.folder), "error": ""}
    rows = list(csv.DictReader(write_results([trial], tmp_path, ["epochs"]).open()))
    assert rows[0]["epochs"] == "6" and rows[0]["epochs_trained"] == "3"
