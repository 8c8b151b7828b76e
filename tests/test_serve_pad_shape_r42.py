"""deltaprop serve on a model of non-square grey images (20x30, 16x12 recorded as its
input shape): the page gives it a drawing pad of that aspect ratio, and the drawing reaches
the model as ``deltaprop predict`` reads a PNG of it (its pixels as they are, resized to
h×w, not framed as a digit). It got a form of h·w number fields instead."""

from __future__ import annotations

import base64
import io
import json
import re
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_serve_http import running_server

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.images import read_shaped_image
from deltaprop.serve.model import ModelSource


def _model(tmp_path, shape):
    net = dp.Network([dp.Dense(shape[0] * shape[1], 3), dp.Softmax()], seed=3)
    dp.save(net, tmp_path / "m.safetensors", class_names=["a", "b", "c"], input_shape=shape, input_range=(0, 255))
    return tmp_path / "m.safetensors"


def _drawing(width, height) -> bytes:
    """A pad-like drawing: dark strokes on white, ``width`` x ``height`` pixels."""
    img = Image.new("RGBA", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.line([(20, 30), (width - 40, height - 25)], fill="black", width=18)
    draw.ellipse((width // 3, 10, width // 3 + 60, 80), outline="black", width=18)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _post(server, body: dict) -> dict:
    req = urllib.request.Request(
        server.url.rstrip("/") + "/api/predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


@pytest.mark.parametrize(("shape", "size"), [((20, 30), (280, 187)), ((16, 12), (210, 280))])
def test_a_drawing_for_a_non_square_grey_model_is_its_input_as_predict_reads_the_png(tmp_path, capsys, shape, size):
    path = _model(tmp_path, shape)
    described = ModelSource(path).describe()
    assert described["image_input"] is True and described["image_grid"] == list(shape)
    assert described["image_side"] is None
    png = _drawing(*size)
    (tmp_path / "drawing.png").write_bytes(png)
    expected = read_shaped_image(tmp_path / "drawing.png", shape).pixels.reshape(shape)
    with running_server(path) as server:
        out = _post(server, {"png": "data:image/png;base64," + base64.b64encode(png).decode()})
    assert np.asarray(out["input"]) == pytest.approx(expected)
    assert expected.min() < 64 and expected.max() == 255  # dark ink on white, as drawn: not inverted nor framed
    capsys.readouterr()
    assert main(["predict", str(path), str(tmp_path / "drawing.png")]) == 0
    printed = capsys.readouterr().out
    assert f"{max(out['probabilities']):.4f}" in printed and out["classes"][out["predicted"]] in printed


def test_pixels_and_the_input_gradient_of_a_non_square_grey_model_are_its_rows_of_columns(tmp_path):
    path = _model(tmp_path, (20, 30))
    pixels = np.random.default_rng(0).integers(0, 256, size=(20, 30)).tolist()
    out = ModelSource(path).backward(np.asarray(pixels, dtype=np.float64), 1)
    assert np.shape(out["input_gradient"]) == (20, 30)
    with running_server(path) as server:
        answered = _post(server, {"pixels": pixels})
    assert np.shape(answered["input"]) == (20, 30)
    assert ModelSource(path).first_weights(0)["weights"] and np.shape(ModelSource(path).first_weights(0)["weights"]) == (20, 30)


@pytest.mark.slow
def test_the_pad_of_a_20x30_model_has_its_shape_and_answers_as_predict_reads_its_png(tmp_path):
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
    from chromium_session import fresh_page, launched_chromium

    path = _model(tmp_path, (20, 30))
    with (
        launched_chromium() as browser,
        running_server(path) as server,
        fresh_page(browser, viewport={"width": 1400, "height": 1000}) as page,
    ):
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.startsWith('600 → 3')")
        assert page.is_visible("#pad") and not page.is_visible("#number-form")
        box = page.locator("#pad").bounding_box()
        assert box["width"] / box["height"] == pytest.approx(30 / 20, rel=0.03)
        page.mouse.move(box["x"] + 40, box["y"] + 40)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] - 50, box["y"] + box["height"] - 40, steps=12)
        page.mouse.up()
        page.wait_for_function("() => document.body.dataset.state === 'idle' && state.last", timeout=20_000)
        seen = page.evaluate("state.last.input")
        url = page.eval_on_selector("#pad", "c => c.toDataURL('image/png')")
        preview = page.inner_text("#preview-note")
    assert errors == []
    (tmp_path / "pad.png").write_bytes(base64.b64decode(re.sub(r"^data:image/png;base64,", "", url)))
    expected = read_shaped_image(tmp_path / "pad.png", (20, 30)).pixels.reshape(20, 30)
    assert np.asarray(seen) == pytest.approx(expected) and expected.min() < 128
    assert "20×30" in preview and "not framed as a digit" in preview
