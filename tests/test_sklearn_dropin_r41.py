"""Code written for MLPClassifier and MLPRegressor, run unchanged on the estimators: a grid's
NumPy values, weights a user may pass, verbose output, the examples-seen count and where
warnings point."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from deltaprop import DataError  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


def _data(n: int = 80):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_validation_fraction_as_numpy_float32_holds_out_rows_as_mlp_does(cls):
    """A grid's ``np.float32(0.2)`` (``np.linspace(..., dtype=np.float32)``) as
    validation_fraction: MLPClassifier trains; the estimator raised DataError "could not
    hold out validation_fraction=0.20000000298023224 of 80 rows", passing the float32 on
    to train_test_split, which refuses it."""
    X, y = _data()
    est = cls(hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=np.float32(0.2), max_iter=2,
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert len(est.validation_scores_) == est.n_iter_ == 2


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_negative_sample_weight_is_refused_saying_why(cls):
    """MLPClassifier trains on a negative weight; the estimator refuses it (a negative weight
    rewards the row's loss, which has no lower bound), and said only scikit-learn's
    "Negative values in data passed to `sample_weight`". Now the message names the row, why
    and the fix."""
    X, y = _data()
    w = np.ones(len(y))
    w[5] = -0.5
    with pytest.raises(DataError, match=r"negative weight \(-0\.5, row 5\).*without bound.*>= 0"):
        cls(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y, sample_weight=w)


def test_t_counts_the_training_part_of_every_row_under_early_stopping_as_mlp():
    """``t_`` (the invscaling clock) under early stopping with weight-0 rows: scikit-learn
    counts the training part of its split of all 80 rows, 72 an epoch; the estimator counted
    its split of the 70 weighted rows plus the 10 removed ones, 73."""
    X, y = _data()
    w = np.ones(len(y))
    w[:10] = 0.0
    kwargs = dict(hidden_layer_sizes=(4,), early_stopping=True, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = NeuralNetClassifier(**kwargs).fit(X, y, sample_weight=w)
        theirs = MLPClassifier(**kwargs).fit(X, y, sample_weight=w)
    assert ours.t_ == theirs.t_ == 3 * (80 - math.ceil(0.1 * 80))


def test_verbose_says_the_adaptive_rate_ran_down_as_mlp(capsys):
    """SGD with learning_rate="adaptive" stopping at a rate of 1e-6 or less: MLPClassifier
    prints "... Learning rate too small. Stopping."; the estimator printed "... Stopping.",
    as for a constant rate."""
    X, y = _data()
    est = NeuralNetClassifier((4,), solver="sgd", learning_rate="adaptive", learning_rate_init=1e-6,
                              n_iter_no_change=1, tol=10.0, max_iter=20, random_state=0, verbose=True)
    est.fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if "did not improve" in line]
    assert lines == ["Training loss did not improve more than tol=10.000000 for 1 consecutive epochs. "
                     "Learning rate too small. Stopping."]


def _caught(fit, category):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [w for w in caught if w.category is category]


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_convergence_warning_points_at_the_callers_line(solver):
    """The ConvergenceWarning of max_iter (stochastic solvers and L-BFGS) pointed at a line of
    deltaprop/sklearn.py, so the user saw `return self._fit(...)` under it; now at the fit call."""
    X, y = _data()
    caught = _caught(lambda: NeuralNetClassifier((4,), solver=solver, max_iter=2, random_state=0).fit(X, y),
                     ConvergenceWarning)
    assert len(caught) == 1
    assert caught[0].filename == __file__


def test_batch_size_clipping_warning_points_at_the_callers_line():
    X, y = _data()
    caught = _caught(lambda: NeuralNetClassifier((4,), batch_size=500, max_iter=1, random_state=0).fit(X, y),
                     UserWarning)
    assert len(caught) == 1 and "clipped" in str(caught[0].message)
    assert caught[0].filename == __file__
