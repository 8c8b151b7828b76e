"""GET /api/model gives a single-output classifier's decision threshold as class 1's
probability, so the page can say that a class decided away from 0.5 may have the smaller
probability listed, as ``deltaprop predict`` notes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.serve.model import ModelSource

UNIT = {"kind": "unit", "max": 255}


def _source(tmp_path, net, **kw):
    dp.save(net, tmp_path / "m.safetensors", input_scaling=UNIT, **kw)
    return ModelSource(tmp_path / "m.safetensors")


def test_a_sigmoid_outputs_threshold_is_its_probability_and_decides_the_class(tmp_path):
    net = dp.mlp([6, 5, 1], activation="tanh", output="sigmoid", seed=4)
    net.decision_threshold = 0.8
    src = _source(tmp_path, net)
    model = src.describe()
    assert model["threshold"] == model["threshold_probability"] == 0.8
    x = np.random.default_rng(1).uniform(0, 255, 6)
    out = src.forward(x)
    p1 = out["probabilities"][1]
    assert 0.5 < p1 < 0.8 and out["predicted"] == 0 == dp.load(tmp_path / "m.safetensors").predict(x[None])[0]


def test_a_logits_threshold_is_given_as_the_probability_it_stands_for(tmp_path):
    net = dp.mlp([6, 5, 1], activation="tanh", output="identity", seed=4)
    net.decision_threshold = 1.0
    src = _source(tmp_path, net, extra={"config": {"loss": "binary_cross_entropy"}})
    model = src.describe()
    assert model["outputs"] == "logits" and model["threshold"] == 1.0
    assert model["threshold_probability"] == pytest.approx(1 / (1 + math.exp(-1.0)), rel=1e-12)


@pytest.mark.parametrize(
    "sizes, output, loss, expected",
    [
        ([6, 5, 1], "sigmoid", None, 0.5),  # even odds: nothing to say
        ([6, 5, 3], "softmax", None, None),  # the largest probability is the class
        ([6, 5, 1], "identity", dp.MeanSquaredError(), None),  # a score: threshold alone, as before
        ([6, 5, 2], "identity", dp.MeanSquaredError(classification=False), None),  # a regressor
    ],
)
def test_other_models_have_no_threshold_probability_or_even_odds(tmp_path, sizes, output, loss, expected):
    src = _source(tmp_path, dp.mlp(sizes, activation="tanh", output=output, seed=4), loss=loss)
    assert src.describe()["threshold_probability"] == expected
