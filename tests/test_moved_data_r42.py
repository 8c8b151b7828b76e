"""A model trained on a data file that has since moved: `evaluate` and `plot samples --model`
without --dataset say how to point them at the file's new place, not only that it is gone."""

import pytest
from cli_in_process import run_cli

import deltaprop as dp


@pytest.fixture
def model_of_a_moved_file(tmp_path):
    gone = tmp_path / "data" / "rows.csv"
    net = dp.mlp([4, 3, 2], seed=0)
    path = dp.save(net, tmp_path / "model.safetensors", loss=dp.CrossEntropy(), extra={"dataset": str(gone)})
    return path, gone


@pytest.mark.parametrize("command", [["evaluate"], ["plot", "samples", "--model"]])
def test_a_moved_training_file_is_told_with_the_dataset_option(model_of_a_moved_file, command):
    path, gone = model_of_a_moved_file
    result = run_cli(*command, path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith(f"deltaprop: error: {gone}: no such file; the model was trained on this file")
    assert "--dataset FILE" in line


def test_a_missing_file_given_with_dataset_is_told_as_before(model_of_a_moved_file, tmp_path):
    path, _ = model_of_a_moved_file
    result = run_cli("evaluate", path, "--dataset", tmp_path / "other.csv")
    assert result.returncode == 1
    assert result.stderr.strip() == f"deltaprop: error: {tmp_path / 'other.csv'}: no such file."
