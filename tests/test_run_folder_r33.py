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
