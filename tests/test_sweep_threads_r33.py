"""A grown sweep keeps the trial folders it started with; a resumed run's run.json keeps
every session's BLAS thread record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import ConfigError, report
from deltaprop.callbacks import Callback
from deltaprop.config import TrainConfig
from deltaprop.sweep import check_resumable, plan_trials, run_sweep, trial_widths

HISTORY = "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n1,0.49,0.53,0.48,0.52,0.3,0.01,10\n"


# -- a resumed run keeps each session's BLAS threads -----------------------------------------------------------
class _Changes(Callback):
    """Stands for the thread governor: the changes it made during this fit."""

    def __init__(self, changes):
        self.changes = changes

    def on_train_end(self, state):
        state.thread_changes.extend(self.changes)


def _fit(writer, changes) -> None:
    X = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    dp.fit(dp.mlp([4, 3, 2], seed=0), X, np.arange(32) % 2, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
           epochs=1, callbacks=[_Changes(changes), writer])


def _session(out, command, changes, earlier=None) -> dict:
    writer = report.ReportWriter(out, report.run_facts(command, {"seed": 0}, data_source="s", data_sha="0"),
                                 earlier=earlier)
    _fit(writer, changes)
    writer.finish("done")
    return json.loads((out / "run.json").read_text())


def test_a_resumed_run_keeps_the_earlier_sessions_thread_changes(tmp_path):
    first = _session(tmp_path, ["deltaprop", "train"], [(3, 1), (7, 2)])
    assert first["sessions"][0]["thread_changes"] == [[3, 1], [7, 2]]
    facts = _session(tmp_path, ["deltaprop", "train", "--resume", "r"], [(40, 1)], earlier=first)
    assert [s.get("thread_changes") for s in facts["sessions"]] == [[[3, 1], [7, 2]], [[40, 1]]]
    assert facts["thread_changes"] == [[3, 1], [7, 2], [40, 1]]
    assert all("threads" in s for s in facts["sessions"])


def test_a_resume_without_changes_still_records_the_earlier_ones(tmp_path):
    first = _session(tmp_path, ["deltaprop", "train"], [(5, 1)])
    facts = _session(tmp_path, ["deltaprop", "train", "--resume", "r"], [], earlier=first)
    assert facts["thread_changes"] == [[5, 1]]
    assert "thread_changes" not in facts["sessions"][1]


def test_an_older_run_json_gives_its_thread_changes_to_its_last_session():
    older = {"sessions": [{"command": ["deltaprop", "train"], "started": "a", "training_seconds": 1, "seconds": 2},
                          {"command": ["deltaprop", "train", "--resume", "r"], "started": "b",
                           "training_seconds": 1, "seconds": 2}],
             "threads": 2, "thread_changes": [[9, 1]]}
    sessions = report.earlier_sessions(older)
    assert "thread_changes" not in sessions[0]
    assert sessions[1]["thread_changes"] == [[9, 1]] and sessions[1]["threads"] == 2


# -- a sweep grown past 999 trials keeps its trial folders ------------------------------------------------------
def _finished_trial(folder: Path, **settings) -> None:
    """A finished trial as deltaprop train leaves it (config.toml, model, history, run.json)."""
    cfg = TrainConfig.from_mapping(settings)
    cfg.fill_from_run(10, 2, batches_per_epoch=8)
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(cfg.to_toml())
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "history.csv").write_text(HISTORY)
    (folder / "run.json").write_text('{"status": "done", "seconds": 1.5}')


def _grid(n: int) -> dict[str, list[str]]:
    return {"dataset": ["parity"], "lr": [f"{(i + 1) / 1000}" for i in range(n)]}


def test_a_sweep_grown_past_999_trials_finds_its_finished_trials(tmp_path):
    out = tmp_path / "s"
    before = plan_trials(_grid(999), out)
    assert before[0].folder == out / "trial-000"
    _finished_trial(before[0].folder, dataset="parity", lr=0.001)
    grown = plan_trials(_grid(1000), out)
    assert [t.folder.name for t in (grown[0], grown[999])] == ["trial-000", "trial-999"]
    check_resumable(grown, None)
    said = []
    run_sweep(grown[:1], config=None, resume=True, say=said.append)
    assert said == [f"trial 0: finished before, skipped ({out / 'trial-000'})"] and grown[0].result["status"] == "ok"
    assert plan_trials(_grid(1000), tmp_path / "new")[0].folder.name == "trial-0000"  # a new sweep: as before


def test_a_sweep_folder_numbered_with_two_widths_is_refused(tmp_path):
    out = tmp_path / "s"
    _finished_trial(out / "trial-000", dataset="parity", lr=0.001)
    _finished_trial(out / "trial-0000", dataset="parity", lr=0.001)
    with pytest.raises(ConfigError, match=r"trial-000 and trial-0000.*another --out"):
        check_resumable(plan_trials(_grid(1000), out), None)


def test_the_width_of_unpadded_trial_folders_is_their_shortest(tmp_path):
    for name in ("trial-123", "trial-1000", "trial-x", "notes"):
        (tmp_path / name).mkdir()
    assert trial_widths(tmp_path) == {3}
    assert trial_widths(tmp_path / "none") == set()
