"""Images to MNIST-like inputs: inverted, cropped, fitted in 20x20, centred by mass."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

import deltaprop as dp
from deltaprop.images import load_digit, to_mnist


def _draw(tmp_path, name, *, size=(200, 120), bg="white", ink="black", box=(20, 30, 60, 100), mode="RGB"):
    img = Image.new(mode, size, bg)
    ImageDraw.Draw(img).rectangle(box, fill=ink)
    path = tmp_path / name
    img.save(path)
    return path


def _centre_of_mass(a):
    yy, xx = np.indices(a.shape)
    m = a.astype(float).sum()
    return (yy * a).sum() / m, (xx * a).sum() / m


@pytest.mark.parametrize("name", ["d.png", "d.jpg"])
def test_light_background_is_inverted_fitted_and_centred(tmp_path, name):
    out = load_digit(_draw(tmp_path, name))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    rows = np.flatnonzero((out > 40).any(axis=1))
    cols = np.flatnonzero((out > 40).any(axis=0))
    assert 18 <= rows[-1] - rows[0] + 1 <= 21  # the taller side fills 20 pixels
    assert cols[-1] - cols[0] + 1 < rows[-1] - rows[0] + 1  # aspect kept
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1
    assert out[0, 0] == 0 and out.max() > 200  # white ink on black


def test_dark_background_is_kept(tmp_path):
    a = load_digit(_draw(tmp_path, "dark.png", bg="black", ink="white", mode="L"))
    b = load_digit(_draw(tmp_path, "light.png", bg="white", ink="black", mode="L"))
    assert np.array_equal(a, b)


def test_transparent_background_counts_as_paper(tmp_path):
    img = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(25, 5), (25, 45)], fill=(0, 0, 0, 255), width=5)
    img.save(tmp_path / "t.png")
    out = load_digit(tmp_path / "t.png")
    assert out.max() > 200 and out[0, 0] == 0


def test_errors(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(dp.FileFormatError, match="cannot decode"):
        load_digit(tmp_path / "junk.png")
    with pytest.raises(dp.FileFormatError, match="no such file"):
        load_digit(tmp_path / "none.png")
    with pytest.raises(dp.DataError, match="blank"):
        to_mnist(np.full((10, 10), 7.0))
