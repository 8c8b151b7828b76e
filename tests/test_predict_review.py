"""Pictures a user gives ``predict``: 16-bit PNGs and photos with an EXIF orientation come
out as the same 28x28 inputs as their plain 8-bit, upright copies; images given to a model
whose training inputs lay in [0, 1] reach it on that scale."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from deltaprop.images import image_from_bytes, load_image


def _levels_8():
    """A gray ramp behind a dark bar: many gray levels, a light background."""
    a = np.tile(np.linspace(120, 255, 60), (60, 1))
    a[10:50, 25:35] = np.linspace(0, 90, 40)[:, None]
    return np.rint(a).astype(np.uint8)


@pytest.mark.parametrize("style", ["digit", "fashion", "as-is"])
def test_a_16_bit_png_gives_the_inputs_of_its_8_bit_copy(tmp_path, style):
    eight = _levels_8()
    Image.fromarray(eight).save(tmp_path / "eight.png")
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    a, b = load_image(tmp_path / "sixteen.png", style), load_image(tmp_path / "eight.png", style)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # not every level above 255 clipped to white


def _upright():
    img = Image.new("L", (80, 60), 255)
    ImageDraw.Draw(img).rectangle((30, 8, 44, 52), fill=0)  # a tall bar: rotated, it lies flat
    ImageDraw.Draw(img).rectangle((30, 8, 60, 16), fill=0)  # a flag on top, so a turn by 180 shows too
    return img


@pytest.mark.parametrize(("orientation", "stored"), [(6, Image.Transpose.ROTATE_90), (3, Image.Transpose.ROTATE_180),
                                                     (8, Image.Transpose.ROTATE_270)])
@pytest.mark.parametrize("style", ["digit", "as-is"])
def test_a_photo_is_read_upright_by_its_exif_orientation(tmp_path, orientation, stored, style):
    up = _upright()
    up.save(tmp_path / "up.png")
    exif = Image.Exif()
    exif[0x0112] = orientation  # how a camera says "turn me to show me"
    up.transpose(stored).save(tmp_path / "photo.png", exif=exif.tobytes())
    want = load_image(tmp_path / "up.png", style)
    assert np.array_equal(load_image(tmp_path / "photo.png", style), want)
    data = (tmp_path / "photo.png").read_bytes()
    assert np.array_equal(image_from_bytes(data, style), want)  # the page's drawings go the same way


def _train_on_unit_rows(tmp_path, *options):
    """A model trained by ``deltaprop train`` on a file of MNIST-sample digits as floats in
    [0, 1] (``auto`` scaling keeps them as they are)."""
    from cli_in_process import run_cli

    from deltaprop.data import load

    d = load("mnist-sample")
    x = (d.x_train[:300].reshape(300, -1) / 255.0).astype(np.float32)
    np.savez(tmp_path / "unit.npz", x=x, y=d.y_train[:300])
    out = tmp_path / "run"
    r = run_cli("train", "--dataset", tmp_path / "unit.npz", "--epochs", "2", "--out", out, *options, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return out / "model.safetensors"


def _zero(tmp_path):
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).ellipse((50, 25, 150, 175), outline=0, width=18)
    img.save(tmp_path / "zero.png")
    return tmp_path / "zero.png"


def _shown(line: str) -> dict[str, float]:
    inside = line.split("(probabilities ", 1)[1].rstrip(")")
    return {k: float(v) for k, v in (part.split(": ") for part in inside.split(", "))}


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
@pytest.mark.parametrize("options", [(), ("--scaling", "standardize")])
def test_an_image_reaches_a_model_of_unit_inputs_on_their_scale(tmp_path, options):
    from cli_in_process import run_cli

    import deltaprop as dp

    model = _train_on_unit_rows(tmp_path, *options)
    image = _zero(tmp_path)
    r = run_cli("predict", model, image, "--images", "digit", "--top", "10")
    assert r.returncode == 0, r.stderr
    assert "0 to 1" in r.stderr  # said, not done silently
    net = dp.load(model)
    want = net.predict_proba((load_image(image, "digit").reshape(1, 784) / 255.0).astype(net.dtype))[0]
    shown = _shown(r.stdout.strip())
    assert shown == pytest.approx({str(c): float(p) for c, p in enumerate(want)}, abs=6e-5)


@pytest.mark.parametrize(("low", "high"), [(150, 235), (200, 250)])
def test_a_photo_of_unevenly_lit_paper_gives_the_inputs_of_a_clean_drawing(tmp_path, low, high):
    clean = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(clean).ellipse((50, 25, 150, 175), outline=0, width=18)
    clean.save(tmp_path / "clean.png")
    ink = np.asarray(clean) < 128
    paper = np.tile(np.linspace(low, high, 200), (200, 1))  # lit from one side
    Image.fromarray(np.where(ink, 40.0, paper).astype(np.uint8)).save(tmp_path / "photo.png")
    photo, want = load_image(tmp_path / "photo.png"), load_image(tmp_path / "clean.png")
    assert np.abs(photo.astype(int) - want.astype(int)).max() <= 2  # the paper's shading is not ink


def test_a_digit_touching_the_edges_keeps_its_ink(tmp_path):
    img = Image.new("L", (60, 60), 255)
    ImageDraw.Draw(img).rectangle((25, 0, 34, 59), fill=0)  # a 1 cut by the photo's top and bottom edges
    img.save(tmp_path / "one.png")
    out = load_image(tmp_path / "one.png")
    assert out.max() == 255 and (out > 200).sum() >= 20 * 3


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_rows_already_divided_by_255_are_refused_for_a_model_that_divides_them(tmp_path):
    from cli_in_process import run_cli

    from deltaprop.data import load

    d = load("mnist-sample")
    x = d.x_train[:300].reshape(300, -1)
    np.savez(tmp_path / "levels.npz", x=x, y=d.y_train[:300])  # uint8 levels: auto scaling divides by 255
    r = run_cli("train", "--dataset", tmp_path / "levels.npz", "--epochs", "1", "--out", tmp_path / "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    np.save(tmp_path / "raw.npy", x[:3])
    np.save(tmp_path / "scaled.npy", x[:3] / 255.0)
    ok = run_cli("predict", tmp_path / "run", tmp_path / "raw.npy")
    assert ok.returncode == 0 and ok.stdout.count("class ") == 3
    bad = run_cli("predict", tmp_path / "run", tmp_path / "scaled.npy")
    assert bad.returncode != 0 and bad.stdout == ""
    assert "divides its raw inputs by 255" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_the_served_page_gives_a_model_of_unit_inputs_its_drawing_on_their_scale(tmp_path):
    """As predict: the page's 0..255 drawing reaches a model trained on a file of values in
    [0, 1] as values in [0, 1], not as levels 255 times too large."""
    import deltaprop as dp
    from deltaprop.serve.model import ModelSource

    model = _train_on_unit_rows(tmp_path)
    pixels = load_image(_zero(tmp_path), "digit").astype(np.float64)
    got = ModelSource(model).forward(pixels)
    net = dp.load(model)
    want = net.predict_proba((pixels.reshape(1, 784) / 255.0).astype(net.dtype))[0]
    assert got["probabilities"] == pytest.approx([float(p) for p in want], abs=1e-6)
