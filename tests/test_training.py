"""The training loop: XOR, descent at a small rate, epochs and steps, full batch, History,
validation, determinism and resume, float32, divergence (seed 001's parity experiment is
checked on the README's run of it, in tests/test_readme.py)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.training import TrainingState, batch_source


def blobs(n=60, seed=0, k=3):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, 2)) * 3
    y = rng.integers(0, k, n)
    return centers[y] + rng.standard_normal((n, 2)), y


# -- the seeds' experiments --------------------------------------------------------------------
# Seed 001's parity experiment (10 → 3 → 2 sigmoid, MSE, SGD at 0.3, batches of 8, 1000 epochs)
# is the README's example: tests/test_readme.py trains it once and checks there what the loop
# does (the seed's data, 1000 epochs of 88 steps, the loss falling tenfold, test accuracy 1.0).


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_xor_is_learned():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    net = dp.mlp([2, 4, 2], activation="tanh", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5, momentum=0.9),
                     epochs=300, batch_size=None)
    np.testing.assert_array_equal(net.predict(X), y)
    assert history["loss"][-1] < 0.05 and history["accuracy"][-1] == 1.0


def test_full_batch_softmax_regression_loss_never_rises_at_a_small_rate():
    X, y = blobs(n=90)
    net = dp.Network([dp.Dense(2, 3), dp.Softmax()], seed=0, dtype="float64")
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.05), epochs=150, batch_size=None)
    losses = np.array(history["loss"])
    assert np.all(np.diff(losses) <= 0), np.max(np.diff(losses))
    assert losses[-1] < 0.7 * losses[0]


# -- epochs, steps, batches --------------------------------------------------------------------------
def test_epochs_and_steps_stop_training_where_they_say():
    X, y = blobs(n=20)
    run = lambda **kw: dp.fit(dp.mlp([2, 4, 3], seed=0), X, y, loss=dp.CrossEntropy(),  # noqa: E731
                              optimizer=dp.SGD(lr=0.1), seed=0, **kw)
    assert run(epochs=2, batch_size=8)["steps"] == [3, 6]  # 8 + 8 + 4
    assert run(steps=5, batch_size=8)["steps"] == [3, 5]  # the second epoch stops after 2 batches
    assert run(steps=5, epochs=1, batch_size=8)["steps"] == [3]  # whichever comes first
    assert run(steps=4, batch_size=None)["steps"] == [1, 2, 3, 4]  # seed 000 counts iterations
    assert len(run(batch_size=8)) == 10  # neither given: 10 epochs
    assert run(epochs=1, batch_size=1000)["steps"] == [1]  # a batch larger than the set


def test_full_batch_training_is_plain_gradient_descent():
    X, y = blobs(n=30)
    net = dp.mlp([2, 5, 3], seed=0, dtype="float64")
    by_hand = net.copy()
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3), epochs=3, batch_size=None)
    for _ in range(3):
        by_hand.loss_and_gradients(dp.CrossEntropy(), X, y)
        for p in by_hand.parameters():
            p.value -= 0.3 * p.grad
    for p, q in zip(net.parameters(), by_hand.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12)


class BatchLog(dp.Callback):
    def __init__(self):
        self.batches = []

    def on_batch_end(self, state, batch_size, batch_loss):
        self.batches.append((state.epoch, batch_size, batch_loss))


def test_every_example_is_visited_once_per_epoch_in_shuffled_batches():
    X = np.arange(10, dtype=np.float64).reshape(-1, 1)
    seen = []

    class Spy(dp.Callback):
        def on_batch_end(self, state, batch_size, batch_loss):
            seen.append(state.net.layers[0]._x[:, 0].copy())

    net = dp.Network([dp.Dense(1, 1)], seed=0, dtype="float64")
    dp.fit(net, X, np.zeros(10), loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=1e-3), epochs=2, batch_size=4,
           seed=0, callbacks=[Spy()])
    assert [len(b) for b in seen] == [4, 4, 2, 4, 4, 2]
    first, second = np.concatenate(seen[:3]), np.concatenate(seen[3:])
    assert sorted(first) == list(range(10)) and sorted(second) == list(range(10))
    assert first.tolist() != list(range(10)) and first.tolist() != second.tolist()  # shuffled, freshly


@pytest.mark.parametrize("batching", ["shuffled", "sequential", "sliding"])
def test_each_batch_holds_exactly_the_rows_of_its_indices(batching):
    # the gathers write straight into reused buffers (take with mode="clip"): every row,
    # target, class id and sample weight must still be the one its index names
    rng = np.random.default_rng(3)
    X = rng.standard_normal((23, 5)).astype(np.float32)
    ids = rng.integers(0, 3, 23)
    Y = np.eye(3, dtype=np.float32)[ids]
    W = rng.random(23).astype(np.float32)
    net = dp.mlp([5, 3], seed=0)
    source = batch_source(net, X, Y, ids, W, 4, batching=batching)
    for epoch in range(2):
        n_batches = source.start_epoch(np.random.default_rng(epoch))
        for k in range(n_batches):
            idx = source.indices(k)
            xb, yb, idb, wb = source.batch(k)
            np.testing.assert_array_equal(xb, X[idx])
            np.testing.assert_array_equal(yb, Y[idx])
            np.testing.assert_array_equal(idb, ids[idx])
            np.testing.assert_array_equal(wb, W[idx])
    assert idx.shape[0] == (5 if batching == "sliding" else 3)  # the last batch (a window of b + 1 rows)


# -- History and validation -----------------------------------------------------------------------------
def test_history_records_each_epoch():
    X, y = blobs(n=50)
    Xv, yv = blobs(n=20, seed=1)
    log = BatchLog()
    net = dp.mlp([2, 6, 3], seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.2), epochs=3, batch_size=16,
                     seed=0, validation=(Xv, yv), callbacks=[log])
    assert len(history) == 3 and history["epoch"] == [1, 2, 3]
    assert set(history.records[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "steps",
                                       "diagnostics", "alerts"}  # the last two: fit's diagnostics recorder
    for epoch in range(3):
        batches = [(m, loss) for e, m, loss in log.batches if e == epoch]
        assert [m for m, _ in batches] == [16, 16, 16, 2]
        mean = sum(m * loss for m, loss in batches) / 50  # the epoch's running mean, weighted by batch size
        assert history["loss"][epoch] == pytest.approx(mean, rel=1e-12)
    assert all(0 <= a <= 1 for a in history["accuracy"] + history["val_accuracy"])
    assert all(s > 0 for s in history["seconds"]) and history["lr"] == [0.2] * 3
    # validation figures are those of the network at the end of the epoch
    final = dp.evaluate(net, Xv, yv, loss=dp.CrossEntropy())
    assert history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == final["accuracy"] == dp.accuracy(yv, net.predict(Xv))
    assert history.loss == history["loss"] and history.as_dict()["val_loss"] == history["val_loss"]
    assert "3 epochs" in repr(history)
    with pytest.raises(KeyError):
        history["precision"]


def test_without_validation_the_validation_columns_are_none_and_regression_has_no_accuracy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    history = dp.fit(dp.mlp([2, 3, 1], output="identity", seed=0), X, X.sum(axis=1), epochs=2, seed=0,
                     loss=dp.MeanSquaredError(classification=False), optimizer=dp.SGD(lr=0.01))
    assert history["val_loss"] == [None, None] and history["accuracy"] == [None, None]


def test_history_rebuilds_from_its_records():
    X, y = blobs(n=20)
    history = dp.fit(dp.mlp([2, 3, 3], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2)
    again = dp.History(history.records)
    assert again.records == history.records and again["loss"] == history["loss"]


# -- determinism and resume ------------------------------------------------------------------------------
def _train(seed=0, *, net_seed=0, epochs=3, **kw):
    X, y = blobs(n=70)
    net = dp.mlp([2, 16, 8, 3], activation="relu", dropout=0.3, seed=net_seed)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.01), epochs=epochs, batch_size=16,
                     seed=seed, **kw)
    return net, history


def _without_seconds(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history.records]


def test_same_seed_gives_bit_identical_weights_and_history():
    (a, ha), (b, hb) = _train(), _train()
    for p, q in zip(a.parameters(), b.parameters()):
        assert p.value.tobytes() == q.value.tobytes()
    assert _without_seconds(ha) == _without_seconds(hb)
    c, _ = _train(seed=1)  # another shuffle
    d, _ = _train(net_seed=1)  # other initial weights and dropout masks
    assert not np.array_equal(a.parameters()[0].value, c.parameters()[0].value)
    assert not np.array_equal(a.parameters()[0].value, d.parameters()[0].value)


def test_resuming_from_a_training_state_continues_bit_for_bit():
    X, y = blobs(n=70)
    straight, _ = _train(epochs=4)
    net = dp.mlp([2, 16, 8, 3], activation="relu", dropout=0.3, seed=0)
    opt = dp.Adam(lr=0.01)
    saved = {}

    class Save(dp.Callback):
        def on_epoch_end(self, state):
            if state.epoch == 2:
                saved.update(weights=[p.value.copy() for p in state.net.parameters()], opt=state.optimizer.state(),
                             shuffle=state.rng.bit_generator.state, dropout=state.net.rng.bit_generator.state,
                             records=list(state.history.records), step=state.step)

    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=16, seed=0, callbacks=[Save()])
    # a fresh process: rebuild everything from what was saved
    net = dp.mlp([2, 16, 8, 3], activation="relu", dropout=0.3, seed=123)
    for p, w in zip(net.parameters(), saved["weights"]):
        p.value[...] = w
    net.rng.bit_generator.state = saved["dropout"]
    opt = dp.Adam(lr=0.01)
    opt.build(net.parameters())
    opt.load_state(saved["opt"])
    rng = np.random.default_rng()
    rng.bit_generator.state = saved["shuffle"]
    state = TrainingState(net=net, optimizer=opt, loss=dp.CrossEntropy(), rng=rng, history=dp.History(saved["records"]),
                          epoch=2, step=saved["step"], schedule=dp.Constant(), base_lr=0.01)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=4, batch_size=16, resume=state)
    assert history["epoch"] == [1, 2, 3, 4]
    for p, q in zip(net.parameters(), straight.parameters()):
        assert p.value.tobytes() == q.value.tobytes()


# -- dtype --------------------------------------------------------------------------------------------------
OPTIMIZERS = [dp.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3), dp.AdaGrad(weight_decay=1e-3),
              dp.RMSprop(weight_decay=1e-3), dp.AdaDelta(weight_decay=1e-3), dp.Adam(weight_decay=1e-3), dp.AdamW()]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o.type_name)
def test_float32_stays_float32_through_training_with_every_layer(optimizer):
    X, y = blobs(n=24)
    net = dp.Network([dp.Dense(2, 6), dp.Sigmoid(), dp.Dropout(0.2), dp.Dense(6, 6), dp.Tanh(), dp.Dense(6, 6),
                      dp.ReLU(), dp.Dense(6, 6), dp.LeakyReLU(0.1), dp.Dense(6, 6), dp.Identity(), dp.Dense(6, 3),
                      dp.Softmax()], seed=0)
    dp.fit(net, X.astype(np.float64), y, loss=dp.CrossEntropy(), optimizer=optimizer, epochs=2, batch_size=8, seed=0)
    for p in net.parameters():
        assert p.value.dtype == np.float32 and p.grad.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in optimizer.state().items() if k != "iterations")
    for t in net.trace():
        assert t.output.dtype == np.float32
        assert t.delta is None or t.delta.dtype == np.float32
    assert net.predict_proba(X).dtype == np.float32


# -- divergence ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overflow", ["raise", "ignore"])
def test_divergence_names_epoch_and_step_and_keeps_finite_weights(overflow):
    # "raise": numpy stops at the first overflow; "ignore": the loss turns inf or NaN.
    X, y = blobs(n=64)
    net = dp.mlp([2, 8, 3], activation="relu", output="identity", seed=0)
    with np.errstate(over=overflow, invalid=overflow), pytest.raises(dp.TrainingDivergedError) as info:
        dp.fit(net, X * 1e3, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=10.0), epochs=20, batch_size=16, seed=0)
    assert f"epoch {info.value.epoch}, step {info.value.step}" in str(info.value)
    assert info.value.epoch >= 1 and info.value.step >= 1
    assert "learning rate" in str(info.value)
    assert isinstance(info.value, dp.Error)
    assert all(np.all(np.isfinite(p.value)) for p in net.parameters())


def test_an_overflow_in_the_last_update_is_caught_too():
    # With overflow merely ignored, the last step's infinite weights would go unnoticed by any loss.
    X, y = blobs(n=16)
    net = dp.mlp([2, 4, 3], seed=0)
    start = [p.value.copy() for p in net.parameters()]
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(dp.TrainingDivergedError, match="epoch 1, step 1") as info:
            dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=1e300), steps=1, batch_size=None)
    assert (info.value.epoch, info.value.step) == (1, 1)
    for p, w in zip(net.parameters(), start):
        np.testing.assert_array_equal(p.value, w)


def test_numpy_raising_while_the_validation_set_is_scored_stops_as_a_divergence():
    # a FloatingPointError escaped fit from the epoch's scoring, unlike one in a step
    X, y = blobs(n=32)
    Xv = X.copy()
    Xv[3] = 1e200
    net = dp.mlp([2, 4, 1], activation="identity", output="identity", seed=0, dtype="float64")
    with np.errstate(all="raise"), pytest.raises(dp.TrainingDivergedError, match="epoch 1, step 2") as info:
        dp.fit(net, X, y[:, None] * 1.0, loss=dp.MeanSquaredError(classification=False), optimizer=dp.SGD(lr=0.01),
               epochs=2, batch_size=16, seed=0, validation=(Xv, y[:, None] * 1.0), diagnostics=False)
    assert "scoring the validation set" in str(info.value)
    assert all(np.all(np.isfinite(p.value)) for p in net.parameters())


# -- callbacks may stop the loop --------------------------------------------------------------------------------
def test_a_callback_stops_training_through_the_state():
    X, y = blobs(n=20)

    class StopAfterTwo(dp.Callback):
        def on_epoch_end(self, state):
            state.stop_training = state.epoch >= 2

    history = dp.fit(dp.mlp([2, 3, 3], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
                     epochs=10, callbacks=[StopAfterTwo()])
    assert len(history) == 2


def test_evaluate_reports_loss_and_accuracy():
    X, y = blobs(n=30)
    net = dp.mlp([2, 4, 3], seed=0, dtype="float64")
    result = dp.evaluate(net, X, y, loss=dp.CrossEntropy())
    proba = net.predict_proba(X)
    assert result["loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(30), y])), rel=1e-12)
    assert result["accuracy"] == pytest.approx(np.mean(np.argmax(proba, axis=1) == y))
    assert dp.evaluate(net, X, y)["loss"] is None


def test_full_batch_on_a_lazy_array_is_refused_clearly(tmp_path):
    from deltaprop.data import open_mapped

    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).random((30, 4)).astype(np.float32))
    arr = open_mapped(path)
    net = dp.mlp([4, 2], seed=0)
    with pytest.raises(dp.ConfigError, match="batch_size"):
        dp.fit(net, arr, np.zeros(30, int), loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), batch_size=None)
    dp.fit(net, arr, np.zeros(30, int), loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), batch_size=8, epochs=1)


def test_an_optimizer_reused_after_a_scheduled_fit_anneals_from_its_own_rate_again():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    opt = dp.SGD(lr=0.4)
    rates = []
    for _ in range(2):
        net = dp.mlp([3, 4, 2], seed=0)
        rates.append(dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=3, batch_size=8, seed=0,
                            schedule=dp.StepDecay(step_size=1, gamma=0.5), diagnostics=False)["lr"])
        assert opt.lr == 0.4  # the rate it was given, not the last epoch's 0.1
    assert rates[0] == rates[1] == [0.4, 0.2, 0.1]
    # a failing run gives the rate back too
    with pytest.raises(dp.ShapeError):
        dp.fit(dp.mlp([3, 4, 2], seed=0), X[:, :2], y, loss=dp.CrossEntropy(), optimizer=opt, epochs=1,
               schedule="step")
    assert opt.lr == 0.4


def test_a_pandas_table_trains_as_its_rows():
    # a DataFrame passed for a lazy array: df[row_indices] picked columns (a KeyError, or, for a
    # square table in one shuffled batch, training on permuted features)
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 6)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 0, 1])
    weights = []
    for data in (X, pd.DataFrame(X), pd.DataFrame(X, columns=list("abcdef"))):
        net = dp.mlp([6, 4, 2], seed=0)
        dp.fit(net, data, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=6, seed=0,
               validation=(data, y), diagnostics=False)
        weights.append([p.value.copy() for p in net.parameters()])
    for other in weights[1:]:
        for a, b in zip(weights[0], other):
            np.testing.assert_array_equal(a, b)
