"""Scaling, standardising, one-hot labels and the stratified split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deltaprop.data.transforms import (
    Standardizer,
    from_one_hot,
    one_hot,
    scale_to_unit,
    train_validation_split,
)
from deltaprop.errors import ConfigError, DataError, Error, NotFittedError, ShapeError


def test_scale_uint8():
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    out = scale_to_unit(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], rtol=1e-6)
    assert scale_to_unit(x, np.float64).dtype == np.float64


def test_scale_float_passes_through_and_checks_range():
    x = np.array([0.0, 1.0, 0.5], dtype=np.float32)
    np.testing.assert_array_equal(scale_to_unit(x), x)
    with pytest.raises(DataError, match="outside"):
        scale_to_unit(np.array([0.0, 255.0]))
    with pytest.raises(DataError):
        scale_to_unit(np.array([np.nan]))
    with pytest.raises(DataError):
        scale_to_unit(np.array([-1, 2]))
    with pytest.raises(ConfigError):
        scale_to_unit(x, np.int32)


def test_standardizer_global_matches_seed_000():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(500, 6)) * np.arange(1, 7)
    s = Standardizer("global").fit(x)
    centred = x - x.mean(axis=0)
    expected = centred / centred.std()
    np.testing.assert_allclose(s.transform(x, np.float64), expected, rtol=1e-12)
    assert s.std.shape == ()


def test_standardizer_per_feature():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(400, 5)).astype(np.float32)
    z = Standardizer("per_feature").fit_transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, rtol=1e-4)


@pytest.mark.parametrize("mode", Standardizer.MODES)
def test_standardizer_constant_features_no_division_by_zero(mode):
    x = np.zeros((10, 2, 2), dtype=np.uint8)
    x[:, 0, 0] = np.arange(10)
    with np.errstate(all="raise"):
        z = Standardizer(mode).fit_transform(x)
    assert np.isfinite(z).all() and (z[:, 1, 1] == 0).all()
    const = np.full((5, 3), 7.0)
    assert (Standardizer(mode).fit_transform(const) == 0).all()


@pytest.mark.parametrize("mode", Standardizer.MODES)
def test_standardizer_json_round_trip(mode):
    x = np.random.default_rng(2).integers(0, 256, (50, 4, 3)).astype(np.uint8)
    s = Standardizer(mode).fit(x)
    state = json.loads(json.dumps(s.to_dict()))
    t = Standardizer.from_dict(state)
    np.testing.assert_array_equal(s.transform(x), t.transform(x))


def test_standardizer_errors():
    with pytest.raises(ConfigError):
        Standardizer("minmax")
    with pytest.raises(NotFittedError):
        Standardizer().transform(np.zeros((2, 2)))
    s = Standardizer().fit(np.ones((3, 2)))
    with pytest.raises(ShapeError):
        s.transform(np.ones((3, 4)))
    with pytest.raises(DataError):
        Standardizer().fit(np.array([[np.nan, 1.0]]))
    with pytest.raises(ShapeError):
        Standardizer().fit(np.zeros((0, 3)))
    bad = s.to_dict() | {"std": [0.0]}
    with pytest.raises(ConfigError):
        Standardizer.from_dict(bad)
    with pytest.raises(ConfigError):
        Standardizer.from_dict({"mode": "global"})
    with pytest.raises(ConfigError):
        Standardizer.from_dict(s.to_dict() | {"mean": [1.0]})


def test_one_hot_round_trip():
    y = np.array([0, 2, 1, 2])
    oh = one_hot(y, 3)
    assert oh.dtype == np.float32 and oh.shape == (4, 3)
    np.testing.assert_array_equal(oh.sum(axis=1), 1)
    np.testing.assert_array_equal(from_one_hot(oh), y)
    assert from_one_hot(oh).dtype == np.int64
    assert one_hot(y).shape == (4, 3)
    assert one_hot(y, 5, dtype=np.float64).dtype == np.float64


def test_one_hot_errors():
    with pytest.raises(DataError):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(DataError):
        one_hot(np.array([-1]), 3)
    with pytest.raises(DataError):
        one_hot(np.array([0.5]), 3)
    with pytest.raises(ShapeError):
        one_hot(np.zeros((2, 2), int), 3)
    with pytest.raises(ShapeError):
        from_one_hot(np.zeros(3))


def test_split_is_stratified_disjoint_and_seeded():
    y = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 140])
    x = np.arange(len(y))[:, None] * np.ones((1, 3))
    xt, yt, xv, yv = train_validation_split(x, y, 0.2, seed=3)
    counts = np.bincount(y)
    np.testing.assert_array_equal(np.bincount(yv), np.floor(0.2 * counts + 0.5))
    np.testing.assert_array_equal(np.bincount(yt) + np.bincount(yv), counts)
    rows = np.concatenate([xt[:, 0], xv[:, 0]])
    assert sorted(rows.tolist()) == list(range(len(y)))
    np.testing.assert_array_equal(y[xt[:, 0].astype(int)], yt)
    again = train_validation_split(x, y, 0.2, seed=3)
    np.testing.assert_array_equal(again[2], xv)
    other = train_validation_split(x, y, 0.2, seed=4)
    assert not np.array_equal(other[2], xv)


def test_split_keeping_order_holds_out_the_same_rows_in_their_stored_order():
    y = np.tile(np.arange(5), 40)
    x = np.arange(len(y))[:, None] * np.ones((1, 2))
    xt, yt, xv, yv = train_validation_split(x, y, 0.1, seed=7)
    kt, kyt, kv, kyv = train_validation_split(x, y, 0.1, seed=7, keep_order=True)
    for shuffled, kept in ((xt, kt), (xv, kv)):
        assert kept[:, 0].tolist() == sorted(shuffled[:, 0].tolist())
    np.testing.assert_array_equal(y[kt[:, 0].astype(int)], kyt)
    np.testing.assert_array_equal(y[kv[:, 0].astype(int)], kyv)
    assert xt[:, 0].tolist() != kt[:, 0].tolist()  # without it the part comes back shuffled


def test_split_accepts_one_hot_and_checks():
    y = np.tile(np.arange(4), 25)
    xt, yt, xv, yv = train_validation_split(np.zeros((100, 2)), one_hot(y, 4), 0.25, seed=0)
    assert yv.shape == (24, 4) and (yv.sum(axis=0) == 6).all()
    with pytest.raises(ConfigError):
        train_validation_split(np.zeros((4, 1)), np.zeros(4, int), 1.0)
    with pytest.raises(ShapeError):
        train_validation_split(np.zeros((4, 1)), np.zeros(5, int), 0.5)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=200), st.floats(0.05, 0.95),
       st.integers(0, 2**32 - 1))
def test_split_property(labels, fraction, seed):
    y = np.array(labels)
    x = np.arange(len(y))[:, None]
    xt, yt, xv, yv = train_validation_split(x, y, fraction, seed)
    assert len(xt) + len(xv) == len(y)
    assert sorted(np.concatenate([xt, xv])[:, 0].tolist()) == list(range(len(y)))
    for c in np.unique(y):
        n = int((y == c).sum())
        assert int((yv == c).sum()) == min(int(np.floor(fraction * n + 0.5)), n - 1)  # one row stays for training


def test_errors_are_project_errors():
    for exc in (ConfigError, DataError, ShapeError, NotFittedError):
        assert issubclass(exc, Error)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint16, np.int16])
def test_8_bit_levels_in_any_integer_type_scale_by_255(dtype):
    # int64 pixels (from Python ints, np.loadtxt(dtype=int), pandas) were divided by 2^63 - 1: test accuracy 0.100
    x = np.array([[0, 128, 255]], dtype=dtype)
    np.testing.assert_allclose(scale_to_unit(x), [[0.0, 128 / 255, 1.0]], rtol=1e-6)


def test_16_bit_levels_scale_by_65535_and_wider_integers_are_refused():
    np.testing.assert_allclose(scale_to_unit(np.array([0, 4000, 65535], np.uint16)), [0, 4000 / 65535, 1], rtol=1e-6)
    np.testing.assert_allclose(scale_to_unit(np.array([0, 4000], np.int64)), [0, 4000 / 65535], rtol=1e-6)
    with pytest.raises(DataError, match="reach 70000"):
        scale_to_unit(np.array([0, 70000]))


def test_a_column_of_class_ids_is_split_by_its_classes():
    # y = df[["label"]] went through from_one_hot's argmax of one column: every row class 0, no stratification
    y = np.array([0] * 18 + [1] * 2)
    x = np.arange(20, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(from_one_hot(y[:, None]), y)
    for seed in range(10):
        _, y_train, _, y_val = train_validation_split(x, y[:, None], fraction=0.5, seed=seed)
        assert np.count_nonzero(y_val == 1) == 1 and np.count_nonzero(y_train == 1) == 1
