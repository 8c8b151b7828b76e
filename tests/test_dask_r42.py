"""A sweep on an existing Dask cluster checks the cluster before any trial is submitted: a
scheduler without workers, and workers of another deltaprop or NumPy, are refused in one line."""

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="Dask distributed is not installed (uv sync --extra sweep)")

from deltaprop import sweep  # noqa: E402

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def empty_scheduler():
    """A scheduler of this process with no worker (a worker a test starts joins it)."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address="127.0.0.1:0")
    try:
        yield cluster
    finally:
        cluster.close()


def test_a_scheduler_without_workers_is_refused_in_one_line(tmp_path, empty_scheduler):
    """The sweep's trials waited for a worker for ever, without a word (Ctrl-C was the only way
    out). It waits Dask's connect timeout for one (set to 1 s here, as a user may set it)."""
    (tmp_path / "base.toml").write_text('dataset = "parity"\nepochs = 1\n')
    address = empty_scheduler.scheduler_address
    env = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s")
    res = subprocess.run(
        [str(BIN / "deltaprop"), "sweep", "base.toml", "--grid", "lr=0.1,0.3", "--scheduler", address, "--out", "sw"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"deltaprop: error: the Dask scheduler at {address} has no workers (none joined within 1 s): start some "
        f"(dask worker {address}), or leave --scheduler out to start a local cluster"
    ]
    assert not (tmp_path / "sw").exists()  # the corrected command may use the folder


def _fake_version(where: Path, version: str) -> Path:
    """A folder whose package metadata says deltaprop ``version`` (first on a worker's path)."""
    info = where / f"deltaprop-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: deltaprop\nVersion: {version}\n")
    return where


def test_a_worker_of_another_deltaprop_is_refused_in_one_line(tmp_path, empty_scheduler):
    """A worker of another deltaprop version ran the trials with its own code, and one without
    deltaprop failed every trial it took."""
    from distributed import Client

    address = empty_scheduler.scheduler_address
    env = dict(os.environ, PYTHONPATH=str(_fake_version(tmp_path / "old", "0.0.1")))
    worker = subprocess.Popen(
        [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            with pytest.raises(sweep.Error) as caught:
                sweep.check_workers(client, address, 5.0)
            ours, numpy = version("deltaprop"), version("numpy")
            worker_address = next(iter(client.scheduler_info()["workers"]))
            assert str(caught.value) == (
                f"Dask worker {worker_address} has deltaprop 0.0.1, numpy {numpy} where this sweep runs deltaprop "
                f"{ours}, numpy {numpy}: install the same versions on every worker (the trials run the workers' "
                "deltaprop)"
            )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        deadline = time.monotonic() + 30
        while empty_scheduler.scheduler.workers and time.monotonic() < deadline:
            time.sleep(0.1)


def test_workers_of_the_same_versions_pass(tmp_path, empty_scheduler):
    """The check passes a worker of this environment (no false refusal)."""
    from distributed import Client

    address = empty_scheduler.scheduler_address
    worker = subprocess.Popen(
        [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with Client(address, timeout=30) as client:
            sweep.check_workers(client, address, 60.0)
            assert len(client.scheduler_info()["workers"]) == 1
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


def test_a_sweep_whose_only_worker_is_killed_ends_instead_of_waiting(tmp_path, empty_scheduler):
    """The cluster's one worker killed while a trial ran: its trials waited for another worker
    for ever. Now they are marked failed once none joined within the connect timeout, the
    sweep writes sweep.csv and ends (exit 1: no trial finished)."""
    from deltaprop.runlock import is_held

    address = empty_scheduler.scheduler_address
    worker = subprocess.Popen(
        [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    (tmp_path / "base.toml").write_text('dataset = "parity"\nepochs = 100000\nbatch_size = 1\n')
    env = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s")
    argv = [str(BIN / "deltaprop"), "sweep", "base.toml", "--grid", "lr=0.1,0.3", "--scheduler", address, "--out", "sw"]
    try:
        sweeping = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not is_held(tmp_path / "sw" / "trial-000") and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(worker.pid, signal.SIGKILL)
        try:
            out, err = sweeping.communicate(timeout=60)
        finally:
            if sweeping.poll() is None:
                sweeping.kill()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    assert sweeping.returncode == 1, err
    assert "Traceback" not in err
    rows = list(csv.DictReader((tmp_path / "sw" / "sweep.csv").open()))
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all("workers went away and none joined within 1 s" in r["error"] for r in rows)


def _worker(address: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **popen,
    )


def test_a_lost_scheduler_fails_the_trials_in_one_line_each(tmp_path):
    """The scheduler gone while trials ran: each trial's error was Dask's two-line message,
    which split sweep.csv's row and the printed lines."""
    from distributed import LocalCluster

    from deltaprop.runlock import is_held

    cluster = LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address="127.0.0.1:0")
    worker = _worker(cluster.scheduler_address)
    (tmp_path / "base.toml").write_text('dataset = "parity"\nepochs = 100000\nbatch_size = 1\n')
    env = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s")
    argv = [str(BIN / "deltaprop"), "sweep", "base.toml", "--grid", "lr=0.1,0.3", "--scheduler", cluster.scheduler_address]
    try:
        sweeping = subprocess.Popen(
            [*argv, "--out", "sw"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        while not is_held(tmp_path / "sw" / "trial-000") and time.monotonic() < deadline:
            time.sleep(0.1)
        cluster.close()
        try:
            out, err = sweeping.communicate(timeout=90)
        finally:
            if sweeping.poll() is None:
                sweeping.kill()
    finally:
        cluster.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    assert sweeping.returncode == 1, err
    assert "Traceback" not in err
    lost = (
        "not run: the connection to the Dask scheduler was lost (it stopped, or the network failed); continue the "
        "sweep with --resume once it runs again"
    )
    assert f"trial 0 (lr=0.1): failed: {lost}" in out.splitlines()
    rows = list(csv.DictReader((tmp_path / "sw" / "sweep.csv").open()))
    assert [r["error"] for r in rows] == [lost, lost]
