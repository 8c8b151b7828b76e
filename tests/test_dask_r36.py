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
