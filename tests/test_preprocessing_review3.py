"""Standardising a constant float column: its σ must be 1, not the rounding residue of its mean."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data import Standardizer
from deltaprop.preprocessing import Standardization, standardization_for


def _table(n=1000, value=0.1, dtype=np.float64):
    rng = np.random.default_rng(0)
    return np.c_[rng.normal(size=n), np.full(n, value)].astype(dtype)


@pytest.mark.parametrize("value", [0.1, 0.3, 7.7, 1e5 + 0.1])
def test_constant_float_column_gets_unit_deviation_per_feature(value):
    x = _table(value=value)
    s = Standardizer("per_feature").fit(x)
    assert s.std[1] == 1.0
    assert s.mean[1] == value
    out = s.transform(np.array([[0.0, value], [0.0, value + 0.1]]), np.float64)
    np.testing.assert_allclose(out[:, 1], [0.0, 0.1], atol=1e-6)


def test_constant_float_columns_get_unit_global_deviation():
    x = np.c_[np.full(1000, 0.1), np.full(1000, 0.3)]
    s = Standardizer("global").fit(x)
    assert float(s.std) == 1.0
    assert np.abs(s.transform(x, np.float64)).max() == 0.0


def test_constant_column_does_not_blow_up_a_new_value_in_a_network():
    x = _table()
    for per_feature in (True, None):
        first = standardization_for(x, per_feature=per_feature)
        assert isinstance(first, Standardization)
        net = dp.Network([first, dp.Dense(2, 2), dp.Softmax()], dtype="float64", seed=0)
        shifted = x[:5].copy()
        shifted[:, 1] = 0.2  # the constant feature at another value, as in new data
        scaled = net.layers[0].forward(shifted)
        assert np.isfinite(scaled).all() and np.abs(scaled[:, 1]).max() < 1.0
        assert np.abs(net.predict(shifted) - net.predict(x[:5])).max() < 0.5


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_evaluate_refuses_a_file_of_pixels_already_divided_by_255(tmp_path):
    """A model whose Rescaling layer divides raw levels by 255, scored on a file of levels
    already divided: every input would be divided again, the accuracy chance, not a word."""
    from cli_in_process import run_cli

    from deltaprop.data import load

    d = load("mnist-sample")
    x, y = d.x_train[:300].reshape(300, -1), d.y_train[:300]
    np.savez(tmp_path / "levels.npz", x=x, y=y)  # uint8 levels: auto scaling divides by 255
    r = run_cli("train", "--dataset", tmp_path / "levels.npz", "--epochs", "1", "--out", tmp_path / "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    np.savez(tmp_path / "raw.npz", x=x[:100], y=y[:100])
    np.savez(tmp_path / "scaled.npz", x=x[:100] / 255.0, y=y[:100])
    ok = run_cli("evaluate", tmp_path / "run", "--dataset", tmp_path / "raw.npz")
    assert ok.returncode == 0 and "accuracy" in ok.stdout, ok.stderr
    bad = run_cli("evaluate", tmp_path / "run", "--dataset", tmp_path / "scaled.npz")
    assert bad.returncode != 0 and "accuracy" not in bad.stdout
    assert "divides its raw inputs by 255" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "np.rint(x * 255)" in bad.stderr


@pytest.mark.parametrize("mode", Standardizer.MODES)
def test_standardizer_transform_centres_float64_inputs_before_casting_to_float32(mode):
    """Timestamps 1e9 + 0..50 s: cast to float32 first, they kept multiples of 64 and came out
    as two distinct values, up to 4 σ off."""
    rng = np.random.default_rng(0)
    x = 1e9 + rng.uniform(0, 50, size=(1000, 2))
    s = Standardizer(mode).fit(x)
    out = s.transform(x, np.float32)
    exact = (x - s.mean) / s.std
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, exact, atol=1e-5)
    assert len(np.unique(out[:, 0])) == 1000


def test_standardizer_transform_of_uint8_pixels_is_unchanged():
    x = np.random.default_rng(0).integers(0, 256, size=(50, 8), dtype=np.uint8)
    s = Standardizer("per_feature").fit(x)
    expected = x.astype(np.float32)
    expected -= s.mean.astype(np.float32)
    expected *= (1.0 / s.std).astype(np.float32)
    np.testing.assert_array_equal(s.transform(x), expected)


@pytest.mark.parametrize("scale", [[0.5, 2.0], np.array([1 / 255, 1.0]), "0.5", True])
def test_rescaling_refuses_anything_but_one_number(scale):
    """A list of scales was cut to its first, silently."""
    with pytest.raises(dp.ConfigError, match="one number"):
        dp.Rescaling(scale)


def test_rescaling_takes_a_numpy_float32_scale():
    assert dp.Rescaling(np.float32(0.5)).scale == 0.5
