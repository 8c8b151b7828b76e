"""Exports and model files keep what the model means: a regression network saved with its
loss is exported, predicted and described as a regressor's values, never as classes."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.serialization import read_model

needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
                                reason="onnx and onnxruntime are not installed (pip install 'deltaprop[onnx]')")


def onnx_outputs(path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of the ONNX graph at ``path``, by name."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": x})))


def onnx_props(path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def torch_file_meta(path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        return f.metadata()


# -- a regression network saved with its loss --------------------------------------------------
REGRESSION = dp.MeanSquaredError(classification=False)


def regression_network(output: str, dtype: str) -> tuple[dp.Network, np.ndarray]:
    """A network fitted to real-valued targets (``output``: its output activation) and inputs."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 3)).astype(dtype)
    k = 1 if output == "identity" else 2
    y = x @ rng.standard_normal((3, k))
    if output == "sigmoid":
        y = 1 / (1 + np.exp(-y))
    net = dp.mlp([3, 6, k], activation="tanh", output=output, seed=0, dtype=dtype)
    dp.fit(net, x, y if k > 1 else y[:, 0], loss=REGRESSION, optimizer=dp.SGD(lr=0.05), epochs=3, batch_size=20, seed=0)
    return net, x


@pytest.mark.parametrize("output, dtype", [("identity", "float64"), ("sigmoid", "float32")])
def test_a_regressor_saved_with_its_loss_reads_as_values(tmp_path, output, dtype):
    net, x = regression_network(output, dtype)
    path = dp.save(net, tmp_path / "reg.safetensors", loss=REGRESSION)
    assert read_model(path).outputs == "values"
    np.save(tmp_path / "x.npy", x[:2])
    done = run_cli("predict", path, tmp_path / "x.npy")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and not any("class" in line for line in lines), done.stdout
    for line, row in zip(lines, net.predict_proba(x[:2])):
        shown = [float(v) for v in line.split(": value", 1)[1].lstrip("s ").split(", ")]
        np.testing.assert_allclose(shown, row, rtol=1e-5)


@needs_onnx
@pytest.mark.parametrize("output, dtype", [("identity", "float64"), ("sigmoid", "float32")])
def test_a_regressor_saved_with_its_loss_exports_values_and_no_label(tmp_path, output, dtype):
    net, x = regression_network(output, dtype)
    path = dp.save(net, tmp_path / "reg.safetensors", loss=REGRESSION)
    done = run_cli("export", path, "--format", "onnx", "-o", tmp_path / "reg.onnx")
    assert done.returncode == 0, done.stderr
    assert "outputs values (a regressor: no label)" in done.stdout
    got = onnx_outputs(tmp_path / "reg.onnx", x)
    assert list(got) == ["values"]
    np.testing.assert_allclose(got["values"], net.predict_proba(x), rtol=0, atol=1e-6 if dtype == "float32" else 1e-12)
    meta = onnx_props(tmp_path / "reg.onnx")
    assert meta["outputs"] == "values" and json.loads(meta["decision_threshold"]) is None
    done = run_cli("export", path, "--format", "torch", "-o", tmp_path / "reg.pt.safetensors")
    assert done.returncode == 0 and "outputs a regressor's values" in done.stdout, done.stdout + done.stderr
    meta = torch_file_meta(tmp_path / "reg.pt.safetensors")
    assert meta["outputs"] == "values" and json.loads(meta["decision_threshold"]) is None


@needs_onnx
def test_a_bare_network_exported_with_a_regression_loss_gives_values(tmp_path):
    from deltaprop import export

    net, x = regression_network("identity", "float32")
    model = export.onnx_model(net, loss=REGRESSION)
    assert [o.name for o in model.graph.output] == ["values"]
    assert export.check_onnx(model, net, loss=REGRESSION) < 1e-5
    meta = torch_file_meta(dp.export_torch(net, tmp_path / "r.pt.safetensors", loss=REGRESSION))
    assert meta["outputs"] == "values"


# -- what deltaprop export says of a single score ----------------------------------------------
@needs_onnx
def test_export_of_a_single_score_does_not_call_it_a_probability(tmp_path):
    net = dp.mlp([3, 4, 1], output="identity", seed=0)  # a linear output, no loss on record: a score
    path = dp.save(net, tmp_path / "score.safetensors")
    done = run_cli("export", path, "--format", "onnx")
    assert done.returncode == 0, done.stderr
    assert "outputs scores (no probabilities) and label (a ≥ 0.5)" in done.stdout, done.stdout
    assert onnx_props(tmp_path / "score.onnx")["outputs"] == "scores"


# -- a model file that save writes, load reads ------------------------------------------------
def _nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("extra, message", [
    ([1, 2], "extra must be a mapping"),
    ({"score": np.float32(0.5)}, "extra must hold JSON values only"),
    ({"id": 10**200}, "201 digits"),
    ({"deep": _nested(80)}, "nested"),
])
def test_save_refuses_extra_that_load_would_refuse(tmp_path, extra, message):
    net = dp.mlp([3, 4, 2], seed=0)
    good = dp.save(net, tmp_path / "model.safetensors")
    before = good.read_bytes()
    with pytest.raises(dp.ConfigError, match=message):
        dp.save(net, good, extra=extra)
    assert good.read_bytes() == before  # the model already there is kept
    dp.load(good)


def test_save_refuses_a_header_load_would_refuse(tmp_path, monkeypatch):
    from deltaprop import serialization

    monkeypatch.setattr(serialization, "MAX_HEADER_BYTES", 16 << 10)  # the bound load reads by, made small
    net = dp.mlp([3, 4, 2], seed=0)
    dp.save(net, tmp_path / "small.safetensors", extra={"notes": "x" * 1000})
    dp.load(tmp_path / "small.safetensors")
    with pytest.raises(dp.ModelFileError, match=r"header .* more than the 0.015625 MiB a model file may hold"):
        dp.save(net, tmp_path / "big.safetensors", extra={"predictions": list(range(20_000))})
    assert not (tmp_path / "big.safetensors").exists()


class Huber(dp.MeanSquaredError):
    """A loss of one's own: a type name outside the closed table a model file may name."""

    type_name = "Huber"


def test_save_refuses_a_loss_load_could_not_read_back(tmp_path):
    net = dp.mlp([3, 4, 1], output="identity", seed=0)
    good = dp.save(net, tmp_path / "model.safetensors", loss=REGRESSION)
    before = good.read_bytes()
    with pytest.raises(dp.ConfigError, match=r"records only deltaprop's own losses .* load could not read Huber\(\) back"):
        dp.save(net, good, loss=Huber())
    assert good.read_bytes() == before
    assert read_model(good).loss.config() == REGRESSION.config()


# -- a checkpoint that load_checkpoint can resume ------------------------------------------------
class OwnSGD(dp.SGD):
    """An optimizer of one's own, recorded under its own type name."""

    def config(self):
        return {**super().config(), "type": "OwnSGD"}


class OwnSchedule(dp.Constant):
    type_name = "OwnSchedule"


@pytest.mark.parametrize("settings, what", [
    ({"loss": Huber()}, "loss, not 'Huber'"),
    ({"optimizer": OwnSGD(lr=0.1)}, "optimizer, not 'OwnSGD'"),
    ({"schedule": OwnSchedule()}, "schedule, not 'OwnSchedule'"),
])
def test_no_checkpoint_is_written_that_could_never_be_resumed(tmp_path, settings, what):
    x = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    kwargs = {"loss": dp.CrossEntropy(), "optimizer": dp.SGD(lr=0.1), **settings}
    with pytest.raises(dp.ConfigError, match=f"could never be resumed: load_checkpoint rebuilds only deltaprop's own {what}"):
        dp.fit(dp.mlp([3, 4, 2], seed=0), x, y, epochs=2, batch_size=10, seed=0,
               callbacks=[dp.CheckpointWriter(tmp_path, interval=0)], **kwargs)
    assert not (tmp_path / "checkpoint.safetensors").exists()


def test_from_torch_refuses_a_module_without_weights_or_with_a_bias_of_another_dtype():
    torch = pytest.importorskip("torch")
    meta = torch.nn.Sequential(torch.nn.Linear(3, 2, device="meta"), torch.nn.Softmax(dim=1))
    with pytest.raises(dp.ExportError, match=r"module 0 \(Linear\) is on the meta device"):
        dp.from_torch(meta)
    mixed = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Softmax(dim=1))
    mixed[0].bias.data = mixed[0].bias.data.double()
    with pytest.raises(dp.ExportError, match=r"torch.float32 weights but a torch.float64 bias"):
        dp.from_torch(mixed)


def test_several_binary_cross_entropy_logits_are_scores_not_a_softmax(tmp_path):
    """Binary cross-entropy over several outputs trains independent sigmoids: their logits'
    softmax is no probability of theirs, so the file calls the outputs scores (and no
    reader shows a softmax as their probabilities); one logit stays a sigmoid's."""
    from deltaprop.serialization import class_probabilities

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    Y = (rng.random((64, 2)) < 0.5).astype(np.float32)
    net = dp.Network([dp.Dense(3, 2)], seed=0)
    loss = dp.BinaryCrossEntropy(from_logits=True)
    dp.fit(net, X, Y, loss=loss, optimizer=dp.SGD(0.1), epochs=2, diagnostics=False)
    model = read_model(dp.save(net, tmp_path / "two.safetensors", loss=loss))
    assert model.outputs == "labels"  # multi-hot rows: each logit its own label (z ≥ 0), still no softmax
    assert class_probabilities(model.net.forward(X[:4]), model.outputs) is None
    one = dp.Network([dp.Dense(3, 1)], seed=0)
    dp.fit(one, X, Y[:, 0], loss=loss, optimizer=dp.SGD(0.1), epochs=1, diagnostics=False)
    assert read_model(dp.save(one, tmp_path / "one.safetensors", loss=loss)).outputs == "logits"
