"""A newcomer's mistakes with the Python API get a typed error that names the problem and
the fix: one example shaped as an image, a 1-D X for a one-feature network, examples as
columns, class names as labels, a column of ids, probabilities given to the metrics, and a
layer's backward called before its forward."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp

rng = np.random.default_rng(0)
X = rng.standard_normal((40, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64)


def fit(net=None, X=X, y=Y, **kw):
    kw.setdefault("loss", dp.CrossEntropy())
    return dp.fit(net or dp.mlp([4, 6, 2], seed=0), X, y, optimizer=dp.SGD(lr=0.1), epochs=1, **kw)


# -- X ------------------------------------------------------------------------------------
def test_one_image_is_told_to_be_one_row_not_a_network_of_its_width():
    net = dp.mlp([784, 10, 10], seed=0)
    with pytest.raises(dp.ShapeError, match=r"\(28, 28\) holds 784 values.*X\.reshape\(1, -1\)") as info:
        net.predict(np.zeros((28, 28)))
    assert "Dense(28" not in str(info.value)  # a 28-input network is not what was meant
    assert net.predict(np.zeros((28, 28)).reshape(1, -1)).shape == (1,)  # the fix it names works


def test_a_1d_x_for_a_one_feature_network_is_told_to_be_a_column():
    net = dp.mlp([1, 4, 2], seed=0)
    for call in (lambda: net.predict(X[:, 0]), lambda: fit(net, X=X[:, 0])):
        with pytest.raises(dp.ShapeError, match=r"2-D \(examples, features\).*40 examples.*X\.reshape\(-1, 1\)"):
            call()
    assert net.predict(X[:, 0].reshape(-1, 1)).shape == (40,)


def test_a_1d_x_of_the_wrong_length_says_it_is_read_as_one_example():
    with pytest.raises(dp.ShapeError, match=r"one example, which needs the network's 4 features, not 5"):
        dp.mlp([4, 6, 2], seed=0).predict(np.zeros(5))


def test_examples_given_as_columns_are_told_to_transpose():
    with pytest.raises(dp.ShapeError, match=r"40 features.*takes 4.*rows look like the features.*X\.T"):
        fit(X=X.T)


def test_a_plain_width_mismatch_still_names_the_network_of_that_width():
    with pytest.raises(dp.ShapeError, match=r"X has 3 features.*takes 4.*Dense\(3, \.\.\.\)") as info:
        fit(X=X[:, :3])
    assert "X.T" not in str(info.value) and "reshape(1, -1)" not in str(info.value)


# -- labels -------------------------------------------------------------------------------
def test_class_names_as_labels_name_the_mapping_to_ids():
    names = np.where(Y == 1, "cat", "dog")
    with pytest.raises(dp.DataError, match=r"targets must be numbers.*such as '(cat|dog)'.*np\.unique\(y, "
                                           r"return_inverse=True\)"):
        fit(y=names)
    _, ids = np.unique(names, return_inverse=True)
    assert len(fit(y=ids)) == 1  # the fix it names trains


def test_a_pandas_category_column_is_named_as_class_names():
    pd = pytest.importorskip("pandas")
    with pytest.raises(dp.DataError, match=r"dtype object \(such as '(cat|dog)'\).*np\.unique"):
        fit(y=pd.Series(np.where(Y == 1, "cat", "dog")).astype("category"))


def test_numbers_written_as_text_are_told_to_be_converted():
    with pytest.raises(dp.DataError, match=r"such as '[01]'\): convert them to numbers.*np\.asarray\(y, dtype=float\)"):
        fit(y=Y.astype(str))
    assert len(fit(y=np.asarray(Y.astype(str), dtype=float))) == 1


def test_a_column_of_ids_for_several_outputs_names_ravel():
    for loss in (dp.CrossEntropy(), dp.MeanSquaredError()):
        net = dp.mlp([4, 6, 2], output="softmax" if isinstance(loss, dp.CrossEntropy) else "sigmoid", seed=0)
        with pytest.raises(dp.ShapeError, match=r"shape \(40, 1\), one column.*2 outputs.*y\.ravel\(\)"):
            fit(net, y=Y[:, None], loss=loss)


# -- metrics ------------------------------------------------------------------------------
def test_accuracy_of_1d_probabilities_names_the_class_ids_to_pass():
    net = dp.mlp([4, 6, 2], seed=0)
    p1 = net.predict_proba(X)[:, 1]
    with pytest.raises(dp.DataError, match=r"y_pred must hold whole-number class ids, not fractions such as "
                                           r"0\.\d+; if they are probabilities of class 1.*net\.predict\(X\)"):
        dp.accuracy(Y, p1)
    with pytest.raises(dp.DataError, match=r"y_true .*fractions.*\(p >= 0\.5\)\.astype\(int\)"):
        dp.accuracy(p1, Y)
    with pytest.raises(dp.DataError, match=r"fractions such as 2\.5") as info:  # no probabilities: no such advice
        dp.accuracy(Y, np.full(40, 2.5))
    assert "probabilities" not in str(info.value)


# -- layers used on their own -------------------------------------------------------------
def _built_dense():
    layer = dp.Dense(4, 3)
    layer.build(4, np.float64, np.random.default_rng(0))
    return layer


@pytest.mark.parametrize("make", [_built_dense, dp.Sigmoid, dp.Tanh, dp.ReLU, dp.LeakyReLU, dp.Softmax],
                         ids=["Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax"])
def test_a_layers_backward_before_its_forward_is_a_typed_error(make):
    layer = make()
    with pytest.raises(dp.ConfigError, match=r"backward was called before its forward.*layer\.forward\(x, train=True\)"):
        layer.backward(np.ones((5, 3)))
    x = np.random.default_rng(1).standard_normal((5, 4 if isinstance(layer, dp.Dense) else 3))
    a = layer.forward(x, train=True)
    assert layer.backward(np.ones_like(a)).shape == x.shape  # after a forward it runs as before


# -- one optimizer for two networks -------------------------------------------------------
def test_a_resume_after_the_optimizer_trained_another_network_is_refused():
    """fit(A, opt), fit(B, opt), fit(A, opt, resume=A's state) used to go on from zeroed
    moments and step count (Adam's bias correction restarted): not the run it continued."""
    states = []
    grab = dp.callbacks.LambdaCallback(on_train_end=states.append)
    train = dict(loss=dp.CrossEntropy(), batch_size=16, seed=0, threads=1, diagnostics=False)
    a, opt = dp.mlp([4, 6, 2], seed=0), dp.Adam(lr=0.01)
    dp.fit(a, X, Y, optimizer=opt, epochs=1, callbacks=[grab], **train)
    dp.fit(dp.mlp([4, 6, 2], seed=1), X, Y, optimizer=opt, epochs=1, **train)
    before = [p.value.copy() for p in a.parameters()]
    with pytest.raises(dp.ConfigError, match=r"Adam moments of this run.*bound to another network.*own optimizer"):
        dp.fit(a, X, Y, optimizer=opt, epochs=2, resume=states[0], **{k: v for k, v in train.items() if k != "seed"})
    assert all(np.array_equal(p.value, w) for p, w in zip(a.parameters(), before))  # nothing trained


def test_a_resume_with_the_optimizer_still_on_its_network_goes_on():
    states = []
    grab = dp.callbacks.LambdaCallback(on_train_end=states.append)
    train = dict(loss=dp.CrossEntropy(), batch_size=16, threads=1, diagnostics=False)
    a, opt = dp.mlp([4, 6, 2], seed=0), dp.Adam(lr=0.01)
    dp.fit(a, X, Y, optimizer=opt, epochs=1, seed=0, callbacks=[grab], **train)
    assert len(dp.fit(a, X, Y, optimizer=opt, epochs=2, resume=states[0], **train)) == 2
    plain = dp.mlp([4, 6, 2], seed=0)  # SGD without momentum keeps no moments: rebinding loses nothing
    sgd = dp.SGD(lr=0.1)
    dp.fit(plain, X, Y, optimizer=sgd, epochs=1, seed=0, callbacks=[grab], **train)
    dp.fit(dp.mlp([4, 6, 2], seed=1), X, Y, optimizer=sgd, epochs=1, seed=0, **train)
    assert len(dp.fit(plain, X, Y, optimizer=sgd, epochs=2, resume=states[1], **train)) == 2


# -- float64 data into a float32 network ---------------------------------------------------
def test_fit_warns_where_float32_rounds_a_feature_away():
    """A reading near one million that varies by 0.01 is 2 distinct float32 values: a float32
    network (a Standardization layer in front too) trained at chance, and nothing said why."""
    z = np.random.default_rng(3).standard_normal((200, 2))
    X64, y = 1e6 + 0.01 * z, (z[:, 0] > 0).astype(np.int64)
    assert np.unique(X64[:, 0].astype(np.float32)).size < 5  # what the cast leaves of 200 values
    net = dp.Network([dp.Standardization.fit(X64, per_feature=True), dp.Dense(2, 2), dp.Softmax()], seed=0)
    with pytest.warns(UserWarning, match=r"X's column 0 holds 999999\.9\d* to 1000000\.0\d*: float32.*rounds these "
                                         r"values by up to 0\.0[23]\d*, \d+\.\d% of that range.*dtype='float64'") as record:
        fit(net, X=X64, y=y)
    assert record[0].filename == __file__  # said at the caller's fit
    integers = 2**40 + np.arange(400).reshape(200, 2)  # whole numbers beyond float32's 2^24
    said = r"column [01] holds 1\.09951162778e\+12 to 1\.0995116281\de\+12.*more than that whole range"
    with pytest.warns(UserWarning, match=said):
        fit(dp.mlp([2, 3, 2], seed=0), X=integers, y=y)


def test_fit_says_nothing_where_the_cast_keeps_the_features():
    import warnings

    z = np.random.default_rng(3).standard_normal((200, 2))
    y = (z[:, 0] > 0).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(X=np.c_[z, 1e3 + z], y=y)  # an offset float32 keeps to 1e-5 of the range
        fit(X=np.c_[z, 1e6 + 0.01 * z], y=y, net=dp.mlp([4, 6, 2], seed=0, dtype="float64"))  # float64 network
        fit(X=np.arange(800).reshape(200, 4) * 1000, y=y)  # whole numbers float32 holds exactly
        fit(X=np.c_[z, np.full((200, 2), 1e9)], y=y)  # constant columns lose nothing


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_the_command_line_says_it_once_in_its_data_note(tmp_path):
    """An .npz's float64 x reaches fit uncast; the data reader's note already says what float32
    loses, so the command line prints no Python warning of it besides."""
    from cli_in_process import run_cli

    rng = np.random.default_rng(0)
    x = np.c_[1e9 + rng.uniform(0, 50, 100), rng.normal(size=100)]
    np.savez(tmp_path / "ts.npz", x=x, y=(x[:, 0] > 1e9 + 25).astype(np.int64))
    r = run_cli("train", "--dataset", tmp_path / "ts.npz", "--epochs", "1", "--out", tmp_path / "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "float32 keeps these values only to within" in r.stderr
    assert "UserWarning" not in r.stderr and "the network's dtype" not in r.stderr, r.stderr


def test_no_labels_and_one_width_are_named_as_such():
    with pytest.raises(dp.DataError, match=r"the targets are None: pass y"):
        fit(y=None)
    with pytest.raises(dp.DataError, match=r"the targets are None"):
        dp.evaluate(dp.mlp([4, 6, 2], seed=0), X, None)
    for sizes in (784, "784,50,10"):  # TypeError 'int' object is not iterable; a string's digits as widths
        with pytest.raises(dp.ConfigError, match=r"widths of its layers as a list.*mlp\(\[784, 50, 10\]\)"):
            dp.mlp(sizes)


def test_save_makes_the_folder_and_load_names_what_is_not_a_model(tmp_path):
    """README: save creates the folders its path names; load of a missing file or of one that
    is no model is a ModelFileError; a parent that is a file is the system's OSError."""
    net = dp.mlp([4, 6, 2], seed=0)
    path = dp.save(net, tmp_path / "new" / "deeper" / "model.safetensors")
    assert np.array_equal(dp.load(path).predict(X), net.predict(X))
    (tmp_path / "notes.txt").write_text("not a model\n")
    for bad in (tmp_path / "missing" / "model.safetensors", tmp_path / "notes.txt"):
        with pytest.raises(dp.ModelFileError, match=str(bad.name)):
            dp.load(bad)
    with pytest.raises(OSError, match="notes.txt"):
        dp.save(net, tmp_path / "notes.txt" / "model.safetensors")


def test_whole_numbers_float32_holds_exactly_are_no_rounding():
    """Half a float32 spacing at 1e6 is 0.03, a share of a range of 10 over the 0.1%: but ids
    1e6 .. 1e6 + 10 held as float64 are exact in float32, and nothing is rounded."""
    import warnings

    ids = 1e6 + np.arange(400.0).reshape(200, 2) % 11
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(dp.mlp([2, 3, 2], seed=0), X=ids, y=(np.arange(200) % 2))


def test_a_regressors_predict_is_a_column_as_readme_says():
    """README: a regressor's predict gives (n, 1) for one output, to be compared with
    y.reshape(-1, 1); a 1-D y would broadcast to (n, n) and give a wrong squared error."""
    y = (2 * X[:, 0] + 1).astype(np.float64)
    net = dp.mlp([4, 6, 1], activation="tanh", output="identity", seed=0)
    dp.fit(net, X, y, loss=dp.MeanSquaredError(classification=False), optimizer=dp.SGD(lr=0.05), epochs=5,
           batch_size=8, seed=0, threads=1, diagnostics=False)
    pred = net.predict(X)
    assert pred.shape == (40, 1)
    mse = float(np.mean((pred - y.reshape(-1, 1)) ** 2))
    assert mse == pytest.approx(dp.evaluate(net, X, y)["loss"], rel=1e-5)
    assert float(np.mean((pred - y) ** 2)) != pytest.approx(mse, rel=1e-3)  # the broadcast README warns of


# -- pandas tables --------------------------------------------------------------------------
def test_a_table_of_numbers_and_booleans_trains_as_numbers():
    """pd.get_dummies gives bool columns: a table of floats and booleans, or of nullable
    Int64 columns, is an object array to NumPy, and was refused as 'must hold numbers'."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2] > 0, "d": X[:, 3] > 0})
    plain = frame.astype(np.float64).to_numpy()
    nets = [dp.mlp([4, 6, 2], seed=0) for _ in range(2)]
    fit(nets[0], X=plain, seed=0, threads=1)
    fit(nets[1], X=frame, seed=0, threads=1)
    np.testing.assert_array_equal(nets[1].layers[0].W.value, nets[0].layers[0].W.value)  # trained as the numbers
    assert np.array_equal(nets[1].predict(frame), nets[1].predict(plain))
    counts = pd.DataFrame({"n": np.arange(40), "m": np.arange(40) % 7}).astype("Int64")
    fit(dp.mlp([2, 3, 2], seed=0), X=counts, y=pd.Series(Y).astype("Int64"))


def test_a_table_with_text_or_a_missing_value_names_the_column_or_row():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"age": np.arange(40.0), "city": ["a", "b"] * 20, "size": np.ones(40)})
    with pytest.raises(dp.DataError, match=r"columns that are not numbers: 'city' \((str|object)\).*"
                                           r"pd\.get_dummies\(X, columns=\['city'\], dtype=float\)"):
        fit(dp.mlp([3, 4, 2], seed=0), X=frame)
    holes = pd.DataFrame({"n": pd.array([1, 2, None] + [3] * 37, dtype="Int64"), "m": np.ones(40)})
    with pytest.raises(dp.DataError, match=r"X contains NaN or infinity \(first in row 2\)"):
        fit(dp.mlp([2, 3, 2], seed=0), X=holes)


def test_bad_regression_targets_name_their_row():
    regression = dict(net=dp.mlp([4, 6, 1], output="identity", seed=0), loss=dp.MeanSquaredError(classification=False))
    y = 2 * X[:, 0].astype(np.float64)
    y[7] = np.nan
    with pytest.raises(dp.DataError, match=r"targets contain NaN or infinity \(first in row 7\)"):
        fit(y=y, **regression)
    y[7] = 1e300  # finite, but float32 has no such number: it was reported as NaN or infinity
    with pytest.raises(dp.DataError, match=r"targets hold values too large for float32 \(first in row 7\).*float64"):
        fit(y=y, **regression)


# -- save's arguments ---------------------------------------------------------------------
def test_save_refuses_one_string_as_class_names(tmp_path):
    """save(net, path, class_names="cat") on three outputs named them 'c', 'a' and 't'."""
    net = dp.mlp([4, 6, 3], seed=0)
    with pytest.raises(dp.ConfigError, match=r"class_names must be a list of names.*not the one string 'cat'"):
        dp.save(net, tmp_path / "m.safetensors", class_names="cat")
    assert not (tmp_path / "m.safetensors").exists()
    dp.save(net, tmp_path / "m.safetensors", class_names=["cat", "dog", "owl"])


@pytest.mark.parametrize("scaling", [255, {"kind": "unit"}, "unit"])
def test_save_names_the_input_scaling_it_takes(tmp_path, scaling):
    """A bad input_scaling argument was a ModelFileError ('a model file is malformed') with no
    example of the mapping save takes."""
    with pytest.raises(dp.ConfigError, match=r"input_scaling: .*\{'kind': 'unit', 'max': 255\}.*dp\.Rescaling\(1/255\)"):
        dp.save(dp.mlp([4, 6, 3], seed=0), tmp_path / "m.safetensors", input_scaling=scaling)
