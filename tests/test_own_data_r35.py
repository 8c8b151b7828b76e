"""Users' own files read and scaled as they are meant, or a line saying what was assumed:
``unit`` scaling of small integer levels, near-constant float columns under standardising,
labels -1/1, and a header of numbers above a small file."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop.data.arrays import read_table
from deltaprop.data.transforms import Standardizer
from deltaprop.preprocessing import Standardization, unit_scaling


def _csv(path, x, y, header=None, fmt="{:.17g}"):
    lines = [header] if header else []
    lines += [",".join(fmt.format(v) for v in row) + f",{int(label)}" for row, label in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- --scaling unit on levels far below 255 ----------------------------------------------------
def _digit_levels(n=40, seed=0):
    """8x8 images on 0..16, as scikit-learn's digits."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 17, size=(n, 64)), np.arange(n) % 2


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_unit_scaling_of_0_to_16_levels_is_said_by_train(tmp_path):
    x, y = _digit_levels()
    data = _csv(tmp_path / "digits.csv", x, y, header=",".join(f"p{i}" for i in range(64)) + ",label", fmt="{:d}")
    res = run_cli("train", "--dataset", data, "--scaling", "unit", "--epochs", "1", "--out", tmp_path / "r", "-q")
    assert res.returncode == 0, res.stderr
    assert ("warning: scaling 'unit' divides by 255, the full scale of 8-bit pixels, but these inputs reach only 16, "
            "so they come out in [0, 0.0627], not [0, 1]; use scaling auto or standardize") in res.stderr


@pytest.mark.parametrize("top, scale", [(1, 255), (16, 255), (4000, 65535)])
def test_unit_scaling_warns_for_inputs_far_below_its_full_scale(top, scale):
    x = np.arange(top + 1, dtype=np.int64).reshape(-1, 1)
    with pytest.warns(UserWarning, match=f"divides by {scale}.* reach only {top}, so they come out in"):
        assert unit_scaling(x).scale == pytest.approx(1 / scale)


@pytest.mark.parametrize("top", [200, 255, 30000])
def test_unit_scaling_of_levels_near_their_full_scale_says_nothing(top):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unit_scaling(np.arange(0, top + 1, dtype=np.int64).reshape(-1, 1))


# -- a float column constant but for 1e-9 ----------------------------------------------------
def _near_constant(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = np.c_[rng.normal(size=n), 1.0 + rng.integers(-1, 2, n) * 1e-9]
    return x, (x[:, 0] > 0).astype(np.int64)


def test_a_near_constant_column_is_not_blown_up_by_standardising():
    x, _ = _near_constant()
    with pytest.warns(UserWarning, match=r"feature 2 of 2 varies only from 0.999999999 to 1.000000001, a spread of "
                                         r"2e-09, under 1e-08 of its size: standardising takes it as constant"):
        layer = Standardization.fit(x, per_feature=True)
    assert layer.std[1] == 1.0 and layer.std[0] == pytest.approx(x[:, 0].std())
    new = dp.Network([layer, dp.Dense(2, 1)], dtype="float64").layers[0].forward(np.array([[0.0, 1.0 + 1e-6]]))
    assert abs(new[0, 1]) < 1e-5  # was ~1.2e3: a difference of 1e-6 times 1/σ ≈ 1.2e9


def test_a_float32_column_within_rounding_of_1_is_constant_and_a_timestamp_offset_is_not():
    x = np.c_[np.float32(1.0) + np.array([-2, -1, 0, 1, 2] * 10, np.float32) * np.finfo(np.float32).eps,
              np.random.default_rng(1).normal(size=50)].astype(np.float32)
    with pytest.warns(UserWarning, match=r"feature 1 of 2 varies only .* under 4.8e-07 of its size"):
        layer = Standardization.fit(x, per_feature=True)
    assert layer.std[0] == 1.0  # was 1.7e-7: a new value 1e-5 off came out at 60
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 1e-6 of its size in float64: a feature
        assert Standardization.fit(np.c_[1.0 + np.arange(50) * 2e-8], per_feature=True).std[0] < 1e-6


def test_features_all_near_constant_get_one_sigma_of_1():
    x = 1.0 + np.random.default_rng(1).integers(-1, 2, (50, 3)) * 1e-9
    with pytest.warns(UserWarning, match="standardising takes it as constant"):
        fitted = Standardizer("global").fit(x)
    assert float(fitted.std) == 1.0


def test_a_global_sigma_says_nothing_of_one_near_constant_column_among_others():
    x, _ = _near_constant()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted = Standardizer("global").fit(x)
    assert float(fitted.std) == pytest.approx(np.sqrt(((x - x.mean(axis=0)) ** 2).mean()))


def test_timestamps_in_seconds_are_still_standardised_per_feature():
    x = np.c_[1e9 + np.random.default_rng(2).uniform(0, 50, 100)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = Standardization.fit(x, per_feature=True)
    assert layer.std[0] == pytest.approx(x[:, 0].std())


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_train_on_a_near_constant_column_in_float64_says_so_and_keeps_it_at_0(tmp_path):
    x, y = _near_constant()
    data = _csv(tmp_path / "near.csv", x, y, header="a,c,label")
    res = run_cli("train", "--dataset", data, "--dtype", "float64", "--epochs", "1", "--out", tmp_path / "r", "-q")
    assert res.returncode == 0, res.stderr
    assert "warning: feature 2 of 2 varies only from 0.999999999 to 1.000000001" in res.stderr
    assert dp.load(tmp_path / "r" / "model.safetensors").layers[0].std[1] == 1.0


# -- labels -1 and 1 ---------------------------------------------------------------------------
def _plus_minus(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 2))
    return _csv(tmp_path / "pm.csv", x, np.where(x[:, 0] > 0, 1, -1), header="a,b,label", fmt="{:.5f}")


def test_labels_minus_1_and_1_are_refused_with_the_renumbering(tmp_path):
    res = run_cli("train", "--dataset", _plus_minus(tmp_path), "--out", tmp_path / "r")
    assert res.returncode != 0 and res.stderr.count("\n") == 1
    assert ("the labels (column 'label' (3 of 3, by its name)) hold -1, a negative number (values -1, 1); class ids "
            "count 0, 1, 2, ... (whole numbers >= 0): renumber the classes in the file (-1/1 as 0/1; in Python: ids = "
            "np.unique(labels, return_inverse=True)[1])") in res.stderr


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_evaluate_on_labels_minus_1_and_1_says_how_to_renumber(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 2))
    train = _csv(tmp_path / "zo.csv", x, (x[:, 0] > 0).astype(int), header="a,b,label", fmt="{:.5f}")
    assert run_cli("train", "--dataset", train, "--out", tmp_path / "r", "--epochs", "1", "-q").returncode == 0
    res = run_cli("evaluate", tmp_path / "r", "--dataset", _plus_minus(tmp_path))
    assert res.returncode != 0 and res.stderr.count("\n") == 1
    assert "hold -1, a negative number" in res.stderr and "renumber the classes" in res.stderr


def test_metrics_say_how_to_map_negative_labels():
    with pytest.raises(dp.DataError, match=r"negative class id \(-1\); class ids count 0, 1, 2...: map the labels"):
        dp.accuracy([-1, 1, 1], [0, 1, 1])


# -- a header of numbers above a small file ----------------------------------------------------
@pytest.mark.parametrize("labels", [[0, 1, 5, 1, 5], [0, 1, 2, 3, 6, 4]])  # 5 a class the others have, or within
def test_a_header_1_to_n_above_a_small_file_read_as_a_row_gets_a_note(tmp_path, labels):
    rng = np.random.default_rng(5)
    x = np.round(rng.uniform(0.1, 0.9, size=(len(labels), 4)), 2)
    path = _csv(tmp_path / "small.csv", x, labels, header="1,2,3,4,5", fmt="{:g}")
    table = read_table(path)
    assert len(table.y) == len(labels) + 1 and table.y[0] == 5  # read as a row, as before: said so now
    assert len(table.notes) == 1
    assert (f"{path}: line 1, '1,2,3,4,5', holds increasing whole numbers, some far outside the ranges of their "
            "columns in the rows below, and was read as the first row of data, not as a header: is line 1 a header of "
            "numbers? Give the columns names that are words (x1,x2,...,label) or delete the line") in table.notes[0]


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_train_says_a_header_1_to_n_above_a_small_file_was_read_as_a_row(tmp_path):
    x = np.round(np.random.default_rng(6).uniform(0.1, 0.9, size=(6, 2)), 2)
    path = _csv(tmp_path / "small.csv", x, [0, 1, 3, 0, 1, 3], header="1,2,3", fmt="{:g}")
    res = run_cli("train", "--dataset", path, "--epochs", "1", "--out", tmp_path / "r", "-q")
    assert res.returncode == 0, res.stderr
    assert f"note: {path}: line 1, '1,2,3', holds increasing whole numbers" in res.stderr


def test_a_small_file_whose_first_row_could_be_data_gets_no_header_note(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("1,2,3,1\n2,3,4,0\n1.5,2.5,3.5,1\n1.2,2.2,3.1,0\n")
    assert read_table(path).notes == ()


def test_a_float16_column_varying_by_a_few_tenths_of_a_percent_stays_a_feature():
    x = np.array([[1000.0], [1000.5], [1002.0], [1003.0]], dtype=np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted = Standardizer("per_feature").fit(x)
    assert fitted.std[0] == pytest.approx(x.astype(np.float64).std())  # was 1: taken as constant
