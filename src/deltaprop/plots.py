"""Figures as PNG files (SVG or PDF where the file name says so): training curves (seed 000), first-layer weights as images and
weight matrices as heatmaps (seed 001, figure 5), sample images with labels (seed 001,
figure 6) and confusion matrices.

matplotlib is imported only when a figure is drawn, and only its object-oriented API with
the Agg canvas is used (no pyplot, no GUI backend), so ``import deltaprop`` stays fast
and plotting works on servers. Files are written atomically.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _checks
from .atomic import atomic_write_bytes
from .errors import ConfigError, DataError, ShapeError

__all__ = ["plot_confusion", "plot_history", "plot_samples", "plot_weights"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


#: The formats a figure is written in, by the file's suffix (none: PNG).
_FORMATS = {"": "png", ".png": "png", ".svg": "svg", ".pdf": "pdf"}


def figure_format(path) -> str:
    """The format a figure written to ``path`` takes: png, svg or pdf by its suffix (none:
    png); any other suffix is a :class:`ConfigError`, never a PNG named ``history.jpg``, and
    so is a name ending in a separator (``plots/``: a folder, never a file named ``plots``)."""
    if isinstance(path, str) and path.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        raise ConfigError(f"{path} names a folder; give a file name inside it, e.g. {Path(path) / 'figure.png'}")
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise ConfigError(f"{path}: figures are written as PNG, SVG or PDF, not {suffix}; name the file "
                          f"{Path(path).with_suffix('.png').name} (or .svg, .pdf)")
    return _FORMATS[suffix]


def _save(fig, path) -> Path:
    """Write ``fig`` in the format its file name says (:func:`figure_format`)."""
    fmt = figure_format(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return atomic_write_bytes(path, buf.getvalue())


def _column(records: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [math.nan if r.get(key) is None else float(r[key]) for r in records]


#: Values beyond this cannot be drawn (the axis limits around them overflow).
_PLOT_LIMIT = 1e300


def _epochs(records: Sequence[dict[str, Any]]) -> list[int]:
    """Each record's epoch; one without it (None) follows the one before (the first is 1)."""
    epochs: list[int] = []
    for r in records:
        epochs.append(int(r["epoch"]) if r.get("epoch") is not None else (epochs[-1] if epochs else 0) + 1)
    return epochs


def plot_history(records, path, *, title: str = "training", model_epoch: int | None = None,
                 partial: tuple[int, int] | None = None) -> Path:
    """Loss (left) and accuracy (right) per epoch, train and validation, from the
    :class:`~deltaprop.History` ``fit`` returns or its records. The records' columns are
    checked first (numbers, finite, within ±1e300): a :class:`DataError` names a bad one.
    ``model_epoch``: the epoch whose weights the model holds where that is not the last
    (early stopping kept its best), marked on both panels."""
    from matplotlib.ticker import MaxNLocator

    from .training import History

    if isinstance(records, History):
        records = records.records
    if isinstance(records, (list, tuple)):  # the diagnostics and alerts, not drawn, are not checked (20,000 epochs: 1 s)
        records = [{k: v for k, v in r.items() if k not in ("diagnostics", "alerts")} if isinstance(r, dict) else r
                   for r in records]
    records = _checks.history_records(records, limit=_PLOT_LIMIT)
    if not records:
        raise ConfigError("the history is empty: train at least one epoch before plotting it")
    epochs = _epochs(records)
    if model_epoch is not None:
        model_epoch = _checks.positive_int("model_epoch", model_epoch)
    fig = _figure(10, 4)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, label, style in ((metric, "train", "-o"), (f"val_{metric}", "validation", "--s")):
            values = _column(records, key)
            if not all(math.isnan(v) for v in values):
                ax.plot(epochs, values, style, markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no tick at 1.25
        if min(epochs) == max(epochs):  # one epoch: a range around it that holds whole numbers to tick
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
        if ax.lines and model_epoch in epochs and model_epoch != epochs[-1]:
            ax.axvline(model_epoch, color="gray", linestyle=":", label=f"model's weights (epoch {model_epoch})")
        if ax.lines:
            ax.legend()
        else:
            ax.text(0.5, 0.5, f"no {metric} recorded", ha="center", va="center", transform=ax.transAxes)
    if partial is not None:
        taken, full = (_checks.positive_int("partial steps", v) for v in partial)
        partial = (taken, full) if taken < full else None
    partial = partial or _partial_last_epoch(records, epochs)
    fig.suptitle(title if partial is None else f"{title}\n(epoch {epochs[-1]} is partial: {partial[0]} of its "
                 f"{partial[1]} steps)", fontsize=None if partial is None else 10)
    fig.tight_layout()
    return _save(fig, path)


def _partial_last_epoch(records, epochs: list[int]) -> tuple[int, int] | None:
    """``(steps, steps a full epoch takes)`` where the last record is an epoch cut short
    (``steps=`` ended the run mid-epoch): fewer steps than each full epoch before it took,
    all of which took the same number; None otherwise (or where the records cannot tell)."""
    steps = [r.get("steps") for r in records]
    in_order = epochs == list(range(epochs[0], epochs[0] + len(epochs)))
    if len(records) < 2 or not in_order or any(s is None or math.isnan(s) for s in steps):
        return None
    taken = [int(b - a) for a, b in zip(steps, steps[1:])]
    full = set(taken[:-1]) | ({int(steps[0])} if epochs[0] == 1 else set())
    if len(full) != 1 or not 0 < taken[-1] < min(full):
        return None
    return taken[-1], full.pop()


def _grid(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


#: The least side of the inputs drawn as images by default: 8x8 (scikit-learn's digits), as
#: :func:`deltaprop.preprocessing.auto_scaling` judges images.
_IMAGE_SIDE = 8


def _tabular_inputs(net) -> bool:
    """Whether the network standardises its inputs with a σ per feature: training judged
    them columns of a table (in their own units), not the pixels of an image."""
    from .preprocessing import Standardization

    return any(isinstance(layer, Standardization) and layer.std.size > 1 for layer in net.layers)


def plot_weights(net, path, *, max_units: int = 64, images: bool | None = None, title: str | None = None) -> Path:
    """Top: the first Dense layer's weights into each of its first ``max_units`` units as
    images, when its input is a square image (e.g. 784 = 28²). ``images=None`` draws them
    for a square of at least 8x8 inputs (the least ``--scaling auto`` takes for an image)
    that are not a table's columns (inputs standardised with a σ per feature, as a CSV
    file's are); ``True`` (any square of at least 4x4) or ``False`` says so. A network that
    records its inputs' shape (``net.input_shape``) has them drawn in it where they are grey
    images (20x30 too), and not drawn where they are colour images or rows. Bottom: every
    Dense weight matrix as a heatmap (our ``W`` is ``(n_in, n_out)``: rows are inputs).
    ``title``: a first line over the figure (which weights these are: the epoch)."""
    from matplotlib.ticker import MaxNLocator

    from .layers import Dense

    max_units = _checks.positive_int("max_units", max_units)
    dense = [layer for layer in net.layers if isinstance(layer, Dense)]
    if not dense:
        raise ConfigError("this network has no Dense layer, so it has no weights to draw")
    shape, recorded = _weights_shape(net, dense[0].n_in, images)
    square = shape is not None and images is not False
    side = f"{shape[0]}x{shape[1]}" if shape is not None else ""
    if images and not square:
        what = recorded or "not a square image of at least 4x4"
        raise ShapeError(f"the first Dense layer takes {dense[0].n_in} inputs, {what}; draw its weights with images=False")
    n_units = min(dense[0].n_out, max_units) if square else 0
    rows, cols = _grid(n_units) if n_units else (0, 0)
    fig = _figure(max(8, 3.4 * len(dense)), (rows * 1.0 + 4.0) if n_units else 4.2)
    grid = fig.add_gridspec(2 if n_units else 1, 1, height_ratios=[rows * 1.0, 3.0] if n_units else [1])
    if n_units:
        top = grid[0].subgridspec(rows, cols, wspace=0.05, hspace=0.05)
        W = dense[0].W.value
        for k in range(n_units):
            ax = fig.add_subplot(top[k // cols, k % cols])
            w = W[:, k].reshape(shape)
            lim = float(np.max(np.abs(w))) or 1.0
            ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_axis_off()
    lines = [] if title is None else [str(title)]
    if n_units:
        shown = f"each of its {n_units} units" if n_units == dense[0].n_out else f"{n_units} of its {dense[0].n_out} units"
        lines.append(f"first layer: the weights into {shown}, as {side} images")
    if lines:
        fig.suptitle("\n".join(lines), fontsize=10)
    bottom = grid[-1].subgridspec(1, len(dense), wspace=0.9)
    for j, layer in enumerate(dense):
        ax = fig.add_subplot(bottom[0, j])
        W = layer.W.value
        lim = float(np.max(np.abs(W))) or 1.0
        im = ax.imshow(W, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_title(f"W of Dense {layer.n_in}→{layer.n_out}", fontsize=9)
        ax.set_xlabel("unit")
        ax.set_ylabel("input")
        for axis in (ax.xaxis, ax.yaxis):  # units and inputs are whole: no tick at input 0.5 between two rows
            axis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 5, 10], integer=True))
        fig.colorbar(im, ax=ax, fraction=0.08, pad=0.04)
    return _save(fig, path)


def _weights_shape(net, n_in: int, images: bool | None) -> tuple[tuple[int, int] | None, str | None]:
    """The ``(h, w)`` grey image the first layer's ``n_in`` inputs are drawn as (None: none),
    and, where ``net`` records its inputs' shape and that is no grey image, what it is. With
    no recorded shape: a square of at least 8x8 inputs that are not a table's columns
    (``images=None``), or of at least 4x4 (``images=True``)."""
    from .images import image_axes, input_shape_words

    recorded = getattr(net, "input_shape", None)
    if recorded is not None:
        axes = image_axes(recorded)
        if axes is not None and axes[2] == 1:
            return (axes[0], axes[1]), None
        return None, f"which are {input_shape_words(recorded)}, not grey images"
    side = math.isqrt(n_in)
    if side * side != n_in or side < 4 or (images is None and (side < _IMAGE_SIDE or _tabular_inputs(net))):
        return None, None  # 16 bits or 25 columns of a table are no 4x4 or 5x5 picture
    return (side, side), None


def _class_ids(values, name: str, n_examples: int, fix: str) -> np.ndarray:
    """``values`` as one class id per example (1-D, whole numbers >= 0), or a typed error
    that says what was given and ``fix``."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ShapeError(f"{name} must be class ids, one per example (1-D); got shape {values.shape}: {fix}")
    _checks.same_length(n_examples, len(values), names=("x", name))
    return _checks.class_labels(values, name=name)


def samples_problem(n_features: int, *, images: bool | None = None, net=None, force: str = "images=True") -> str | None:
    """Why rows of ``n_features`` values are not drawn as images (with the fix, ``force``
    being how to ask for them), or None when they are. As :func:`plot_weights`:
    ``images=None`` draws a square of at least 8x8 inputs that ``net`` (the model, if any)
    does not standardise as a table's columns; ``True`` any square of at least 4x4."""
    side = math.isqrt(n_features)
    square = side * side == n_features and side >= 4
    table = net is not None and _tabular_inputs(net)
    if images is None:
        images = square and side >= _IMAGE_SIDE and not table
    if images and square:
        return None
    if not square:
        return f"examples have {n_features} features, not a square image of at least 4x4; samples plots draw images"
    why = "the model standardises them one by one, as a table's columns" if table else \
        f"a table's row rather than an image of at least {_IMAGE_SIDE}x{_IMAGE_SIDE}"
    return (f"examples have {n_features} features ({why}); samples plots draw images: pass {force} to draw each "
            f"row as a {side}x{side} image anyway")


def _sample_pictures(x: np.ndarray, n: int, images: bool | None) -> list[np.ndarray]:
    """The first ``n`` examples of ``x`` as :func:`plot_samples` draws them: ``(h, w)`` grey
    levels, or for colour images (:func:`~deltaprop.images.image_axes`, 2 to 4 channels)
    ``(h, w, 4)`` or ``(h, w, 3)`` colours in [0, 1] (levels over 1 read as 0..255)."""
    from .images import image_axes

    flat = x[:n].reshape(n, -1)
    if images is None and x.ndim > 2:
        images = True
    # images already (n, h, w), a channel axis of 1 aside: drawn h x w, not refolded into a square
    axes = image_axes(x.shape[1:]) if x.ndim > 2 and images else None
    if axes is None:
        if (problem := samples_problem(flat.shape[1], images=images)) is not None:  # as plot_weights: 16 columns are no 4x4 image
            raise ShapeError(problem)
        side = math.isqrt(flat.shape[1])
        return [row.reshape(side, side) for row in flat]
    h, w, c, first = axes
    if c == 1:
        return [row.reshape(h, w) for row in flat]
    planes = flat.astype(np.float64).reshape(n, c, h, w) if first else \
        flat.astype(np.float64).reshape(n, h, w, c).transpose(0, 3, 1, 2)
    planes = np.clip(planes / (255.0 if planes.max() > 1 else 1.0), 0.0, 1.0)
    if c == 2:  # grey and alpha
        planes = planes[:, [0, 0, 0, 1]]
    return list(planes.transpose(0, 2, 3, 1))


def plot_samples(x, labels, path, *, class_names: Sequence[str] | None = None, predictions=None, n: int = 25,
                 title: str | None = None, images: bool | None = None) -> Path:
    """The first ``n`` examples as images (rows of 784 become 28x28), titled with their
    label, and with the prediction where given (red when wrong). ``labels`` and
    ``predictions`` are class ids, one per row of ``x`` (``net.predict(x)``, not the
    per-class outputs of ``predict_proba``). Rows are drawn as ``side x side`` images for
    a square of at least 8x8 inputs; 3-D ``x`` (images already, ``(n, h, w)``, or with a
    channel axis of 1) is drawn ``h x w`` as given, and 4-D ``x`` of colour images
    (``(n, h, w, c)`` or ``(n, c, h, w)``, c of 2 to 4) in colour; ``images=True`` draws
    any square of at least 4x4 (16 columns of a table make no picture, so that needs
    asking for), ``False`` none (:func:`samples_problem`)."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ShapeError(f"x must hold one example a row (2-D, or 3-D images); got shape {x.shape}")
    labels = _class_ids(labels, "labels", len(x), "for one-hot rows pass labels.argmax(axis=1)")
    if predictions is not None:
        predictions = _class_ids(predictions, "predictions", len(x),
                                 "pass net.predict(x), the class of each example, not per-class outputs such as "
                                 "net.predict_proba(x)")
    n = min(_checks.positive_int("n", n), x.shape[0])
    if n < 1:
        raise ShapeError("no examples to plot")
    pictures = _sample_pictures(x, n, images)
    names = list(class_names) if class_names is not None else None
    label = lambda c: names[int(c)] if names is not None and 0 <= int(c) < len(names) else str(int(c))  # noqa: E731
    rows, cols = _grid(n)
    fig = _figure(cols * 1.4, rows * 1.6)
    for k in range(n):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(pictures[k], cmap="gray")
        ax.set_axis_off()
        text = label(labels[k])
        color = "black"
        if predictions is not None:
            text += f" → {label(predictions[k])}"
            color = "black" if int(predictions[k]) == int(labels[k]) else "red"
        ax.set_title(text, fontsize=8 if len(text) <= 12 else 6, color=color)
    if title is None:
        title = f"{n} examples: label → prediction (red: wrong)" if predictions is not None else f"{n} examples and their labels"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _counts_matrix(cm) -> np.ndarray:
    """``cm`` checked as a confusion matrix: square, of whole counts >= 0."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ShapeError(f"a confusion matrix is square (k, k); got shape {cm.shape}: build it with "
                         "deltaprop.confusion_matrix(y_true, y_pred, k)")
    if cm.dtype.kind not in "biuf":
        raise DataError(f"the confusion matrix holds {cm.dtype} values, not counts")
    if cm.size and (not _checks.all_finite(cm) or (cm < 0).any() or (cm != np.round(cm)).any()):
        raise DataError("the confusion matrix must hold counts (whole numbers >= 0); "
                        "build it with deltaprop.confusion_matrix(y_true, y_pred, k)")
    return cm


def plot_confusion(cm, path, *, class_names: Sequence[str] | None = None, title: str = "confusion matrix") -> Path:
    """The confusion matrix as a heatmap with counts (rows: true class; columns: predicted);
    long class names are slanted so they do not overlap."""
    cm = _counts_matrix(cm)
    k = cm.shape[0]
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ShapeError(f"{len(names)} class names for a {k}x{k} confusion matrix; give one name per class")
    longest = max((len(n) for n in names), default=1)
    extra = 0.07 * longest if longest > 3 else 0.0
    fig = _figure(max(4, 0.55 * k + 2 + extra), max(4, 0.55 * k + 1.5 + extra))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(cm, cmap="Blues")
    slanted = k > 10 or longest > 3
    ax.set_xticks(range(k), labels=names, rotation=45 if slanted else 0, ha="right" if slanted else "center",
                  rotation_mode="anchor")
    ax.set_title(title)
    ax.set_yticks(range(k), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        top = cm.max() if cm.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if top and cm[i, j] > top / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, path)
