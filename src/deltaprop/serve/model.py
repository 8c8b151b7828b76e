"""What the page shows about one input: the forward and backward pass of a saved model.

Every number comes from the library: probabilities from :meth:`Network.predict_proba`
(as ``deltaprop predict``; a model whose outputs are scores, say squared error on a linear
output, has none: its scores are given as scores), each layer's ``a`` and ``δ`` from
:meth:`Network.loss_and_gradients` and :meth:`Network.trace`, and the input gradient
``∂L/∂x = δ¹ (W¹)ᵀ`` from the first layer's own ``backward`` (the network skips that GEMM
when training, since no parameter needs it).

The model is read from a file or from a run folder. In a run folder it is whichever of
``model.safetensors`` and ``checkpoint.safetensors`` training wrote last (a ``train
--resume`` writes checkpoints past the old model file), read again when training writes
a newer one, so the page follows the run.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, Error, ModelFileError, ShapeError
from ..images import IMAGE_SIDE, levels_recorded, style_for
from ..images import image_axes, input_shape_words
from ..images import model_image_side as image_side
from ..images import model_levels_top as _levels_top
from ..layers import Dense
from ..losses import Loss

__all__ = ["IMAGE_SIDE", "ModelSource", "NoModelYet"]

_RUN_MODELS = ("model.safetensors", "checkpoint.safetensors")  # on equal times, the finished model


class NoModelYet(Error, LookupError):
    """A run folder whose training has not written a model or checkpoint yet."""


@dataclass
class _Loaded:
    net: Any
    loss: Loss
    class_names: tuple[str, ...]
    input_scaling: dict[str, Any] | None
    outputs: str  # ModelFile.outputs: probabilities, logits or scores
    scaler: Any  # the model's own input layer (Rescaling, Standardization), or None
    path: Path
    stamp: tuple[int, int]
    epoch: int | None  # the epoch whose weights it holds, where the file or its run folder tells
    kind: str = "model"  # model or checkpoint
    image_style: str = "digit"  # how a drawing becomes its inputs (deltaprop.images), as predict reads images
    levels_top: float = 255.0  # a white pixel's value in the training inputs (serialization.image_levels_top)
    feature_names: tuple[str, ...] | None = None  # a CSV header's names of the input columns, where recorded
    value_names: tuple[str, ...] = ()  # a regressor's: its outputs' names (the target columns'), else y, y0, y1, ...
    side: int | None = IMAGE_SIDE  # the side of the square images the model takes (None: not images, a form)
    levels_known: bool = True  # whether the file records the training inputs' range (images.levels_recorded)
    batches: int | None = None  # batches trained of ``epoch``, where training stopped inside it (None: all of it)
    style_known: bool = True  # False: trained on a data file, which does not say how its images were made
    input_shape: tuple[int, ...] | None = None  # one input's shape as the file records it (None: not known)

    @property
    def grid(self) -> tuple[int, int] | None:
        """The (h, w) of the grey images the pad draws for the model: its square side's, or the
        recorded ``input_shape``'s (20x30; each side at least 4, as a square one's); None for inputs
        the pad cannot draw (colour, a table's)."""
        if self.side is not None:
            return self.side, self.side
        axes = image_axes(self.input_shape)
        return (axes[0], axes[1]) if axes is not None and axes[2] == 1 and min(axes[:2]) >= 4 else None

    @property
    def version(self) -> str:
        """Which file and which write of it the model was read from: the page reads the
        model's description again when an answer names another."""
        return f"{self.path.name}:{self.stamp[0]}:{self.stamp[1]}"

    @property
    def first_index(self) -> int:
        """The model file's number of ``net``'s first layer: 1 after the input layer the page
        applies itself, so that layers are numbered as the run's alerts and diagnostics
        number them."""
        return 0 if self.scaler is None else 1


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def newest_run_model(folder: Path) -> Path | None:
    """The model file of the run folder ``folder`` that training wrote last, or None.

    A model file records no epoch, so the files' modification times decide: training
    writes ``checkpoint.safetensors`` at an epoch end every 5 seconds or so
    (:class:`~deltaprop.callbacks.CheckpointWriter`) and ``model.safetensors`` once,
    after the last checkpoint, when it finishes; a ``train --resume`` leaves the old
    model file in place while its checkpoints move on. On equal times, the model."""
    stamps = {name: _stamp(folder / name) for name in _RUN_MODELS}
    present = [name for name in _RUN_MODELS if stamps[name] is not None and (folder / name).is_file()]
    if not present:
        return None
    return folder / max(present, key=lambda name: (stamps[name][0], name == _RUN_MODELS[0]))


def _epoch_reached(training: dict) -> tuple[int, int | None]:
    """``(epoch, batches)`` of a checkpoint's weights, numbered as the run's history and
    ``run.json``'s ``model_weights`` number them: ``batches`` is None for a complete epoch's
    weights, else the batches trained of ``epoch``, which a steps limit, a stop or Ctrl-C
    ended inside it (its record then closes that epoch early, but the weights are not a
    complete epoch's)."""
    unfinished = training.get("unfinished")
    if isinstance(unfinished, dict):
        done, batches = unfinished.get("epoch"), unfinished.get("batches")
        if type(done) is int and type(batches) is int and done >= 0 and batches > 0:
            return done + 1, batches
    return int(training["epoch"]), None


def _run_model_epoch(model: Path) -> tuple[int, int | None] | None:
    """The epoch whose weights a run's ``model.safetensors`` holds, from the checkpoint that
    training wrote before it: the best epoch where early stopping kept that epoch's
    weights (its record's key among the checkpoint's saved weights), else the checkpoint's
    epoch and, for one it stopped inside, the batches trained of it (see :func:`_epoch_reached`). None
    when the folder has no older checkpoint or it cannot be read."""
    from ..serialization import MAX_FILE_BYTES, _read_header

    checkpoint = model.with_name(_RUN_MODELS[1])
    model_stamp, checkpoint_stamp = _stamp(model), _stamp(checkpoint)
    if model_stamp is None or checkpoint_stamp is None or checkpoint_stamp[0] > model_stamp[0]:
        return None
    try:
        training = json.loads(_read_header(checkpoint, MAX_FILE_BYTES)[1].get("training", "null"))
    except (Error, OSError, ValueError):
        return None
    if not isinstance(training, dict) or type(training.get("epoch")) is not int:
        return None
    records = training.get("callbacks") if isinstance(training.get("callbacks"), dict) else {}
    kept = training.get("saved_weights") if isinstance(training.get("saved_weights"), list) else []
    for key in (k for k in kept if isinstance(k, str) and k.startswith("early_stopping.")):
        record = records.get(key)
        if isinstance(record, dict) and type(record.get("best_epoch")) is int:
            return record["best_epoch"], None
    return _epoch_reached(training)


def _feature_names(mf) -> tuple[str, ...] | None:
    """The input columns' names the model file records, if one a feature: a CSV file's header
    (``deltaprop train``), or the columns of the DataFrame a scikit-learn estimator was
    fitted on (``feature_names_in``)."""
    names = mf.extra.get("feature_names")
    if names is None:
        names = mf.extra.get("feature_names_in")
    ok = isinstance(names, list) and len(names) == mf.net.n_features and all(isinstance(n, str) for n in names)
    return tuple(names) if ok else None


def _value_names(mf) -> tuple[str, ...]:
    """A regressor's output names: ``target_names`` in the file's metadata (one a output,
    as ``dp.save(..., extra={"target_names": [...]})`` records them), else ``y`` for one
    output and ``y0``, ``y1``, ... for more."""
    n = mf.net.n_outputs
    names = mf.extra.get("target_names")
    if isinstance(names, list) and len(names) == n and all(isinstance(v, str) and v for v in names):
        return tuple(names)
    return ("y",) if n == 1 else tuple(f"y{i}" for i in range(n))


def _all_finite(out: dict[str, Any]) -> dict[str, Any]:
    """``out`` when every number in it is finite; else a :class:`DataError` naming the first
    layer (or the input gradient) whose numbers overflowed: JSON has no inf or NaN, and a
    model whose weights have grown this large is diverging."""
    for layer in out["layers"]:
        for field, what in (("output", "output"), ("delta", "δ"), ("grad_norms", "gradient")):
            values = layer.get(field)
            values = list(values.values()) if isinstance(values, dict) else values
            if values is not None and not np.all(np.isfinite(values)):
                raise DataError(f"layer {layer['index']} ({layer['type']})'s {what} is not finite for this input (its "
                                "numbers overflow); the model may be diverged")
    for key, what in (("loss", "the loss"), ("input_gradient", "∂L/∂x")):
        if key in out and not np.all(np.isfinite(out[key])):
            raise DataError(f"{what} is not finite for this input (its numbers overflow); the model may be diverged")
    return out


def _threshold_probability(m: _Loaded) -> float | None:
    """Class 1's probability at which a single-output classifier whose outputs are
    probabilities (or a logit: ``σ(t)``) says class 1; None for other models."""
    if m.net.n_outputs != 1 or m.outputs not in ("probabilities", "logits"):
        return None
    t = float(m.net.decision_threshold)
    return t if m.outputs == "probabilities" else 0.5 * (1.0 + float(np.tanh(0.5 * t)))


class ModelSource:
    """A model file, or the newest model of a run folder, with one lock around the network
    (its layers keep per-batch buffers, so two requests must not interleave)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.is_run = self.path.is_dir()
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        if not self.is_run:
            if not self.path.is_file():
                raise ModelFileError(f"{self.path}: no such model file or run folder")
            self._load(self.path)

    # -- loading ------------------------------------------------------------------------------
    def _candidate(self) -> Path | None:
        return newest_run_model(self.path) if self.is_run else self.path

    def _load(self, path: Path) -> None:
        from ..serialization import is_one_class, read_model

        stamp = _stamp(path)
        mf = read_model(path)
        if mf.outputs == "labels":
            raise ModelFileError(f"{path}: is a multi-label classifier; the page shows the one class a drawing is, "
                                 "so serve a classifier of one class a row, or a regressor")
        if is_one_class(mf.class_names, mf.net.n_outputs):
            raise ModelFileError(f"{path}: knows one class alone ({mf.class_names[0]}): every drawing would be it; "
                                 "serve a classifier of two or more classes")
        names = tuple(mf.class_names or ())
        k = mf.net.n_outputs if mf.net.n_outputs > 1 else 2
        names = () if mf.outputs == "values" else names[:k] + tuple(str(i) for i in range(len(names), k))
        if mf.kind == "checkpoint":
            epoch, batches = _epoch_reached(mf.training)
        else:
            epoch, batches = (_run_model_epoch(path) if self.is_run else None) or (None, None)
        from ..preprocessing import split_input_layer

        net, scaling = split_input_layer(mf.net)  # the page applies the input scaling as a step of its own
        scaler = mf.net.layers[0] if net is not mf.net else None
        config = mf.extra.get("config")
        found = style_for(config.get("dataset") if isinstance(config, dict) else None)
        style = found or "digit"
        side = image_side(mf)
        self._loaded = _Loaded(net, mf.training_loss(), names, scaling, mf.outputs, scaler, path, stamp or (0, 0),
                               epoch, mf.kind, style, _levels_top(mf, side), _feature_names(mf),
                               _value_names(mf) if mf.outputs == "values" else (), side, levels_recorded(mf), batches,
                               found is not None, mf.input_shape)

    def _current(self) -> _Loaded:
        """The loaded model, read again first if its file changed (caller holds the lock)."""
        path = self._candidate()
        if path is None:  # none yet, or a new run (train --overwrite) removed the old one's files
            self._loaded = None
            from .run import ENDED, _recorded_status, _training

            if _training(self.path) is False:  # the run ended, or its process is gone: no model will come
                status = _recorded_status(self.path)
                how = f"{status}, as its run.json says" if status in ENDED else "its training process is gone"
                raise NoModelYet(f"{self.path} holds no model: its run ended ({how}) before it saved one, so there is "
                                 "none to show; its report.html says why, and training it again writes one")
            raise NoModelYet(f"{self.path} has no model yet; it appears when training writes its first checkpoint, "
                             "at the first epoch end 5 s into training (or when training ends)")
        loaded = self._loaded
        if loaded is None or loaded.path != path or _stamp(path) != loaded.stamp:
            try:
                self._load(path)
            except Error:
                # a run's file may go as it is read (train --overwrite): its last model stands in until
                # the next; a model file that now holds no servable model is said to, not hidden behind
                # the model it held before
                if loaded is None or not self.is_run:
                    raise
        return self._loaded

    # -- what the page asks for ----------------------------------------------------------------
    def image_style(self) -> str:
        """How a drawing becomes the model's inputs: its training data's style (digit for a
        model that does not record it, or for data of another kind: the page draws digits)."""
        with self._lock:
            try:
                return self._current().image_style
            except NoModelYet:
                return "digit"

    def image_side(self) -> int | None:
        """The side of the square images the model takes (28 while a run has no model yet),
        or None for a model whose inputs are no image."""
        with self._lock:
            try:
                return self._current().side
            except NoModelYet:
                return IMAGE_SIDE

    def image_grid(self) -> tuple[int, int] | None:
        """:attr:`_Loaded.grid` of the model ((28, 28) while a run has no model yet)."""
        with self._lock:
            try:
                return self._current().grid
            except NoModelYet:
                return IMAGE_SIDE, IMAGE_SIDE

    def gives_values(self) -> bool:
        """Whether the model is a regressor (its outputs are values, its targets numbers)."""
        with self._lock:
            try:
                return self._current().outputs == "values"
            except NoModelYet:
                return False

    def describe(self) -> dict[str, Any]:
        """The architecture, classes and where the model came from."""
        with self._lock:
            m = self._current()
            image = m.grid is not None
            layers = []
            width = m.net.n_features
            for i, layer in enumerate(m.net.layers):
                if isinstance(layer, Dense):
                    width = layer.n_out
                name = f"Dense {layer.n_in}→{layer.n_out}" if isinstance(layer, Dense) else layer.type_name
                layers.append({"index": i + m.first_index, "type": layer.type_name, "units": width, "name": name})
            return {
                "source": str(m.path), "file": m.path.name, "kind": m.kind, "run": self.is_run, "epoch": m.epoch,
                # batches trained of epoch `epoch` where the weights are from inside it (null: a complete epoch's),
                # as run.json's model_weights says
                "batches": m.batches, "version": m.version,
                "classes": list(m.class_names), "outputs": m.outputs,
                # a regressor's outputs are values, one a target column: their names (null for a classifier)
                "value_names": list(m.value_names) if m.outputs == "values" else None,
                "n_features": m.net.n_features, "image_input": image, "image_side": m.side,
                # the (h, w) of the grey images the pad draws (null: a form); [h, h] where image_side is h
                "image_grid": list(m.grid) if image else None,
                "levels_top": m.levels_top if image else None,
                # false: the file does not record its training inputs' range, so levels_top 255 is assumed
                "levels_known": m.levels_known if image else None,
                "features": None if image else list(m.feature_names or (f"x{i}" for i in range(m.net.n_features))),
                # a form's starting values: the training inputs' mean where the model standardises them
                "feature_means": None if image or m.scaler is None or not hasattr(m.scaler, "mean") else
                np.broadcast_to(np.asarray(m.scaler.mean, np.float64), (m.net.n_features,)).tolist(),
                "input_scaling": (m.input_scaling or {"kind": "none"})["kind"], "loss": type(m.loss).__name__,
                "layers": layers, "dtype": m.net.dtype.name, "image_style": m.image_style,
                # false: trained on a data file, which does not say how its images were made; digit is assumed
                "image_style_known": m.style_known if image else None,
                # one input's shape as the file records it ([14, 14, 4]), and in words; null: not recorded, and
                # a square count of inputs is taken for a square grey image, a guess the page says
                "input_shape": list(m.input_shape) if m.input_shape is not None else None,
                "input_words": input_shape_words(m.input_shape) if m.input_shape is not None else None,
                # a single output says class 1 at a >= threshold (class 0 below it)
                "threshold": float(m.net.decision_threshold) if m.net.n_outputs == 1 and m.outputs != "values" else None,
                # that threshold as class 1's probability (σ(t) for a logit): the page says a class decided
                # away from 0.5 may have the smaller probability, as deltaprop predict's note does
                "threshold_probability": _threshold_probability(m),
            }

    def first_weights(self, unit: int) -> dict[str, Any]:
        """Column ``unit`` of the first Dense layer's ``W`` (the weights into hidden unit
        ``unit``, or into output ``unit`` of a model with no hidden layer), shaped as the
        input image when the input is one, with the version of the model they are from: a
        page must not show them beside another model's pass."""
        with self._lock:
            m = self._current()
            dense = next(layer for layer in m.net.layers if isinstance(layer, Dense))
            if not 0 <= unit < dense.n_out:
                raise ShapeError(f"unit must be in 0..{dense.n_out - 1}, got {unit}")
            w = dense.W.value[:, unit].astype(np.float64)
            if m.grid is not None and dense.n_in == m.grid[0] * m.grid[1]:
                w = w.reshape(m.grid)
            return {"unit": unit, "bias": float(dense.b.value[unit]), "weights": w.tolist(),
                    "model_version": m.version}

    def forward(self, pixels: np.ndarray) -> dict[str, Any]:
        """The class, its probabilities (or, for a model whose outputs are scores, the raw
        scores, as ``deltaprop predict`` shows them) and every layer's output ``a`` for one
        square image of the model's side (raw 0..255 pixels), or for one row of the model's raw input values (1-D)."""
        with self._lock, np.errstate(over="ignore", invalid="ignore"):  # overflows are caught by _all_finite
            m = self._current()
            x = self._input(m, pixels)
            out = self._prediction(m, x)
            with m.net.dropout_bypassed():
                m.net.forward(x, train=True)  # recorded, so trace() has every layer's a
            out["layers"] = [self._layer_view(t, m.first_index, with_delta=False) for t in m.net.trace()]
            return _all_finite(out)

    def backward(self, pixels: np.ndarray, target) -> dict[str, Any]:
        """:meth:`forward` plus the loss for ``target`` (a classifier's: a class id, default
        the predicted class; a regressor's: one value an output, each None or omitted for
        the prediction itself, where ``∂L/∂a = 0``), δ at every layer and ``∂L/∂x``, all
        with the model's own loss."""
        with self._lock, np.errstate(over="ignore", invalid="ignore"):  # overflows are caught by _all_finite
            m = self._current()
            x = self._input(m, pixels)
            out = self._prediction(m, x)
            if m.outputs == "values":
                target = self._value_target(m, target, out["values"])
                y = np.array([target], dtype=np.float64)
            else:
                k = len(m.class_names)
                target = out["predicted"] if target is None else target
                if type(target) is not int:
                    raise ShapeError(f"target must be a class id (an integer in 0..{k - 1}), got {target!r}")
                if not 0 <= target < k:
                    raise ShapeError(f"target must be a class id in 0..{k - 1}, got {target}")
                y = np.array([target])
            value = m.net.loss_and_gradients(m.loss, x, y, train=False)
            traces = m.net.trace()
            grad_x = self._input_gradient(m.net, traces)
            if m.scaler is not None:  # ∂L/∂pixel: through the scaling the page applied (1/255, 1/σ)
                grad_x = m.scaler.backward(grad_x, need_input_grad=True)
            if pixels.ndim == 2 and m.levels_top != 255.0:  # and through the pixels' scaling to the training levels
                grad_x = grad_x * (m.levels_top / 255.0)
            out.update(target=target, loss=float(value),
                       layers=[self._layer_view(t, m.first_index, with_delta=True) for t in traces],
                       input_gradient=self._image(grad_x[0], m.grid))
            return _all_finite(out)

    @staticmethod
    def _value_target(m: _Loaded, target, predicted: list[float]) -> list[float]:
        """A regressor's target row: one number an output (a bare number for one output);
        None, or a None in the row, is the prediction itself."""
        n = len(predicted)
        if target is None:
            return list(predicted)
        row = list(target) if isinstance(target, (list, tuple)) else [target]
        if len(row) != n or not all(v is None or (type(v) in (int, float) and np.isfinite(v)) for v in row):
            what = "a number (or null: the prediction)" if n == 1 else f"{n} numbers, one an output (null: the prediction)"
            raise ShapeError(f"target of this regressor must be {what}, got {json.dumps(target)[:60]}")
        largest = float(np.finfo(m.net.dtype).max)
        for name, v in zip(m.value_names, row):
            if v is not None and abs(v) > largest:
                raise DataError(f"target {name} is {v:g}, beyond this {m.net.dtype.name} model's range "
                                f"(±{largest:.4g}); give a smaller number")
        return [float(p if v is None else v) for v, p in zip(row, predicted)]

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _input_gradient(net, traces) -> np.ndarray:
        """``∂L/∂x``: the first Dense layer's ``backward`` on the δ it received, then back
        through any parameter-free input layers before it (rescaling, say), each with its
        own ``backward``. The network stops at the first Dense layer when training."""
        k = next(i for i, layer in enumerate(net.layers) if isinstance(layer, Dense))
        g = net.layers[k].backward(traces[k].delta, need_input_grad=True)
        for layer in reversed(net.layers[:k]):
            g = layer.backward(g, need_input_grad=True)
        return g

    @staticmethod
    def _input(m: _Loaded, pixels: np.ndarray) -> np.ndarray:
        """Raw 0..255 pixels → the network's input: scaled to the range of the model's raw
        training inputs (0..1 for a model trained on such a file, as ``deltaprop predict``
        reads images), then the model's own input scaling."""
        from ..serialization import apply_scaling

        if pixels.ndim == 1:  # a row of raw input values, as the model's training data held them
            if pixels.size != m.net.n_features:
                raise ShapeError(f"this model takes {m.net.n_features} inputs, got {pixels.size}")
            largest = float(np.finfo(m.net.dtype).max)
            if np.abs(pixels).max() > largest:
                i = int(np.argmax(np.abs(pixels) > largest))
                name = m.feature_names[i] if m.feature_names else f"x{i}"
                raise DataError(f"input {name} is {pixels[i]:g}, beyond this {m.net.dtype.name} model's range "
                                f"(±{largest:.4g}); give a smaller number")
            return apply_scaling(m.input_scaling, pixels.reshape(1, -1), m.net.dtype)
        if m.grid is None:
            raise ShapeError(f"this model takes {m.net.n_features} inputs, not a 28x28 image nor a smaller square one; "
                             f"send them as {{\"inputs\": [{m.net.n_features} numbers]}}")
        h, w = m.grid
        if pixels.shape != (h, w):
            raise ShapeError(f"this model takes {h}x{w} images, not {pixels.shape[0]}x{pixels.shape[1]}; "
                             f"send {h}x{w} pixels or a PNG")
        rows = np.asarray(pixels).reshape(1, h * w)
        if m.levels_top != 255.0:
            rows = rows * (m.levels_top / 255.0)
        return apply_scaling(m.input_scaling, rows, m.net.dtype)

    @staticmethod
    def _prediction(m: _Loaded, x: np.ndarray) -> dict[str, Any]:
        from ..network import predictions_from_outputs
        from ..serialization import class_probabilities

        out = m.net.predict_proba(x)
        if m.outputs == "values":  # a regressor: its outputs are the predicted values, no class
            if not np.all(np.isfinite(out)):
                raise DataError("the network's output is not finite for this input; the model may be diverged")
            return {"predicted": None, "classes": [], "outputs": "values", "probabilities": None, "scores": None,
                    "values": out[0].astype(np.float64).tolist(), "value_names": list(m.value_names),
                    "model_file": m.path.name, "model_epoch": m.epoch, "model_version": m.version}
        predicted = int(predictions_from_outputs(out, threshold=m.net.decision_threshold)[0])
        proba = class_probabilities(out, m.outputs)
        values = (proba if proba is not None else out)[0]
        if not np.all(np.isfinite(values)):
            raise DataError("the network's output is not finite for this input; the model may be diverged")
        shown = values.astype(np.float64).tolist()
        return {"predicted": predicted, "classes": list(m.class_names), "outputs": m.outputs,
                "probabilities": shown if proba is not None else None, "scores": None if proba is not None else shown,
                "model_file": m.path.name, "model_epoch": m.epoch, "model_version": m.version}

    @staticmethod
    def _image(v: np.ndarray, grid: tuple[int, int] | None) -> list | None:
        v = np.asarray(v, dtype=np.float64)
        return v.reshape(grid).tolist() if grid is not None and v.size == grid[0] * grid[1] else v.tolist()

    @staticmethod
    def _layer_view(t, first_index: int, *, with_delta: bool) -> dict[str, Any]:
        view: dict[str, Any] = {"index": t.index + first_index, "type": t.layer,
                                "output": None if t.output is None else t.output[0].astype(np.float64).tolist()}
        if with_delta:
            view["delta"] = None if t.delta is None else t.delta[0].astype(np.float64).tolist()
            view["grad_norms"] = t.grad_norms
        return view
