"""What an exported ONNX file holds: its outputs run in onnxruntime, and its metadata."""

from __future__ import annotations

import numpy as np


def graph_outputs(path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of the graph at ``path`` for the input ``x``, by name."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": x})))


def props(path) -> dict[str, str]:
    """The file's metadata properties, key to value."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}
