"""What an export says its outputs are: the class names it carries are checked as a model
file's are."""

from __future__ import annotations

import importlib.util

import pytest

import deltaprop as dp

needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnx") is None,
                                reason="onnx is not installed (pip install 'deltaprop[onnx]'; the dev group has it)")


@pytest.mark.parametrize("write", [pytest.param(dp.export_onnx, marks=needs_onnx), dp.export_torch],
                         ids=["onnx", "torch"])
@pytest.mark.parametrize("names, problem", [(["a"], "1 names for 3 outputs"), (["a", "a", "b"], "names repeat")])
def test_exports_check_class_names_as_save_does(tmp_path, write, names, problem):
    net = dp.mlp([4, 5, 3], seed=0)
    with pytest.raises(dp.ConfigError, match=f"class_names: {problem}"):
        dp.save(net, tmp_path / "m.safetensors", class_names=names)
    with pytest.raises(dp.ConfigError, match=f"class_names: {problem}"):
        write(net, tmp_path / "out", class_names=names)
    assert not (tmp_path / "out").exists()
