"""`deltaprop predict MODEL IMAGE` on images as people make them: a digit on paper (dark ink
on light), white ink on a transparent background, an animated GIF, a phone's sideways JPEG,
a folder, a pattern the shell left unexpanded, an empty file, an image above the pixel limit.
Predict says what it did to each image (inverted, laid on paper, first frame, turned
upright) on stderr, and reads the digit the way its white-on-black twin is read."""

from __future__ import annotations

import numpy as np
import pytest
from cli_in_process import run_cli
from PIL import Image, ImageDraw

import deltaprop as dp
import deltaprop.images


@pytest.fixture
def model(tmp_path):
    """A 784-input model of 0..255 levels (it divides them by 255 itself), read as MNIST's digits."""
    path = tmp_path / "m.safetensors"
    dp.save(dp.mlp([784, 16, 10], seed=0, dtype="float64"), path, input_scaling={"kind": "unit", "max": 255},
            class_names=[str(i) for i in range(10)], extra={"config": {"dataset": "mnist"}})
    return path


def _seven(mode="L", size=(120, 160), paper=0, ink=255):
    """A 7 drawn with a thick pen: white on black unless told otherwise."""
    img = Image.new(mode, size, paper)
    w, h = size
    ImageDraw.Draw(img).line([(w * 0.2, h * 0.15), (w * 0.8, h * 0.15), (w * 0.4, h * 0.85)], fill=ink,
                             width=max(2, w // 10))
    return img


def _predict(model, *images):
    r = run_cli("predict", model, *images, "--top", "10")
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.parametrize("mode, paper, ink", [("RGBA", (0, 0, 0, 0), (255, 255, 255, 255)),
                                              ("RGBA", (255, 255, 255, 0), (255, 255, 255, 255)),
                                              ("LA", (0, 0), (255, 255))])
def test_white_ink_on_a_transparent_background_is_the_digit(tmp_path, model, mode, paper, ink):
    """It was laid on white paper, where white ink vanished: 'the image is blank'. Now a
    transparent background under light ink is black, and the answer is the opaque twin's."""
    _seven().save(tmp_path / "twin.png")
    _seven(mode, paper=paper, ink=ink).save(tmp_path / "alpha.png")
    r = _predict(model, tmp_path / "alpha.png")
    assert r.stdout == _predict(model, tmp_path / "twin.png").stdout
    assert "alpha.png: its transparent pixels taken as black, its opaque ones being light" in r.stderr


def test_black_ink_on_a_transparent_background_is_still_read_on_white_paper(tmp_path, model):
    _seven().save(tmp_path / "twin.png")
    _seven("RGBA", paper=(0, 0, 0, 0), ink=(0, 0, 0, 255)).save(tmp_path / "alpha.png")
    r = _predict(model, tmp_path / "alpha.png")
    assert r.stdout == _predict(model, tmp_path / "twin.png").stdout
    assert "alpha.png: its transparent pixels taken as white paper; dark ink on light paper, inverted" in r.stderr


def test_a_digit_on_paper_is_said_to_be_inverted_and_framed(tmp_path, model):
    """Inverting a black-on-white photo, fitting and centring it were done without a word."""
    _seven(size=(200, 300)).save(tmp_path / "white_on_black.png")
    _seven(size=(200, 300), paper=255, ink=0).save(tmp_path / "paper.png")
    paper, dark = _predict(model, tmp_path / "paper.png"), _predict(model, tmp_path / "white_on_black.png")
    assert paper.stdout == dark.stdout
    assert "cropped to the ink, fitted in 20x20 and centred by mass in 28x28" in paper.stderr
    assert "paper.png: dark ink on light paper, inverted to white ink on black" in paper.stderr
    assert "inverted" not in dark.stderr and "cropped to the ink" in dark.stderr


def test_as_is_says_a_light_background_is_kept(tmp_path, model):
    _seven(paper=255, ink=0).save(tmp_path / "paper.png")
    r = _predict(model, tmp_path / "paper.png", "--images", "as-is")
    assert "only resized to 28x28" in r.stderr
    assert "paper.png: a light background, kept by --images as-is" in r.stderr


def test_an_animated_gif_says_only_its_first_frame_is_read(tmp_path, model):
    first, second = _seven(paper=255, ink=0), Image.new("L", (120, 160), 255)
    ImageDraw.Draw(second).ellipse((20, 20, 100, 140), outline=0, width=12)
    first.save(tmp_path / "anim.gif", save_all=True, append_images=[second], duration=300, loop=0)
    first.save(tmp_path / "still.gif")
    r = _predict(model, tmp_path / "anim.gif")
    assert r.stdout == _predict(model, tmp_path / "still.gif").stdout
    assert "anim.gif: only its first frame of 2 read" in r.stderr


def test_a_sideways_phone_photo_is_said_to_be_turned_upright(tmp_path, model):
    upright = _seven("RGB", paper=(255, 255, 255), ink=(0, 0, 0))
    upright.save(tmp_path / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter left: shown turned back right
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    r = _predict(model, tmp_path / "phone.jpg")
    assert "phone.jpg: turned upright by its EXIF orientation" in r.stderr
    assert r.stdout.split()[1] == _predict(model, tmp_path / "upright.png").stdout.split()[1]


def test_a_folder_says_how_to_give_its_images(tmp_path, model):
    (tmp_path / "digits").mkdir()
    _seven().save(tmp_path / "digits" / "a.png")
    r = run_cli("predict", model, tmp_path / "digits")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    assert f"is a folder; give the images in it as files, e.g. {tmp_path / 'digits' / '*.png'}" in r.stderr


def test_a_pattern_that_matched_nothing_is_named_as_one(tmp_path, model):
    r = run_cli("predict", model, tmp_path / "*.PNG")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    assert "*.PNG: no file matches this pattern" in r.stderr


def test_an_empty_file_is_said_to_be_no_image(tmp_path, model):
    (tmp_path / "empty.png").write_bytes(b"")
    r = run_cli("predict", model, tmp_path / "empty.png")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    assert "empty.png is empty (0 bytes), not an image" in r.stderr


def test_a_jpeg_above_the_pixel_limit_is_decoded_smaller(tmp_path, model, monkeypatch):
    """A 48-megapixel phone photo was refused as too large; a JPEG is now decoded at 1/2, 1/4
    or 1/8 of its side (scaled here: a 300x200 photo under a limit of 20,000 pixels)."""
    monkeypatch.setattr(deltaprop.images, "MAX_PIXELS", 20_000)
    _seven("RGB", size=(300, 200), paper=(255, 255, 255), ink=(0, 0, 0)).save(tmp_path / "big.jpg", quality=95)
    r = _predict(model, tmp_path / "big.jpg")
    assert "big.jpg: its 300x200 pixels decoded at 150x100" in r.stderr
    assert r.stdout.startswith("class ")


def test_a_png_above_the_pixel_limit_says_how_to_make_it_fit(tmp_path, model, monkeypatch):
    monkeypatch.setattr(deltaprop.images, "MAX_PIXELS", 20_000)
    _seven(size=(300, 200)).save(tmp_path / "big.png")
    r = run_cli("predict", model, tmp_path / "big.png")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    assert "300x200 pixels is too large (limit 20,000); save it smaller" in r.stderr


def test_white_ink_on_transparent_reaches_the_served_page_as_the_digit():
    """The served page decodes what a browser sends with the same code."""
    import io

    from deltaprop.images import image_from_bytes

    def png(img):
        out = io.BytesIO()
        img.save(out, format="PNG")
        return out.getvalue()

    alpha = image_from_bytes(png(_seven("RGBA", paper=(0, 0, 0, 0), ink=(255, 255, 255, 255))))
    assert np.array_equal(alpha, image_from_bytes(png(_seven())))


def _sheet_on_desk(angle=0):
    """A sheet of paper (235) with a dark 7 on it, photographed on a darker desk (40), and the sheet alone."""
    sheet = Image.new("L", (240, 280), 235)
    ImageDraw.Draw(sheet).line([(40, 50), (200, 50), (90, 240)], fill=10, width=22)
    desk = Image.new("L", (420, 420), 40)
    desk.paste(sheet.rotate(angle, expand=True, fillcolor=40), (80, 60))
    return desk, sheet


@pytest.mark.parametrize("angle", [0, 4])
def test_a_sheet_photographed_on_a_darker_desk_is_read_inside_the_sheet(tmp_path, model, angle):
    """The light sheet was read as a white digit on the dark desk: a filled block holding a
    dark 7, answered without a word. Now the sheet's inside is read, as the sheet alone is
    (upright: the same levels; turned 4 degrees: the same class)."""
    desk, sheet = _sheet_on_desk(angle)
    desk.save(tmp_path / "desk.png")
    sheet.rotate(angle, expand=True, fillcolor=235).save(tmp_path / "sheet.png")
    r, alone = _predict(model, tmp_path / "desk.png"), _predict(model, tmp_path / "sheet.png")
    assert r.stdout == alone.stdout if angle == 0 else r.stdout.split()[1] == alone.stdout.split()[1]
    askew = " lying 4 degrees askew: straightened and" if angle else ""
    assert f"desk.png: a light sheet on a darker surface,{askew} read inside the sheet; dark ink on light paper" in r.stderr


def test_a_desk_along_an_edge_of_the_photo_gets_a_note_to_crop_it(tmp_path, model):
    """A sheet filling the photo but for a strip of desk on the left: the strip, made white
    with the ink, joined the digit; the answer came without a word."""
    photo = Image.new("L", (400, 400), 235)
    ImageDraw.Draw(photo).line([(130, 100), (300, 100), (190, 320)], fill=10, width=22)
    ImageDraw.Draw(photo).rectangle((0, 0, 60, 399), fill=40)
    photo.save(tmp_path / "strip.png")
    r = _predict(model, tmp_path / "strip.png")
    assert ("strip.png: dark ink on light paper, inverted to white ink on black; the ink runs along its whole left "
            "edge: if that is the surface around a sheet of paper, crop the photo to the paper") in r.stderr


def test_mnist_digits_are_read_as_they_were(tmp_path, model):
    """No MNIST-sample digit is taken for a sheet, nor gets a note of its own: only how all are framed."""
    from deltaprop.data import load

    digits = load("mnist-sample").x_test.reshape(-1, 28, 28)[:40].astype(np.uint8)
    for i, digit in enumerate(digits):
        Image.fromarray(digit).save(tmp_path / f"{i}.png")
    r = _predict(model, *(tmp_path / f"{i}.png" for i in range(len(digits))))
    assert r.stderr.splitlines() == ["note: images are made as MNIST's digits were: cropped to the ink, fitted in "
                                     "20x20 and centred by mass in 28x28, white ink on black"]
