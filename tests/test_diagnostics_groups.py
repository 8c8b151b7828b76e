"""Identical units: a Dense layer whose units are copies of a few (zero initialisation, whose
copies float32 rounding splits into groups) holds the symmetry alert; a healthy layer does not."""

from __future__ import annotations

import numpy as np

import deltaprop as dp
from deltaprop.alerts import check
from deltaprop.diagnostics import diagnose, distinct_units, identical_units


def _grouped_layer(width: int, groups: int, fan_in: int = 30, seed: int = 0, layer=None) -> dp.Dense:
    """A Dense layer (``layer``, or a new one) whose ``width`` units are copies of ``groups`` distinct units, each copy
    off by float32 rounding (1e-8 of the largest weight)."""
    rng = np.random.default_rng(seed)
    layer = layer or dp.Network([dp.Dense(fan_in, width)], seed=seed).layers[0]
    base = rng.standard_normal((fan_in + 1, groups)).astype(np.float32)
    units = base[:, np.arange(width) % groups] * (1 + 1e-8 * rng.standard_normal((fan_in + 1, width)))
    layer.W.value[...] = units[:-1]
    layer.b.value[...] = units[-1]
    return layer


def test_copies_of_three_units_count_as_three_and_as_identical():
    layer = _grouped_layer(50, 3)
    assert distinct_units(layer) == 3
    assert identical_units(layer) is True  # the old check asked whether every unit equals the first


def test_a_healthy_layer_has_as_many_distinct_units_as_units():
    net = dp.mlp([30, 50, 10], seed=0)
    assert distinct_units(net.layers[0]) == 50
    assert identical_units(net.layers[0]) is False
    assert identical_units(_grouped_layer(50, 26)) is False  # more than half distinct: not flagged


def test_one_copy_pair_in_a_two_unit_layer_is_identical():
    assert identical_units(_grouped_layer(2, 1)) is True
    assert identical_units(_grouped_layer(3, 2)) is False


def test_the_symmetry_alert_holds_for_a_layer_of_a_few_groups():
    net = dp.mlp([30, 50, 10], seed=0)
    _grouped_layer(50, 3, layer=net.layers[0])
    rng = np.random.default_rng(1)
    diag = diagnose(net, rng.standard_normal((20, 30)), rng.integers(0, 10, 20), dp.CrossEntropy())
    record = {"epoch": 4, "loss": 1.0, "accuracy": 0.5, "diagnostics": diag.as_dict()}
    assert [(a.rule, a.layer) for a in check([record]) if a.rule == "zero_init_symmetry"] == [("zero_init_symmetry", 0)]
