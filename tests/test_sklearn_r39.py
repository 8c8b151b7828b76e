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


def _from_the_same_weights(ours, theirs, X, y):
    """Both estimators (warm_start=True) trained on from scikit-learn's weights after one epoch."""
    epochs = theirs.max_iter
    for est in (theirs, ours):
        est.set_params(max_iter=1).fit(X, y)
    ours.coefs_ = [w.copy() for w in theirs.coefs_]
    ours.intercepts_ = [b.copy() for b in theirs.intercepts_]
    for est in (theirs, ours):
        est.set_params(max_iter=epochs).fit(X, y)
    return ours, theirs


@pytest.mark.parametrize("regression", [False, True])
def test_adam_steps_as_mlpclassifiers_with_its_epsilon(regression):
    """solver="adam" added ε after the bias correction of v (PyTorch's Adam), scikit-learn
    before it, where its first steps weigh ε 31.6 times more (β₂ = 0.999): from the same
    weights, epsilon=1e-3 gave weights 1e-2 apart after 5 epochs (1e-5 at the default).
    Now the weights agree to rounding."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4))
    y = X[:, 0] * 2 + 1 if regression else rng.integers(0, 3, 90)
    ours_cls, theirs_cls = (NeuralNetRegressor, MLPRegressor) if regression else (NeuralNetClassifier, MLPClassifier)
    settings = dict(hidden_layer_sizes=(6,), solver="adam", learning_rate_init=0.01, max_iter=5, shuffle=False,
                    random_state=0, batch_size=32)
    for extra in ({"epsilon": 1e-3, "beta_2": 0.9}, {}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours, theirs = _from_the_same_weights(ours_cls(warm_start=True, **settings, **extra),
                                                  theirs_cls(warm_start=True, **settings, **extra), X, y)
        for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)


def test_a_pickled_estimator_goes_on_with_scikit_learns_adam_in_partial_fit():
    """partial_fit continues the fit's Adam, in a pickled copy too: both still agree with
    MLPClassifier's partial_fit from the same weights."""
    import pickle

    from sklearn.neural_network import MLPClassifier

    X, y = _data()
    settings = dict(hidden_layer_sizes=(4,), epsilon=1e-2, beta_2=0.9, learning_rate_init=0.01, max_iter=2,
                    shuffle=False, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = _from_the_same_weights(NeuralNetClassifier(**settings), MLPClassifier(**settings), X, y)
    copy = pickle.loads(pickle.dumps(ours))
    for est in (ours, copy, theirs):
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    for a, b, c in zip(ours.coefs_, copy.coefs_, theirs.coefs_):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-12)
