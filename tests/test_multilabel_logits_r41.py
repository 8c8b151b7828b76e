"""Multi-label rows fitted on logits: a multi-label classifier whose labels are z ≥ 0."""

import warnings

import numpy as np

import deltaprop as dp
from deltaprop.serialization import read_model


def _fit(Y):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    net = dp.mlp([4, 5, Y.shape[1]], activation="tanh", output="identity", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        dp.fit(net, X, Y, loss=dp.BinaryCrossEntropy(from_logits=True), optimizer=dp.SGD(lr=0.1), epochs=1,
               batch_size=20, seed=0)
    return net, X


def test_multi_hot_rows_on_logits_make_a_multilabel_classifier_of_z_at_least_0():
    Y = (np.random.default_rng(1).random((40, 3)) > 0.5).astype(np.float32)
    net, X = _fit(Y)
    assert net.multilabel and net.decision_threshold == 0.0
    z = net.predict_proba(X)
    np.testing.assert_array_equal(net.predict(X), (z >= 0).astype(np.int64))
    assert net.predict(X).shape == (40, 3)
    one_hot, _ = _fit(np.eye(3, dtype=np.float32)[np.arange(40) % 3])  # one class a row: the argmax
    assert not one_hot.multilabel and one_hot.predict(X).shape == (40,)


def test_a_saved_multilabel_logit_model_keeps_its_labels(tmp_path):
    Y = (np.random.default_rng(1).random((40, 3)) > 0.5).astype(np.float32)
    net, X = _fit(Y)
    path = dp.save(net, tmp_path / "m.safetensors", loss=dp.BinaryCrossEntropy(from_logits=True))
    mf = read_model(path)
    assert mf.outputs == "labels"
    np.testing.assert_array_equal(dp.load(path).predict(X), net.predict(X))

