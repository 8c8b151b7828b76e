"""deltaprop serve in headless Chromium: a model of scikit-learn's 8x8 digits gets the
drawing pad, the preview shows the 8x8 image the model sees and ∂L/∂x is 8x8."""

from __future__ import annotations

import base64

import numpy as np
import pytest

pytest.importorskip("sklearn.datasets")
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
from test_serve_browser import browser, drawn_page  # noqa: E402, F401
from test_serve_http import running_server  # noqa: E402

from deltaprop.images import image_from_bytes  # noqa: E402

pytestmark = pytest.mark.slow


def test_an_8x8_digits_model_is_drawn_on_and_shows_8x8_images(tmp_path, browser):  # noqa: F811
    """The page gave this model a form of 64 numbers; now a drawn zero is sent as a PNG,
    shown as the 8x8 image the server made of it, and answered on the model's 0..16 scale."""
    from test_serve_small_images_review6 import digits_model

    loaded = digits_model(tmp_path / "m.safetensors")
    with running_server(tmp_path / "m.safetensors") as server:
        w, page = drawn_page(browser, server, "64 → 16 → 10")
        assert page.is_visible("#pad") and not page.is_visible("#number-form")
        last = page.evaluate("() => state.last")
        sizes = page.evaluate("() => ['preview', 'input-grad'].map((id) => [document.getElementById(id).width, "
                              "document.getElementById(id).height])")
        note = page.inner_text("#preview-note")
        w.check_clean()
    assert sizes == [[8, 8], [8, 8]]
    assert "Framed as 8×8 digits are" in note and "32×32 frame" in note and "0..16" in note
    assert "20×20" not in note and "reduced to 8×8" not in note
    seen = np.array(last["input"])
    assert seen.shape == (8, 8) and np.array(last["input_gradient"]).shape == (8, 8)
    png = base64.b64decode(w.sent[-1]["png"].split(",", 1)[1])
    np.testing.assert_allclose(seen, image_from_bytes(png, "digit", side=8), atol=1e-9)
    expected = loaded.predict_proba(seen.reshape(1, 64) * (16 / 255))[0]
    assert last["probabilities"] == pytest.approx(expected.tolist(), abs=1e-9)
