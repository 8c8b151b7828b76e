"""Networks built through the Python API in shapes other than mlp's default: unusual layer
stacks, float64 end to end, inputs of other dtypes and layouts, copies, initialisers and
custom initialisers, and gradient checks of each construction."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError, ShapeError
from deltaprop.initializers import glorot_uniform, he_normal, scaled_normal

pd = pytest.importorskip("pandas")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 4))
Y3 = RNG.integers(0, 3, 8)
Y2 = Y3 % 2


def _constructions():
    """(name, layer factory, loss, targets) for stacks other than Dense-activation pairs."""
    return [
        ("single Dense, MSE", lambda: [dp.Dense(4, 3)], dp.MeanSquaredError(), RNG.normal(size=(8, 3))),
        ("no hidden layer", lambda: [dp.Dense(4, 3), dp.Softmax()], dp.CrossEntropy(), Y3),
        ("two activations in a row",
         lambda: [dp.Dense(4, 5), dp.Sigmoid(), dp.Tanh(), dp.Dense(5, 3), dp.Softmax()], dp.CrossEntropy(), Y3),
        ("activation first", lambda: [dp.Tanh(), dp.Dense(4, 3), dp.Softmax()], dp.CrossEntropy(), Y3),
        ("identity output, logits",
         lambda: [dp.Dense(4, 5), dp.Tanh(), dp.Dense(5, 3), dp.Identity()], dp.CrossEntropy(from_logits=True), Y3),
        ("leaky slope 0.3",
         lambda: [dp.Dense(4, 5), dp.LeakyReLU(0.3), dp.Dense(5, 3), dp.Softmax()], dp.CrossEntropy(), Y3),
        ("leaky slope 0", lambda: [dp.Dense(4, 5), dp.LeakyReLU(0.0), dp.Dense(5, 3), dp.Softmax()],
         dp.CrossEntropy(), Y3),
        ("widths of 1", lambda: [dp.Dense(4, 1), dp.Sigmoid(), dp.Dense(1, 1), dp.Sigmoid()],
         dp.BinaryCrossEntropy(), Y2),
        ("single logit", lambda: [dp.Dense(4, 1), dp.Identity()], dp.BinaryCrossEntropy(from_logits=True), Y2),
        ("dropout first", lambda: [dp.Dropout(0.3), dp.Dense(4, 3), dp.Softmax()], dp.CrossEntropy(), Y3),
        ("softmax under MSE", lambda: [dp.Dense(4, 3), dp.Softmax()], dp.MeanSquaredError(), np.eye(3)[Y3]),
    ]


CONSTRUCTIONS = _constructions()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,make,loss,y", CONSTRUCTIONS, ids=[c[0] for c in CONSTRUCTIONS])
def test_each_construction_passes_gradcheck_and_keeps_its_dtype(name, make, loss, y, dtype):
    net = dp.Network(make(), seed=1, dtype=dtype)
    report = dp.gradcheck(net, loss, X, y)
    assert report.passed, report.table()
    net.loss_and_gradients(loss, X, y)
    for p in net.parameters():
        assert p.value.dtype == net.dtype and p.grad.dtype == net.dtype
    for t in net.trace():
        assert t.output is None or t.output.dtype == net.dtype
        assert t.delta is None or t.delta.dtype == net.dtype
    out = net.forward(X)
    assert out.dtype == net.dtype
    np.testing.assert_array_equal(net.predict_proba(X), out)
    np.testing.assert_array_equal(net.predict_proba(X, batch_size=3), out)
    expected = (out[:, 0] >= net.decision_threshold) if out.shape[1] == 1 else out.argmax(axis=1)
    np.testing.assert_array_equal(net.predict(X), expected.astype(np.int64))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_other_input_types_give_the_c_float_answer(dtype):
    net = dp.mlp([4, 5, 3], activation="relu", seed=0, dtype=dtype)
    ref = net.predict_proba(np.ascontiguousarray(X, dtype=dtype))
    wide = np.repeat(X, 2, axis=1)[:, ::2]
    for arr in (np.asfortranarray(X), wide, pd.DataFrame(X), X.tolist()):
        np.testing.assert_allclose(net.predict_proba(arr), ref, rtol=1e-6)
        np.testing.assert_allclose(net.forward(arr), ref, rtol=1e-6)
    ints = (X * 3).astype(int)
    np.testing.assert_array_equal(net.predict_proba(ints), net.predict_proba(ints.astype(dtype)))
    half = X.astype(np.float16)
    np.testing.assert_array_equal(net.predict_proba(half), net.predict_proba(half.astype(dtype)))
    assert net.predict_proba(half).dtype == net.dtype
    with pytest.raises(ShapeError, match="features"):
        net.predict(X.T)


def test_changing_x_after_a_training_forward_leaves_the_gradients_of_that_batch():
    # forward(train=True) kept the caller's own array: zeroing it before backward gave W the
    # gradient of an all-zero batch (silently 0)
    for layers in ([dp.Dense(4, 3), dp.Softmax()], [dp.Identity(), dp.Dense(4, 3), dp.Softmax()]):
        net = dp.Network(layers, seed=0)
        xb = X.astype(np.float32)
        net.loss_and_gradients(dp.CrossEntropy(), xb, Y3)
        expected = [p.grad.copy() for p in net.parameters()]
        net.forward(xb, train=True)
        xb[...] = 0
        net.backward(dp.CrossEntropy(), Y3)
        for p, g in zip(net.parameters(), expected):
            np.testing.assert_allclose(p.grad, g, rtol=1e-6)


def test_copy_is_independent_including_random_state_and_dropout():
    net = dp.Network([dp.Dense(4, 8), dp.ReLU(), dp.Dropout(0.5), dp.Dense(8, 3), dp.Softmax()], seed=3)
    before = [p.value.copy() for p in net.parameters()]
    state = net.rng.bit_generator.state
    other = net.copy()
    assert other.layers[2].rng is other.rng and other.rng is not net.rng
    dp.fit(other, X, Y3, loss=dp.CrossEntropy(), optimizer=dp.SGD(0.1), epochs=2, batch_size=4)
    assert net.rng.bit_generator.state == state
    for p, v in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.value, v)
    twin = net.copy()
    np.testing.assert_array_equal(net.forward(X, train=True), twin.forward(X, train=True))  # same masks next


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_initialisers_have_their_documented_variance(dtype):
    rng = np.random.default_rng(1)
    n_in, n_out = 400, 300
    for W, var in ((he_normal(rng, n_in, n_out, dtype), 2 / n_in),
                   (glorot_uniform(rng, n_in, n_out, dtype), 2 / (n_in + n_out)),
                   (scaled_normal(0.05)(rng, n_in, n_out, dtype), 0.05 ** 2)):
        assert W.dtype == dtype and W.shape == (n_in, n_out)
        assert W.var() == pytest.approx(var, rel=0.03)
        assert abs(W.mean()) < 0.05 * np.sqrt(var)


@pytest.mark.parametrize("bad", [
    lambda rng, n_in, n_out, dtype: rng.standard_normal((n_out, n_in)),  # the seeds' column layout
    lambda rng, n_in, n_out, dtype: np.ones(n_out),
    lambda rng, n_in, n_out, dtype: 0.1,
])
def test_an_initialiser_of_the_wrong_shape_is_refused_when_built(bad):
    # it built, then every forward failed with a bare matmul ValueError
    with pytest.raises(ShapeError, match=r"\(n_in, n_out\) = \(4, 3\)"):
        dp.Network([dp.Dense(4, 3, init=bad)])


def test_an_initialiser_returning_nan_is_refused():
    # every output was NaN, silently
    with pytest.raises(ConfigError, match="NaN or infinite"):
        dp.Network([dp.Dense(4, 3, init=lambda rng, n_in, n_out, dtype: np.full((n_in, n_out), np.nan))])


def test_an_unbuilt_dense_layer_says_so():
    # a bare AttributeError ('NoneType' object has no attribute 'value')
    with pytest.raises(ConfigError, match="no weights yet"):
        dp.Dense(4, 3).forward(X)


def test_forward_of_a_sparse_matrix_names_toarray():
    # "must hold numbers, got dtype object; convert it with np.asarray(..., float)", which
    # does not convert a sparse matrix
    sparse = pytest.importorskip("scipy.sparse")
    net = dp.mlp([4, 3], seed=0)
    S = sparse.csr_matrix(X)
    for call in (lambda: net.forward(S), lambda: net.loss_and_gradients(dp.CrossEntropy(), S, Y3)):
        with pytest.raises(dp.DataError, match=r"sparse matrix.*X\.toarray\(\)"):
            call()
    np.testing.assert_allclose(net.predict_proba(S), net.forward(S.toarray()), rtol=1e-6)
