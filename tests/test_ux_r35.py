"""What `plot weights`, `report` and `sweep --random` tell a user: which epoch's weights a
figure draws, the trial folders of a sweep given to report, and a --random above the grid."""

import json

import pytest
from cli_in_process import run_cli



@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("r35") / "run"
    result = run_cli("train", "--dataset", "parity", "--layers", "10,3,2", "--epochs", "3", "--validation-split",
                     "0.2", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    return out


def _info_weights(folder) -> str:
    lines = [ln for ln in run_cli("info", folder).stdout.splitlines() if ln.startswith("weights: ")]
    assert len(lines) == 1
    return lines[0]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_plot_weights_says_which_epochs_weights_it_drew(run_folder, tmp_path):
    result = run_cli("plot", "weights", run_folder, "-o", tmp_path / "w.png")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"wrote {tmp_path / 'w.png'}") and line.endswith(_info_weights(run_folder))
    assert "epoch 3 " in line


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_plot_weights_names_the_epoch_early_stopping_kept(run_folder, tmp_path):
    saved = (run_folder / "run.json").read_text()
    facts = json.loads(saved)
    facts["model_weights"] = {"epoch": 2, "why": "early_stopping", "monitor": "val_loss", "best": 0.5,
                              "stopped_epoch": 3}
    (run_folder / "run.json").write_text(json.dumps(facts))
    try:
        result = run_cli("plot", "weights", run_folder / "model.safetensors", "-o", tmp_path / "w.png")
        assert result.returncode == 0, result.stderr
        assert "weights: epoch 2 (early stopping kept the weights of epoch 2" in result.stdout
        assert result.stdout.strip().endswith(_info_weights(run_folder))
    finally:
        (run_folder / "run.json").write_text(saved)


def test_report_on_a_sweep_folder_names_one_of_its_trial_folders(tmp_path):
    (tmp_path / "trial-001").mkdir()
    (tmp_path / "trial-000").mkdir()
    (tmp_path / "sweep.csv").write_text("trial,lr,status\n0,0.1,ok\n1,0.3,ok\n")
    result = run_cli("report", tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "sweep folder" in line and str(tmp_path / "trial-000") in line
    assert "train output folder?" not in line


def test_report_on_another_folder_still_asks_for_a_train_output_folder(tmp_path):
    (tmp_path / "trials").mkdir()
    line = run_cli("report", tmp_path).stderr.strip()
    assert "is it a deltaprop train output folder?" in line and "sweep" not in line


def test_sweep_random_above_the_grid_says_it_trains_all_combinations(tmp_path, no_dask):
    result = run_cli("sweep", "--grid", "lr=0.1,0.3", "--random", "10", "--out", "s", cwd=tmp_path)
    first = result.stdout.splitlines()[0]
    assert first.startswith("--random 10 asks for more trials than the grid's 2 combinations: all 2; sweep of 2 trials")
    assert len(no_dask) == 2


def test_sweep_random_within_the_grid_says_nothing_of_a_cap(tmp_path, no_dask):
    result = run_cli("sweep", "--grid", "lr=0.1,0.3,1.0", "--random", "2", "--out", "s", cwd=tmp_path)
    assert result.stdout.splitlines()[0].startswith("sweep of 2 trials") and len(no_dask) == 2
