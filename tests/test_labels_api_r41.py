"""Targets and optimizers as users hand them to the Python API: class names, pandas
columns, labels numbered from 1, missing labels, and the configs of the scikit-learn
estimators' optimizers."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import optimizers
from deltaprop.optimizers import optimizer_from_config
from deltaprop.serialization import load_checkpoint, save_checkpoint

rng = np.random.default_rng(0)
X = rng.normal(size=(40, 4)).astype(np.float32)
Y = rng.integers(0, 3, 40)
NAMES = np.array(["cat", "dog", "emu"])[Y]


@pytest.fixture(scope="module")
def sklearn():
    """deltaprop.sklearn, imported once (scikit-learn's import is most of these tests' time)."""
    return pytest.importorskip("deltaprop.sklearn")


def fit(net=None, X=X, y=Y, loss=None, **kw):
    net = net or dp.mlp([4, 6, 3], seed=0)
    return dp.fit(net, X, y, loss=loss or dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, seed=0,
                  diagnostics=False, **kw)


# -- the scikit-learn estimators' optimizers, from their configs ---------------------------------
def _one_step(opt, seed=1):
    w = dp.Parameter("w", np.ones((3, 2), dtype=np.float32))
    opt.build([w])
    for _ in range(2):
        w.grad[...] = np.random.default_rng(seed).normal(size=(3, 2)).astype(np.float32) * 1e-6
        opt.step()
    return w.value.copy()


def test_the_config_of_the_estimators_adam_rebuilds_that_adam():
    theirs = optimizers.ScikitLearnAdam(lr=0.01, eps=1e-4)
    rebuilt = optimizer_from_config(theirs.config())
    assert type(rebuilt) is optimizers.ScikitLearnAdam and rebuilt.config() == theirs.config()
    # its ε before the bias correction: on tiny gradients it steps unlike deltaprop's own Adam
    assert np.array_equal(_one_step(rebuilt), _one_step(optimizers.ScikitLearnAdam(lr=0.01, eps=1e-4)))
    assert not np.allclose(_one_step(rebuilt), _one_step(dp.Adam(lr=0.01, eps=1e-4)))


def test_the_config_of_the_estimators_sgd_of_momentum_one_and_a_zero_rate_rebuild():
    sgd = optimizer_from_config(optimizers.ScikitLearnSGD(lr=0.1, momentum=1.0).config())
    assert type(sgd) is optimizers.ScikitLearnSGD and sgd.momentum == 1.0
    adam = optimizer_from_config({**optimizers.ScikitLearnAdam().config(), "lr": 0})  # a checkpoint after a cosine to 0
    assert type(adam) is optimizers.ScikitLearnAdam and adam.lr == 0.0


def test_a_scikit_learn_mark_on_another_optimizer_or_not_a_bool_is_refused():
    with pytest.raises(dp.ConfigError, match=r"'scikit_learn': true marks .* SGD or Adam.*'RMSprop'"):
        optimizer_from_config({**dp.RMSprop().config(), "scikit_learn": True})
    with pytest.raises(dp.ConfigError, match=r"'scikit_learn' must be true or false, got 'yes'"):
        optimizer_from_config({**dp.Adam().config(), "scikit_learn": "yes"})


def test_a_checkpoint_of_an_estimators_adam_run_loads_and_resumes(sklearn, tmp_path):
    est = sklearn.NeuralNetClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0, alpha=0.0)
    with pytest.warns(Warning):  # two iterations do not converge
        est.fit(X, NAMES)
    path = save_checkpoint(tmp_path / "run.safetensors", est._state, class_names=list(est.classes_))
    ckpt = load_checkpoint(path)
    assert type(ckpt.optimizer) is optimizers.ScikitLearnAdam and ckpt.class_names == ("cat", "dog", "emu")
    state = ckpt.training_state()
    assert state.optimizer.iterations == est._state.optimizer.iterations
    ids = np.searchsorted(ckpt.class_names, NAMES)
    history = dp.fit(ckpt.net, X, ids, loss=ckpt.loss, optimizer=state.optimizer, resume=state, epochs=3,
                     diagnostics=False)
    assert [r["epoch"] for r in history.records] == [1, 2, 3]


# -- class names: refused by fit, evaluate and validation, naming both ways to train on them --------
@pytest.mark.parametrize("call", ["fit", "evaluate", "validation"])
def test_class_names_are_refused_naming_the_mapping_the_saved_names_and_the_estimator(call, tmp_path):
    net = dp.mlp([4, 6, 3], seed=0)
    run = {"fit": lambda: fit(net, y=NAMES), "evaluate": lambda: dp.evaluate(net, X, list(NAMES)),
           "validation": lambda: fit(net, validation=(X, NAMES))}[call]
    with pytest.raises(dp.DataError) as info:
        run()
    said = str(info.value)
    assert "names, ids = deltaprop.data.encode_labels(y)" in said and "np.unique(y, return_inverse=True)" in said
    assert "deltaprop.data.encode_labels(y_test, names)[1]" in said
    assert "deltaprop.save(net, path, class_names=names)" in said
    assert "deltaprop.sklearn.NeuralNetClassifier" in said
    assert said.startswith("validation y_val: ") == (call == "validation")
    names, ids = dp.data.encode_labels(NAMES)  # the fix it names trains and keeps the names
    fit(net, y=ids)
    dp.save(net, tmp_path / "m.safetensors", class_names=names)
    assert dp.serialization.read_model(tmp_path / "m.safetensors").class_names == ("cat", "dog", "emu")


def test_a_test_sets_names_are_encoded_by_the_training_names_not_its_own():
    names, ids = dp.data.encode_labels(NAMES)
    assert names.tolist() == ["cat", "dog", "emu"] and np.array_equal(names[ids], NAMES)
    # a test set without "cat": by its own np.unique, "dog" would be class 0, cat's output
    _, test_ids = dp.data.encode_labels(["emu", "dog", "emu"], names)
    assert test_ids.tolist() == [2, 1, 2]
    _, by_file = dp.data.encode_labels([3, 1], ("1", "2", "3"))  # a model file's class names are text
    assert by_file.tolist() == [2, 0]
    with pytest.raises(dp.DataError, match=r"row 1 holds the label 'fox', which is none of the classes \(cat, dog, "
                                           r"emu\).*cannot be scored: drop those rows"):
        dp.data.encode_labels(["dog", "fox"], names)


@pytest.mark.parametrize("labels, said", [
    (["cat", "", "dog"], r"row 1 holds '', a missing label"),
    (np.array(["cat", None], dtype=object), r"row 1 holds None, a missing label"),
    ([1.0, np.nan], r"row 1 holds nan, a missing label"),
    (np.array(["cat", "dog", 5, "emu"], dtype=object), r"mix class names and numbers: row 2 holds 5"),
])
def test_encoding_labels_refuses_a_missing_label_and_names_mixed_with_numbers(labels, said):
    with pytest.raises(dp.DataError, match=said):
        dp.data.encode_labels(labels)


def test_a_pandas_category_column_is_told_its_codes_and_categories():
    pd = pytest.importorskip("pandas")
    with pytest.raises(dp.DataError, match=r"y\.cat\.codes, names = y\.cat\.categories"):
        fit(y=pd.Series(NAMES).astype("category"))
    with pytest.raises(dp.DataError, match=r"y\.cat\.codes"):  # binary cross-entropy reads y its own way
        fit(dp.mlp([4, 6, 1], output="sigmoid", seed=0), y=pd.Series(NAMES).astype("category"),
            loss=dp.BinaryCrossEntropy())


def test_a_one_column_table_is_told_to_pass_its_column():
    pd = pytest.importorskip("pandas")
    with pytest.raises(dp.ShapeError, match=r"y\.ravel\(\); of a pandas table, its column df\['label'\]"):
        fit(y=pd.DataFrame({"label": Y})[["label"]])
    assert len(fit(y=pd.DataFrame({"label": Y})["label"])) == 1


# -- labels that are not class ids 0..k-1 ---------------------------------------------------------
def test_labels_numbered_from_1_are_told_to_subtract_1():
    with pytest.raises(dp.DataError, match=r"class label 3 is out of range \(row \d+\).*0\.\.2\. The labels run "
                                           r"from 1 to 3, numbered from 1: pass y - 1") as info:
        fit(y=Y + 1)
    assert "Make the last layer as wide" not in str(info.value)  # a 4th output would never be trained
    with pytest.raises(dp.DataError, match=r"numbered from 1: pass y - 1"):
        dp.evaluate(dp.mlp([4, 6, 3], seed=0), X, Y + 1)


@pytest.mark.parametrize("labels, one", [((-1, 1), "1"), ((1, 2), "2")])
def test_two_labels_other_than_0_and_1_for_one_sigmoid_are_told_how_to_make_them_0_and_1(labels, one):
    y = np.where(Y == 0, labels[0], labels[1])
    net = dp.mlp([4, 6, 1], output="sigmoid", seed=0)
    with pytest.raises(dp.DataError, match=rf"The labels are {labels[0]} and {labels[1]}: .*y = \(y == {one}\)"
                                           r"\.astype\(int\)") as info:
        fit(net, y=y, loss=dp.BinaryCrossEntropy())
    # binary cross-entropy takes no real-valued targets beyond [0, 1]: no advice of a regression
    assert "MeanSquaredError" not in str(info.value) and "Make the last layer" not in str(info.value)
    assert len(fit(net, y=(y == int(one)).astype(int), loss=dp.BinaryCrossEntropy())) == 1


def test_a_class_the_network_has_no_output_for_is_named_in_a_test_set():
    net = dp.mlp([4, 6, 3], seed=0)
    y = np.where(np.arange(40) == 7, 5, Y)
    with pytest.raises(dp.DataError, match=r"class label 5 is out of range \(row 7\).*no output for cannot be "
                                           r"scored: drop them"):
        dp.evaluate(net, X, y)


# -- missing and fractional labels -----------------------------------------------------------------
def test_a_missing_label_names_its_row_and_how_to_drop_it():
    y = Y.astype(float)
    y[[5, 9]] = np.nan
    with pytest.raises(dp.DataError, match=r"whole numbers .* row 5 holds nan \(and 1 other rows\): a missing label"
                                           r".*keep = ~np\.isnan\(y\); X, y = X\[keep\], y\[keep\]"):
        fit(y=y)
    keep = ~np.isnan(y)
    assert len(fit(X=X[keep], y=y[keep])) == 1


def test_a_missing_label_of_a_nullable_pandas_column_is_a_missing_label():
    pd = pytest.importorskip("pandas")
    y = pd.Series(Y, dtype="Int64")
    y[3] = pd.NA
    for loss in (dp.CrossEntropy(), dp.MeanSquaredError()):
        with pytest.raises(dp.DataError, match=r"row 3 holds nan: a missing label"):
            fit(y=y, loss=loss)


def test_a_fractional_label_names_its_row_and_value():
    y = Y.astype(float)
    y[11] = 0.5
    with pytest.raises(dp.DataError, match=r"whole numbers \(class ids 0, 1, 2, \.\.\.\), but row 11 holds 0\.5\. "):
        fit(y=y)


# -- the scikit-learn estimators: labels their sorting into classes_ cannot take ----------------
@pytest.mark.parametrize("odd, said", [(None, r"a missing label \(None\) in row 3"),
                                       (np.nan, r"a missing label \(nan\) in row 3"),
                                       (5, r"mixes class names and other labels: row 3 holds 5 \(int\) where others "
                                           r"are like '\w+' \(str\).*y\.astype\(str\)")])
def test_the_classifier_names_a_missing_label_or_a_number_among_names(sklearn, odd, said):
    y = NAMES.astype(object)
    y[3] = odd
    with pytest.raises(dp.DataError, match=said):
        sklearn.NeuralNetClassifier(hidden_layer_sizes=(3,), max_iter=1).fit(X, y)


def test_the_regressor_given_class_names_names_the_classifier(sklearn):
    with pytest.raises(dp.DataError, match=r"y holds '(cat|dog|emu)' \(row 0\), text, but NeuralNetRegressor predicts "
                                           r"numbers: for class names use NeuralNetClassifier"):
        sklearn.NeuralNetRegressor(hidden_layer_sizes=(3,), max_iter=1).fit(X, NAMES)


def test_a_bad_sample_weight_names_its_row():
    w = np.ones(40)
    w[6] = np.nan
    with pytest.raises(dp.DataError, match=r"finite numbers >= 0 .*; row 6 holds nan: a missing weight"):
        fit(sample_weight=w)
    w[6] = -2
    with pytest.raises(dp.DataError, match=r"row 6 holds -2$"):
        fit(sample_weight=w)


# -- rows of different lengths ---------------------------------------------------------------------
def test_ragged_rows_of_x_or_of_one_hot_targets_name_the_first_odd_row():
    rows = X.tolist()
    rows[5] = rows[5][:3]
    with pytest.raises(dp.DataError, match=r"row 5 holds 3 values where row 0 holds 4 values; give every row of X"):
        dp.mlp([4, 6, 3], seed=0).predict(rows)
    one_hot = np.eye(3, dtype=int)[Y].tolist()
    one_hot[39] = one_hot[39][:2]
    with pytest.raises(dp.DataError, match=r"targets cannot be read .*row 39 holds 2 values where row 0 holds 3 "
                                           r"values; give every row of y"):
        fit(y=one_hot)
