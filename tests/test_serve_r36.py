"""deltaprop serve on run folders that ended otherwise than done, and on every kind of model."""

from __future__ import annotations

import json
import os

import pytest

from chromium_session import fresh_page, launched_chromium
from test_serve_http import request, running_server, save_model, write_history


def _ended_run(folder, status, *, model=True):
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"status": status, "config": {"dataset": "mnist-sample"}}))
    if model:
        save_model(folder / "checkpoint.safetensors")
        write_history(folder / "history.csv", [{"epoch": 1, "loss": 2.0, "accuracy": 0.2, "lr": 0.3}])
    return folder


@pytest.mark.parametrize("status", ["diverged", "interrupted"])
def test_a_run_that_ended_before_saving_a_model_is_not_said_to_have_one_coming(tmp_path, status):
    """A run that diverged (or was interrupted) in its first epoch saved no model: the page
    said 'no model yet; it appears when training writes its first checkpoint', and waited
    for one that no process would ever write."""
    run = _ended_run(tmp_path / "run", status, model=False)
    with running_server(run) as server:
        _, model, _ = request(server, "GET", "/api/model")
        assert model["ready"] is False
        assert "no model yet" not in model["message"] and f"ended ({status}" in model["message"]
        code, out, _ = request(server, "POST", "/api/predict", {"pixels": [[0] * 28] * 28})
        assert code == 503 and f"ended ({status}" in out["error"]


def test_a_run_whose_process_is_gone_before_a_model_is_not_said_to_have_one_coming(tmp_path):
    """run.json still says training, but the process named in run.lock no longer runs."""
    import socket

    run = _ended_run(tmp_path / "run", "training", model=False)
    (run / "run.lock").write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    with running_server(run) as server:
        _, model, _ = request(server, "GET", "/api/model")
        assert model["ready"] is False and "its training process is gone" in model["message"]


def test_a_starting_run_is_still_said_to_have_its_model_coming(tmp_path):
    run = _ended_run(tmp_path / "run", "training", model=False)
    import socket

    (run / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    with running_server(run) as server:
        _, model, _ = request(server, "GET", "/api/model")
        assert model["ready"] is False and "no model yet" in model["message"]


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
@pytest.mark.parametrize("status", ["done", "diverged", "interrupted", "failed"])
def test_the_run_view_is_told_how_the_run_ended(tmp_path, status):
    run = _ended_run(tmp_path / "run", status)
    with running_server(run) as server:
        _, out, _ = request(server, "GET", "/api/run")
        assert out["training"] is False and out["status"] == status


def _dead_pid() -> int:
    """The id of a process that has ended."""
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    return dead


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for the module's browser tests, each on pages of its own."""
    with launched_chromium() as launched:
        yield launched


@pytest.mark.slow
def test_the_page_says_how_a_run_ended_not_finished(tmp_path, browser):
    """The training tab said '· finished' of a run whose run.json says it diverged, and of
    one killed while training (run.json still says training; its lock's process is gone)."""
    import socket

    diverged = _ended_run(tmp_path / "diverged", "diverged")
    killed = _ended_run(tmp_path / "killed", "training")
    (killed / "run.lock").write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    for run, said in ((diverged, "diverged"), (killed, "its process is gone")):
        with running_server(run) as server, fresh_page(browser) as page:
            page.goto(server.url)
            page.click("nav .tab[data-view='run']")
            page.wait_for_function("() => document.querySelector('#run-status').textContent"
                                   ".includes('last loss')", timeout=20_000)
            status = page.inner_text("#run-status")
            assert said in status and "finished" not in status, status


def _image_model(path, dataset):
    import deltaprop as dp
    from test_serve_http import UNIT

    dp.save(dp.mlp([784, 8, 10], seed=0), path, class_names=[str(i) for i in range(10)], input_scaling=UNIT,
            extra={"config": {"dataset": dataset}}, input_range=(0, 255))
    return path


@pytest.mark.parametrize("dataset, known", [("/data/train.csv", False), ("mnist-sample", True),
                                            ("fashion-mnist", True)])
def test_the_model_says_whether_its_drawing_style_is_known(tmp_path, dataset, known):
    """A model trained on a CSV file of 784 pixel columns (which does not say how its images
    were made) got its drawings in MNIST's digit style with no word that this was assumed,
    while the page called it 'the same code as deltaprop predict', which refuses such a
    model's images until --images says how they were made."""
    with running_server(_image_model(tmp_path / "m.safetensors", dataset)) as server:
        _, model, _ = request(server, "GET", "/api/model")
        assert model["image_style_known"] is known and model["image_style"] in ("digit", "fashion")


@pytest.mark.slow
def test_the_page_says_a_data_files_drawing_style_is_assumed(tmp_path, browser):
    notes = {}
    for dataset in ("/data/train.csv", "mnist-sample"):
        model = _image_model(tmp_path / f"{len(notes)}.safetensors", dataset)
        with running_server(model) as server, fresh_page(browser) as page:
            page.goto(server.url)
            page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784')",
                                   timeout=20_000)
            notes[dataset] = page.inner_text("#preview-note")
    assert "this style is assumed, as deltaprop predict --images digit" in notes["/data/train.csv"]
    assert "assumed" not in notes["mnist-sample"]
