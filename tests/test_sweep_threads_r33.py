"""A grown sweep keeps the trial folders it started with; a resumed run's run.json keeps
every session's BLAS thread record."""

from __future__ import annotations

import json

import numpy as np

import deltaprop as dp
from deltaprop import report
from deltaprop.callbacks import Callback


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
