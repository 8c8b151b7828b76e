"""scikit-learn estimators: sequences of calls that MLPClassifier / MLPRegressor users make."""

import copy
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _binary(n=60):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
@pytest.mark.parametrize("roundtrip", [lambda est: pickle.loads(pickle.dumps(est)), copy.deepcopy], ids=["pickle", "deepcopy"])
def test_a_copy_keeps_the_history_of_an_lbfgs_fit_that_followed_a_stochastic_one(cls, roundtrip):
    """A stochastic fit, then a warm L-BFGS fit: history_ is the L-BFGS fit's. A pickle
    round trip (joblib.dump) or deepcopy gave back the earlier stochastic fit's history."""
    X, y = _binary()
    est = cls(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    est.set_params(solver="lbfgs", warm_start=True, max_iter=7).fit(X, y)
    lbfgs_history = est.history_.records
    assert len(lbfgs_history) != 3  # L-BFGS's iterations, not the 3 stochastic epochs
    again = roundtrip(est)
    assert again.history_.records == lbfgs_history
    assert [r["loss"] for r in again.history_.records] == est.loss_curve_[3:]


def test_a_copy_after_stochastic_training_still_shares_history_with_its_state():
    """The common case is kept: after partial_fit the history is the training state's own,
    and goes on growing with it after a round trip."""
    X, y = _binary()
    est = NeuralNetClassifier((5,), random_state=0).partial_fit(X, y, classes=[0, 1]).partial_fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    assert again.history_.records == est.history_.records
    again.partial_fit(X, y)
    assert len(again.history_.records) == 3 and again.history_ is again._state.history


def _wide_sparse(rows, features=2**15, seed=0):
    """A hashed-features style matrix: 4 non-zeros a row, tens of thousands of columns."""
    rng = np.random.default_rng(seed)
    indptr = np.arange(0, 4 * rows + 1, 4)
    return scipy.sparse.csr_matrix((rng.random(4 * rows), rng.integers(0, features, 4 * rows), indptr),
                                   shape=(rows, features))


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_predicting_from_wide_sparse_x_densifies_a_bounded_number_of_values(cls):
    """predict on a sparse X of 2**15 columns densified 4,096 rows at a time whatever the
    width: 1,200 rows made one 315 MB dense block (4,096 rows of a 2**20-column hashing
    matrix, 32 GB: a MemoryError where MLPClassifier multiplies the sparse rows). Wide X now
    comes in chunks of at most 4,194,304 values (32 MiB; two alive at once at most), with the
    same predictions."""
    X_fit = _wide_sparse(40)
    y = np.arange(40) % 2
    est = cls(hidden_layer_sizes=(2,), max_iter=1, random_state=0).fit(X_fit, y)
    X = _wide_sparse(1200, seed=1)
    tracemalloc.start()
    try:
        out = est.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 96 * 2**20
    np.testing.assert_array_equal(out[:7], est.predict(X[:7].toarray()))
    np.testing.assert_array_equal(out[-7:], est.predict(X[-7:].toarray()))


def _saved_network(tmp_path, layers, X, y, name):
    """A deltaprop network trained outside the estimator (as the command line's or the
    Python API's), saved as a model file."""
    import deltaprop as dp

    net = dp.Network(layers, seed=0)
    dp.fit(net, X, np.eye(3)[y], loss=dp.losses.CrossEntropy(), optimizer=dp.optimizers.Adam(0.05), epochs=15,
           batch_size=16)
    return dp.save(net, tmp_path / name)


def _three_classes(n=90):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)) * [1.0, 50.0, 0.1, 1.0] + [0.0, 200.0, -1.0, 0.0]  # columns in their own units
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 200.0)


@pytest.mark.parametrize("step", ["partial_fit", "warm_start", "float32"])
def test_continuing_a_loaded_model_keeps_its_input_scaling(tmp_path, step):
    """The command line puts Standardization (or Rescaling) in front of the network; a warm
    start or partial_fit on NeuralNetClassifier.load's estimator rebuilt the layers from the
    estimator's parameters and dropped it, so the model saw raw inputs from then on (the
    README's digits run: accuracy 0.97 -> 0.81 after one partial_fit at rate 1e-6)."""
    import deltaprop as dp
    from deltaprop.layers import Dense, Softmax, Tanh

    X, y = _three_classes()
    path = _saved_network(tmp_path, [dp.Standardization.fit(X, per_feature=True), Dense(4, 6), Tanh(), Dense(6, 3),
                                     Softmax()], X, y, "scaled.safetensors")
    est = NeuralNetClassifier.load(path).set_params(learning_rate_init=1e-9)
    before = est.predict_proba(X)
    if step == "partial_fit":
        est.partial_fit(X, y)
    elif step == "warm_start":
        est.set_params(warm_start=True, max_iter=1).fit(X, y)
    else:  # a dtype change rebuilds every layer
        est.set_params(dtype="float32").partial_fit(X, y)
    assert [layer.type_name for layer in est.net_.layers][0] == "Standardization"
    np.testing.assert_allclose(est.predict_proba(X), before, atol=1e-4)


def test_a_loaded_model_with_an_activation_per_layer_keeps_them(tmp_path):
    """A network of ReLU then Tanh hidden layers loaded as an estimator: activation named
    only the first ('relu'), and partial_fit turned the Tanh layer into a ReLU."""
    from deltaprop.layers import Dense, ReLU, Softmax, Tanh

    X, y = _three_classes()
    X = (X - X.mean(0)) / X.std(0)
    path = _saved_network(tmp_path, [Dense(4, 6), ReLU(), Dense(6, 5), Tanh(), Dense(5, 3), Softmax()], X, y,
                          "mixed.safetensors")
    est = NeuralNetClassifier.load(path)
    assert est.get_params()["activation"] == ("relu", "tanh")
    before = est.predict_proba(X)
    est.set_params(learning_rate_init=1e-9).partial_fit(X, y)
    assert [layer.type_name for layer in est.net_.layers] == ["Dense", "ReLU", "Dense", "Tanh", "Dense", "Softmax"]
    np.testing.assert_allclose(est.predict_proba(X), before, atol=1e-6)


def test_a_loaded_model_with_an_output_stack_keeps_it_or_says_why_not(tmp_path):
    """The command line's output='sigmoid+softmax' ends in Sigmoid → Softmax. partial_fit on
    the loaded estimator rebuilt the layers as the parameters name them and silently dropped
    the Sigmoid (outputs off by 0.5 after one step at rate 1e-9). It now trains the network as
    it is, keeps it through a dtype change, and refuses a rebuild that would drop it."""
    import deltaprop as dp
    from deltaprop import ConfigError

    X, y = _three_classes()
    X = (X - X.mean(0)) / X.std(0)
    net = dp.mlp([4, 6, 3], activation="sigmoid", output="sigmoid+softmax", seed=0)
    dp.fit(net, X, np.eye(3)[y], loss=dp.losses.CrossEntropy(), optimizer=dp.optimizers.Adam(0.05), epochs=15,
           batch_size=16)
    est = NeuralNetClassifier.load(dp.save(net, tmp_path / "stack.safetensors"))
    stack = ["Dense", "Sigmoid", "Dense", "Sigmoid", "Softmax"]
    before = est.predict_proba(X)
    est.set_params(learning_rate_init=1e-9).partial_fit(X, y)
    state = est._state
    est.partial_fit(X, y)
    assert [layer.type_name for layer in est.net_.layers] == stack and est._state is state  # one optimizer throughout
    np.testing.assert_allclose(est.predict_proba(X), before, atol=1e-6)
    est.set_params(dtype="float32").partial_fit(X, y)
    assert [layer.type_name for layer in est.net_.layers] == stack and est.net_.dtype == np.float32
    np.testing.assert_allclose(est.predict_proba(X), before, atol=1e-4)
    with pytest.raises(ConfigError, match=r"drop the layers no parameter names \(Sigmoid"):
        est.set_params(activation="relu").partial_fit(X, y)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_command_line_model_checks_dataframe_columns_by_its_csv_header(tmp_path):
    """A model trained by ``deltaprop train`` on a CSV keeps the header's names. Loaded as an
    estimator it had no feature_names_in_, so a DataFrame with the columns in another order
    was predicted with a generic warning only (the README's digits: accuracy 0.97 -> 0.44).
    It now has them, and scikit-learn's own check refuses the reordered columns."""
    pd = pytest.importorskip("pandas")
    from cli_in_process import run_cli

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)) * [1.0, 3.0, 0.5]
    y = (X[:, 0] - X[:, 1] / 3 > 0).astype(int)
    frame = pd.DataFrame(X, columns=["age", "income", "score"])
    frame.insert(1, "label", y)
    frame.to_csv(tmp_path / "table.csv", index=False)
    done = run_cli("train", "--dataset", tmp_path / "table.csv", "--label", "label", "--epochs", "2",
                   "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    est = NeuralNetClassifier.load(tmp_path / "run" / "model.safetensors")
    assert est.feature_names_in_.tolist() == ["age", "income", "score"]
    columns = frame.drop(columns="label")
    assert est.predict(columns).shape == (120,)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        est.predict(columns[["score", "income", "age"]])


def test_a_header_that_does_not_fit_the_network_is_a_damaged_file(tmp_path):
    import deltaprop as dp

    X, y = _binary()
    est = NeuralNetClassifier((3,), max_iter=2, random_state=0).fit(X, y)
    path = dp.save(est.net_, tmp_path / "m.safetensors", class_names=["0", "1"],
                   extra={"classes_kind": "i", "feature_names": ["a", "b"]})
    with pytest.raises(dp.ModelFileError, match="names 2 input columns, the network takes 4"):
        NeuralNetClassifier.load(path)


@pytest.mark.parametrize("hidden", [["Sigmoid", "Tanh"], [], ["ReLU"]], ids=["two-units", "none-then-relu", "relu"])
def test_a_loaded_models_hidden_units_are_read_one_per_layer(tmp_path, hidden):
    """activation is read per hidden layer as the first unit after its Dense (none there is
    the identity): two units after one Dense read as two layers' names (partial_fit raised
    'activation lists 2 names for 1 hidden layers'), and a Dense straight into a Dense read
    as the next layer's ReLU, which partial_fit then inserted."""
    from deltaprop.layers import LAYERS, Dense, ReLU, Softmax

    X, y = _three_classes()
    X = (X - X.mean(0)) / X.std(0)
    first = [Dense(4, 6)] + [LAYERS[kind]() for kind in hidden]
    path = _saved_network(tmp_path, first + [Dense(6, 5), ReLU(), Dense(5, 3), Softmax()], X, y, "units.safetensors")
    est = NeuralNetClassifier.load(path)
    before = est.predict_proba(X)
    est.set_params(learning_rate_init=1e-9).partial_fit(X, y)
    np.testing.assert_allclose(est.predict_proba(X), before, atol=1e-6)
