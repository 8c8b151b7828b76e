"""Zero weights in a network's last Dense layer break no symmetry (each output unit has a target
of its own, so their gradients differ): building one does not warn, and such a network learns
(seed 000's softmax regression started from zero). Zero weights in a layer that feeds another
still warn: those units stay copies of one another."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli


def test_a_zero_initialised_last_layer_does_not_warn_and_its_units_become_different():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 4)).astype(np.float32), rng.integers(0, 3, 120)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = dp.Network([dp.Dense(4, 3, init="zeros"), dp.Softmax()], seed=0)
        hidden = dp.Network([dp.Dense(4, 5), dp.ReLU(), dp.Dense(5, 3, init="zeros"), dp.Softmax()], seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=3, seed=0, diagnostics=False)
    W = net.layers[0].W.value
    assert len({tuple(W[:, k]) for k in range(3)}) == 3  # three different units, not copies
    assert hidden.layers[2].W.value.any() == False  # noqa: E712 - built as asked


@pytest.mark.parametrize("layers", [[dp.Dense(4, 3, init="zeros"), dp.ReLU(), dp.Dense(3, 2), dp.Softmax()],
                                    [dp.Dense(4, 3, init="zeros"), dp.Tanh(), dp.Dense(3, 2, init="zeros"), dp.Softmax()]])
def test_zero_weights_that_feed_another_dense_layer_warn_once(layers):
    with pytest.warns(UserWarning, match="initialised to zero") as caught:
        dp.Network(layers, seed=0)
    assert sum("initialised to zero" in str(w.message) for w in caught) == 1


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_train_of_a_network_without_hidden_layers_from_zeros_says_nothing_of_symmetry(tmp_path):
    done = run_cli("train", "--dataset", "parity", "--layers", "10,2", "--init", "zeros", "--epochs", "2",
                   "--out", tmp_path / "run", "-q")
    assert done.returncode == 0, done.stderr
    assert "initialised to zero" not in done.stderr and "symmetry" not in done.stderr
    done = run_cli("train", "--dataset", "parity", "--layers", "10,4,2", "--init", "zeros", "--epochs", "2",
                   "--out", tmp_path / "hidden", "-q")
    assert done.returncode == 0 and "initialised to zero" in done.stderr
