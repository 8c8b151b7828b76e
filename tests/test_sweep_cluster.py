"""Sweeps on an existing Dask cluster (--scheduler): a worker of two threads in a working
folder of its own, as `dask worker` starts one."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_in_process import run_cli

from deltaprop.runlock import is_held

pytest.importorskip("distributed", reason="Dask distributed is not installed (uv sync --extra sweep)")

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A scheduler and one worker of two threads, whose working folder holds its own t.csv."""
    home = tmp_path_factory.mktemp("cluster")
    (home / "t.csv").write_text("a,b,label\n" + "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(120)))
    info = home / "scheduler.json"
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(info)], cwd=home,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not info.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        procs.append(subprocess.Popen([str(BIN / "dask"), "worker", "--scheduler-file", str(info), "--nthreads", "2",
                                       "--no-dashboard"], cwd=home, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client

        address = json.loads(info.read_text())["address"]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            with_group = proc.pid
            try:
                os.killpg(with_group, signal.SIGTERM)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(with_group, signal.SIGKILL)


def _sweep(cwd: Path, *args: str, **popen) -> subprocess.Popen:
    """``deltaprop sweep ARGS`` as a process of its own: for a signal, or for a sweep that runs
    while the test goes on."""
    return subprocess.Popen([str(BIN / "deltaprop"), "sweep", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _sweep_here(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``deltaprop sweep ARGS`` in this process, as a client of the cluster like any other."""
    return run_cli("sweep", *args, cwd=cwd)


def _wait_for(condition, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline and proc.poll() is None, proc.poll()
        time.sleep(0.05)


def _rows(folder: Path) -> list[dict]:
    return list(csv.DictReader((folder / "sweep.csv").open()))


def _parity(folder: Path, epochs: int, batch_size: int = 16) -> Path:
    path = folder / f"parity{epochs}.toml"
    path.write_text(f'dataset = "parity"\nlayers = [10, 3, 2]\nloss = "mse"\nepochs = {epochs}\n'
                    f"batch_size = {batch_size}\n")
    return path


def test_failed_trials_on_a_worker_of_two_threads_keep_their_own_errors(tmp_path, scheduler):
    proc = _sweep_here(tmp_path, str(_parity(tmp_path, 1)), "--grid", "lr=abc,-1,xyz,-2", "--scheduler", scheduler,
                       "--out", "s")
    assert proc.returncode == 1, proc.stderr
    errors = {r["lr"]: r["error"] for r in _rows(tmp_path / "s")}
    assert "got 'abc'" in errors["abc"] and "got 'xyz'" in errors["xyz"], errors
    assert "got -1.0" in errors["-1"] and "got -2.0" in errors["-2"], errors


def test_relative_paths_are_read_from_the_sweeps_folder_not_the_workers(tmp_path, scheduler):
    (tmp_path / "t.csv").write_text("a,b,c,label\n" + "".join(f"{i % 3},{i % 5},{i % 7},{i % 2}\n" for i in range(90)))
    (tmp_path / "rel.toml").write_text('dataset = "t.csv"\nepochs = 1\n')
    proc = _sweep_here(tmp_path, "rel.toml", "--grid", "lr=0.1", "--scheduler", scheduler, "--out", "s")
    assert proc.returncode == 0, proc.stderr
    # the sweep's t.csv has three features, the worker's two
    text = (tmp_path / "s" / "trial-000" / "config.toml").read_text()
    assert f'dataset = "{tmp_path / "t.csv"}"' in text and "layers = [3, 50, 2]" in text, text
    resumed = _sweep_here(tmp_path, "rel.toml", "--grid", "lr=0.1", "--scheduler", scheduler, "--out", "s", "--resume")
    assert resumed.returncode == 0 and resumed.stdout.count("finished before, skipped") == 1, resumed.stderr


def test_two_sweeps_in_folders_of_one_name_keep_their_own_results(tmp_path, scheduler):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # the first sweep's trials hold both of the worker's threads while the second one (in this
    # process, quick to start) submits its trials, of the same names
    slow = _sweep(tmp_path / "a", str(_parity(tmp_path, 10, batch_size=1)), "--grid", "lr=0.1,0.2",
                  "--scheduler", scheduler, "--out", "sw")
    try:
        _wait_for(lambda: all(is_held(tmp_path / "a" / "sw" / f"trial-00{i}") for i in range(2)), slow)
        fast = _sweep_here(tmp_path / "b", str(_parity(tmp_path, 2)), "--grid", "lr=0.5,1.0", "--scheduler",
                           scheduler, "--out", "sw")
        _, err = slow.communicate(timeout=300)
    finally:
        if slow.poll() is None:
            slow.kill()
    assert slow.returncode == 0, err
    assert fast.returncode == 0, fast.stderr
    for name, epochs, rates in (("a", "10", ["0.1", "0.2"]), ("b", "2", ["0.5", "1.0"])):
        rows = _rows(tmp_path / name / "sw")
        assert [r["lr"] for r in rows] == rates and all(r["status"] == "ok" for r in rows), rows
        assert [r["epochs_trained"] for r in rows] == [epochs, epochs], rows
        assert all(Path(r["folder"]).parent == tmp_path / name / "sw" for r in rows), rows


def test_ctrl_c_stops_the_trials_running_on_the_cluster(tmp_path, scheduler):
    proc = _sweep(tmp_path, str(_parity(tmp_path, 300, batch_size=1)), "--grid", "lr=0.1,0.2", "--scheduler",
                  scheduler, "--out", "s", start_new_session=True)
    trials = [tmp_path / "s" / f"trial-00{i}" for i in range(2)]
    # both trials have finished an epoch (diagnostics.csv is written at the first epoch's end)
    _wait_for(lambda: all((t / "diagnostics.csv").exists() for t in trials), proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "2 stopped" in err and "Traceback" not in out + err
    assert [r["status"] for r in _rows(tmp_path / "s")] == ["interrupted", "interrupted"]
    sizes = [(t / "history.csv").stat().st_size for t in trials]
    time.sleep(1)
    assert [(t / "history.csv").stat().st_size for t in trials] == sizes
    assert not any(is_held(t) for t in trials)
    assert all(json.loads((t / "run.json").read_text())["status"] == "interrupted" for t in trials)
