"""A refused ``train --resume`` leaves its run folder byte for byte as it found it; the
previous run that a ``train --overwrite`` killed before its training began left in
``RUN/.overwritten`` is put back (with a note) by the next ``train`` on the folder, never
lost; the JSON nesting scan of a long checkpoint history takes memory of the order of the
text, not eight bytes a byte."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tracemalloc

import pytest
from cli_in_process import run_cli
from test_leftovers_r36 import _one_line_error

import deltaprop as dp
import deltaprop.cli as cli
from deltaprop import bounded

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--quiet"]


def files(folder) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and a digest of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def interrupted_run(folder, monkeypatch, epochs: int = 5, after: int = 2):
    """``train`` of ``epochs`` into ``folder``, stopped as on Ctrl-C at the end of epoch ``after``."""
    real = cli.fit

    class CtrlC(dp.Callback):
        def on_epoch_end(self, state):
            if state.epoch == after:
                raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(cli, "fit", lambda *a, callbacks=(), **k: real(*a, callbacks=[*callbacks, CtrlC()], **k))
        assert run_cli("train", *PARITY, "--epochs", epochs, "--out", folder).returncode == 130
    return folder


# -- a refused resume ------------------------------------------------------------------------------
def test_a_resume_refused_for_a_taken_port_leaves_the_run_as_it_was(tmp_path, monkeypatch):
    run = interrupted_run(tmp_path / "run", monkeypatch)
    before = files(run)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run_cli("train", "--resume", run, "--epochs", "8", "--serve", port, "--quiet")
    assert f"port {port} is in use" in _one_line_error(res)
    assert files(run) == before  # config.toml said epochs = 8: a run of 8 epochs that never trained one more


def test_a_resume_that_fit_refuses_before_training_leaves_the_run_as_it_was(tmp_path, monkeypatch):
    run = interrupted_run(tmp_path / "run", monkeypatch)
    before = files(run)

    def refusing_fit(*args, **kwargs):  # as fit's checks refuse a resume, before any callback runs
        raise dp.ConfigError("refused before training")

    monkeypatch.setattr(cli, "fit", refusing_fit)
    res = run_cli("train", "--resume", run, "--epochs", "9", "--quiet")
    assert "refused before training" in _one_line_error(res)
    assert files(run) == before


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_resume_that_trained_keeps_its_new_length_in_config_toml(tmp_path, monkeypatch):
    run = interrupted_run(tmp_path / "run", monkeypatch)
    assert run_cli("train", "--resume", run, "--epochs", "3", "--quiet").returncode == 0
    assert "epochs = 3" in (run / "config.toml").read_text()


# -- a train --overwrite killed before its training began --------------------------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "run"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", folder).returncode == 0
    return folder


def killed_overwrite(finished, folder, moved=None):
    """``folder``: a copy of the run ``finished`` as a ``train --overwrite`` killed before its
    training began leaves it: the run's files (those named in ``moved``: all of them) in
    ``.overwritten``, and where they all were moved, the config.toml the killed start wrote."""
    shutil.copytree(finished, folder)
    (folder / ".overwritten").mkdir()
    for name in sorted(os.listdir(folder)):
        if not name.startswith(".") and (moved is None or name in moved):
            os.replace(folder / name, folder / ".overwritten" / name)
    if moved is None:
        (folder / "config.toml").write_text((finished / "config.toml").read_text().replace("epochs = 2", "epochs = 7"))
    return folder


def put_back_note(res, folder) -> None:
    note = res.stderr.strip().splitlines()[0]
    assert note.startswith(f"note: {folder / '.overwritten'} held the previous run (model.safetensors, "), note
    assert "train --overwrite" in note and f"put back in {folder}" in note, note


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_a_new_run_on_the_folder_puts_the_previous_run_back_and_is_refused(tmp_path, finished_run):
    run = killed_overwrite(finished_run, tmp_path / "run")
    res = run_cli("train", *PARITY, "--epochs", "3", "--out", run)
    assert res.returncode == 2, res.stderr
    put_back_note(res, run)
    assert "already holds a run" in res.stderr  # it said the run stopped before its first checkpoint
    assert files(run) == files(finished_run)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_resume_puts_the_previous_run_back_and_continues_it(tmp_path, finished_run):
    run = killed_overwrite(finished_run, tmp_path / "run")
    res = run_cli("train", "--resume", run, "--quiet")  # it said there was no checkpoint: start over with --overwrite
    assert res.returncode == 2, res.stderr
    put_back_note(res, run)
    assert "the run already has 2 epochs" in res.stderr
    assert files(run) == files(finished_run)
    assert run_cli("train", "--resume", run, "--epochs", "3", "--quiet").returncode == 0
    assert len(dp.History.read_csv(run / "history.csv")) == 3


def test_a_refused_overwrite_keeps_the_previous_run_a_killed_one_left(tmp_path, finished_run):
    run = killed_overwrite(finished_run, tmp_path / "run")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        res = run_cli("train", *PARITY, "--epochs", "3", "--overwrite", "--serve", taken.getsockname()[1],
                      "--out", run)
    assert res.returncode != 0 and "is in use" in res.stderr
    put_back_note(res, run)
    assert files(run) == files(finished_run)  # the leftover was deleted: the previous run was lost


def test_a_start_killed_while_moving_the_run_aside_is_put_back_whole(tmp_path, finished_run):
    run = killed_overwrite(finished_run, tmp_path / "run", moved={"model.safetensors", "checkpoint.safetensors"})
    res = run_cli("train", "--resume", run, "--epochs", "2", "--quiet")
    put_back_note(res, run)
    assert files(run) == files(finished_run)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_an_overwrite_that_trained_leaves_no_hidden_folder_and_a_removal_cut_short_is_not_put_back(tmp_path,
                                                                                                   finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    assert run_cli("train", *PARITY, "--epochs", "1", "--overwrite", "--out", run).returncode == 0
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    new = files(run)
    cut = run / ".overwritten.removing"  # what a kill while the replaced run was being removed leaves
    cut.mkdir()
    shutil.copy(finished_run / "checkpoint.safetensors", cut / "checkpoint.safetensors")
    res = run_cli("train", "--resume", run, "--quiet")
    assert "put back" not in res.stderr and "already has 1 epochs" in res.stderr, res.stderr
    assert files(run) == new


# -- the nesting scan of a long history ------------------------------------------------------------
def test_the_json_nesting_scan_takes_memory_of_the_order_of_the_text():
    record = {"epoch": 1, "loss": 0.5, "diagnostics": {"layers": [{"layer": "Dense", "mean": 0.25, "dead": None}] * 3,
                                                       "parameters": [{"name": "layers.1.W", "norm": 1.5}] * 2}}
    text = json.dumps([record] * 3000).encode()  # 700 kB, 30,000 strings
    tracemalloc.start()
    try:
        bounded.check_json_depth(text, what="history", error=dp.ModelFileError)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(text), f"{peak:,} bytes for {len(text):,} bytes of JSON"


@pytest.mark.parametrize("text, depth", [
    ('{"a": "[[[", "b": [[1], {"c": "]]]"}]}', 3),
    ('["\\\\", [["\\"[[["]]]', 3),  # an escaped backslash ends the string; an escaped quote does not
    ('["\\\\\\"[[[", []]', 2),
    ('"no brackets"', 0),
    ("", 0),
])
def test_the_json_nesting_scan_leaves_out_brackets_in_strings(text, depth):
    if text:
        assert bounded.parse_json(text, what="t", error=dp.ModelFileError, max_depth=depth) == json.loads(text)
    if depth:
        with pytest.raises(dp.ModelFileError, match=f"nested {depth} levels deep"):
            bounded.check_json_depth(text, what="t", error=dp.ModelFileError, max_depth=depth - 1)
    else:
        bounded.check_json_depth(text, what="t", error=dp.ModelFileError, max_depth=0)


def test_a_hidden_run_beside_a_run_that_trained_since_is_refused_not_put_over_it(tmp_path, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / ".overwritten").mkdir()  # left by an older deltaprop whose removal of it failed halfway
    (run / ".overwritten" / "model.safetensors").write_bytes(b"the earlier run's model")
    before = files(run)
    line = _one_line_error(run_cli("train", "--resume", run, "--epochs", "3", "--quiet"))
    assert f"{run / '.overwritten'} holds files of an earlier run (model.safetensors)" in line, line
    assert "beside this run's own model.safetensors" in line and "then delete it" in line, line
    assert files(run) == before
