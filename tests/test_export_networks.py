"""Networks the export tests share (no tests here): every layer of the closed table, a
binary network, and a layer outside the table. They need neither onnx nor torch."""

from __future__ import annotations

import numpy as np

import deltaprop as dp

TOLERANCE = {"float32": 1e-6, "float64": 1e-12}


def every_layer_network(dtype: str, seed: int = 0, n_in: int = 12) -> dp.Network:
    """Every layer of the closed table, with non-zero biases so that b is exercised."""
    net = dp.Network([
        dp.Dense(n_in, 16), dp.Sigmoid(), dp.Dropout(0.3),
        dp.Dense(16, 16), dp.Tanh(),
        dp.Dense(16, 16), dp.ReLU(),
        dp.Dense(16, 16), dp.LeakyReLU(0.1),
        dp.Dense(16, 16), dp.Identity(),
        dp.Dense(16, 5), dp.Softmax(),
    ], seed=seed, dtype=dtype)
    perturb(net, seed)
    return net


def binary_network(dtype: str, seed: int = 0, n_in: int = 12) -> dp.Network:
    """One sigmoid output: the label is p ≥ 0.5, not an argmax."""
    net = dp.Network([dp.Dense(n_in, 8), dp.LeakyReLU(0.2), dp.Dense(8, 1), dp.Sigmoid()], seed=seed, dtype=dtype)
    perturb(net, seed)
    return net


def perturb(net: dp.Network, seed: int) -> None:
    rng = np.random.default_rng(seed + 100)
    for p in net.parameters():
        p.value = p.value + 0.1 * rng.standard_normal(p.value.shape)



class Doubling(dp.ReLU):
    """Calls itself ReLU but computes something else."""

    def forward(self, x, *, train=False):
        return 2 * x
