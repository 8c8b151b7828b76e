"""Run folders a user stopped, filled or edited by hand, and what ``train --resume`` does
with them: a disk that fills while the trained run's model and results are written leaves
a run.json that says so (not "training" for ever) and a line that says how to finish."""

from __future__ import annotations

import pytest

import errno
import json

import numpy as np

import deltaprop as dp
import deltaprop.cli as cli
from cli_in_process import run_cli

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "full", "--seed", "3",
          "--threads", "1", "--quiet"]


def _status(run) -> str:
    return json.loads((run / "run.json").read_text())["status"]


def _same_model(a, b) -> bool:
    na, nb = dp.load(a / "model.safetensors"), dp.load(b / "model.safetensors")
    return all(ka == kb and np.array_equal(pa.value, pb.value)
               for (ka, pa), (kb, pb) in zip(na.named_parameters(), nb.named_parameters(), strict=True))


def _disk_full_on_model(monkeypatch):
    """Make writing model.safetensors fail as on a full disk."""
    def save(net, path, **meta):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cli, "save", save)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_full_disk_while_the_model_is_written_says_how_to_finish(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _disk_full_on_model(m)
        failed = run_cli("train", *PARITY, "--epochs", "4", "--out", run)
    assert failed.returncode == 1
    line, = failed.stderr.splitlines()
    assert "model.safetensors: No space left on device" in line
    assert f"train --resume {run}" in line and "4 epochs" in line
    assert _status(run) == "failed"  # not "training": the page stops reloading
    finished = run_cli("train", "--resume", run, "--quiet")
    assert finished.returncode == 0, finished.stderr
    assert _status(run) == "done"
    straight = tmp_path / "straight"
    assert run_cli("train", *PARITY, "--epochs", "4", "--out", straight).returncode == 0
    assert _same_model(run, straight)


def test_a_full_disk_while_a_resume_writes_the_model_says_how_to_finish(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _disk_full_on_model(m)
        assert run_cli("train", *PARITY, "--epochs", "3", "--out", run).returncode == 1
        again = run_cli("train", "--resume", run, "--quiet")
    assert again.returncode == 1
    line, = again.stderr.splitlines()
    assert "No space left on device" in line and f"train --resume {run}" in line
    assert _status(run) == "failed"


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_a_config_toml_edited_by_hand_is_not_silently_overwritten(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", run).returncode == 0
    config = run / "config.toml"
    edited = config.read_text().replace("lr = 0.5", "lr = 0.05")
    config.write_text(edited)
    refused = run_cli("train", "--resume", run, "--epochs", "4", "--quiet")
    assert refused.returncode == 2
    line, = refused.stderr.splitlines()
    assert "sets lr = 0.05, but its checkpoint trained with lr = 0.5" in line
    assert f"train --config {config} --out" in line
    assert config.read_text() == edited  # the edit is kept
    assert len(dp.History.read_csv(run / "history.csv").records) == 2


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_checkpoint_copied_from_another_run_is_refused(tmp_path):
    run, other = tmp_path / "run", tmp_path / "other"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", run).returncode == 0
    assert run_cli("train", *PARITY, "--momentum", "0.9", "--epochs", "2", "--out", other).returncode == 0
    history = (run / "history.csv").read_text()
    (run / "checkpoint.safetensors").write_bytes((other / "checkpoint.safetensors").read_bytes())
    refused = run_cli("train", "--resume", run, "--epochs", "4", "--quiet")
    assert refused.returncode == 2
    assert "sets momentum = 0.0, but its checkpoint trained with momentum = 0.9" in refused.stderr
    assert (run / "history.csv").read_text() == history  # the run's own history is not replaced by the other's


def _ctrl_c_in_epoch(monkeypatch, epoch: int):
    """Make ``deltaprop train`` stop as on Ctrl-C in the middle of ``epoch`` (1-based)."""
    real = cli.fit

    class CtrlC(dp.Callback):
        def on_batch_end(self, state, batch_size, batch_loss):
            if state.epoch == epoch - 1:
                raise KeyboardInterrupt

    def fit(*args, callbacks=(), **kwargs):
        return real(*args, callbacks=[*callbacks, CtrlC()], **kwargs)

    monkeypatch.setattr(cli, "fit", fit)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_longer_resume_stopped_before_its_first_epoch_ends_says_to_give_the_length_again(tmp_path, monkeypatch):
    run, straight = tmp_path / "run", tmp_path / "straight"
    assert run_cli("train", *PARITY, "--epochs", "3", "--out", run).returncode == 0
    with monkeypatch.context() as m:
        _ctrl_c_in_epoch(m, 4)
        stopped = run_cli("train", "--resume", run, "--epochs", "6")
    assert stopped.returncode == 130
    assert stopped.stderr.strip().endswith(f"Resume with: deltaprop train --resume {run} --epochs 6")
    resumed = run_cli("train", "--resume", run, "--epochs", "6", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert run_cli("train", *PARITY, "--epochs", "6", "--out", straight).returncode == 0
    assert _same_model(run, straight)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_plain_resume_after_that_leaves_a_config_toml_of_the_run_it_finished(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "3", "--out", run).returncode == 0
    with monkeypatch.context() as m:
        _ctrl_c_in_epoch(m, 4)
        assert run_cli("train", "--resume", run, "--epochs", "6").returncode == 130
    finished = run_cli("train", "--resume", run, "--quiet")  # writes the 3-epoch run's results
    assert finished.returncode == 0, finished.stderr
    assert len(dp.History.read_csv(run / "history.csv").records) == 3
    again = tmp_path / "again"
    assert run_cli("train", "--config", run / "config.toml", "--out", again, "--quiet").returncode == 0
    assert _same_model(run, again)  # config.toml reruns the run the folder holds, not one of 6 epochs


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_a_resume_whose_data_file_was_moved_says_to_put_it_back(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((60, 3))
    rows = [f"{a},{b},{c},{int(a + b > 1)}" for a, b, c in x]
    data = tmp_path / "data.csv"
    data.write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert run_cli("train", "--dataset", data, "--epochs", "1", "--out", run, "--quiet").returncode == 0
    data.rename(tmp_path / "moved.csv")
    refused = run_cli("train", "--resume", run, "--epochs", "2", "--quiet")
    assert refused.returncode == 1
    line, = refused.stderr.splitlines()
    assert f"{data}: no such file" in line and "put it back there to resume" in line


def _ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_results_written_by_a_resume_are_not_recorded_with_a_length_the_run_trained_past(tmp_path, monkeypatch):
    import tomllib

    run, straight = tmp_path / "run", tmp_path / "straight"
    with monkeypatch.context() as m:
        m.setattr(cli, "save", _ctrl_c)  # Ctrl-C while the model is written
        assert run_cli("train", *PARITY, "--epochs", "4", "--out", run).returncode == 130
    shorter = run_cli("train", "--resume", run, "--epochs", "2", "--quiet")
    assert shorter.returncode == 2
    line, = shorter.stderr.splitlines()
    assert "already trained 4 epochs" in line and "leave --epochs 2 out" in line
    assert not (run / "model.safetensors").exists()
    finished = run_cli("train", "--resume", run, "--quiet")
    assert finished.returncode == 0, finished.stderr
    assert tomllib.loads((run / "config.toml").read_text())["epochs"] == 4
    assert run_cli("train", *PARITY, "--epochs", "4", "--out", straight).returncode == 0
    assert _same_model(run, straight)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_resume_given_other_settings_says_how_to_train_them_as_a_new_run(tmp_path):
    import shlex
    import tomllib

    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", run).returncode == 0
    refused = run_cli("train", "--resume", run, "--lr", "0.1", "--epochs", "3")
    assert refused.returncode == 2
    line, = refused.stderr.splitlines()
    assert "(not --lr)" in line
    command = line.rpartition("from its configuration: ")[2]
    words = shlex.split(command.replace("NEW_FOLDER", str(tmp_path / "new")))
    assert words[:2] == ["deltaprop", "train"]
    started = run_cli(*words[1:], "--quiet")
    assert started.returncode == 0, started.stderr
    config = tomllib.loads((tmp_path / "new" / "config.toml").read_text())
    assert (config["lr"], config["epochs"], config["layers"]) == (0.1, 3, [10, 6, 2])


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_refused_resume_of_a_finished_cosine_run_prints_no_note_about_epochs_it_will_not_train(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--schedule", "cosine", "--epochs", "4", "--out", run).returncode == 0
    refused = run_cli("train", "--resume", run, "--epochs", "3", "--threads", "2")
    assert refused.returncode == 2
    line, = refused.stderr.splitlines()  # the refusal alone: no note on the t_max kept or on threads
    assert "the run already has 4 epochs" in line


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_a_full_disk_before_the_first_checkpoint_says_to_start_over_not_to_resume(tmp_path, monkeypatch):
    import deltaprop.callbacks as callbacks

    run = tmp_path / "run"

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device (the disk is full)", str(path))

    with monkeypatch.context() as m:
        m.setattr(callbacks, "write_checkpoint_parts", full)
        failed = run_cli("train", *PARITY, "--epochs", "2", "--out", run)
    assert failed.returncode == 1
    line, = failed.stderr.splitlines()
    assert "no checkpoint was written" in line and "--resume" not in line
    command = line.rpartition("start it over with: ")[2]
    assert command == f"deltaprop train --config {run / 'config.toml'} --out {run} --overwrite"
    again = run_cli(*command.split()[1:], "--quiet")
    assert again.returncode == 0, again.stderr


def test_a_damaged_checkpoint_says_what_to_do(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", run).returncode == 0
    path = run / "checkpoint.safetensors"
    path.write_bytes(path.read_bytes()[:-7])  # cut short, as by a copy that stopped
    refused = run_cli("train", "--resume", run, "--epochs", "3")
    assert refused.returncode == 1
    line, = refused.stderr.splitlines()
    assert "is truncated" in line
    assert line.endswith(f"start the run over with: deltaprop train --config {run / 'config.toml'} --out {run} --overwrite")


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_stopped_run_resumed_with_the_epochs_it_reached_ends_there(tmp_path, monkeypatch):
    import tomllib

    run, short = tmp_path / "run", tmp_path / "short"
    with monkeypatch.context() as m:
        _ctrl_c_in_epoch(m, 4)
        assert run_cli("train", *PARITY, "--epochs", "6", "--out", run).returncode == 130
    ended = run_cli("train", "--resume", run, "--epochs", "3", "--quiet")
    assert ended.returncode == 0, ended.stderr
    assert tomllib.loads((run / "config.toml").read_text())["epochs"] == 3
    assert run_cli("train", *PARITY, "--epochs", "3", "--out", short).returncode == 0
    assert _same_model(run, short)
