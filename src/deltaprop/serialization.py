"""Model files and checkpoints: one ``.safetensors`` file, never pickle.

Layout: the 8-byte little-endian header length, a JSON header (tensor names, dtypes,
shapes and byte offsets, plus string metadata under ``__metadata__``), then the raw
little-endian tensor bytes. Tensors are named ``layers.{i}.{param}``; a checkpoint adds
``optimizer.{i}.{slot}``, and a long run's checkpoint the bytes of its history's JSON
(uint8 ``training.history``, where the header would grow too large). The metadata holds
the architecture (layer types from the closed
table :data:`deltaprop.layers.LAYERS`; nothing in a file is imported or evaluated), dtype,
format version, class names, input scaling, the range of the raw training inputs where it
is known (``input_range``), training state for checkpoints, and two
digests: ``tensors_sha256`` over every tensor (name and bytes, in architecture order) and
``metadata_sha256`` over the rest of the metadata, so a flipped bit anywhere is caught.

Loading opens regular files only and reads the 8-byte length and the header alone first,
checked against the file's size; the header's JSON is parsed with nesting and digits
capped (:mod:`deltaprop.bounded`). Then the metadata digest, the architecture (layer count
and total parameters capped) and every tensor's name, dtype and shape, and the data size
against the file, all before any tensor is touched. Only then is the file mapped with
safetensors' own reader (which checks the byte offsets), each tensor copied into the
network as it is hashed, and the tensor digest and NaN/inf checked. Writing goes through
:func:`deltaprop.atomic.atomic_write`, the header's keys sorted, so that the same network
and metadata always give the same bytes; the header first, then each tensor's bytes from
its own array, so a file is never held whole in memory (a checkpoint of a 25M-parameter
network under Adam is 300 MB in float32).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _checks
from .atomic import atomic_write
from .bounded import open_regular, parse_int, parse_json
from .errors import ConfigError, Error, ModelFileError, ShapeError, StateError
from .layers import LAYERS
from .network import Network, resolve_dtype

__all__ = [
    "FORMAT_VERSION", "Checkpoint", "ModelFile", "apply_scaling", "encode_checkpoint", "encode_model", "input_range_of",
    "load", "load_checkpoint", "read_model", "save", "save_checkpoint", "scaling_for", "write_checkpoint_parts",
]

FORMAT = "deltaprop"
FORMAT_VERSION = 1
#: The JSON header holds names, shapes and metadata: a few MB at most, even with history.
MAX_HEADER_BYTES = 64 << 20
#: Most layers a file may declare, and most parameters (weights and biases) in all of them.
MAX_LAYERS = 1024
MAX_PARAMETERS = 1 << 30
#: Most copies of the parameters a file holds: a checkpoint's weights, two optimizer slots
#: (Adam's m and v) and up to four saved copies (``training.MAX_SAVED_WEIGHTS``).
MAX_COPIES = 7
#: Refuse files bigger than this (bytes) unless the caller lowers the bound: the largest
#: file the limits above allow, ``8 + MAX_HEADER_BYTES + 8 · MAX_PARAMETERS · MAX_COPIES``
#: (float64).
MAX_FILE_BYTES = 8 + MAX_HEADER_BYTES + 8 * MAX_PARAMETERS * MAX_COPIES
#: A checkpoint whose training state (JSON) would pass this many bytes keeps its history as
#: the UTF-8 bytes of its JSON in a uint8 tensor of this name instead: the history grows
#: with the epochs (about 1.6 KB an epoch with diagnostics), and in the header it would pass
#: MAX_HEADER_BYTES after some 40,000 epochs.
HISTORY_TENSOR = "training.history"
HISTORY_INLINE_BYTES = 8 << 20
#: The most bytes of history JSON a checkpoint may hold (about 600,000 epochs).
MAX_HISTORY_BYTES = 1 << 30
MAX_FILE_BYTES += MAX_HISTORY_BYTES
_DTYPE_CODES = {"float32": "F32", "float64": "F64"}
# What building objects from a file's (checked, but still untrusted) settings may raise:
# each becomes a ModelFileError naming the file.
_BUILD_ERRORS = (Error, TypeError, ValueError, KeyError, AttributeError, OverflowError, IndexError)


# -- input scaling ----------------------------------------------------------------------------
def scaling_for(x: np.ndarray) -> dict[str, Any]:
    """The scaling that :func:`deltaprop.data.scale_to_unit` applies to raw data like ``x``:
    integer pixels are divided by their full scale (255 or 65535), floats are taken as they are."""
    from .data.transforms import pixel_maximum

    x = np.asarray(x)
    if x.dtype.kind in "ui":
        return {"kind": "unit", "max": pixel_maximum(x)}
    return {"kind": "none"}


def _check_scaling(spec: Any, n_features: int) -> dict[str, Any] | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("kind") not in ("none", "unit", "standardize"):
        raise ModelFileError(f"unknown input scaling {spec!r}; expected kind none, unit or standardize")
    if spec["kind"] == "unit":
        m = spec.get("max")
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or m <= 0:
            raise ModelFileError(f"input scaling 'unit' needs a finite max > 0, got {m!r}")
    if spec["kind"] == "standardize":
        from .data.transforms import Standardizer

        try:
            std = Standardizer.from_dict(spec.get("state", {}))
        except Error as exc:
            raise ModelFileError(f"bad standardize input scaling: {exc}") from None
        if std.mean.size != n_features:
            raise ModelFileError(f"the input scaling has {std.mean.size} features; the network takes {n_features}")
    return spec


def recorded_levels_top(model: "ModelFile") -> float | None:
    """The top of the raw training inputs' range the file records (``input_range``), where
    it says an image's levels: the inputs ran over [0, hi] (a low of 0 or above, as image
    levels have, and hi > 0); None otherwise (none recorded: a file written by ``save``
    without ``input_range``, or by an older deltaprop)."""
    lohi = getattr(model, "input_range", None)
    return lohi[1] if lohi is not None and lohi[0] >= 0 and lohi[1] > 0 else None


def image_levels_top(model: "ModelFile") -> float:
    """The value a white pixel had in the model's raw training inputs, which an image's
    0..255 levels are to be scaled to: the full scale of a ÷max scaling layer (255 for
    8-bit levels, 65535 for 16-bit ones); else the top the file records of its raw
    training inputs' range (:func:`recorded_levels_top`: 16 for scikit-learn's 8x8 digits);
    else 255 for 8-bit levels (raw MNIST levels), 1 for inputs that lay in [0, 1]: no scaling layer where
    ``auto`` chose none for a data file (it does so only for data in [0, 1]), or a
    standardisation whose μ all lie in [0, 1] and σ ≤ 1 (data in [0, 1] has σ ≤ 0.5; a
    constant feature's σ is stored as 1)."""
    from .data import DATASETS
    from .preprocessing import Rescaling, Standardization

    first = model.net.layers[0]
    if isinstance(first, Rescaling):
        return float(round(1.0 / first.scale))
    recorded = recorded_levels_top(model)
    if recorded is not None:
        return recorded
    if isinstance(first, Standardization):
        unit = first.mean.min() >= 0 and first.mean.max() <= 1 and first.std.max() <= 1
        return 1.0 if unit else 255.0
    config = model.extra.get("config")
    dataset = config.get("dataset") if isinstance(config, dict) else None
    from_file = isinstance(dataset, str) and dataset.lower().replace("_", "-") not in DATASETS
    return 1.0 if isinstance(config, dict) and config.get("scaling") == "auto" and from_file else 255.0


def input_range_of(x) -> tuple[float, float] | None:
    """``(min, max)`` over every value of raw training inputs ``x`` (an array, or rows still
    on disk with an ``extremes()`` method), as a model file records it; None when ``x`` is
    empty or holds a value that is not finite."""
    x = x.extremes() if hasattr(x, "extremes") else np.asarray(x)
    if x.size == 0:
        return None
    low, high = float(np.min(x)), float(np.max(x))
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


def _finite_number(v: Any) -> bool:
    """Whether ``v`` is an int or float (not a bool) that is finite as a float."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond any float
        return False


def _range_problem(value: Any) -> str | None:
    """What is wrong with ``value`` as an input range ``{"min": lo, "max": hi}``, or None."""
    if not isinstance(value, dict) or set(value) != {"min", "max"}:
        return "must be a mapping of exactly min and max"
    for key in ("min", "max"):
        v = value[key]
        if not _finite_number(v):
            return f"{key} must be a finite number, got {v!r}"
    if value["min"] > value["max"]:
        return f"min {value['min']!r} is above max {value['max']!r}"
    return None


def _recordable_range(input_range) -> dict[str, float] | None:
    """``save(input_range=(lo, hi))`` as the file records it, refused (:class:`ConfigError`)
    unless it is two finite numbers lo ≤ hi."""
    if input_range is None:
        return None
    try:
        low, high = (v.item() if isinstance(v, np.generic) else v for v in input_range)
    except (TypeError, ValueError):
        raise ConfigError(f"input_range must be (min, max) of the raw training inputs, got {input_range!r}") from None
    value = {"min": low, "max": high}
    problem = _range_problem(value)
    if problem:
        raise ConfigError(f"input_range must be (min, max) of the raw training inputs: {problem}")
    return {"min": float(low), "max": float(high)}


def apply_scaling(spec: dict[str, Any] | None, x, dtype) -> np.ndarray:
    """Raw inputs → what the network was trained on (same arithmetic as training)."""
    dtype = np.dtype(dtype)
    x = np.asarray(x)
    if x.dtype.kind not in "uifb":
        raise ShapeError(f"inputs must be real numbers, got dtype {x.dtype}")
    if spec is None or spec["kind"] == "none":
        return _checks.cast_checked(x, dtype)
    if spec["kind"] == "unit":
        out = _checks.cast_checked(x, dtype)
        out *= dtype.type(1.0 / spec["max"])
        return out
    from .data.transforms import Standardizer

    std = Standardizer.from_dict(spec["state"])
    if x.ndim == 2 and std.mean.ndim > 1:
        x = x.reshape((x.shape[0], *std.mean.shape))
    out = std.transform(x, dtype)
    return out.reshape(out.shape[0], -1)


# -- what a file holds ------------------------------------------------------------------------
@dataclass
class ModelFile:
    """A model read from a file: the network and what the file says about its inputs and
    outputs. A scaling of raw inputs the file records is the network's first layer (so
    ``net`` takes raw inputs), and ``input_scaling`` is then None: nothing is left to apply.
    ``net.decision_threshold`` is the threshold the saved network decided a single output by.
    ``input_range``: ``(min, max)`` of the raw training inputs (before any scaling layer),
    where the file records it (``deltaprop train`` does; ``save`` when given it), else None.
    ``input_shape``: the shape of one raw example before it was flattened into a row
    (``(h, w)``, ``(h, w, c)``, ``(c, h, w)``), where the file records it or its training
    data tells it (an older ``deltaprop train`` file's record of it), else None: not known."""

    net: Network
    kind: str
    class_names: tuple[str, ...] | None
    input_scaling: dict[str, Any] | None
    extra: dict[str, Any]
    metadata: dict[str, str]
    path: Path | None = None
    loss: Any = None
    input_range: tuple[float, float] | None = None
    input_shape: tuple[int, ...] | None = None

    def training_loss(self):
        """The loss the model was trained with: a checkpoint's own, or the one ``save``
        recorded (``loss=``); else what the file records of its training (the command
        line's config, where a cross-entropy on a linear output takes it as logits; a
        scikit-learn estimator's output), else the one the output layer goes with
        (cross-entropy after a Softmax, binary cross-entropy after a Sigmoid, squared error
        otherwise)."""
        from .losses import BinaryCrossEntropy, CrossEntropy, Loss, MeanSquaredError, loss_from_name

        own = getattr(self, "loss", None)
        if isinstance(own, Loss):
            return own
        last = _output_layer(self.net)
        config = self.extra.get("config")
        name = config.get("loss") if isinstance(config, dict) else None
        if self.extra.get("estimator") == "NeuralNetRegressor":
            name = "mse"
        if name in ("cross_entropy", "binary_cross_entropy") and last not in ("Softmax", "Sigmoid"):
            return CrossEntropy(from_logits=True) if name == "cross_entropy" else BinaryCrossEntropy(from_logits=True)
        if isinstance(name, str):
            try:
                return loss_from_name(name)
            except ConfigError:
                pass
        return {"Softmax": CrossEntropy, "Sigmoid": BinaryCrossEntropy}.get(last, MeanSquaredError)()

    @property
    def outputs(self) -> str:
        """What the network's outputs are: ``"probabilities"`` (a Softmax, or one Sigmoid unit),
        ``"logits"`` (a linear output trained with a cross-entropy on logits), ``"labels"``
        (independent 0/1 labels of a multi-label classifier: a probability each, or a logit
        each where :func:`labels_are_logits`), ``"values"`` (a regressor's
        predictions: a scikit-learn regressor's, or a network saved with
        ``loss=MeanSquaredError(classification=False)``) or ``"scores"`` (anything else,
        several Sigmoid units of a model that is not multi-label included: the largest is
        the class, but they are no probabilities)."""
        return output_kind(self.net, self.training_loss(), self.extra)


def output_kind(net: Network, loss, extra: dict[str, Any] | None = None) -> str:
    """:attr:`ModelFile.outputs` of ``net`` trained with ``loss`` (``extra``: the file's
    record of a scikit-learn estimator, or ``{"multilabel": true}`` that ``save`` writes of a
    ``net.multilabel`` network: its labels, of Sigmoid outputs or of logits, as
    :func:`labels_are_logits` says). A regressor's are ``"values"``: a scikit-learn
    regressor's, or a network trained with a loss that says its targets are no classes
    (``MeanSquaredError(classification=False)``)."""
    extra = extra or {}
    if extra.get("estimator") == "NeuralNetRegressor" or getattr(loss, "classification", True) is False:
        return "values"
    if extra.get("multilabel") is True or getattr(net, "multilabel", False):  # fit's multi-label classifier too
        return "labels"
    last = _output_layer(net)
    if last == "Softmax" or (last == "Sigmoid" and net.n_outputs == 1):
        return "probabilities"
    if last == "Sigmoid":
        # one sigmoid a class: each σ_k is in (0, 1) but a row's need not sum to 1, so
        # they are no distribution over the classes; the largest is the class
        return "scores"
    if getattr(loss, "from_logits", False):
        # several outputs of binary cross-entropy are independent sigmoids' logits: their
        # softmax (what "logits" are turned into) would be no probability of theirs
        if getattr(loss, "type_name", "") == "BinaryCrossEntropy" and net.n_outputs > 1:
            return "scores"
        return "logits"
    return "scores"


def _output_layer(net: Network) -> str:
    """The type of the last layer that is not a Dropout."""
    return next((layer.type_name for layer in reversed(net.layers) if layer.type_name != "Dropout"), "")


def labels_problem(net: Network, extra) -> str | None:
    """Why ``net`` cannot be the multi-label classifier that ``extra`` (``{"multilabel": true}``)
    or ``net.multilabel`` says it is, or None: its labels are Sigmoid units or logits, each on
    by its own threshold, and a Softmax output is neither (its outputs are one distribution)."""
    said = getattr(net, "multilabel", False) or (isinstance(extra, dict) and extra.get("multilabel") is True)
    if said and _output_layer(net) == "Softmax":
        return ("is recorded as a multi-label classifier, but its output is a Softmax, one distribution over the "
                "classes: a multi-label classifier's labels are Sigmoid units or logits, each on by itself")
    return None


def labels_are_logits(net: Network) -> bool:
    """Whether a multi-label classifier's outputs (``"labels"``) are logits ``z``, one a
    label, on at ``z ≥ 0`` with probability ``σ(z)``: a network ``fit`` with
    ``BinaryCrossEntropy(from_logits=True)``, whose last layer is linear. Else they are
    Sigmoid probabilities."""
    return _output_layer(net) != "Sigmoid"


def is_one_class(class_names, n_outputs: int) -> bool:
    """Whether a model knows one class alone: one output and one class name (a
    scikit-learn classifier fitted on a single class). Its every row is that class, 0."""
    return n_outputs == 1 and class_names is not None and len(class_names) == 1


def decided_classes(outputs: np.ndarray, threshold: float, class_names) -> np.ndarray:
    """A model's class ids for its network ``outputs``: class 0 for every row of a
    one-class model (:func:`is_one_class`), else the argmax, or ``a ≥ threshold`` for a
    single output (:func:`~deltaprop.network.predictions_from_outputs`)."""
    from .network import predictions_from_outputs

    if is_one_class(class_names, outputs.shape[1]):
        return np.zeros(len(outputs), dtype=np.int64)
    return predictions_from_outputs(outputs, threshold=threshold)


def class_probabilities(outputs: np.ndarray, kind: str) -> np.ndarray | None:
    """Per-class probabilities from network outputs of ``kind`` (see :attr:`ModelFile.outputs`):
    the outputs themselves, the softmax of logits (the sigmoid of a single one), two columns
    ``[1 − p, p]`` for a single output; None for scores, which are no probabilities."""
    from .layers import softmax_rows

    if kind == "logits":
        if outputs.shape[1] == 1:
            outputs = 0.5 * (1.0 + np.tanh(0.5 * outputs))  # σ(z), no overflow
        else:
            outputs = softmax_rows(outputs, np.empty_like(outputs), np.empty((len(outputs), 1), outputs.dtype))
    elif kind != "probabilities":
        return None
    return np.hstack([1 - outputs, outputs]) if outputs.shape[1] == 1 else outputs


@dataclass
class Checkpoint(ModelFile):
    """A checkpoint: the model plus everything :func:`deltaprop.fit` needs to continue.
    ``saved_weights``: copies of the weights callbacks keep (early stopping's best epoch),
    per key, in the order of ``net.parameters()``; tensors ``saved.{key}.{name}`` in the file."""

    optimizer: Any = None
    loss: Any = None
    schedule: Any = None
    training: dict[str, Any] = field(default_factory=dict)
    saved_weights: dict[str, list] = field(default_factory=dict)
    #: the model's part records a regressor (``fit`` decided its targets were values, which
    #: an undecided ``MeanSquaredError()`` in the training state does not say)
    values_recorded: bool = False
    #: the history list whose columns were checked when the file was read: a state made
    #: from it again (:meth:`training_state`) does not check them twice
    _checked_history: Any = field(default=None, repr=False, compare=False)

    @property
    def outputs(self) -> str:
        return "values" if self.values_recorded else super().outputs

    @property
    def epoch(self) -> int:
        return int(self.training["epoch"])

    @property
    def step(self) -> int:
        return int(self.training["step"])

    def training_state(self):
        """A :class:`~deltaprop.training.TrainingState` that ``fit(..., resume=)`` continues
        exactly: weights, optimizer slots, schedule, both random generators, history, and
        the place in an epoch stopped before its end."""
        from .training import TrainingState

        history = self.training.get("history") if isinstance(self.training, dict) else None
        return TrainingState.from_dict(self.training, net=self.net, optimizer=self.optimizer,
                                       saved_weights=self.saved_weights,
                                       history_checked=history is not None and history is self._checked_history)


def scales_own_inputs(net: Network) -> bool:
    """Whether the network's first layer is a preprocessing layer (it takes raw inputs)."""
    from .preprocessing import PREPROCESSING

    return bool(net.layers) and net.layers[0].type_name in PREPROCESSING


def _class_names_problem(names: list[str], n_outputs: int) -> str | None:
    """What is wrong with ``names`` for a network of ``n_outputs`` outputs, or None: one
    name an output (a single output: two, for classes 0 and 1, or one for a one-class
    model), all distinct."""
    fits = len(names) == n_outputs or (n_outputs == 1 and len(names) in (1, 2))
    if not fits:
        want = "1 or 2 (classes 0 and 1)" if n_outputs == 1 else str(n_outputs)
        return f"{len(names)} names for {n_outputs} output{'s' if n_outputs != 1 else ''}; give {want}"
    if len(set(names)) != len(names):
        from collections import Counter

        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        return f"names repeat ({', '.join(repeated[:3])}); each class needs its own"
    return None


def checked_class_names(class_names, n_outputs: int) -> list[str] | None:
    """``class_names`` as strings, or :class:`ConfigError` saying why they do not fit a
    network of ``n_outputs`` outputs (what every writer of a model, or of an export, checks)."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)):  # its letters would name the classes
        raise ConfigError(f"class_names must be a list of names, one a class, not the one string {class_names!r:.60}")
    names = [str(c) for c in class_names]
    problem = _class_names_problem(names, n_outputs)
    if problem:
        raise ConfigError(f"class_names: {problem}")
    return names


# -- encoding ---------------------------------------------------------------------------------
def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _metadata_digest(meta: dict[str, str]) -> str:
    body = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    return hashlib.sha256(_json(body).encode("utf-8")).hexdigest()


def _digest_update(h, name: str, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr)
    h.update(name.encode("utf-8") + b"\0")
    h.update(arr.astype(arr.dtype.newbyteorder("<"), copy=False).data)


def _tensors_digest(names: list[str], tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over each tensor's name and little-endian bytes, in ``names`` order."""
    h = hashlib.sha256()
    for name in names:
        _digest_update(h, name, tensors[name])
    return h.hexdigest()


#: safetensors' element types, in the order it lays out tensor data (its ``Dtype`` enum,
#: last first), each tensor type's by name; the file's data offsets follow it (:func:`_layout`).
_DATA_ORDER = ("U64", "I64", "F64", "F32", "U32", "I32", "F16", "U16", "I16", "I8", "U8", "BOOL")
_CODES = {"uint64": "U64", "int64": "I64", "float64": "F64", "float32": "F32", "uint32": "U32", "int32": "I32",
          "float16": "F16", "uint16": "U16", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


@dataclass(frozen=True)
class _Layout:
    """A safetensors file in parts: ``header`` (the 8-byte length and the JSON), then
    ``arrays``' bytes in that order. Written piece by piece, the file never exists whole
    in memory: the arrays are the caller's own (the network's weights, a checkpoint's
    copies), not copies of them."""

    header: bytes
    arrays: tuple[np.ndarray, ...]

    def chunks(self):
        yield memoryview(self.header)
        for a in self.arrays:
            yield memoryview(a.reshape(-1).view(np.uint8))

    def to_bytes(self) -> bytes:
        return b"".join(self.chunks())

    def write(self, path) -> Path:
        """Write the file to ``path`` atomically (:func:`deltaprop.atomic.atomic_write`): a
        failed write leaves any previous file as it was."""
        with atomic_write(path) as f:
            for view in self.chunks():
                while view.nbytes:  # write() may be partial on some file systems
                    view = view[f.write(view):]
        return Path(path)


def _layout(tensors: dict[str, np.ndarray], meta: dict[str, str], order: list[str]) -> _Layout:
    """The model file of ``tensors`` and ``meta`` with both digests filled in (``order``:
    the hashing order), as :func:`safetensors_layout` lays it out."""
    meta = dict(meta)
    meta["tensors_sha256"] = _tensors_digest(order, tensors)
    meta["metadata_sha256"] = _metadata_digest(meta)
    return safetensors_layout(tensors, meta)


def safetensors_layout(tensors: dict[str, np.ndarray], meta: dict[str, str]) -> _Layout:
    """The safetensors file of ``tensors`` and string metadata ``meta``: the bytes
    ``safetensors.numpy.save`` gives, its header's keys sorted, laid out here without
    copying any tensor. safetensors writes the metadata in the order of a hash map seeded
    afresh at every call, so the same network saved twice gave files of different bytes
    (and SHA-256); sorted, the same tensors and metadata always give the same bytes. The
    data is laid out as safetensors lays it (:data:`_DATA_ORDER`), the header padded with
    spaces to a multiple of 8 bytes."""
    arrays = {}
    for name, value in tensors.items():
        value = np.asarray(value)
        arrays[name] = np.ascontiguousarray(value.astype(value.dtype.newbyteorder("<"), copy=False))
    names = sorted(arrays, key=lambda name: (_DATA_ORDER.index(_CODES[arrays[name].dtype.name]), name))
    header: dict[str, Any] = {"__metadata__": meta}
    offset = 0
    for name in names:
        a = arrays[name]
        header[name] = {"dtype": _CODES[a.dtype.name], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER_BYTES:  # load refuses such a header: never write a file it cannot read
        raise ModelFileError(f"the file's header (names, shapes and metadata) would take {len(text) / 2**20:,.1f} MiB, "
                             f"more than the {MAX_HEADER_BYTES / 2**20:g} MiB a model file may hold; keep large data "
                             "out of extra (save it beside the model)")
    return _Layout(len(text).to_bytes(8, "little") + text, tuple(arrays[name] for name in names))


def _encode(tensors: dict[str, np.ndarray], meta: dict[str, str], order: list[str]) -> bytes:
    """The bytes of :func:`_layout`'s file."""
    return _layout(tensors, meta, order).to_bytes()


def _extra_json(extra) -> str:
    """``extra`` as the JSON the file keeps, refused (:class:`ConfigError`) unless it is a
    mapping that :func:`read_model` reads back (JSON values, nesting and digits capped)."""
    if not isinstance(extra, dict):
        raise ConfigError(f"extra must be a mapping (a dict of JSON values), got {type(extra).__name__}")
    try:
        text = _json(extra)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"extra must hold JSON values only (dicts, lists, str, int, float, bool, None): {exc}") from None
    parse_json(text, what="extra", error=ConfigError)  # what load would refuse (too deep, too many digits)
    return text


def _checked_loss(loss, net: Network):
    """``loss`` if it is a deltaprop loss defined on ``net``'s outputs, else :class:`ConfigError`."""
    from .losses import Loss

    if not isinstance(loss, Loss):
        raise ConfigError(f"loss must be a deltaprop loss such as dp.BinaryCrossEntropy(from_logits=True), "
                          f"got {type(loss).__name__}")
    loss.check_output(net)
    return loss


def _recordable_loss(loss, net: Network) -> dict[str, Any]:
    """The config a model file records of ``loss``, refused (:class:`ConfigError`) unless
    :func:`read_model` rebuilds a loss from it: a loss of one's own is not in the closed
    table a file may name, and a file naming it could not be loaded."""
    from .losses import LOSSES, loss_from_config

    config = _checked_loss(loss, net).config()
    try:
        loss_from_config(config)
    except _BUILD_ERRORS as exc:
        raise ConfigError(f"a model file records only deltaprop's own losses ({', '.join(LOSSES)}), and load could not "
                          f"read {loss!r} back ({exc}); pass the one that says what the outputs are (e.g. "
                          "dp.BinaryCrossEntropy(from_logits=True) for one logit, dp.MeanSquaredError(classification=False) "
                          "for a regressor's values), or save without loss=") from None
    return config


def _model_parts(net: Network, class_names, input_scaling, extra, loss=None,
                 input_range=None, input_shape=None) -> tuple[dict, dict, list]:
    if not isinstance(net, Network):
        raise ConfigError(f"save needs a deltaprop Network, got {type(net).__name__}")
    class_names = checked_class_names(class_names, net.n_outputs)
    extra = _with_multilabel_record(net, extra)
    if labels_problem(net, extra):
        raise ConfigError(f"the network {labels_problem(net, extra)}; set net.multilabel = False, or leave "
                          "'multilabel' out of extra")
    try:
        input_scaling = _check_scaling(input_scaling, net.n_features) if input_scaling is not None else None
    except ModelFileError as exc:  # a file's malformed record; here, the argument given
        raise ConfigError(f"input_scaling: {exc}. Give a mapping such as {{'kind': 'unit', 'max': 255}} (inputs "
                          "divided by 255), or leave it out and put dp.Rescaling(1/255) or dp.Standardization first "
                          "in the network") from None
    if input_scaling is not None and input_scaling.get("kind") != "none" and scales_own_inputs(net):
        raise ConfigError(
            f"the network already scales its raw inputs (its first layer is {net.layers[0].type_name}); "
            "save it without input_scaling, or the file would scale them twice"
        )
    tensors = {}
    for name, p in net.named_parameters():
        if not np.all(np.isfinite(p.value)):
            raise ModelFileError(f"{name} holds NaN or infinity; refusing to save a broken model")
        tensors[name] = p.value
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": "model",
        "architecture": _json(net.config()),
        "dtype": net.dtype.name,
        "class_names": _json(class_names),
        "input_scaling": _json(input_scaling),
        "extra": _extra_json({} if extra is None else extra),
    }
    recorded_range = _recordable_range(input_range)
    if recorded_range is not None:
        meta["input_range"] = _json(recorded_range)
    shape = _recordable_shape(input_shape if input_shape is not None else getattr(net, "input_shape", None), net)
    if shape is not None:
        meta["input_shape"] = _json(shape)
    from .losses import MeanSquaredError

    # trained on values (fit decides a MeanSquaredError()'s from its targets): the file says so, and load predicts them
    if net.gives_values and (loss is None or (type(loss) is MeanSquaredError and "classification" not in loss.config())):
        loss = MeanSquaredError(classification=False)
    if loss is not None:
        meta["loss"] = _json(_recordable_loss(loss, net))
    meta["decision_threshold"] = _json(_saved_threshold(net, loss))
    return tensors, meta, list(tensors)


def _with_multilabel_record(net: Network, extra):
    """``extra`` with ``"multilabel": true`` for a network ``fit`` trained as a multi-label
    classifier (``net.multilabel``), so ``load``, ``deltaprop predict`` and the exports
    give its labels rather than an argmax; refused where ``extra`` says otherwise."""
    if not net.multilabel or not isinstance(extra, (dict, type(None))):  # _extra_json refuses a non-mapping
        return extra
    extra = extra or {}
    if extra.get("multilabel", True) is not True:
        raise ConfigError(f"extra['multilabel'] is {extra['multilabel']!r}, but the network was fitted as a "
                          "multi-label classifier (net.multilabel is True): leave 'multilabel' out of extra, or "
                          "set net.multilabel = False to save it as a classifier of one class a row")
    return {**extra, "multilabel": True}


def _saved_threshold(net: Network, loss) -> float:
    """The threshold ``a ≥ t`` at which a single output says class 1, as the file records
    it: the given loss's, else the one the network carries (``net.decision_threshold``,
    what ``net.predict`` uses; 0 once ``fit`` trained a logit)."""
    t = net.decision_threshold if loss is None else loss.decision_threshold
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or not math.isfinite(t):
        raise ConfigError(f"net.decision_threshold must be a finite number, got {t!r}")
    if abs(t) > float(np.finfo(net.dtype).max):  # compared with outputs in the network's dtype
        raise ConfigError(f"the decision threshold {t:g} is beyond what the network's {net.dtype.name} holds")
    return float(t)


def encode_model(net: Network, *, class_names=None, input_scaling=None, extra=None, loss=None,
                 input_range=None, input_shape=None) -> bytes:
    """The bytes of a model file (see :func:`save`)."""
    return _model_layout(net, class_names, input_scaling, extra, loss, input_range, input_shape).to_bytes()


def _model_layout(net, class_names, input_scaling, extra, loss, input_range, input_shape=None) -> _Layout:
    return _layout(*_model_parts(net, class_names, input_scaling, extra, loss, input_range, input_shape))


def save(net: Network, path, *, class_names=None, input_scaling=None, extra: dict | None = None,
         loss=None, input_range=None, input_shape=None) -> Path:
    """Write ``net`` to ``path`` (a ``.safetensors`` file), atomically.

    ``class_names``: label of each output (two for a single sigmoid output: class 0's,
    then class 1's), distinct; ``input_scaling``: how raw inputs were scaled for training
    (e.g. ``{"kind": "unit", "max": 255}``): the loaded network applies it as its first
    layer and takes raw inputs (refused for a network that already scales its own);
    ``extra``: any JSON-able mapping kept in the metadata (refused, as :func:`load`
    would refuse it, if nested over 64 levels, with an integer over 100 digits, or making
    the header over 64 MiB); ``loss``: the loss it was trained with (one of deltaprop's
    own, which load can rebuild), which says what its outputs mean
    (``BinaryCrossEntropy(from_logits=True)`` on a single linear output: a logit, class 1
    when ``z ≥ 0``), for ``deltaprop predict``,
    ``evaluate``, ``serve`` and the exports (:attr:`ModelFile.outputs`). The threshold a
    single output is decided by (``a ≥ t``) is recorded too: the loss's, else
    ``net.decision_threshold``, so :func:`load` predicts as ``net`` did. ``input_range``:
    ``(min, max)`` of the raw training inputs (what ``net`` takes, before any scaling layer;
    :func:`input_range_of` computes it), which tells ``deltaprop serve`` and ``predict``
    the levels an image is fed on (0..255 scaled to 0..max); recorded only when given, as
    a network keeps no record of the data it was trained on. ``input_shape``: the shape of
    one example before it was flattened (``(14, 14, 4)`` for RGBA images; the product is
    the network's inputs), which ``deltaprop report`` and ``serve`` draw its images and
    weights by; by default ``net.input_shape``, which ``fit`` sets from images given as
    such (``X`` of shape ``(n, h, w)`` or ``(n, h, w, c)``). A file without it draws
    square inputs as square grey images and says that is a guess."""
    return _model_layout(net, class_names, input_scaling, extra, loss, input_range, input_shape).write(path)


def checkpoint_parts(state, *, class_names=None, input_scaling=None, extra=None,
                     input_range=None, input_shape=None) -> tuple[dict, dict, list, dict]:
    """A checkpoint of ``state`` before encoding: ``(tensors, metadata, hashing order,
    training state)``, every array a copy and the training state a fresh dict, so later
    steps change none of it (:func:`encode_checkpoint_parts` makes the bytes). Taking the
    parts is cheap; the JSON of the history, which grows with the epochs, is left to the
    encoding."""
    net, opt = state.net, state.optimizer
    tensors, meta, order = _model_parts(net, class_names, input_scaling, extra, input_range=input_range,
                                        input_shape=input_shape)
    names = list(order)
    if state.resume_weights is not None:  # the weights training stopped at, not those a callback restored
        tensors = dict(zip(names, state.resume_weights))
    tensors = {name: value.copy() for name, value in tensors.items()}
    if not opt.is_built_for(net.parameters()):
        raise StateError("the optimizer is not bound to this network's parameters; checkpoint after fit has started")
    opt_state = opt.state()
    del opt_state["iterations"]  # the training state holds it
    for key in opt_state:
        tensors[f"optimizer.{key}"] = opt_state[key]
        order.append(f"optimizer.{key}")
    for key in sorted(state.saved_weights):  # e.g. early stopping's best epoch
        for name, value in zip(names, state.saved_weights[key]):
            tensors[f"saved.{key}.{name}"] = value.copy()
            order.append(f"saved.{key}.{name}")
    meta["kind"] = "checkpoint"
    meta["optimizer"] = _json(opt.config())
    training = state.to_dict()
    _check_rebuilds(training["loss"], opt.config(), training["schedule"])
    return tensors, meta, order, training


def _check_rebuilds(loss: dict, optimizer: dict, schedule: dict) -> None:
    """Refuse (:class:`ConfigError`) a checkpoint whose loss, optimizer or schedule
    :func:`load_checkpoint` could not rebuild from its config (one of one's own is not in
    the closed tables a file may name): it could never be resumed."""
    from .losses import loss_from_config
    from .optimizers import optimizer_from_config
    from .schedules import schedule_from_config

    for what, build, config in (("loss", loss_from_config, loss), ("optimizer", optimizer_from_config, optimizer),
                                ("schedule", schedule_from_config, schedule)):
        try:
            build(config)
        except _BUILD_ERRORS as exc:
            kind = config.get("type") if isinstance(config, dict) else config
            raise ConfigError(f"a checkpoint of this run could never be resumed: load_checkpoint rebuilds only deltaprop's own "
                              f"{what}, not {kind!r} ({exc}); train with one of deltaprop's own, or without a "
                              "checkpoint writer") from None


def encode_checkpoint_parts(parts: tuple[dict, dict, list, dict]) -> bytes:
    """The bytes of a checkpoint from :func:`checkpoint_parts` (see
    :func:`write_checkpoint_parts`)."""
    return _checkpoint_layout(parts).to_bytes()


def write_checkpoint_parts(path, parts: tuple[dict, dict, list, dict]) -> Path:
    """Write the checkpoint of :func:`checkpoint_parts` to ``path`` atomically, tensor by
    tensor from the parts' own arrays: no copy of the whole file is made in memory."""
    return _checkpoint_layout(parts).write(path)


def _checkpoint_layout(parts: tuple[dict, dict, list, dict]) -> _Layout:
    """A checkpoint's file; a long run's history goes in the tensor :data:`HISTORY_TENSOR`
    rather than the header."""
    tensors, meta, order, training = parts
    text = _json(training)
    if len(text) > HISTORY_INLINE_BYTES:
        del text  # the history's JSON below may be as large
        history = _json(training["history"]).encode("utf-8")
        if len(history) > MAX_HISTORY_BYTES:
            raise ModelFileError(f"the run's history of {len(training['history']):,} epochs takes "
                                 f"{len(history) / 2**20:,.0f} MiB, more than the {MAX_HISTORY_BYTES / 2**20:,.0f} MiB "
                                 "a checkpoint may hold; train fewer, longer epochs (a larger data set per epoch)")
        tensors = {**tensors, HISTORY_TENSOR: np.frombuffer(history, dtype=np.uint8)}
        order = [*order, HISTORY_TENSOR]
        text = _json({**training, "history": None, "history_in": HISTORY_TENSOR})
    return _layout(tensors, {**meta, "training": text}, order)


def encode_checkpoint(state, *, class_names=None, input_scaling=None, extra=None, input_range=None) -> bytes:
    """The bytes of a checkpoint of a :class:`~deltaprop.training.TrainingState` (see
    :func:`save_checkpoint`)."""
    return encode_checkpoint_parts(checkpoint_parts(state, class_names=class_names, input_scaling=input_scaling,
                                                    extra=extra, input_range=input_range))


def save_checkpoint(path, state, *, class_names=None, input_scaling=None, extra=None, input_range=None) -> Path:
    """Write a checkpoint atomically: model, optimizer state, epoch, step, both RNG states,
    schedule, history and the place in an unfinished epoch; resuming from it is exact
    whenever it is taken between two steps. A loss, optimizer or schedule of one's own is
    refused (:class:`ConfigError`): :func:`load_checkpoint` could not rebuild it. ``input_range``: as
    for :func:`save`."""
    parts = checkpoint_parts(state, class_names=class_names, input_scaling=input_scaling, extra=extra,
                             input_range=input_range)
    return write_checkpoint_parts(path, parts)


# -- decoding ---------------------------------------------------------------------------------
def _bad(path: Path, problem: str) -> ModelFileError:
    return ModelFileError(f"{path}: {problem}")


def _sniff(path: Path, data: bytes) -> None:
    """Name what a non-safetensors file is, for a useful message."""
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise _bad(path, "is a Python pickle, not a safetensors file; deltaprop never loads pickle (it can run code)")
    if data[:6] == b"\x93NUMPY":
        raise _bad(path, "is a NumPy .npy file, not a safetensors model file; save models with deltaprop.save")
    if data[:4] == b"PK\x03\x04":
        raise _bad(path, "is a zip archive (.npz or similar), not a safetensors model file")
    if data[:2] == b"\x1f\x8b":
        raise _bad(path, "is gzip-compressed; decompress it first")
    if _looks_like_onnx(data):
        raise _bad(path, "is an ONNX model (protobuf), not a deltaprop model file; run it with onnxruntime, "
                         "or give the model.safetensors it was exported from")
    model = "a deltaprop model is a .safetensors file or a run folder"
    image = "PNG" if data[:8] == b"\x89PNG\r\n\x1a\n" else "JPEG" if data[:3] == b"\xff\xd8\xff" else None
    if image:
        raise _bad(path, f"is an image ({image}), not a model; {model} (deltaprop predict takes the model first, "
                         "then the images)")
    kind = _text_kind(data)
    if kind is not None:
        beside = path.parent / "model.safetensors"
        if path.name != beside.name and beside.is_file():
            model += f"; the model of this run is {beside}"
        raise _bad(path, f"is {kind}, not a model; {model}")


#: How many bytes of a file that is no safetensors file are read to name what it is.
_SNIFF_BYTES = 4096


def _text_kind(data: bytes) -> str | None:
    """What a text file is, by its first bytes (a run's other files above all: report.html,
    run.json, config.toml, history.csv), in words; None for bytes that are not UTF-8 text."""
    import codecs

    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=False)  # a cut last character is fine
    except UnicodeDecodeError:
        return None
    if not text or any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return None
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<!doctype html", "<html")):
        return "an HTML page (a run's report.html?)"
    if start.startswith("<"):
        return "an HTML or XML file"
    lines = [line.strip() for line in start.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    first = lines[0] if lines else ""
    if re.match(r'\[[\w."\- ]+\]$', first) or re.match(r'[\w"\-.]+\s*=', first):
        return "a TOML file (a run's config.toml?)"
    if first.startswith(("{", "[")):
        return "a JSON file (a run's run.json or evaluation.json?)"
    whole = lines[:-1] if len(lines) > 1 and not start.endswith("\n") else lines  # the last may be cut
    counts = {line.count(",") for line in whole[:5]}  # a CSV has as many columns a row: a header
    if "," in first and len(counts) == 1 and (len(whole) > 1 or " " not in first):  # alone has no spaces
        return "a CSV file (a run's history.csv?)"
    return "a text file"


def _folder_words(path: Path) -> str:
    """Why a folder is no model: the .safetensors files it holds are named, or, holding none,
    a model file or a run folder is asked for (never a file the folder does not have)."""
    inside = sorted(p.name for p in path.glob("*.safetensors") if p.is_file())
    if inside:
        return f"is a folder; give the .safetensors file inside it (e.g. {path / inside[0]})"
    return "is a folder holding no .safetensors file; give a model file, or the folder of a deltaprop train run"


def _looks_like_onnx(data: bytes) -> bool:
    """An ONNX ``ModelProto`` begins with field 1, ``ir_version`` (tag ``0x08``, a small
    varint), followed by another field's tag (2 to 8: producer, domain, graph, ...)."""
    return (len(data) >= 3 and data[0] == 0x08 and 1 <= data[1] <= 0x7F
            and data[2] in (0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42))


def _read_header(path: Path, max_bytes: int) -> tuple[dict, dict[str, str], int]:
    """The JSON header and its metadata, read (and only it) after its 8-byte length has
    been checked against the file's size; returns (header, metadata, bytes of tensor data)."""
    if path.is_dir():
        raise _bad(path, _folder_words(path))
    with open_regular(path, max_bytes=max_bytes, what="file", error=ModelFileError) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(9)
        n = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
        if n < 0 or n > MAX_HEADER_BYTES or 8 + n > size or head[8:9] != b"{":
            _sniff(path, head + f.read(_SNIFF_BYTES))  # a pickle, .npy or zip file, a run's report, gets named
        if len(head) < 8:
            raise _bad(path, f"is truncated or not a safetensors file ({size} bytes)")
        if n > MAX_HEADER_BYTES and 8 + n <= size and head[8:9] == b"{":
            raise _bad(path, f"has a header of {n:,} bytes (names, shapes and metadata), more than the "
                             f"{MAX_HEADER_BYTES / 2**20:g} MiB a model file may hold; deltaprop never writes one")
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise _bad(path, f"is truncated or not a safetensors file (header of {n:,} bytes claimed, file has {size:,})")
        if head[8:9] != b"{":
            raise _bad(path, "is not a safetensors file (its header is not a JSON object)")
        raw = head[8:] + f.read(n - 1)
    if len(raw) != n:
        raise _bad(path, "is truncated (it shrank while being read)")
    header = parse_json(raw, what=f"{path}: the safetensors header", error=ModelFileError)
    if not isinstance(header, dict):
        raise _bad(path, "is not a safetensors file (its header is not a JSON object)")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _bad(path, "is a safetensors file without deltaprop metadata; it was not written by deltaprop.save")
    return header, meta, size - 8 - n


def _meta_json(path: Path, meta: dict[str, str], key: str) -> Any:
    if key not in meta:
        raise _bad(path, f"metadata has no {key!r} entry")
    return parse_json(meta[key], what=f"{path}: metadata {key!r}", error=ModelFileError)


def _dense_sizes(path: Path, i: int, layer: dict) -> tuple[int, int]:
    n_in, n_out = layer.get("n_in"), layer.get("n_out")
    for v in (n_in, n_out):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_PARAMETERS:
            raise _bad(path, f"layer {i} (Dense) has invalid sizes n_in={n_in!r}, n_out={n_out!r}")
    return n_in, n_out


def _expected_tensors(path: Path, arch: Any) -> tuple[dict[str, tuple[int, ...]], str]:
    """Names and shapes the architecture implies, computed without building anything; the
    layer count and the total number of parameters are capped first."""
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list) or not arch["layers"]:
        raise _bad(path, "metadata 'architecture' must be a mapping with a non-empty 'layers' list")
    if len(arch["layers"]) > MAX_LAYERS:
        raise _bad(path, f"declares {len(arch['layers']):,} layers, more than the {MAX_LAYERS:,} a model may have")
    dtype = arch.get("dtype", "float32")
    if not isinstance(dtype, str) or dtype not in _DTYPE_CODES:
        raise _bad(path, f"unsupported dtype {dtype!r} in the architecture; expected float32 or float64")
    shapes: dict[str, tuple[int, ...]] = {}
    total = 0
    for i, layer in enumerate(arch["layers"]):
        kind = layer.get("type") if isinstance(layer, dict) else None
        if not isinstance(kind, str) or kind not in LAYERS:
            raise _bad(path, f"layer {i} has unknown type {kind!r}; deltaprop knows only {', '.join(LAYERS)}")
        if kind == "Dense":
            n_in, n_out = _dense_sizes(path, i, layer)
            shapes[f"layers.{i}.W"] = (n_in, n_out)
            shapes[f"layers.{i}.b"] = (n_out,)
            total += n_in * n_out + n_out
            if total > MAX_PARAMETERS:
                raise _bad(path, f"declares more than {MAX_PARAMETERS:,} parameters (by layer {i}); "
                                 "a model that large is not supported")
    return shapes, dtype


def _check_entries(path: Path, header: dict, expected: dict[str, tuple[int, ...]], code: str, data_len: int) -> None:
    """Names, dtypes and shapes against the architecture, and the data size against the
    file, before any tensor is mapped (safetensors itself checks the byte offsets)."""
    extra = sorted(set(header) - set(expected))
    missing = [k for k in expected if k not in header]
    if extra:
        raise _bad(path, f"has tensors the architecture does not have: {', '.join(extra[:5])}")
    if missing:
        raise _bad(path, f"lacks tensors the architecture needs: {', '.join(missing[:5])}")
    for name, shape in expected.items():
        info = header[name]
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise _bad(path, f"tensor {name} has a malformed header entry")
        if info["dtype"] != code:
            raise _bad(path, f"tensor {name} is {info['dtype']}, but the model is {code} (dtype mismatch)")
        got = info["shape"]
        if not isinstance(got, list) or tuple(got) != shape:
            raise _bad(path, f"tensor {name} has shape {got}, but the architecture needs {list(shape)}")
    need = sum(math.prod(shape) for shape in expected.values()) * (4 if code == "F32" else 8)
    if need != data_len:
        raise _bad(path, f"is truncated or has trailing bytes (the tensors need {need:,} bytes, the file holds {data_len:,})")


def _check_format(path: Path, meta: dict[str, str]) -> str:
    """Format, version (its digits capped), metadata digest and kind; returns the kind."""
    if meta.get("format") == "deltaprop-torch":
        raise _bad(path, "is a PyTorch export (deltaprop export --format torch), not a deltaprop model file; "
                         "give the model.safetensors it was exported from")
    if meta.get("format") != FORMAT:
        raise _bad(path, "is a safetensors file but not a deltaprop model (no format=deltaprop in its metadata)")
    version = parse_int(meta.get("format_version", ""), what=f"{path}: the format version", error=ModelFileError,
                        max_digits=9)
    if version != FORMAT_VERSION:
        newer = " (written by a newer deltaprop: upgrade)" if version > FORMAT_VERSION else ""
        raise _bad(path, f"has format version {version}; this deltaprop reads version {FORMAT_VERSION}{newer}")
    if meta.get("metadata_sha256") != _metadata_digest(meta):
        raise _bad(path, "metadata does not match its SHA-256: the file is corrupt or was modified")
    kind = meta.get("kind")
    if kind not in ("model", "checkpoint"):
        raise _bad(path, f"has unknown kind {kind!r}")
    return kind


def _history_entry(path: Path, header: dict, meta: dict[str, str]) -> int:
    """The bytes of a checkpoint's :data:`HISTORY_TENSOR` (0: its history is in the
    header), its entry checked and taken out of ``header``."""
    training = _meta_json(path, meta, "training")
    named = isinstance(training, dict) and "history_in" in training
    entry = header.pop(HISTORY_TENSOR, None)
    if entry is None and not named:
        return 0
    if entry is None or not named or training["history_in"] != HISTORY_TENSOR or training.get("history") is not None:
        raise _bad(path, f"its training state and its tensors disagree on where the history is ({HISTORY_TENSOR})")
    shape = entry.get("shape") if isinstance(entry, dict) else None
    if (not isinstance(entry, dict) or entry.get("dtype") != "U8" or not isinstance(shape, list) or len(shape) != 1
            or type(shape[0]) is not int or not 0 < shape[0] <= MAX_HISTORY_BYTES):
        raise _bad(path, f"tensor {HISTORY_TENSOR} must be 1 to {MAX_HISTORY_BYTES:,} bytes (U8) of history JSON")
    return shape[0]


def _read_tensors(path: Path, meta: dict[str, str], expected: dict[str, tuple[int, ...]], net: Network, *,
                  history: bool = False) -> dict:
    """Map the file with safetensors' reader and take the tensors one at a time: model
    tensors go straight into ``net``'s parameters; the others (optimizer slots
    ``optimizer.*``, saved weights ``saved.*``, and with ``history`` the bytes of
    :data:`HISTORY_TENSOR`) are returned by name. The digest is checked over all of them
    before anything is returned."""
    from safetensors import SafetensorError, safe_open

    built = dict(net.named_parameters())
    digest = hashlib.sha256()
    slots: dict[str, np.ndarray] = {}
    not_finite = None
    try:
        with safe_open(str(path), framework="numpy") as f:
            if f.metadata() != meta:
                raise _bad(path, "changed while being read")
            for name, shape in expected.items():
                arr = f.get_tensor(name)
                if arr.shape != shape or arr.dtype != net.dtype:
                    raise _bad(path, "changed while being read")
                _digest_update(digest, name, arr)
                if not_finite is None and not np.all(np.isfinite(arr)):
                    not_finite = name
                if name in built:
                    built[name].value[...] = arr
                else:
                    slots[name] = arr
            if history:
                arr = f.get_tensor(HISTORY_TENSOR)
                if arr.dtype != np.uint8 or arr.ndim != 1:
                    raise _bad(path, "changed while being read")
                _digest_update(digest, HISTORY_TENSOR, arr)
                slots[HISTORY_TENSOR] = arr
    except ModelFileError:
        raise
    except (SafetensorError, OSError, ValueError) as exc:
        raise _bad(path, f"is not a valid safetensors file ({exc})") from None
    if meta.get("tensors_sha256") != digest.hexdigest():
        raise _bad(path, "tensor data does not match its SHA-256: the file is corrupt or was modified")
    if not_finite is not None:
        raise _bad(path, f"tensor {not_finite} holds NaN or infinity; refusing to use it")
    return slots


def _checkpoint_tensors(path: Path, meta: dict[str, str], expected: dict[str, tuple[int, ...]]):
    """A checkpoint's optimizer, built from its config; ``expected`` gains the tensors a
    checkpoint holds besides the model's (the optimizer's slots, the saved weights)."""
    from .optimizers import optimizer_from_config

    config = _meta_json(path, meta, "optimizer")
    try:
        optimizer = optimizer_from_config(config)
    except _BUILD_ERRORS as exc:
        raise _bad(path, f"bad optimizer in the checkpoint: {exc}") from None
    model_names = list(expected)
    for i, name in enumerate(model_names):
        for slot in optimizer.slots:
            expected[f"optimizer.{i}.{slot}"] = expected[name]
    for key in _saved_weight_keys(path, meta):
        expected.update({f"saved.{key}.{name}": expected[name] for name in model_names})
    return optimizer


def _decode(path, *, max_bytes: int = MAX_FILE_BYTES, seed=0):
    seed = _checks.seed(seed)
    path = Path(path)
    header, meta, data_len = _read_header(path, max_bytes)
    kind = _check_format(path, meta)
    arch = _meta_json(path, meta, "architecture")
    expected, dtype_name = _expected_tensors(path, arch)
    if meta.get("dtype") != dtype_name:
        raise _bad(path, f"metadata dtype {meta.get('dtype')!r} differs from the architecture's {dtype_name!r}")
    optimizer, history_bytes = None, 0
    if kind == "checkpoint":
        optimizer = _checkpoint_tensors(path, meta, expected)
        history_bytes = _history_entry(path, header, meta)
        data_len -= history_bytes
    _check_entries(path, header, expected, _DTYPE_CODES[dtype_name], data_len)
    try:
        net = Network.from_config(arch, dtype=resolve_dtype(dtype_name), seed=seed)
    except _BUILD_ERRORS as exc:
        raise _bad(path, f"its architecture is invalid: {exc}") from None
    built = dict(net.named_parameters())
    model_names = [k for k in expected if k.startswith("layers.")]
    if set(built) != set(model_names) or any(built[k].value.shape != expected[k] for k in model_names):
        raise _bad(path, "its tensors do not match the network its architecture builds")
    slots = _read_tensors(path, meta, expected, net, history=history_bytes > 0)

    class_names = _read_class_names(path, meta, net.n_outputs)
    try:
        scaling = _check_scaling(_meta_json(path, meta, "input_scaling"), net.n_features)
    except ModelFileError as exc:
        raise _bad(path, str(exc)) from None
    extra = _read_extra(path, meta, net)
    loss = _recorded_loss(path, meta, net) if kind == "model" else None
    from .preprocessing import input_layer, with_input_layer

    if scaling is not None and scaling["kind"] != "none" and scales_own_inputs(net):
        raise _bad(path, f"records an input_scaling and also starts with a {net.layers[0].type_name} layer: the "
                         "inputs would be scaled twice (deltaprop.save never writes both; the file was edited)")
    try:
        net = with_input_layer(net, input_layer(scaling))  # the network scales its own raw inputs
    except _BUILD_ERRORS as exc:
        raise _bad(path, f"metadata 'input_scaling' is unusable: {exc}") from None
    common = dict(net=net, kind=kind, class_names=class_names, input_scaling=None, extra=extra, metadata=meta, path=path,
                  input_range=_read_input_range(path, meta),
                  input_shape=_read_input_shape(path, meta, net.n_features) or _older_input_shape(extra, net.n_features))
    out = ModelFile(**common, loss=loss) if kind == "model" else _checkpoint(path, common, meta, optimizer, slots,
                                                                           model_names)
    if isinstance(out, Checkpoint):  # a regressor's checkpoint records its values in the model's part
        out.values_recorded = getattr(_recorded_loss(path, meta, net), "classification", True) is False
    out.net.decision_threshold = _read_threshold(path, meta, out)
    out.net.gives_values = out.outputs == "values"  # a regressor's: predict returns them
    out.net.multilabel = out.outputs == "labels"  # a multi-label classifier's: predict gives the labels
    out.net.input_shape = out.input_shape  # saved again, the file keeps it
    return out


def _read_extra(path: Path, meta: dict[str, str], net: Network) -> dict[str, Any]:
    """The file's ``extra`` mapping, checked to say nothing of its outputs that the network contradicts."""
    extra = _meta_json(path, meta, "extra")
    if not isinstance(extra, dict):
        raise _bad(path, "metadata 'extra' must be a mapping")
    problem = labels_problem(net, extra)
    if problem:
        raise _bad(path, f"{problem}: the file is damaged or was edited; write it again with deltaprop")
    return extra


def _read_class_names(path: Path, meta: dict[str, str], n_outputs: int) -> tuple[str, ...] | None:
    """The recorded class names, checked to be distinct strings that fit the outputs."""
    class_names = _meta_json(path, meta, "class_names")
    if class_names is None:
        return None
    if not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names):
        raise _bad(path, "metadata 'class_names' must be a list of strings")
    problem = _class_names_problem(class_names, n_outputs)
    if problem:
        raise _bad(path, f"metadata 'class_names': {problem}")
    return tuple(class_names)


def _read_input_range(path: Path, meta: dict[str, str]) -> tuple[float, float] | None:
    """The recorded ``(min, max)`` of the raw training inputs, checked to be finite numbers
    min ≤ max; None for a file that records none (written before it was recorded, or by
    ``save`` without ``input_range``)."""
    if "input_range" not in meta:
        return None
    value = _meta_json(path, meta, "input_range")
    problem = _range_problem(value)
    if problem:
        raise _bad(path, f"metadata 'input_range' (the range of the raw training inputs, {{\"min\": lo, \"max\": hi}}) "
                         f"{problem}: the file is damaged or was edited; write it again with deltaprop")
    return float(value["min"]), float(value["max"])


def _shape_problem(shape: Any, n_features: int) -> str | None:
    """Why ``shape`` is not the shape of one example of ``n_features`` inputs, or None."""
    if not isinstance(shape, (list, tuple)) or not shape or len(shape) > 4 or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in shape):
        return f"must be 1 to 4 whole numbers above 0, such as (28, 28) or (32, 32, 3), got {shape!r}"
    if math.prod(int(d) for d in shape) != n_features:
        return (f"{tuple(int(d) for d in shape)} holds {math.prod(int(d) for d in shape)} values, "
                f"but the network takes {n_features} inputs")
    return None


def _recordable_shape(shape, net: Network) -> list[int] | None:
    """``save(input_shape=...)`` (else ``net.input_shape``) as the file records it, refused
    (:class:`ConfigError`) unless its product is the network's inputs."""
    if shape is None:
        return None
    problem = _shape_problem(shape, net.n_features)
    if problem:
        raise ConfigError(f"input_shape (the shape of one example before flattening) {problem}")
    return [int(d) for d in shape]


def _read_input_shape(path: Path, meta: dict[str, str], n_features: int) -> tuple[int, ...] | None:
    """The recorded shape of one example, checked against the network's inputs; None for a
    file that records none."""
    if "input_shape" not in meta:
        return None
    value = _meta_json(path, meta, "input_shape")
    problem = _shape_problem(value, n_features)
    if problem:
        raise _bad(path, f"metadata 'input_shape' (the shape of one example) {problem}: the file is damaged or "
                         "was edited; write it again with deltaprop")
    return tuple(value)


def _older_input_shape(extra: dict[str, Any], n_features: int) -> tuple[int, ...] | None:
    """The shape of one example as a file written before ``input_shape`` was recorded tells
    it: ``deltaprop train``'s record of an .npz file's images (``data_file.shape``) or of a
    named image dataset (``config.dataset``); None where it tells none."""
    from .data import IMAGE_SHAPES

    recorded, config = extra.get("data_file"), extra.get("config")
    shape = recorded.get("shape") if isinstance(recorded, dict) else None
    dataset = config.get("dataset") if isinstance(config, dict) and not isinstance(recorded, dict) else None
    if shape is None and isinstance(dataset, str):
        shape = IMAGE_SHAPES.get(dataset.lower().replace("_", "-"))
    return tuple(shape) if _shape_problem(shape, n_features) is None else None


def _read_threshold(path: Path, meta: dict[str, str], model: ModelFile) -> float:
    """The threshold the saved network predicted by (``save`` records it); for a file
    written before it was recorded, its training loss's (0 for a single logit)."""
    if "decision_threshold" not in meta:
        return float(model.training_loss().decision_threshold)
    t = _meta_json(path, meta, "decision_threshold")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise _bad(path, f"metadata 'decision_threshold' must be a finite number, got {t!r}")
    if abs(t) > float(np.finfo(model.net.dtype).max):  # compared with outputs in the network's dtype
        raise _bad(path, f"metadata 'decision_threshold' {t:g} is beyond what the model's {model.net.dtype.name} holds")
    return float(t)


def _recorded_loss(path: Path, meta: dict[str, str], net: Network):
    """The loss ``save(loss=)`` recorded, checked against the network's output; None if none was."""
    if "loss" not in meta:
        return None
    from .losses import loss_from_config

    try:
        return _checked_loss(loss_from_config(_meta_json(path, meta, "loss")), net)
    except ModelFileError:
        raise
    except _BUILD_ERRORS as exc:
        raise _bad(path, f"metadata 'loss' is invalid: {exc}") from None


def _saved_weight_keys(path: Path, meta: dict[str, str]) -> list[str]:
    """The keys of the weights a checkpoint saves besides the model's (none before they were kept)."""
    from .training import MAX_SAVED_WEIGHTS

    training = _meta_json(path, meta, "training")
    keys = training.get("saved_weights", []) if isinstance(training, dict) else []
    if (not isinstance(keys, list) or len(keys) > MAX_SAVED_WEIGHTS
            or not all(isinstance(k, str) and 0 < len(k) <= 200 for k in keys) or len(set(keys)) != len(keys)):
        raise _bad(path, f"checkpoint saved_weights must list at most {MAX_SAVED_WEIGHTS} distinct names")
    return keys


@contextlib.contextmanager
def _no_collection():
    """Python's cycle collector paused while many containers are made at once (a long
    history's records, which hold no cycles): it walks every container made so far each
    time it runs, a third of the time of reading a 20,000-epoch history. It runs as
    before afterwards."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _checkpoint(path: Path, common: dict, meta: dict, optimizer, tensors: dict, names: list[str]) -> Checkpoint:
    """The checkpoint's training state, each field checked; ``tensors``: the optimizer
    slots and saved weights by name; ``names``: the model's tensors, in parameter order."""
    from .losses import loss_from_config
    from .schedules import schedule_from_config

    with _no_collection():  # a long history: some 10 containers an epoch, none in a cycle
        training = _meta_json(path, meta, "training")
        if isinstance(training, dict) and HISTORY_TENSOR in tensors:  # a long run's: in its tensor (_history_entry)
            del training["history_in"]
            # parsed from the tensor's own memory, which is let go of before the records are built
            training["history"] = parse_json(tensors.pop(HISTORY_TENSOR).data, what=f"{path}: tensor {HISTORY_TENSOR}",
                                             error=ModelFileError)
        need = ("epoch", "step", "iterations", "base_lr", "schedule", "schedule_state", "loss", "net_rng",
                "shuffle_rng", "history")
        if not isinstance(training, dict) or any(k not in training for k in need):
            raise _bad(path, f"checkpoint training state must hold {', '.join(need)}")
        for key in ("epoch", "step", "iterations"):
            v = training[key]
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**62:
                raise _bad(path, f"checkpoint {key} must be a whole number in 0..2**62, got {v!r}")
        try:
            training["history"] = _checks.history_records(training["history"], in_place=True)  # just parsed: ours
        except Error as exc:
            raise _bad(path, f"checkpoint history: {exc}") from None
    net = common["net"]
    try:
        base_lr = float(training["base_lr"])
        if not (math.isfinite(base_lr) and base_lr > 0):
            raise ValueError(base_lr)
        loss = loss_from_config(training["loss"])
        schedule = schedule_from_config(training["schedule"])
        schedule.load_state(training["schedule_state"])
        optimizer.build(net.parameters())
        state = {k[len("optimizer."):]: v for k, v in tensors.items() if k.startswith("optimizer.")}
        state["iterations"] = np.array(training["iterations"], dtype=np.int64)
        optimizer.load_state(state)
    except _BUILD_ERRORS as exc:
        raise _bad(path, f"checkpoint training state is invalid: {exc}") from None
    from .training import TrainingState

    saved = {key: [tensors[f"saved.{key}.{name}"] for name in names] for key in training.get("saved_weights", [])}
    try:
        # checks the rest now (the history's columns were checked above)
        TrainingState.from_dict(training, net=net, optimizer=optimizer, saved_weights=saved, history_checked=True)
    except Error as exc:
        raise _bad(path, f"checkpoint training state is invalid: {exc}") from None
    return Checkpoint(**common, optimizer=optimizer, loss=loss, schedule=schedule, training=training,
                      saved_weights=saved, _checked_history=training["history"])


def read_model(path, *, max_bytes: int = MAX_FILE_BYTES, seed=0) -> ModelFile:
    """Read and check a model (or checkpoint) file; returns the network and its metadata
    (``seed``: as for :func:`load`). Raises :class:`~deltaprop.errors.ModelFileError`
    naming what is wrong."""
    return _decode(path, max_bytes=max_bytes, seed=seed)


def load(path, *, max_bytes: int = MAX_FILE_BYTES, seed=0) -> Network:
    """The network stored in ``path`` (a model or checkpoint file), checked before use;
    it predicts bit-identically to the network that was saved. Where the file records an
    ``input_scaling``, the loaded network starts with that scaling and takes raw inputs.
    Its ``decision_threshold`` is the one saved (the saved network's, or the ``loss=``
    given to ``save``); a file written before it was recorded gives its loss's (0 for a
    single logit). ``seed``: the network seed (as ``mlp(seed=)``'s) of the generator its
    Dropout layers draw their masks from when it is trained further, so the same file and
    seed, trained by ``fit`` with the same ``seed``, give bit-identical weights (None: a
    fresh random one); a checkpoint's training state restores its own."""
    return _decode(path, max_bytes=max_bytes, seed=seed).net


def load_checkpoint(path, *, max_bytes: int = MAX_FILE_BYTES) -> Checkpoint:
    """Read a checkpoint; ``.training_state()`` resumes training exactly."""
    out = _decode(path, max_bytes=max_bytes)
    if not isinstance(out, Checkpoint):
        raise ModelFileError(f"{path}: is a model file, not a checkpoint; resume from checkpoint.safetensors")
    return out
