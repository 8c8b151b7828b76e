"""deltaprop serve in headless Chromium: a model of 14x14 RGBA images (784 values, as a
28x28 grey image holds) gets no drawing pad but a form that says what it takes; a model
whose file records no input shape keeps the pad, which says its 28x28 is a guess."""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
from test_serve_browser import Watched, browser, draw_zero, wait_idle  # noqa: E402, F401
from test_serve_http import running_server  # noqa: E402

import deltaprop as dp  # noqa: E402

pytestmark = pytest.mark.slow


def _page(browser, server, *, drawn: bool):  # noqa: F811
    w = Watched(browser, server.url.rstrip("/"))
    w.page.goto(server.url)
    w.page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784 → 3')")
    if drawn:  # the pad answers a drawing; a form answers its starting numbers
        draw_zero(w.page)
    wait_idle(w.page)
    return w, w.page


@pytest.mark.parametrize("shape", [(14, 14, 4), None])
def test_the_page_says_what_shape_the_model_takes_or_that_it_guesses(tmp_path, browser, shape):  # noqa: F811
    net = dp.Network([dp.Dense(784, 3), dp.Softmax()], seed=0)
    dp.save(net, tmp_path / "m.safetensors", input_shape=shape)
    with running_server(tmp_path / "m.safetensors") as server:
        w, page = _page(browser, server, drawn=shape is None)
        pad, form = page.is_visible("#pad"), page.is_visible("#number-form")
        numbers, preview = page.inner_text("#numbers-note"), page.inner_text("#preview-note")
        w.check_clean()
    if shape is not None:
        assert form and not pad
        assert "14x14 images of 4 channels" in numbers and "cannot draw" in numbers
    else:
        assert pad and not form
        assert "does not record the shape of its inputs" in preview and "28×28" in preview
