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
