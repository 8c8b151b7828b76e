"""deltaprop serve in headless Chromium: the page recovers after the model's description
was refused (a damaged or half-written model file answers 422)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import deltaprop as dp
from test_serve_http import UNIT, running_server

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
from test_serve_browser import ARGS, CHROMIUM, draw_zero, wait_idle  # noqa: E402

if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is missing (apt-get install -y chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def _is_error(page) -> bool:
    return page.eval_on_selector("#status", "s => s.classList.contains('error')")


def test_a_page_opened_on_a_damaged_file_answers_once_the_file_is_good(browser, tmp_path):
    """The page opened while the model file was damaged (GET /api/model: 422) said so, and
    then never asked again: drawing after the file was written whole did nothing, and the
    old refusal stayed on the page."""
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([784, 16, 10], seed=0), path, input_scaling=UNIT, class_names=[str(i) for i in range(10)])
    with running_server(path) as server:
        path.write_bytes(b"not a model " * 8)
        page, errors = _page(browser)
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#status').classList.contains('error')")
        assert page.inner_text("#predicted") == "–"
        dp.save(dp.mlp([784, 8, 3], seed=1), path, input_scaling=UNIT, class_names=["a", "b", "c"])
        draw_zero(page)
        page.wait_for_function("() => document.querySelector('#predicted').textContent !== '–'", timeout=20_000)
        wait_idle(page)
        assert page.inner_text("#predicted") in ("a", "b", "c") and not _is_error(page)
        assert page.inner_text("#model-info").startswith("784 → 8 → 3")
        assert errors == []


def test_a_refused_description_of_a_replaced_model_does_not_stop_the_page(browser, tmp_path):
    """A model file replaced on disk is described anew (GET /api/model); where that one
    request was refused (the file caught half-written: 422), the page showed the refusal
    and then answered no input again, whatever was typed."""
    from test_serve_review4 import _tabular_model

    path = tmp_path / "m.safetensors"
    _tabular_model(path)
    mean, std = np.array([5.0, 50.0, 500.0, 0.0]), np.array([1.0, 10.0, 100.0, 0.1])  # as _tabular_model's
    armed, refused = [], []

    def model_route(route):
        if armed and not refused:
            refused.append(route.request.url)
            route.fulfill(status=422, content_type="application/json",
                          body=json.dumps({"error": f"{path}: the file ends inside its tensors"}))
        else:
            route.continue_()

    with running_server(path) as server:
        page, errors = _page(browser)
        page.route("**/api/model", model_route)
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#predicted').textContent !== '–'")
        wait_idle(page)
        wider = dp.Network([dp.Standardization(mean, std), dp.Dense(4, 9), dp.Tanh(), dp.Dense(9, 3), dp.Softmax()],
                           seed=3, dtype="float64")
        dp.save(wider, path, class_names=["low", "mid", "high"],  # another size: the next answer names a new version
                extra={"config": {"loss": "cross_entropy"}, "feature_names": ["a", "b", "c", "d"]})
        armed.append(True)  # the next description asked for is refused, once
        page.fill("#number-form input[name='a']", "7")
        page.wait_for_function("() => document.querySelector('#status').classList.contains('error')")
        wait_idle(page)
        assert refused and "ends inside its tensors" in page.inner_text("#status")
        page.fill("#number-form input[name='a']", "8")
        page.wait_for_function("() => !document.querySelector('#status').classList.contains('error')",
                               timeout=20_000)
        wait_idle(page)
        assert page.inner_text("#predicted") in ("low", "mid", "high")
        assert page.inner_text("#model-info").startswith("4 → 9 → 3")  # the new model, described
        assert errors == []


def test_a_failed_poll_of_the_run_is_said_and_cleared_once_the_run_answers(browser, tmp_path):
    """One failed GET /api/run (a server restarting, say) turned the run's status red for
    good, with no word of what failed, though later polls answered and the view updated."""
    from test_serve_http import save_model, write_history

    run = tmp_path / "run"
    run.mkdir()
    save_model(run / "model.safetensors")
    write_history(run / "history.csv", [{"epoch": e, "loss": 2.3 - 0.1 * e, "accuracy": 0.1, "lr": 0.3} for e in (1, 2)])
    armed, refused = [], []

    def run_route(route):
        if armed and not refused:
            refused.append(route.request.url)
            route.fulfill(status=500, content_type="application/json",
                          body=json.dumps({"error": "internal error (OSError); see the server's output"}))
        else:
            route.continue_()

    with running_server(run) as server:
        page, errors = _page(browser)
        page.route("**/api/run*", run_route)
        page.goto(server.url)
        page.click("nav .tab[data-view='run']")
        page.wait_for_function("() => document.querySelector('#run-epochs').textContent === '2'")
        armed.append(True)
        page.wait_for_function("() => document.querySelector('#run-status').classList.contains('error')")
        assert "internal error (OSError)" in page.inner_text("#run-status")
        page.wait_for_function("() => !document.querySelector('#run-status').classList.contains('error')",
                               timeout=10_000)
        assert "internal error" not in page.inner_text("#run-status")
        assert "last loss" in page.inner_text("#run-status") and page.inner_text("#run-epochs") == "2"
        assert errors == []
