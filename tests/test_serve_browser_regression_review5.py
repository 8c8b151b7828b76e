"""deltaprop serve in headless Chromium: a regressor's page shows its predicted value and
backpropagates the loss for a target value typed in."""

from __future__ import annotations

import os

import numpy as np
import pytest

import deltaprop as dp
from test_serve_http import running_server

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
from test_serve_browser import ARGS, CHROMIUM, wait_idle  # noqa: E402

if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is missing (apt-get install -y chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow


def test_a_regressor_shows_its_value_and_the_loss_for_a_typed_target(tmp_path):
    """The page refused a regressor; now it shows the predicted value under the target's
    name, says that the default target (the prediction) gives a zero loss and gradient, and
    a typed target gives the squared error and ∂L/∂x beside each input."""
    from test_serve_regression_review5 import ROW, regressor

    regressor(tmp_path / "m.safetensors", names=["price"])
    loaded = dp.load(tmp_path / "m.safetensors")
    with playwright_api.sync_playwright() as p, running_server(tmp_path / "m.safetensors") as server:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.startsWith('3 → 6 → 1')")
        page.wait_for_function("() => state.last !== null")
        wait_idle(page)
        at_means = float(loaded.predict_proba(np.array([[5.0, 50.0, 500.0]]))[0, 0])
        assert float(page.inner_text("#predicted")) == pytest.approx(at_means, rel=1e-5)
        assert page.inner_text("#confidence") == "price" and "regressor" in page.inner_text("#outputs-kind")
        assert page.inner_text("#loss") == "0.0000" and "the loss is 0" in page.inner_text("#target-note")
        for name, value in zip(["rooms", "age", "area"], ROW):
            page.fill(f"#number-form input[name='{name}']", str(value))
        page.fill("#targets input[name='price']", "2.5")
        page.wait_for_function("() => state.last && state.last.target[0] === 2.5 && state.last.input[2] === 650")
        wait_idle(page)
        predicted = float(loaded.predict_proba(np.array([ROW]))[0, 0])
        assert float(page.inner_text("#loss")) == pytest.approx((predicted - 2.5) ** 2, abs=1e-4)
        assert page.inner_text("#loss-name") == "for target 2.5 (MeanSquaredError)"
        grads = [g.inner_text() for g in page.query_selector_all("#number-form .grad")]
        assert len(grads) == 3 and all(g.startswith("∂L/∂x ") and g != "∂L/∂x 0.0000" for g in grads)
        assert page.query_selector_all("#deltas canvas") and errors == []
        assert "error" not in (page.get_attribute("#status", "class") or "")
        page.screenshot(path=str(tmp_path / "regressor.png"), full_page=True)
        browser.close()
