"""The library's public calls at their edges: a loss given class ids, metrics given
names or scores that do not fit, seeds, layer and callback lists, optimizer state:
each gives the right number or a typed deltaprop error naming the problem."""

import numpy as np
import pytest

import deltaprop as dp


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


A = _softmax(np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 3.0]]))
IDS = np.array([0, 1, 2])


@pytest.mark.parametrize("loss", [dp.CrossEntropy(), dp.MeanSquaredError()])
def test_a_loss_given_class_ids_scores_them_as_their_one_hot_rows(loss):
    # with as many rows as classes the ids broadcast across the columns: 4.69 for 0.499
    rows = np.eye(3)[IDS]
    assert loss(A, IDS) == pytest.approx(loss(A, rows))
    assert loss.value(A, IDS, np.array([1.0, 1.0, 2.0])) == pytest.approx(loss.value(A, rows, np.array([1.0, 1.0, 2.0])))
    np.testing.assert_allclose(loss.row_values(A, IDS), loss.row_values(A, rows))
    expected = loss.gradient(A, rows).copy()
    np.testing.assert_allclose(loss.gradient(A, IDS), expected)


def test_a_single_output_loss_takes_labels_as_a_column():
    z = np.array([[0.3], [-1.0]])
    bce = dp.BinaryCrossEntropy(from_logits=True)
    assert bce(z, np.array([1, 0])) == pytest.approx(bce(z, np.array([[1.0], [0.0]])))
    mse = dp.MeanSquaredError(classification=False)
    assert mse(z, np.array([0.5, 0.1])) == pytest.approx(((0.3 - 0.5) ** 2 + (-1.1) ** 2) / 2)


def test_targets_or_weights_of_another_shape_are_refused():
    ce = dp.CrossEntropy()
    with pytest.raises(dp.ShapeError, match=r"targets have shape \(1, 2\) but the outputs a have shape \(3, 3\)"):
        ce(A, np.array([[0.0, 1.0]]))
    with pytest.raises(dp.ShapeError, match=r"one number a row, shape \(3,\); got shape \(2,\)"):
        ce(A, IDS, [1, 1])
    assert ce(A, IDS, [1, 1, 1]) == pytest.approx(ce(A, IDS))  # a list of weights is numbers too


def test_metrics_refuse_non_finite_scores_and_names_that_do_not_fit():
    with pytest.raises(dp.DataError, match="y_true holds NaN or infinity"):
        dp.accuracy([[0.0], [np.inf]], [0, 1])  # read as the most negative class id
    with pytest.raises(dp.ConfigError, match="n_classes must be >= 1, got -1"):
        dp.confusion_matrix([0, 1], [0, 1], n_classes=-1)
    with pytest.raises(dp.ConfigError, match="n_classes must be a whole number"):
        dp.confusion_matrix([0, 1], [0, 1], n_classes="3")
    with pytest.raises(dp.DataError, match="y_true holds class id 3, but n_classes=2"):
        dp.confusion_matrix([0, 3], [0, 1], n_classes=2)
    with pytest.raises(dp.ShapeError, match="class_names has 1 names for 3 classes"):
        dp.classification_report([0, 1, 2, 0], [0, 1, 2, 1], class_names=["cat"])  # classes 1 and 2 vanished
    with pytest.raises(dp.ShapeError, match="class_names has 3 names for 2 classes"):
        dp.classification_report([0, 1], [0, 1], class_names=["a", "b", "c"])  # an IndexError
    table = dp.classification_report([0, 1, 2, 0], [0, 1, 2, 1], class_names=["a", "b", "c"]).table()
    assert [line.split()[0] for line in table.splitlines()[1:4]] == ["a", "b", "c"]


@pytest.mark.parametrize("seed", ["a", 1.5, -1, True])
def test_a_seed_that_is_no_whole_number_from_0_is_a_config_error(seed):
    with pytest.raises(dp.ConfigError, match="seed must be a whole number >= 0"):
        dp.mlp([2, 3, 2], seed=seed)
    net = dp.mlp([2, 3, 2], seed=0)
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(dp.ConfigError, match="seed must be a whole number >= 0"):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(0.1), epochs=1, seed=seed)


def test_a_generator_is_still_a_seed():
    a = dp.mlp([2, 3, 2], seed=np.random.default_rng(5))
    b = dp.mlp([2, 3, 2], seed=5)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.value, q.value)


def test_one_layer_or_one_callback_where_a_list_is_wanted_is_named():
    with pytest.raises(dp.ConfigError, match=r"layers must be a list of layers, e\.g\. Network\(\[Dense"):
        dp.Network(dp.Dense(2, 2))
    net = dp.mlp([2, 3, 2], seed=0)
    with pytest.raises(dp.ConfigError, match=r"callbacks must be a list, e\.g\. callbacks=\[ProgressBar"):
        dp.fit(net, np.zeros((4, 2)), np.array([0, 1, 0, 1]), loss=dp.CrossEntropy(), optimizer=dp.SGD(0.1),
               epochs=1, callbacks=dp.ProgressBar())


@pytest.mark.parametrize("init", [dp.initializers.he_normal, dp.initializers.glorot_uniform])
def test_an_initialiser_needs_widths_of_at_least_one(init):
    with pytest.raises(dp.ConfigError, match="n_in must be >= 1, got 0"):
        init(np.random.default_rng(0), 0, 3)  # a ZeroDivisionError


@pytest.mark.parametrize("iterations", ["abc", None, np.array([1, 2]), -5, 2.7])
def test_an_optimizer_state_with_a_bad_step_count_is_a_state_error(iterations):
    net = dp.mlp([2, 3, 2], seed=0)
    opt = dp.Adam(0.01)
    opt.build(net.parameters())
    state = {**opt.state(), "iterations": iterations}
    with pytest.raises(dp.StateError, match="'iterations' must be one whole number >= 0"):
        opt.load_state(state)  # -5 was taken, and the next Adam step failed on a math domain error


def test_complex_sample_weights_are_refused_as_such():
    net = dp.mlp([2, 3, 2], seed=0)
    with pytest.raises(dp.DataError, match="sample_weight must be real numbers"):
        dp.fit(net, np.zeros((4, 2)), np.array([0, 1, 0, 1]), loss=dp.CrossEntropy(), optimizer=dp.SGD(0.1),
               epochs=1, sample_weight=np.array([1, 1, 1, 1j]))


def test_evaluate_without_a_loss_decides_a_single_logit_by_the_networks_rule():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(np.int64)
    net = dp.mlp([3, 4, 1], output="identity", seed=0)
    loss = dp.BinaryCrossEntropy(from_logits=True)
    dp.fit(net, X, y, loss=loss, optimizer=dp.SGD(0.1), epochs=3, batch_size=20, seed=0)
    logits = net.predict_proba(X)[:, 0]
    assert np.any((logits >= 0) & (logits < 0.5))  # where reading logits as probabilities differs
    expected = float(np.mean((logits >= 0) == y))
    assert dp.evaluate(net, X, y)["accuracy"] == pytest.approx(expected)  # it thresholded the logit at 0.5
    assert dp.evaluate(net, X, y, loss=loss)["accuracy"] == pytest.approx(expected)
    assert dp.accuracy(y, net.predict(X)) == pytest.approx(expected)
