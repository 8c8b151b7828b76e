"""The run folder's report lock (runlock.writing) held by a process that never lets go (a
training run suspended with Ctrl-Z in the middle of a report write, a stopped
``deltaprop report``): the other side waits a while, then goes on without it."""

from __future__ import annotations

import fcntl
import json
import os
import threading

import pytest

from deltaprop import runlock
from deltaprop.cli import main
from deltaprop.report import ReportWriter


@pytest.fixture
def stuck_holder(tmp_path, monkeypatch):
    """A run folder whose report lock another open file holds, never released during the test."""
    monkeypatch.setattr(runlock, "WRITING_WAIT", 0.2, raising=False)
    out = tmp_path / "run"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    fcntl.flock(fd, fcntl.LOCK_EX)  # a second open file description: conflicts within one process too
    yield out
    os.close(fd)


def _returns(call) -> bool:
    """Whether ``call()`` returns (not blocked for ever), its exception raised here."""
    result = {}

    def run():
        try:
            result["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=30)  # far beyond the 0.2 s wait: only a lock waited for without end gets here
    if "error" in result:
        raise result["error"]
    return not thread.is_alive()


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_deltaprop_report_on_a_folder_whose_writer_is_suspended_does_not_hang(stuck_holder, capsys):
    out = stuck_holder
    (out / "run.json").write_text(json.dumps({"status": "interrupted", "command": ["deltaprop", "train"]}))
    (out / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n1,0.5,0.9,,,0.1,1.0,10\n")
    assert _returns(lambda: main(["report", str(out)]))
    assert (out / "report.html").is_file()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_training_goes_on_while_a_suspended_report_holds_the_lock(stuck_holder):
    out = stuck_holder
    writer = ReportWriter(out, {"command": ["deltaprop", "train"], "started": "now", "status": "training"})
    assert _returns(lambda: writer.finish("interrupted"))
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert (out / "report.html").is_file()


def test_a_steps_run_json_write_does_not_wait_for_a_report_being_rebuilt(tmp_path, monkeypatch):
    # run.json's timing is written after a step, within the time the BLAS thread governor
    # reads: waiting there for a `deltaprop report` made the step look slow
    from types import SimpleNamespace

    monkeypatch.setattr(runlock, "WRITING_WAIT", 3600.0, raising=False)  # a rebuild that takes its time
    out = tmp_path / "run"
    out.mkdir()
    writer = ReportWriter(out, {"command": ["deltaprop", "train"], "started": "now", "status": "training"})
    state = SimpleNamespace(history=SimpleNamespace(records=[]), net=SimpleNamespace(layers=[]), threads=1)
    writer.on_train_begin(state)
    fd = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert _returns(lambda: writer.on_batch_end(state, 20, 0.5))
        assert not (out / "run.json").exists()  # left for a later step
    finally:
        os.close(fd)
    writer.on_batch_end(state, 20, 0.5)  # the lock is free again
    assert json.loads((out / "run.json").read_text())["status"] == "training"
