"""Drawings and image files for models of small digits (8x8, as scikit-learn's) are framed
as those digits are: the digit's box fills the frame (deltaprop.images.to_digit_frame).
MNIST's framing (a 20x20 box in 28x28) reduced to 8x8 left a 6x6 digit, and a model that
read scikit-learn's digits at 0.99 read the same digits as images at about 0.26."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

import deltaprop as dp
from deltaprop import images


def _png(gray: np.ndarray, size=(80, 80)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gray.astype(np.uint8)).resize(size, Image.BILINEAR).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.slow  # about 0.6 s in the quick suite on 2 cores
def test_scikit_learns_digits_drawn_as_images_are_read_as_the_model_reads_them():
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.images.reshape(-1, 64).astype(np.float32) / 16, d.target
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:1400], order[1400:]
    net = dp.mlp([64, 64, 10], activation="relu", seed=0)
    dp.fit(net, X[train], y[train], loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.01), epochs=30, batch_size=32,
           seed=0, diagnostics=False)
    assert np.mean(net.predict(X[test]) == y[test]) > 0.95
    # black ink on white paper, ten times larger: what a user photographs or draws
    pngs = [_png(255 - d.images[i] * (255 / 16)) for i in test]
    rows = np.stack([images.image_from_bytes(p, "digit", side=8).reshape(64) for p in pngs]) / 255
    assert np.mean(net.predict(rows.astype(np.float32)) == y[test]) > 0.8  # 0.26 with MNIST's framing


@pytest.mark.parametrize("line, tall", [([(40, 20), (44, 180)], True), ([(20, 100), (180, 104)], False)])
def test_the_digits_longer_edge_fills_the_frame_and_it_is_centred(line, tall):
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).line(line, fill=0, width=14)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    small = images.image_from_bytes(buf.getvalue(), "digit", side=8)
    assert small.shape == (8, 8) and small.max() <= 255 and small.min() >= 0
    ink = small > 10
    along = ink.any(axis=1) if tall else ink.any(axis=0)
    across = np.flatnonzero(ink.any(axis=0) if tall else ink.any(axis=1))
    assert along.all()  # from edge to edge
    assert across.min() >= 2 and across.max() <= 5  # a thin stroke in the middle


def test_a_file_and_a_drawing_of_28x28_models_are_framed_as_before(tmp_path):
    img = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(img).line([(20, 25), (100, 25), (45, 140)], fill=0, width=12)
    img.save(tmp_path / "seven.png")
    gray = np.asarray(img, dtype=np.float64)
    np.testing.assert_array_equal(images.load_image(tmp_path / "seven.png"), images.to_mnist(gray))
    np.testing.assert_array_equal(images.image_from_bytes((tmp_path / "seven.png").read_bytes()), images.to_mnist(gray))
    # other styles at another side are their 28x28 image reduced, as before
    np.testing.assert_allclose(images.load_image(tmp_path / "seven.png", "fashion", side=8),
                               images.reduce_image(images.to_fashion_mnist(gray), 8))
