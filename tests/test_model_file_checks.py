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


# -- the loss a library model was trained with -----------------------------------------------------
def _one_logit(tmp_path, **save):
    """``z = x``: one linear output, a logit when trained with BinaryCrossEntropy(from_logits=True)."""
    net = dp.Network([dp.Dense(1, 1), dp.Identity()], seed=0)
    net.layers[0].W.value[...] = 1.0
    net.layers[0].b.value[...] = 0.0
    return dp.save(net, tmp_path / "logit.safetensors", class_names=["neg", "pos"], **save)


def test_save_records_the_loss_so_a_single_logit_is_read_right(tmp_path):
    path = _one_logit(tmp_path, loss=dp.BinaryCrossEntropy(from_logits=True))
    mf = read_model(path)
    assert mf.outputs == "logits" and mf.training_loss().decision_threshold == 0.0
    assert isinstance(mf.training_loss(), dp.BinaryCrossEntropy) and mf.training_loss().from_logits
    rows = tmp_path / "rows.npy"
    np.save(rows, np.array([[0.3], [-0.3]], np.float32))  # z = 0.3: σ(z) = 0.574, class 1
    res = run_cli("predict", path, rows)
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.splitlines()
    assert first.startswith(f"{rows}[0]: class pos  (probabilities pos: 0.5744, neg: 0.4256)"), first
    assert second.startswith(f"{rows}[1]: class neg  (probabilities neg: 0.5744, pos: 0.4256)"), second


def test_without_a_recorded_loss_a_single_score_is_labelled_as_class_1s(tmp_path):
    path = _one_logit(tmp_path)
    assert read_model(path).outputs == "scores"
    rows = tmp_path / "rows.npy"
    np.save(rows, np.array([[0.7], [0.3]], np.float32))
    res = run_cli("predict", path, rows)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"{rows}[0]: class pos  (scores pos: 0.7000)",
                                       f"{rows}[1]: class neg  (scores pos: 0.3000)"]


@pytest.mark.parametrize("loss, message", [
    (dp.BinaryCrossEntropy(), "needs probabilities from a Sigmoid output layer"),
    ("binary_cross_entropy", "loss must be a deltaprop loss"),
])
def test_save_refuses_a_loss_that_does_not_fit(tmp_path, loss, message):
    with pytest.raises(dp.ConfigError, match=message):
        _one_logit(tmp_path, loss=loss)
    assert not (tmp_path / "logit.safetensors").exists()


@pytest.mark.parametrize("recorded, message", [
    ({"type": "os.system"}, "metadata 'loss' is invalid"),
    ({"type": "CrossEntropy", "from_logits": False}, "needs probabilities from a Softmax"),
    ([1, 2], "metadata 'loss' is invalid"),
])
def test_an_edited_loss_is_refused_on_load(tmp_path, recorded, message):
    path = _one_logit(tmp_path, loss=dp.BinaryCrossEntropy(from_logits=True))
    edited = _with_metadata(path, tmp_path / "edited.safetensors", loss=json.dumps(recorded))
    with pytest.raises(dp.ModelFileError, match=f"edited.safetensors: .*{message}"):
        read_model(edited)


def test_info_says_what_the_outputs_are_and_the_loss_saved(tmp_path):
    res = run_cli("info", _one_logit(tmp_path, loss=dp.BinaryCrossEntropy(from_logits=True)))
    assert res.returncode == 0, res.stderr
    assert "outputs: logits (saved with loss BinaryCrossEntropy(from_logits=True))" in res.stdout.splitlines()
    plain = tmp_path / "plain"
    plain.mkdir()
    res = run_cli("info", _one_logit(plain))
    assert "outputs: scores" in res.stdout.splitlines()
