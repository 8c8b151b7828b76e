"""A network with a single logit output, trained as a user would, on which the decision
rule matters: shared by the tests of saving, loading and exporting such models."""

from __future__ import annotations

import numpy as np

import deltaprop as dp


def trained_logit() -> tuple[dp.Network, np.ndarray]:
    """A single logit trained by ``fit`` with BinaryCrossEntropy(from_logits=True) (so
    ``net.decision_threshold`` is 0), and inputs on which many ``z`` fall in [0, ½), where
    ``z ≥ 0`` and a probability's ``≥ ½`` disagree."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.standard_normal(400) > 0).astype(np.int64)
    net = dp.mlp([3, 8, 1], output="identity", seed=0)
    dp.fit(net, x, y, loss=dp.BinaryCrossEntropy(from_logits=True), optimizer=dp.SGD(lr=0.1), epochs=3,
           batch_size=20, seed=0)
    z = net.predict_proba(x)[:, 0]
    assert net.decision_threshold == 0.0 and np.sum((z >= 0) & (z < 0.5)) > 20
    return net, x
