"""Exports and data-parallel runs: what a user would otherwise be misled by."""

from __future__ import annotations

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.serialization import read_model

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'deltaprop[onnx]'; the dev group has it)")


def _saved(tmp_path, input_range):
    """A small model file recording the raw training inputs' range (as deltaprop train does)."""
    net = dp.mlp([4, 5, 3], seed=0)
    path = tmp_path / "model.safetensors"
    dp.save(net, path, input_range=input_range)
    return path


@pytest.mark.parametrize(("input_range", "input_type"), [((0.0, 255.0), "int8"), ((-3.5, 12.25), "uint8"),
                                                         ((-1.0, 300.0), "uint8"), ((0.0, 70000.0), "int16")])
def test_an_integer_input_type_that_cannot_hold_the_training_inputs_is_refused(tmp_path, input_range, input_type):
    path = _saved(tmp_path, input_range)
    with pytest.raises(dp.ConfigError, match=f"input type {input_type} holds whole numbers .* trained on raw inputs"):
        dp.export.onnx_model(read_model(path), input_type=input_type)
    done = run_cli("export", path, "-o", tmp_path / "model.onnx", "--input-type", input_type)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "could not take them" in done.stderr
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize(("input_range", "input_type"), [((0.0, 255.0), "uint8"), ((0.0, 255.0), "int16"),
                                                         ((-3.5, 12.25), None), ((-3.5, 12.25), "float64")])
def test_an_input_type_that_holds_the_training_inputs_is_exported(tmp_path, input_range, input_type):
    model = dp.export.onnx_model(read_model(_saved(tmp_path, input_range)), input_type=input_type)
    want = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(input_type or "float32"))
    assert model.graph.input[0].type.tensor_type.elem_type == want
