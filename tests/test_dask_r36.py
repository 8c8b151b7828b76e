"""A sweep's local Dask cluster closes without its workers' notes on the user's terminal."""

import pytest

pytest.importorskip("distributed")

from distributed.diagnostics.plugin import WorkerPlugin  # noqa: E402

from deltaprop import sweep  # noqa: E402


class _NoteAtClose(WorkerPlugin):
    """A worker plugin that logs what a worker's heartbeat logs when it meets the scheduler
    closing: an ERROR with a CommClosedError traceback."""

    name = "deltaprop-test-note-at-close"

    def teardown(self, worker):
        import logging

        from distributed.comm.core import CommClosedError

        try:
            raise CommClosedError("in <TCP (closed) ConnectionPool.heartbeat_worker>: Stream is closed")
        except CommClosedError:
            logging.getLogger("distributed.worker").exception("Failed to communicate with scheduler during heartbeat.")


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_closing_the_local_cluster_prints_no_worker_traceback(capfd):
    """After a sweep that succeeded, a worker whose heartbeat met the scheduler closing printed
    `distributed.worker - ERROR - Failed to communicate with scheduler during heartbeat.` and a
    CommClosedError traceback (a race of Dask's shutdown, about one sweep in twenty)."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(__import__(__name__))
    client, cluster = sweep._client(1, None)
    try:
        client.register_plugin(_NoteAtClose())
    finally:
        sweep._close(client, cluster)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "CommClosedError" not in err and "heartbeat" not in err
    assert cluster.status.name == "closed"


def test_a_sweep_that_could_not_reach_its_cluster_leaves_the_folder_for_the_corrected_command(tmp_path, monkeypatch):
    """An unreachable --scheduler wrote a sweep.csv of trials 'not run', so the command it
    suggested (leave --scheduler out) was refused: `is not an empty folder`."""
    from cli_in_process import run_cli

    from deltaprop.errors import Error

    def unreachable(workers, scheduler):
        raise Error("cannot reach the Dask scheduler: Timed out; is one running there? Check --scheduler, or leave it "
                    "out to start a local cluster")

    monkeypatch.setattr(sweep, "_client", unreachable)
    monkeypatch.setattr(sweep, "answer_from_scheduler", lambda address, timeout: None)  # as if it had answered
    (tmp_path / "base.toml").write_text('dataset = "parity"\nepochs = 1\n')
    res = run_cli("sweep", "base.toml", "--grid", "lr=0.1,0.3", "--scheduler", "tcp://127.0.0.1:9", "--out", "sw",
                  cwd=tmp_path)
    assert res.returncode == 1 and "cannot reach the Dask scheduler" in res.stderr
    assert not (tmp_path / "sw").exists()  # the folder it made is removed, so nothing stands in the way
    handed = []
    monkeypatch.setattr(sweep, "run_sweep", lambda trials, **_: handed.extend(trials) or trials)
    res = run_cli("sweep", "base.toml", "--grid", "lr=0.1,0.3", "--out", "sw", cwd=tmp_path)
    assert "not an empty folder" not in res.stderr and len(handed) == 2
