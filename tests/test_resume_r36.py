"""Exact resume, checked against the uninterrupted run: a ``--steps`` stop inside a run's
last epoch is finished by a resume, a stop one step into an epoch keeps the previous
epoch's update ratios, and ``TrainingState.from_dict`` refuses a malformed history record."""

from __future__ import annotations

import numpy as np
import pytest
from cli_in_process import run_cli
from safetensors.numpy import load_file

import deltaprop as dp

PARITY = ["train", "--dataset", "parity", "--layers", "10,8,2", "--quiet"]  # 32 steps an epoch


def same_tensors(a, b) -> None:
    ta, tb = load_file(str(a)), load_file(str(b))
    assert sorted(ta) == sorted(tb)
    for name in ta:
        assert ta[name].tobytes() == tb[name].tobytes(), name


def history_rows(folder) -> list[list[str]]:
    lines = (folder / "history.csv").read_text().splitlines()
    seconds = lines[0].split(",").index("seconds")
    return [[v for i, v in enumerate(line.split(",")) if i != seconds] for line in lines]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_steps_stop_inside_the_last_epoch_is_finished_by_a_resume(tmp_path):
    base, part = tmp_path / "base", tmp_path / "part"
    assert run_cli(*PARITY, "--epochs", "1", "--out", base).returncode == 0
    assert run_cli(*PARITY, "--epochs", "1", "--steps", "8", "--out", part).returncode == 0  # 8 steps into its one epoch
    resumed = run_cli("train", "--resume", part, "--steps", "1000", "--quiet")
    assert resumed.returncode == 0, resumed.stderr  # it was refused: "the run already has 2 epochs"
    for name in ("model.safetensors", "checkpoint.safetensors"):
        same_tensors(base / name, part / name)
    assert history_rows(part) == history_rows(base)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_refusal_counts_only_the_epochs_finished(tmp_path):
    part = tmp_path / "part"
    assert run_cli(*PARITY, "--epochs", "3", "--steps", "72", "--out", part).returncode == 0  # 8 steps into epoch 3
    again = run_cli("train", "--resume", part, "--epochs", "2", "--steps", "1000", "--quiet")
    assert again.returncode == 2
    assert "already has 2 epochs; pass --epochs N with N > 2" in again.stderr  # it said 3 (--epochs 3 trains on)


def ratios(history, epoch: int) -> list[float | None]:
    return [p["update_ratio"] for p in history.records[epoch]["diagnostics"]["parameters"]]


def test_a_stop_one_step_into_an_epoch_keeps_the_last_epochs_update_ratios():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)).astype(np.float32), rng.integers(0, 2, 40)

    def run(**kw):
        net = dp.mlp([3, 5, 2], seed=0)
        return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), batch_size=10, seed=0, **kw)

    straight, stopped = run(epochs=2), run(epochs=2, steps=5)  # 4 steps an epoch: the stop is epoch 2's first step
    assert all(r is not None and r > 0 for r in ratios(straight, 0))
    assert ratios(stopped, 0) == ratios(straight, 0)  # they were None


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_resume_one_step_into_an_epoch_records_what_the_uninterrupted_run_does(tmp_path):
    base, part = tmp_path / "base", tmp_path / "part"
    assert run_cli(*PARITY, "--epochs", "2", "--out", base).returncode == 0
    assert run_cli(*PARITY, "--epochs", "2", "--steps", "33", "--out", part).returncode == 0
    assert run_cli("train", "--resume", part, "--epochs", "2", "--steps", "1000", "--quiet").returncode == 0
    assert (part / "diagnostics.csv").read_text() == (base / "diagnostics.csv").read_text()


def state_and_parts():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)).astype(np.float32), rng.integers(0, 2, 40)
    net, opt = dp.mlp([3, 5, 2], seed=0), dp.Adam()
    keep = []

    class Keep(dp.Callback):
        def on_train_begin(self, state):
            keep.append(state)

    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=10, seed=0, callbacks=[Keep()])
    return keep[0].to_dict(), net, opt


@pytest.mark.parametrize("key, value", [("accuracy", "x"), ("val_loss", [1]), ("diagnostics", 1), ("alerts", [1])])
def test_from_dict_refuses_a_malformed_history_record_with_a_state_error(key, value):
    data, net, opt = state_and_parts()
    data["history"][0][key] = value
    with pytest.raises(dp.StateError, match="^the training state's history record 1: "):
        dp.TrainingState.from_dict(data, net=net, optimizer=opt)  # fit(resume=) then raised TypeError or AttributeError


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_cosine_run_stopped_inside_its_last_epoch_is_told_it_can_finish_it(tmp_path):
    part = tmp_path / "part"
    cosine = ["--epochs", "6", "--schedule", "cosine", "--steps", "50"]  # t_max 2: the epochs 50 steps take
    assert run_cli(*PARITY, *cosine, "--out", part).returncode == 0  # 18 steps into epoch 2
    longer = run_cli("train", "--resume", part, "--epochs", "4", "--steps", "1000", "--quiet")
    assert longer.returncode == 2 and "(t_max=2)" in longer.stderr
    assert "or resume with at most --epochs 2" in longer.stderr  # left out: the cut-short epoch 2 counted as trained
    assert run_cli("train", "--resume", part, "--epochs", "2", "--steps", "1000", "--quiet").returncode == 0
