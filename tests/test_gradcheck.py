"""Backpropagation against central differences (dp.gradcheck, float64): every layer and loss
alone and in stacks, dropout with a fixed mask, the fused softmax/sigmoid outputs against
their logits forms, and a property-based sweep over random stacks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import deltaprop as dp

TOLERANCE = 1e-6

ACTIVATIONS = {
    "Sigmoid": dp.Sigmoid,
    "Tanh": dp.Tanh,
    "ReLU": dp.ReLU,
    "LeakyReLU": lambda: dp.LeakyReLU(0.1),
    "Identity": dp.Identity,
    "Softmax": dp.Softmax,
}

# Each loss with the output layers it is meant for (CrossEntropy needs probabilities that sum
# to 1; BinaryCrossEntropy probabilities in (0, 1); the logits forms take any real output).
LOSSES = {
    "mse": (dp.MeanSquaredError, ("Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax")),
    "cross_entropy": (dp.CrossEntropy, ("Softmax",)),
    "cross_entropy_logits": (lambda: dp.CrossEntropy(from_logits=True), ("Identity",)),
    "binary_cross_entropy": (dp.BinaryCrossEntropy, ("Sigmoid", "Softmax")),
    "binary_cross_entropy_logits": (lambda: dp.BinaryCrossEntropy(from_logits=True), ("Identity",)),
}


def targets(loss_name: str, rng, n: int, k: int):
    if loss_name == "mse":
        return rng.standard_normal((n, k)) if k == 1 else rng.random((n, k))
    if loss_name.startswith("cross_entropy"):
        return rng.integers(0, k, n) if rng.random() < 0.5 else rng.dirichlet(np.ones(k), n)
    return rng.integers(0, 2, (n, k)) if rng.random() < 0.5 else rng.random((n, k))


def check(net, loss, X, y, **kw):
    report = dp.gradcheck(net, loss, X, y, **kw)
    assert report.max_relative_error < TOLERANCE, report.table()
    return report


# -- alone ------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_each_activation_after_one_dense_layer(activation):
    rng = np.random.default_rng(0)
    net = dp.Network([dp.Dense(4, 3), ACTIVATIONS[activation]()], seed=1, dtype="float64")
    check(net, dp.MeanSquaredError(), rng.standard_normal((6, 4)), rng.random((6, 3)), max_entries=None)


@pytest.mark.parametrize(("loss_name", "output"), [(name, out) for name, (_, outs) in LOSSES.items() for out in outs])
def test_each_loss_on_one_dense_layer_and_its_output(loss_name, output):
    rng = np.random.default_rng(1)
    net = dp.Network([dp.Dense(4, 3), ACTIVATIONS[output]()], seed=2, dtype="float64")
    check(net, LOSSES[loss_name][0](), rng.standard_normal((6, 4)), targets(loss_name, rng, 6, 3), max_entries=None)


# -- stacks -------------------------------------------------------------------------------------
@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss_name", LOSSES)
def test_three_layer_stacks(activation, loss_name):
    rng = np.random.default_rng(3)
    make_loss, outputs = LOSSES[loss_name]
    act = ACTIVATIONS[activation]
    net = dp.Network(
        [dp.Dense(5, 7), act(), dp.Dense(7, 6), act(), dp.Dense(6, 3), ACTIVATIONS[outputs[0]]()],
        seed=4,
        dtype="float64",
    )
    X = rng.standard_normal((8, 5))
    if activation in ("ReLU", "LeakyReLU"):
        X = np.sign(X) * (0.2 + np.abs(X))
    check(net, make_loss(), X, targets(loss_name, rng, 8, 3), max_entries=None)


def test_dropout_in_a_stack_with_its_mask_fixed():
    rng = np.random.default_rng(5)
    net = dp.Network([dp.Dense(6, 16), dp.Tanh(), dp.Dropout(0.5), dp.Dense(16, 3), dp.Softmax()], seed=6, dtype="float64")
    X, y = rng.standard_normal((10, 6)), rng.integers(0, 3, 10)
    check(net, dp.CrossEntropy(), X, y, max_entries=None)
    check(net, dp.CrossEntropy(), X, y, max_entries=None, train=False)
    # the training-mode function really is masked: its gradients differ from inference's
    net.loss_and_gradients(dp.CrossEntropy(), X, y, train=True)
    masked = net.parameters()[0].grad.copy()
    net.loss_and_gradients(dp.CrossEntropy(), X, y, train=False)
    assert not np.allclose(masked, net.parameters()[0].grad)


def test_float32_network_is_checked_in_float64_and_left_unchanged():
    rng = np.random.default_rng(7)
    net = dp.mlp([4, 5, 3], activation="tanh", seed=0)
    before = [p.value.copy() for p in net.parameters()]
    report = check(net, dp.CrossEntropy(), rng.standard_normal((6, 4)), rng.integers(0, 3, 6))
    assert [p.name for p in report.parameters] == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]
    assert [p.shape for p in report.parameters] == [(4, 5), (5,), (5, 3), (3,)]
    for p, old in zip(net.parameters(), before):
        assert p.value.dtype == np.float32
        np.testing.assert_array_equal(p.value, old)
    assert "passed" in report.table()


def test_max_entries_samples_large_parameters():
    rng = np.random.default_rng(8)
    net = dp.Network([dp.Dense(30, 20), dp.Sigmoid()], seed=0, dtype="float64")
    report = check(net, dp.MeanSquaredError(), rng.standard_normal((4, 30)), rng.random((4, 20)), max_entries=25)
    assert [p.checked for p in report.parameters] == [25, 20]


def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    net = dp.Network([dp.Dense(4, 5), dp.Sigmoid(), dp.Dense(5, 3), dp.Softmax()], seed=0, dtype="float64")
    assert dp.gradcheck(net, dp.CrossEntropy(), X, y).passed
    true_backward = dp.Sigmoid.backward

    def off_by_ten_percent(self, grad_out, *, need_input_grad=True):
        return true_backward(self, grad_out, need_input_grad=need_input_grad) * 1.1

    monkeypatch.setattr(dp.Sigmoid, "backward", off_by_ten_percent)
    report = dp.gradcheck(net, dp.CrossEntropy(), X, y)
    assert not report.passed
    assert 0.01 < report.parameters[0].relative_error < 0.2
    assert report.parameters[2].relative_error < TOLERANCE  # layers after the sigmoid are still right
    assert "FAIL" in report.table()


# -- fused outputs against their logits forms ------------------------------------------------------
def _pair(output_layer, seed=0):
    """Two networks with identical weights, one ending in ``output_layer``, one in logits."""
    hidden = lambda: [dp.Dense(5, 8), dp.Tanh(), dp.Dense(8, 4)]  # noqa: E731
    with_output = dp.Network([*hidden(), output_layer], seed=seed, dtype="float64")
    logits = dp.Network(hidden(), seed=seed + 1, dtype="float64")
    for a, b in zip(with_output.parameters(), logits.parameters()):
        b.value[...] = a.value
    return with_output, logits


def test_softmax_cross_entropy_and_logits_cross_entropy_give_the_same_gradients():
    rng = np.random.default_rng(10)
    X, y = rng.standard_normal((9, 5)), rng.integers(0, 4, 9)
    probs, logits = _pair(dp.Softmax())
    value_p = probs.loss_and_gradients(dp.CrossEntropy(), X, y)
    value_l = logits.loss_and_gradients(dp.CrossEntropy(from_logits=True), X, y)
    assert value_p == pytest.approx(value_l, rel=1e-12)
    for a, b in zip(probs.parameters(), logits.parameters()):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-15)
    # and both are right
    check(probs, dp.CrossEntropy(), X, y)
    check(logits, dp.CrossEntropy(from_logits=True), X, y)


def test_sigmoid_binary_cross_entropy_and_logits_give_the_same_gradients():
    rng = np.random.default_rng(11)
    X, Y = rng.standard_normal((9, 5)), rng.integers(0, 2, (9, 4))
    probs, logits = _pair(dp.Sigmoid())
    value_p = probs.loss_and_gradients(dp.BinaryCrossEntropy(), X, Y)
    value_l = logits.loss_and_gradients(dp.BinaryCrossEntropy(from_logits=True), X, Y)
    assert value_p == pytest.approx(value_l, rel=1e-12)
    for a, b in zip(probs.parameters(), logits.parameters()):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-15)


def test_softmax_and_logits_train_to_the_same_weights_in_float32():
    rng = np.random.default_rng(12)
    X, y = rng.standard_normal((64, 5)).astype(np.float32), rng.integers(0, 4, 64)
    probs, logits = _pair(dp.Softmax())
    probs, logits = probs.copy(dtype="float32"), logits.copy(dtype="float32")
    dp.fit(probs, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=5, batch_size=16, seed=0)
    dp.fit(logits, X, y, loss=dp.CrossEntropy(from_logits=True), optimizer=dp.SGD(lr=0.1), epochs=5, batch_size=16, seed=0)
    for a, b in zip(probs.parameters(), logits.parameters()):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-4, atol=1e-5)


# -- property-based: random stacks ------------------------------------------------------------------
@st.composite
def stacks(draw, loss_name: str, depth: int):
    """``depth`` Dense layers of widths 1 to 32, any activation between them (dropout now and
    then), an output layer that suits ``loss_name``."""
    outputs = LOSSES[loss_name][1]
    widths = [draw(st.integers(1, 32)) for _ in range(depth)]
    k = draw(st.integers(2 if loss_name.startswith("cross_entropy") else 1, 8))
    hidden = draw(st.permutations(sorted(ACTIVATIONS)))  # distinct activations within a stack
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths, [*widths[1:], k])):
        layers.append(dp.Dense(n_in, n_out))
        if i < depth - 1:
            layers.append(ACTIVATIONS[hidden[i]]())
            if draw(st.integers(0, 4)) == 0:
                layers.append(dp.Dropout(0.3))
    layers.append(ACTIVATIONS[draw(st.sampled_from(outputs))]())
    return layers, draw(st.integers(0, 2**16))


# Central differences err by O(h²) (truncation) plus O(ε_machine·|L| / h) (rounding). Behind a
# wide hidden softmax the gradients of the first layers are ~1e-4, and with the default
# h = 1e-6 the rounding term alone reaches relative errors of ~3e-7; h = 1e-5 balances the two
# (relative errors ~1e-8) and keeps the 1e-6 bound meaningful.
H = 1e-5


def _relu_inputs_away_from_kinks(net, X, margin=1e-3) -> bool:
    """Whether every ReLU/LeakyReLU input is at least ``margin`` from 0 (a central difference
    with step H moves a pre-activation by well under 1e-3 here, so it cannot cross the kink)."""
    work = net.copy()  # the same dropout masks as gradcheck's own copy will draw
    x = X
    for layer in work.layers:
        if isinstance(layer, (dp.ReLU, dp.LeakyReLU)) and np.min(np.abs(x), initial=np.inf) < margin:
            return False
        x = layer.forward(x, train=True)
    return True


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_stacks_backprop_matches_central_differences(loss_name, depth, data):
    # 5 losses x 4 depths x 2 examples = 40 random stacks
    layers, seed = data.draw(stacks(loss_name, depth))
    rng = np.random.default_rng(seed)
    net = dp.Network(layers, seed=seed, dtype="float64")
    n = 6
    X = rng.standard_normal((n, net.n_features))
    assume(_relu_inputs_away_from_kinks(net, X))
    report = dp.gradcheck(net, LOSSES[loss_name][0](), X, targets(loss_name, rng, n, net.n_outputs), h=H, max_entries=40)
    assert report.max_relative_error < TOLERANCE, f"{net!r}\n{report.table()}"


@pytest.mark.parametrize("loss", [dp.CrossEntropy(), dp.BinaryCrossEntropy()])
def test_a_loss_on_an_output_it_does_not_fit_is_refused_as_fit_refuses_it(loss):
    # gradcheck reported "relative error 1.0, failed", which read as a backprop bug
    net = dp.Network([dp.Dense(4, 3)], seed=0)
    x, y = np.random.default_rng(0).standard_normal((5, 4)), np.array([0, 1, 2, 0, 1])
    with pytest.raises(dp.ConfigError, match="output"):
        dp.gradcheck(net, loss, x, y if isinstance(loss, dp.CrossEntropy) else np.eye(3)[y])


# -- where the loss has no derivative: a failed check says why -----------------------------
def test_a_check_failing_at_probabilities_clipped_at_eps_says_so():
    """A confident softmax (weights × 300): a likelihood term clipped at eps is flat in θ,
    backprop's δ = a − y is not; the check fails and its note names the cause and the fix."""
    rng = np.random.default_rng(0)
    net = dp.mlp([4, 5, 3], seed=0, dtype="float64")
    for layer in net.layers:
        if isinstance(layer, dp.Dense):
            layer.W.value *= 300
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    with np.errstate(under="ignore"):
        report = dp.gradcheck(net, dp.CrossEntropy(), X, y)
    assert not report.passed
    clipped = [n for n in report.notes if "clipped at eps" in n]  # and its saturated first layer's zero gradient
    assert len(clipped) == 1 and "from_logits=True" in clipped[0], report.notes
    assert report.table().splitlines()[-1].startswith("note: ")


def test_a_check_failing_at_a_relus_kink_says_so():
    """Every hidden ReLU dead (biases −10): the output ReLU's input is exactly 0, where the
    central difference takes half the slope and backprop the subgradient 0."""
    rng = np.random.default_rng(0)
    net = dp.Network([dp.Dense(4, 3), dp.ReLU(), dp.Dense(3, 2), dp.ReLU()], seed=0, dtype="float64")
    net.layers[0].b.value[:] = -10
    X, y = rng.standard_normal((5, 4)), np.eye(2)[rng.integers(0, 2, 5)]
    report = dp.gradcheck(net, dp.MeanSquaredError(), X, y)
    assert not report.passed
    kinks = [n for n in report.notes if "kink at 0" in n]  # and the dead first layer's zero gradient
    assert len(kinks) == 1, report.notes


def test_a_smooth_check_has_no_notes():
    rng = np.random.default_rng(0)
    report = dp.gradcheck(dp.mlp([4, 5, 3], seed=0, dtype="float64"), dp.CrossEntropy(), rng.standard_normal((5, 4)),
                          rng.integers(0, 3, 5))
    assert report.passed and report.notes == []
    assert "note" not in report.table()
