"""`deltaprop serve` from the command line: prints the URL, serves, stops cleanly on Ctrl-C
(status 0, port released), and refuses bad paths and ports in one line."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from deltaprop import cli
from test_serve_http import save_model


def _start(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "deltaprop.cli", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    match = re.search(r"http://[^ ]+:(\d+)/", line)
    if match is None:
        proc.kill()
        pytest.fail(f"no URL printed: {line!r} {proc.stderr.read()!r}")
    return proc, int(match.group(1)), line


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_serve_prints_the_url_and_stops_cleanly_on_ctrl_c(tmp_path):
    save_model(tmp_path / "m.safetensors")
    proc, port, line = _start(str(tmp_path / "m.safetensors"), "--port", "0")
    try:
        assert line.startswith("serving model ") and f"http://127.0.0.1:{port}/" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/model", timeout=10) as res:
            assert json.load(res)["n_features"] == 784
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    with socket.socket() as s:  # the port is free again (as a restarted server binds it: TIME_WAIT allowed)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


@pytest.mark.slow
def test_another_host_prints_a_warning(tmp_path):
    save_model(tmp_path / "m.safetensors")
    proc, port, _ = _start(str(tmp_path / "m.safetensors"), "--port", "0", "--host", "0.0.0.0")
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "warning: listening on 0.0.0.0" in err


@pytest.mark.parametrize("args, words", [
    (["{tmp}/missing.safetensors"], "no such model file or run folder"),
    (["{tmp}"], "is not a run folder"),
    (["{model}", "--port", "70000"], "--port must be in 0..65535"),
    (["{model}", "--port", "x"], "--port"),
    (["{tmp}/bad.safetensors"], "bad.safetensors"),
])
def test_bad_paths_and_ports_are_one_line_errors(tmp_path, capsys, args, words):
    save_model(tmp_path / "m.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    argv = ["serve", *(a.format(tmp=tmp_path, model=tmp_path / "m.safetensors") for a in args)]
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status in (1, 2) and words in err and len(err.strip().splitlines()) == 1


def test_a_port_in_use_is_a_one_line_error(tmp_path, capsys):
    save_model(tmp_path / "m.safetensors")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert cli.main(["serve", str(tmp_path / "m.safetensors"), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"port {port} is in use" in err and "--port 0" in err


@pytest.mark.slow
def test_train_serve_serves_the_run_while_it_trains_and_after(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "deltaprop.cli", "train", "--out", str(out), "--epochs", "3", "--quiet",
                             "--serve", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line + proc.stderr.read()
        assert "still serving" in proc.stderr.readline()  # training is over; the page stays up
        base = f"http://127.0.0.1:{match.group(1)}"
        with urllib.request.urlopen(f"{base}/api/run", timeout=10) as res:
            run = json.load(res)
        assert run["epochs"] == 3 and [r["epoch"] for r in run["history"]] == [1, 2, 3]
        with urllib.request.urlopen(f"{base}/api/model", timeout=10) as res:
            assert json.load(res)["source"].endswith("model.safetensors")
        proc.send_signal(signal.SIGINT)
        stdout, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "test accuracy" in stdout and "stopped" in err
