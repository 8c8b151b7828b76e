"""Resumes that must continue exactly where the interrupted run stopped, and files that
must say what is wrong with them."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop.serialization import load_checkpoint, save_checkpoint
from model_file_edits import edit_metadata


def _blobs(n=64):
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 4)) * 3
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.standard_normal((n, 4))).astype(np.float32), y


def _records(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history.records]


def _too_large_start(tmp_path, **fit):
    """A network whose loss is far above guessing before any step, trained at a small rate."""
    X, y = _blobs()
    net = dp.mlp([4, 16, 3], activation="relu", init="scaled_normal(3)", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=1e-3), batch_size=16, seed=0, **fit)
    return net, history, (X, y)


class _Keep(dp.Callback):
    def on_train_begin(self, state):
        self.state = state


def test_a_resume_inside_the_first_epoch_keeps_the_loss_before_the_first_step(tmp_path):
    straight, history, (X, y) = _too_large_start(tmp_path, epochs=2)
    alert = next(a for a in history.alerts if a.rule == "loss_above_guess")
    assert "before the first step" in alert.evidence
    keep = _Keep()
    _too_large_start(tmp_path, steps=2, callbacks=[keep])  # 2 of the first epoch's 4 steps
    save_checkpoint(tmp_path / "checkpoint.safetensors", keep.state)
    checkpoint = load_checkpoint(tmp_path / "checkpoint.safetensors")
    state = checkpoint.training_state()
    resumed = dp.fit(checkpoint.net, X, y, loss=dp.CrossEntropy(), optimizer=checkpoint.optimizer, batch_size=16,
                     epochs=2, resume=state)
    # the loss "before the first step" is the run's start, not the weights two steps in
    assert [a.evidence for a in resumed.alerts] == [a.evidence for a in history.alerts]
    assert _records(resumed) == _records(history)


# -- train --resume and a config.toml whose schedule was edited by hand ------------------------
PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "full", "--seed", "3",
          "--threads", "1", "--quiet"]


def _edited_schedule_run(tmp_path, schedule: str, old: str, new: str):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--schedule", schedule, "--epochs", "2", "--out", run).returncode == 0
    config = run / "config.toml"
    assert old in config.read_text()
    edited = config.read_text().replace(old, new)
    config.write_text(edited)
    return run, config, edited, run_cli("train", "--resume", run, "--epochs", "4", "--quiet")


def test_a_schedule_setting_edited_in_config_toml_is_refused_not_trained_over(tmp_path):
    run, config, edited, refused = _edited_schedule_run(tmp_path, "step:step_size=1,gamma=0.5", "gamma = 0.5",
                                                        "gamma = 0.9")
    assert refused.returncode == 2
    line, = refused.stderr.splitlines()
    assert "sets schedule.gamma = 0.9, but its checkpoint trained with schedule.gamma = 0.5" in line
    assert "restore schedule.gamma to resume" in line and f"train --config {config} --out" in line
    assert config.read_text() == edited  # the edit is kept, not rewritten with the checkpoint's 0.5
    assert len(dp.History.read_csv(run / "history.csv").records) == 2


def test_a_schedule_named_with_a_setting_it_lacked_is_refused_too(tmp_path):
    _, _, _, refused = _edited_schedule_run(tmp_path, "exponential", 'schedule = "exponential"',
                                            'schedule = "exponential:gamma=0.5"')
    assert refused.returncode == 2
    assert "sets schedule.gamma = 0.5, but its checkpoint trained with schedule.gamma = 0.95" in refused.stderr


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_schedule_written_out_with_its_defaults_still_resumes(tmp_path):
    # the same schedule, its default settings spelled out: nothing changed, nothing refused
    run, config, _, resumed = _edited_schedule_run(tmp_path, "exponential", 'schedule = "exponential"',
                                                   'schedule = "exponential:gamma=0.95"')
    assert resumed.returncode == 0, resumed.stderr
    assert len(dp.History.read_csv(run / "history.csv").records) == 4


# -- a checkpoint whose history's diagnostics were edited ---------------------------------------
def _diagnostics_edited(tmp_path, where: str, index: int, field: str, value):
    X, y = _blobs(40)
    keep = _Keep()
    net = dp.mlp([4, 5, 3], activation="relu", seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=16, seed=0,
           callbacks=[keep])
    save_checkpoint(tmp_path / "checkpoint.safetensors", keep.state)

    def change(meta):
        training = json.loads(meta["training"])
        training["history"][0]["diagnostics"][where][index][field] = value
        meta["training"] = json.dumps(training)

    edited = edit_metadata(tmp_path / "checkpoint.safetensors", tmp_path / "edited.safetensors", change)
    with pytest.raises(dp.ModelFileError) as caught:
        load_checkpoint(edited)
    return str(caught.value)


def test_a_parameter_name_that_is_no_name_is_refused_when_read_not_mid_resume(tmp_path):
    # it was read, then crashed the resume's alert rules with an AttributeError ('endswith')
    message = _diagnostics_edited(tmp_path, "parameters", 0, "name", 1)
    assert "edited.safetensors: checkpoint history: history record 1: its diagnostics hold name = 1, not a name" in message


def test_a_gradient_norm_that_is_text_is_refused_when_read(tmp_path):
    message = _diagnostics_edited(tmp_path, "parameters", 0, "grad_norm", "x")
    assert "its diagnostics hold grad_norm = 'x', not a finite number" in message


def test_a_layer_index_that_is_no_whole_number_is_refused_when_read(tmp_path):
    message = _diagnostics_edited(tmp_path, "layers", 1, "index", "1")
    assert "its diagnostics hold index = '1', not a whole number" in message


# -- info on a checkpoint taken inside an epoch ------------------------------------------------
def test_info_on_a_checkpoint_stopped_inside_an_epoch_says_the_epoch_is_unfinished(tmp_path):
    run = tmp_path / "run"
    # parity trains on 700 rows: batches of 200 are 4 an epoch, and 6 steps stop 2 batches into epoch 2
    assert run_cli("train", "--dataset", "parity", "--layers", "10,3,2", "--batch-size", "200", "--steps", "6",
                   "--validation-split", "0", "--quiet", "--out", run).returncode == 0
    info = run_cli("info", run / "checkpoint.safetensors")
    assert info.returncode == 0, info.stderr
    line = next(x for x in info.stdout.splitlines() if x.startswith("checkpoint:"))
    assert line.startswith("checkpoint: epoch 2 unfinished (2 batches of it trained; 1 epoch complete; "
                           "its run's limit, steps = 6, ended it there: a resume with --steps N above 6 trains on), "
                           "step 6,")


# -- Ctrl-C in a run resumed from a checkpoint taken inside an epoch ------------------------------
def _steps_stopped_run(tmp_path):
    """A parity run stopped by --steps 2 batches into epoch 2 (700 rows, batches of 200)."""
    run = tmp_path / "run"
    assert run_cli("train", "--dataset", "parity", "--layers", "10,3,2", "--batch-size", "200", "--steps", "6",
                   "--validation-split", "0", "--seed", "1", "--threads", "1", "--quiet", "--out", run).returncode == 0
    return run


def test_ctrl_c_before_a_resumed_unfinished_epoch_ends_says_the_checkpoint_is_inside_it(tmp_path, monkeypatch):
    import deltaprop.cli as cli

    run = _steps_stopped_run(tmp_path)
    before = (run / "checkpoint.safetensors").read_bytes()
    real = cli.fit

    class CtrlC(dp.Callback):
        def on_batch_end(self, state, batch_size, batch_loss):
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(cli, "fit", lambda *a, callbacks=(), **kw: real(*a, callbacks=[*callbacks, CtrlC()], **kw))
        res = run_cli("train", "--resume", run, "--steps", "20", "--quiet")
    assert res.returncode == 130
    # it said "the checkpoint of epoch 2", as if epoch 2 were trained to its end
    assert (f"interrupted; the checkpoint taken 2 batches into epoch 2 (a resume finishes that epoch) is in {run}. "
            f"Resume with: deltaprop train --resume {run} --steps 20") in res.stderr
    assert (run / "checkpoint.safetensors").read_bytes() == before


# -- a loaded network trained further ----------------------------------------------------------
def _fine_tuned(path, **load):
    X, y = _blobs(50)
    net = dp.load(path, **load)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=16, seed=0, threads=1)
    return [p.value.copy() for p in net.parameters()]


def test_a_loaded_network_with_dropout_trains_on_bit_identically_from_the_same_seed(tmp_path):
    # its dropout generator was a fresh random one on every load: fit(seed=0) twice gave two networks
    dp.save(dp.mlp([4, 8, 3], activation="relu", dropout=0.5, seed=0), tmp_path / "model.safetensors")
    first, again = _fine_tuned(tmp_path / "model.safetensors"), _fine_tuned(tmp_path / "model.safetensors")
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again))
    other = _fine_tuned(tmp_path / "model.safetensors", seed=1)  # another network seed draws other masks
    assert any(a.tobytes() != b.tobytes() for a, b in zip(first, other))


def test_load_refuses_a_seed_that_is_no_seed(tmp_path):
    dp.save(dp.mlp([4, 3], seed=0), tmp_path / "model.safetensors")
    with pytest.raises(dp.ConfigError, match="seed must be a whole number >= 0"):
        dp.load(tmp_path / "model.safetensors", seed=-1)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_label_column_added_to_config_toml_is_refused_not_dropped(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(5, 3, (60, 3))
    np.savetxt(tmp_path / "data.csv", np.column_stack([X, X[:, 0] > 5]), delimiter=",", header="a,b,c,label",
               comments="", fmt="%.6f")
    run = tmp_path / "run"
    assert run_cli("train", "--dataset", tmp_path / "data.csv", "--epochs", "2", "--quiet", "--out", run).returncode == 0
    config = run / "config.toml"
    assert "\nlabel_column =" not in config.read_text()  # found by its name: none set
    edited = config.read_text().replace("\ndataset =", '\nlabel_column = "a"\ndataset =')
    config.write_text(edited)
    refused = run_cli("train", "--resume", run, "--epochs", "3", "--quiet")
    assert refused.returncode == 2
    line, = refused.stderr.splitlines()
    assert "sets label_column = \"a\", but its checkpoint trained with no label_column set" in line
    assert "remove label_column to resume" in line
    assert config.read_text() == edited
    config.write_text(edited.replace('label_column = "a"', 'label_column = ""'))  # as none: resumes
    assert run_cli("train", "--resume", run, "--epochs", "3", "--quiet").returncode == 0


# -- a resume given no length goes on to its run's ----------------------------------------------
class _CtrlCAt(dp.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_begin(self, state):
        self.state = state

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def _interrupted_run(epochs, at=3):
    X, y = _blobs(40)
    net, optimizer, stop = dp.mlp([4, 6, 3], seed=0), dp.SGD(lr=0.1), _CtrlCAt(at)
    with pytest.raises(KeyboardInterrupt):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=optimizer, epochs=epochs, batch_size=16, seed=0,
               callbacks=[stop])
    return net, optimizer, stop.state, (X, y)


def test_a_resume_given_no_length_finishes_the_run_it_continues(tmp_path):
    # it trained to the default 10 epochs, not the 20 the run was given, and returned as done
    net, optimizer, state, (X, y) = _interrupted_run(20)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=optimizer, batch_size=16, resume=state)
    assert len(history) == 20 and state.epoch == 20


def test_a_checkpoint_keeps_the_run_s_length_for_a_resume_given_none(tmp_path):
    _, _, state, (X, y) = _interrupted_run(12)
    save_checkpoint(tmp_path / "checkpoint.safetensors", state)
    checkpoint = load_checkpoint(tmp_path / "checkpoint.safetensors")
    resumed = checkpoint.training_state()
    history = dp.fit(checkpoint.net, X, y, loss=dp.CrossEntropy(), optimizer=checkpoint.optimizer, batch_size=16,
                     resume=resumed)
    assert len(history) == 12



def test_an_unfinished_epoch_edited_to_hold_more_batches_than_it_has_is_refused(tmp_path):
    # the epoch never closed: a run of 3 epochs "finished" with its last two untrained
    X, y = _blobs(40)  # 3 batches of 16 an epoch
    keep = _Keep()
    dp.fit(dp.mlp([4, 5, 3], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=3, steps=5,
           batch_size=16, seed=0, callbacks=[keep])  # 2 batches into epoch 2
    save_checkpoint(tmp_path / "checkpoint.safetensors", keep.state)

    def change(meta):
        training = json.loads(meta["training"])
        training["unfinished"]["batches"] = 4
        meta["training"] = json.dumps(training)

    checkpoint = load_checkpoint(edit_metadata(tmp_path / "checkpoint.safetensors", tmp_path / "edited.safetensors",
                                               change))
    with pytest.raises(dp.StateError, match=r"stopped 4 batches into epoch 2, but that epoch \(shuffled batches of "
                                            r"16 from 40 rows\) has 3: the training state was edited or damaged"):
        dp.fit(checkpoint.net, X, y, loss=dp.CrossEntropy(), optimizer=checkpoint.optimizer, epochs=3, batch_size=16,
               resume=checkpoint.training_state())


def test_a_checkpoint_taken_after_an_epoch_s_last_step_before_it_closed_resumes(tmp_path):
    # a callback's save in on_batch_end of the epoch's last batch: every batch done, the epoch not yet closed
    X, y = _blobs(40)  # 3 batches of 16 an epoch

    class SaveAt(dp.Callback):
        def on_batch_end(self, state, batch_size, batch_loss):
            if state.step == 6:
                save_checkpoint(tmp_path / "checkpoint.safetensors", state)

    def train(net, optimizer, **kw):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=optimizer, epochs=4, batch_size=16, threads=1, **kw)
        return [p.value.tobytes() for p in net.parameters()]

    straight = train(dp.mlp([4, 5, 3], dropout=0.2, seed=0), dp.Adam(), seed=0, callbacks=[SaveAt()])
    checkpoint = load_checkpoint(tmp_path / "checkpoint.safetensors")
    state = checkpoint.training_state()
    assert state.progress is not None and state.progress.batches == 3
    assert train(checkpoint.net, checkpoint.optimizer, resume=state) == straight


# -- a checkpoint whose recorded configuration is not the run it holds ---------------------------
@pytest.mark.parametrize("key, value, problem", [
    ("optimizer", "adam", "its configuration gives the optimizer {'type': 'Adam'"),
    ("dropout", 0.25, "its configuration builds Dense(n_in=10, n_out=6"),
    ("dtype", "float64", "its configuration builds Dense(n_in=10, n_out=6"),
    ("lr", 0.05, "its configuration gives lr 0.05, but its run's base rate is 0.5"),
    ("loss", "mse", "its configuration gives the loss {'type': 'MeanSquaredError'"),
])
@pytest.mark.slow  # about 1.5 s in the quick suite on 2 cores
def test_a_checkpoint_configured_as_another_run_is_refused_not_resumed_and_rewritten(tmp_path, key, value, problem):
    # it resumed the checkpoint's own run and rewrote config.toml with the edited value: a rerun
    # of that config.toml trained another run than the one it claims to repeat
    run = tmp_path / "run"
    assert run_cli("train", "--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "full",
                   "--epochs", "2", "--quiet", "--out", run).returncode == 0
    path = run / "checkpoint.safetensors"

    def change(meta):
        extra = json.loads(meta["extra"])
        extra["config"][key] = value
        meta["extra"] = json.dumps(extra)

    edit_metadata(path, path, change)
    refused = run_cli("train", "--resume", run, "--epochs", "3", "--quiet")
    assert refused.returncode != 0
    line, = refused.stderr.splitlines()
    assert f"{path}: {problem}" in line and "the file was edited or damaged" in line
    assert key != "dtype" or "in float64, but the network it holds is" in line


# -- the same network saved twice is the same file --------------------------------------------
def test_the_same_network_saved_twice_gives_the_same_bytes(tmp_path):
    # safetensors wrote the metadata in a hash map's order, seeded afresh at every save: two
    # saves of one network (or two same-seed reruns) gave files of different bytes and SHA-256
    net = dp.mlp([4, 5, 3], dropout=0.2, seed=0)
    meta = dict(class_names=["a", "b", "c"], extra={"note": "é", "n": 1}, input_range=(0, 255))
    files = [dp.save(net, tmp_path / f"model{i}.safetensors", **meta).read_bytes() for i in range(4)]
    assert len(set(files)) == 1
    X, _ = _blobs(5)
    assert dp.load(tmp_path / "model0.safetensors").predict_proba(X).tobytes() == net.predict_proba(X).tobytes()


def test_a_checkpoint_written_twice_gives_the_same_bytes(tmp_path):
    keep = _Keep()
    X, y = _blobs(40)
    dp.fit(dp.mlp([4, 5, 3], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(), epochs=2, batch_size=16,
           seed=0, callbacks=[keep])
    files = [save_checkpoint(tmp_path / f"checkpoint{i}.safetensors", keep.state).read_bytes() for i in range(4)]
    assert len(set(files)) == 1
