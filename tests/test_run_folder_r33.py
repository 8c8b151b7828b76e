"""A run folder's files as a stopped or racing run leaves them: the rebuilt report says what
the files hold, consistently, and never replaces the final page with an older one."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from deltaprop import report
from deltaprop.cli import main
from deltaprop.report import ReportWriter
from deltaprop.runlock import RunLock

REFRESH = 'http-equiv="refresh"'


def _text(page: str) -> str:
    page = re.sub(r"<style>.*?</style>|<script>.*?</script>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished 4-epoch run's folder (copied by each test that changes it)."""
    out = tmp_path_factory.mktemp("r33") / "run"
    assert main(["train", "--out", str(out), "--epochs", "4", "--layers", "784,8,10", "-q"]) == 0
    return out


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file() and f.name != "run.lock":
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _facts(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


# -- a report rebuilt as training ends -------------------------------------------------------------
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_rebuild_as_training_ends_does_not_overwrite_the_final_page(trained, tmp_path, monkeypatch):
    out = _copy(trained, tmp_path / "run")
    (out / "run.json").write_text(json.dumps({**_facts(out), "status": "training"}))  # as mid-run
    records = [{"epoch": e, "loss": 1.0 / e, "lr": 0.1} for e in (1, 2, 3, 4)]
    writer = ReportWriter(out, {**_facts(out), "status": "training"})
    writer.records = records
    real_read = report.read_run
    finished = threading.Event()

    def read_then_training_ends(folder):
        run = real_read(folder)  # the rebuild has read the files of a run still training ...
        def final():
            writer.finish("done")
            finished.set()
        ender = threading.Thread(target=final)
        ender.start()  # ... and training ends now, writing its final page
        ender.join(timeout=0.5)
        read_then_training_ends.ender = ender
        return run

    monkeypatch.setattr(report, "read_run", read_then_training_ends)
    with RunLock(out):  # the training process holds the run
        report.rebuild(out)
        read_then_training_ends.ender.join()
    assert finished.is_set()
    assert _facts(out)["status"] == "done"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert REFRESH not in page and 'class="status done"' in page


# -- a full disk as the run ends ---------------------------------------------------------------------
def _disk_full(monkeypatch, when):
    """Writes of the report module raise ENOSPC (leaving the file as it was) when ``when(path)``."""
    import errno

    real = report.atomic_write_bytes

    def write(path, data):
        if when(Path(path)):
            raise OSError(errno.ENOSPC, "No space left on device (the disk is full; any previous version of the "
                                        "file is kept)", str(path))
        return real(path, data)

    monkeypatch.setattr(report, "atomic_write_bytes", write)


def test_a_run_whose_page_cannot_be_written_records_that_it_failed(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _disk_full(monkeypatch, lambda path: path.name == "report.html")  # the page is the largest file
    assert main(["train", "--out", str(out), "--epochs", "2", "--layers", "784,8,10", "-q"]) == 1
    err = capsys.readouterr().err
    assert "disk is full" in err and err.count("\n") == 1 and "Traceback" not in err
    assert _facts(out)["status"] == "failed"  # not "training" for a run that ended


def test_a_run_json_that_cannot_record_the_end_is_kept_and_reported_as_such(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    with monkeypatch.context() as m:  # after the first epoch's run.json, nothing more fits
        _disk_full(m, lambda path: (path.parent / "run.json").is_file())
        assert main(["train", "--out", str(out), "--epochs", "2", "--layers", "784,8,10", "-q"]) == 1
    assert _facts(out)["status"] == "training"  # the previous file is whole; the end could not be recorded
    capsys.readouterr()
    assert main(["report", str(out)]) == 0  # once there is room again
    text = _text((out / "report.html").read_text(encoding="utf-8"))
    assert REFRESH not in (out / "report.html").read_text(encoding="utf-8")
    assert "still says training, but no process is training in this folder" in text
    assert "full disk" in text and "The run is training" not in text


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_info_of_a_resumed_run_that_could_not_record_its_end_does_not_call_it_interrupted(trained, tmp_path,
                                                                                           monkeypatch, capsys):
    out = _copy(trained, tmp_path / "run")
    with monkeypatch.context() as m:
        _disk_full(m, lambda path: _facts(path.parent)["status"] != "done")  # the resume's first write fits
        assert main(["train", "--resume", str(out), "--epochs", "6", "-q"]) == 1
    assert _facts(out)["status"] == "training"
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    err = capsys.readouterr().err
    assert "ended without recording how" in err and "interrupted" not in err


# -- a run killed between the writes of history.csv and diagnostics.csv --------------------------------
def _keep_epochs(path: Path, last: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([lines[0], *(line for line in lines[1:] if int(float(line.split(",")[0])) <= last)]))


def _killed(trained: Path, folder: Path) -> Path:
    out = _copy(trained, folder)
    (out / "run.json").write_text(json.dumps({**_facts(out), "status": "training"}))  # as a SIGKILL leaves it
    for name in ("model.safetensors", "evaluation.json"):
        (out / name).unlink()
    return out


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_diagnostics_ending_before_the_history_cut_the_page_to_the_epochs_both_hold(trained, tmp_path):
    out = _killed(trained, tmp_path / "run")
    _keep_epochs(out / "diagnostics.csv", 2)  # its last write was of epoch 2; history.csv's of epoch 4
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    text = _text(page)
    assert "history.csv ends at epoch 4 but diagnostics.csv and alerts.csv at epoch 2" in text
    assert "epochs 3 to 4 are in history.csv and the checkpoint, with no diagnostics or alerts recorded" in text
    assert "2 epoch(s); last epoch (2)" in text
    charts = page.partition('<section id="alerts">')[2]
    assert "epoch 3: " not in charts and "epoch 2: " in charts  # no curve and no chart goes past epoch 2


def test_diagnostics_past_the_history_are_said_to_be_left_out(trained, tmp_path):
    out = _killed(trained, tmp_path / "run")
    _keep_epochs(out / "history.csv", 3)  # the checkpoint and history of epoch 4 were not written yet
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    text = _text(page)
    assert "history.csv ends at epoch 3 but diagnostics.csv and alerts.csv at epoch 4" in text
    assert "This page shows the epochs all three hold (up to 3)." in text
    assert "3 epoch(s); last epoch (3)" in text and "epoch 4: " not in page.partition('<section id="alerts">')[2]


def test_files_that_end_together_get_no_note(trained, tmp_path):
    out = _killed(trained, tmp_path / "run")
    assert main(["report", str(out)]) == 0
    text = _text((out / "report.html").read_text(encoding="utf-8"))
    assert "4 epoch(s); last epoch (4)" in text and "history.csv ends" not in text


# -- the training time of a session killed outright ------------------------------------------------
class _Clock:
    def __init__(self):
        self.now = 1000.0

    def perf_counter(self):
        return self.now

    @staticmethod
    def strftime(*args):
        import time

        return time.strftime(*args)


def _timing_writer(tmp_path, monkeypatch):
    """A ReportWriter of a run folder on a clock the test moves, begun on a stand-in state."""
    from types import SimpleNamespace

    clock = _Clock()
    monkeypatch.setattr(report, "time", clock)
    out = tmp_path / "run"
    out.mkdir()
    writer = ReportWriter(out, {"command": ["deltaprop", "train"], "started": "now", "status": "training"})
    state = SimpleNamespace(history=SimpleNamespace(records=[]), net=SimpleNamespace(layers=[]), threads=1)
    writer.on_train_begin(state)
    return clock, out, writer, state


def test_a_long_epoch_keeps_run_jsons_training_time_up_to_date(tmp_path, monkeypatch):
    clock, out, writer, state = _timing_writer(tmp_path, monkeypatch)
    for _ in range(120):  # one epoch of 120 one-second steps, not over yet when the process is killed
        clock.now += 1.0
        writer.on_batch_end(state, 20, 0.5)
    facts = _facts(out)  # what a SIGKILL now leaves
    assert facts["status"] == "training"
    assert 120 - getattr(report, "TIMING_INTERVAL", 5.0) <= facts["training_seconds"] <= 120
    assert facts["sessions"][-1]["training_seconds"] == facts["training_seconds"]


def test_run_jsons_training_time_is_kept_up_to_date_while_the_page_waits(tmp_path, monkeypatch):
    clock, out, writer, state = _timing_writer(tmp_path, monkeypatch)
    for epoch in range(1, 61):  # two-second epochs; the page waits 100 s between writes (a slow one)
        clock.now += 2.0
        writer.on_batch_end(state, 20, 0.5)
        state.history.records.append({"epoch": epoch, "loss": 0.5})
        writer.on_epoch_end(state)
        writer.gap = 100.0
    assert 120 - getattr(report, "TIMING_INTERVAL", 5.0) - 2 <= _facts(out)["training_seconds"] <= 120
