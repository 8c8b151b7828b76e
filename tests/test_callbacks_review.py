"""Callbacks as a user writes and passes them: given twice, two early stoppings, a callback
that raises at the end of training."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


def problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    Xv = rng.standard_normal((30, 4))
    yv = (Xv[:, 0] + Xv[:, 1] > 0).astype(np.int64)
    return X, y, (Xv, yv)


def train(callbacks, *, epochs=3):
    X, y, validation = problem()
    net = dp.mlp([4, 8, 2], seed=0)
    return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.2), epochs=epochs, batch_size=8,
                  seed=1, validation=validation, callbacks=callbacks, diagnostics=False, threads=1)


class CountEpochs(dp.Callback):
    def __init__(self):
        self.calls = 0

    def on_epoch_end(self, state):
        self.calls += 1


def test_one_callback_given_twice_is_refused_not_called_twice_per_hook():
    counter = CountEpochs()
    with pytest.raises(dp.ConfigError, match="twice"):
        train([counter, counter])
    assert counter.calls == 0
    stopper = dp.EarlyStopping("loss", patience=2)
    with pytest.raises(dp.ConfigError, match="twice"):  # it would count every epoch twice: half the patience
        train([stopper, stopper])


def test_callbacks_from_a_generator_are_each_called_once():
    counter = CountEpochs()
    train(cb for cb in [counter])
    assert counter.calls == 3


def test_two_early_stoppings_on_one_metric_are_refused():
    # they share one record in the training state: the one that stopped the run was overwritten
    # by the other's, so a checkpoint said early stopping had not stopped it
    quick = dp.EarlyStopping("val_loss", patience=1)
    slow = dp.EarlyStopping("val_loss", patience=8, restore_best_weights=False)
    with pytest.raises(dp.ConfigError, match="two EarlyStopping callbacks watch val_loss"):
        train([quick, slow])


def test_two_early_stoppings_that_both_restore_weights_are_refused():
    # the second restored its own best epoch over the first's, while the first's report said
    # the network kept its best epoch's weights
    with pytest.raises(dp.ConfigError, match="restore_best_weights=False"):
        train([dp.EarlyStopping("val_loss"), dp.EarlyStopping("val_accuracy")])


def test_two_early_stoppings_on_different_metrics_restoring_one_train():
    by_loss = dp.EarlyStopping("val_loss", patience=1)
    by_accuracy = dp.EarlyStopping("val_accuracy", patience=1, restore_best_weights=False)
    history = train([by_loss, by_accuracy], epochs=4)
    assert len(history) >= 1 and by_loss.last_epoch == by_accuracy.last_epoch == len(history)


class FailsAtTheEnd(dp.Callback):
    def on_train_end(self, state):
        raise RuntimeError("failed at the end")


def test_a_callback_raising_in_on_train_end_leaves_the_checkpoint_written(tmp_path):
    writer = dp.CheckpointWriter(tmp_path, interval=3600)  # written only when training ends
    with pytest.raises(RuntimeError, match="failed at the end"):
        train([FailsAtTheEnd(), writer], epochs=2)
    assert writer.written_epoch == 2
    assert len(dp.History.read_csv(tmp_path / "history.csv")) == 2
    assert (tmp_path / "checkpoint.safetensors").is_file()


def test_a_hook_fit_never_calls_is_warned_of_not_silently_skipped():
    class Warmup(dp.Callback):  # on_batch_begin is another library's hook: deltaprop has none
        def on_batch_begin(self, state):
            state.optimizer.lr = 0.0

    with pytest.warns(UserWarning, match="Warmup defines on_batch_begin, which fit never calls") as caught:
        train([Warmup()], epochs=1)
    assert caught[0].filename == __file__


def test_the_hooks_fit_calls_raise_no_warning(recwarn):
    train([CountEpochs(), dp.EarlyStopping("val_loss"), dp.LambdaCallback(on_batch_end=lambda state, rows, loss: None)],
          epochs=1)
    assert not [w for w in recwarn if "never calls" in str(w.message)]


def test_a_gradient_hook_over_data_parallel_processes_sees_the_reduced_gradients():
    from test_distributed import _TwinRanks

    comm, reductions = _TwinRanks(), []
    hook = dp.LambdaCallback(on_gradients=lambda state: reductions.append(comm.calls.get("Reduce", 0)))
    X = np.random.default_rng(0).normal(size=(40, 4))
    dp.fit(dp.mlp([4, 5, 2], seed=0, dtype="float64"), X, (X[:, 0] > 0).astype(int), loss=dp.CrossEntropy(),
           optimizer=dp.SGD(lr=0.1), epochs=1, batch_size=10, seed=0, threads=1, comm=comm, callbacks=[hook],
           diagnostics=False)
    assert reductions == [1, 2, 3, 4]  # each step's gradient reduction came before the hook


def test_a_rate_set_in_on_epoch_begin_is_the_epochs_rate():
    rates = dp.LambdaCallback(on_epoch_begin=lambda state: setattr(state.optimizer, "lr", 0.05 * (state.epoch + 1)))
    history = train([rates], epochs=3)
    assert history["lr"] == pytest.approx([0.05, 0.10, 0.15])


def test_early_stopping_does_not_claim_a_stop_in_an_epoch_the_steps_limit_cut_short():
    # epochs of 3 batches; steps=4 ends the run one batch into epoch 2, whose val_loss is worse
    from test_callbacks import overfitting_problem

    (X, y), validation = overfitting_problem()
    stopper = dp.EarlyStopping("val_loss", patience=0)
    history = dp.fit(dp.mlp([5, 64, 2], activation="tanh", seed=0), X, y, loss=dp.CrossEntropy(),
                     optimizer=dp.Adam(lr=0.01), steps=4, batch_size=8, seed=0, validation=validation,
                     callbacks=[stopper], diagnostics=False, threads=1)
    assert history["steps"] == [3, 4] and history["val_loss"][1] > history["val_loss"][0]
    assert stopper.stopped_epoch is None  # the steps limit ended the run, not early stopping
    assert stopper.report().startswith("early stopping did not stop the run")


def test_a_lambda_callback_given_something_not_callable_is_refused_when_built():
    with pytest.raises(dp.ConfigError, match="on_epoch_end must be a function"):
        dp.LambdaCallback(on_epoch_end="print")
