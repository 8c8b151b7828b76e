"""Review of round 35's changes: the cases they missed."""

import numpy as np
import pytest

from deltaprop.data import Standardizer
from deltaprop.errors import DataError


@pytest.mark.parametrize("mode", ["global", "per_feature"])
def test_the_overflow_refusal_names_the_feature_that_overflowed_not_a_large_constant_one(mode):
    """A constant column of 1e300 standardises fine (it maps to 0); the refusal named it
    ('feature 1 ... up to 1e+300') instead of the varying column whose squares overflowed."""
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[:, 0] = 1e300
    x[7, 2] = 1e200
    with pytest.raises(DataError, match=r"feature 3 of 3 holds values up to 1e\+200, too large to standardise"):
        Standardizer(mode).fit(x)
