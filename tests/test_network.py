"""Network: construction, forward/backward against the seeds' equations, predictions,
parameters, summary, configs and copies, and the per-layer trace after a training step."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def net():
    return dp.Network([dp.Dense(4, 5), dp.Sigmoid(), dp.Dense(5, 3), dp.Softmax()], seed=0, dtype="float64")


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((6, 4)), rng.integers(0, 3, 6)


# -- construction ---------------------------------------------------------------------------
def test_same_seed_same_weights_other_seed_other_weights():
    make = lambda seed: dp.mlp([4, 6, 3], seed=seed)  # noqa: E731
    for p, q in zip(make(1).parameters(), make(1).parameters()):
        np.testing.assert_array_equal(p.value, q.value)
    assert not np.array_equal(make(1).parameters()[0].value, make(2).parameters()[0].value)


def test_sizes_and_dtype(net):
    assert (net.n_features, net.n_outputs, net.dtype) == (4, 3, np.float64)
    default = dp.mlp([4, 3])
    assert default.dtype == np.float32
    assert all(p.value.dtype == np.float32 for p in default.parameters())


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: dp.Network([]), dp.ConfigError, "at least one layer"),
        (lambda: dp.Network([dp.Sigmoid()]), dp.ConfigError, "Dense"),
        (lambda: dp.Network([dp.Dense(2, 2), "relu"]), dp.ConfigError, "not a deltaprop layer"),
        (lambda: dp.Network([dp.Dense(2, 3), dp.Dense(4, 2)]), dp.ShapeError, "receives 3 features"),
        (lambda: dp.Network([dp.Dense(2, 2)], dtype="float16"), dp.ConfigError, "float32"),
        (lambda: dp.mlp([4, 3], activation="swish"), dp.ConfigError, "unknown activation"),
        (lambda: dp.mlp([4]), dp.ConfigError, "at least"),
    ],
)
def test_bad_networks_are_refused_with_a_reason(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_the_same_layer_object_twice_is_refused():
    relu = dp.ReLU()
    with pytest.raises(dp.ConfigError, match="twice"):
        dp.Network([dp.Dense(2, 2), relu, dp.Dense(2, 2), relu])


def test_mlp_builds_the_seed_000_network_and_adds_dropout():
    net = dp.mlp([784, 50, 10])
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "Sigmoid", "Dense", "Softmax"]
    net = dp.mlp([8, 6, 5, 2], activation="relu", output="identity", dropout=0.2)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Dense", "ReLU", "Dropout", "Dense", "ReLU", "Dropout", "Dense", "Identity"]
    assert all(layer.init_name == "he_normal" for layer in net.layers if isinstance(layer, dp.Dense))


# -- computation ------------------------------------------------------------------------------
def test_forward_is_the_composition_of_the_layers(net, batch):
    X, _ = batch
    W1, b1, W2, b2 = (p.value for p in net.parameters())
    expected = softmax(sigmoid(X @ W1 + b1) @ W2 + b2)
    out = net.forward(X)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    out[...] = 0  # a copy: the network's buffers are not handed out
    np.testing.assert_allclose(net.forward(X), expected, rtol=1e-12)


def test_backward_follows_the_four_equations(net, batch):
    # Seed 003 in our row layout: δ^L = (a − y)/n (softmax + cross-entropy), δ^l = (δ^{l+1} W^{l+1}ᵀ) ⊙ σ'(z^l),
    # ∂C/∂W^l = a^{l−1}ᵀ δ^l, ∂C/∂b^l = Σ_rows δ^l.
    X, y = batch
    W1, b1, W2, b2 = (p.value for p in net.parameters())
    a1 = sigmoid(X @ W1 + b1)
    a2 = softmax(a1 @ W2 + b2)
    Y = np.eye(3)[y]
    d2 = (a2 - Y) / len(X)
    d1 = (d2 @ W2.T) * a1 * (1 - a1)
    net.forward(X, train=True)
    net.backward(dp.CrossEntropy(), y)
    for p, expected in zip(net.parameters(), (X.T @ d1, d1.sum(0), a1.T @ d2, d2.sum(0))):
        np.testing.assert_allclose(p.grad, expected, rtol=1e-11)
    value = net.loss_and_gradients(dp.CrossEntropy(), X, y)
    assert value == pytest.approx(-np.mean(np.log(a2[np.arange(6), y])), rel=1e-12)


def test_backward_before_forward_is_an_error():
    net = dp.mlp([3, 2])
    with pytest.raises(dp.ConfigError, match="forward"):
        net.backward(dp.CrossEntropy(), [0])


def test_predict_is_the_argmax_and_proba_sums_to_one(net, batch):
    X, _ = batch
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(net.predict(X), np.argmax(proba, axis=1))
    np.testing.assert_array_equal(net.predict_proba(X, batch_size=4), proba)
    assert net.predict(X).dtype.kind == "i"


def test_predict_with_one_sigmoid_output_thresholds_at_one_half():
    net = dp.Network([dp.Dense(1, 1), dp.Sigmoid()], seed=0, dtype="float64")
    net.parameters()[0].value[...] = 1.0
    np.testing.assert_array_equal(net.predict(np.array([[-2.0], [-0.1], [0.0], [3.0]])), [0, 0, 1, 1])


def test_a_single_example_as_a_flat_vector_is_accepted(net, batch):
    X, _ = batch
    np.testing.assert_allclose(net.predict_proba(X[0]), net.predict_proba(X[:1]))


# -- parameters, summary, configs --------------------------------------------------------------------
def test_parameters_are_listed_layer_by_layer(net):
    names = [name for name, _ in net.named_parameters()]
    assert names == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]
    assert [p.value.shape for p in net.parameters()] == [(4, 5), (5,), (5, 3), (3,)]
    assert all(p is q for (_, p), q in zip(net.named_parameters(), net.parameters()))
    assert net.n_parameters == 4 * 5 + 5 + 5 * 3 + 3


def test_summary_lists_layers_shapes_and_parameter_counts():
    net = dp.Network([dp.Dense(10, 3), dp.Sigmoid(), dp.Dense(3, 2), dp.Sigmoid()], seed=0)
    text = net.summary()
    lines = text.splitlines()
    assert "layer" in lines[0] and "output shape" in lines[0] and "parameters" in lines[0]
    rows = [line for line in lines if line[:2] in ("0 ", "1 ", "2 ", "3 ")]
    assert len(rows) == 4
    assert "Dense" in rows[0] and "(n, 3)" in rows[0] and rows[0].rstrip().endswith("33")
    assert "Sigmoid" in rows[1] and "(n, 3)" in rows[1] and rows[1].rstrip().endswith("0")
    assert "(n, 2)" in rows[2] and rows[2].rstrip().endswith("8")
    assert "41 parameters" in text and "float32" in text and "10 features" in text


def test_config_round_trip_and_copies(net, batch):
    X, _ = batch
    again = dp.Network.from_config(net.config())
    assert again.config() == net.config()
    copy = net.copy()
    np.testing.assert_array_equal(copy.forward(X), net.forward(X))
    copy.parameters()[0].value[...] = 0
    assert not np.all(net.parameters()[0].value == 0)  # independent
    single = net.copy(dtype="float32")
    assert single.dtype == np.float32 and all(p.value.dtype == np.float32 for p in single.parameters())
    np.testing.assert_allclose(single.forward(X), net.forward(X), rtol=1e-5)
    with pytest.raises(dp.ConfigError):
        dp.Network.from_config({"layers": "Dense"})


# -- the trace after a training step ---------------------------------------------------------------
def test_trace_after_a_step_holds_each_layers_output_and_delta(net, batch):
    X, y = batch
    before = net.copy()
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), steps=1, batch_size=None)
    W1, b1, W2, b2 = (p.value for p in before.parameters())  # the weights the step saw
    z1 = X @ W1 + b1
    a1 = sigmoid(z1)
    z2 = a1 @ W2 + b2
    a2 = softmax(z2)
    Y = np.eye(3)[y]
    d2 = (a2 - Y) / len(X)  # seed 000's o − y, over the batch
    d1_out = d2 @ W2.T  # ∂L/∂a1, what the sigmoid received
    trace = net.trace()
    assert [t.layer for t in trace] == ["Dense", "Sigmoid", "Dense", "Softmax"]
    for t, expected in zip(trace, (z1, a1, z2, a2)):
        np.testing.assert_allclose(t.output, expected, rtol=1e-11)
    np.testing.assert_allclose(trace[2].delta, d2, rtol=1e-11)  # the Dense under softmax + CE
    np.testing.assert_allclose(trace[1].delta, d1_out, rtol=1e-11)
    np.testing.assert_allclose(trace[0].delta, d1_out * a1 * (1 - a1), rtol=1e-11)
    assert trace[3].delta is None  # the fused start skips the softmax's own backward
    assert trace[0].grad_norms["W"] == pytest.approx(np.linalg.norm(X.T @ (d1_out * a1 * (1 - a1))), rel=1e-11)
    assert trace[2].grad_norms == {"W": pytest.approx(np.linalg.norm(a1.T @ d2), rel=1e-11),
                                   "b": pytest.approx(np.linalg.norm(d2.sum(0)), rel=1e-11)}
    assert trace[1].grad_norms == {}
    trace[0].output[...] = 0  # copies
    assert not np.all(net.trace()[0].output == 0)


def test_trace_diagnostics_saturation_and_dead_units():
    net = dp.Network([dp.Dense(2, 3), dp.Sigmoid(), dp.Dense(3, 2), dp.ReLU()], seed=0, dtype="float64")
    W1, b1, W2, b2 = net.parameters()
    W1.value[...] = [[100.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    W2.value[...] = [[1.0, -1.0], [1.0, -1.0], [1.0, -1.0]]
    X = np.array([[1.0, 0.0], [2.0, 0.0]])
    net.loss_and_gradients(dp.MeanSquaredError(), X, np.zeros((2, 2)))
    sig, relu = net.trace()[1], net.trace()[3]
    assert sig.saturated_fraction == pytest.approx(2 / 6)  # unit 0 is at 1 for both examples
    assert relu.dead_fraction == pytest.approx(0.5)  # the second output is negative for both
    assert net.trace()[0].saturated_fraction is None and sig.dead_fraction is None


def test_trace_after_fit_with_validation_is_the_last_training_step():
    rng = np.random.default_rng(11)
    X, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    Xv, yv = rng.random((13, 6)), rng.integers(0, 3, 13)
    net = dp.mlp([6, 5, 3], activation="tanh", seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, batch_size=8,
           validation=(Xv, yv), seed=0)
    net.predict(rng.random((8, 6)))  # an inference pass of the same batch size changes nothing
    for layer in net.trace():
        assert layer.output.shape[0] == 8
        if layer.delta is not None:
            assert layer.delta.shape[0] == 8


def test_backward_after_an_inference_forward_is_refused():
    net = dp.mlp([3, 2], seed=0)
    net.forward(np.ones((2, 3)), train=True)
    net.forward(np.ones((2, 3)))
    with pytest.raises(dp.ConfigError, match="train=True"):
        net.backward(dp.CrossEntropy(), [0, 1])


def test_predictions_from_outputs_is_one_rule_and_can_write_into_a_buffer():
    from deltaprop.network import predictions_from_outputs

    many = np.array([[0.1, 0.7, 0.2], [0.5, 0.5, 0.0], [0.0, 0.2, 0.8]])
    one = np.array([[0.49], [0.5], [0.51]], dtype=np.float32)
    np.testing.assert_array_equal(predictions_from_outputs(many), [1, 0, 2])  # ties: the first
    np.testing.assert_array_equal(predictions_from_outputs(one), [0, 1, 1])
    out = np.full(3, -1, dtype=np.int64)
    assert predictions_from_outputs(one, out=out) is out and out.tolist() == [0, 1, 1]
    assert predictions_from_outputs(many, out=out) is out and out.tolist() == [1, 0, 2]


def test_a_single_logit_network_predicts_by_its_own_rule_after_fit_and_after_load(tmp_path):
    # net.predict thresholded a logit at 0.5: 0.781 where dp.evaluate said 0.863
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 2)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    net = dp.Network([dp.Dense(2, 1)], seed=0)
    loss = dp.BinaryCrossEntropy(from_logits=True)
    dp.fit(net, X, y, loss=loss, optimizer=dp.SGD(lr=0.05), epochs=1, seed=0, diagnostics=False)
    z = net.predict_proba(X)[:, 0]
    assert np.sum((z >= 0) & (z < 0.5)) > 50  # rows the two thresholds disagree on
    assert net.decision_threshold == 0.0 and np.array_equal(net.predict(X), (z >= 0).astype(int))
    assert dp.accuracy(y, net.predict(X)) == dp.evaluate(net, X, y, loss=loss)["accuracy"]
    dp.save(net, tmp_path / "m.safetensors", loss=loss)
    loaded = dp.load(tmp_path / "m.safetensors")
    assert loaded.decision_threshold == 0.0 and np.array_equal(loaded.predict(X), net.predict(X))
    assert net.copy().decision_threshold == 0.0
    assert np.array_equal(net.predict(X, threshold=0.5), (z >= 0.5).astype(int))  # a threshold given wins
    sigmoid = dp.Network([dp.Dense(2, 1), dp.Sigmoid()], seed=0)
    assert sigmoid.decision_threshold == 0.5


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), "0.5", True])
def test_a_threshold_that_is_no_finite_number_is_refused(threshold):
    net = dp.Network([dp.Dense(2, 1), dp.Sigmoid()], seed=0)
    with pytest.raises(dp.ConfigError, match="threshold must be a finite number"):
        net.predict(np.zeros((3, 2), np.float32), threshold=threshold)
