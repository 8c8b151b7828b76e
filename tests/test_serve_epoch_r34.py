"""The served model names where its weights are from when training stopped inside an
epoch (a steps limit, a stop, Ctrl-C): not "weights of epoch N" for weights trained N
epochs and some batches."""

from __future__ import annotations

import pytest
from cli_in_process import run_cli
from test_serve_http import request, running_server


def _steps_stopped_run(tmp_path, steps):
    """A parity run (700 rows, batches of 200: 4 an epoch) stopped after ``steps`` steps."""
    run = tmp_path / "run"
    assert run_cli("train", "--dataset", "parity", "--layers", "10,3,2", "--batch-size", "200", "--steps", str(steps),
                   "--validation-split", "0", "--threads", "1", "--quiet", "--out", run).returncode == 0
    return run


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_weights_from_inside_an_epoch_are_served_as_such(tmp_path):
    run = _steps_stopped_run(tmp_path, 6)  # 1 epoch complete, 2 batches into epoch 2
    with running_server(run) as s:
        model = request(s, "GET", "/api/model")[1]
    assert (model["epoch"], model["batches"]) == (2, 2)


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_weights_of_a_complete_epoch_say_no_batches(tmp_path):
    run = _steps_stopped_run(tmp_path, 8)  # 2 epochs exactly
    with running_server(run) as s:
        model = request(s, "GET", "/api/model")[1]
    assert (model["epoch"], model["batches"]) == (2, None)
