"""Callbacks: the hooks and their order, early stopping with restore-best, progress bar."""

from __future__ import annotations

import io

import numpy as np
import pytest

import deltaprop as dp


def overfitting_problem():
    """20 noisy training examples and a wide network: the validation loss falls for a few
    epochs, then rises as the network learns the noise."""
    rng = np.random.default_rng(0)

    def data(n, noise):
        X = rng.standard_normal((n, 5))
        y = (X[:, 0] > 0).astype(np.int64)
        flip = rng.random(n) < noise
        y[flip] = 1 - y[flip]
        return X, y

    return data(20, 0.3), data(200, 0.0)


class WeightsPerEpoch(dp.Callback):
    def __init__(self):
        self.weights = {}

    def on_epoch_end(self, state):
        self.weights[state.epoch] = [p.value.copy() for p in state.net.parameters()]


def train_with(callbacks, *, epochs=60, validation=True):
    (X, y), (Xv, yv) = overfitting_problem()
    net = dp.mlp([5, 64, 2], activation="tanh", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.005), epochs=epochs,
                     batch_size=None, validation=(Xv, yv) if validation else None, callbacks=callbacks)
    return net, history


def test_early_stopping_restores_the_weights_of_the_best_epoch():
    recorder = WeightsPerEpoch()
    stopper = dp.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    net, history = train_with([recorder, stopper])
    val = history["val_loss"]
    best = int(np.argmin(val)) + 1
    assert best > 1 and best < len(history)  # a real minimum, then worse epochs
    assert stopper.best_epoch == best and stopper.best == val[best - 1]
    # stopped once more than `patience` epochs in a row brought no improvement
    assert len(history) == best + 3 + 1 == stopper.stopped_epoch
    for p, w in zip(net.parameters(), recorder.weights[best]):
        np.testing.assert_array_equal(p.value, w)
    assert not np.array_equal(net.parameters()[0].value, recorder.weights[len(history)][0])
    (_, _), (Xv, yv) = overfitting_problem()
    assert dp.evaluate(net, Xv, yv, loss=dp.CrossEntropy())["loss"] == pytest.approx(min(val), rel=1e-5)


def test_early_stopping_without_restore_keeps_the_last_weights():
    recorder = WeightsPerEpoch()
    net, history = train_with([recorder, dp.EarlyStopping(patience=3, restore_best_weights=False)])
    for p, w in zip(net.parameters(), recorder.weights[len(history)]):
        np.testing.assert_array_equal(p.value, w)


def test_early_stopping_maximises_accuracy_and_falls_back_to_training_loss():
    stopper = dp.EarlyStopping(monitor="val_accuracy", patience=2)
    _, history = train_with([stopper])
    acc = history["val_accuracy"]
    assert stopper.best == max(acc[: stopper.best_epoch]) and len(history) == stopper.best_epoch + 3
    # no validation data: val_loss falls back to loss, which keeps falling on the training set
    stopper = dp.EarlyStopping(monitor="val_loss", patience=2, min_delta=0.0)
    _, history = train_with([stopper], epochs=15, validation=False)
    assert len(history) == 15 and stopper.best == min(history["loss"])


def test_min_delta_counts_small_gains_as_no_improvement():
    stopper = dp.EarlyStopping(monitor="loss", patience=1, min_delta=10.0)
    _, history = train_with([stopper], validation=False)
    assert len(history) == 3 and stopper.best_epoch == 1


def test_hooks_are_called_in_order_with_the_loop_state():
    calls = []
    cb = dp.LambdaCallback(
        on_train_begin=lambda s: calls.append(("train_begin", s.epoch, s.step)),
        on_epoch_begin=lambda s: calls.append(("epoch_begin", s.epoch, s.step)),
        on_batch_end=lambda s, m, loss: calls.append(("batch_end", s.epoch, s.step, m)),
        on_epoch_end=lambda s: calls.append(("epoch_end", s.epoch, s.step, s.logs["epoch"])),
        on_train_end=lambda s: calls.append(("train_end", s.epoch, s.step)),
    )
    X = np.random.default_rng(0).standard_normal((10, 2))
    dp.fit(dp.mlp([2, 2], seed=0), X, X[:, 0] > 0, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
           epochs=2, batch_size=6, callbacks=[cb])
    assert calls == [
        ("train_begin", 0, 0),
        ("epoch_begin", 0, 0), ("batch_end", 0, 1, 6), ("batch_end", 0, 2, 4), ("epoch_end", 1, 2, 1),
        ("epoch_begin", 1, 2), ("batch_end", 1, 3, 6), ("batch_end", 1, 4, 4), ("epoch_end", 2, 4, 2),
        ("train_end", 2, 4),
    ]


def test_train_end_runs_even_when_training_diverges():
    ended = []
    X = np.random.default_rng(0).standard_normal((16, 2)) * 1e3
    with pytest.raises(dp.TrainingDivergedError):
        dp.fit(dp.mlp([2, 8, 2], activation="relu", output="identity", seed=0), X, X[:, 0] > 0,
               loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=10.0), epochs=50, batch_size=4, seed=0,
               callbacks=[dp.LambdaCallback(on_train_end=lambda s: ended.append(s.step))])
    assert len(ended) == 1


def test_progress_bar_writes_each_epoch_to_its_file():
    out = io.StringIO()
    X = np.random.default_rng(0).standard_normal((40, 2))
    dp.fit(dp.mlp([2, 3, 2], seed=0), X, X[:, 0] > 0, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
           epochs=2, batch_size=8, validation=(X, X[:, 0] > 0), callbacks=[dp.ProgressBar(file=out)])
    text = out.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text
    assert "val accuracy" in text and "loss" in text


def test_only_callbacks_are_accepted():
    X = np.zeros((4, 2))
    with pytest.raises(dp.ConfigError, match="Callback"):
        dp.fit(dp.mlp([2, 2], seed=0), X, [0, 1, 0, 1], loss=dp.CrossEntropy(), optimizer=dp.SGD(),
               callbacks=[lambda state: None])
    with pytest.raises(dp.ConfigError):
        dp.EarlyStopping(patience=-1)


def test_progress_bar_shows_running_loss_and_accuracy_during_the_epoch():
    import io

    buf = io.StringIO()
    rng = np.random.default_rng(0)
    X = rng.random((500, 4))
    y = (X[:, 0] > 0.5).astype(int)
    dp.fit(dp.mlp([4, 8, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5),
           epochs=1, batch_size=10, seed=0, callbacks=[dp.ProgressBar(file=buf)])
    text = buf.getvalue()
    assert "epoch 1/1" in text and "ex/s" in text
    assert "accuracy 0." in text and "loss 0." in text


# -- the gradient hook ------------------------------------------------------------------------------
def test_the_gradient_hook_sees_each_steps_loss_gradient_before_the_update():
    X = np.random.default_rng(0).standard_normal((10, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.mlp([2, 3, 2], seed=0, dtype="float64")
    by_hand = net.copy()
    seen = []

    def record(state):
        grads = np.concatenate([p.grad.ravel() for p in state.net.parameters()])
        np.testing.assert_array_equal(state.net.flat_gradients, grads)  # one buffer, views of it
        seen.append((state.step, [p.value.copy() for p in state.net.parameters()],
                     [p.grad.copy() for p in state.net.parameters()]))

    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5, weight_decay=0.1), steps=3, batch_size=None,
           callbacks=[dp.LambdaCallback(on_gradients=record)])
    assert [s for s, _, _ in seen] == [0, 1, 2]  # once per step, before the step is counted
    for step, (_, weights, grads) in enumerate(seen):
        by_hand.loss_and_gradients(dp.CrossEntropy(), X, y)
        for p, w, g in zip(by_hand.parameters(), weights, grads):
            np.testing.assert_array_equal(p.value, w)
            np.testing.assert_array_equal(p.grad, g)  # ∂L/∂θ alone: the decay is the optimizer's
            p.value -= 0.5 * (p.grad + 0.1 * p.value)


def test_a_gradient_hook_may_change_the_gradients_the_update_uses():
    class Freeze(dp.Callback):
        def on_gradients(self, state):
            state.net.flat_gradients[...] = 0.0

    X = np.random.default_rng(0).standard_normal((10, 2))
    net = dp.mlp([2, 3, 2], seed=0)
    start = [p.value.copy() for p in net.parameters()]
    dp.fit(net, X, X[:, 0] > 0, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=2, batch_size=4,
           callbacks=[Freeze()])
    for p, w in zip(net.parameters(), start):
        np.testing.assert_array_equal(p.value, w)


@pytest.mark.parametrize("batching", ["shuffled", "sequential", "sliding"])
def test_diagnostics_record_the_update_ratio_of_each_epochs_last_step(batching):
    # 40 rows in batches of 4: sliding windows of 5 rows overlap, so the examples seen pass
    # 40 three steps before the epoch's last; the ratio must still be that of the last step
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    net = dp.mlp([3, 4, 2], seed=0, dtype="float64")
    before = {}
    keep = dp.LambdaCallback(on_epoch_begin=lambda s: before.update(last=[p.value.copy() for p in s.net.parameters()]),
                             on_batch_end=lambda s, b, loss_value: before.update(
                                 previous=before["last"], last=[p.value.copy() for p in s.net.parameters()]))
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(0.1), epochs=2, batch_size=4,
                     batching=batching, callbacks=[keep])
    ratios = [p.update_ratio for p in history.diagnostics[-1].parameters]
    expected = [np.linalg.norm(p.value - q) / np.linalg.norm(p.value) for p, q in zip(net.parameters(), before["previous"])]
    assert ratios == pytest.approx(expected, rel=1e-12)


def test_early_stopping_that_never_stops_still_says_it_kept_an_earlier_epoch():
    # the model silently held the best epoch's weights while the last line printed was the last epoch's
    from types import SimpleNamespace

    stopper = dp.EarlyStopping("loss", patience=5)
    state = SimpleNamespace(net=dp.mlp([3, 4, 2], seed=0), progress=None, callback_records={}, saved_weights={})
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.8], start=1):
        state.epoch, state.logs = epoch, {"loss": loss}
        stopper.on_epoch_end(state)
    assert stopper.stopped_epoch is None
    assert stopper.report() == ("early stopping did not stop the run (patience 5), but kept the weights of epoch 2, "
                                "the best loss (0.5000), not those of the last epoch, 4")
    state.epoch, state.logs = 5, {"loss": 0.4}
    stopper.on_epoch_end(state)
    assert stopper.report() is None  # the last epoch is the best: the model holds the last weights
