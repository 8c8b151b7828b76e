"""export_file: options that one format has and the other lacks are refused, not ignored."""

import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError
from deltaprop.export import export_file

pytest.importorskip("safetensors")


@pytest.mark.parametrize("input_type", ["uint8", "float64"])
def test_torch_export_refuses_an_input_type_it_would_ignore(tmp_path, input_type):
    """export_file(model, "torch", input_type="uint8") wrote a float32 module and said
    nothing: the caller believed it took raw uint8 pixels, as the ONNX graph does."""
    model = dp.save(dp.mlp([4, 3, 2], seed=0), tmp_path / "model.safetensors")
    out = tmp_path / "model.pt.safetensors"
    with pytest.raises(ConfigError, match="input_type.*ONNX.*leave input_type out"):
        export_file(model, "torch", out, input_type=input_type)
    assert not out.exists()
    path, line = export_file(model, "torch", out)  # without it, as before
    assert path == out and out.exists() and "PyTorch" in line


def test_a_network_fitted_on_values_exports_values_without_a_label(tmp_path):
    """export_onnx(net) of a network fitted with MeanSquaredError(classification=False) wrote
    a graph of 'scores' and a 'label' (a ≥ 0.5): class ids made of a regressor's values."""
    onnx = pytest.importorskip("onnx")
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    net = dp.mlp([3, 4, 1], output="identity", seed=0)
    dp.fit(net, X, X.sum(axis=1) + 3, loss=dp.MeanSquaredError(classification=False), optimizer=dp.SGD(lr=0.01),
           epochs=2, seed=0)
    graph = onnx.load(dp.export_onnx(net, tmp_path / "reg.onnx", check=False))
    assert [o.name for o in graph.graph.output] == ["values"]
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["outputs"] == "values" and meta["decision_threshold"] == "null"
