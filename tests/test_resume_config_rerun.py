"""A resumed run's config.toml reruns the run it resumed: when ``--resume --epochs N``
changes the run's length, the schedule length the run trains with (a step schedule's
``step_size``, a cosine's ``t_max``) is written as set, not derived from the new length;
and a resume that ends a run before its cosine's ``t_max`` says so."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.cli as cli
from cli_in_process import run_cli
from deltaprop.config import TrainConfig

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "full"]


def _config(run) -> dict:
    return tomllib.loads((run / "config.toml").read_text())


def _rates(run) -> list[float]:
    return [r["lr"] for r in dp.History.read_csv(run / "history.csv").records]


def _same_model(a, b) -> bool:
    na, nb = dp.load(a / "model.safetensors"), dp.load(b / "model.safetensors")
    return all(ka == kb and np.array_equal(pa.value, pb.value)
               for (ka, pa), (kb, pb) in zip(na.named_parameters(), nb.named_parameters(), strict=True))


def _rerun(run, tmp_path):
    """``deltaprop train --config RUN/config.toml`` into a new folder, as its first line says."""
    again = tmp_path / "rerun"
    result = run_cli("train", "--config", run / "config.toml", "--out", again, "--quiet")
    assert result.returncode == 0, result.stderr
    return again


def _interrupted_after(monkeypatch, epoch: int):
    """Make ``deltaprop train`` stop as on Ctrl-C at the end of ``epoch``."""
    real = cli.fit

    class CtrlC(dp.Callback):
        def on_epoch_end(self, state):
            if state.epoch == epoch:
                raise KeyboardInterrupt

    def fit(*args, callbacks=(), **kwargs):
        return real(*args, callbacks=[*callbacks, CtrlC()], **kwargs)

    monkeypatch.setattr(cli, "fit", fit)


def _stopped_run(monkeypatch, run, schedule: str, epochs: int, after: int = 2):
    """``deltaprop train`` of ``epochs`` with ``schedule`` into ``run``, stopped as on Ctrl-C
    at the end of epoch ``after``."""
    with monkeypatch.context() as m:
        _interrupted_after(m, after)
        stopped = run_cli("train", *PARITY, "--schedule", schedule, "--epochs", str(epochs), "--out", run, "--quiet")
    assert stopped.returncode == 130, stopped.stderr


@pytest.mark.slow  # three runs
def test_an_extended_step_schedule_is_rerun_from_config_toml(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--schedule", "step", "--epochs", "3", "--out", run, "--quiet").returncode == 0
    assert "schedule.step_size" in _config(run)["derived"]  # filled in from the first 3 epochs
    resumed = run_cli("train", "--resume", run, "--epochs", "9", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    config = _config(run)
    assert config["epochs"] == 9 and config["schedule"] == {"type": "step", "step_size": 1}
    assert not any(name.startswith("schedule.") for name in config["derived"])
    again = _rerun(run, tmp_path)
    assert _rates(again) == _rates(run) == pytest.approx([0.5 * 0.5**e for e in range(9)])
    assert _same_model(run, again)


@pytest.mark.slow  # three runs
def test_a_shortened_cosine_run_says_it_keeps_t_max_and_is_rerun_from_config_toml(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _interrupted_after(m, 2)
        stopped = run_cli("train", *PARITY, "--schedule", "cosine", "--epochs", "6", "--out", run, "--quiet")
    assert stopped.returncode == 130 and len(_rates(run)) == 2
    resumed = run_cli("train", "--resume", run, "--epochs", "4", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    notes = [line for line in resumed.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    last = 0.5 * (1 + np.cos(np.pi * 3 / 6)) / 2
    assert notes[0].startswith(f"note: the run keeps its cosine schedule's t_max=6 (its first length): ending at "
                               f"epoch 4, its rate falls only to {last:g} (from 0.5; the cosine reaches its min_lr 0 "
                               "after epoch 6), where a new run of 4 epochs would take t_max=4")
    assert "start a new run with --epochs 4" in notes[0]
    config = _config(run)
    assert config["epochs"] == 4 and config["schedule"]["t_max"] == 6 and "schedule.t_max" not in config["derived"]
    again = _rerun(run, tmp_path)
    assert _rates(again) == _rates(run) and _rates(run)[-1] == pytest.approx(last)
    assert _same_model(run, again)


@pytest.mark.slow
def test_a_resume_of_the_same_length_keeps_the_schedule_derived_and_says_nothing(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _stopped_run(monkeypatch, run, "cosine", 4)
    resumed = run_cli("train", "--resume", run, "--quiet")
    assert resumed.returncode == 0 and "note:" not in resumed.stderr, resumed.stderr
    assert "schedule.t_max" in _config(run)["derived"]  # a rerun of other epochs takes its own t_max


@pytest.mark.slow
def test_a_cosine_with_t_max_set_shortened_says_where_its_rate_ends(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _stopped_run(monkeypatch, run, "cosine:t_max=6", 6)
    resumed = run_cli("train", "--resume", run, "--epochs", "3", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    note = next(line for line in resumed.stderr.splitlines() if line.startswith("note:"))
    assert note.startswith("note: the run keeps its cosine schedule's t_max=6: ending at epoch 3, its rate falls "
                           "only to 0.375 (from 0.5;")
    assert "new run" not in note  # t_max was the user's, not the length's


@pytest.mark.parametrize("saved, used, want", [
    ({"schedule": {"type": "cosine", "t_max": 6}, "derived": ["lr", "schedule.t_max"]},
     {"type": "cosine", "t_max": 6, "min_lr": 0.0}, {"type": "cosine", "t_max": 6}),
    ({"schedule": "cosine", "derived": ["lr"]},  # a configuration that never held the length
     {"type": "cosine", "t_max": 5, "min_lr": 0.0}, {"type": "cosine", "t_max": 5}),
    ({"schedule": {"type": "step", "step_size": 2, "gamma": 0.1}, "derived": ["schedule.step_size"]},
     {"type": "step", "step_size": 2, "gamma": 0.1}, {"type": "step", "step_size": 2, "gamma": 0.1}),
    ({"schedule": "exponential", "derived": ["weight_decay"]}, {"type": "exponential", "gamma": 0.9}, "exponential"),
])
def test_keep_schedule_sets_the_length_the_run_trains_with(saved, used, want):
    cfg = TrainConfig.from_mapping(saved)
    others = [name for name in cfg.derived if not name.startswith("schedule.")]
    cfg.keep_schedule(used)
    assert cfg.schedule == want and cfg.derived == others  # lr and weight_decay stay derived
