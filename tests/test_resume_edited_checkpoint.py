"""A checkpoint edited consistently (its metadata digest recomputed, as anyone editing the
documented format can do) whose training state or configuration cannot be the run's is
refused when it is read, in one line naming the file and the problem: a history that does
not hold one record per epoch trained, a record without its training loss, a configuration
whose layer widths are not the network's."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop.serialization import load_checkpoint
from model_file_edits import edit_metadata

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "full"]


def _edited(src, dst, edit):
    """``src`` with ``edit(training, extra)`` applied to its metadata and the digest recomputed."""
    def change(meta):
        training, extra = json.loads(meta["training"]), json.loads(meta.get("extra", "{}"))
        edit(training, extra)
        meta["training"] = json.dumps(training)
        if "extra" in meta:
            meta["extra"] = json.dumps(extra)

    return edit_metadata(src, dst, change)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint of 3 epochs of a small run."""
    folder = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.Network([dp.Dense(4, 5), dp.Tanh(), dp.Dense(5, 2), dp.Softmax()], seed=1)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=3, batch_size=20, seed=2,
           callbacks=[dp.CheckpointWriter(folder, interval=0)])
    return folder / "checkpoint.safetensors"


def _drop(key):
    def edit(training, extra):
        del training["history"][0][key]
    return edit


def _set(key, value):
    def edit(training, extra):
        training["history"][1][key] = value
    return edit


@pytest.mark.parametrize("edit, problem", [
    (_drop("loss"), "history record 1 holds no finite training loss (got None)"),
    (_set("loss", None), "history record 2 holds no finite training loss (got None)"),
    (_set("loss", "nan"), "history record 2: loss is 'nan', not a number"),
    (lambda t, e: t.update(history=[]), "the training state is at epoch 3, but its history holds 0 epoch records"),
    (lambda t, e: t["history"].pop(), "the training state is at epoch 3, but its history holds 2 epoch records"),
    (lambda t, e: t.update(epoch=5), "the training state is at epoch 5, but its history holds 3 epoch records"),
    (_set("epoch", 3), "history record 2 is numbered epoch 3, not 2"),
    (_drop("epoch"), "history record 1 is numbered epoch None, not 1"),
])
def test_a_checkpoint_whose_history_is_not_the_runs_is_refused(checkpoint, tmp_path, edit, problem):
    path = _edited(checkpoint, tmp_path / "edited.safetensors", edit)
    with pytest.raises(dp.ModelFileError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_the_history_check_passes_every_checkpoint_fit_writes(checkpoint, tmp_path):
    unedited = _edited(checkpoint, tmp_path / "same.safetensors", lambda t, e: None)
    state = load_checkpoint(unedited).training_state()
    assert [r["epoch"] for r in state.history.records] == [1, 2, 3] and state.epoch == 3


def test_a_state_whose_history_is_not_its_epochs_is_refused_by_from_dict(checkpoint):
    cp = load_checkpoint(checkpoint)
    data = cp.training_state().to_dict()
    data["history"] = data["history"][:1]
    with pytest.raises(dp.StateError, match="at epoch 3, but its history holds 1 epoch record;"):
        dp.TrainingState.from_dict(data, net=cp.net, optimizer=cp.optimizer)


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
@pytest.mark.parametrize("layers", [[10, 7, 2], [10, 6, 6, 2]])
def test_train_resume_refuses_a_configuration_of_other_widths_than_the_network(tmp_path, layers):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", run, "--quiet").returncode == 0
    path = run / "checkpoint.safetensors"
    _edited(path, path, lambda t, e: e["config"].update(layers=layers))
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = run_cli("train", "--resume", run, "--epochs", "4")
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.splitlines() == [
        f"deltaprop: error: {path}: its configuration gives layers {','.join(map(str, layers))}, but the network it "
        "holds has widths 10,6,2; the file was edited or damaged: resume from a checkpoint deltaprop wrote, or start "
        "a new run"]
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files  # config.toml untouched


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_train_resume_refuses_a_configuration_of_another_seed_than_the_state(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", run, "--quiet").returncode == 0
    path = run / "checkpoint.safetensors"
    _edited(path, path, lambda t, e: e["config"].update(seed=7))
    result = run_cli("train", "--resume", run, "--epochs", "4")
    assert result.returncode == 1 and result.stderr.splitlines() == [
        f"deltaprop: error: {path}: its configuration gives seed 7, but its training state began with seed 0; the "
        "file was edited or damaged: resume from a checkpoint deltaprop wrote, or start a new run"]
