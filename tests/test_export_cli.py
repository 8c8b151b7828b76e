"""`deltaprop export`: the main job's model runs in onnxruntime on the bundled test split
with the accuracy `deltaprop evaluate` reports; files the export cannot use are refused
with one line."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.data import load as load_dataset
from deltaprop.serialization import apply_scaling, read_model
from test_export_networks import every_layer_network

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'deltaprop[onnx]'; the dev group has it)")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'deltaprop[onnx]')")


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("deltaprop: error: ") and "Traceback" not in err, err
    return err


@pytest.mark.slow
@pytest.mark.parametrize("input_type", [None, "uint8"])
def test_main_job_in_onnxruntime_has_the_accuracy_of_evaluate(main_job, input_type, tmp_path, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(main_job / "model.safetensors")]) == 0
    reported = float(re.search(r"accuracy (\d\.\d+)", capsys.readouterr().out).group(1))
    out = tmp_path / "model.onnx"
    args = ["export", str(main_job / "model.safetensors"), "--format", "onnx", "-o", str(out)]
    assert main(args + (["--input-type", input_type] if input_type else [])) == 0
    assert "onnxruntime matches deltaprop" in capsys.readouterr().out
    test = load_dataset("mnist-sample", flatten=True)
    pixels = test.x_test if input_type == "uint8" else test.x_test.astype(np.float32)  # raw 0..255, as predict takes them
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probabilities, label = session.run(["probabilities", "label"], {"input": pixels})
    accuracy = float(np.mean(label == test.y_test))
    assert round(accuracy, 4) == reported and accuracy > 0.85
    mf = read_model(main_job / "model.safetensors")
    scaled = apply_scaling(mf.input_scaling, test.x_test, mf.net.dtype)
    assert np.array_equal(label, mf.net.predict(scaled))
    np.testing.assert_allclose(probabilities, mf.net.predict_proba(scaled), rtol=0, atol=1e-6)
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert props["class_names"] == '["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]'


@pytest.mark.slow
def test_main_job_as_pytorch_file(main_job, tmp_path, capsys):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (.ci/run installs it)")
    from safetensors.torch import load_file

    assert main(["export", str(main_job), "--format", "torch"]) == 0  # a run folder: its model.safetensors
    out = main_job / "model.pt.safetensors"
    assert f"wrote {out}" in capsys.readouterr().out
    module = torch.nn.Sequential(torch.nn.Linear(784, 50), torch.nn.Sigmoid(), torch.nn.Linear(50, 10), torch.nn.Softmax(dim=-1))
    module.load_state_dict(load_file(out))
    test = load_dataset("mnist-sample", flatten=True)
    with torch.no_grad():
        proba = module(torch.from_numpy(test.x_test.astype(np.float32) / np.float32(255))).numpy()
    net = read_model(main_job / "model.safetensors").net
    assert np.array_equal(np.argmax(proba, axis=1), net.predict(test.x_test))  # the model scales raw pixels itself


@pytest.mark.slow
def test_the_commands_in_docs_export_md_print_what_it_shows(main_job, tmp_path, monkeypatch, capsys):
    doc = (Path(__file__).resolve().parent.parent / "docs" / "export.md").read_text(encoding="utf-8")
    session = re.search(r"```console\n(.*?)```", doc, re.S).group(1).splitlines()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "demo").symlink_to(main_job)  # the same default run the doc trains
    monkeypatch.chdir(tmp_path)
    prompt = "$ uv run deltaprop "  # as the page writes the commands
    commands = [(i, line[len(prompt):].split()) for i, line in enumerate(session) if line.startswith(prompt + "export")]
    assert [args[args.index("--format") + 1] for _, args in commands] == ["onnx", "torch"]
    for i, args in commands:
        capsys.readouterr()
        assert main(args) == 0
        shown = session[i + 1].split("; onnxruntime matches")[0]  # the difference it measures may vary in the last digit
        assert capsys.readouterr().out.startswith(shown)
    assert onnx.load("model.onnx").graph.output[0].name == "probabilities"


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "model.safetensors"
    dp.save(every_layer_network("float64"), path, class_names=list("abcde"), input_scaling={"kind": "unit", "max": 255})
    return path


def test_default_output_sits_beside_the_model(small_model, capsys):
    assert main(["export", str(small_model), "--format", "onnx"]) == 0
    out = small_model.with_name("model.onnx")
    assert f"wrote {out}: ONNX opset 17, 12 → 16 → 16 → 16 → 16 → 16 → 5" in capsys.readouterr().out
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


@pytest.fixture(scope="module")
def parity_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("parity") / "run"
    args = ["train", "--dataset", "parity", "--layers", "10,6,2", "--epochs", "1", "--out", str(out), "--quiet"]
    assert main(args) == 0
    return out


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_checkpoint_is_refused_in_one_line(parity_run, capsys):
    assert main(["export", str(parity_run / "checkpoint.safetensors"), "--format", "onnx", "-o", str(parity_run / "x.onnx")]) == 1
    assert "is a checkpoint (training state), not a model" in one_error_line(capsys)
    assert not (parity_run / "x.onnx").exists()
    with pytest.raises(dp.ExportError, match="is a checkpoint"):
        dp.export.export_file(parity_run / "checkpoint.safetensors", "torch")


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
def test_a_run_folder_with_only_a_checkpoint_is_refused(parity_run, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "checkpoint.safetensors").write_bytes((parity_run / "checkpoint.safetensors").read_bytes())
    assert main(["export", str(unfinished), "--format", "torch"]) == 1
    assert "holds a checkpoint but no model.safetensors" in one_error_line(capsys)


@pytest.mark.parametrize("args, status, message", [
    (["export", "nowhere.safetensors", "--format", "onnx"], 1, "no such file"),
    (["export", "MODEL", "--format", "tflite"], 2, "invalid choice: 'tflite'"),
    (["export", "MODEL"], 2, "--format onnx or --format torch"),
    (["export", "MODEL", "-o", "m.bin"], 2, "--format onnx or --format torch"),
    (["export", "MODEL", "--format", "torch", "-o", "m.onnx"], 2, "--format torch writes no .onnx file"),
    (["export", "MODEL", "--format", "torch", "--input-type", "uint8"], 2, "has no meaning for --format torch"),
    (["export", "MODEL", "--format", "onnx", "--input-type", "str"], 2, "input type must be one of"),
])
def test_bad_command_lines_get_one_line(small_model, args, status, message, capsys):
    args = [str(small_model) if a == "MODEL" else a for a in args]
    assert main(args) == status
    assert message in one_error_line(capsys)


def test_a_layer_it_cannot_express_is_refused_in_one_line(small_model, tmp_path, capsys, monkeypatch):
    from test_export_networks import Doubling

    mf = read_model(small_model)
    mf.net.layers[1] = Doubling()  # what a file cannot hold: a layer outside the closed table
    monkeypatch.setattr("deltaprop.serialization.read_model", lambda path: mf)
    assert main(["export", str(small_model), "--format", "onnx", "-o", str(tmp_path / "x.onnx")]) == 1
    assert "layer 1 (Doubling) is not one of deltaprop's layers" in one_error_line(capsys)


def test_missing_onnx_is_one_line_naming_the_extra(small_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", str(small_model), "--format", "onnx", "-o", str(tmp_path / "x.onnx")]) == 1
    assert "pip install onnx onnxruntime" in one_error_line(capsys)


def test_the_format_is_read_from_the_output_files_name(small_model, tmp_path, capsys):
    assert main(["export", str(small_model), "-o", str(tmp_path / "m.onnx")]) == 0
    assert "ONNX opset" in capsys.readouterr().out
    assert main(["export", str(small_model), "-o", str(tmp_path / "m.pt.safetensors")]) == 0
    assert (tmp_path / "m.onnx").is_file() and (tmp_path / "m.pt.safetensors").is_file()
