"""Review of the day's fixes: what a user of them would still have hit."""

import numpy as np

import deltaprop as dp
from deltaprop.serialization import read_model


def _multi_hot(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    return X, (X[:, :3] > 0).astype(np.float32)  # three independent 0/1 labels a row


def test_a_multi_label_binary_cross_entropy_fit_is_no_regressor(tmp_path):
    """Rows of several 1s are labels, not values: predict gave their probabilities and the
    saved file recorded the network as a MeanSquaredError(classification=False) regressor."""
    X, Y = _multi_hot()
    net = dp.mlp([4, 6, 3], activation="tanh", output="sigmoid", seed=0)
    dp.fit(net, X, Y, loss=dp.BinaryCrossEntropy(), optimizer=dp.SGD(lr=0.3), epochs=2, batch_size=20, seed=0)
    assert not net.gives_values
    assert net.predict(X).shape == (len(X),)
    mf = read_model(dp.save(net, tmp_path / "m.safetensors"))
    assert mf.outputs != "values" and not isinstance(mf.loss, dp.MeanSquaredError)
