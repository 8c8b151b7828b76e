"""Model files whose scaling layers the network's dtype cannot hold, and the shape of one
example carried into ONNX and PyTorch exports."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open

import deltaprop as dp
from deltaprop import export as E
from deltaprop import serialization as S
from deltaprop.errors import ConfigError, ModelFileError
from deltaprop.layers import Dense, Softmax, Tanh
from deltaprop.preprocessing import Rescaling, Standardization

from cli_in_process import run_cli
from model_file_edits import edit_metadata


def _net(first, dtype="float32") -> dp.Network:
    return dp.Network([first, Dense(4, 3), Tanh(), Dense(3, 2), Softmax()], dtype=dtype, seed=0)


def _first_layer(change):
    def edit(meta):
        arch = json.loads(meta["architecture"])
        arch["layers"][0] = change(arch["layers"][0])
        meta["architecture"] = json.dumps(arch)

    return edit


#: edits of a float32 model's leading Standardization(0, 1) that float32 cannot compute
_UNHOLDABLE = {
    "a mean beyond float32": lambda layer: {**layer, "mean": [1e300] * 4},
    "a std whose 1/std is beyond float32": lambda layer: {**layer, "std": [1e-300] * 4},
    "a std whose 1/std rounds to 0 in float32": lambda layer: {**layer, "std": [1e300] * 4},
    "a Rescaling scale beyond float32": lambda layer: {"type": "Rescaling", "scale": 1e300},
    "a Rescaling scale whose inverse is infinite": lambda layer: {"type": "Rescaling", "scale": 1e-320},
}


@pytest.fixture
def standardized(tmp_path):
    path = tmp_path / "model.safetensors"
    dp.save(_net(Standardization(np.zeros(4), np.ones(4))), path)
    np.save(tmp_path / "rows.npy", np.ones((2, 4), np.float32))
    return path


@pytest.mark.parametrize("change", _UNHOLDABLE.values(), ids=list(_UNHOLDABLE))
def test_a_scaling_layer_float32_cannot_hold_is_refused_on_load(standardized, change):
    bad = edit_metadata(standardized, standardized.with_name("bad.safetensors"), _first_layer(change))
    with pytest.raises(ModelFileError, match="architecture is invalid"):
        S.read_model(bad)
    for args in (["info", bad], ["predict", bad, standardized.with_name("rows.npy")], ["export", bad, "--format", "onnx"]):
        r = run_cli(*args)
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and str(bad) in r.stderr, r.stderr


def test_a_float64_model_holds_what_float32_cannot(tmp_path):
    path = tmp_path / "model.safetensors"
    dp.save(_net(Rescaling(1e300), "float64"), path)
    r = run_cli("info", path)
    assert r.returncode == 0 and r.stderr == ""  # no overflow warning from a float32 copy of the scale
    assert "x / 1e-300" in r.stdout
    out = dp.load(path).predict_proba(np.ones((2, 4)))
    assert np.isfinite(out).all()


@pytest.mark.parametrize(("mean", "std"), [([1e39] * 4, [1.0] * 4), ([0.0] * 4, [1e-39] * 4), ([0.0] * 4, [1e46] * 4)])
def test_a_standardization_float32_cannot_compute_is_refused_when_built(mean, std):
    with pytest.raises(ConfigError, match="float32 holds.*use dtype float64"):
        _net(Standardization(mean, std))
    net = _net(Standardization(mean, std), "float64")
    assert np.isfinite(net.forward(np.ones((1, 4)))).all()


@pytest.mark.parametrize("top", [1e-310, 1e300])
def test_a_recorded_unit_scaling_the_network_cannot_apply_names_the_file(tmp_path, top):
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([4, 3, 2], seed=0), path)
    bad = edit_metadata(
        path, tmp_path / "bad.safetensors", lambda m: m.update(input_scaling=json.dumps({"kind": "unit", "max": top}))
    )
    with pytest.raises(ModelFileError, match="input_scaling' is unusable"):
        S.read_model(bad)
    r = run_cli("info", bad)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and str(bad) in r.stderr


def _torch_meta(path) -> dict[str, str]:
    with safe_open(str(path), "numpy") as f:
        return f.metadata()


def _onnx_meta(path) -> dict[str, str]:
    onnx = pytest.importorskip("onnx")
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.mark.parametrize(("shape", "recorded"), [((2, 2), [2, 2]), ((1, 2, 2), [1, 2, 2]), (None, None)])
def test_exports_record_the_shape_of_one_example_the_model_file_records(tmp_path, shape, recorded):
    pytest.importorskip("onnx")
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([4, 3, 2], seed=0), path, input_shape=shape)
    onnx_path, _ = E.export_file(path, "onnx", tmp_path / "m.onnx")
    torch_path, _ = E.export_file(path, "torch", tmp_path / "m.pt.safetensors")
    assert json.loads(_onnx_meta(onnx_path)["input_shape"]) == recorded
    assert json.loads(_torch_meta(torch_path)["input_shape"]) == recorded


def test_exports_of_a_network_record_its_input_shape_and_refuse_a_wrong_one(tmp_path):
    pytest.importorskip("onnx")
    net = dp.mlp([6, 3, 2], seed=0)
    net.input_shape = (3, 2)
    E.export_onnx(net, tmp_path / "n.onnx")
    E.export_torch(net, tmp_path / "n.pt.safetensors")
    assert json.loads(_onnx_meta(tmp_path / "n.onnx")["input_shape"]) == [3, 2]
    assert json.loads(_torch_meta(tmp_path / "n.pt.safetensors")["input_shape"]) == [3, 2]
    net.input_shape = (4, 2)
    with pytest.raises(ConfigError, match="holds 8 values, but the network takes 6"):
        E.export_torch(net, tmp_path / "w.pt.safetensors")
    assert not (tmp_path / "w.pt.safetensors").exists()


def test_a_header_over_the_cap_that_the_file_holds_is_not_called_truncated(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([4, 3, 2], seed=0), path)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    monkeypatch.setattr(S, "MAX_HEADER_BYTES", 4096)
    big = S.MAX_HEADER_BYTES + 8  # padded with spaces, as safetensors pads, past the cap
    grown = tmp_path / "grown.safetensors"
    grown.write_bytes(big.to_bytes(8, "little") + raw[8 : 8 + n] + b" " * (big - n) + raw[8 + n :])
    with pytest.raises(
        ModelFileError, match=r"header of 4,104 bytes .*more than the 0.00390625 MiB a model file may hold"
    ) as caught:
        S.read_model(grown)
    assert "truncated" not in str(caught.value)


_HOSTILE_NAMES = ["cat\x1b[2J\x1b]0;title\x07", "dog\nwrote /etc/passwd\r\x9b31m"]


def test_class_names_of_a_downloaded_model_cannot_drive_the_terminal(tmp_path):
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([4, 3, 2], seed=0), path, class_names=["a", "b"])
    bad = edit_metadata(path, tmp_path / "bad.safetensors", lambda m: m.update(class_names=json.dumps(_HOSTILE_NAMES)))
    np.save(tmp_path / "rows.npy", np.ones((2, 4), np.float32))
    info, predict = run_cli("info", bad), run_cli("predict", bad, tmp_path / "rows.npy")
    assert info.returncode == predict.returncode == 0
    for out in (info.stdout, predict.stdout):
        assert not any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) < 0xA0 for c in out), repr(out)
    assert "classes: cat\\x1b[2J\\x1b]0;title\\x07, dog\\nwrote /etc/passwd\\x0d\\x9b31m\n" in info.stdout
    assert predict.stdout.count("\n") == 2  # one line a row
    assert all(": class cat" in line for line in predict.stdout.splitlines()), predict.stdout


def test_recorded_settings_of_a_model_file_cannot_drive_the_terminal(tmp_path):
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([4, 3, 2], seed=0), path, extra={"config": {"dataset": "x\x1b[31m"}})
    r = run_cli("info", path)
    assert r.returncode == 0 and "\x1b" not in r.stdout and "dataset=x\\x1b[31m" in r.stdout


def test_a_softmax_model_recorded_as_multi_label_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([4, 3, 3], seed=0), path)
    bad = edit_metadata(path, tmp_path / "bad.safetensors", lambda m: m.update(extra=json.dumps({"multilabel": True})))
    with pytest.raises(ModelFileError, match="multi-label classifier, but its output is a Softmax"):
        S.read_model(bad)
    np.save(tmp_path / "rows.npy", np.ones((1, 4), np.float32))
    for args in (["predict", bad, tmp_path / "rows.npy"], ["export", bad, "--format", "torch"]):
        r = run_cli(*args)
        assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr


def test_a_softmax_network_marked_multi_label_is_neither_saved_nor_exported(tmp_path):
    net = dp.mlp([4, 3, 3], seed=0)
    net.multilabel = True
    with pytest.raises(ConfigError, match="output is a Softmax"):
        dp.save(net, tmp_path / "m.safetensors")
    with pytest.raises(ConfigError, match="output is a Softmax"):
        dp.save(dp.mlp([4, 3, 3], seed=0), tmp_path / "m.safetensors", extra={"multilabel": True})
    with pytest.raises(dp.Error, match="output is a Softmax"):
        E.export_torch(net, tmp_path / "m.pt.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_predict_refuses_outputs_that_overflow_rather_than_show_a_class_of_nan(tmp_path):
    net = dp.mlp([4, 3, 3], seed=0, activation="relu")
    for i in (0, 2):
        net.layers[i].W.value[...] = 3e38  # finite, but x W overflows float32
    path = tmp_path / "model.safetensors"
    dp.save(net, path)
    rows = np.zeros((3, 4), np.float32)
    rows[1] = 1.0
    np.save(tmp_path / "rows.npy", rows)
    r = run_cli("predict", path, tmp_path / "rows.npy")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "rows.npy[1]: the model's outputs are not finite" in r.stderr, r.stderr
    np.save(tmp_path / "fine.npy", rows[:1])
    r = run_cli("predict", path, tmp_path / "fine.npy")
    assert r.returncode == 0 and r.stderr == "" and "nan" not in r.stdout


def test_evaluate_refuses_outputs_that_overflow_rather_than_count_them_as_class_0(tmp_path):
    net = dp.mlp([4, 3, 3], seed=0, activation="relu")
    for i in (0, 2):
        net.layers[i].W.value[...] = 3e38
    path = tmp_path / "model.safetensors"
    dp.save(net, path)
    np.savez(tmp_path / "d.npz", x=np.ones((10, 4), np.float32), y=np.arange(10) % 3)
    r = run_cli("evaluate", path, "--dataset", tmp_path / "d.npz")
    assert r.returncode == 1 and "accuracy" not in r.stdout
    assert r.stderr.count("\n") == 1 and "d.npz, row 0 of those scored: the model's outputs are not finite" in r.stderr


def test_an_onnx_export_of_a_network_that_overflows_says_so(tmp_path):
    pytest.importorskip("onnxruntime")
    net = dp.mlp([4, 3, 3], seed=0, activation="relu")
    for i in (0, 2):
        net.layers[i].W.value[...] = 3e38
    path = tmp_path / "model.safetensors"
    dp.save(net, path)
    r = run_cli("export", path, "--format", "onnx")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "the network's own outputs are not finite" in r.stderr and "overflow float32 (weights up to 3e+38)" in r.stderr
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize("shape", [[-2, -2], [4.5], [True, 4], [2**63 + 1, 4], "4"])
def test_a_recorded_standardization_of_an_impossible_shape_is_refused(tmp_path, shape):
    path = tmp_path / "model.safetensors"
    dp.save(dp.mlp([4, 3, 2], seed=0), path)
    state = {"mode": "global", "shape": shape, "mean": [0.0] * 4, "std": [1.0]}
    scaling = json.dumps({"kind": "standardize", "state": state})
    bad = edit_metadata(path, tmp_path / "bad.safetensors", lambda m: m.update(input_scaling=scaling))
    with pytest.raises(ModelFileError, match="invalid Standardizer state"):
        S.read_model(bad)
    r = run_cli("info", bad)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and str(bad) in r.stderr


def test_a_decision_threshold_beyond_the_model_dtype_is_refused(tmp_path):
    net = dp.Network([Dense(4, 1), dp.layers.Sigmoid()], seed=0)
    path = tmp_path / "model.safetensors"
    dp.save(net, path)
    bad = edit_metadata(path, tmp_path / "bad.safetensors", lambda m: m.update(decision_threshold="1e300"))
    with pytest.raises(ModelFileError, match="'decision_threshold' 1e.300 is beyond what the model's float32 holds"):
        S.read_model(bad)
    net.decision_threshold = 1e300
    with pytest.raises(ConfigError, match="beyond what the network's float32 holds"):
        dp.save(net, tmp_path / "again.safetensors")
    net64 = dp.Network([Dense(4, 1), dp.layers.Sigmoid()], dtype="float64", seed=0)
    net64.decision_threshold = 1e300
    dp.save(net64, tmp_path / "wide.safetensors")
    assert dp.load(tmp_path / "wide.safetensors").decision_threshold == 1e300


def test_a_checkpoint_history_with_an_infinite_probe_size_is_refused(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    path = tmp_path / "c.safetensors"
    dp.fit(
        dp.mlp([4, 3, 2], seed=0),
        x,
        np.arange(20) % 2,
        loss=dp.CrossEntropy(),
        optimizer=dp.SGD(lr=0.1),
        epochs=1,
        batch_size=10,
        callbacks=[dp.LambdaCallback(on_epoch_end=lambda s: S.save_checkpoint(path, s))],
    )

    def infinite_probe(meta):
        training = json.loads(meta["training"])
        training["history"][0]["diagnostics"]["probe_size"] = float("inf")
        meta["training"] = json.dumps(training)

    bad = edit_metadata(path, tmp_path / "bad.safetensors", infinite_probe)
    with pytest.raises(ModelFileError, match="diagnostics are malformed"):
        S.read_model(bad)
    r = run_cli("info", bad)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
