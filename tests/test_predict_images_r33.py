"""`deltaprop predict MODEL IMAGE` for a model of square images smaller than 28x28 (scikit-learn's
8x8 digits, 0..16): the image becomes the inputs the served page makes of a drawing (the same
code), and a model whose inputs are no square image refuses an image in one line."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from cli_in_process import run_cli
from PIL import Image, ImageDraw
from test_serve_http import request, running_server

import deltaprop as dp
from deltaprop.images import load_image
from deltaprop.serve.payload import reduce_image


def _digits_model(path, *, dataset="digits.csv", scaling="auto"):
    """An 8x8 model as `deltaprop train --dataset digits.csv` makes one: one σ for all pixels,
    μ within 0..16 (a white pixel is 16), the run's config recorded; with ``scaling="none"``
    raw inputs, no input layer."""
    rng = np.random.default_rng(0)
    scaler = [dp.Standardization(rng.uniform(0, 8, 64), np.array([6.0]))] if scaling == "auto" else []
    net = dp.Network([*scaler, *dp.mlp([64, 12, 10], seed=0, dtype="float64").layers], dtype="float64")
    dp.save(net, path, class_names=[str(i) for i in range(10)],
            extra={"config": {"dataset": dataset, "scaling": scaling}, "dataset": dataset})
    return dp.load(path)


def _seven(path):
    img = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(img).line([(20, 25), (100, 25), (45, 140)], fill=0, width=12)
    img.save(path)
    return path


def _shown(line: str) -> dict[str, float]:
    inside = line.split("(probabilities ", 1)[1].rstrip(")")
    return {k: float(v) for k, v in (part.split(": ") for part in inside.split(", "))}


def test_an_8x8_model_reads_an_image_as_the_served_page_reads_a_drawing(tmp_path):
    """It was refused ("images become 28x28 = 784 inputs"); now the image is read as a
    digit, reduced to 8x8 and scaled to 0..16, and predict prints what the page answers."""
    net = _digits_model(tmp_path / "m.safetensors")
    image = _seven(tmp_path / "seven.png")
    r = run_cli("predict", tmp_path / "m.safetensors", image, "--top", "10")
    assert r.returncode == 0, r.stderr
    assert "8x8" in r.stderr and "0 to 16" in r.stderr  # the reduction and the levels are said
    assert "does not record" not in r.stderr
    shown = _shown(r.stdout.strip())
    want = net.predict_proba(load_image(image, "digit", side=8).reshape(1, 64) * (16 / 255))[0]
    assert shown == pytest.approx({str(c): float(p) for c, p in enumerate(want)}, abs=6e-5)
    with running_server(tmp_path / "m.safetensors") as server:
        status, out, _ = request(server, "POST", "/api/predict", {"png": base64.b64encode(image.read_bytes()).decode()})
    assert status == 200, out
    assert shown == pytest.approx({str(c): p for c, p in enumerate(out["probabilities"])}, abs=6e-5)


def test_an_image_style_asked_for_is_taken_for_an_8x8_model(tmp_path):
    net = _digits_model(tmp_path / "m.safetensors")
    image = _seven(tmp_path / "seven.png")
    r = run_cli("predict", tmp_path / "m.safetensors", image, "--images", "as-is", "--top", "10")
    assert r.returncode == 0, r.stderr
    want = net.predict_proba(reduce_image(load_image(image, "as-is"), 8).reshape(1, 64) * (16 / 255))[0]
    assert _shown(r.stdout.strip()) == pytest.approx({str(c): float(p) for c, p in enumerate(want)}, abs=6e-5)


def test_an_8x8_npy_image_is_one_row_of_an_8x8_model(tmp_path):
    net = _digits_model(tmp_path / "m.safetensors")
    pixels = np.zeros((8, 8))
    pixels[1:7, 3:5] = 16
    np.save(tmp_path / "one.npy", pixels)
    r = run_cli("predict", tmp_path / "m.safetensors", tmp_path / "one.npy", "--top", "10")
    assert r.returncode == 0, r.stderr
    want = net.predict_proba(pixels.reshape(1, 64))[0]
    assert _shown(r.stdout.strip()) == pytest.approx({str(c): float(p) for c, p in enumerate(want)}, abs=6e-5)


@pytest.mark.parametrize("n, std", [(10, [1.0]), (64, "per-feature")])
def test_a_model_whose_inputs_are_no_square_image_refuses_an_image_in_one_line(tmp_path, n, std):
    rng = np.random.default_rng(1)
    sigma = rng.uniform(1, 30, n) if std == "per-feature" else np.array(std)
    net = dp.Network([dp.Standardization(rng.normal(50, 20, n), sigma),
                      *dp.mlp([n, 4, 3], seed=0, dtype="float64").layers], dtype="float64")
    dp.save(net, tmp_path / "t.safetensors")
    r = run_cli("predict", tmp_path / "t.safetensors", _seven(tmp_path / "seven.png"))
    assert r.returncode != 0 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a square image" in lines[0] and ".npy" in lines[0], r.stderr


def test_a_model_that_records_no_input_range_says_which_levels_it_gets(tmp_path):
    """`--scaling none` on a file of 0..16 digits leaves no input layer and no range in the
    file: the image's 0..255 levels reached the model silently. Now predict says so, and
    --levels 16 scales them to the model's levels."""
    net = _digits_model(tmp_path / "m.safetensors", scaling="none")
    image = _seven(tmp_path / "seven.png")
    r = run_cli("predict", tmp_path / "m.safetensors", image, "--top", "10")
    assert r.returncode == 0, r.stderr
    assert "does not record the range" in r.stderr and "--levels" in r.stderr
    reduced = load_image(image, "digit", side=8).reshape(1, 64)
    as_is = net.predict_proba(reduced)[0]
    assert _shown(r.stdout.strip()) == pytest.approx({str(c): float(p) for c, p in enumerate(as_is)}, abs=6e-5)
    r = run_cli("predict", tmp_path / "m.safetensors", image, "--top", "10", "--levels", "16")
    assert r.returncode == 0, r.stderr
    assert "does not record" not in r.stderr and "0 to 16" in r.stderr
    want = net.predict_proba(reduced * (16 / 255))[0]
    assert _shown(r.stdout.strip()) == pytest.approx({str(c): float(p) for c, p in enumerate(want)}, abs=6e-5)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "x"])
def test_levels_must_be_a_positive_number(tmp_path, value):
    _digits_model(tmp_path / "m.safetensors", scaling="none")
    r = run_cli("predict", tmp_path / "m.safetensors", _seven(tmp_path / "seven.png"), "--levels", value)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.strip().splitlines()[-1].startswith("deltaprop: error: --levels must be"), r.stderr
