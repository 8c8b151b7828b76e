"""Scale-out answers users meet: a --scheduler port where something other than a Dask
scheduler listens, and the sweep's best-trial line among trials tied on accuracy and loss."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cli_in_process import run_cli

pytest.importorskip("distributed")


class _Listener:
    """A TCP port on 127.0.0.1 that accepts connections and sends ``reply`` (nothing: it
    stays silent, as a web server waiting for a request does)."""

    def __init__(self, reply: bytes = b""):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.reply, self.conns = reply, []
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.reply:
                conn.sendall(self.reply)

    def close(self):
        for conn in self.conns:
            conn.close()
        self.sock.close()


def _parity(folder: Path) -> Path:
    path = folder / "parity.toml"
    path.write_text('dataset = "parity"\nlayers = [10, 3, 2]\nloss = "mse"\nbatch_size = 8\nepochs = 1\n')
    return path


@pytest.mark.slow
def test_a_port_that_answers_in_another_protocol_is_named_not_out_of_memory(tmp_path):
    # Dask read an HTTP reply's first bytes as a frame length: "error: out of memory", and a
    # sweep.csv of trials "not run" left in --out, so the corrected command refused the folder.
    server = _Listener(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/html\r\n\r\n<html>no</html>\r\n")
    try:
        result = run_cli("sweep", _parity(tmp_path), "--grid", "lr=0.1", "--scheduler", server.address,
                         "--out", "s", cwd=tmp_path)
    finally:
        server.close()
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "answered, but not as a Dask scheduler" in lines[0] and "8787 is its dashboard" in lines[0]
    assert "out of memory" not in lines[0]
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_a_port_that_accepts_and_never_answers_stops_the_sweep_after_the_connect_timeout(tmp_path):
    # Dask's client waits for the scheduler's handshake with no limit: the sweep hung for ever.
    server = _Listener()
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    try:
        result = subprocess.run([sys.executable, "-m", "deltaprop.cli", "sweep", str(_parity(tmp_path)), "--grid",
                                 "lr=0.1", "--scheduler", server.address, "--out", "s"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=90)
    finally:
        server.close()
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"no Dask scheduler answered at {server.address} within 1 s" in lines[0]
    assert "nothing answered" in lines[0]
    assert not (tmp_path / "s").exists()


def _ok(trial, acc: float, loss: float) -> None:
    trial.result = {"status": "ok", "best_val_accuracy": acc, "best_epoch": 1, "val_loss_at_best": loss,
                    "val_loss_epoch": 1}


def test_trials_tied_on_accuracy_and_loss_are_not_said_to_differ_in_loss(tmp_path):
    # Every trial stuck at one output (lr=1e6 with squared error): accuracy 0.5 and validation
    # loss 1.0 in each. The line said "this one has the lowest validation loss at it, 1",
    # though trial 1's is the same: the grid's order chose.
    from deltaprop.sweep import best_trial, plan_trials, tie_note

    trials = plan_trials({"lr": ["1e6", "1e8", "3"]}, tmp_path / "s")
    for trial, loss in zip(trials, (1.0, 1.0, 1.5)):
        _ok(trial, 0.5, loss)
    best = best_trial(trials)
    note = tie_note(best, trials)
    assert best is trials[0]
    assert "has the lowest validation loss" not in note, note
    assert note == (" (trials 1, 2 reach it too; this one is the first in the grid of those with the lowest "
                    "validation loss at it, 1, which trial 1 has too)")
    # a loss of its own is still named as the reason
    _ok(trials[1], 0.5, 0.9)
    assert tie_note(best_trial(trials), trials).endswith("this one has the lowest validation loss at it, 0.9)")


def test_a_trial_whose_process_is_killed_says_so_instead_of_an_empty_error(tmp_path, monkeypatch):
    # The kernel's out-of-memory killer ends a trial's train with SIGKILL and no output: the
    # sweep listed it as "failed: " with nothing after, and sweep.csv's error column was empty.
    from deltaprop import sweep_trial

    monkeypatch.setattr(sweep_trial, "TRIAL_PROCESS", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    run = sweep_trial.run_trial(None, {"lr": "0.1"}, str(tmp_path / "trial-000"))
    assert run["exit"] == 137
    assert run["error"] == ("its deltaprop train process was killed by SIGKILL, most likely by the system for want "
                            "of memory (exit status 137), without an error message")


def test_a_trial_that_fails_silently_gives_its_exit_status(tmp_path, monkeypatch):
    from deltaprop import sweep_trial

    monkeypatch.setattr(sweep_trial, "TRIAL_PROCESS", "import sys; sys.exit(3)")
    run = sweep_trial.run_trial(None, {"lr": "0.1"}, str(tmp_path / "trial-000"))
    assert run == {**run, "exit": 3,
                   "error": "its deltaprop train process exited with status 3, without an error message"}


def test_a_sweep_whose_every_trial_ends_at_chance_warns_that_none_learned(tmp_path, capsys):
    # lr=1e6 and 1e9 with ReLU: both trials end at chance, and the sweep named one "best"
    # with exit status 0 and no word beyond each trial's list of alerts.
    from deltaprop.cli import _sweep_results
    from deltaprop.sweep import plan_trials

    trials = plan_trials({"lr": ["1e6", "1e9"]}, tmp_path)
    for trial, loss in zip(trials, (7.9, 8.1)):
        _ok(trial, 0.5, loss)
        trial.result.update(alerts="loss_above_guess; dead_relu@1; chance_accuracy", seconds=1.0)
    assert _sweep_results(trials, tmp_path, ["lr"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("WARNING: every finished trial (2) ends at chance accuracy"), err
    # one trial that learned: no warning
    trials[1].result.update(alerts="", best_val_accuracy=0.95)
    assert _sweep_results(trials, tmp_path, ["lr"]) == 0
    assert "WARNING" not in capsys.readouterr().err


def _train_run(folder: Path) -> None:
    folder.mkdir()
    for name in ("model.safetensors", "run.json", "config.toml"):
        (folder / name).write_text("x")


def test_resume_refuses_a_folder_that_holds_no_sweep_and_leaves_it_as_it_is(tmp_path):
    # `--out RUN --resume` on a train run's folder added trial-000, sweep.csv and sweep.png to it.
    _train_run(tmp_path / "run")
    before = sorted(p.name for p in (tmp_path / "run").iterdir())
    result = run_cli("sweep", _parity(tmp_path), "--grid", "lr=0.1", "--workers", "1", "--out", "run", "--resume",
                     cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "run holds no sweep to continue (no sweep.csv, no trial-NNN folders)" in lines[0]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == before


def test_a_folder_that_holds_no_sweep_is_not_offered_to_resume(tmp_path):
    # "is not an empty folder; ... or continue it with --resume": the hint led to the above
    _train_run(tmp_path / "run")
    result = run_cli("sweep", _parity(tmp_path), "--grid", "lr=0.1", "--out", "run", cwd=tmp_path)
    assert result.returncode == 2
    assert "--resume" in result.stderr and "holds no sweep to continue with --resume" in result.stderr
    (tmp_path / "s" / "trial-000").mkdir(parents=True)
    result = run_cli("sweep", _parity(tmp_path), "--grid", "lr=0.1", "--out", "s", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().endswith("or continue it with --resume"), result.stderr


@pytest.mark.slow
def test_ctrl_c_while_waiting_for_the_scheduler_ends_the_sweep_with_nothing_written(tmp_path):
    # The wait was made with Ctrl-C held (as while a local cluster starts): it took effect only
    # after the connect timeout, and left a sweep.csv of trials "not run" in --out.
    import signal
    import time

    server = _Listener()
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "60s"}
    proc = subprocess.Popen([sys.executable, "-m", "deltaprop.cli", "sweep", str(_parity(tmp_path)), "--grid", "lr=0.1",
                             "--scheduler", server.address, "--out", "s"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        while not server.conns and proc.poll() is None:  # until the sweep waits for the handshake
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=45)
    finally:
        proc.kill()
        server.close()
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted" and "Traceback" not in err
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_the_scheduler_check_works_where_an_event_loop_runs(tmp_path):
    # A notebook runs an event loop on its main thread, where asyncio.run is refused: the
    # check must still read the port's answer, not take the refusal for a wrong protocol.
    import asyncio

    from deltaprop.errors import Error
    from deltaprop.sweep import answer_from_scheduler

    server = _Listener()

    async def in_a_loop():
        answer_from_scheduler(server.address, 0.5)

    try:
        with pytest.raises(Error, match="the connection was accepted, but nothing answered"):
            asyncio.run(in_a_loop())
    finally:
        server.close()


def test_a_tls_scheduler_without_tls_settings_is_not_called_a_wrong_protocol():
    # Dask refuses a tls:// connection without an SSL context before any byte is sent; the
    # check took that for a port answering in another protocol.
    from deltaprop import ConfigError
    from deltaprop.sweep import answer_from_scheduler

    with pytest.raises(ConfigError, match="a tls:// scheduler needs Dask's TLS settings"):
        answer_from_scheduler("tls://127.0.0.1:9", 1.0)
