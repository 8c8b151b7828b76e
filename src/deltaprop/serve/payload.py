"""Request bodies → a checked image (28x28, or the side of a model of smaller square
images) and target class, or a one-line refusal.

A body is JSON, ``{"pixels": 28x28 numbers in 0..255}`` (white digit on black, as in
MNIST's files; a model of 8x8 images takes 8x8), ``{"png": base64 PNG}`` (any drawing;
it goes through :func:`deltaprop.images.digit_from_bytes`, the code ``deltaprop predict``
runs on image files, then is reduced to the model's side by :func:`reduce_image`) or
``{"inputs": [numbers]}`` (one row of the model's raw inputs, for any model),
with an optional ``"target"``: a class id, or for a regressor one value an output (a
number, or a list of numbers with null for "the prediction"); or the PNG itself as
``image/png``. The target may be given in the query string too (``?target=3``; a
regressor's ``?target=2.5`` or ``?target=1,-0.5``), with either body. Every field is
checked for type, shape and finiteness before any array is made.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

import numpy as np

from ..errors import Error
from ..images import IMAGE_SIDE, reduce_image

__all__ = ["BadRequest", "MAX_IMAGE_PIXELS", "image_and_target", "parse_int", "reduce_image"]

#: A drawing larger than this many pixels (read from the PNG header) is refused undecoded.
MAX_IMAGE_PIXELS = 2048 * 2048
_FIELDS = ("pixels", "png", "inputs", "target")
#: The most values an ``inputs`` row may hold (the body's 1 MB holds fewer anyway).
MAX_INPUTS = 1 << 16
_LARGEST_FLOAT = int(np.finfo(np.float64).max)


class BadRequest(Exception):
    """A request the server refuses: its HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _no_constants(name: str):
    raise BadRequest(400, f"{name} is not a JSON number; send finite numbers")


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object from ``body`` (UTF-8), refusing NaN/Infinity literals and deep nesting."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except BadRequest:
        raise
    except UnicodeDecodeError:
        raise BadRequest(400, "the body is not UTF-8 text; send JSON") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge integers, deep nesting
        raise BadRequest(400, f"malformed JSON ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(value, dict):
        raise BadRequest(400, f"the body must be a JSON object, got {type(value).__name__}")
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        raise BadRequest(400, f"unknown field {unknown[0]!r}; the fields are {', '.join(_FIELDS)}")
    return value


def _number(v: Any) -> bool:
    """A JSON number that is finite as a float64 (an integer of 400 digits is not)."""
    if type(v) is int:
        return abs(v) <= _LARGEST_FLOAT
    return type(v) is float and math.isfinite(v)


def pixels_from_json(value: Any, side: int = IMAGE_SIDE, width: int | None = None) -> np.ndarray:
    """side x width (width: side) nested lists (or flat) of finite numbers in 0..255 → float64 (side, width)."""
    width = side if width is None else width
    if not isinstance(value, list):
        raise BadRequest(400, f"pixels must be a {side}x{width} array of numbers, got {type(value).__name__}")
    flat = value
    if len(value) == side and all(isinstance(row, list) for row in value):
        if any(len(row) != width for row in value):
            bad = next(len(row) for row in value if len(row) != width)
            raise BadRequest(400, f"pixels must be {side} rows of {width} numbers; a row has {bad}")
        flat = [v for row in value for v in row]
    elif len(value) != side * width:
        raise BadRequest(400, f"pixels must be {side}x{width} (or {side * width} flat) numbers, got {len(value)} items")
    if not all(_number(v) for v in flat):
        bad = next(v for v in flat if not _number(v))
        shown = f"an integer of {len(str(abs(bad)))} digits" if type(bad) is int else json.dumps(bad)[:40]
        raise BadRequest(400, f"pixels must be finite numbers in 0..255, got {shown}")
    arr = np.array(flat, dtype=np.float64).reshape(side, width)
    if arr.min() < 0 or arr.max() > 255:
        raise BadRequest(400, f"pixels must lie in 0..255 (white ink on black), got {arr.min():g}..{arr.max():g}")
    return arr


def inputs_from_json(value: Any) -> np.ndarray:
    """A flat list of finite numbers (one row of a model's raw inputs) → float64 (n,)."""
    if not isinstance(value, list) or not value or len(value) > MAX_INPUTS:
        got = f"{len(value)} items" if isinstance(value, list) else type(value).__name__
        raise BadRequest(400, f"inputs must be a flat list of the model's input values (numbers), got {got}")
    if not all(_number(v) for v in value):
        bad = next(v for v in value if not _number(v))
        shown = f"an integer of {len(str(abs(bad)))} digits" if type(bad) is int else json.dumps(bad)[:40]
        raise BadRequest(400, f"inputs must be finite numbers, got {shown}")
    return np.array(value, dtype=np.float64)


def pixels_from_png(data: bytes, style: str = "digit", side: int = IMAGE_SIDE) -> np.ndarray:
    """A drawing → a (side, side) image made in ``style`` (:func:`deltaprop.images.image_for_side`),
    exactly as ``deltaprop predict`` reads files for the same model."""
    from ..images import image_from_bytes

    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BadRequest(400, "the image is not a PNG; send a PNG")
    try:
        return image_from_bytes(data, style, name="the PNG", max_pixels=MAX_IMAGE_PIXELS, side=side)
    except Error as exc:
        raise BadRequest(422, " ".join(str(exc).split())) from None


def _drawing(data: bytes, style: str, side: int, grid: tuple[int, int] | None) -> np.ndarray:
    """A drawing → the model's image: made in ``style`` and reduced to ``side`` (square grey
    images), or for the ``grid`` (h, w) of other grey images its pixels as they are resized to
    h×w (:func:`deltaprop.images.shaped_image_from_bytes`), as ``deltaprop predict`` reads files."""
    from ..images import shaped_image_from_bytes

    if grid is None or grid == (side, side):
        return reduce_image(pixels_from_png(data, style, side), side)
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BadRequest(400, "the image is not a PNG; send a PNG")
    try:
        return shaped_image_from_bytes(data, grid, name="the PNG", max_pixels=MAX_IMAGE_PIXELS).reshape(grid)
    except Error as exc:
        raise BadRequest(422, " ".join(str(exc).split())) from None


def _png_from_base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise BadRequest(400, f"png must be a base64 string, got {type(value).__name__}")
    text = value
    if value.startswith("data:"):
        text = value.partition(",")[2]
        if "," not in value:
            raise BadRequest(400, "png is a data: URL with no data (no comma); send data:image/png;base64,... "
                                  "or the base64 alone")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(400, "png is not valid base64") from None


def parse_int(name: str, value: Any, *, text: bool = False) -> int | None:
    """A class id or unit number from JSON (or, with ``text``, a query string); None when absent."""
    if value is None:
        return None
    if text and isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}", value):
        value = int(value)
    if type(value) is not int:
        raise BadRequest(400, f"{name} must be an integer, got {json.dumps(value)[:40]}")
    return value


_NUMBER_TEXT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")


def parse_values(name: str, value: Any, *, text: bool = False) -> float | list | None:
    """A regressor's target from JSON: a finite number, or a list of finite numbers and
    nulls (null: that output's prediction); with ``text``, a query string of numbers
    separated by commas. None when absent."""
    if value is None:
        return None
    if text and isinstance(value, str):
        parts = value.split(",")
        if not all(_NUMBER_TEXT.fullmatch(p) and math.isfinite(float(p)) for p in parts):
            raise BadRequest(400, f"{name} must be a regressor's target values, numbers separated by commas, "
                                  f"got {value[:40]!r}")
        values = [float(p) for p in parts]
        return values[0] if len(values) == 1 else values
    if _number(value) or (isinstance(value, list) and 0 < len(value) <= MAX_INPUTS
                          and all(v is None or _number(v) for v in value)):
        return value
    raise BadRequest(400, f"{name} must be a regressor's target values: a number, or a list of one number an output "
                          f"(null: the prediction), got {json.dumps(value)[:40]}")


def image_and_target(content_type: str, body: bytes, query: dict[str, str],
                     style: str = "digit", *, values: bool = False, side: int | None = IMAGE_SIDE,
                     grid: tuple[int, int] | None = None) -> tuple[np.ndarray, Any]:
    """The (side, side) image (28 for a model that takes no image; the ``grid`` (h, w) of a
    model of other grey images) and optional target a predict or backward request carries
    (a PNG is made into inputs as :func:`_drawing` says): a class id, or with ``values`` (a regressor's
    model) target values (:func:`parse_values`). The target is the body's ``"target"`` or
    the query's ``?target=``, whatever the body; two that differ are refused."""
    parse = parse_values if values else parse_int
    side = (grid[0] if grid is not None else IMAGE_SIDE) if side is None else side
    width = grid[1] if grid is not None else side
    kind = content_type.split(";", 1)[0].strip().lower()
    query_target = parse("target", query.get("target"), text=True)
    if kind == "image/png":
        return _drawing(body, style, side, grid), query_target
    if kind != "application/json":
        raise BadRequest(415, f"Content-Type must be application/json or image/png, got {kind or 'none'!r}")
    fields = parse_json(body)
    if sum(key in fields for key in ("pixels", "png", "inputs")) != 1:
        raise BadRequest(400, f"send exactly one of pixels ({side}x{width} numbers), png (base64) or inputs (the model's "
                              "input values)")
    if "inputs" in fields:
        image = inputs_from_json(fields["inputs"])
    elif "pixels" in fields:
        image = pixels_from_json(fields["pixels"], side, width)
    else:
        image = _drawing(_png_from_base64(fields["png"]), style, side, grid)
    body_target = parse("target", fields.get("target"))
    if None not in (body_target, query_target) and body_target != query_target:
        raise BadRequest(400, f"two targets, {body_target} in the body and {query_target} in the query; give one")
    return image, query_target if body_target is None else body_target
