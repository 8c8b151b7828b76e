"""The zero-initialisation warning is given when zero weights are made, not when a network is
rebuilt whose weights are then set (loading a model, copying a network, putting a scaling
layer in front); the CLI gives it as one line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.preprocessing import Rescaling, with_input_layer


def _zero_net():
    with pytest.warns(UserWarning, match="initialised to zero"):
        return dp.mlp([4, 3, 2], init="zeros", seed=0)


def test_rebuilding_a_zero_initialised_network_does_not_warn(tmp_path):
    net = _zero_net()
    net.layers[0].W.value[...] = np.arange(12, dtype=np.float32).reshape(4, 3)  # trained: no longer zero
    dp.save(net, tmp_path / "m.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = dp.load(tmp_path / "m.safetensors")
        net.copy()
        dp.Network.from_config(net.config())
        scaled = with_input_layer(net, Rescaling(0.5))
    np.testing.assert_array_equal(loaded.layers[0].W.value, net.layers[0].W.value)
    np.testing.assert_array_equal(scaled.layers[1].W.value, net.layers[0].W.value)


def test_building_zero_weights_still_warns():
    _zero_net()
    with pytest.warns(UserWarning, match="initialised to zero"):
        dp.Network([dp.Dense(4, 3, init="zeros"), dp.Sigmoid(), dp.Dense(3, 2), dp.Softmax()], seed=0)


@pytest.mark.slow  # a CLI train and evaluate: about 2 s
def test_train_says_it_in_one_line_and_evaluate_not_at_all(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "parity", "--init", "zeros", "--epochs", "1", "--out", str(out), "-q"]) == 0
    err = capsys.readouterr().err.splitlines()
    said = [line for line in err if "initialised to zero" in line]
    assert len(said) == 1 and said[0].startswith("warning: Dense weights initialised to zero")
    assert not any(".py:" in line for line in err)
    assert main(["evaluate", str(out)]) == 0
    assert "initialised to zero" not in capsys.readouterr().err
