"""deltaprop serve in headless Chromium: the page follows a model file replaced on disk."""

from __future__ import annotations

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


def test_a_model_file_replaced_on_disk_is_described_anew(browser, tmp_path):
    """The page kept the first model's header, loss name and hovered weights after the file
    was replaced, and said "Cannot read properties of undefined" for a layer it did not know."""
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([784, 16, 10], seed=0), path, input_scaling=UNIT, class_names=[str(i) for i in range(10)])
    with running_server(path) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784 → 16 → 10')")
        draw_zero(page)
        wait_idle(page)
        page.click("#targets button[data-target='8']")
        wait_idle(page)
        page.hover("#forward .strip.hoverable canvas", position={"x": 5, "y": 5})
        page.wait_for_selector("#weights-box", state="visible")

        new = dp.mlp([784, 8, 4, 3], seed=5, output="sigmoid")
        dp.save(new, path, input_scaling=UNIT, class_names=["a", "b", "c"], loss=dp.MeanSquaredError())
        page.mouse.move(0, 0)
        page.click("#targets button[data-target='auto']")
        wait_idle(page)
        assert page.inner_text("#model-info").startswith("784 → 8 → 4 → 3")
        assert page.inner_text("#loss-name").endswith("(MeanSquaredError)")
        assert not page.is_visible("#weights-box")  # the old model's weights are gone
        assert page.inner_text("#predicted") in ("a", "b", "c") and not page.eval_on_selector(
            "#status", "s => s.classList.contains('error')")
        page.hover("#forward .strip.hoverable canvas", position={"x": 5, "y": 5})
        page.wait_for_selector("#weights-box", state="visible")
        largest = float(np.abs(new.layers[0].W.value[:, 0]).max())  # the new model's weights, not cached ones
        assert f"|w| ≤ {largest:.4f})" in page.inner_text("#weights-label")
        assert errors == []


def test_a_model_of_numbers_gets_a_form_of_numbers_not_a_drawing_pad(browser, tmp_path):
    """A model of four table columns showed the drawing pad, answered nothing drawn on it,
    and said only that it cannot read a drawing: now it gets a field a column, named by its
    training file's header and starting at the training mean, and the page answers them."""
    from test_serve_review4 import _tabular_model

    _tabular_model(tmp_path / "m.safetensors")
    loaded = dp.load(tmp_path / "m.safetensors")
    with running_server(tmp_path / "m.safetensors") as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.startsWith('4 → 6 → 3')")
        page.wait_for_function("() => document.querySelector('#predicted').textContent !== '–'")
        assert not page.is_visible("#pad") and not page.is_visible("#preview") and page.is_visible("#number-form")
        names = page.eval_on_selector_all("#number-form input", "els => els.map((e) => [e.name, e.value])")
        assert names == [["a", "5"], ["b", "50"], ["c", "500"], ["d", "0"]]
        page.fill("#number-form input[name='c']", "650")
        page.wait_for_function("() => state.last && state.last.input[2] === 650")  # the answer to the new row
        rows = page.eval_on_selector_all("#probabilities li", "els => els.map((e) => [e.dataset.class, e.dataset.p])")
        proba = loaded.predict_proba(np.array([[5.0, 50.0, 650.0, 0.0]]))[0]
        assert sorted(rows) == sorted([name, f"{p:.4f}"] for name, p in zip(["low", "mid", "high"], proba))
        assert len(page.query_selector_all("#number-form .grad")) == 4
        assert all(g.inner_text().startswith("∂L/∂x ") for g in page.query_selector_all("#number-form .grad"))
        assert errors == []


def test_a_refused_drawing_leaves_no_answer_of_an_earlier_one(browser, tmp_path):
    """When the server refused a drawing (a diverged checkpoint's overflow, say: a 422), the
    page put the error in the status line but kept the previous drawing's prediction, loss
    and gradients beside it, as if they were the answer."""
    dp.save(dp.mlp([784, 16, 10], seed=0), tmp_path / "m.safetensors", input_scaling=UNIT,
            class_names=[str(i) for i in range(10)])
    with running_server(tmp_path / "m.safetensors") as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784')")
        draw_zero(page)
        wait_idle(page)
        assert page.inner_text("#predicted") != "–" and page.query_selector_all("#probabilities li")
        refusal = '{"error": "layer 3 (Dense)\'s output is not finite for this input"}'
        page.route("**/api/backward", lambda route: route.fulfill(status=422, body=refusal,
                                                                  content_type="application/json"))
        page.click("#targets button[data-target='4']")
        page.wait_for_function("() => document.querySelector('#status').classList.contains('error')")
        wait_idle(page)
        assert page.inner_text("#status") == "layer 3 (Dense)'s output is not finite for this input"
        assert page.inner_text("#predicted") == "–" and page.inner_text("#loss") == "–"
        assert page.query_selector_all("#probabilities li") == [] and page.query_selector_all("#deltas canvas") == []
