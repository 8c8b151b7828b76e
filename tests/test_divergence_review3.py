"""A run that diverges says where: the first layer whose weights, gradients or outputs are
no longer finite, or whose weights grew by orders of magnitude, even within the first epoch
(before any epoch's diagnostics could name one), with the fix."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import training

RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 20))
Y = (X[:, 0] > 0).astype(np.int64)


def _diverged(net, x, y, loss, **options) -> dp.TrainingDivergedError:
    with np.errstate(all="ignore"), pytest.raises(dp.TrainingDivergedError) as info:
        dp.fit(net, x, y, loss=loss, seed=0, diagnostics=False, **options)
    return info.value


@pytest.mark.parametrize("overflow", ["ignore", "raise"])
def test_a_relu_run_diverging_in_its_first_epoch_names_the_layer_whose_weights_blew_up(overflow):
    # "training diverged at epoch 1, step 9: the loss is nan. ... Lower the learning rate":
    # no layer, since no epoch finished to be diagnosed
    net = dp.mlp([20, 64, 64, 2], activation="relu", seed=0)
    start = float(np.abs(net.layers[0].W.value).max())
    with np.errstate(all=overflow), pytest.raises(dp.TrainingDivergedError) as info:
        dp.fit(net, X, Y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=50.0), epochs=3, batch_size=16, seed=0,
               diagnostics=False)
    message = str(info.value)
    assert info.value.epoch == 1 and info.value.step > 1
    assert f"layer 0 (Dense)'s largest weight grew from {start:.3g} to " in message
    assert "Lower the learning rate (it was 50)" in message and "clip the gradients" in message


def test_weights_that_overflowed_name_their_layer():
    net = dp.mlp([20, 8, 3], seed=0)
    error = _diverged(net, X, Y, dp.CrossEntropy(), optimizer=dp.SGD(lr=1e300), steps=1, batch_size=None)
    assert "the weights are no longer finite; layer 0 (Dense) holds NaN or infinite weights" in str(error)
    assert all(np.isfinite(p.value).all() for p in net.parameters())  # restored, as before


def test_outputs_that_overflowed_name_the_first_layer_that_gave_them():
    net = dp.mlp([20, 8, 2], activation="sigmoid", seed=0)
    net.layers[2].W.value[...] = 1e38  # finite, and no growth: 8 sigmoids in (0, 1) times 1e38 overflow float32
    error = _diverged(net, X, Y, dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, batch_size=16)
    assert (error.epoch, error.step) == (1, 1)
    assert "layer 2 (Dense)'s outputs are NaN or infinite" in str(error)


def test_a_loss_that_overflows_on_finite_outputs_names_the_output_layer_and_their_size():
    net = dp.mlp([20, 8, 1], activation="identity", output="identity", seed=0)
    x = X * 1e20
    error = _diverged(net, x, Y[:, None] * 1.0, dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.1), epochs=1,
                      batch_size=None)
    largest = float(np.abs(net.predict_proba(x)).max())  # the weights are those of that step
    assert f"the loss is inf; layer 3 (Identity)'s outputs reach {largest:.3g}, too large for the loss" in str(error)
    assert "scale the inputs" in str(error)


def test_training_that_does_not_diverge_never_looks_for_the_layer(monkeypatch):
    def looked(*args):
        raise AssertionError("the layer search ran on a step that did not diverge")

    monkeypatch.setattr(training, "_unstable_layer", looked, raising=False)
    history = dp.fit(dp.mlp([20, 8, 2], seed=0), X, Y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
                     epochs=2, batch_size=32, seed=0, diagnostics=False)
    assert len(history) == 2


def test_a_validation_set_that_overflows_is_not_blamed_on_the_loss():
    x, y = X[:32, :2], Y[:32, None] * 1.0
    xv = x.copy()
    xv[3] = 1e200
    net = dp.mlp([2, 4, 1], activation="identity", output="identity", seed=0, dtype="float64")
    with np.errstate(all="raise"), pytest.raises(dp.TrainingDivergedError, match="scoring the validation set") as info:
        dp.fit(net, x, y, loss=dp.MeanSquaredError(classification=False), optimizer=dp.SGD(lr=0.01), epochs=2,
               batch_size=16, seed=0, validation=(xv, y), diagnostics=False)
    assert "too large for the loss" not in str(info.value)
