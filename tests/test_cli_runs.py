"""A run folder belongs to one run: unique default folders, a lock while training, an
existing folder refused unless resumed or overwritten, and resumes that finish or refuse."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from cli_in_process import run_cli as _cli
from deltaprop.runlock import LOCK_NAME, RunLock, RunLockedError
from deltaprop.serialization import load_checkpoint, read_model

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "16"]


def _process(*args, cwd=None):
    """`python -m deltaprop.cli ARGS` in a process of its own (a second process, for the lock tests)."""
    return subprocess.run([sys.executable, "-m", "deltaprop.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _start(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "deltaprop.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.slow
def test_two_concurrent_runs_on_one_folder_exactly_one_trains(tmp_path):
    out = tmp_path / "run"
    runs = {seed: _start("train", "--out", str(out), "--epochs", str(4 + seed), "--seed", str(seed),
                         "--batch-size", "10", "--quiet") for seed in (1, 2)}
    results = {seed: (proc.wait(timeout=300), proc.stdout.read(), proc.stderr.read()) for seed, proc in runs.items()}
    winners = [seed for seed, (rc, _, _) in results.items() if rc == 0]
    assert len(winners) == 1, results
    winner = winners[0]
    loser = 3 - winner
    rc, stdout, stderr = results[loser]
    assert rc == 1 and stdout == ""
    assert "in use by process" in stderr and LOCK_NAME in stderr and "Traceback" not in stderr
    assert stderr.count("\n") == 1
    # every file in the folder comes from the winning run
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["seed"] == winner and config["epochs"] == 4 + winner
    assert read_model(out / "model.safetensors").extra["config"]["seed"] == winner
    ck = load_checkpoint(out / "checkpoint.safetensors")
    assert ck.extra["config"]["seed"] == winner and ck.epoch == 4 + winner
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 4 + winner
    assert not (out / LOCK_NAME).exists()


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_held_lock_refuses_a_second_run_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):
        res = _process("train", *PARITY, "--epochs", "1", "--out", str(out))
    assert res.returncode == 1
    assert f"in use by process {os.getpid()} on {socket.gethostname()}" in res.stderr
    assert "Traceback" not in res.stderr
    assert sorted(p.name for p in out.iterdir()) == []  # nothing written, the lock gone with its holder


@pytest.mark.slow
def test_a_stale_lock_is_taken_over_with_a_note(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": "then"}))
    res = _cli("train", *PARITY, "--epochs", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "took over the stale lock" in res.stderr and "no longer running" in res.stderr
    assert (out / "model.safetensors").is_file() and not (out / LOCK_NAME).exists()


def test_the_lock_api(tmp_path):
    with RunLock(tmp_path) as lock:
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname() and lock.note is None
        with pytest.raises(RunLockedError, match=f"process {os.getpid()}"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": "then"}))
    with pytest.raises(RunLockedError, match="another host"):
        RunLock(tmp_path).acquire()


@pytest.mark.slow
def test_runs_started_together_get_their_own_default_folders(tmp_path):
    procs = [_start("train", *PARITY, "--epochs", "1", "--quiet", cwd=tmp_path) for _ in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0], [p.stderr.read() for p in procs]
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 3
    for folder in folders:
        assert (folder / "model.safetensors").is_file() and (folder / "config.toml").is_file()


@pytest.mark.slow
def test_an_existing_folder_is_refused_unless_overwritten(tmp_path):
    out = tmp_path / "run"
    assert _cli("train", *PARITY, "--epochs", "1", "--out", str(out)).returncode == 0
    first = (out / "model.safetensors").read_bytes()
    res = _cli("train", *PARITY, "--epochs", "2", "--out", str(out))
    assert res.returncode == 2 and "holds a run" in res.stderr and "--overwrite" in res.stderr
    assert (out / "model.safetensors").read_bytes() == first
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    res = _cli("train", *PARITY, "--epochs", "1", "--out", str(other))
    assert res.returncode == 2 and "is not empty (mine.txt)" in res.stderr
    res = _cli("train", *PARITY, "--epochs", "2", "--out", str(out), "--overwrite")
    assert res.returncode == 0, res.stderr
    assert load_checkpoint(out / "checkpoint.safetensors").epoch == 2
    assert len((out / "history.csv").read_text().splitlines()) == 3


@pytest.mark.slow
def test_resume_writes_a_missing_model_from_a_complete_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert _cli("train", *PARITY, "--epochs", "2", "--out", str(out)).returncode == 0
    before = read_model(out / "model.safetensors")
    (out / "model.safetensors").unlink()
    res = _cli("train", "--resume", str(out))
    assert res.returncode == 0, res.stderr
    assert "model.safetensors is missing; writing it from the checkpoint" in res.stdout
    after = read_model(out / "model.safetensors")
    assert after.class_names == before.class_names and after.extra == before.extra
    for (name, p), (_, q) in zip(before.net.named_parameters(), after.net.named_parameters()):
        assert np.array_equal(p.value, q.value), name


@pytest.mark.slow
@pytest.mark.parametrize("limit", [["--epochs", "2"], ["--steps", "40"]])
def test_a_resume_that_would_train_nothing_says_so(tmp_path, limit):
    out = tmp_path / "run"
    assert _cli("train", *PARITY, *limit, "--out", str(out)).returncode == 0
    res = _cli("train", "--resume", str(out), *limit)
    assert res.returncode == 2
    assert ("already has 2 epochs" if limit[0] == "--epochs" else "already made 40 steps") in res.stderr
    assert res.stderr.count("\n") == 1


def _noisy_npz(path):
    """Random labels: the validation loss stops improving within a few epochs."""
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(300, 10)).astype(np.float32), y=rng.integers(0, 3, 300))
    return ["--dataset", str(path), "--optimizer", "adam", "--lr", "0.03", "--layers", "10,32,3", "--batch-size", "20",
            "--early-stopping", "2", "--seed", "0", "--threads", "1"]


def _stop_line(res):
    assert res.returncode == 0, res.stderr
    return next(line for line in res.stdout.splitlines() if line.startswith("early stopping"))


def _weights(folder, name="model.safetensors"):
    return [p.value for p in read_model(folder / name).net.parameters()]


@pytest.mark.slow
def test_early_stopping_resumed_ends_as_the_uninterrupted_run(tmp_path):
    opts = _noisy_npz(tmp_path / "d.npz")
    line = _stop_line(_cli("train", *opts, "--epochs", "40", "--out", str(tmp_path / "full")))
    stopped, best = int(line.split("at epoch ")[1].split(":")[0]), int(line.split("weights of epoch ")[1].split(",")[0])
    assert 1 <= best < stopped - 1, line  # an epoch without improvement to stop after
    part = tmp_path / "part"
    assert _cli("train", *opts, "--epochs", str(stopped - 1), "--out", str(part)).returncode == 0
    assert _stop_line(_cli("train", "--resume", str(part), "--epochs", "40")) == line
    for p, q in zip(_weights(part), _weights(tmp_path / "full")):
        assert np.array_equal(p, q)
    assert load_checkpoint(part / "checkpoint.safetensors").epoch == stopped


@pytest.mark.slow
def test_a_run_early_stopping_ended_is_not_resumed_but_its_missing_model_is_written(tmp_path):
    opts = _noisy_npz(tmp_path / "d.npz")
    run = tmp_path / "run"
    line = _stop_line(_cli("train", *opts, "--epochs", "40", "--out", str(run)))
    stopped = int(line.split("at epoch ")[1].split(":")[0])
    before, best = (run / "model.safetensors").read_bytes(), _weights(run)
    res = _cli("train", "--resume", str(run))
    assert res.returncode == 2 and f"early stopping ended this run at epoch {stopped}" in res.stderr
    assert (run / "model.safetensors").read_bytes() == before
    assert len((run / "history.csv").read_text().splitlines()) == stopped + 1
    # stopped while the model was written: the resume writes it, with the best epoch's weights, and trains nothing
    (run / "model.safetensors").unlink()
    res = _cli("train", "--resume", str(run))
    assert res.returncode == 0, res.stderr
    assert all(np.array_equal(p, q) for p, q in zip(_weights(run), best))
    assert len((run / "history.csv").read_text().splitlines()) == stopped + 1


@pytest.mark.slow
def test_a_checkpoint_without_an_early_stopping_record_resumes_and_says_it_starts_afresh(tmp_path):
    from deltaprop.serialization import save_checkpoint

    opts = _noisy_npz(tmp_path / "d.npz")
    part = tmp_path / "part"
    assert _cli("train", *opts, "--epochs", "2", "--out", str(part)).returncode == 0
    ck = load_checkpoint(part / "checkpoint.safetensors")
    state = ck.training_state()
    state.callback_records.clear()
    state.saved_weights.clear()  # as written before deltaprop kept them
    save_checkpoint(part / "checkpoint.safetensors", state, class_names=ck.class_names, extra=ck.extra)
    res = _cli("train", "--resume", str(part), "--epochs", "3")
    assert res.returncode == 0, res.stderr
    assert "early stopping starts afresh at epoch 3" in res.stderr and "Warning" not in res.stderr


@pytest.mark.slow
def test_a_missing_model_is_written_with_the_best_epochs_weights_under_early_stopping(tmp_path):
    opts = _noisy_npz(tmp_path / "d.npz")
    out = tmp_path / "run"
    res = _cli("train", *opts, "--early-stopping", "20", "--epochs", "4", "--out", str(out))
    assert res.returncode == 0, res.stderr
    best = _weights(out)
    last = _weights(out, "checkpoint.safetensors")
    assert not all(np.array_equal(p, q) for p, q in zip(best, last))  # the run's best epoch was not its last
    (out / "model.safetensors").unlink()
    res = _cli("train", "--resume", str(out))
    assert res.returncode == 0 and "writing it from the checkpoint" in res.stdout, res.stderr
    assert all(np.array_equal(p, q) for p, q in zip(_weights(out), best))


@pytest.mark.slow
def test_a_runs_config_toml_with_other_epochs_or_optimizer_fills_in_their_own_defaults(tmp_path):
    # --config RUN/config.toml --epochs 6 kept the 3-epoch cosine's t_max: epochs 4-6 trained at lr 0
    first = tmp_path / "cos2"
    assert _cli("train", *PARITY, "--schedule", "cosine", "--epochs", "2", "--out", first, "-q").returncode == 0
    saved = tomllib.loads((first / "config.toml").read_text())
    assert saved["schedule"]["t_max"] == 2 and set(saved["derived"]) == {"schedule.t_max", "weight_decay"}
    longer = tmp_path / "cos4"
    assert _cli("train", "--config", first / "config.toml", "--epochs", "4", "--out", longer, "-q").returncode == 0
    assert tomllib.loads((longer / "config.toml").read_text())["schedule"]["t_max"] == 4
    rates = [float(line.split(",")[5]) for line in (longer / "history.csv").read_text().splitlines()[1:]]
    assert len(rates) == 4 and min(rates) > 0.05
    again = tmp_path / "again"  # the same file alone reruns the same run, bit for bit
    assert _cli("train", "--config", first / "config.toml", "--out", again, "-q").returncode == 0
    for a, b in zip(_weights(first), _weights(again)):
        np.testing.assert_array_equal(a, b)
    res = _cli("train", "--config", first / "config.toml", "--optimizer", "adamw", "--out", tmp_path / "adamw")
    assert res.returncode == 0 and "adamw lr 0.5, weight decay 0.01" in res.stdout  # lr given, λ AdamW's own


@pytest.mark.slow
def test_a_resume_midway_through_an_epoch_names_that_epoch_and_its_rate(tmp_path):
    # the header said "at epoch 2 ... (epoch 2 at 0.25)" and early stopping blamed an older deltaprop
    out = tmp_path / "run"
    opts = [*PARITY, "--schedule", "exponential:gamma=0.5", "--early-stopping", "2", "--out", out]
    assert _cli("train", *opts, "--steps", "10", "-q").returncode == 0
    res = _cli("train", "--resume", out, "--steps", "100")
    assert res.returncode == 0, res.stderr
    assert f"resuming {out} at epoch 1:" in res.stdout and "lr 0.5 (epoch 1 at 0.5)" in res.stdout
    assert "older deltaprop" not in res.stdout + res.stderr
    assert next(line for line in res.stdout.splitlines() if line.startswith("epoch ")).startswith("epoch 1")
