"""A folder that `fit`'s CheckpointWriter wrote (checkpoint.safetensors and history.csv, no
config.toml or run.json) given to the command line: the model commands ask for its
checkpoint rather than send the user to `train --resume`, which refuses the folder, and
that refusal says how such a checkpoint resumes in Python."""

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp


@pytest.fixture
def writer_folder(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    out = tmp_path / "cw"
    dp.fit(
        dp.mlp([4, 3, 2], seed=0),
        X,
        y,
        loss=dp.CrossEntropy(),
        optimizer=dp.SGD(lr=0.3),
        epochs=1,
        batch_size=20,
        seed=0,
        threads=1,
        callbacks=[dp.CheckpointWriter(out)],
    )
    assert (out / "checkpoint.safetensors").is_file() and not (out / "config.toml").exists()
    return out


def _line(result) -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


@pytest.mark.parametrize("command", [["info"], ["evaluate"], ["plot", "weights"]])
def test_model_commands_ask_for_the_checkpoint_not_a_resume(writer_folder, command):
    line = _line(run_cli(*command, writer_folder))
    assert f"only {writer_folder / 'checkpoint.safetensors'}" in line and "give the checkpoint itself" in line
    assert "finish the run with" not in line


def test_train_resume_of_such_a_folder_says_how_python_resumes_it(writer_folder):
    line = _line(run_cli("train", "--resume", writer_folder))
    assert "was not written by deltaprop train" in line
    assert "fit(ck.net, X, y, loss=ck.loss, optimizer=ck.optimizer, resume=ck.training_state())" in line


def test_a_train_run_without_a_model_is_still_sent_to_resume(writer_folder):
    (writer_folder / "config.toml").write_text('dataset = "parity"\n')
    line = _line(run_cli("info", writer_folder))
    assert f"finish the run with: deltaprop train --resume {writer_folder}" in line
