"""`deltaprop serve` for a model of 8x8 images (scikit-learn's digits, levels 0..16): the
page's drawing is reduced to 8x8 and to the model's levels, and ∂L/∂x is an 8x8 image; a
table of 64 columns standardised one by one still gets the form of numbers."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.images import image_from_bytes
from deltaprop.preprocessing import standardization_for
from test_serve_http import request, running_server

datasets = pytest.importorskip("sklearn.datasets")


def digits_model(path):
    """A float64 network trained briefly on scikit-learn's 8x8 digits (0..16), with the
    standardisation ``--scaling auto`` picks for them (one σ: pixels share a scale)."""
    x, y = datasets.load_digits(return_X_y=True)
    x, y = x[:300], y[:300]
    scaler = standardization_for(x)
    assert scaler.std.size == 1  # images, as training judges them
    net = dp.Network([scaler, *dp.mlp([64, 16, 10], seed=0, dtype="float64").layers], dtype="float64")
    dp.fit(net, x, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=50, seed=0,
           diagnostics=False)
    dp.save(net, path, loss=dp.CrossEntropy())
    return dp.load(path)


def stroke_png() -> bytes:
    """A black vertical stroke on white paper, as the page's pad sends it."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(img).line([(140, 40), (150, 240)], fill=0, width=18)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_an_8x8_digits_model_gets_the_pad_and_a_drawing_on_its_scale(tmp_path):
    """It got a form of 64 numbers; now /api/model says image_input with side 8 and levels
    0..16, and a drawn stroke becomes an 8x8 image (framed as small digits are, each pixel
    the mean of a 4x4 block of a 32x32 frame) whose 0..255 levels reach the network as 0..16."""
    loaded = digits_model(tmp_path / "m.safetensors")
    png = stroke_png()
    with running_server(tmp_path / "m.safetensors") as server:
        model = request(server, "GET", "/api/model")[1]
        status, out, _ = request(server, "POST", "/api/predict", {"png": base64.b64encode(png).decode()})
    assert model["image_input"] is True and model["image_side"] == 8 and model["levels_top"] == 16
    assert model["features"] is None and model["feature_means"] is None
    assert status == 200, out
    seen = np.array(out["input"])
    assert seen.shape == (8, 8) and seen.min() >= 0 and 100 < seen.max() <= 255
    # framed as small digits are (the stroke's box fills the 8x8 frame), as predict frames a file
    np.testing.assert_allclose(seen, image_from_bytes(png, side=8), atol=1e-9)
    expected = loaded.predict_proba(seen.reshape(1, 64) * (16 / 255))[0]
    assert out["probabilities"] == pytest.approx(expected.tolist(), abs=1e-9)
    # and not the 0..255 levels as they are (the number the old scale would have given)
    assert not np.allclose(out["probabilities"], loaded.predict_proba(seen.reshape(1, 64))[0], atol=1e-3)


def test_an_8x8_models_input_gradient_is_an_image_matching_finite_differences(tmp_path):
    """∂L/∂x of 8x8 pixels (0..255) is an 8x8 image, through the levels' scaling and the
    model's standardisation: it matches central differences of the loaded model's loss."""
    loaded = digits_model(tmp_path / "m.safetensors")
    pixels = np.zeros((8, 8))
    pixels[1:7, 3:5] = 255.0
    pixels[2, 2] = 120.0
    with running_server(tmp_path / "m.safetensors") as server:
        status, out, _ = request(server, "POST", "/api/backward", {"pixels": pixels.tolist(), "target": 7})
        wrong = request(server, "POST", "/api/backward", {"pixels": np.zeros((28, 28)).tolist()})
    assert status == 200, out
    assert wrong[0] == 400 and "8x8" in wrong[1]["error"]
    grad = np.array(out["input_gradient"])
    assert grad.shape == (8, 8) and np.abs(grad).max() > 0

    def loss(p):
        return float(loaded.loss_and_gradients(dp.CrossEntropy(), p.reshape(1, 64) * (16 / 255), np.array([7]),
                                               train=False))

    assert out["loss"] == pytest.approx(loss(pixels), rel=1e-9)
    h = 1e-3
    for r, c in [(2, 2), (3, 3), (0, 0), (5, 6)]:
        up, down = pixels.copy(), pixels.copy()
        up[r, c] += h
        down[r, c] -= h
        assert grad[r, c] == pytest.approx((loss(up) - loss(down)) / (2 * h), rel=1e-5, abs=1e-10)


def test_a_64_column_table_standardised_per_column_keeps_the_form(tmp_path):
    """A square width alone is no image: 64 columns with a σ each are a table's."""
    rng = np.random.default_rng(0)
    mean, std = rng.normal(50, 20, 64), rng.uniform(1, 30, 64)
    net = dp.Network([dp.Standardization(mean, std), *dp.mlp([64, 8, 3], seed=0, dtype="float64").layers],
                     dtype="float64")
    dp.save(net, tmp_path / "t.safetensors", loss=dp.CrossEntropy())
    with running_server(tmp_path / "t.safetensors") as server:
        model = request(server, "GET", "/api/model")[1]
        drawn = request(server, "POST", "/api/predict", {"png": base64.b64encode(stroke_png()).decode()})
        typed = request(server, "POST", "/api/backward", {"inputs": mean.tolist()})
    assert model["image_input"] is False and model["image_side"] is None and len(model["features"]) == 64
    assert model["feature_means"] == pytest.approx(mean.tolist())
    assert drawn[0] == 400 and "not a 28x28 image nor a smaller square one" in drawn[1]["error"]
    assert typed[0] == 200 and np.array(typed[1]["input_gradient"]).shape == (64,)
