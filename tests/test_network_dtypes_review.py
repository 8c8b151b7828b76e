"""Network and layer API edges that gave silently wrong answers: a softmax over one unit
(a constant 1, one class for every input), layers used on their own computing in a dtype
other than their input's, and ``predict`` given a threshold it does not use."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError, ModelFileError, ShapeError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 3))


# -- a softmax over a single unit is 1.0 whatever its input ------------------------------------
@pytest.mark.parametrize("make", [
    lambda: [dp.Dense(3, 1), dp.Softmax()],
    lambda: [dp.Dense(3, 4), dp.ReLU(), dp.Dense(4, 1), dp.Dropout(0.2), dp.Softmax()],
    lambda: [dp.Dense(3, 1), dp.Softmax(), dp.Dense(1, 2), dp.Softmax()],
    lambda: [dp.Dense(3, 1), dp.Sigmoid(), dp.Softmax()],
], ids=["output", "after dropout", "hidden", "sigmoid+softmax"])
def test_a_softmax_over_one_unit_is_refused_when_built_naming_the_layer_and_the_fix(make):
    layers = make()
    index = next(i for i, layer in enumerate(layers) if isinstance(layer, dp.Softmax))
    with pytest.raises(ConfigError, match=rf"layer {index} \(Softmax\).* 1 unit") as refused:
        dp.Network(layers, seed=0)
    assert "Sigmoid" in str(refused.value) and "Dense" in str(refused.value)


def test_a_softmax_over_a_single_input_feature_is_refused():
    with pytest.raises(ConfigError, match=r"layer 0 \(Softmax\)"):
        dp.Network([dp.Softmax(), dp.Dense(1, 2), dp.Softmax()], seed=0)


def test_mlp_with_one_softmax_output_is_refused_and_one_sigmoid_output_is_not():
    with pytest.raises(ConfigError, match="Sigmoid"):
        dp.mlp([3, 4, 1], seed=0)
    with pytest.raises(ConfigError, match="Sigmoid"):
        dp.mlp([3, 1], output="sigmoid+softmax", seed=0)
    net = dp.mlp([3, 4, 1], output="sigmoid", seed=0)
    assert net.predict_proba(X).shape == (6, 1)


def test_a_standalone_softmax_built_over_one_unit_is_refused():
    with pytest.raises(ConfigError, match="1 unit"):
        dp.Softmax().build(1, np.float32, np.random.default_rng(0))


def test_a_model_file_with_a_softmax_over_one_unit_is_refused_on_load(tmp_path):
    # a file an earlier version wrote: it saved such a network, which predicted class 0 for every row
    from model_file_edits import edit_metadata

    net = dp.Network([dp.Dense(3, 1), dp.Identity()], seed=0)
    path = dp.save(net, tmp_path / "m.safetensors")
    def to_softmax(meta):
        meta["architecture"] = meta["architecture"].replace('"Identity"', '"Softmax"')

    edited = edit_metadata(path, tmp_path / "edited.safetensors", to_softmax)
    with pytest.raises(ModelFileError, match=r"Softmax.*1 unit"):
        dp.load(edited)


# -- layers used on their own compute in a float dtype they were given ------------------------
def _reference(name, z):
    """The definitions in float64."""
    return {"Sigmoid": 1.0 / (1.0 + np.exp(-z)), "Tanh": np.tanh(z), "ReLU": np.maximum(z, 0.0),
            "LeakyReLU": np.where(z > 0, z, 0.01 * z), "Identity": z,
            "Softmax": np.exp(z - z.max(axis=1, keepdims=True)) / np.exp(z - z.max(axis=1, keepdims=True)).sum(
                axis=1, keepdims=True)}[name]


ACTIVATIONS = [dp.Sigmoid, dp.Tanh, dp.ReLU, dp.LeakyReLU, dp.Identity, dp.Softmax]


@pytest.mark.parametrize("cls", ACTIVATIONS, ids=lambda c: c.__name__)
def test_an_activation_never_built_keeps_a_float64_input_float64(cls):
    # dp.Softmax().forward(x) of a float64 x was float32 (the float32 default of a layer no
    # network built), about 1e-8 off, where Identity and Dropout gave float64
    z = RNG.normal(size=(4, 3)) * 3
    out = cls().forward(z)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, _reference(cls.__name__, z), rtol=1e-12, atol=1e-300)
    out32 = cls().forward(z.astype(np.float32))
    assert out32.dtype == np.float32


@pytest.mark.parametrize("cls", ACTIVATIONS + [dp.Dropout], ids=lambda c: c.__name__)
def test_an_activation_never_built_computes_integers_and_booleans_in_float32(cls):
    # tanh of a boolean array was computed in float16 (tanh(True) = 0.76171875, not
    # 0.7615942); Identity and Dropout handed integers back as integers
    for x in (np.array([[True, False, True]]), np.array([[1, -2, 3]]), np.float16([[0.5, -1.0, 2.0]])):
        out = cls().forward(x)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, cls().forward(x.astype(np.float32)))


@pytest.mark.parametrize("cls", ACTIVATIONS + [dp.Dropout], ids=lambda c: c.__name__)
def test_a_built_layer_computes_in_its_own_dtype_as_a_network_does(cls):
    rng = np.random.default_rng(0)
    z32 = (RNG.normal(size=(4, 3)) * 3).astype(np.float32)
    wide = cls().forward(z32.astype(np.float64)).copy()
    layer = cls()
    layer.build(3, np.float64, rng)  # float32 input: computed in float64, not in float32 and widened
    out = layer.forward(z32)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, wide)
    layer = cls()
    layer.build(3, np.float32, rng)  # float64 input to a float32 layer: float32, as a float32 network gives
    assert layer.forward(z32.astype(np.float64)).dtype == np.float32


def test_a_built_dense_layer_casts_its_input_to_its_dtype():
    layer = dp.Dense(3, 2)
    layer.build(3, np.float64, np.random.default_rng(0))
    x32 = RNG.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer.forward(x32), x32.astype(np.float64) @ layer.W.value + layer.b.value)
    assert layer.forward(np.array([[1, 0, 1]])).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float16, np.int32, "complex128", "bfloat16"])
@pytest.mark.parametrize("make", [dp.ReLU, dp.Softmax, lambda: dp.Dense(3, 2), dp.Dropout], ids=["ReLU", "Softmax",
                                                                                                "Dense", "Dropout"])
def test_building_a_layer_in_a_dtype_other_than_float32_or_float64_is_refused(make, dtype):
    # Dense(3, 2).build(3, np.int32, rng) truncated its Glorot weights to integers (all 0)
    with pytest.raises(ConfigError, match="float32' or 'float64"):
        make().build(3, dtype, np.random.default_rng(0))


def test_a_dropout_layer_no_network_built_says_so_in_training():
    with pytest.raises(ConfigError, match="Network"):
        dp.Dropout(0.5).forward(np.ones((2, 3)), train=True)
    np.testing.assert_array_equal(dp.Dropout(0.5).forward(np.ones((2, 3))), np.ones((2, 3)))


@pytest.mark.parametrize("first", [dp.ReLU, dp.Softmax, dp.Tanh, dp.Identity, lambda: dp.Dropout(0.3)])
def test_a_network_whose_first_layer_is_an_activation_keeps_float64(first):
    net = dp.Network([first(), dp.Dense(3, 2), dp.Sigmoid()], seed=0, dtype="float64")
    x = RNG.normal(size=(5, 3))
    for out in (net.forward(x), net.predict_proba(x), net.forward(x.astype(np.float32)), net.forward(x > 0)):
        assert out.dtype == np.float64
    name = net.layers[0].type_name
    first_out = x if name == "Dropout" else _reference(name, x)
    np.testing.assert_allclose(net.forward(x), 1 / (1 + np.exp(-(first_out @ net.layers[1].W.value))), rtol=1e-12)


# -- predict's threshold ------------------------------------------------------------------------
def test_a_threshold_given_to_a_network_of_several_outputs_is_refused_not_ignored():
    # predict(X, threshold=0.9) on a softmax network returned the argmax, as if no threshold
    # had been given
    net = dp.mlp([3, 4, 2], seed=0)
    with pytest.raises(ConfigError, match=r"2 outputs.*predict_proba"):
        net.predict(X, threshold=0.9)
    np.testing.assert_array_equal(net.predict(X), net.predict_proba(X).argmax(axis=1))
    single = dp.mlp([3, 4, 1], output="sigmoid", seed=0)
    np.testing.assert_array_equal(single.predict(X, threshold=0.9), single.predict_proba(X)[:, 0] >= 0.9)


def test_dtype_none_is_refused_rather_than_read_as_float64():
    # np.dtype(None) is float64: Network(..., dtype=None) and mlp(..., dtype=None) computed in
    # float64, twice the memory and time of the float32 default, without a word
    with pytest.raises(ConfigError, match="float32' or 'float64', got None"):
        dp.Network([dp.Dense(3, 2)], dtype=None)
    with pytest.raises(ConfigError, match="got None"):
        dp.mlp([3, 4, 2], dtype=None)
    with pytest.raises(ConfigError, match="got None"):
        dp.ReLU().build(3, None, np.random.default_rng(0))
    assert dp.Network.from_config(dp.mlp([3, 4, 2], dtype="float64").config()).dtype == np.float64


# -- layers used on their own read a batch of rows, as a network does ----------------------------
def test_a_built_dense_layer_reads_one_example_as_one_row_not_as_a_column_of_rows():
    # Dense(3, 2).forward(np.ones(3)) gave 3 equal rows (x W broadcast into a (3, 2) buffer)
    layer = dp.Dense(3, 2)
    layer.build(3, np.float64, np.random.default_rng(0))
    x = RNG.normal(size=3)
    out = layer.forward(x)
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out[0], x @ layer.W.value + layer.b.value, rtol=1e-12)


def test_a_dense_layer_given_the_wrong_width_names_both_widths():
    layer = dp.Dense(3, 2)
    layer.build(3, np.float32, np.random.default_rng(0))
    for x in (np.ones((2, 4), np.float32), np.ones(4)):
        with pytest.raises(ShapeError, match=r"Dense\(n_in=3.* 4 features"):
            layer.forward(x)


def test_a_softmax_reads_a_1d_input_as_one_row():
    # dp.Softmax().forward(np.array([1000.0, 0.0])) raised "not enough values to unpack"
    for z in (np.array([1000.0, 0.0]), RNG.normal(size=4) * 3):
        out = dp.Softmax().forward(z)
        assert out.shape == (1, z.size)
        np.testing.assert_allclose(out[0], _reference("Softmax", z[None])[0], rtol=1e-12, atol=1e-290)
    for bad in (np.ones((2, 3, 4)), np.float64(1.0)):
        with pytest.raises(ShapeError, match="rows"):
            dp.Softmax().forward(bad)
    for one_score in (np.ones((5, 1), np.float32), [[2.0]]):  # a constant 1 a row
        with pytest.raises(ConfigError, match="1 unit"):
            dp.Softmax().forward(one_score)


def test_a_dense_layer_flattens_images_as_a_network_does():
    layer = dp.Dense(12, 2)
    layer.build(12, np.float64, np.random.default_rng(0))
    images = RNG.normal(size=(2, 3, 4))
    np.testing.assert_allclose(layer.forward(images), images.reshape(2, 12) @ layer.W.value, rtol=1e-12)


# -- predict on outputs that are no numbers -------------------------------------------------------
def test_predict_refuses_nan_outputs_instead_of_calling_them_class_0():
    # a NaN weight made every output NaN, and predict answered class 0 for every row
    net = dp.mlp([3, 4, 3], seed=0)
    net.layers[0].W.value[0, 0] = np.nan
    with pytest.raises(dp.DataError, match="row 0 of X"):
        net.predict(X)
    assert np.isnan(net.predict_proba(X)).all()  # the outputs themselves stay readable


def test_predict_refuses_outputs_that_overflow_float32():
    net = dp.mlp([3, 4, 3], activation="relu", seed=0)
    for layer in net.layers:
        if isinstance(layer, dp.Dense):
            layer.W.value *= np.float32(1e25)
    x = np.vstack([np.zeros((1, 3)), X])  # row 0 is finite: the message names the first bad one
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(dp.DataError, match=r"row [1-9].*float64"):
        net.predict(x)
    single = dp.mlp([3, 1], output="identity", seed=0)  # an infinite score: not class 1
    single.layers[0].b.value[...] = np.inf
    with pytest.raises(dp.DataError, match="NaN or infinite"):
        single.predict(X)


# -- inputs whose numbers are not what they seem -------------------------------------------------
def test_a_masked_array_with_masked_entries_is_refused_not_read_under_the_mask():
    # np.asarray drops the mask: the network predicted from the values hidden under it
    net = dp.mlp([3, 4, 3], seed=0)
    masked = np.ma.masked_array(X, mask=np.zeros_like(X, bool))
    np.testing.assert_array_equal(net.predict(masked), net.predict(X))  # nothing masked: read as it is
    masked[2, 1] = np.ma.masked
    for call in (net.predict, net.predict_proba, net.forward):
        with pytest.raises(dp.DataError, match=r"masked.*row 2.*filled"):
            call(masked)


def test_durations_are_refused_rather_than_read_as_counts_of_their_unit():
    # timedelta64 counts as a number type: 1 minute was 1 in minutes and 60 in seconds
    net = dp.mlp([3, 4, 3], seed=0)
    for unit in ("s", "m"):
        with pytest.raises(dp.DataError, match="timedelta64"):
            net.predict(np.array([[1, 2, 3]], dtype=f"m8[{unit}]"))


# -- a first layer another network reuses ------------------------------------------------------
@pytest.mark.parametrize("first", [dp.Tanh, dp.Softmax, dp.ReLU, dp.Identity], ids=lambda c: c.__name__)
def test_a_float64_networks_first_activation_reused_in_a_float32_network_stays_float64(first):
    # an activation before the first Dense is built with no width, so a network built from it
    # (Network([net.layers[0], ...], dtype="float32")) took it as a fresh layer and rebuilt it
    # in place: the float64 network then computed its first layer in float32 (errors ~1e-8)
    x = RNG.normal(size=(5, 3))
    net = dp.Network([first(), dp.Dense(3, 2), dp.Softmax()], dtype="float64", seed=0)
    expected = net.copy().forward(x)
    other = dp.Network([net.layers[0], dp.Dense(3, 2), dp.Softmax()], dtype="float32", seed=0)
    assert other.layers[0] is not net.layers[0]
    assert net.layers[0].dtype == np.float64 and other.layers[0].dtype == np.float32
    np.testing.assert_array_equal(net.forward(x), expected)
    net.loss_and_gradients(dp.CrossEntropy(), x, np.array([0, 1, 0, 1, 1]))
    assert net.trace()[0].output.dtype == np.float64
