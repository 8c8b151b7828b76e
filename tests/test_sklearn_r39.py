"""A user swapping MLPClassifier for the estimators and trying deltaprop's extra solvers by
name: settings that train to a near-chance model must say so before training."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from deltaprop import AdaDelta  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


def _data(n: int = 60):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] > 0).astype(int)


def _user_warnings(fit) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit()
    return [w for w in caught if w.category is UserWarning]


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_adadelta_at_scikit_learns_default_rate_warns_before_training_with_the_fix(cls):
    """solver="adadelta" took learning_rate_init's default 0.001 (Adam's) as AdaDelta's
    multiplier α, 1000 times below its own 1.0: on digits 9% test accuracy after 200
    epochs (chance), against 93% at 1.0, and not a word. Now fit warns, naming the rate, the
    factor and learning_rate_init=1.0, at the caller's line."""
    X, y = _data()
    caught = _user_warnings(lambda: cls(hidden_layer_sizes=(4,), solver="adadelta", max_iter=2, random_state=0).fit(X, y))
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "learning_rate_init=0.001" in text and "1000 times" in text and "learning_rate_init=1.0" in text
    assert caught[0].filename == __file__


def test_adadelta_warns_only_far_below_its_own_rate_and_never_for_an_instance():
    """Warned at 0.01 and below; not at AdaDelta's own rate or near it, not for an AdaDelta
    instance (whose rate the user set), nor for other solvers at the default."""
    X, y = _data()
    warned = {}
    for solver, rate in (("adadelta", 0.01), ("adadelta", 1.0), ("adadelta", 0.05), (AdaDelta(lr=0.001), 0.001),
                         ("adam", 0.001), ("adagrad", 0.001)):
        clf = NeuralNetClassifier((4,), solver=solver, learning_rate_init=rate, max_iter=2, random_state=0)
        warned[str(solver), rate] = len(_user_warnings(lambda clf=clf: clf.fit(X, y)))
    assert warned.pop(("adadelta", 0.01)) == 1
    assert set(warned.values()) == {0}


def test_adadelta_partial_fit_warns_on_the_call_that_makes_the_optimizer_only():
    X, y = _data()
    clf = NeuralNetClassifier((4,), solver="adadelta", random_state=0)
    assert len(_user_warnings(lambda: clf.partial_fit(X, y, classes=[0, 1]))) == 1
    assert _user_warnings(lambda: clf.partial_fit(X, y)) == []


@pytest.mark.slow
def test_adadelta_at_the_rate_the_warning_names_learns_digits():
    """The fix the warning gives works: learning_rate_init=1.0 trains digits well where the
    default leaves it at about chance."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    scores, warned = {}, {}
    for rate in (0.001, 1.0):
        clf = NeuralNetClassifier((32,), solver="adadelta", learning_rate_init=rate, max_iter=40, random_state=0)
        warned[rate] = len(_user_warnings(lambda clf=clf: clf.fit(X[:1200], y[:1200])))
        scores[rate] = clf.score(X[1200:], y[1200:])
    assert scores[0.001] < 0.3 < 0.85 < scores[1.0]
    assert warned == {0.001: 1, 1.0: 0}
