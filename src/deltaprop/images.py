"""Photos and drawings → 28x28 inputs made the way a model's training images were made.

Three styles (:data:`STYLES`), each giving uint8 0..255 like the dataset files, so a model's
stored input scaling applies unchanged:

* ``"digit"``, MNIST's preprocessing: white digit on black; the digit's bounding box is
  scaled to fit 20x20 (keeping its aspect ratio), then placed in a 28x28 frame so that its
  centre of mass sits where MNIST's digits have theirs. We do the same: grayscale, invert
  when the background is light (judged by the border pixels), crop to the ink, resize,
  centre by mass.
* ``"fashion"``, Fashion-MNIST's: the product trimmed to its extent, its longer edge
  resized to 28, the shorter one padded to 28 with the product in the middle, light on
  dark. Its gray levels are kept (a dark shirt stays dark), where ``"digit"`` stretches
  the ink to full white.
* ``"as-is"``: the gray levels resized to 28x28, nothing else; for images already made
  like the training data (a saved test image, say).

Transparent pixels are laid on white paper, or on black under light ink (a white digit on a
transparent background); a digit photographed on a sheet lying on a darker desk is read
inside the sheet, straightened first where the sheet lies askew, and a ruled or squared
page's lines are left out (:mod:`deltaprop.sheet`).
:func:`read_image` says in words what was done to an image beyond its
style's framing (inverted, laid on paper, turned upright, only its first frame read), as
``deltaprop predict`` prints it.

A model of smaller square images (:func:`model_image_side`: 8x8 digits, say) gets the
28x28 image reduced to its side (:func:`reduce_image`), and the levels of a white pixel
in its training inputs (:func:`model_levels_top`: the top of the range its file records, where it
records one) say how 0..255 is scaled: ``deltaprop predict`` and ``deltaprop serve`` both make their
inputs with these.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, FileFormatError

__all__ = ["DATASET_STYLES", "IMAGE_SIDE", "MAX_PIXELS", "STYLES", "ImageRead", "digit_from_bytes", "image_from_bytes",
           "image_axes", "image_planes", "input_shape_words", "levels_recorded", "load_digit", "load_image",
           "model_image_side", "model_levels_top", "read_image", "read_shaped_image",
           "reduce_image", "shaped_image_from_bytes", "style_for"]

#: Refuse images with more pixels than this before decoding them (decompression bombs).
MAX_PIXELS = 40_000_000
#: Refuse image files bigger than this before opening them.
MAX_IMAGE_BYTES = 256 << 20
#: Where MNIST's digits have their centre of mass, as a 0-based row and column: the mean over
#: its 60,000 training digits is (14.00, 14.01), not the frame's geometric centre 13.5.
#: Centred at 13.5, only 17% of MNIST's own test digits came through :func:`to_mnist`
#: unchanged (68% at 14) and a trained network's accuracy on them fell from 0.94 to 0.90.
MNIST_CENTRE = 14.0
#: The side of the images every style makes; a model of smaller square images gets them reduced to its side.
IMAGE_SIDE = 28
#: Top levels a small image's pixels may run to, other than 1 and 255: scikit-learn's 8x8 digits run 0..16.
_SMALL_LEVELS = (16.0,)


def _decode(path: str | Path, source, max_pixels: int = MAX_PIXELS, *,
            shaped: tuple[int, int, int] | None = None) -> tuple[np.ndarray, list[str]]:
    """Grayscale float64 pixels (0..255) of an image read from ``source`` (an open file or
    in-memory bytes; ``path`` names it in errors), with what was done to it in words: its
    first frame, turned upright by its EXIF orientation, 16-bit levels v as v / 257 (32-bit
    integer ones too, where above 255; above 65535, v as 255 v / max), 32-bit float levels
    in [0, 1] as 255 v (others clipped to 0..255), transparent pixels laid on
    the paper :func:`_flattened` picks; the size is checked from the header before any pixel
    is decoded, and a JPEG above ``max_pixels`` is decoded at 1/2, 1/4 or 1/8 of its side.
    ``shaped``: ``(h, w, channels)`` instead, the pixels as :func:`_channels` makes them."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # pillow's warning of a large image: the limit here is checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(source)
        with opened as im:
            (width, height), notes = im.size, _shrunk_jpeg(im, max_pixels)
            if im.width * im.height > max_pixels:
                jpeg = "" if im.format == "JPEG" else " or as a JPEG"  # a JPEG was read at 1/8 of its side already
                raise FileFormatError(f"{path}: {width}x{height} pixels is too large (limit {max_pixels:,}); save "
                                      f"it smaller (a digit needs no more than 1000x1000){jpeg}")
            return _levels(path, im, notes) if shaped is None else _channels(im, shaped, notes)
    except FileFormatError:
        raise
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    except Image.DecompressionBombError as exc:  # pillow's own limit, met before the header check above
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(claimed.group(1)):,} pixels" if claimed else "its size"
        raise FileFormatError(f"{path}: {size} is too large (limit {max_pixels:,}); save it smaller "
                              "(a digit needs no more than 1000x1000)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise FileFormatError(f"{path}: cannot decode the image: {_unreadable(source, exc)}") from None


def _shrunk_jpeg(im, max_pixels: int) -> list[str]:
    """Have a JPEG of more than ``max_pixels`` pixels (a 48-megapixel phone photo) decoded
    at 1/k of its side, k = 2, 4 or 8 the least with (w/k)(h/k) within it, as its decoder
    can without decoding the whole; the note saying so, or none."""
    if im.format != "JPEG" or im.width * im.height <= max_pixels:
        return []
    k = next((k for k in (2, 4, 8) if -(-im.width // k) * -(-im.height // k) <= max_pixels), 8)
    size = im.size
    im.draft(im.mode, (-(-im.width // k), -(-im.height // k)))
    return [] if im.size == size else [f"its {size[0]}x{size[1]} pixels decoded at {im.width}x{im.height}"]


def _levels(path, im, notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """The gray levels 0..255 of the opened image ``im`` (:func:`_decode`), and ``notes``
    with what was done to it."""
    from PIL import ImageOps

    frames = getattr(im, "n_frames", 1)
    if frames > 1 and im.format != "MPO":  # a phone's JPEG holding a preview too is one photo
        notes.append(f"only its first frame of {frames} read")
    im.load()
    if im.getexif().get(0x0112, 1) in range(2, 9):
        notes.append("turned upright by its EXIF orientation")
    im = ImageOps.exif_transpose(im)  # a phone's photo stored sideways, shown upright
    if im.mode.startswith("I;16") or (im.mode == "I" and im.format == "PNG"):
        # 16-bit levels 0..65535: convert("L") would clip every level above 255 to white
        return np.asarray(im, dtype=np.float64) / 257.0, notes
    if im.mode == "I":  # 32-bit integer levels (a TIFF): 8-bit ones as they are, 16-bit ones as v / 257
        levels = np.clip(np.asarray(im, dtype=np.float64), 0.0, None)
        top = float(levels.max()) if levels.size else 0.0
        return (levels if top <= 255 else levels / 257.0 if top <= 65535 else levels * 255.0 / top), notes
    if im.mode == "F":  # 32-bit float levels: convert("L") rounds a [0, 1] image to 0 and 1
        levels = np.asarray(im, dtype=np.float64)
        if not np.isfinite(levels).all():
            raise FileFormatError(f"{path}: some pixels are NaN or infinite, not gray levels")
        unit = levels.size and levels.min() >= 0 and levels.max() <= 1  # a float image's [0, 1]
        return np.clip(levels * 255.0 if unit else levels, 0.0, 255.0), notes
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        im = _flattened(im, notes)
    return np.asarray(im.convert("L"), dtype=np.float64), notes


#: The pillow mode of an image of each count of channels.
_CHANNEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _channels(im, shaped: tuple[int, int, int], notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """The opened image ``im`` as float64 ``(h, w, c)`` levels 0..255 of ``shaped``'s
    ``(h, w, c)``: its first frame, upright, in c channels (grey, grey and alpha, RGB,
    RGBA), resized to w×h (each pixel the mean of the area it covers) where it is not."""
    from PIL import Image, ImageOps

    h, w, c = shaped
    frames = getattr(im, "n_frames", 1)
    if frames > 1 and im.format != "MPO":
        notes.append(f"only its first frame of {frames} read")
    im.load()
    im = ImageOps.exif_transpose(im).convert(_CHANNEL_MODES[c])
    if im.size != (w, h):
        notes.append(f"its {im.width}x{im.height} pixels resized to the model's {w}x{h}")
        im = im.resize((w, h), Image.Resampling.BOX)
    return np.asarray(im, dtype=np.float64).reshape(h, w, c), notes


def _flattened(im, notes: list[str]):
    """An image with transparency laid on paper: white under dark ink (the paper a drawing
    on a transparent background is read on), black under light ink; the ink is light when
    the colours of the pixels it covers (alpha ≥ 128, or any alpha above 0) are one gray
    (their 10th to 90th percentile within 64 levels, as where the alpha alone draws the
    digit) and that gray's mean is above 127.5. Laid on white, white ink vanished."""
    from PIL import Image

    rgba = im.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"))
    if alpha.min() == 255:
        return rgba.convert("RGB")
    gray = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.float64)
    covered = gray[alpha >= 128] if (alpha >= 128).any() else gray[alpha > 0]
    light = bool(covered.size) and float(np.ptp(np.percentile(covered, [10, 90]))) <= 64 and covered.mean() > 127.5
    notes.append("its transparent pixels taken as black, its opaque ones being light" if light
                 else "its transparent pixels taken as white paper")
    paper = Image.new("RGBA", rgba.size, (0, 0, 0, 255) if light else (255, 255, 255, 255))
    return Image.alpha_composite(paper, rgba).convert("RGB")


def _unreadable(source, exc: Exception) -> str:
    """Why pillow could not read ``source``, in words (pillow's own message names the
    Python object it read from, which says nothing to the reader), and what to do."""
    try:
        source.seek(0)
        head = source.read(8)
    except (OSError, ValueError):
        head = b""
    detail = re.sub(r"\s*<[^<>]*>", "", str(exc)).strip()
    known = "" if type(exc).__name__ == "UnidentifiedImageError" or not detail else f" ({detail})"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return f"it starts as a PNG but is truncated or damaged{known}; save the image again as a PNG file"
    if type(exc).__name__ == "UnidentifiedImageError":
        return "it is not a readable image (a truncated file, or not an image format); use a PNG or JPEG file"
    return f"it is truncated or damaged{known}; use a whole PNG or JPEG file"


def _gray(gray: np.ndarray) -> np.ndarray:
    """The image as float64, checked to be a non-empty 2-D grayscale array."""
    g = np.asarray(gray, dtype=np.float64)
    if g.ndim != 2 or g.size == 0:
        raise DataError(f"expected a 2-D grayscale image, got shape {g.shape}")
    return g


def _border(g: np.ndarray) -> np.ndarray:
    """The pixels along the four edges of a 2-D array."""
    return np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])


def _light_background(gray: np.ndarray, style: str) -> bool:
    """Whether ``style`` finds the image's background light, as it decides to invert it: a
    digit's when the border's median is above the middle of its levels, a product's (and an
    as-is image's) when it is above 127.5."""
    g = _gray(gray)
    if style == "digit":
        lo, hi = float(g.min()), float(g.max())
        return hi - lo >= 1e-9 and (float(np.median(_border(g))) - lo) / (hi - lo) > 0.5
    return float(np.median(_border(g))) > 127.5


#: What each style does to an image of a light background, in words.
_LIGHT_BACKGROUND = {"digit": "dark ink on light paper, inverted to white ink on black",
                     "fashion": "a light background, inverted to dark",
                     "as-is": "a light background, kept by --images as-is (MNIST's and Fashion-MNIST's are dark)"}


def _ink_levels(gray: np.ndarray) -> np.ndarray:
    """A 2-D grayscale array (any size, any range) as levels in [0, 1] of white ink on
    black: levels stretched to [0, 1], inverted when the border is mostly light, and the
    paper's level p (the border's 90th percentile, or the median level where that is higher
    and below 0.5; at most 0.5) made black:
    g ← max(0, (g − p) / (1 − p))."""
    g = _gray(gray)
    lo, hi = float(g.min()), float(g.max())
    if hi - lo < 1e-9:
        raise DataError("the image is blank (one colour; transparent pixels count as paper); draw a digit on it")
    g = (g - lo) / (hi - lo)
    border = _border(g)
    if np.median(border) > 0.5:  # light background: make the ink white
        g, border = 1.0 - g, 1.0 - border
    # the paper as black: a photo's unevenly lit paper is not ink (MNIST's background is 0)
    # or the level of most of the image where that is higher (below 0.5: not ink), as a screen
    # in dark mode inside its black bezel is: the screen was ink, and read as the digit
    middle = float(np.median(g))
    paper = min(max(float(np.percentile(border, 90)), middle if middle < 0.5 else 0.0), 0.5)
    return np.clip((g - paper) / (1.0 - paper), 0.0, 1.0) if paper > 0 else g


def _digit_box(gray: np.ndarray, threshold: float) -> np.ndarray:
    """The digit's ink box of a 2-D grayscale array (:func:`_ink_levels`): the pixels
    above ``threshold``."""
    g = _ink_levels(gray)
    ink = g > threshold
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        raise DataError("no digit found in the image")
    return g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def to_mnist(gray: np.ndarray, *, threshold: float = 0.15) -> np.ndarray:
    """A 2-D grayscale array (any size, any range) → uint8 (28, 28), white digit on black
    (:func:`_digit_box`), box fitted to 20x20 and centred by mass, as MNIST's digits."""
    from PIL import Image

    box = _digit_box(gray, threshold)
    h, w = box.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = Image.fromarray((box * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS)
    digit = np.asarray(small, dtype=np.float64)
    canvas = np.zeros((28, 28))
    top, left = (28 - nh) // 2, (28 - nw) // 2
    canvas[top : top + nh, left : left + nw] = digit
    mass = canvas.sum()
    if mass > 0:  # shift the centre of mass to MNIST's (row 14, column 14)
        yy, xx = np.indices(canvas.shape)
        dy = int(round(MNIST_CENTRE - (yy * canvas).sum() / mass))
        dx = int(round(MNIST_CENTRE - (xx * canvas).sum() / mass))
        dy = max(-top, min(dy, 28 - (top + nh)))
        dx = max(-left, min(dx, 28 - (left + nw)))
        canvas = np.roll(canvas, (dy, dx), axis=(0, 1))
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def to_digit_frame(gray: np.ndarray, side: int, *, threshold: float = 0.15) -> np.ndarray:
    """A 2-D grayscale array → float64 (side, side) of 0..255 levels framed as small digits
    are (scikit-learn's 8x8 digits, UCI's optdigits): the digit's box (:func:`_digit_box`)
    scaled until its longer edge fills a 4·side frame and centred there, then each pixel
    the mean of a 4x4 block, as optdigits counts the ink of 4x4 blocks of 32x32 bitmaps.
    Every one of the 1,797 scikit-learn digits is 8 pixels tall; MNIST's framing (a 20x20
    box in 28x28), reduced to 8x8, left a 6x6 digit that models of such data misread."""
    box = _digit_box(gray, threshold) * 255.0
    frame = 4 * side
    h, w = box.shape
    nh, nw = max(1, round(h * frame / max(h, w))), max(1, round(w * frame / max(h, w)))
    canvas = np.zeros((frame, frame))
    top, left = (frame - nh) // 2, (frame - nw) // 2
    canvas[top : top + nh, left : left + nw] = _resized(box, (nh, nw))
    return canvas.reshape(side, 4, side, 4).mean(axis=(1, 3))


def _resized(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 gray levels resized to ``size`` (height, width)."""
    from PIL import Image

    if pixels.shape == size:
        return pixels.astype(np.float64)
    img = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    return np.asarray(img.resize((size[1], size[0]), Image.LANCZOS), dtype=np.float64)


def to_fashion_mnist(gray: np.ndarray, *, threshold: float = 0.05) -> np.ndarray:
    """A 2-D grayscale array of 0..255 levels → uint8 (28, 28), light product on dark:
    trimmed to the product, longer edge resized to 28, centred; gray levels kept."""
    g = _gray(gray)
    if np.median(_border(g)) > 127.5:  # light background: make the product light on dark
        g = 255.0 - g
    ink = g > threshold * 255.0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        raise DataError("the image is blank (one colour; transparent pixels count as paper); nothing to classify")
    box = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = box.shape
    nh, nw = max(1, round(h * 28 / max(h, w))), max(1, round(w * 28 / max(h, w)))
    canvas = np.zeros((28, 28))
    top, left = (29 - nh) // 2, (29 - nw) // 2  # an odd spare pixel goes above and left, as Fashion-MNIST's do
    canvas[top : top + nh, left : left + nw] = _resized(box, (nh, nw))
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def as_is(gray: np.ndarray) -> np.ndarray:
    """A 2-D grayscale array of 0..255 levels → uint8 (28, 28), only resized."""
    g = _gray(gray)
    return np.clip(np.rint(_resized(g, (28, 28))), 0, 255).astype(np.uint8)


#: How each style turns a decoded grayscale image into 28x28 uint8 inputs.
STYLES = {"digit": to_mnist, "fashion": to_fashion_mnist, "as-is": as_is}
#: The style of each dataset deltaprop loads by name.
DATASET_STYLES = {"mnist": "digit", "mnist-sample": "digit", "fashion-mnist": "fashion"}


def style_for(dataset: str | None) -> str | None:
    """The style images take for a model trained on ``dataset`` (a name or a file; None
    when it is not recorded, as in a file saved by the library: MNIST's shape, so digit);
    None for data whose images are not known to be made in any of them. Names are read as
    the loader reads them: ``MNIST-Sample`` and ``fashion_mnist`` are the named datasets."""
    if dataset is None:
        return "digit"
    return DATASET_STYLES.get(dataset.lower().replace("_", "-")) if isinstance(dataset, str) else None


def _style(style: str):
    if style not in STYLES:
        raise DataError(f"unknown image style {style!r}: use one of {', '.join(STYLES)}")
    return STYLES[style]


def load_image(path: str | os.PathLike, style: str = "digit", *, side: int = IMAGE_SIDE) -> np.ndarray:
    """Read a PNG/JPEG (or any image pillow decodes) as uint8 (28, 28) in ``style``, or
    for another ``side`` as float64 (side, side) levels: :func:`image_for_side`."""
    return read_image(path, style, side=side).pixels


@dataclass(frozen=True)
class ImageRead:
    """An image made into a model's levels (:func:`read_image`), and what was done to it
    beyond its style's framing, in words (inverted, its first frame only, ...)."""

    pixels: np.ndarray
    notes: tuple[str, ...]


def read_image(path: str | os.PathLike, style: str = "digit", *, side: int = IMAGE_SIDE) -> ImageRead:
    """:func:`load_image`, with the notes ``deltaprop predict`` prints about the image."""
    _style(style)
    path = Path(path)
    pixels, notes = _decoded_file(path)
    try:
        return ImageRead(_made(pixels, style, side, notes), tuple(notes))
    except DataError as exc:  # among several images, say which one
        raise DataError(f"{path}: {exc}") from None


def read_shaped_image(path: str | os.PathLike, shape) -> ImageRead:
    """An image file as one input of a model of images of ``shape`` (:func:`image_axes`:
    ``(20, 30)``, ``(14, 14, 4)``, ``(3, 32, 32)``): its pixels as they are, not framed as a
    digit, in the shape's channels (1 grey, 2 grey and alpha, 3 RGB, 4 RGBA) and resized to
    its ``h×w`` where another size, 0..255 levels flattened in the shape's axis order."""
    h, w, c, first = image_axes(shape)
    pixels, notes = _decoded_file(Path(path), shaped=(h, w, c))
    return ImageRead((pixels.transpose(2, 0, 1) if first else pixels).reshape(-1), tuple(notes))


def _decoded_file(path: Path, **decode) -> tuple[np.ndarray, list[str]]:
    """The image file ``path`` decoded (:func:`_decode` with ``decode``), refused where it is
    a folder, empty or larger than :data:`MAX_IMAGE_BYTES`."""
    from .bounded import open_regular

    if path.is_dir():
        raise FileFormatError(f"{path} is a folder; give the images in it as files, e.g. {path / '*.png'}")
    with open_regular(path, max_bytes=MAX_IMAGE_BYTES, what="file", error=FileFormatError, allow_empty=True) as f:
        if not f.read(1):
            raise FileFormatError(f"{path} is empty (0 bytes), not an image; save or copy the image again")
        f.seek(0)
        return _decode(path, f, MAX_PIXELS, **decode)


def _made(pixels: np.ndarray, style: str, side: int, notes: list[str]) -> np.ndarray:
    """Decoded levels made in ``style`` at ``side`` (:func:`image_for_side`), a digit on a
    sheet photographed on a darker surface read on the sheet alone (:func:`_on_sheet`), a
    ruled or squared page's lines left out (:func:`_unruled`), and ``notes`` told what was
    done and what looks amiss (:func:`_doubtful_ink`, :func:`_side_by_side`)."""
    found = None
    if style == "digit" and max(np.shape(pixels)) > _WORK_SIDE:
        pixels = _reduced(pixels)
    if style == "digit" and (found := _on_sheet(pixels)) is not None:
        pixels, note = found
        notes.append(note)
    if _light_background(pixels, style):
        notes.append(_LIGHT_BACKGROUND[style])
        if style == "digit" and (evened := _evened(pixels)) is not None:
            pixels, note = evened
            notes.append(note)
    if style == "digit" and (unruled := _unruled(pixels)) is not None:
        pixels, note = unruled
        notes.append(note)
    made = image_for_side(pixels, style, side)
    if style == "digit":  # a strip of desk beside the digit is no second digit
        notes += (_doubtful_ink(pixels) if found is None else []) or _side_by_side(pixels)
    return made


#: The longest side a digit's photo is read at (a 28x28 digit needs no more): a 12-megapixel
#: photo took 10 s to look over for a sheet, ruled lines, uneven light and digits in a row.
_WORK_SIDE = 1024


def _reduced(gray: np.ndarray) -> np.ndarray:
    """Levels reduced to :data:`_WORK_SIDE` pixels on the longer side, each the mean of the area it covers."""
    from PIL import Image

    g = _gray(gray)
    k = _WORK_SIDE / max(g.shape)
    size = (max(1, round(g.shape[1] * k)), max(1, round(g.shape[0] * k)))
    return np.asarray(Image.fromarray(g.astype(np.float32), mode="F").resize(size, Image.BOX), dtype=np.float64)


def _side_by_side(gray: np.ndarray) -> list[str]:
    """A note where the ink (:func:`_ink_levels`, above 0.15) is in parts side by side, as
    digits written in a row are: columns of no ink split its box into at least 2 parts each
    at least half as tall as the box and holding 15% of its ink (1 of MNIST-sample's 5,000
    digits so splits). The digits were read as one, without a word."""
    ink = _ink_levels(gray) > 0.15
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], box.any(axis=0).astype(np.int8), [0]])))
    parts = 0
    for start, stop in zip(edges[::2], edges[1::2]):
        part = box[:, start:stop]
        tall = np.flatnonzero(part.any(axis=1))
        parts += int(tall[-1] + 1 - tall[0] >= 0.5 * box.shape[0] and part.sum() >= 0.15 * box.sum())
    if parts < 2:
        return []
    return [f"the ink is in {parts} parts side by side, as {parts} digits in a row are: the model reads one digit "
            "an image, so its answer is for them all together; crop each digit to an image of its own"]


def _evened(gray: np.ndarray) -> tuple[np.ndarray, str] | None:
    """Dark ink on paper lit so unevenly that its darkest part is darker than the middle of
    the image's levels (a phone's shadow across the page: that part was ink, and read with
    the digit), evened out: each level divided by the paper's there
    (:func:`deltaprop.sheet.paper_light`), as 0..255, with the note saying so; else None.
    Light changes gradually: the paper's level changing by over 0.2 from a tile to the
    next is a desk or an object beside the sheet, and left to :func:`_doubtful_ink`."""
    from .sheet import paper_light

    g = _gray(gray)
    lo, hi = float(g.min()), float(g.max())
    if hi - lo < 1e-9:
        return None
    g = (g - lo) / (hi - lo)
    light = paper_light(g)
    darkest = float(light.min())
    grid = light[:: max(1, g.shape[0] // 16), :: max(1, g.shape[1] // 16)]  # a tile apart
    if darkest >= 0.5 or max(float(np.abs(np.diff(grid, axis=a)).max(initial=0.0)) for a in (0, 1)) > 0.2:
        return None  # even enough, or a sharp step: a desk beside the sheet, not the light
    evened = np.clip(g / np.maximum(light, 1e-3), 0.0, 1.0) * 255.0
    return evened, (f"the paper's uneven light evened out (its darkest part {darkest / float(light.max()):.0%} "
                    "as light as its lightest)")


def _unruled(gray: np.ndarray) -> tuple[np.ndarray, str] | None:
    """A digit written on ruled or squared paper (:func:`deltaprop.sheet.ruled_lines`) as
    white ink on black levels 0..255 with the paper's lines left out, and the note saying
    so; None where the paper has no such lines. The lines' pixels are made paper (0) but
    the digit's ink where it crosses a line: over 0.15 above the lines' median level and
    within 5 pixels of ink off the lines (not a line's dark end, nor a speck on it).
    The lines were ink: a pencil digit on a notebook's page was read as the page's lines."""
    from .sheet import ruled_lines

    try:
        g = _ink_levels(gray)
    except DataError:
        return None
    ink = g > 0.15
    rows, cols = ruled_lines(ink), ruled_lines(ink.T).T
    if not rows.any() and not cols.any():
        return None
    on_line = rows | cols
    crossing = _spread(ink & ~on_line, 5) & (g > np.median(g[on_line & ink]) + 0.15)
    g = np.where(on_line & ~crossing, 0.0, g)
    kind = "squared" if rows.any() and cols.any() else "ruled"
    return g * 255.0, f"the {kind} paper's lines left out, the digit read without them"


def _spread(mask: np.ndarray, r: int) -> np.ndarray:
    """A binary mask dilated by a (2r + 1)-square: each pixel set where one within r rows and r columns is."""
    out = mask.copy()
    for axis in (0, 1):
        p = np.pad(out, [(r, r) if a == axis else (0, 0) for a in (0, 1)])
        n = out.shape[axis]
        out = np.logical_or.reduce([np.take(p, np.arange(k, k + n), axis=axis) for k in range(2 * r + 1)])
    return out


#: What to do with a photo of a sheet that could not be read inside the sheet.
_STRAIGHTEN = "straighten the photo and crop it to the paper"


def _on_sheet(gray: np.ndarray) -> tuple[np.ndarray, str] | None:
    """The levels inside a light sheet of paper photographed on a darker surface, with the
    note saying so, or None where there is no such sheet. A sheet turned 1 degree or more
    (:func:`deltaprop.sheet.sheet_turn`) is turned upright and read inside its outline
    (:func:`_outlined`): the box of an upright sheet (:func:`_sheet`) held the desk's
    corners of a sheet turned 6 degrees, and the sheet was read as a white digit. A sheet
    whose turn does not hold (it runs off the photo, or is seen at a slant) is read inside
    its outline as it lies, with a note on how to make it readable."""
    from .sheet import sheet_turn

    g = _gray(gray)
    lo, hi = float(g.min()), float(g.max())
    if hi - lo < 1e-9 or _light_background(g, "digit"):
        return None
    turn = sheet_turn((g - lo) / (hi - lo))
    if turn is not None and turn.square and abs(turn.angle) >= 1.0:
        read = _outlined(g, turn.outline, turn.angle)
        note = f"a light sheet on a darker surface, lying {abs(turn.angle):.0f} degrees askew: straightened and read"
    elif (inside := _sheet(g)) is not None:
        return g[inside], "a light sheet on a darker surface, read inside the sheet"
    elif turn is None:
        return None
    elif not turn.square and turn.held and abs(turn.angle) >= 1.0:
        read = _outlined(g, turn.outline, turn.angle)
        note = (f"a light sheet on a darker surface, running off the photo, lying {abs(turn.angle):.0f} degrees askew: "
                "straightened by its edges in the photo and read")
    else:
        read = _outlined(g, turn.outline, 0.0)
        note = ("a light sheet on a darker surface, read" if turn.square else
                "a light sheet on a darker surface, not straightened (it runs off the photo or is seen at a slant) "
                "but read")
    try:
        _digit_box(read, 0.15)
    except DataError:  # one level inside: a filled block (a white square drawn on black), no sheet
        return None
    return read, note + (" inside the sheet" if turn.square else f" inside its outline: if the answer looks wrong, "
                                                                  f"{_STRAIGHTEN}")


def _turned(g: np.ndarray, angle: float, fill: float) -> np.ndarray:
    """Levels turned ``angle`` degrees anticlockwise about their centre (bilinear), grown to
    hold all of them, the corners filled with ``fill``."""
    from PIL import Image

    img = Image.fromarray(g.astype(np.float32), mode="F")
    return np.asarray(img.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=fill), dtype=np.float64)


def _outlined(g: np.ndarray, outline: np.ndarray, angle: float) -> np.ndarray:
    """The levels inside a sheet's ``outline`` (a convex polygon of (x, y) corners) drawn
    3% towards its centre, clear of the sheet's shaded edge, turned ``angle`` degrees
    anticlockwise (bilinear, grown to hold all): cropped to the box :func:`_sheet` finds
    there (else the outline's), and the surface left in the box's corners (a sheet seen at
    a slant is no rectangle) made the paper's level (the median inside)."""
    from PIL import Image, ImageDraw

    centre = outline.mean(axis=0)
    mask = Image.new("L", (g.shape[1], g.shape[0]), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in centre + 0.97 * (outline - centre)], fill=255)
    levels = _turned(g, angle, float(np.median(_border(g)))) if angle else g
    if angle:
        mask = mask.rotate(angle, resample=Image.NEAREST, expand=True, fillcolor=0)
    inside = np.asarray(mask) > 0
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    box = _sheet(levels) or (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return np.where(inside, levels, float(np.median(levels[inside])))[box]


def _doubtful_ink(gray: np.ndarray) -> list[str]:
    """Notes on ink (:func:`_ink_levels`, above 0.15) that looks like the surface a sheet of
    paper lies on rather than a digit: ink along over 90% of an edge of the image (a desk
    beside the sheet, made white with the paper's ink), or filling over 80% of a box from
    half to twice as wide as tall (a sheet askew on a desk, read as the digit; 1 of
    MNIST-sample's 5,000 digits fills so much, the median 43%)."""
    ink = _ink_levels(gray) > 0.15
    crop = "if that is the surface around a sheet of paper, crop the photo to the paper"
    sides = [side for side, edge in (("top", ink[0]), ("bottom", ink[-1]), ("left", ink[:, 0]), ("right", ink[:, -1]))
             if edge.mean() > 0.9]
    if sides and _beside_digit(ink, sides):
        return [f"the ink runs along its whole {' and '.join(sides)} edge{'s' if len(sides) > 1 else ''}: {crop}"]
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = box.shape
    if 0.5 <= w / h <= 2 and box.mean() > 0.8:
        return [f"what was read as the digit fills {box.mean():.0%} of its box, as a sheet of paper would: {crop}"]
    return []


def _beside_digit(ink: np.ndarray, sides: list[str]) -> bool:
    """Whether the ink along whole ``sides`` of the image is a surface beside the digit, not
    the digit's own stroke: at least 3% of the ink is not joined to it (:func:`deltaprop.sheet.reached`),
    as a strip of desk is apart from the digit on the sheet beside it, or it is a band over
    twice as deep as the digit's strokes are wide (:func:`_band_depth`), as a strip of desk
    the digit touches is. A digit cropped to its ink, whose 7's bar or 2's foot runs along
    an edge, is neither, and got the note to crop the photo to the paper."""
    from .sheet import reached

    turned = {"top": ink, "bottom": ink[::-1], "left": ink.T, "right": ink.T[::-1]}
    seeds = np.zeros_like(ink)
    for side in sides:
        edge = {"top": (0, slice(None)), "bottom": (-1, slice(None)), "left": (slice(None), 0),
                "right": (slice(None), -1)}[side]
        seeds[edge] = ink[edge]
    joined, whole = reached(ink, seeds), reached(ink, ink)  # at the same reduced size
    return bool((whole & ~joined).sum() >= 0.03 * whole.sum()) or any(_band_depth(turned[s]) for s in sides)


def _band_depth(ink: np.ndarray) -> bool:
    """Whether the ink along the top edge of a mask is a band over twice as deep (the median
    run of ink down from the edge, column by column) as the strokes below it are wide
    (2A/P: a stroke of length L and width S has area A = LS and a boundary P of about 2L pixels)."""
    depth = float(np.median(np.argmin(np.vstack([ink, np.zeros((1, ink.shape[1]), bool)]), axis=0)))
    rest = ink[int(depth) :]
    p = np.pad(rest, 1)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    boundary = int((rest & ~inner).sum())
    return boundary > 0 and depth > 2 * (2 * rest.sum() / boundary)


def _sheet(gray: np.ndarray) -> tuple[slice, slice] | None:
    """Where a light sheet of paper lies inside a darker surface (a photo of paper on a desk),
    or None. Read as white ink on black, the sheet would be the digit: its box, 8% in from
    each edge (where a sheet turned a few degrees still lies), is ink along over 90% of its
    edges, at least 75% light, at least 32 pixels a side (none of MNIST-sample's 5,000
    digits scaled up 4x is all three), and holds dark ink that :func:`_digit_box` finds."""
    g = _gray(gray)
    lo, hi = float(g.min()), float(g.max())
    if hi - lo < 1e-9 or _light_background(g, "digit"):
        return None
    g = (g - lo) / (hi - lo)
    paper = min(float(np.percentile(_border(g), 90)), 0.5)
    ink = g > paper + 0.15 * (1.0 - paper)  # the ink _digit_box finds
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    h, w = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    dy, dx = max(1, round(0.08 * h)), max(1, round(0.08 * w))
    inside = (slice(rows[0] + dy, rows[-1] + 1 - dy), slice(cols[0] + dx, cols[-1] + 1 - dx))
    if min(h, w) < 32 or not 0.5 <= w / h <= 2 or _border(ink[inside]).mean() <= 0.9:
        return None
    if np.mean(g[inside] > 0.5) < 0.75:  # not mostly light paper: a bold digit's ring, say
        return None
    try:
        _digit_box(gray[inside], 0.15)
    except DataError:  # one level inside: a filled block, no sheet
        return None
    return inside


def image_for_side(gray: np.ndarray, style: str, side: int = IMAGE_SIDE) -> np.ndarray:
    """A decoded grayscale image made in ``style`` at ``side`` x ``side``: the style's 28x28
    image; for another side, digits framed as small digits are (:func:`to_digit_frame`)
    and the other styles' 28x28 image reduced (:func:`reduce_image`), except that as-is
    takes an image of ``side`` x ``side`` as it is and resizes straight to a side above 28
    (through 28x28, a 32x32 image's levels moved by up to 145, an 8x8 one's by 49)."""
    convert = _style(style)
    if side == IMAGE_SIDE:
        return convert(gray)
    if convert is to_mnist:
        return to_digit_frame(gray, side)
    if convert is as_is and (side > IMAGE_SIDE or np.shape(gray) == (side, side)):
        return np.clip(np.rint(_resized(_gray(gray), (side, side))), 0, 255)
    return reduce_image(convert(gray), side)


def load_digit(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG (or any image pillow decodes) as an MNIST-like uint8 (28, 28)."""
    return load_image(path, "digit")


def image_from_bytes(data: bytes, style: str = "digit", *, name: str = "the image",
                     max_pixels: int = MAX_PIXELS, side: int = IMAGE_SIDE) -> np.ndarray:
    """:func:`load_image` for an image held in memory (a PNG a browser sent, say)."""
    _style(style)
    return _made(_decode(name, io.BytesIO(data), max_pixels)[0], style, side, [])


def shaped_image_from_bytes(data: bytes, shape, *, name: str = "the image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """:func:`read_shaped_image` for an image held in memory (a drawing a browser sent, say):
    its pixels as they are, resized to the ``h×w`` of ``shape``, flattened in its axis order."""
    h, w, c, first = image_axes(shape)
    pixels, _ = _decode(name, io.BytesIO(data), max_pixels, shaped=(h, w, c))
    return (pixels.transpose(2, 0, 1) if first else pixels).reshape(-1)


def digit_from_bytes(data: bytes, *, name: str = "the image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """:func:`load_digit` for an image held in memory."""
    return image_from_bytes(data, "digit", name=name, max_pixels=max_pixels)


# -- an image as a model's inputs: `deltaprop predict` and `deltaprop serve` both use these --------------------
def reduce_image(image: np.ndarray, side: int) -> np.ndarray:
    """A (n, n) image → float64 (side, side) of the same 0..255 levels, each pixel the mean
    of the area of the image it covers (as 8x8 digits count the ink of blocks of a larger
    bitmap): ``A image Aᵀ`` with ``A[i, j]`` the share of pixel j's span [j, j + 1) in
    [i n/side, (i + 1) n/side), divided by n/side. The image itself when side is n."""
    n = image.shape[0]
    if side == n:
        return image
    edges = np.arange(side + 1) * (n / side)
    lo, hi = np.arange(n), np.arange(n) + 1.0
    overlap = np.clip(np.minimum(hi, edges[1:, None]) - np.maximum(lo, edges[:-1, None]), 0.0, None)
    a = overlap / (n / side)
    return np.clip(a @ np.asarray(image, dtype=np.float64) @ a.T, 0.0, 255.0)


#: The most channels an axis at either end of an image's shape is read as (grey and alpha, RGB, RGBA).
MAX_CHANNELS = 4


def image_axes(shape) -> tuple[int, int, int, bool] | None:
    """``(h, w, channels, channels_first)`` of images of ``shape`` (one example's, before
    flattening): ``(h, w)`` is grey; ``(h, w, c)`` or ``(c, h, w)`` has ``c`` channels (an end
    axis of at most :data:`MAX_CHANNELS`, the last one first); axes of length 1 are left out
    (``(28, 28, 1)`` is grey 28x28). None for a shape that is no image (a row, or 4 axes)."""
    if shape is None:
        return None
    kept = tuple(int(d) for d in shape if d != 1)
    if len(kept) == 2:
        return kept[0], kept[1], 1, False
    if len(kept) == 3 and kept[-1] <= MAX_CHANNELS:
        return kept[0], kept[1], kept[2], False
    if len(kept) == 3 and kept[0] <= MAX_CHANNELS:
        return kept[1], kept[2], kept[0], True
    return None


def input_shape_words(shape) -> str:
    """One example's ``shape`` in words: ``14x14 images of 4 channels``, ``20x30 grey images``,
    ``rows of 64 values``."""
    axes = image_axes(shape)
    if axes is None:
        return f"rows of {' x '.join(str(int(d)) for d in shape)} values"
    h, w, c, first = axes
    return f"{h}x{w} grey images" if c == 1 else \
        f"{h}x{w} images of {c} channels ({'first' if first else 'last'}: {' x '.join(str(int(d)) for d in shape)})"


def image_planes(values: np.ndarray, shape) -> list[np.ndarray]:
    """One flattened example ``values`` of the image ``shape`` (:func:`image_axes`) as its
    channels' ``(h, w)`` planes, from channel 0."""
    h, w, c, first = image_axes(shape)
    a = np.asarray(values).reshape(c, h, w) if first else np.asarray(values).reshape(h, w, c).transpose(2, 0, 1)
    return list(a)


def model_image_side(mf) -> int | None:
    """The side of the square grey images the model of the
    :class:`~deltaprop.serialization.ModelFile` ``mf`` takes, or None when its inputs are
    no such image. Where the file records its inputs' shape (``input_shape``), a square grey
    image's side, else None (20x30 images, 32x32x3 colour images, a table's rows). Where it
    records none: 28 for 784 inputs; else a square of at least 8x8 inputs the model does not
    standardise one by one, as a table's columns (the rule
    :func:`deltaprop.plots.samples_problem` draws rows as images by): a guess."""
    import math

    from .plots import samples_problem

    if getattr(mf, "input_shape", None) is not None:
        axes = image_axes(mf.input_shape)
        return axes[0] if axes is not None and axes[2] == 1 and axes[0] == axes[1] and axes[0] >= 4 else None
    n = mf.net.n_features
    if n == IMAGE_SIDE * IMAGE_SIDE:
        return IMAGE_SIDE
    return math.isqrt(n) if samples_problem(n, net=mf.net) is None else None


def model_levels_top(mf, side: int | None) -> float:
    """The value a white pixel had in the model's raw training inputs, which an image's
    0..255 levels are scaled to: :func:`~deltaprop.serialization.image_levels_top` (the
    top of the range the file records, where it records one), and for a file that records
    none, images of another side than 28 standardised with μ in [0, T] and σ ≤ T/2 (data
    in [0, T] has no larger σ) for T in :data:`_SMALL_LEVELS` (not 1: that is 1 already),
    T: the 0..16 levels of scikit-learn's 8x8 digits standardise so, 8-bit levels do not."""
    from .preprocessing import Standardization
    from .serialization import image_levels_top, recorded_levels_top

    top = image_levels_top(mf)
    first = mf.net.layers[0]
    if (side in (None, IMAGE_SIDE) or top != 255.0 or not isinstance(first, Standardization)
            or recorded_levels_top(mf) is not None):
        return top
    low, high, spread = float(np.min(first.mean)), float(np.max(first.mean)), float(np.max(first.std))
    return next((t for t in _SMALL_LEVELS if low >= 0 and high <= t and spread <= t / 2), top)


def levels_recorded(mf) -> bool:
    """Whether the model file tells the range of the model's raw training inputs, so that
    :func:`model_levels_top` knows it rather than assumes 255: the range itself
    (``input_range``, which ``deltaprop train`` records, from 0 or above), an input layer
    (÷max scaling, standardisation), or a run's config naming an image dataset deltaprop
    loads (0..255 levels) or ``auto`` scaling (which adds no layer only for data in [0, 1]).
    A file written before the range was recorded by a run trained with ``--scaling none``
    on a file of its own, or saved by the library without its input scaling or range,
    records none."""
    from .preprocessing import Rescaling, Standardization
    from .serialization import recorded_levels_top

    if recorded_levels_top(mf) is not None or isinstance(mf.net.layers[0], (Rescaling, Standardization)):
        return True
    config = mf.extra.get("config")
    if not isinstance(config, dict):
        return False
    dataset = config.get("dataset")
    named = isinstance(dataset, str) and dataset.lower().replace("_", "-") in DATASET_STYLES
    return named or config.get("scaling") == "auto"
