"""Networks survive pickle and deepcopy (scikit-learn's clone and pickling rely on it)
with their parameters still packed in one buffer and without their batch buffers."""

import copy
import pickle

import numpy as np
import pytest

import deltaprop as dp


@pytest.fixture
def trained():
    rng = np.random.default_rng(0)
    X = rng.random((64, 5), dtype=np.float32)
    y = rng.integers(0, 3, 64)
    net = dp.mlp([5, 7, 3], activation="sigmoid", init="scaled_normal", dropout=0.25, seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=None, seed=0)
    return net, X, y


@pytest.mark.parametrize("clone", [lambda n: pickle.loads(pickle.dumps(n)), copy.deepcopy, copy.copy],
                         ids=["pickle", "deepcopy", "copy"])
def test_clone_predicts_identically_and_stays_packed(trained, clone):
    net, X, y = trained
    other = clone(net)
    np.testing.assert_array_equal(other.predict_proba(X), net.predict_proba(X))
    opt = dp.SGD(lr=0.1, momentum=0.9)
    opt.build(other.parameters())
    assert len(opt._targets) == 1  # one flat buffer, as for a fresh network
    dropout = next(layer for layer in other.layers if isinstance(layer, dp.Dropout))
    assert dropout.rng is other.rng
    # training the clone leaves the original alone
    before = [p.value.copy() for p in net.parameters()]
    dp.fit(other, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=1, batch_size=16, seed=1)
    for b, p in zip(before, net.parameters()):
        np.testing.assert_array_equal(b, p.value)


def test_pickle_leaves_out_batch_buffers(trained):
    net, X, _ = trained
    net.predict_proba(np.repeat(X, 50, axis=0))  # fills buffers for a large batch
    assert len(pickle.dumps(net)) < 20_000


def test_scaled_normal_initialiser_pickles():
    init = dp.scaled_normal(0.05)
    again = pickle.loads(pickle.dumps(init))
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(init(rng1, 4, 2), again(rng2, 4, 2))
    with pytest.raises(dp.ConfigError):
        dp.scaled_normal(float("nan"))


def test_training_the_original_after_a_copy_still_changes_it(trained):
    net, X, y = trained
    opt = dp.SGD(lr=0.5)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=1, batch_size=16, seed=0)
    snapshot = copy.copy(net)
    before = [p.value.copy() for p in net.parameters()]
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=16, seed=1)
    assert any(not np.array_equal(b, p.value) for b, p in zip(before, net.parameters()))
    for b, p in zip(before, snapshot.parameters()):
        np.testing.assert_array_equal(b, p.value)
