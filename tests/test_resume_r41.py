"""``train --resume`` refusals that name what is wrong: a run lock that cannot be written
(a full disk) names the lock file and lets the folder go, a file given for the run folder
is called a file, and a ``--steps`` below the steps the run already made is told as the
resume's, not as the run's limit; a cosine run extended by ``--steps`` is told in steps; a
resume that fit must train on fewer BLAS threads than the run recorded (fewer CPUs, a
caller's limit) says that its bits change."""

from __future__ import annotations

import errno

import pytest
from threadpoolctl import threadpool_info, threadpool_limits
from cli_in_process import run_cli

import deltaprop.runlock as runlock
from deltaprop.runlock import LOCK_NAME, RunLock, is_held

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--quiet"]


def _disk_full(monkeypatch) -> None:
    """Every ``os.pwrite`` of the lock module fails as on a full disk."""

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runlock.os, "pwrite", full)


def test_a_lock_that_cannot_be_written_names_its_file_and_lets_the_folder_go(tmp_path, monkeypatch):
    _disk_full(monkeypatch)
    with pytest.raises(OSError) as caught:
        RunLock(tmp_path).acquire()
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(tmp_path / LOCK_NAME)
    assert "free space" in caught.value.strerror
    assert not is_held(tmp_path)  # the descriptor that held the flock is closed
    monkeypatch.undo()
    lock = RunLock(tmp_path).acquire()  # the folder can be taken once there is room
    lock.release()


def test_resume_on_a_full_disk_says_which_file_and_what_to_do(tmp_path, monkeypatch):
    _disk_full(monkeypatch)
    res = run_cli("train", "--resume", tmp_path)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1, res.stderr
    assert f"{tmp_path / LOCK_NAME}: No space left on device" in res.stderr
    assert "free space" in res.stderr


def test_resume_of_a_data_file_calls_it_a_file_not_a_run_folder(tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("a,b,label\n1,2,0\n3,4,1\n")
    res = run_cli("train", "--resume", data)
    assert res.returncode == 1
    assert f"{data} is a file, not a run folder" in res.stderr
    assert "holds no checkpoint" not in res.stderr  # it named the folder around the file before


@pytest.mark.slow
def test_steps_below_the_steps_made_are_told_as_the_ones_asked_now(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--steps", "5", "--out", run).returncode == 0
    res = run_cli("train", "--resume", run, "--steps", "2")
    assert res.returncode == 2
    assert "the run already made 5 steps (more than the --steps 2 asked)" in res.stderr
    assert "its limit is --steps 2" not in res.stderr
    reached = run_cli("train", "--resume", run)
    assert "the run already made 5 steps (its limit is --steps 5)" in reached.stderr


@pytest.mark.slow
def test_a_cosine_run_extended_by_steps_is_told_in_steps(tmp_path):
    run = tmp_path / "run"
    first = run_cli("train", *PARITY, "--schedule", "cosine", "--steps", "50", "--out", run)  # t_max 2, of 32 steps
    assert first.returncode == 0, first.stderr
    res = run_cli("train", "--resume", run, "--steps", "200")
    assert res.returncode == 2
    assert "cannot extend this run to 200 steps (7 epochs of 32 steps)" in res.stderr
    assert "so epochs 3-7 would all train at its min_lr 0" in res.stderr
    assert "start a new run with --steps 200" in res.stderr and "or resume with at most --steps 64" in res.stderr
    assert "--epochs" not in res.stderr  # it spoke of epochs the command never asked for
    finish = run_cli("train", "--resume", run, "--steps", "64", "--quiet")
    assert finish.returncode == 0, finish.stderr  # the limit it gave is one a resume takes
    assert (run / "history.csv").read_text().count("\n") == 3


@pytest.mark.slow
def test_a_cosine_run_extended_by_one_epoch_names_that_epoch(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--schedule", "cosine", "--epochs", "2", "--out", run).returncode == 0
    res = run_cli("train", "--resume", run, "--epochs", "3")
    assert res.returncode == 2
    assert "so epoch 3 would train at its min_lr 0 (it would not train at all)" in res.stderr, res.stderr


def _blas_threads_now() -> int:
    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)


@pytest.mark.slow
def test_a_resume_on_fewer_blas_threads_than_the_run_trained_on_says_the_bits_change(tmp_path):
    run = tmp_path / "run"
    first = run_cli("train", *PARITY, "--threads", "2", "--steps", "20", "--epochs", "3", "--out", run)
    assert first.returncode == 0, first.stderr
    with threadpool_limits(limits=1, user_api="blas"):  # a machine of one CPU, or a caller's limit
        res = run_cli("train", "--resume", run, "--steps", "40", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "note: the run's last epochs trained on 2 BLAS threads, more than the 1 this process may use now" in res.stderr
    assert "--threads 2 keeps them" in res.stderr
    again = tmp_path / "again"
    assert run_cli("train", *PARITY, "--threads", "2", "--steps", "20", "--epochs", "3", "--out", again).returncode == 0
    with threadpool_limits(limits=2, user_api="blas"):
        if _blas_threads_now() < 2:  # a BLAS built for one thread: every resume is capped
            return
        allowed = run_cli("train", "--resume", again, "--steps", "40", "--quiet")
    assert allowed.returncode == 0 and "BLAS threads" not in allowed.stderr  # allowed them: no note



def test_fit_resumed_past_its_cosine_by_steps_is_told_in_steps():
    import numpy as np

    import deltaprop as dp

    rng = np.random.default_rng(0)
    X, y = rng.random((64, 4), dtype=np.float32), rng.integers(0, 2, 64)
    net, opt, states = dp.mlp([4, 3, 2], seed=0), dp.SGD(lr=0.1), []
    keep = dp.LambdaCallback(on_train_end=states.append)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, steps=6, batch_size=16, schedule="cosine",
           callbacks=[keep], diagnostics=False)  # 4 steps an epoch: t_max 2
    with pytest.raises(dp.ConfigError) as caught:
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, steps=20, batch_size=16, resume=states[0],
               diagnostics=False)
    text = str(caught.value)
    assert "cannot extend this run to 20 steps (5 epochs of 4 steps)" in text
    assert "start a new fit with steps=20" in text and "or resume with at most steps=8" in text
    with pytest.raises(dp.ConfigError, match=r"so epoch 3 would train at its min_lr 0;"):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=3, batch_size=16, resume=states[0],
               diagnostics=False)


@pytest.mark.slow
def test_a_model_file_copied_over_the_checkpoint_is_told_as_that(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "1", "--out", run).returncode == 0
    (run / "checkpoint.safetensors").write_bytes((run / "model.safetensors").read_bytes())
    res = run_cli("train", "--resume", run, "--epochs", "2")
    assert res.returncode == 1
    assert f"{run / 'checkpoint.safetensors'} holds a model, not a checkpoint" in res.stderr
    assert "resume from checkpoint.safetensors" not in res.stderr  # the file it named is that one


def test_resume_with_out_elsewhere_says_how_to_go_on_there(tmp_path):
    run, there = tmp_path / "run", tmp_path / "there"
    run.mkdir()
    res = run_cli("train", "--resume", run, "--out", there, "--epochs", "5")
    assert res.returncode == 2
    assert f"continues the run in its own folder ({run}), not in --out" in res.stderr
    assert f"cp -r {run} {there} && deltaprop train --resume {there} --epochs 5" in res.stderr
    assert "--config" not in res.stderr  # a new run from its config.toml would start from fresh weights
    there.mkdir()  # cp -r into an existing folder would put the copy inside it
    taken = run_cli("train", "--resume", run, "--out", there)
    assert f"cp -r {run} NEW_FOLDER && deltaprop train --resume NEW_FOLDER" in taken.stderr


@pytest.mark.slow
def test_a_run_folder_removed_while_training_ends_whole_and_says_so(tmp_path, monkeypatch):
    import shutil

    import deltaprop as dp
    import deltaprop.cli as cli

    run, real = tmp_path / "run", cli.fit

    class RemoveFolder(dp.Callback):  # as `rm -r run` in another terminal while it trains
        def on_epoch_end(self, state):
            if state.epoch == 1:
                shutil.rmtree(run)

    def fit(*args, callbacks=(), **kwargs):
        return real(*args, callbacks=[*callbacks, RemoveFolder()], **kwargs)

    monkeypatch.setattr(cli, "fit", fit)
    res = run_cli("train", *PARITY, "--epochs", "3", "--out", run)
    assert res.returncode == 0, res.stderr
    assert "config.toml was gone when training ended" in res.stderr
    assert "config.toml" in res.stdout and (run / "config.toml").is_file()  # the files it says it wrote are there
    monkeypatch.undo()
    again = run_cli("train", "--resume", run, "--epochs", "4", "--quiet")
    assert again.returncode == 0, again.stderr
    assert (run / "history.csv").read_text().count("\n") == 5


def test_fit_resumed_with_a_new_network_says_which_and_how_to_pass_the_states_own(tmp_path):
    import numpy as np

    import deltaprop as dp
    from deltaprop.serialization import load_checkpoint, save_checkpoint

    rng = np.random.default_rng(0)
    X, y = rng.random((48, 4), dtype=np.float32), rng.integers(0, 2, 48)
    states = []
    dp.fit(dp.mlp([4, 3, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.01), epochs=1,
           batch_size=16, callbacks=[dp.LambdaCallback(on_train_end=states.append)], diagnostics=False)
    save_checkpoint(tmp_path / "checkpoint.safetensors", states[0])
    ck = load_checkpoint(tmp_path / "checkpoint.safetensors")
    with pytest.raises(dp.ConfigError) as caught:  # a network built again as the first run's was
        dp.fit(dp.mlp([4, 3, 2], seed=0), X, y, loss=ck.loss, optimizer=ck.optimizer, epochs=2, batch_size=16,
               resume=ck.training_state(), diagnostics=False)
    text = str(caught.value)
    assert "this call gives another network (" in text and "optimizer (" not in text
    assert "fit(ck.net, X, y, loss=ck.loss, optimizer=ck.optimizer, resume=ck.training_state())" in text
    dp.fit(ck.net, X, y, loss=ck.loss, optimizer=ck.optimizer, epochs=2, batch_size=16,
           resume=ck.training_state(), diagnostics=False)  # what it says works


def test_resume_of_an_empty_name_is_refused_not_a_new_run(tmp_path):
    res = run_cli("train", "--resume", "", "--dataset", "parity", "--epochs", "1", cwd=tmp_path)
    assert res.returncode == 2
    assert "--resume takes the folder of the run to continue, and got an empty name" in res.stderr
    assert not (tmp_path / "runs").exists()  # it trained a new run in runs/<date-time>


@pytest.mark.slow
def test_a_resume_on_other_kernels_says_the_bits_change(tmp_path, monkeypatch):
    import deltaprop.kernels as kernels

    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--steps", "20", "--epochs", "3", "--out", run).returncode == 0
    same = run_cli("train", "--resume", run, "--steps", "30", "--quiet")
    assert same.returncode == 0 and "round differently" not in same.stderr  # the same forms: no note
    other = "numpy" if kernels.backend() == "numba" else "numba"
    monkeypatch.setattr(kernels, "backend", lambda: other)  # numba installed (or removed) since
    res = run_cli("train", "--resume", run, "--steps", "40", "--quiet")
    assert res.returncode == 0, res.stderr
    assert f"this resume with {other} kernels" in res.stderr
    assert "will not be bit for bit an uninterrupted run's" in res.stderr
