"""Models that leave deltaprop: an ONNX graph for inference engines, and PyTorch modules.

ONNX (:func:`export_onnx`): one graph from the raw inputs ``deltaprop predict`` takes to
its outputs. The model's input scaling comes first (``x·(1/max)`` for unit scaling,
``(x − μ)·(1/σ)`` for standardisation, in the network's dtype, as in training), then one
node per layer: ``Gemm(a, W, b) = a W + b`` for Dense, ``Sigmoid`` (in float32 with
deltaprop's tail ``e^z/(1 + e^z)`` below z = −8), ``Tanh``, ``Relu``,
``Softmax`` over each row; LeakyReLU is ``LeakyRelu`` in float32 and ``Max(z, αz)`` in
float64 (the same function, and not every runtime has a float64 ``LeakyRelu``); Identity
and Dropout (identity at inference) add no node. The outputs say what ``deltaprop predict``
says (:attr:`deltaprop.serialization.ModelFile.outputs`, from the loss the model was
trained with): ``probabilities`` and ``label`` (the argmax, or ``p ≥ ½`` for one output);
for logits, ``logits`` (the network's ``z``), ``probabilities`` (their softmax, or the
sigmoid of one) and ``label`` (the argmax, or ``z ≥ 0``); ``scores`` and ``label`` for
outputs that are no probabilities; ``probabilities`` and a ``(batch, k)`` 0/1 ``label`` for a
multi-label classifier (of logits: ``logits``, ``probabilities`` their sigmoid and a
``label`` of ``z ≥ 0``); a regressor's ``values`` alone. The batch dimension is dynamic;
what the outputs are, class names, input scaling, architecture and deltaprop's version are
in the model's ``metadata_props``.

PyTorch (:func:`to_torch`, :func:`from_torch`, :func:`export_torch`): an ``nn.Sequential``
with one module per deltaprop layer, at the same index. PyTorch's ``Linear`` computes
``x Aᵀ + b``, so ``Linear.weight`` is our ``W`` transposed, shape ``(n_out, n_in)``.

onnx, onnxruntime and torch are optional: each is imported inside the function that uses
it, and a missing one raises :class:`~deltaprop.errors.MissingDependencyError`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_bytes
from .errors import ConfigError, Error, ExportError, MissingDependencyError
from .layers import LAYERS, Dense, Layer
from .network import Network

__all__ = [
    "FORMATS", "INPUT_TYPES", "ONNX_MIN_OPSET", "ONNX_OPSET", "check_onnx", "default_output", "export_file", "export_onnx",
    "output_names", "export_torch", "from_torch", "onnx_model", "to_torch", "torch_modules", "torch_state_dict",
]

FORMATS = ("onnx", "torch")
#: Opset 17 and IR version 8: read by onnxruntime 1.13 and later and most other runtimes.
ONNX_OPSET = 17
ONNX_IR_VERSION = 8
#: The oldest opset an export may ask for: from 13 on, every op the graph uses means what it does here.
ONNX_MIN_OPSET = 13
#: A protobuf message (the whole ONNX file, weights inside) must stay under 2 GiB.
ONNX_MAX_BYTES = (2 << 30) - (16 << 20)
#: Element types the ONNX graph's input may have; anything but the network's dtype is cast first.
INPUT_TYPES = ("float32", "float64", "uint8", "uint16", "int8", "int16", "int32", "int64")


#: deltaprop is on no package index, so "deltaprop[onnx]" alone installs nothing of it: name the packages.
_ONNX_INSTALL = "pip install onnx onnxruntime, or in a checkout of deltaprop uv sync --extra onnx (or pip install \".[onnx]\")"


def _require(module: str, feature: str, install: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{feature} needs the {module} package, which is not installed: {install}") from None


def _require_onnx(feature: str):
    return _require("onnx", feature, _ONNX_INSTALL)


def _require_torch(feature: str):
    return _require("torch", feature, "install PyTorch (pip install torch); deltaprop itself never needs it")


def _checked_layers(net: Network, known: dict[str, Any], target: str) -> list[tuple[int, Layer]]:
    """The layers, each refused unless it is exactly one of deltaprop's closed-table classes
    (a subclass may compute something else under the same name) that ``target`` can express."""
    from .preprocessing import PREPROCESSING

    if not isinstance(net, Network):
        raise ConfigError(f"exporting needs a deltaprop Network, got {type(net).__name__}")
    for i, layer in enumerate(net.layers):
        name = type(layer).__name__
        if type(layer) is not {**LAYERS, **PREPROCESSING}.get(layer.type_name):
            raise ExportError(f"layer {i} ({name}) is not one of deltaprop's layers ({', '.join(LAYERS)}); "
                              f"{target} export cannot know what it computes")
        if layer.type_name not in known:
            raise ExportError(f"layer {i} ({name}) has no {target} form; {target} export handles {', '.join(known)}")
        for p in layer.parameters():  # as save refuses them: an export would run, and answer NaN
            if not np.all(np.isfinite(p.value)):
                raise ExportError(f"layer {i} ({name}) {p.name} holds NaN or infinity; refusing to export a broken "
                                  "model (a diverged run?): retrain it, e.g. with a lower learning rate")
    return list(enumerate(net.layers))


@dataclass(frozen=True)
class _Source:
    """What an export writes: the network, its class names and input scaling, and what its
    outputs are (``outputs``: :attr:`~deltaprop.serialization.ModelFile.outputs`;
    ``threshold``: the loss's ``decision_threshold``, where one output, or each output of a
    multi-label classifier, says yes at ``a ≥ threshold``)."""

    net: Network
    class_names: list[str] | None
    input_scaling: dict[str, Any] | None
    outputs: str
    threshold: float
    input_range: tuple[float, float] | None = None
    #: the range was given to the export (``input_range=``), not read from a model file
    range_given: bool = False

    @property
    def logit_labels(self) -> bool:
        """A multi-label classifier whose outputs are logits, one a label (on at ``z ≥ 0``)."""
        from .serialization import labels_are_logits

        return self.outputs == "labels" and labels_are_logits(self.net)

    @property
    def raw_output(self) -> str:
        """The graph's name for the network's own output."""
        return "logits" if self.logit_labels else _RAW_OUTPUT[self.outputs]


def _unpack(model, class_names, input_scaling, loss, input_range=None) -> _Source:
    """A Network as given (its outputs read as ``loss`` says: logits for a cross-entropy
    ``from_logits``), or the network, class names, input scaling, training loss and raw
    inputs' range of a model file read with :func:`deltaprop.serialization.read_model` (a
    checkpoint is refused). ``input_range``: ``(min, max)`` of the raw inputs, for a model
    that records none (one that records another is refused).
    A single output says class 1 at ``a ≥ threshold``: the given loss's threshold, else the
    one ``net.predict`` uses (``net.decision_threshold``: 0 once ``fit`` trained a logit; a
    model file's is the one it was saved with). A network fitted on values
    (``net.gives_values``) exports its values, with no label, as a regressor's file does."""
    from .serialization import ModelFile, _checked_loss, _recordable_range, checked_class_names, output_kind, \
        scales_own_inputs

    extra: dict[str, Any] = {}
    given, given_range, input_range = loss, _recordable_range(input_range), None
    if loss is not None:
        _checked_loss(loss, model.net if isinstance(model, ModelFile) else _network(model))
    if isinstance(model, ModelFile):
        if model.kind == "checkpoint":
            raise ExportError(f"{model.path} is a checkpoint (training state), not a model; export the run's "
                              f"model.safetensors (a run without one finishes with deltaprop train --resume FOLDER)")
        loss, extra, input_range = model.training_loss() if loss is None else loss, model.extra, model.input_range
        model, class_names, input_scaling = (model.net, model.class_names if class_names is None else class_names,
                                             model.input_scaling if input_scaling is None else input_scaling)
    net = _network(model)
    from .serialization import labels_problem

    if labels_problem(net, extra):
        raise ExportError(f"the network {labels_problem(net, extra)}; set net.multilabel = False to export it")
    if given_range is not None:
        given_range = (given_range["min"], given_range["max"])
        if input_range is not None and input_range != given_range:
            raise ConfigError(f"the input range given, {given_range[0]:g} to {given_range[1]:g}, differs from the one "
                              f"the model file records of its raw training inputs, {input_range[0]:g} to "
                              f"{input_range[1]:g}; leave it out (it is for a model that records none)")
        input_range = given_range
    from .losses import MeanSquaredError

    # fitted on values (fit decides a MeanSquaredError()'s from its targets): its values, no label
    if net.gives_values and (loss is None or (type(loss) is MeanSquaredError and "classification" not in loss.config())):
        loss = MeanSquaredError(classification=False)
    if scales_own_inputs(net) and isinstance(input_scaling, dict) and input_scaling.get("kind") != "none":
        raise ExportError(f"the network already scales its raw inputs (its first layer is {net.layers[0].type_name}, "
                          "as a loaded model's is); export it without input_scaling, or the graph would scale them twice")
    threshold = float(net.decision_threshold if given is None else given.decision_threshold)
    return _Source(net, checked_class_names(class_names, net.n_outputs), input_scaling,
                   output_kind(net, loss, extra), threshold, input_range, given_range is not None)


def _network(model) -> Network:
    if not isinstance(model, Network):
        raise ConfigError(f"exporting needs a deltaprop Network or a model file from read_model, got {type(model).__name__}")
    return model


# -- ONNX -------------------------------------------------------------------------------------
class _OnnxGraph:
    """The nodes and initializers of one graph under construction, in the network's dtype."""

    def __init__(self, onnx, dtype: np.dtype):
        self.helper = onnx.helper
        self.numpy_helper = onnx.numpy_helper
        self.dtype = dtype
        self.nodes: list = []
        self.initializers: list = []

    def const(self, name: str, value) -> str:
        array = np.ascontiguousarray(np.asarray(value, dtype=self.dtype))
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


def _onnx_dense(g: _OnnxGraph, layer, x: str, i: int) -> str:
    return g.node("Gemm", [x, g.const(f"layers.{i}.W", layer.W.value), g.const(f"layers.{i}.b", layer.b.value)], f"layers.{i}.z")


def _onnx_leaky_relu(g: _OnnxGraph, layer, x: str, i: int) -> str:
    if g.dtype == np.float32:
        return g.node("LeakyRelu", [x], f"layers.{i}.a", alpha=layer.slope)
    scaled = g.node("Mul", [x, g.const(f"layers.{i}.slope", layer.slope)], f"layers.{i}.slope_z")
    return g.node("Max", [x, scaled], f"layers.{i}.a")


def _onnx_rescaling(g: _OnnxGraph, layer, x: str, i: int) -> str:
    return g.node("Mul", [x, g.const(f"layers.{i}.scale", layer.scale)], f"layers.{i}.a")


def _onnx_standardization(g: _OnnxGraph, layer, x: str, i: int) -> str:
    centred = g.node("Sub", [x, g.const(f"layers.{i}.mean", layer.mean)], f"layers.{i}.centred")
    return g.node("Mul", [centred, g.const(f"layers.{i}.inv_std", 1.0 / layer.std)], f"layers.{i}.a")


def _onnx_sigmoid(g: _OnnxGraph, layer, x: str, i: int) -> str:
    """``Sigmoid``; in float32, below the cut where deltaprop's inference forward takes
    ``a = e^z / (1 + e^z)`` (see :class:`~deltaprop.layers.Sigmoid`), that form too, 0 below its
    floor: runtimes' float32 ``Sigmoid`` loses the tail (onnxruntime's is 0 below z ≈ −18 and
    off by a fifth at −15), so the order of several tiny outputs, the argmax, would be lost."""
    from .layers import _SIGMOID_FLOOR, _SIGMOID_TAIL

    cut = _SIGMOID_TAIL.get(g.dtype)
    if cut is None:
        return g.node("Sigmoid", [x], f"layers.{i}.a")
    p = f"layers.{i}"
    body = g.node("Sigmoid", [x], f"{p}.sigmoid")
    floor = g.const(f"{p}.floor", _SIGMOID_FLOOR)
    e = g.node("Exp", [g.node("Max", [x, floor], f"{p}.z_floored")], f"{p}.exp")
    one_plus = g.node("Add", [e, g.const(f"{p}.one", 1.0)], f"{p}.one_plus_exp")
    tail = g.node("Div", [e, one_plus], f"{p}.tail")
    tail = g.node("Where", [g.node("Less", [x, floor], f"{p}.below_floor"), g.const(f"{p}.zero", 0.0), tail], f"{p}.tail0")
    return g.node("Where", [g.node("Less", [x, g.const(f"{p}.cut", cut)], f"{p}.in_tail"), tail, body], f"{p}.a")


def _onnx_elementwise(op: str, **attrs):
    return lambda g, layer, x, i: g.node(op, [x], f"layers.{i}.a", **attrs)


def _onnx_passthrough(g, layer, x: str, i: int) -> str:
    return x


_ONNX_LAYERS = {
    "Rescaling": _onnx_rescaling,
    "Standardization": _onnx_standardization,
    "Dense": _onnx_dense,
    "Sigmoid": _onnx_sigmoid,
    "Tanh": _onnx_elementwise("Tanh"),
    "ReLU": _onnx_elementwise("Relu"),
    "LeakyReLU": _onnx_leaky_relu,
    "Identity": _onnx_passthrough,
    "Softmax": _onnx_elementwise("Softmax", axis=-1),
    "Dropout": _onnx_passthrough,
}


def _onnx_scaling(g: _OnnxGraph, x: str, spec: dict[str, Any] | None) -> str:
    """The model's input scaling as nodes, with the arithmetic of
    :func:`deltaprop.serialization.apply_scaling` (constants rounded to the dtype first)."""
    kind = (spec or {"kind": "none"})["kind"]
    if kind == "unit":
        return g.node("Mul", [x, g.const("input.scale", 1.0 / spec["max"])], "input.scaled")
    if kind == "standardize":
        from .data.transforms import Standardizer

        std = Standardizer.from_dict(spec["state"])
        centred = g.node("Sub", [x, g.const("input.mean", std.mean.ravel())], "input.centred")
        return g.node("Mul", [centred, g.const("input.inv_std", np.ravel(1.0 / std.std))], "input.scaled")
    return x


#: The graph's name for the network's own output, for each kind of output (ModelFile.outputs).
_RAW_OUTPUT = {"probabilities": "probabilities", "labels": "probabilities", "logits": "logits", "scores": "scores",
               "values": "values"}


def output_names(outputs: str, *, logits: bool = False) -> list[str]:
    """The graph's outputs for a model whose outputs are ``outputs``
    (:attr:`~deltaprop.serialization.ModelFile.outputs`), in order; ``logits``: a multi-label
    classifier's are logits (:func:`~deltaprop.serialization.labels_are_logits`)."""
    if outputs == "values":
        return ["values"]
    if outputs == "logits" or (outputs == "labels" and logits):
        return ["logits", "probabilities", "label"]
    return [_RAW_OUTPUT[outputs], "label"]


def _by_threshold(src: _Source) -> bool:
    """Whether the label is ``a ≥ threshold`` (one output, or each of a multi-label
    classifier's) rather than an argmax or no label at all. A one-class model's single
    output has no threshold: its label, the argmax of one column, is always class 0."""
    from .serialization import is_one_class

    if src.outputs == "labels":
        return True
    return src.outputs != "values" and src.net.n_outputs == 1 and not is_one_class(src.class_names, 1)


def _onnx_heads(g: _OnnxGraph, src: _Source) -> list:
    """The nodes after the network's own output (already named ``src.raw_output``): the
    probabilities of logits (softmax, or the sigmoid of one or of each label's), and
    ``label`` by deltaprop's rule (:func:`_expected_labels`); returns the graph's output
    value infos."""
    helper, to_onnx = g.helper, g.helper.np_dtype_to_tensor_dtype
    k, raw, int64 = src.net.n_outputs, src.raw_output, to_onnx(np.dtype(np.int64))
    infos = [helper.make_tensor_value_info(raw, to_onnx(g.dtype), ["batch", k])]
    if raw == "logits":
        softmax = k > 1 and not src.logit_labels
        g.node("Softmax" if softmax else "Sigmoid", ["logits"], "probabilities", **({"axis": -1} if softmax else {}))
        infos.append(helper.make_tensor_value_info("probabilities", to_onnx(g.dtype), ["batch", k]))
    if src.outputs == "values":
        return infos
    if not _by_threshold(src):
        g.node("ArgMax", [raw], "label", axis=1, keepdims=0)
        return infos + [helper.make_tensor_value_info("label", int64, ["batch"])]
    above = g.node("GreaterOrEqual", [raw, g.const("label.threshold", src.threshold)], "label.above")
    if src.outputs == "labels":
        g.node("Cast", [above], "label", to=int64)
        return infos + [helper.make_tensor_value_info("label", int64, ["batch", k])]
    ids = g.node("Cast", [above], "label.ids", to=int64)
    g.initializers.append(g.numpy_helper.from_array(np.array([-1], dtype=np.int64), "label.shape"))
    g.node("Reshape", [ids, "label.shape"], "label")
    return infos + [helper.make_tensor_value_info("label", int64, ["batch"])]


def _expected_labels(outputs: np.ndarray, src: _Source) -> np.ndarray:
    """deltaprop's labels for network outputs: ``a ≥ threshold`` per output, shape
    ``(n, k)``, for a multi-label classifier; else its one class a row
    (:func:`~deltaprop.serialization.decided_classes`)."""
    from .serialization import decided_classes

    if src.outputs == "labels":
        return (outputs >= src.threshold).astype(np.int64)
    return decided_classes(outputs, src.threshold, src.class_names)


def _raw_input_scaling(src: _Source) -> dict[str, Any] | None:
    """How raw inputs become the first Dense layer's inputs: the network's own leading
    scaling layer as an ``input_scaling`` mapping, else the one given (checked)."""
    from .preprocessing import PREPROCESSING, layer_scaling
    from .serialization import _check_scaling

    spec = _check_scaling(src.input_scaling, src.net.n_features)
    leading = 0
    while src.net.layers[leading].type_name in PREPROCESSING:
        leading += 1
    if leading > 1:
        raise ExportError(f"the network starts with {leading} input-scaling layers; an export records one: "
                          "fold them into a single Rescaling or Standardization")
    return layer_scaling(src.net.layers[0]) if leading else spec


def _input_shape(net: Network) -> list[int] | None:
    """The shape of one example before it was flattened into the input row (``net.input_shape``:
    a model file's record, or what ``fit`` took from images), checked against the inputs; None
    where nothing records it."""
    from .serialization import _recordable_shape

    return _recordable_shape(getattr(net, "input_shape", None), net)


def _onnx_metadata(src: _Source, input_type: str) -> dict[str, str]:
    from . import __version__

    return {
        "deltaprop_version": __version__,
        "outputs": src.outputs,
        "output_names": json.dumps(output_names(src.outputs, logits=src.logit_labels)),
        "decision_threshold": json.dumps(src.threshold if _by_threshold(src) else None),
        "class_names": json.dumps(src.class_names),
        "input_scaling": json.dumps(_raw_input_scaling(src)),
        "input_shape": json.dumps(_input_shape(src.net)),
        "input_type": input_type,
        "architecture": json.dumps(src.net.config()),
    }


def _input_type(net: Network, input_type) -> np.dtype:
    if input_type is None:
        return net.dtype
    try:
        dt = np.dtype(input_type)
    except TypeError:
        dt = None
    if dt is None or dt.name not in INPUT_TYPES:
        raise ConfigError(f"input type must be one of {', '.join(INPUT_TYPES)}, got {input_type!r}")
    return dt


def _check_input_range(in_type: np.dtype, src: _Source) -> None:
    """Refuse an integer input type that cannot hold the raw training inputs (the range a
    model file records, or the ``input_range`` given): values outside ``[iinfo.min,
    iinfo.max]``, or fractions; and one for inputs whose range nothing says. The graph
    would take only wrapped or rounded inputs, which its check (on inputs of that type)
    cannot tell from the real ones."""
    if in_type.kind not in "ui":
        if src.range_given:  # refused, not ignored
            raise ConfigError(f"an input range is for an integer input type; the graph takes {in_type.name} inputs as "
                              "they are: leave the range out, or give an integer input type (e.g. uint8)")
        return
    info = np.iinfo(in_type)
    if src.input_range is None:
        raise ConfigError(f"input type {in_type.name} takes whole numbers from {info.min} to {info.max}, but the range "
                          "of the model's raw training inputs is unknown (a bare Network, or a file saved by dp.save "
                          "without input_range or by an older deltaprop, records none), so nothing says its inputs are "
                          f"such numbers: leave the input type out (the model's {src.net.dtype.name}), or give their "
                          "range (input_range=(min, max); --input-range MIN,MAX on the command line)")
    low, high = src.input_range
    fractions = low != int(low) or high != int(high)
    if fractions or low < info.min or high > info.max:
        raise ConfigError(f"input type {in_type.name} holds whole numbers from {info.min} to {info.max}, but the model "
                          f"was trained on raw inputs from {low:g} to {high:g}: the graph could not take them; leave the "
                          f"input type out (the model's {src.net.dtype.name})"
                          + ("" if fractions else " or choose an integer type that holds them"))


def onnx_model(net, *, class_names=None, input_scaling=None, input_type=None, loss=None, input_range=None,
               opset: int | None = None):
    """The ONNX ``ModelProto`` of ``net`` (a Network, or a model file from ``read_model``)
    with its input scaling in front and the outputs its loss gives them (see the module
    docstring; ``loss``: what a bare Network was trained with, e.g.
    ``BinaryCrossEntropy(from_logits=True)``); ``input_type`` is the element type of the
    ``input`` tensor (default: the network's dtype). An integer type needs the range of
    the raw inputs, ``lo ≤ x ≤ hi`` whole numbers it holds: the one a model file records,
    else ``input_range=(lo, hi)``. ``opset``: the ONNX opset, from 13 to the newest the
    installed onnx knows (default 17, IR version 8; another gets the oldest IR version that
    holds it). Checked with ``onnx.checker.check_model(full_check=True)``."""
    return _onnx_graph(_unpack(net, class_names, input_scaling, loss, input_range), input_type, opset)


def _checked_opset(onnx, opset) -> int:
    """``opset``, or :data:`ONNX_OPSET` for None; :class:`ConfigError` for one outside
    ``[ONNX_MIN_OPSET, the newest the installed onnx knows]``."""
    if opset is None:
        return ONNX_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not ONNX_MIN_OPSET <= opset <= newest:
        raise ConfigError(f"ONNX opset must be a whole number from {ONNX_MIN_OPSET} to {newest} (the newest this onnx "
                          f"{onnx.__version__} knows), got {opset!r}; leave it out for {ONNX_OPSET}, which most "
                          "runtimes read")
    return int(opset)


def _onnx_graph(src: _Source, input_type, opset=None):
    onnx = _require_onnx("ONNX export")
    from .serialization import _check_scaling

    opset = _checked_opset(onnx, opset)

    net = src.net
    layers = _checked_layers(net, _ONNX_LAYERS, "ONNX")
    if net.n_parameters * net.dtype.itemsize > ONNX_MAX_BYTES:
        raise ExportError(f"the network's weights take {net.n_parameters * net.dtype.itemsize / 2**30:.1f} GiB; an ONNX file "
                          f"holds under 2 GiB in one protobuf message (export float32, or a smaller network)")
    scaling = _check_scaling(src.input_scaling, net.n_features)
    in_type = _input_type(net, input_type)
    _check_input_range(in_type, src)
    helper, to_onnx = onnx.helper, onnx.helper.np_dtype_to_tensor_dtype
    g = _OnnxGraph(onnx, net.dtype)
    x = "input" if in_type == net.dtype else g.node("Cast", ["input"], "input.cast", to=to_onnx(net.dtype))
    x = _onnx_scaling(g, x, scaling)
    for i, layer in layers:
        x = _ONNX_LAYERS[layer.type_name](g, layer, x, i)
    last = g.nodes[-1]  # layers without a node pass their input on, so x is the last node's output
    last.output[0] = last.name = src.raw_output
    outputs = _onnx_heads(g, src)
    graph = helper.make_graph(g.nodes, "deltaprop",
                              [helper.make_tensor_value_info("input", to_onnx(in_type), ["batch", net.n_features])],
                              outputs, initializer=g.initializers)
    opset_id = helper.make_opsetid("", opset)
    ir_version = ONNX_IR_VERSION if opset == ONNX_OPSET else helper.find_min_ir_version_for([opset_id])
    model = helper.make_model(graph, opset_imports=[opset_id], ir_version=ir_version,
                              producer_name="deltaprop", doc_string=f"deltaprop network: {net!r}")
    metadata = _onnx_metadata(src, in_type.name)
    model.producer_version = metadata["deltaprop_version"]
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model


def _probe_inputs(net: Network, scaling: dict[str, Any] | None, in_type: np.dtype, n: int, seed: int) -> np.ndarray:
    """Raw inputs like the ones the model was trained on: ``[0, max]`` for unit scaling,
    ``μ ± a few σ`` for standardisation, standard normal otherwise."""
    rng = np.random.default_rng(seed)
    kind = (scaling or {"kind": "none"})["kind"]
    if kind == "unit":
        raw = rng.uniform(0.0, scaling["max"], size=(n, net.n_features))
    elif kind == "standardize":
        from .data.transforms import Standardizer

        std = Standardizer.from_dict(scaling["state"])
        raw = std.mean.ravel() + np.ravel(std.std) * rng.standard_normal((n, net.n_features))
    else:
        raw = rng.standard_normal((n, net.n_features))
    if in_type.kind in "ui":
        info = np.iinfo(in_type)
        raw = np.clip(np.rint(raw), info.min, info.max)
    return raw.astype(in_type)


def check_onnx(model, net, *, class_names=None, input_scaling=None, loss=None, n: int = 64, seed: int = 0) -> float:
    """Run the ONNX ``model`` (a ``ModelProto``, bytes or a path) in onnxruntime on ``n``
    random raw inputs and compare with deltaprop (``net``: a Network, with the
    ``class_names``, ``input_scaling`` and ``loss`` it was exported with, or a model
    file): the network's outputs with ``net.predict_proba`` of the scaled inputs, the
    probabilities of logits with their softmax (sigmoid), and the labels with
    ``net.predict``'s (by the loss's threshold where one is given; class 0 for a one-class
    model). Returns the largest absolute difference, or raises :class:`ExportError` if the
    graph has other outputs, or they disagree beyond float rounding (|Δ| ≤ 1e-4 + 1e-3·|p|
    in float32, 1e-9 + 1e-9·|p| in float64), or a label differs."""
    from . import _checks

    n = _checks.positive_int("check_onnx n (the number of random inputs to compare on)", n)
    return _check_onnx(model, _unpack(net, class_names, input_scaling, loss), n, seed)


def _check_onnx(model, src: _Source, n: int, seed: int) -> float:
    ort = _require("onnxruntime", "checking an ONNX export", _ONNX_INSTALL)
    onnx = _require_onnx("checking an ONNX export")
    from .serialization import apply_scaling

    model, what = _onnx_proto(onnx, model)
    in_type = _graph_input_type(onnx, model, src.net, what)
    errors = _ort_errors(ort)
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except errors as exc:
        raise ExportError(f"onnxruntime cannot load {what}: {exc}") from None
    names, have = output_names(src.outputs, logits=src.logit_labels), [o.name for o in session.get_outputs()]
    if have != names:
        raise ExportError(f"the ONNX graph outputs {', '.join(have)}; a model whose outputs are {src.outputs} needs "
                          f"{', '.join(names)}; the export was not written")
    raw = _probe_inputs(src.net, _raw_input_scaling(src), in_type, n, seed)
    try:
        got = dict(zip(names, session.run(names, {"input": raw})))
    except errors as exc:
        raise ExportError(f"onnxruntime cannot run {what} on inputs for the network: {exc}") from None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # an overflow is said below
        want = src.net.predict_proba(apply_scaling(src.input_scaling, raw, src.net.dtype))
    if not np.all(np.isfinite(want)):
        largest = max(float(np.abs(p.value).max()) for p in src.net.parameters())
        raise ExportError(f"the network's own outputs are not finite (NaN or infinity) on random inputs of its kind: "
                          f"its numbers overflow {src.net.dtype.name} (weights up to {largest:.3g}), so there is "
                          "nothing to reproduce; the model may be diverged: retrain it; the export was not written")
    outputs = got[src.raw_output]
    if outputs.shape != want.shape:
        raise ExportError(f"{what} outputs {outputs.shape[1:]} a row; the network gives ({want.shape[1]},): "
                          "it is not this network's export")
    diff = _largest_difference(outputs, want)
    if src.outputs == "logits":
        from .serialization import class_probabilities

        proba = class_probabilities(want, "logits")
        diff = max(diff, _largest_difference(got["probabilities"], proba[:, 1:] if want.shape[1] == 1 else proba))
    elif src.logit_labels:  # σ(z) of each label's logit, without overflow
        diff = max(diff, _largest_difference(got["probabilities"], 0.5 * (1.0 + np.tanh(0.5 * want))))
    if "label" in got:
        _check_labels(got["label"], want, src)
    return diff


def _onnx_proto(onnx, model) -> tuple[Any, str]:
    """The ``ModelProto`` of ``model`` (a ``ModelProto``, bytes or a path) and how to name it
    in a message; :class:`ExportError` for a file that cannot be read or is not ONNX."""
    path = Path(model) if isinstance(model, (str, Path)) else None
    what = "the ONNX graph" if path is None else f"the ONNX model {path}"
    if path is not None:
        try:
            model = path.read_bytes()
        except OSError as exc:
            raise ExportError(f"cannot read the ONNX model {path}: {exc.strerror or exc}") from None
    if isinstance(model, (bytes, bytearray)):
        from google.protobuf.message import DecodeError

        try:
            model = onnx.load_model_from_string(bytes(model))
        except DecodeError:
            raise ExportError(f"{path if path is not None else 'the bytes given'}: not an ONNX model "
                              "(protobuf cannot parse them)") from None
    if not isinstance(model, onnx.ModelProto):
        raise ExportError(f"check_onnx takes an ONNX ModelProto, its bytes or a path, got {type(model).__name__}")
    return model, what


def _graph_input_type(onnx, model, net: Network, what: str) -> np.dtype:
    """The element type of the graph's one input, ``input``, checked to be ``(batch,
    net.n_features)``: else :class:`ExportError` naming what the graph takes."""
    inputs = list(model.graph.input)
    if len(inputs) != 1 or inputs[0].name != "input" or not inputs[0].type.HasField("tensor_type"):
        names = ", ".join(i.name for i in inputs) or "nothing"
        raise ExportError(f"{what} takes {names}, not the one tensor named input a deltaprop export takes")
    tensor = inputs[0].type.tensor_type
    dims = tensor.shape.dim
    width = dims[1].dim_value if len(dims) == 2 and dims[1].HasField("dim_value") else None
    if width != net.n_features:
        takes = f"{width} features a row" if width is not None else f"inputs of {len(dims)} dimensions"
        raise ExportError(f"{what} takes {takes}; the network takes {net.n_features}: it is not this network's export")
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    except (KeyError, TypeError, ValueError):
        raise ExportError(f"{what} takes elements of ONNX type {tensor.elem_type}, which is no number type") from None


def _ort_errors(ort) -> tuple[type[Exception], ...]:
    """The exceptions onnxruntime raises for a graph it cannot load or run."""
    state = ort.capi.onnxruntime_pybind11_state
    return (RuntimeError, *(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception)))


def _check_labels(got: np.ndarray, want: np.ndarray, src: _Source) -> None:
    """The graph's labels against deltaprop's own (``net.predict``'s, by the export's
    threshold) for the network's outputs ``want``; only a decision that float rounding can
    flip (an output within rounding of the threshold, or two top outputs within rounding of
    each other) may differ."""
    expected = _expected_labels(want, src)
    wrong = (got != expected) & ~_undecided(want, src) if got.shape == expected.shape else True
    if np.any(wrong):
        rule = "argmax" if not _by_threshold(src) else f"a ≥ {src.threshold:g}"
        raise ExportError(f"the ONNX graph's labels do not follow deltaprop's rule for its {src.outputs} ({rule}), "
                          "the labels net.predict gives; the export was not written")


def _undecided(outputs: np.ndarray, src: _Source) -> np.ndarray:
    """Where float rounding may flip deltaprop's decision on ``outputs`` (see :func:`_check_labels`)."""
    atol, rtol = _tolerance(outputs.dtype)
    if _by_threshold(src):
        near = np.abs(outputs.astype(np.float64) - src.threshold) <= atol + rtol * np.abs(outputs)
        return near if src.outputs == "labels" else near[:, 0]
    top = np.sort(outputs, axis=1)[:, -2:].astype(np.float64)
    return top[:, -1] - top[:, 0] <= 2 * (atol + rtol * np.abs(top[:, -1])) if outputs.shape[1] > 1 \
        else np.zeros(len(outputs), dtype=bool)


def _tolerance(dtype: np.dtype) -> tuple[float, float]:
    """(atol, rtol) of float rounding between onnxruntime and deltaprop in ``dtype``."""
    return (1e-4, 1e-3) if dtype == np.float32 else (1e-9, 1e-9)


def _largest_difference(got: np.ndarray, want: np.ndarray) -> float:
    """max |got − want|, or :class:`ExportError` beyond float rounding (see :func:`check_onnx`)."""
    atol, rtol = _tolerance(want.dtype)
    diff = np.abs(got.astype(np.float64) - want) if got.shape == want.shape else np.array([np.inf])
    if got.dtype != want.dtype or not np.all(diff <= atol + rtol * np.abs(want)):
        raise ExportError(f"the ONNX graph does not reproduce the network: onnxruntime's outputs differ by up to "
                          f"{float(np.max(diff)) if diff.size else float('nan'):.3g} on random inputs; "
                          f"the export was not written")
    return float(np.max(diff)) if diff.size else 0.0


def export_onnx(net, path, *, class_names=None, input_scaling=None, input_type=None, loss=None,
                input_range=None, opset: int | None = None, check: bool = True) -> Path:
    """Write ``net`` (a Network, or a model file from ``read_model``, which brings its class
    names, input scaling and training loss) as an ONNX model to ``path``, atomically (see
    :func:`onnx_model`).

    ``input_scaling``: the model file's scaling (``ModelFile.input_scaling``), so the graph
    takes the same raw inputs as ``deltaprop predict``; ``loss``: the loss a bare Network
    was trained with, which says what its outputs are (logits, probabilities, ...);
    ``input_type``, ``input_range``, ``opset``: as for :func:`onnx_model`.
    ``check``: run the graph in onnxruntime first (:func:`check_onnx`; skipped when
    onnxruntime is not installed) and refuse to write one that does not reproduce ``net``."""
    data, _ = _onnx_bytes(_unpack(net, class_names, input_scaling, loss, input_range), input_type, check, opset)
    return atomic_write_bytes(path, data)


def _onnx_bytes(src: _Source, input_type, check: bool, opset=None) -> tuple[bytes, float | None]:
    """The serialised model, and onnxruntime's largest difference from the network (None
    when not checked: ``check`` is false or onnxruntime is not installed)."""
    model = _onnx_graph(src, input_type, opset)
    if not check or importlib.util.find_spec("onnxruntime") is None:
        return model.SerializeToString(), None
    return model.SerializeToString(), _check_onnx(model, src, 64, 0)


# -- PyTorch ----------------------------------------------------------------------------------
_TORCH_MODULES = {
    "Dense": lambda layer: {"module": "Linear", "in_features": layer.n_in, "out_features": layer.n_out},
    "Sigmoid": lambda layer: {"module": "Sigmoid"},
    "Tanh": lambda layer: {"module": "Tanh"},
    "ReLU": lambda layer: {"module": "ReLU"},
    "LeakyReLU": lambda layer: {"module": "LeakyReLU", "negative_slope": layer.slope},
    "Identity": lambda layer: {"module": "Identity"},
    "Softmax": lambda layer: {"module": "Softmax", "dim": -1},
    "Dropout": lambda layer: {"module": "Dropout", "p": layer.rate},
}


def _torch_layers(net: Network, scaled_inputs: bool) -> tuple[list[Layer], list[Layer]]:
    """(the leading preprocessing layers, the layers the ``nn.Sequential`` holds). PyTorch has
    no module for Rescaling or Standardization: with ``scaled_inputs`` the module starts
    after them and takes inputs they have already scaled; without, they are refused."""
    from .preprocessing import PREPROCESSING, describe_inputs

    k = 0
    while k < len(net.layers) and net.layers[k].type_name in PREPROCESSING:
        k += 1
    if k > 1:  # the module's inputs would need every one applied, which no message or file says
        raise ExportError(f"the network starts with {k} input-scaling layers ("
                          f"{', '.join(type(layer).__name__ for layer in net.layers[:k])}); a PyTorch module after "
                          "them takes inputs scaled by one: fold them into a single Rescaling or Standardization")
    if k and not scaled_inputs:
        raise ExportError(f"layer 0 ({type(net.layers[0]).__name__}) scales raw inputs and has no PyTorch module; pass "
                          f"scaled_inputs=True for the module after it, and apply {describe_inputs(net)} to its inputs")
    known = {**_TORCH_MODULES, **{name: None for name in PREPROCESSING}}
    _checked_layers(net, known, "PyTorch")
    for i, layer in enumerate(net.layers[k:], start=k):
        if layer.type_name not in _TORCH_MODULES:
            raise ExportError(f"layer {i} ({type(layer).__name__}) has no PyTorch module; only the input's scaling "
                              f"may precede the network, as its first layers")
    return net.layers[:k], net.layers[k:]


def torch_modules(net: Network, *, scaled_inputs: bool = False) -> list[dict[str, Any]]:
    """The ``nn.Sequential`` that holds ``net``, one module a layer, as JSON-able specs:
    ``{"module": "Linear", "in_features": 784, "out_features": 50}``, ``{"module": "Sigmoid"}``, ...
    (``scaled_inputs``: see :func:`to_torch`)."""
    return [_TORCH_MODULES[layer.type_name](layer) for layer in _torch_layers(net, scaled_inputs)[1]]


def torch_state_dict(net: Network, *, scaled_inputs: bool = False) -> dict[str, np.ndarray]:
    """``{"{i}.weight": Wᵀ, "{i}.bias": b}`` for each Dense layer at index ``i`` of the
    ``nn.Sequential``: the names and layout of its ``state_dict`` (``Linear.weight`` has
    shape ``(n_out, n_in)``)."""
    state = {}
    for i, layer in enumerate(_torch_layers(net, scaled_inputs)[1]):
        if isinstance(layer, Dense):
            state[f"{i}.weight"] = np.ascontiguousarray(layer.W.value.T)
            state[f"{i}.bias"] = layer.b.value.copy()
    return state


def to_torch(net: Network, *, scaled_inputs: bool = False):
    """An ``nn.Sequential`` (in eval mode) computing ``net.predict_proba``: ``Linear`` with
    ``weight = Wᵀ``, ``bias = b`` in the network's dtype, and PyTorch's own activations.
    A network that starts with input scaling (Rescaling, Standardization) is refused unless
    ``scaled_inputs=True``: the module then starts after that layer and takes scaled inputs.
    Two or more scaling layers in a row are refused either way (as :func:`export_torch` does):
    fold them into one."""
    torch = _require_torch("to_torch")
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[net.dtype]
    modules = []
    for spec in torch_modules(net, scaled_inputs=scaled_inputs):
        kwargs = {k: v for k, v in spec.items() if k != "module"}
        if spec["module"] == "Linear":
            kwargs["dtype"] = dtype
        modules.append(getattr(torch.nn, spec["module"])(**kwargs))
    sequential = torch.nn.Sequential(*modules)
    state = torch_state_dict(net, scaled_inputs=scaled_inputs)
    sequential.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return sequential.eval()


def _layer_from_torch(nn, module, i: int) -> tuple[Layer, Any]:
    """The deltaprop layer for one PyTorch module (and the Linear it came from, if any)."""
    kind = type(module)
    simple = {nn.Sigmoid: "Sigmoid", nn.Tanh: "Tanh", nn.ReLU: "ReLU", nn.Identity: "Identity"}
    try:
        if kind is nn.Linear:
            return Dense(module.in_features, module.out_features), module
        if kind in simple:
            return LAYERS[simple[kind]](), None
        if kind is nn.LeakyReLU:
            return LAYERS["LeakyReLU"](module.negative_slope), None
        if kind is nn.Dropout:
            return LAYERS["Dropout"](module.p), None
        if kind is nn.Softmax and module.dim in (-1, 1):
            return LAYERS["Softmax"](), None
    except ConfigError as exc:
        raise ExportError(f"module {i} ({module!r}) has settings deltaprop does not take: {exc}") from None
    what = f"{module!r} (deltaprop's Softmax is over each row: dim=-1 or 1)" if kind is nn.Softmax else kind.__name__
    raise ExportError(f"module {i} is {what}, which has no deltaprop layer; from_torch reads Linear, Sigmoid, Tanh, "
                      "ReLU, LeakyReLU, Identity, Softmax and Dropout")


def _linear_arrays(torch, linear, i: int) -> tuple[np.ndarray, np.ndarray | None]:
    if any(p is not None and p.is_meta for p in (linear.weight, linear.bias)):
        raise ExportError(f"module {i} (Linear) is on the meta device and holds no weights: load them first "
                          "(module.to_empty(device='cpu') then load_state_dict)")
    weight = linear.weight.detach().cpu()
    if weight.dtype not in (torch.float32, torch.float64):
        raise ExportError(f"module {i} (Linear) holds {weight.dtype} weights; deltaprop takes float32 or float64: "
                          "convert with module.float() or module.double()")
    if linear.bias is not None and linear.bias.dtype != weight.dtype:
        raise ExportError(f"module {i} (Linear) holds {weight.dtype} weights but a {linear.bias.dtype} bias, which "
                          "PyTorch itself cannot run: convert the module with module.float() or module.double()")
    bias = None if linear.bias is None else linear.bias.detach().cpu().numpy()
    for name, value in (("weight", weight.numpy()), ("bias", bias)):
        if value is not None and not np.all(np.isfinite(value)):
            raise ExportError(f"module {i} (Linear) {i}.{name} holds NaN or infinity; deltaprop takes finite "
                              "weights only: fix or retrain the module")
    return np.ascontiguousarray(weight.numpy().T), bias


def from_torch(module, *, seed: int | None = None) -> Network:
    """A deltaprop Network with the layers and weights of an ``nn.Sequential`` of Linear and
    activation modules (``W = weightᵀ``; a Linear without bias gets ``b = 0``). Any other
    module is refused with its position and name, and so is a ``state_dict``: its weights
    say nothing of the layers between them."""
    if isinstance(module, Mapping) or isinstance(module, (str, Path)):
        what = "a state_dict (a mapping of weights)" if isinstance(module, Mapping) else f"the path {module}"
        raise ExportError(f"from_torch reads an nn.Sequential module, got {what}, which does not say the layers (their "
                          "activations and order): build the nn.Sequential, load the weights with "
                          "module.load_state_dict(state), then pass the module")
    torch = _require_torch("from_torch")
    if type(module) is not torch.nn.Sequential:
        raise ExportError(f"from_torch reads an nn.Sequential of Linear and activation modules, got {type(module).__name__}")
    pairs = [_layer_from_torch(torch.nn, m, i) for i, m in enumerate(module)]
    arrays = [(i, _linear_arrays(torch, linear, i)) for i, (_, linear) in enumerate(pairs) if linear is not None]
    dtypes = {w.dtype for _, (w, _) in arrays}
    if len(dtypes) > 1:
        raise ExportError(f"the Linear modules mix dtypes ({', '.join(sorted(d.name for d in dtypes))}); "
                          "convert the whole module with .float() or .double()")
    try:
        net = Network([layer for layer, _ in pairs], seed=seed, dtype=dtypes.pop() if dtypes else "float32")
    except Error as exc:
        raise ExportError(f"the module does not make a deltaprop network: {exc}") from None
    for i, (w, b) in arrays:
        net.layers[i].W.value = w
        net.layers[i].b.value = np.zeros_like(net.layers[i].b.value) if b is None else b
    return net


def export_torch(net, path, *, class_names=None, input_scaling=None, loss=None) -> Path:
    """Write ``net``'s PyTorch ``state_dict`` (:func:`torch_state_dict`) as a safetensors file
    that ``safetensors.torch.load_file`` + ``nn.Sequential(...).load_state_dict`` read
    (``net``: a Network, or a model file from ``read_model``; ``loss``: as for
    :func:`export_onnx`). The metadata holds the modules to build (``torch_modules``,
    JSON), the dtype, class names, what the module outputs (``outputs``: probabilities,
    logits, scores, labels or values, as :attr:`~deltaprop.serialization.ModelFile.outputs`,
    and ``decision_threshold`` where a threshold decides), and the scaling to apply to raw
    inputs before the module (``input_scaling``, and ``preprocessing``: the configs of the
    network's leading Rescaling/Standardization layers, which the module leaves out)."""
    return _write_torch(_unpack(net, class_names, input_scaling, loss), path)


def _write_torch(src: _Source, path) -> Path:
    """The PyTorch file, its header's keys sorted (as a model file's): the same model
    always gives the same bytes."""
    from . import __version__
    from .serialization import safetensors_layout

    tensors = torch_state_dict(src.net, scaled_inputs=True)
    meta = {
        "format": "deltaprop-torch",
        "deltaprop_version": __version__,
        "torch_modules": json.dumps(torch_modules(src.net, scaled_inputs=True)),
        "preprocessing": json.dumps([layer.config() for layer in _torch_layers(src.net, True)[0]]),
        "dtype": src.net.dtype.name,
        "outputs": src.outputs,
        "decision_threshold": json.dumps(src.threshold if _by_threshold(src) else None),
        "class_names": json.dumps(src.class_names),
        "input_scaling": json.dumps(_raw_input_scaling(src)),
        "input_shape": json.dumps(_input_shape(src.net)),
    }
    return safetensors_layout(tensors, meta).write(path)


# -- from a model file (the CLI's `deltaprop export`) ---------------------------------------------
def _model_path(model) -> Path:
    """``model`` itself, or the ``model.safetensors`` of a run folder."""
    path = Path(model)
    if not path.is_dir():
        return path
    if (path / "model.safetensors").is_file():
        return path / "model.safetensors"
    if (path / "checkpoint.safetensors").is_file():
        raise ExportError(f"{path} holds a checkpoint but no model.safetensors: the run did not finish; "
                          f"finish it with deltaprop train --resume {path}, then export {path / 'model.safetensors'}")
    raise ExportError(f"{path} is a folder without model.safetensors; give a model file")


def default_output(model_path: Path, fmt: str) -> Path:
    """``runs/x/model.safetensors`` → ``runs/x/model.onnx`` or ``runs/x/model.pt.safetensors``."""
    stem = model_path.name.removesuffix(".safetensors")
    return model_path.with_name(stem + (".onnx" if fmt == "onnx" else ".pt.safetensors"))


def export_file(model, fmt: str, out=None, *, input_type=None, input_range=None, opset=None) -> tuple[Path, str]:
    """Export the model file (or run folder) ``model`` in ``fmt`` (``onnx`` or ``torch``);
    returns the written path and one line saying what it holds. A checkpoint is refused:
    it is training state, and the run's model file is what gets deployed. ``input_type`` is
    the ONNX graph's input element type, ``input_range`` the raw inputs' range for a file
    that records none, ``opset`` its opset (see :func:`onnx_model`); the PyTorch module takes
    the model's dtype and has no opset, so all three are refused for ``torch``."""
    from .serialization import read_model

    if fmt not in FORMATS:
        raise ConfigError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if input_type is not None and fmt != "onnx":
        raise ConfigError(f"input_type={input_type!r} sets the ONNX graph's input; the PyTorch module takes the "
                          "model's dtype: leave input_type out for format 'torch' (cast the inputs before the module)")
    if input_range is not None and fmt != "onnx":
        raise ConfigError("input_range is for the ONNX graph's integer input type; leave it out for format 'torch'")
    if opset is not None and fmt != "onnx":
        raise ConfigError(f"opset={opset!r} is the ONNX graph's; a PyTorch file has none: leave it out for format 'torch'")
    path = _model_path(model)
    src = _unpack(read_model(path), None, None, None, input_range)
    net = src.net
    out = Path(out) if out is not None else default_output(path, fmt)
    if out.resolve() == path.resolve():
        raise ExportError(f"the output {out} is the model file itself; choose another -o")
    sizes = " → ".join(str(n) for n in [net.n_features] + [layer.n_out for layer in net.layers if isinstance(layer, Dense)])
    if fmt == "torch":
        _write_torch(src, out)
        return out, f"wrote {out}: PyTorch state_dict of nn.Sequential {sizes}, {net.dtype.name}, " \
                    f"{_scaling_words(net, src.input_scaling).replace('in the graph', 'before the module')}; " \
                    f"the module outputs {_torch_output_words(src)}"
    data, diff = _onnx_bytes(src, input_type, True, opset)
    atomic_write_bytes(out, data)
    checked = "; not checked: onnxruntime is not installed (pip install onnxruntime, or uv sync --extra onnx in a " \
              "checkout of deltaprop, to check exports)" \
        if diff is None else f"; onnxruntime matches deltaprop on 64 random inputs (largest difference {diff:.1e})"
    in_type = _input_type(net, input_type).name
    opset = ONNX_OPSET if opset is None else opset
    return out, f"wrote {out}: ONNX opset {opset}, {sizes}, raw input (batch, {net.n_features}) {in_type}, " \
                f"{_scaling_words(net, src.input_scaling)}, outputs {_onnx_output_words(src)}{checked}"


#: What the PyTorch module outputs, in words, for each kind of output (ModelFile.outputs).
_TORCH_OUTPUT_WORDS = {
    "probabilities": "probabilities",
    "logits": "logits (their softmax, or the sigmoid of one, gives the probabilities)",
    "scores": "scores (no probabilities; the largest is the class)",
    "labels": "a probability per label (each label is on at p ≥ threshold)",
    "logit labels": "a logit per label (each label is on at z ≥ 0; its sigmoid is the label's probability)",
    "values": "a regressor's values",
}


def _torch_output_words(src: _Source) -> str:
    """What the PyTorch module outputs, in words; one score is a class by its threshold."""
    if src.logit_labels:
        return _TORCH_OUTPUT_WORDS["logit labels"]
    if src.outputs == "scores" and _by_threshold(src):
        return f"one score (no probability; class 1 where it is ≥ {src.threshold:g})"
    if src.outputs != "values" and not _by_threshold(src) and src.net.n_outputs == 1:
        return f"{_TORCH_OUTPUT_WORDS[src.outputs]} (the model knows one class, {src.class_names[0]}: every row is it)"
    return _TORCH_OUTPUT_WORDS[src.outputs]


def _onnx_output_words(src: _Source) -> str:
    """The graph's outputs, in words: ``probabilities and label (argmax)``, ..."""
    if src.outputs == "values":
        return "values (a regressor: no label)"
    symbol = "z" if src.logit_labels else {"logits": "z", "scores": "a"}.get(src.outputs, "p")  # a score: none
    rule = "argmax" if not _by_threshold(src) else f"{symbol} ≥ {src.threshold:g}"
    if src.outputs == "labels":
        rule += ", one 0/1 a label"
    elif not _by_threshold(src) and src.net.n_outputs == 1:
        rule = f"always 0, {src.class_names[0]}: the model knows one class"
    first = {"logits": f"logits, probabilities (their {'softmax' if src.net.n_outputs > 1 else 'sigmoid'})",
             "scores": "scores (no probabilities)"}.get(src.outputs, "probabilities")
    if src.logit_labels:
        first = "logits, probabilities (the sigmoid of each)"
    return f"{first} and label ({rule})"


def _scaling_words(net: Network, spec: dict[str, Any] | None) -> str:
    from .preprocessing import PREPROCESSING, describe_inputs

    kind = (spec or {"kind": "none"})["kind"]
    if kind == "none" and net.layers[0].type_name in PREPROCESSING:
        return f"inputs {describe_inputs(net)} in the graph"
    if kind == "unit":
        return f"scaled by 1/{spec['max']:g} in the graph"
    if kind == "standardize":
        return "standardised in the graph"
    return "no input scaling"


