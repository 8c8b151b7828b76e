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


def _trained_sweep(tmp_path, lrs=("0.3",), extra=""):
    """A sweep's finished trials, trained by the command line its workers run (in this process)."""
    from deltaprop.sweep_trial import _argv

    config = tmp_path / "c.toml"
    config.write_text('dataset = "data.csv"\nlayers = [4, 3, 2]\nepochs = 1\nbatch_size = 16\n' + extra)
    for trial in plan_trials({"lr": list(lrs)}, tmp_path / "s"):
        trained = run_cli(*_argv(str(config), trial.options, str(trial.folder)), cwd=tmp_path)
        assert trained.returncode == 0, trained.stderr
    return [str(config), "--grid", f"lr={','.join(lrs)}", "--out", "s", "--resume"]


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
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


def _finished(folder, rows):
    """A finished trial's folder whose history holds ``rows`` of (val_accuracy, val_loss)."""
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "run.json").write_text('{"status": "done", "seconds": 1.5}')
    lines = ["epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps"]
    lines += [f"{e},0.5,0.5,{loss},{acc},0.1,0.01,{10 * e}" for e, (acc, loss) in enumerate(rows, 1)]
    (folder / "history.csv").write_text("\n".join(lines) + "\n")


def _summarised(tmp_path, histories):
    from deltaprop.sweep import summarise

    trials = plan_trials({"lr": [str(i + 1) for i in range(len(histories))]}, tmp_path / "s")
    for trial, rows in zip(trials, histories):
        _finished(trial.folder, rows)
        trial.result = summarise(trial, None)
    return trials


def test_trials_tied_on_accuracy_are_ranked_by_their_validation_loss_not_by_grid_order(tmp_path):
    from deltaprop.sweep import best_trial, tied_with

    trials = _summarised(tmp_path, [[(0.9, 0.4), (1.0, 0.30)], [(1.0, 0.2), (1.0, 0.05)], [(0.95, 0.01)]])
    best = best_trial(trials)
    assert best is trials[1]
    assert (best.result["best_epoch"], best.result["val_loss_at_best"]) == (1, 0.05)  # the first epoch at 1.0
    assert tied_with(best, trials) == [trials[0]]


def test_without_a_tie_the_highest_accuracy_wins_whatever_its_loss(tmp_path):
    from deltaprop.sweep import best_trial

    trials = _summarised(tmp_path, [[(0.8, 0.01)], [(0.9, 0.6)], [(0.85, 0.02)]])
    assert best_trial(trials) is trials[1]


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
def test_the_best_line_says_which_trials_tie_and_why_this_one_is_named(tmp_path):
    _data_csv(tmp_path / "data.csv")
    args = _trained_sweep(tmp_path, lrs=("0.3", "1"))
    folders = sorted((tmp_path / "s").glob("trial-*"))
    for folder, loss in zip(folders, (0.4, 0.2)):
        (folder / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n"
                                            f"1,0.5,0.5,{loss},0.875,0.3,0.01,4\n")
    result = run_cli("sweep", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    best = next(line for line in result.stdout.splitlines() if line.startswith("best:"))
    assert best.startswith("best: trial 1 (lr=1)"), best
    assert "trial 0 reaches it too" in best and "lowest validation loss at it, 0.2" in best, best


class _Pending:
    """A Dask future of a trial not finished when the sweep was stopped."""

    status = "pending"

    def cancel(self):
        pass


@pytest.mark.slow  # about a second
def test_a_pending_trial_with_an_earlier_sweeps_stopped_run_is_not_run_not_stopped_now(tmp_path):
    import os

    from deltaprop.sweep import _run_json_stamp, _stop, write_results

    trials = plan_trials({"lr": ["0.3", "1"]}, tmp_path / "s")
    for trial in trials:  # both stopped by the sweep's first Ctrl-C; a resume submits them again
        trial.folder.mkdir(parents=True)
        (trial.folder / "run.json").write_text('{"status": "interrupted", "seconds": 7.0}')
    stamps = {t.folder: _run_json_stamp(t.folder) for t in trials}
    # trial 1 started again and was stopped by this Ctrl-C before the sweep looked: a new run.json
    (trials[1].folder / "new.json").write_text('{"status": "interrupted", "seconds": 0.5}')
    os.replace(trials[1].folder / "new.json", trials[1].folder / "run.json")
    _stop({_Pending(): t for t in trials}, stamps)
    assert not trials[0].result  # never started in this sweep
    assert trials[1].result["status"] == "interrupted"
    write_results(trials, tmp_path / "s", ["lr"])
    rows = (tmp_path / "s" / "sweep.csv").read_text().splitlines()
    assert ",not run," in rows[1] and ",interrupted," in rows[2], rows


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_the_best_line_says_when_the_folders_model_is_not_the_best_epochs(tmp_path):
    import json

    _data_csv(tmp_path / "data.csv")
    args = _trained_sweep(tmp_path)
    folder = tmp_path / "s" / "trial-000"
    (folder / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n"
                                        "1,0.5,0.5,0.3,0.875,0.3,0.01,4\n2,0.9,0.5,0.8,0.625,0.3,0.01,8\n")
    facts = json.loads((folder / "run.json").read_text())
    facts["model_weights"] = {"epoch": 2, "last_epoch": 2, "why": "last_epoch"}
    (folder / "run.json").write_text(json.dumps(facts))
    result = run_cli("sweep", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    best = next(line for line in result.stdout.splitlines() if line.startswith("best:"))
    assert "validation accuracy 0.8750 at epoch 1" in best, best
    # its one-epoch trial ends at chance after a few updates: an alert may follow the note
    assert "(its model.safetensors holds epoch 2's weights, validation accuracy 0.6250)" in best, best


@pytest.mark.parametrize("kept, noted", [(1, False), (2, True), (None, False)])
def test_the_model_note_follows_the_epoch_run_json_says_the_model_holds(tmp_path, kept, noted):
    import json

    from deltaprop.sweep import best_trial, model_note, summarise

    trials = _summarised(tmp_path, [[(0.9, 0.3), (0.7, 0.5)]])
    facts = {"status": "done", "seconds": 1.5}
    if kept is not None:
        facts["model_weights"] = {"epoch": kept, "last_epoch": 2, "why": "early_stopping" if kept == 1 else "last_epoch"}
    (trials[0].folder / "run.json").write_text(json.dumps(facts))
    trials[0].result = summarise(trials[0], None)
    note = model_note(best_trial(trials))
    assert (note == " (its model.safetensors holds epoch 2's weights, validation accuracy 0.7000)") == noted, note
    assert (note == "") != noted


MPI_JOB = {"PMI_SIZE": "2", "PMI_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1",
           "PMIX_RANK": "1", "MPI_LOCALNRANKS": "2"}


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_trial_on_a_worker_that_mpiexec_started_trains_as_one_process(tmp_path, monkeypatch):
    # a Dask worker started by MPI (dask-mpi) has the job's variables; its trial's train took
    # itself for a rank of a data-parallel job, and failed starting MPI
    from deltaprop.sweep import finished_trial
    from deltaprop.sweep_trial import run_trial

    config = tmp_path / "c.toml"
    config.write_text('dataset = "parity"\nlayers = [10, 3, 2]\nepochs = 1\nbatch_size = 64\n')
    for name, value in MPI_JOB.items():
        monkeypatch.setenv(name, value)
    run = run_trial(str(config), {"lr": "0.3"}, str(tmp_path / "trial-000"))
    assert run["exit"] == 0, run["error"]
    assert finished_trial(tmp_path / "trial-000")


def test_deltaprop_sweep_under_mpiexec_is_refused_once_before_any_folder(tmp_path):
    rank0 = run_cli("sweep", "--grid", "lr=0.1,0.3", "--out", "s", cwd=tmp_path, env={**MPI_JOB, "PMI_RANK": "0",
                                                                                     "OMPI_COMM_WORLD_RANK": "0",
                                                                                     "PMIX_RANK": "0"})
    assert rank0.returncode == 2
    lines = rank0.stderr.strip().splitlines()
    assert len(lines) == 1 and "mpiexec started 2 copies of this sweep" in lines[0], rank0.stderr
    other = run_cli("sweep", "--grid", "lr=0.1,0.3", "--out", "s", cwd=tmp_path, env=MPI_JOB)
    assert (other.returncode, other.stdout, other.stderr) == (2, "", "")
    assert not (tmp_path / "s").exists()


def test_a_finished_trial_without_validation_is_reported_without_an_epoch_of_none(tmp_path):
    from deltaprop.sweep import _report

    trials = _summarised(tmp_path, [[(0.9, 0.3)]])
    for row in ("best_val_accuracy", "best_epoch"):
        trials[0].result[row] = None
    said = []
    _report(trials[0], said.append)
    assert said == ["trial 0 (lr=1): finished without a validation accuracy, 1.5 s"]


def test_no_best_trial_points_at_test_results_the_output_has(tmp_path):
    import json

    _data_csv(tmp_path / "data.csv")
    args = _trained_sweep(tmp_path, extra="validation_split = 0.0\n")
    result = run_cli("sweep", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("no best trial"))
    assert "test accuracy above" not in line and "test accuracy in each trial's evaluation.json" in line, line
    assert "accuracy" in json.loads((tmp_path / "s" / "trial-000" / "evaluation.json").read_text())
