"""Review of round 35's changes: the cases they missed."""

import importlib.util

import numpy as np
import pytest

from deltaprop.data import Standardizer
from deltaprop.errors import DataError


@pytest.mark.parametrize("mode", ["global", "per_feature"])
def test_the_overflow_refusal_names_the_feature_that_overflowed_not_a_large_constant_one(mode):
    """A constant column of 1e300 standardises fine (it maps to 0); the refusal named it
    ('feature 1 ... up to 1e+300') instead of the varying column whose squares overflowed."""
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[:, 0] = 1e300
    x[7, 2] = 1e200
    with pytest.raises(DataError, match=r"feature 3 of 3 holds values up to 1e\+200, too large to standardise"):
        Standardizer(mode).fit(x)


def _long_checkpoint(folder, monkeypatch):
    """A checkpoint whose history is in the tensor training.history (a few epochs stand for 40,000)."""
    import deltaprop as dp
    from deltaprop import serialization

    monkeypatch.setattr(serialization, "HISTORY_INLINE_BYTES", 2_000)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 3))
    net = dp.Network([dp.Dense(3, 2), dp.Softmax()], seed=0, dtype="float64")
    dp.fit(net, X, (X[:, 0] > 0).astype(int), loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=6,
           batch_size=16, seed=0, callbacks=[dp.CheckpointWriter(folder, interval=0.0)])
    return folder / "checkpoint.safetensors"


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
@pytest.mark.parametrize("entry", [[1, 2], "U8", 3, {"dtype": "U8", "shape": [True], "data_offsets": [0, 1]}])
def test_a_history_tensor_entry_that_is_no_tensor_entry_is_a_model_file_error(tmp_path, monkeypatch, entry):
    """A header whose training.history entry was not a mapping ended load_checkpoint (and
    deltaprop info) in an AttributeError traceback."""
    import json
    import struct

    from deltaprop.errors import ModelFileError
    from deltaprop.serialization import HISTORY_TENSOR, load_checkpoint

    path = _long_checkpoint(tmp_path, monkeypatch)
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    assert HISTORY_TENSOR in header
    header[HISTORY_TENSOR] = entry
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    with pytest.raises(ModelFileError, match=f"tensor {HISTORY_TENSOR} must be 1 to"):
        load_checkpoint(path)


def test_a_model_fitted_on_values_and_saved_with_its_loss_predicts_values_when_loaded(tmp_path):
    """fit with MeanSquaredError() on real-valued targets makes predict return values; saved
    with loss=MeanSquaredError() (the loss it was trained with), the file said classes and
    the loaded model's predict gave class ids 0/1 instead of the values."""
    import deltaprop as dp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    net = dp.Network([dp.Dense(3, 4), dp.Tanh(), dp.Dense(4, 1)], seed=0, dtype="float64")
    dp.fit(net, X, X @ np.array([[1.0], [2.0], [-1.0]]), loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.01),
           epochs=2, batch_size=16, seed=0, diagnostics=False)
    assert net.gives_values
    dp.save(net, tmp_path / "m.safetensors", loss=dp.MeanSquaredError())
    loaded = dp.load(tmp_path / "m.safetensors")
    assert loaded.gives_values and np.array_equal(loaded.predict(X), net.predict(X))
    from deltaprop.serialization import read_model

    assert read_model(tmp_path / "m.safetensors").outputs == "values"


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
                    reason="onnx and onnxruntime are not installed")
def test_a_network_fitted_on_values_exported_with_its_loss_outputs_values_and_no_label(tmp_path):
    """export_onnx(net, path, loss=MeanSquaredError()) of a network fit on real values wrote a
    graph whose outputs were scores with a 0/1 label, where predict gives the values."""
    import onnx

    import deltaprop as dp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    net = dp.Network([dp.Dense(3, 4), dp.Tanh(), dp.Dense(4, 1)], seed=0, dtype="float64")
    dp.fit(net, X, X @ np.array([[1.0], [2.0], [-1.0]]), loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.01),
           epochs=2, batch_size=16, seed=0, diagnostics=False)
    dp.export_onnx(net, tmp_path / "m.onnx", loss=dp.MeanSquaredError())
    graph = onnx.load(str(tmp_path / "m.onnx"))
    assert [o.name for o in graph.graph.output] == ["values"]
    assert {p.key: p.value for p in graph.metadata_props}["outputs"] == "values"
