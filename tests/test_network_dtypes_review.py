"""Network and layer API edges that gave silently wrong answers: a softmax over one unit
(a constant 1, one class for every input), layers used on their own computing in a dtype
other than their input's, and ``predict`` given a threshold it does not use."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError, ModelFileError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 3))


# -- a softmax over a single unit is 1.0 whatever its input ------------------------------------
@pytest.mark.parametrize("make", [
    lambda: [dp.Dense(3, 1), dp.Softmax()],
    lambda: [dp.Dense(3, 4), dp.ReLU(), dp.Dense(4, 1), dp.Dropout(0.2), dp.Softmax()],
    lambda: [dp.Dense(3, 1), dp.Softmax(), dp.Dense(1, 2), dp.Softmax()],
    lambda: [dp.Dense(3, 1), dp.Sigmoid(), dp.Softmax()],
], ids=["output", "after dropout", "hidden", "sigmoid+softmax"])
def test_a_softmax_over_one_unit_is_refused_when_built_naming_the_layer_and_the_fix(make):
    layers = make()
    index = next(i for i, layer in enumerate(layers) if isinstance(layer, dp.Softmax))
    with pytest.raises(ConfigError, match=rf"layer {index} \(Softmax\).* 1 unit") as refused:
        dp.Network(layers, seed=0)
    assert "Sigmoid" in str(refused.value) and "Dense" in str(refused.value)


def test_a_softmax_over_a_single_input_feature_is_refused():
    with pytest.raises(ConfigError, match=r"layer 0 \(Softmax\)"):
        dp.Network([dp.Softmax(), dp.Dense(1, 2), dp.Softmax()], seed=0)


def test_mlp_with_one_softmax_output_is_refused_and_one_sigmoid_output_is_not():
    with pytest.raises(ConfigError, match="Sigmoid"):
        dp.mlp([3, 4, 1], seed=0)
    with pytest.raises(ConfigError, match="Sigmoid"):
        dp.mlp([3, 1], output="sigmoid+softmax", seed=0)
    net = dp.mlp([3, 4, 1], output="sigmoid", seed=0)
    assert net.predict_proba(X).shape == (6, 1)


def test_a_standalone_softmax_built_over_one_unit_is_refused():
    with pytest.raises(ConfigError, match="1 unit"):
        dp.Softmax().build(1, np.float32, np.random.default_rng(0))


def test_a_model_file_with_a_softmax_over_one_unit_is_refused_on_load(tmp_path):
    # a file an earlier version wrote: it saved such a network, which predicted class 0 for every row
    from model_file_edits import edit_metadata

    net = dp.Network([dp.Dense(3, 1), dp.Identity()], seed=0)
    path = dp.save(net, tmp_path / "m.safetensors")
    def to_softmax(meta):
        meta["architecture"] = meta["architecture"].replace('"Identity"', '"Softmax"')

    edited = edit_metadata(path, tmp_path / "edited.safetensors", to_softmax)
    with pytest.raises(ModelFileError, match=r"Softmax.*1 unit"):
        dp.load(edited)
