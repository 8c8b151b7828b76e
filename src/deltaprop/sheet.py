"""A sheet of paper in a photo: how far it is turned on a darker surface, and the ruled
or squared lines printed on it.

The light pixels (above Otsu's threshold) of a photo of a sheet on a desk are a filled
rectangle with the digit's ink as holes in it. Their convex hull's minimum-area enclosing
rectangle (rotating calipers: the best rectangle has a side along an edge of the hull)
gives the turn; the hull filling that rectangle says whether the light area is a
rectangle at all, as a sheet lying whole in the photo is, or a sheet cut off by the
photo's edge, bent, or seen at a slant, whose turn is not to be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The side the photo is reduced to (its longer one) before the sheet is looked for.
_SIDE = 256


@dataclass(frozen=True)
class SheetTurn:
    """A sheet-like light area of a photo: ``angle``, the degrees to turn the photo
    anticlockwise (as pillow's ``Image.rotate`` turns) to make its edges upright, in
    (-45, 45]; ``square``, whether the area is a whole rectangle, so that the angle holds;
    ``outline``, the corners of its convex hull as (x, y) pixel coordinates of the photo;
    ``held``, for an area that is no whole rectangle, whether its edges inside the photo
    agree on the angle (:func:`_edge_angle`), which is then theirs."""

    angle: float
    square: bool
    outline: np.ndarray
    held: bool = True


def otsu(levels: np.ndarray) -> float:
    """Otsu's threshold of levels in [0, 1]: the t of 256 bins that maximises the
    between-class variance w₀ w₁ (μ₀ − μ₁)²."""
    hist = np.bincount(np.clip((levels.ravel() * 255).astype(int), 0, 255), minlength=256).astype(np.float64)
    w0 = np.cumsum(hist)
    m0 = np.cumsum(hist * np.arange(256))
    total, mean = w0[-1], m0[-1]
    w1 = total - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean * w0 - total * m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    return (int(np.argmax(between)) + 0.5) / 255.0


def convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of 2-D points (n, 2), anticlockwise in (x, y), by Andrew's monotone chain."""
    pts = np.unique(points, axis=0)
    if len(pts) < 3:
        return pts

    def half(seq):
        chain: list = []
        for p in seq:
            while len(chain) >= 2 and _turn(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def _turn(o, a, b) -> float:
    """The z of the cross product (a − o) × (b − o): above 0 where o → a → b turns anticlockwise."""
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _area(hull: np.ndarray) -> float:
    """The shoelace area of a polygon."""
    x, y = hull[:, 0], hull[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def min_area_box(hull: np.ndarray) -> tuple[float, float, float]:
    """The minimum-area rectangle around a convex polygon: (the angle of its sides in
    degrees, in (-45, 45], its area, its longer side over its shorter)."""
    edges = np.roll(hull, -1, axis=0) - hull
    thetas = np.arctan2(edges[:, 1], edges[:, 0])
    best = (np.inf, 0.0, 1.0)
    for theta in thetas:
        c, s = np.cos(theta), np.sin(theta)
        u, v = hull @ np.array([c, s]), hull @ np.array([-s, c])
        w, h = float(np.ptp(u)), float(np.ptp(v))
        if w * h < best[0]:
            best = (w * h, float(np.degrees(theta)), max(w, h) / max(min(w, h), 1e-9))
    area, angle, aspect = best
    angle = (angle + 45.0) % 90.0 - 45.0
    return (45.0 if angle == -45.0 else angle), area, aspect


def _shifted(mask: np.ndarray, combine) -> np.ndarray:
    """A binary mask eroded (``combine`` np.logical_and) or dilated (np.logical_or) by a 3x3 square."""
    p = np.pad(mask, 1, constant_values=combine is np.logical_and)
    out = p[1:-1, 1:-1].copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out = combine(out, p[dy : dy + mask.shape[0], dx : dx + mask.shape[1]])
    return out


def _opened(mask: np.ndarray) -> np.ndarray:
    """A binary mask eroded then dilated by a 3x3 square: specks and thin strokes gone."""
    return _shifted(_shifted(mask, np.logical_and), np.logical_or)


def reached(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The pixels of a binary mask joined to ``seeds`` (a mask inside it) through the
    mask, neighbours counted 8 ways round: the seeds dilated within the mask until they
    grow no more. The mask is first reduced to at most 128 pixels a side, a block being
    set where any of its pixels is (strokes stay joined), and so is the answer."""
    k = max(1, -(-max(mask.shape) // 128))
    h, w = -(-mask.shape[0] // k) * k, -(-mask.shape[1] // k) * k

    def pooled(m):
        return np.pad(m, ((0, h - m.shape[0]), (0, w - m.shape[1]))).reshape(h // k, k, w // k, k).any(axis=(1, 3))

    small, grown = pooled(mask), pooled(seeds)
    while True:
        more = _shifted(grown, np.logical_or) & small
        if (more == grown).all():
            return grown
        grown = more


def sheet_turn(levels: np.ndarray) -> SheetTurn | None:
    """The turn of a light sheet on a darker surface in levels in [0, 1] (dark surface
    around), or None where the light pixels are no sheet: under 5% of the photo, under 32
    pixels a side, filling under 85% of their hull (a digit's strokes, a ring; bold digits
    of MNIST fill up to 80%), their hull under 85% of its rectangle (a bold 0's ellipse fills
    π/4 of it) but for a sheet cut off by the photo's edge and seen at a slant
    (:func:`_cut_sheet`: 81%), or under 70%, or longer than 3 times their width.
    ``square``: the hull fills at least 93% of its rectangle, which lies inside the photo,
    not on its edge."""
    from PIL import Image

    h, w = levels.shape
    k = max(1.0, max(h, w) / _SIDE)
    img = Image.fromarray(np.clip(np.rint(levels * 255), 0, 255).astype(np.uint8))
    small = np.asarray(img.resize((max(1, round(w / k)), max(1, round(h / k))), Image.BOX), dtype=np.float64) / 255
    mask = _opened(small > otsu(small))
    if mask.sum() < 0.05 * mask.size:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    left = np.argmax(mask[rows], axis=1)
    right = mask.shape[1] - 1 - np.argmax(mask[rows, ::-1], axis=1)
    xs = np.concatenate([left - 0.5, left - 0.5, right + 0.5, right + 0.5])
    ys = np.concatenate([rows - 0.5, rows + 0.5, rows - 0.5, rows + 0.5])
    hull = convex_hull(np.column_stack([xs, ys]))
    hull_area = _area(hull) if len(hull) >= 3 else 0.0
    if hull_area <= 0 or mask.sum() < 0.85 * hull_area:
        return None
    angle, box_area, aspect = min_area_box(hull)
    short = np.sqrt(box_area / aspect)
    if aspect > 3 or short * k < 32 or hull_area < 0.7 * box_area:
        return None
    touches = [rows[0] == 0, rows[-1] == mask.shape[0] - 1, left.min() == 0, right.max() == mask.shape[1] - 1]
    if hull_area < 0.85 * box_area and not _cut_sheet(hull, mask.shape, short, sum(touches), mask.sum() / hull_area):
        return None
    inside = not any(touches)
    outline = (hull + 0.5) * np.array([w / mask.shape[1], h / mask.shape[0]]) - 0.5
    if inside and hull_area >= 0.93 * box_area:
        return SheetTurn(angle, True, outline)
    along = _edge_angle(hull, mask.shape)
    return SheetTurn(angle if along is None else along, False, outline, along is not None)


def _cut_sheet(hull: np.ndarray, shape: tuple[int, int], width: float, sides: int, fill: float) -> bool:
    """Whether a light area whose hull fills under 85% of its rectangle is still a sheet:
    one cut off by 1 or 2 of the photo's ``sides`` and seen at a slant (a bold digit cropped
    to its ink touches all 4), holding ink (its mask fills at most 99% of its hull, ``fill``: a
    bold 1 fills all of it), with 70% of its hull's edges inside the photo straight edges
    of at least a fifth of its ``width`` (a bold 0's ellipse, π/4 of its rectangle, has none)."""
    lengths = np.hypot(*_inner_edges(hull, shape).T)
    straight = lengths[lengths >= 0.2 * width].sum() >= 0.7 * max(float(lengths.sum()), 1e-9)
    return 1 <= sides <= 2 and fill <= 0.99 and bool(straight)


def _inner_edges(hull: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The edges (as (dx, dy)) of a hull in a mask of ``shape`` that do not run along the mask's border."""
    ends = np.roll(hull, -1, axis=0)
    low, high = np.array([0.0, 0.0]), np.array([shape[1] - 1.0, shape[0] - 1.0])
    on_border = ((hull <= low) & (ends <= low)).any(axis=1) | ((hull >= high) & (ends >= high)).any(axis=1)
    return (ends - hull)[~on_border]


def _edge_angle(hull: np.ndarray, shape: tuple[int, int]) -> float | None:
    """The angle (degrees, in (-45, 45], as :func:`min_area_box` gives it) of a sheet's
    edges inside the photo: the hull's edges not along the photo's border, where those
    within 2 degrees (modulo 90) of the longest one make 80% of their length (a sheet cut
    off by the photo's edge; a sheet seen at a slant, a trapezoid, has edges that do not
    agree); their length-weighted mean angle; else None."""
    edges = _inner_edges(hull, shape)
    if len(edges) < 2:
        return None
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    angles = (np.degrees(np.arctan2(edges[:, 1], edges[:, 0])) + 45.0) % 90.0 - 45.0
    off = (angles - angles[np.argmax(lengths)] + 45.0) % 90.0 - 45.0  # from the longest edge's, modulo 90
    near = np.abs(off) <= 2.0
    if lengths[near].sum() < 0.8 * lengths.sum():
        return None
    angle = float(angles[np.argmax(lengths)] + np.average(off[near], weights=lengths[near]))
    return (angle + 45.0) % 90.0 - 45.0 or 0.0


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in a 1-D boolean array, as (start, stop) pairs."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def _sheared(shape: tuple[int, int], slope: float) -> np.ndarray:
    """The line each pixel of an array of ``shape`` lies on, for lines of ``slope`` (rows
    per column): row − round(slope · column), counted from 0."""
    shift = np.rint(slope * np.arange(shape[1])).astype(np.int32)
    r = np.arange(shape[0], dtype=np.int32)[:, None] - shift[None, :]
    return r - r.min()


def _slope(ink: np.ndarray) -> float:
    """The slope, within ±5 degrees, along which a mask's ink lines up in rows most: the
    one whose row counts have the largest sum of squares (sampled to 200,000 ink pixels)."""
    ys, xs = np.nonzero(ink)
    step = max(1, len(ys) // 200_000)
    ys, xs = ys[::step], xs[::step]
    slopes = np.tan(np.radians(np.arange(-5.0, 5.01, 0.25)))
    energy = [np.square(np.bincount(ys - np.rint(s * xs).astype(np.int64) + ink.shape[1])).sum() for s in slopes]
    return float(slopes[int(np.argmax(energy))])


def ruled_lines(ink: np.ndarray) -> np.ndarray:
    """The pixels of a mask of ink (white ink on black) on a ruled paper's lines, or none:
    lines (of the slope :func:`_slope` finds, the photo a little turned) whose ink spans
    over 80% of their length, in at least 3 runs, each at most a quarter as thick as the
    median gap between runs (a notebook's lines, thin and evenly spaced; a 7's bar cropped
    to its ink is one run), and two pixels either side; none on an image under 64 pixels
    a side. Columns: pass the mask transposed."""
    line = _sheared(ink.shape, _slope(ink)) if ink.any() else np.zeros(ink.shape, np.int32)
    length = np.bincount(line.ravel())
    if min(ink.shape) < 64:  # a page's lines are not drawn on a small image
        return np.zeros(ink.shape, dtype=bool)
    full = np.bincount(line.ravel(), weights=ink.ravel()) > 0.8 * np.maximum(length, 0.5 * ink.shape[1])
    runs = _runs(full)
    if len(runs) < 3 or max(b - a for a, b in runs) > 0.25 * float(np.median(np.diff([a for a, _ in runs]))):
        return np.zeros(ink.shape, dtype=bool)
    near = np.convolve(full, np.ones(5), mode="same") > 0
    return near[line]


def _tile_spans(n: int, blocks: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``blocks`` tiles of ``n`` pixels (edges at ``linspace(0, n, blocks + 1)``, each at
    least one pixel), grouped by length: (the tiles' numbers, their pixels' indices, one row
    a tile) for each length."""
    edges = np.linspace(0, n, blocks + 1).astype(int)
    starts, lengths = edges[:-1], np.maximum(edges[1:], edges[:-1] + 1) - edges[:-1]
    groups = []
    for length in np.unique(lengths):
        at = np.flatnonzero(lengths == length)
        groups.append((at, starts[at][:, None] + np.arange(length)))
    return groups


def paper_light(levels: np.ndarray, blocks: int = 16) -> np.ndarray:
    """The level of the paper at each pixel of a page of dark ink on light paper (levels in
    [0, 1]), as the light falling on it makes it: the 90th percentile of each of blocks x
    blocks tiles (mostly paper), the largest of those within 2 tiles of each (a tile inside
    a thick stroke takes its neighbours' paper), resized to the page (bilinear)."""
    from PIL import Image

    h, w = levels.shape
    tiles = np.empty((blocks, blocks))
    rows, cols = _tile_spans(h, blocks), _tile_spans(w, blocks)
    # tiles come in at most two heights and two widths: one percentile call for each pair
    for r_at, r_idx in rows:
        for c_at, c_idx in cols:
            block = levels[r_idx[:, None, :, None], c_idx[None, :, None, :]]
            tiles[np.ix_(r_at, c_at)] = np.percentile(block.reshape(len(r_at), len(c_at), -1), 90, axis=-1)
    p = np.pad(tiles, 2, mode="edge")
    tiles = np.max([p[dy : dy + blocks, dx : dx + blocks] for dy in range(5) for dx in range(5)], axis=0)
    return np.asarray(Image.fromarray(tiles.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR), dtype=np.float64)
