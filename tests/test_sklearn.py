"""The scikit-learn estimators: scikit-learn's own estimator checks, the estimator contract
(parameters, partial_fit, warm_start, sample_weight, pickling, model files), and accuracy
against MLPClassifier with the same data and settings. tests/test_sklearn_compat.py checks
each of MLPClassifier's behaviours one by one."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

#: Checks that cannot pass by design, with the reason (scikit-learn marks them xfail).
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}

_REFUSES_PARTIAL_FIT = "partial_fit refuses early_stopping=True, as MLPClassifier's does"
_TEN_ROWS = "10 rows hold out 1 for validation, under the 2 of one per class; MLPClassifier raises the same error"
#: With ``early_stopping=True`` MLPClassifier itself fails the first seven (scikit-learn 1.9.1);
#: the last two fail here only because weight-0 rows are removed before the split.
EARLY_STOPPING_FAILED_CHECKS: dict[str, str] = {
    "check_fit_score_takes_y": _REFUSES_PARTIAL_FIT,
    "check_n_features_in_after_fitting": _REFUSES_PARTIAL_FIT,
    "check_estimators_partial_fit_n_features": _REFUSES_PARTIAL_FIT,
    "check_estimators_nan_inf": _TEN_ROWS,
    "check_fit2d_1feature": _TEN_ROWS,
    "check_classifiers_one_label": "10 rows hold out 1, under the 2 a validation set needs; MLPClassifier "
                                   "raises the same error",
    "check_sample_weight_equivalence_on_sparse_data": "the held-out rows differ between weighted and repeated data, "
                                                      "as in MLPClassifier",
    "check_sample_weight_equivalence_on_dense_data": "weight-0 rows are removed before the split: 9 rows hold out 1, "
                                                     "too few to score (MLPClassifier holds out 2 of its 10)",
    "check_classifiers_one_label_sample_weights": "weight-0 rows are removed before the split: the 5 rows left hold "
                                                  "out 1, too few, and the error does not say 'class'",
}


def _expected_failed(estimator) -> dict[str, str]:
    if getattr(estimator, "early_stopping", False):
        return EARLY_STOPPING_FAILED_CHECKS
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(n_samples=240, n_features=6, n_informative=4, n_classes=3, class_sep=2.0, random_state=0)
    return StandardScaler().fit_transform(X), y


# -- scikit-learn's own judge ---------------------------------------------------------------
# Each battery is about a hundred quick checks, seconds in all: the default classifier's runs
# in every test run, the early-stopping classifier's, the regressor's and the other
# configuration's with the slow tests.
@pytest.mark.slow  # about 3.8 s in the quick suite on 2 cores
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([NeuralNetClassifier()], expected_failed_checks=_expected_failed)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([NeuralNetClassifier(early_stopping=True)], expected_failed_checks=_expected_failed)
def test_scikit_learn_estimator_checks_under_early_stopping(estimator, check):
    check(estimator)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    [
        NeuralNetRegressor(),
        # the other output unit and optimizer: one sigmoid unit for two classes, SGD
        NeuralNetClassifier((8,), output="sigmoid", solver="sgd", learning_rate_init=0.1, max_iter=50),
    ],
    expected_failed_checks=_expected_failed,
)
def test_scikit_learn_estimator_checks_of_the_regressor_and_sigmoid_sgd(estimator, check):
    check(estimator)


# -- the contract -------------------------------------------------------------------------
def test_importing_deltaprop_does_not_import_scikit_learn():
    code = "import sys, deltaprop; print('sklearn' in sys.modules, 'deltaprop.sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize(("ours", "theirs"), [(NeuralNetClassifier, MLPClassifier), (NeuralNetRegressor, MLPRegressor)])
def test_every_mlp_parameter_with_its_default_and_position(ours, theirs):
    mine, its = ours().get_params(), theirs().get_params()
    assert set(its) <= set(mine)
    assert {k: mine[k] for k in its} == its
    assert set(mine) - set(its) == {"output", "dropout", "init", "dtype"} | ({"loss"} if ours is NeuralNetClassifier else set())
    # the same positional parameters, in the same order (MLPRegressor's first is loss)
    positional = lambda cls: [  # noqa: E731
        p.name for p in inspect.signature(cls).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD
    ]
    assert positional(ours) == positional(theirs)


def test_logistic_is_sigmoid_and_activations_can_differ_per_layer():
    est = NeuralNetClassifier((4,), activation="logistic", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(np.eye(4), [0, 1, 0, 1])
    assert est.net_.layers[1].type_name == "Sigmoid"
    est = NeuralNetClassifier((4, 3), activation=("relu", "tanh"), max_iter=5, random_state=0, dropout=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(np.eye(4), [0, 1, 0, 1])
    kinds = [layer.type_name for layer in est.net_.layers]
    assert kinds == ["Dense", "ReLU", "Dropout", "Dense", "Tanh", "Dropout", "Dense", "Sigmoid"]
    with pytest.raises(dp.ConfigError, match="2 names for 1 hidden"):
        NeuralNetClassifier((4,), activation=("relu", "tanh")).fit(np.eye(4), [0, 1, 0, 1])


@pytest.mark.parametrize("activation, factor", [("logistic", 2.0), ("relu", 6.0)])
def test_no_hidden_layers_is_a_linear_model_initialised_as_scikit_learn(tmp_path, activation, factor):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 300))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = NeuralNetClassifier((), activation=activation, max_iter=1, random_state=0).fit(X, y)
        reg = NeuralNetRegressor(hidden_layer_sizes=(), activation=activation, max_iter=1, random_state=0).fit(X, X[:, 0])
    for est in (clf, reg):
        assert [layer.type_name for layer in est.net_.layers][0] == "Dense" and est.n_layers_ == 2
        assert [W.shape for W in est.coefs_] == [(300, 1)]
        bound = np.sqrt(factor / 301)  # MLP's activation sets the factor even with no hidden layer
        assert 0.9 * bound < np.abs(est.coefs_[0]).max() <= bound + 0.0015  # one Adam step moves 0.001
    lbfgs = NeuralNetClassifier((), solver="lbfgs", random_state=0).fit(X[:, :3], y)
    assert lbfgs.score(X[:, :3], y) == 1.0
    again = NeuralNetClassifier.load(lbfgs.save(tmp_path / "linear.safetensors"))
    assert again.hidden_layer_sizes == () and (again.predict_proba(X[:, :3]) == lbfgs.predict_proba(X[:, :3])).all()


def test_classifier_loss_squared_error_is_scikit_learns_name_for_mse(blobs):
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        named = NeuralNetClassifier((8,), loss="squared_error", max_iter=5, random_state=0).fit(X, y)
        mse = NeuralNetClassifier((8,), loss="mse", max_iter=5, random_state=0).fit(X, y)
    assert named.loss_curve_ == mse.loss_curve_ and (named.predict_proba(X) == mse.predict_proba(X)).all()
    with pytest.raises(dp.ConfigError, match="squared_error"):
        NeuralNetClassifier((8,), loss="hinge").fit(X, y)


def test_string_and_integer_labels(blobs):
    X, y = blobs
    names = np.array(["cat", "dog", "emu"])[y]
    kw = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        by_name = NeuralNetClassifier(**kw).fit(X, names)
        by_id = NeuralNetClassifier(**kw).fit(X, y + 7)
    assert by_name.classes_.tolist() == ["cat", "dog", "emu"]
    assert by_id.classes_.tolist() == [7, 8, 9]
    # same ids order, same seed: the same network, whatever the labels
    np.testing.assert_array_equal(by_name.predict_proba(X), by_id.predict_proba(X))
    assert set(by_name.predict(X)) <= {"cat", "dog", "emu"}
    assert by_name.score(X, names) > 0.9


def test_not_fitted_error_is_both_libraries():
    est = NeuralNetRegressor()
    with pytest.raises(dp.NotFittedError) as info:
        est.predict(np.zeros((2, 3)))
    assert isinstance(info.value, SklearnNotFittedError)
    assert isinstance(info.value, dp.Error)


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ({"solver": "newton"}, "newton"),
        ({"activation": "swish"}, "swish"),
        ({"output": "tanh"}, "tanh"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_iter": -3}, "max_iter"),
        ({"learning_rate_init": -1.0}, "learning_rate_init"),
        ({"learning_rate": "sometimes"}, "learning_rate"),
        ({"alpha": -1.0}, "alpha"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"solver": "lbfgs", "dropout": 0.5}, "dropout"),
        ({"dropout": 1.5}, "dropout"),
        ({"validation_fraction": 0.0, "early_stopping": True}, "validation_fraction"),
        ({"dtype": "float16"}, "float16"),
    ],
)
def test_bad_settings_raise_config_error_at_fit_naming_the_value(setting, fragment):
    est = NeuralNetClassifier(**setting)  # __init__ only stores (scikit-learn's rule)
    with pytest.raises(dp.ConfigError, match=fragment):
        est.fit(np.eye(4), [0, 1, 0, 1])
    assert not hasattr(est, "net_")


def test_convergence_warning_only_when_max_iter_runs_out(blobs):
    X, y = blobs
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est = NeuralNetClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    assert est.n_iter_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = NeuralNetClassifier((8,), max_iter=500, tol=0.5, n_iter_no_change=2, random_state=0).fit(X, y)
    assert est.n_iter_ < 500


def test_partial_fit_needs_classes_then_continues_one_owner_of_weights(blobs):
    X, y = blobs
    est = NeuralNetClassifier((16,), solver="sgd", learning_rate_init=0.05, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, y)
    est.partial_fit(X[:100], y[:100], classes=[0, 1, 2])
    with pytest.raises(dp.DataError, match="classes not in"):
        est.partial_fit(X, y + 5)
    losses = []
    for _ in range(5):
        est.partial_fit(X, y)
        losses.append(est.loss_curve_[-1])
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 6 and est.t_ == 100 + 5 * len(y)
    assert losses[-1] < losses[0]
    # the optimizer updates the very arrays the network predicts with, also after a
    # pickle round trip (the bug where partial_fit did nothing after reloading)
    clone = pickle.loads(pickle.dumps(est))
    before = clone.predict_proba(X)
    est.partial_fit(X, y)
    clone.partial_fit(X, y)
    after = clone.predict_proba(X)
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(after, est.predict_proba(X))
    assert clone._state.optimizer.params[0].value is clone.net_.parameters()[0].value
    assert clone.coefs_[0] is clone.net_.layers[0].W.value


def test_replacing_an_item_of_coefs_or_intercepts_edits_the_model(blobs):
    # scikit-learn's coefs_ is a plain list: `coefs_[0] = W` changes what the MLP predicts
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetClassifier((5,), max_iter=20, random_state=0).fit(X, y)
    est.coefs_[0] = np.zeros_like(est.coefs_[0])
    est.intercepts_[0] = np.zeros_like(est.intercepts_[0])
    assert not est.net_.layers[0].W.value.any() and not est.net_.layers[0].b.value.any()
    assert len(np.unique(est.predict_proba(X).round(6), axis=0)) == 1  # every row looks the same now
    est.coefs_[-1:] = [np.ones_like(est.coefs_[-1])]
    assert (est.net_.layers[-2].W.value == 1).all()
    with pytest.raises(dp.ShapeError):
        est.coefs_[0] = np.zeros((3, 3))
    with pytest.raises(dp.ShapeError, match="one array per layer"):
        est.coefs_.append(np.zeros((5, 3)))


def test_pickle_round_trip_keeps_dropout_masks_and_any_initializer(blobs):
    # the network pickles itself (config + weights + generator state): a scaled_normal
    # network (whose initializer is a closure) pickles, and the copy draws the same masks
    X, y = blobs
    est = NeuralNetClassifier((16,), dropout=0.3, init="scaled_normal", max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    est.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    assert copy.loss_curve_ == est.loss_curve_
    dropout = [layer for layer in copy.net_.layers if layer.type_name == "Dropout"]
    assert dropout and all(layer.rng is copy.net_.rng for layer in dropout)


def test_warm_start_continues_from_the_fitted_weights(blobs):
    X, y = blobs
    kw = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = NeuralNetClassifier(warm_start=True, **kw).fit(X, y)
        first = list(warm.loss_curve_)
        warm.fit(X, y)
        cold = NeuralNetClassifier(**kw).fit(X, y)
        cold.fit(X, y)
    assert warm.n_iter_ == 5 and len(warm.loss_curve_) == 10 and warm.loss_curve_[:5] == first
    assert warm.loss_curve_[5] < first[0]  # it did not start again from random weights
    assert cold.n_iter_ == 5 and cold.loss_curve_ == first


@pytest.mark.parametrize("change, layers, dtype", [
    ({"activation": "tanh"}, ["Dense", "Tanh", "Dense", "Softmax"], np.float64),
    ({"dropout": 0.5}, ["Dense", "ReLU", "Dropout", "Dense", "Softmax"], np.float64),
    ({"dtype": "float32"}, ["Dense", "ReLU", "Dense", "Softmax"], np.float32),
])
@pytest.mark.parametrize("again", ["fit", "partial_fit"])
def test_a_warm_start_trains_the_fitted_weights_in_the_layers_the_parameters_name_now(blobs, change, layers, dtype,
                                                                                       again):
    # the fitted network was kept whatever set_params said: get_params named tanh, ReLU trained
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetClassifier((8,), warm_start=True, max_iter=3, random_state=0).fit(X, y)
        fitted = [c.copy() for c in est.coefs_]
        getattr(est.set_params(**change, max_iter=1), again)(X, y)
    assert [layer.type_name for layer in est.net_.layers] == layers and est.coefs_[0].dtype == dtype
    assert not np.allclose(est.coefs_[0], fitted[0]) and np.allclose(est.coefs_[0], fitted[0], atol=0.1)


def test_a_warm_start_refuses_other_layer_sizes(blobs):
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetClassifier((8,), warm_start=True, max_iter=2, random_state=0).fit(X, y)
    fitted = [c.copy() for c in est.coefs_]
    for again in (est.fit, est.partial_fit):
        est.set_params(hidden_layer_sizes=(5, 3))
        with pytest.raises(dp.ConfigError, match=r"fitted network \(\d+ → 8 → 3\).*warm_start=False"):
            again(X, y)
        assert [c.shape for c in est.coefs_] == [f.shape for f in fitted]
        est.set_params(hidden_layer_sizes=(8,))


def test_sample_weight_counts_rows_with_mini_batches_and_float32(blobs):
    X, y = blobs
    kw = dict(hidden_layer_sizes=(8,), max_iter=40, batch_size=32, random_state=0, learning_rate_init=0.01)
    weight = np.where(y == 2, 20.0, 1.0)
    original = weight.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = NeuralNetClassifier(**kw).fit(X, y)
        heavy = NeuralNetClassifier(**kw).fit(X, y, sample_weight=weight)
        single = NeuralNetClassifier(**kw).fit(X.astype(np.float32), y, sample_weight=weight)
    np.testing.assert_array_equal(weight, original)
    # weighting class 2 makes the network predict it more often
    assert np.mean(heavy.predict(X) == 2) > np.mean(plain.predict(X) == 2)
    assert single.net_.dtype == np.float32 and single.predict_proba(X).dtype == np.float32
    with pytest.raises(ValueError, match="non-zero"):
        NeuralNetClassifier(**kw).fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="[Nn]egative"):
        NeuralNetClassifier(**kw).fit(X, y, sample_weight=-weight)


def test_weighted_objective_equals_repeated_rows_penalty_included():
    # scikit-learn's objective Σ w_i ℓ_i / Σ w_i + α/(2 Σ w_i) Σ‖W‖² with integer weights is
    # the plain objective on the rows repeated: value and every gradient (the penalty's
    # through the gradient hook), with the weights scaled to mean 1 as deltaprop.fit hands them
    from types import SimpleNamespace

    from deltaprop.sklearn import _Objective, _WeightPenalty

    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 3))
    ids = np.array([0, 1, 2, 1, 0, 2])
    counts = np.array([1, 3, 2, 1, 4, 2])
    for output, loss, scale in (
        ("softmax", dp.CrossEntropy(), 1.0), ("sigmoid", dp.BinaryCrossEntropy(), 1.0), ("identity", dp.MeanSquaredError(), 0.5)
    ):
        net = dp.mlp([3, 5, 3], activation="tanh", output=output, seed=0, dtype="float64")
        weights = [layer.W for layer in net.layers if isinstance(layer, dp.Dense)]
        rows = loss.prepare_targets(ids, 3, np.float64)
        results = []
        for Xb, Yb, w in (
            (np.repeat(X, counts, axis=0), np.repeat(rows, counts, axis=0), None),
            (X, rows, counts / counts.mean()),
        ):
            objective = _Objective(loss, weights, alpha=0.3, scale=scale, weight_scale=1.0 if w is None else counts.mean())
            a = net._forward(Xb, True)
            value = objective.value(a, Yb, w)
            net._backward(objective, a, Yb, w)
            _WeightPenalty().on_gradients(SimpleNamespace(loss=objective))
            results.append((value, [p.grad.copy() for p in net.parameters()]))
        (v1, g1), (v2, g2) = results
        assert v2 == pytest.approx(v1, rel=1e-12)
        for a, b in zip(g1, g2):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_early_stopping_scores_held_out_rows_and_restores_the_best(blobs):
    X, y = blobs
    est = NeuralNetClassifier(
        (32,), early_stopping=True, n_iter_no_change=3, tol=0.0, max_iter=300, learning_rate_init=0.05, random_state=0
    ).fit(X, y)
    assert est.n_iter_ < 300 and len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.best_loss_ is None
    reg = NeuralNetRegressor(hidden_layer_sizes=(16,), early_stopping=True, random_state=0, max_iter=300, learning_rate_init=0.01)
    reg.fit(X, X[:, 0] - 2 * X[:, 1])
    assert reg.best_validation_score_ == max(reg.validation_scores_) > 0.9


def test_multi_output_regression_and_verbose(capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    Y = np.column_stack([X[:, 0] + X[:, 1], np.tanh(X[:, 2]), X[:, 3] * 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetRegressor(
            hidden_layer_sizes=(32,), max_iter=30, batch_size=20, learning_rate_init=0.01, random_state=0, verbose=True
        ).fit(X, Y)
    assert est.predict(X).shape == (200, 3) and est.n_outputs_ == 3
    assert est.score(X, Y) > 0.9
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 30 and lines[0].startswith("Iteration 1, loss = ") and lines[-1].startswith("Iteration 30, loss = ")
    one = NeuralNetRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert one.fit(X, Y[:, 0]).predict(X).shape == (200,)
    assert [w.shape for w in est.coefs_] == [(5, 32), (32, 3)] and [b.shape for b in est.intercepts_] == [(32,), (3,)]


def test_feature_names_in():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetClassifier((4,), max_iter=3).fit(frame, [0, 1, 0, 1])
    assert est.feature_names_in_.tolist() == ["a", "b"]


def test_save_and_load_model_files(tmp_path, blobs):
    X, y = blobs
    labels = np.array(["low", "mid", "high"])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetClassifier((8,), max_iter=10, random_state=0, solver=dp.SGD(0.1, momentum=0.5)).fit(X, labels)
        reg = NeuralNetRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0).fit(X, X[:, :2])
        ints = NeuralNetClassifier((4,), max_iter=1).fit(X, y + 10)
    path = est.save(tmp_path / "clf.safetensors")
    back = NeuralNetClassifier.load(path)
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert back.classes_.tolist() == est.classes_.tolist()
    assert back.loss_curve_ == est.loss_curve_ and back.n_iter_ == 10
    assert back.solver.config() == est.solver.config()
    # the file is a plain deltaprop model: class names as text, the network loads alone
    model = dp.serialization.read_model(path)
    assert model.class_names == ("high", "low", "mid")
    back.partial_fit(X, labels)  # trains on: a fresh optimizer bound to the loaded weights
    assert back.n_iter_ == 1 and len(back.loss_curve_) == 11 and not np.allclose(back.predict_proba(X), est.predict_proba(X))
    # integer classes come back as integers
    ints = NeuralNetClassifier.load(ints.save(tmp_path / "i.safetensors"))
    assert ints.classes_.dtype.kind == "i" and ints.classes_.tolist() == [10, 11, 12]
    reg_path = reg.save(tmp_path / "reg.safetensors")
    np.testing.assert_array_equal(NeuralNetRegressor.load(reg_path).predict(X), reg.predict(X))
    with pytest.raises(dp.ModelFileError, match="NeuralNetRegressor"):
        NeuralNetClassifier.load(reg_path)
    with pytest.raises(dp.NotFittedError):
        NeuralNetRegressor().save(tmp_path / "never.safetensors")


def test_save_and_load_keep_loss_history_and_non_finite_settings(tmp_path, blobs):
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetClassifier((8,), solver="sgd", n_iter_no_change=np.inf, tol=1e9, max_iter=4, random_state=0).fit(X, y)
        lbfgs = NeuralNetRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=6, random_state=0).fit(X, X[:, 0])
    assert lbfgs.history_["loss"] == lbfgs.loss_curve_ and lbfgs.history_["epoch"] == list(range(1, 7))
    back = NeuralNetClassifier.load(est.save(tmp_path / "inf.safetensors"))
    assert back.n_iter_no_change == np.inf and back.loss_ == est.loss_ == est.loss_curve_[-1]
    assert back.history_.records == est.history_.records and len(back.history_) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        back.set_params(warm_start=True, max_iter=5).fit(X, y)
    assert back.n_iter_ == 5  # an infinite patience still never stops
    again = NeuralNetRegressor.load(lbfgs.save(tmp_path / "lbfgs.safetensors"))
    assert again.loss_ == lbfgs.loss_ and again.history_.records == lbfgs.history_.records
    assert pickle.loads(pickle.dumps(lbfgs)).history_.records == lbfgs.history_.records


@pytest.mark.parametrize("labels", [
    np.array([False, True]), np.array([1.0, 3.0], dtype=np.float32), np.array([-2.0, 4.0]),
    np.array([7, 300], dtype=np.uint16), np.array(["no", "yes"]),
], ids=["bool", "float32", "float64", "uint16", "str"])
def test_saved_classes_come_back_as_the_same_labels(tmp_path, labels):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = labels[(X[:, 0] > 0).astype(int)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetClassifier((8,), max_iter=40, learning_rate_init=0.02, random_state=0).fit(X, y)
    back = NeuralNetClassifier.load(est.save(tmp_path / "m.safetensors"))
    assert back.classes_.dtype == est.classes_.dtype
    np.testing.assert_array_equal(back.classes_, est.classes_)
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert back.score(X, y) == est.score(X, y) > 0.9


def test_class_names_that_do_not_parse_as_their_kind_are_refused(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetClassifier((4,), max_iter=2, random_state=0).fit(X, X[:, 0] > 0)
    net = est.net_
    extra = {"estimator": "NeuralNetClassifier", "classes_kind": "b", "classes_dtype": "|b1"}
    path = dp.save(net, tmp_path / "bad.safetensors", class_names=["no", "yes"], extra=extra)
    with pytest.raises(dp.ModelFileError, match="not labels of kind 'b'"):
        NeuralNetClassifier.load(path)


# -- accuracy -------------------------------------------------------------------------------
@pytest.mark.slow
def test_grid_search_in_a_pipeline_beats_095_on_digits():
    # shuffled folds: digits is stored in the order its writers produced it, so unshuffled 3-fold
    # splits score every model lower (MLPClassifier's defaults get 0.949 there)
    X, y = load_digits(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()), ("net", NeuralNetClassifier(max_iter=40, random_state=0))])
    grid = {"net__hidden_layer_sizes": [(32,), (64,)], "net__learning_rate_init": [0.001, 0.01]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
    assert search.best_score_ > 0.95
    assert len(search.cv_results_["mean_test_score"]) == 4


def _same_settings(lr: float, epochs: int, seed: int = 0):
    """MLPClassifier(solver='sgd', momentum=0.9) and ours with the same settings, word for word."""
    alpha, batch = 1e-4, 200
    theirs = MLPClassifier(
        (100,), solver="sgd", momentum=0.9, learning_rate_init=lr, max_iter=epochs, alpha=alpha,
        batch_size=batch, random_state=seed,
    )
    ours = NeuralNetClassifier(
        (100,), solver="sgd", momentum=0.9, learning_rate_init=lr, max_iter=epochs, alpha=alpha,
        batch_size=batch, random_state=seed,
    )
    return theirs, ours


@pytest.mark.slow
def test_at_least_mlpclassifier_accuracy_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    # 60 epochs, before either converges (both stop near 185 given 200): a slower descent shows
    # here (at 60, a third of the rate scores 0.951 and momentum 0.5 for 0.9 scores 0.942
    # against MLPClassifier's 0.971; at 200 both pass)
    theirs, ours = _same_settings(lr=0.01, epochs=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        their_acc = theirs.fit(X_train, y_train).score(X_test, y_test)
        our_acc = ours.fit(X_train, y_train).score(X_test, y_test)
    assert our_acc >= their_acc - 0.01, (our_acc, their_acc)
    assert our_acc > 0.95


@pytest.mark.slow
def test_at_least_mlpclassifier_accuracy_on_the_mnist_sample():
    import deltaprop.data

    data = deltaprop.data.load("mnist-sample")
    X_train = data.x_train.reshape(len(data.x_train), -1) / 255.0
    X_test = data.x_test.reshape(len(data.x_test), -1) / 255.0
    theirs, ours = _same_settings(lr=0.01, epochs=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        their_acc = theirs.fit(X_train, data.y_train).score(X_test, data.y_test)
        our_acc = ours.fit(X_train, data.y_train).score(X_test, data.y_test)
    assert our_acc >= their_acc - 0.01, (our_acc, their_acc)
    assert our_acc > 0.88
