"""Values too large to standardise are named, not reported as a broken Standardization layer."""

import numpy as np
import pytest

from cli_in_process import run_cli
from deltaprop.data import Standardizer
from deltaprop.errors import DataError


def _x(big):
    x = np.random.default_rng(0).normal(size=(200, 4))
    x[3, 2] = big
    return x


@pytest.mark.parametrize("mode", ["global", "per_feature"])
def test_values_whose_squares_overflow_are_refused_naming_the_feature(mode):
    with pytest.raises(DataError, match=r"feature 3 of 4 holds values up to 1e\+200, too large to standardise"):
        Standardizer(mode).fit(_x(1e200))


def test_large_values_whose_squares_fit_are_standardised():
    z = Standardizer("per_feature").fit_transform(_x(1e100))
    assert np.isfinite(z).all() and z[3, 2] == pytest.approx(np.sqrt(199), rel=1e-6)


def test_train_on_such_a_file_says_which_feature_in_one_line(tmp_path):
    """train said 'Standardization std must be finite and > 0', naming no feature and no fix."""
    x = _x(1e300)
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0] > 0).astype(int))
    res = run_cli("train", "--dataset", tmp_path / "d.npz", "--out", tmp_path / "run", "-q")
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "feature 3 of 4 holds values up to 1e+300" in res.stderr and "rescale that feature" in res.stderr
