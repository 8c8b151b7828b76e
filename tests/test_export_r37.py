"""`deltaprop export --input-type` for a model whose raw inputs' range nothing records.

A model saved by ``dp.save`` without ``input_range`` (or by an older deltaprop), or a bare
Network, says nothing of the values its inputs take. Exported with an integer input type, the
graph took only whole numbers in the type's range, its check ran on inputs rounded and
clipped to them, and the export said "onnxruntime matches deltaprop" and exited 0: a model
trained on features around 0 gave a uint8 graph that could never see its inputs."""

from __future__ import annotations

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.serialization import read_model

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'deltaprop[onnx]'; the dev group has it)")


def _unranged(tmp_path, **save_kw):
    """A model trained on features around 0, saved without the range of its inputs."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (100, 3))
    net = dp.mlp([3, 8, 2], seed=0)
    dp.fit(net, x, (x[:, 0] > 0).astype(int), loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3), epochs=3, seed=0,
           diagnostics=False)
    return dp.save(net, tmp_path / "model.safetensors", **save_kw)


@pytest.mark.parametrize("input_type", ["uint8", "int16", "int64"])
def test_an_integer_input_type_for_inputs_of_unknown_range_is_refused(tmp_path, input_type):
    path = _unranged(tmp_path)
    assert read_model(path).input_range is None
    with pytest.raises(dp.ConfigError, match=f"input type {input_type} takes whole numbers .* range of the model's "
                                             r"raw training inputs is unknown.*leave the input type out.*input_range="):
        dp.export.onnx_model(read_model(path), input_type=input_type)
    done = run_cli("export", path, "-o", tmp_path / "model.onnx", "--input-type", input_type)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "is unknown" in done.stderr and "--input-range MIN,MAX" in done.stderr
    assert not (tmp_path / "model.onnx").exists()


def test_a_bare_network_needs_the_range_for_an_integer_input_type(tmp_path):
    net = dp.mlp([4, 5, 3], seed=0)
    with pytest.raises(dp.ConfigError, match="is unknown"):
        dp.export_onnx(net, tmp_path / "net.onnx", input_scaling={"kind": "unit", "max": 255}, input_type="uint8")
    assert not (tmp_path / "net.onnx").exists()
    path = dp.export_onnx(net, tmp_path / "net.onnx", input_scaling={"kind": "unit", "max": 255}, input_type="uint8",
                          input_range=(0, 255))
    assert onnx.load(path).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    with pytest.raises(dp.ConfigError, match="input type int8 holds whole numbers from -128 to 127.*0 to 255"):
        dp.export.onnx_model(net, input_type="int8", input_range=(0, 255))
    with pytest.raises(dp.ConfigError, match="min 3 is above max 1"):
        dp.export.onnx_model(net, input_type="uint8", input_range=(3, 1))


def test_the_range_given_on_the_command_line_lets_pixels_export_as_uint8(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = _unranged(tmp_path, input_scaling={"kind": "unit", "max": 255})
    out = tmp_path / "model.onnx"
    done = run_cli("export", path, "-o", out, "--input-type", "uint8", "--input-range", "0,255")
    assert done.returncode == 0, done.stderr
    assert "raw input (batch, 3) uint8" in done.stdout
    pixels = np.random.default_rng(1).integers(0, 256, (50, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probabilities, label = session.run(["probabilities", "label"], {"input": pixels})
    net = dp.load(path)  # scales its raw inputs itself
    np.testing.assert_allclose(probabilities, net.predict_proba(pixels), rtol=0, atol=1e-6)
    assert np.array_equal(label, net.predict(pixels))
    done = run_cli("export", path, "-o", out, "--input-type", "int8", "--input-range", "0,255")
    assert done.returncode == 2 and "input type int8 holds whole numbers" in done.stderr


def test_a_range_given_must_agree_with_the_one_the_file_records(tmp_path):
    path = _unranged(tmp_path, input_range=(-7.5, 8.25))
    with pytest.raises(dp.ConfigError, match="the input range given, 0 to 255, differs .* -7.5 to 8.25"):
        dp.export.onnx_model(read_model(path), input_type="uint8", input_range=(0, 255))
    done = run_cli("export", path, "-o", tmp_path / "m.onnx", "--input-type", "uint8", "--input-range", "0,255")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "differs" in done.stderr
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(("args", "words"), [
    (["--input-range", "0,255", "--format", "torch", "-o", "m.pt.safetensors"], "no meaning for --format torch"),
    (["--input-type", "uint8", "--input-range", "0"], "--input-range takes MIN,MAX"),
    (["--input-type", "uint8", "--input-range", "255,0"], "--input-range takes MIN,MAX"),
    (["--input-type", "uint8", "--input-range", "0,inf"], "--input-range takes MIN,MAX"),
    (["--input-range", "0,255"], "an input range is for an integer input type"),
    (["--input-type", "float64", "--input-range", "0,255"], "the graph takes float64 inputs as they are"),
])
def test_a_bad_input_range_is_one_line(tmp_path, args, words):
    path = _unranged(tmp_path)
    done = run_cli("export", path, "-o", tmp_path / "m.onnx", *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    with pytest.raises(dp.ConfigError, match="input_range is for the ONNX graph"):
        dp.export.export_file(path, "torch", tmp_path / "m.pt.safetensors", input_range=(0, 1))


@pytest.mark.parametrize("input_type", [None, "float32", "float64"])
def test_a_float_input_type_needs_no_range(tmp_path, input_type):
    path = _unranged(tmp_path)
    model = dp.export.onnx_model(read_model(path), input_type=input_type)
    want = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(input_type or "float32"))
    assert model.graph.input[0].type.tensor_type.elem_type == want


def test_the_same_model_exported_for_pytorch_twice_gives_the_same_bytes(tmp_path):
    """The PyTorch file's metadata was written in the order of a hash map seeded afresh at
    every call: each export of the same model had other bytes (and SHA-256), as model files
    had before their header was sorted."""
    from safetensors import safe_open

    net = dp.mlp([4, 5, 3], dropout=0.5, seed=0, dtype="float64")
    paths = [dp.export_torch(net, tmp_path / f"{i}.pt.safetensors", class_names=["a", "b", "c"]) for i in range(4)]
    assert len({p.read_bytes() for p in paths}) == 1
    with safe_open(paths[0], "numpy") as f:
        assert f.metadata()["outputs"] == "probabilities" and f.metadata()["dtype"] == "float64"
        state = {name: f.get_tensor(name) for name in f.keys()}
    assert sorted(state) == ["0.bias", "0.weight", "3.bias", "3.weight"]
    for name, want in dp.export.torch_state_dict(net).items():
        assert state[name].dtype == want.dtype and np.array_equal(state[name], want), name
