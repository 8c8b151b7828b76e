"""What model files say about themselves: ``info``'s shapes from the first layer on, other
files (ONNX, a PyTorch export) named for what they are, a file that would scale its inputs
twice refused."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.preprocessing import Rescaling, Standardization
from deltaprop.serialization import _metadata_digest, read_model


def _one_error_line(res) -> str:
    assert res.returncode == 1 and res.stdout == "", (res.stdout, res.stderr)
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("deltaprop: error: "), res.stderr
    return res.stderr


# -- info ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first", [Rescaling(1 / 255), Standardization([1.0, 2.0, 3.0], [2.0])],
                         ids=["rescaling", "standardization"])
def test_summary_gives_a_leading_scaling_layer_the_input_width(first):
    net = dp.Network([first, dp.Dense(3, 4), dp.Sigmoid(), dp.Dense(4, 2), dp.Softmax()], seed=0)
    rows = [line for line in net.summary().splitlines() if line[:2] in ("0 ", "1 ", "2 ", "3 ", "4 ")]
    shapes = [row[row.index("(n, "):].split(")")[0] + ")" for row in rows]
    assert shapes == ["(n, 3)", "(n, 4)", "(n, 4)", "(n, 2)", "(n, 2)"]
    assert "None" not in net.summary()


def test_info_shows_the_scaling_layers_shape(tmp_path):
    path = tmp_path / "m.safetensors"
    dp.save(dp.mlp([3, 4, 2], seed=0), path, input_scaling={"kind": "unit", "max": 255})
    res = run_cli("info", path)
    assert res.returncode == 0, res.stderr
    first = next(line for line in res.stdout.splitlines() if line.startswith("0 "))
    assert "Rescaling" in first and "(n, 3)" in first and "None" not in res.stdout


# -- files that are no deltaprop model -------------------------------------------------------------
def test_an_onnx_file_is_named_as_onnx(tmp_path):
    pytest.importorskip("onnx", reason="onnx is not installed (pip install 'deltaprop[onnx]'; the dev group has it)")
    path = dp.export_onnx(dp.mlp([3, 4, 2], seed=0), tmp_path / "model.onnx", check=False)
    with pytest.raises(dp.ModelFileError, match="is an ONNX model"):
        dp.load(path)
    for command in ("info", "predict"):
        rows = tmp_path / "rows.npy"
        np.save(rows, np.zeros((1, 3), np.float32))
        err = _one_error_line(run_cli(command, path, *([rows] if command == "predict" else [])))
        assert "model.onnx: is an ONNX model" in err and "safetensors" in err


def test_onnx_bytes_under_any_name_are_named_as_onnx(tmp_path):
    # what onnx writes first: ir_version (field 1, varint 8), then producer_name (field 2)
    path = tmp_path / "renamed.safetensors"
    path.write_bytes(b"\x08\x08\x12\x09deltaprop" + bytes(64))
    with pytest.raises(dp.ModelFileError, match="is an ONNX model"):
        dp.load(path)


def test_a_pytorch_export_is_named_as_one(tmp_path):
    path = dp.export_torch(dp.mlp([3, 4, 2], seed=0), tmp_path / "model.pt.safetensors")
    with pytest.raises(dp.ModelFileError, match="is a PyTorch export"):
        dp.load(path)


# -- a file that scales twice ----------------------------------------------------------------------
def _with_metadata(src, dst, **patch):
    """``src`` with metadata entries replaced and its metadata digest recomputed, as anyone
    editing the documented format can do."""
    raw = src.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header["__metadata__"].update(patch)
    header["__metadata__"]["metadata_sha256"] = _metadata_digest(header["__metadata__"])
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    dst.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + n:])
    return dst


def test_a_scaling_layer_and_an_input_scaling_together_are_refused(tmp_path):
    saved = tmp_path / "layer.safetensors"
    dp.save(dp.Network([Rescaling(1 / 255), dp.Dense(3, 2), dp.Softmax()], seed=0), saved)
    assert read_model(saved).net.layers[0].type_name == "Rescaling"
    spec = {"kind": "standardize", "state": {"mode": "per_feature", "shape": [3], "mean": [100.0, 0.0, 0.0],
                                             "std": [10.0, 1.0, 1.0]}}
    edited = _with_metadata(saved, tmp_path / "edited.safetensors", input_scaling=json.dumps(spec))
    with pytest.raises(dp.ModelFileError, match="edited.safetensors: .*scaled twice"):
        read_model(edited)
    none = _with_metadata(saved, tmp_path / "none.safetensors", input_scaling=json.dumps({"kind": "none"}))
    assert read_model(none).net.layers[0].type_name == "Rescaling"  # "none" scales nothing: nothing twice
