"""Which σ ``--scaling standardize`` gives: images are told from tables by their values
(whole-number levels 0..255, or values in [−1, 1]) and a shared range, not by a square
width alone; a σ per feature can be asked for."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from deltaprop.data import load
from deltaprop.preprocessing import standardization_for


def _age_and_fractions(n: int = 300, seed: int = 0) -> np.ndarray:
    """An age in years (18..90) beside 63 survey fractions of spread 0.01: 64 columns."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(18, 90, n).round(2), rng.normal(0.5, 0.01, (n, 63))])


def test_a_64_column_table_of_values_in_their_own_units_gets_a_deviation_per_column():
    x = _age_and_fractions()
    std = standardization_for(x).std
    assert std.size == 64  # one σ of 2.48 for all scaled the fractions to nothing (accuracy at chance)
    np.testing.assert_allclose(std, x.std(axis=0), rtol=1e-6)


def test_whole_numbers_on_their_own_scales_are_a_table_too():
    rng = np.random.default_rng(1)
    ages_and_answers = np.column_stack([rng.integers(18, 91, 200), rng.integers(0, 2, (200, 63))])  # 64 columns
    assert standardization_for(ages_and_answers.astype(np.uint8)).std.size == 64


def test_fractions_within_0_1_on_their_own_scales_are_a_table():
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.uniform(0, 1, 200), rng.normal(0.5, 0.01, (200, 99))])  # 100 columns in [0, 1]
    assert standardization_for(x).std.size == 100


def _sklearn_digits() -> np.ndarray:
    """scikit-learn's 8x8 digits (levels 0..16, blank border columns), read from its data
    file without importing scikit-learn (seconds on a busy machine)."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz") if spec else None
    if path is None or not path.is_file():
        pytest.skip("scikit-learn (its digits data file) is not installed")
    return np.loadtxt(path, delimiter=",")[:, :64]


def test_a_few_real_digits_get_one_deviation_for_all_pixels():
    digits = _sklearn_digits()
    mnist = load("mnist-sample", flatten=True).x_train
    for images in (digits[:10], digits, mnist[:10], mnist[:10] / 255.0, (mnist[:10] - 127.5) / 127.5):
        assert standardization_for(images).std.size == 1


def test_a_deviation_per_feature_or_one_for_all_can_be_asked_for():
    images = load("mnist-sample", flatten=True).x_train[:50]
    assert standardization_for(images, per_feature=True).std.size == 784
    assert standardization_for(_age_and_fractions(), per_feature=False).std.size == 1
