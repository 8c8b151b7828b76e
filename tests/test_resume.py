"""Exact resume: a run stopped anywhere (at, before or after an epoch boundary) and resumed
from its checkpoint equals the uninterrupted run bit for bit, weights and history, with
dropout, a schedule and every optimizer; a resume that would train nothing is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.serialization import load_checkpoint, save_checkpoint
from deltaprop.training import STATE_FIELDS, TrainingState

N, BATCH = 70, 16  # 5 batches an epoch: 4 of 16 and one of 6
TOTAL_STEPS = 13  # two epochs and 3 batches of the third

OPTIMIZERS = {
    "SGD": lambda: dp.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "AdaGrad": lambda: dp.AdaGrad(weight_decay=1e-3),
    "RMSprop": lambda: dp.RMSprop(weight_decay=1e-3),
    "AdaDelta": lambda: dp.AdaDelta(weight_decay=1e-3),
    "Adam": lambda: dp.Adam(lr=0.01, weight_decay=1e-3),
    "AdamW": lambda: dp.AdamW(lr=0.01),
}


def data():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 2)) * 3
    y = rng.integers(0, 3, N)
    return (centers[y] + rng.standard_normal((N, 2))).astype(np.float32), y


def train(opt, *, resume=None, net=None, **kw):
    X, y = data()
    net = net if net is not None else dp.mlp([2, 16, 8, 3], activation="relu", dropout=0.3, seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, batch_size=BATCH, seed=0, validation=(X[:20], y[:20]),
           schedule=None if resume is not None else dp.StepDecay(step_size=1, gamma=0.7), resume=resume, **kw)
    return net


def records(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history.records]


def assert_same_run(net, state, straight_net, straight_state):
    for p, q in zip(net.parameters(), straight_net.parameters()):
        assert p.value.tobytes() == q.value.tobytes()
    assert records(state.history) == records(straight_state.history)
    assert state.step == straight_state.step and state.epoch == straight_state.epoch


class KeepState(dp.Callback):
    def on_train_begin(self, state):
        self.state = state


def run_keeping_state(opt, **kw):
    keep = KeepState()
    net = train(opt, callbacks=[keep], **kw)
    return net, keep.state


@pytest.mark.slow  # about 1.0 s in the quick suite on 2 cores
@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("stop", [4, 5, 7], ids=["before-boundary", "at-boundary", "after-boundary"])
def test_a_checkpoint_taken_at_a_steps_stop_resumes_bit_for_bit(tmp_path, name, stop):
    straight_net, straight = run_keeping_state(OPTIMIZERS[name](), steps=TOTAL_STEPS)
    _, first = run_keeping_state(OPTIMIZERS[name](), steps=stop)
    save_checkpoint(tmp_path / "checkpoint.safetensors", first)
    # a fresh process: everything comes from the file
    checkpoint = load_checkpoint(tmp_path / "checkpoint.safetensors")
    state = checkpoint.training_state()
    assert state.step == stop and state.completed_epochs == stop // 5
    train(checkpoint.optimizer, net=checkpoint.net, resume=state, steps=TOTAL_STEPS)
    assert_same_run(checkpoint.net, state, straight_net, straight)


def test_a_state_passed_back_resumes_an_unfinished_epoch_in_memory():
    straight_net, straight = run_keeping_state(dp.Adam(lr=0.01), steps=TOTAL_STEPS)
    opt = dp.Adam(lr=0.01)
    net, state = run_keeping_state(opt, steps=3)
    assert state.history["steps"] == [3] and state.progress.batches == 3  # a record of the part, kept open
    train(opt, net=net, resume=state, steps=8)
    train(opt, net=net, resume=state, epochs=10, steps=TOTAL_STEPS)
    assert_same_run(net, state, straight_net, straight)


def test_a_mid_epoch_state_from_a_callback_resumes_bit_for_bit(tmp_path):
    straight_net, straight = run_keeping_state(dp.RMSprop(), steps=TOTAL_STEPS)

    class SaveAtStep(dp.Callback):
        def on_batch_end(self, state, rows, loss):
            if state.step == 8:
                save_checkpoint(tmp_path / "mid.safetensors", state)

    train(dp.RMSprop(), steps=TOTAL_STEPS, callbacks=[SaveAtStep()])
    checkpoint = load_checkpoint(tmp_path / "mid.safetensors")
    state = checkpoint.training_state()
    assert (state.epoch, state.progress.epoch, state.progress.batches) == (1, 1, 3)
    train(checkpoint.optimizer, net=checkpoint.net, resume=state, steps=TOTAL_STEPS)
    assert_same_run(checkpoint.net, state, straight_net, straight)


def test_stopping_by_epochs_then_resuming_by_steps_is_the_same_run():
    straight_net, straight = run_keeping_state(dp.SGD(lr=0.1, momentum=0.9), steps=TOTAL_STEPS)
    opt = dp.SGD(lr=0.1, momentum=0.9)
    net, state = run_keeping_state(opt, epochs=1)
    assert state.progress is None
    train(opt, net=net, resume=state, steps=TOTAL_STEPS)
    assert_same_run(net, state, straight_net, straight)


@pytest.mark.parametrize(
    ("first", "again", "message"),
    [
        ({"steps": 7}, {"steps": 7}, "already taken 7 steps"),
        ({"steps": 7}, {"steps": 5, "epochs": 9}, "already taken 7 steps"),
        ({"epochs": 2}, {"epochs": 2}, "already completed 2 epochs"),
        ({"steps": 10}, {"epochs": 2}, "already completed 2 epochs"),
    ],
)
def test_a_resume_that_would_train_nothing_is_refused(first, again, message):
    opt = dp.SGD(lr=0.1)
    net, state = run_keeping_state(opt, **first)
    before = [p.value.copy() for p in net.parameters()]
    with pytest.raises(dp.ConfigError, match=f"nothing to train: the run has {message}"):
        train(opt, net=net, resume=state, **again)
    for p, w in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.value, w)


def test_an_unfinished_epoch_can_be_finished_by_asking_for_its_epoch():
    opt = dp.SGD(lr=0.1)
    net, state = run_keeping_state(opt, steps=7)  # epoch 2 has 2 of its 5 batches
    assert state.completed_epochs == 1 and state.epoch == 2
    train(opt, net=net, resume=state, epochs=2)
    assert state.history["steps"] == [5, 10] and state.progress is None


def test_to_dict_is_json_and_from_dict_gives_the_same_state_back():
    opt = dp.Adam(lr=0.01)
    net, state = run_keeping_state(opt, steps=7)
    data = json.loads(json.dumps(state.to_dict()))
    assert set(data) == set(STATE_FIELDS) and data["unfinished"]["batches"] == 2
    other = dp.mlp([2, 16, 8, 3], activation="relu", dropout=0.3, seed=5)
    again = TrainingState.from_dict(data, net=other, optimizer=opt)
    assert again.to_dict() | {"net_rng": None} == data | {"net_rng": None}
    assert other.rng.bit_generator.state == net.rng.bit_generator.state  # dropout continues the same masks


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("history"), "must be a mapping holding"),
        (lambda d: d.update(step=-1), "step must be a whole number"),
        (lambda d: d.update(epoch=True), "epoch must be a whole number"),
        (lambda d: d.update(base_lr=float("nan")), "base_lr must be a finite number"),
        (lambda d: d.update(base_lr=0), "base_lr must be > 0"),
        (lambda d: d.update(history={"loss": 1}), "history must be a list"),
        (lambda d: d.update(loss={"type": "Nope"}), "loss or schedule is invalid"),
        (lambda d: d.update(schedule={"type": "plateau"}, schedule_state={"scale": 10**400, "best": 1, "wait": 0}),
         "loss or schedule is invalid"),
        (lambda d: d.update(shuffle_rng={"bit_generator": "MT19937"}), "shuffling random state is not a PCG64"),
        (lambda d: d["shuffle_rng"]["state"].update(state="x"), "shuffling random state is invalid"),
        (lambda d: d["unfinished"].update(batches=0), "batches and examples seen disagree"),
        (lambda d: d["unfinished"].update(correct=10**6), "more correct predictions than examples"),
        (lambda d: d["unfinished"].update(epoch=7), "does not follow the state's epoch"),
        (lambda d: d["unfinished"].pop("seen"), "unfinished epoch must be a mapping"),
        (lambda d: d["unfinished"].update(loss_sum="1"), "loss_sum must be a finite number"),
    ],
)
@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_from_dict_refuses_a_malformed_state(change, message):
    opt = dp.SGD(lr=0.1)
    net, state = run_keeping_state(opt, steps=7)
    data = json.loads(json.dumps(state.to_dict()))
    change(data)
    with pytest.raises(dp.StateError, match=message):
        TrainingState.from_dict(data, net=net, optimizer=opt)


def test_finished_says_whether_a_resume_would_train_anything():
    opt = dp.SGD(lr=0.1)
    _, state = run_keeping_state(opt, steps=7)  # 1 epoch completed, 2 batches into the second
    assert state.finished(steps=7) and state.finished(epochs=1) and state.finished(epochs=5, steps=6)
    assert not state.finished(steps=8) and not state.finished(epochs=2) and not state.finished()


# -- early stopping across a resume ------------------------------------------------------------
def _noisy_run():
    """Random labels: the validation loss soon rises, so early stopping stops within a few epochs."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    net = dp.Network([dp.Dense(5, 32), dp.Tanh(), dp.Dense(32, 3), dp.Softmax()], seed=0, dtype="float64")
    kw = dict(loss=dp.CrossEntropy(), batch_size=10, validation=(rng.normal(size=(30, 5)), rng.integers(0, 3, 30)),
              diagnostics=False)
    return net, dp.Adam(0.02), X, y, kw


def _stopped_run(**limit):
    """A run with early stopping (patience 3) to ``limit``; its network, stopper and state."""
    net, opt, X, y, kw = _noisy_run()
    stopper, box = dp.EarlyStopping("val_loss", patience=3), {}
    keep = dp.LambdaCallback(on_train_end=lambda s: box.update(state=s))
    history = dp.fit(net, X, y, optimizer=opt, seed=1, callbacks=[stopper, keep], **limit, **kw)
    return net, stopper, box["state"], history


def _resumed(state, *, through_file=None, **limit):
    net, _, X, y, kw = _noisy_run()
    stopper = dp.EarlyStopping("val_loss", patience=3)  # a new one, as `deltaprop train --resume` builds
    if through_file is not None:
        save_checkpoint(through_file, state)
        state = load_checkpoint(through_file).training_state()
    history = dp.fit(state.net, X, y, optimizer=state.optimizer, resume=state, callbacks=[stopper], **limit, **kw)
    return state.net, stopper, history


@pytest.mark.parametrize("through_file", [False, True])
@pytest.mark.parametrize("cut", [{"epochs": 3}, {"steps": 13}])  # after epoch 3; mid-way through epoch 4
def test_early_stopping_resumed_stops_where_and_as_the_uninterrupted_run(tmp_path, through_file, cut):
    ref_net, ref, _, ref_history = _stopped_run(epochs=60)
    assert ref.stopped_epoch == 5 and ref.best_epoch == 1  # the run this test needs: best 1, stop 5
    _, first, state, _ = _stopped_run(**cut)
    assert first.stopped_epoch is None
    net, stopper, history = _resumed(state, through_file=tmp_path / "c.safetensors" if through_file else None,
                                     epochs=60)
    assert (stopper.stopped_epoch, stopper.best_epoch, stopper.best) == (5, 1, ref.best)
    assert stopper.report() == ref.report() and len(history) == len(ref_history) == 5
    for p, q in zip(net.parameters(), ref_net.parameters()):
        assert np.array_equal(p.value, q.value)  # the best epoch's weights, bit for bit


def test_the_checkpoint_keeps_the_stoppers_record_and_best_weights(tmp_path):
    net, stopper, state, _ = _stopped_run(epochs=3)
    assert state.callback_records["early_stopping.val_loss"] == {
        "best": stopper.best, "wait": 2, "best_epoch": 1, "stopped_epoch": None}
    save_checkpoint(tmp_path / "c.safetensors", state)
    ck = load_checkpoint(tmp_path / "c.safetensors")
    for best, p, last in zip(ck.saved_weights["early_stopping.val_loss"], net.parameters(), ck.net.parameters()):
        assert np.array_equal(best, p.value)  # the network ended with the best epoch's weights ...
        assert not np.array_equal(last.value, p.value)  # ... and the checkpoint holds epoch 3's, to resume from
    assert ck.training_state().callback_records == state.callback_records


def test_a_checkpoint_without_the_record_resumes_with_early_stopping_afresh_and_says_so(tmp_path):
    _, _, state, _ = _stopped_run(epochs=3)
    state.callback_records.clear()
    state.saved_weights.clear()  # what a checkpoint written before they were kept holds
    with pytest.warns(UserWarning, match="EarlyStopping starts afresh at epoch 4"):
        _, stopper, history = _resumed(state, through_file=tmp_path / "old.safetensors", epochs=60)
    assert stopper.best_epoch >= 4 and len(history) > 5  # it watched from the resume on


@pytest.mark.parametrize("through_file", [False, True])
def test_a_run_early_stopping_ended_stays_ended_when_resumed(tmp_path, through_file):
    ref_net, ref, state, ref_history = _stopped_run(epochs=60)
    assert ref.stopped_epoch == 5 and state.callback_records["early_stopping.val_loss"]["stopped_epoch"] == 5
    net, stopper, history = _resumed(state, through_file=tmp_path / "c.safetensors" if through_file else None,
                                     epochs=60)
    assert len(history) == len(ref_history) == 5 and state.epoch == 5  # no epoch trained after the stop
    assert (stopper.stopped_epoch, stopper.best_epoch) == (5, 1)
    for p, q in zip(net.parameters(), ref_net.parameters()):
        assert np.array_equal(p.value, q.value)  # still the best epoch's weights
    # without the stopper, a resume trains on from the weights training stopped at
    _, _, X, y, kw = _noisy_run()
    more = dp.fit(state.net, X, y, optimizer=state.optimizer, resume=state, epochs=7, **kw)
    assert len(more) == 7


def test_a_new_run_with_a_used_stopper_starts_afresh():
    _, stopper, _, _ = _stopped_run(epochs=60)
    net, opt, X, y, kw = _noisy_run()
    dp.fit(net, X, y, optimizer=opt, seed=1, callbacks=[stopper], epochs=60, **kw)
    assert (stopper.stopped_epoch, stopper.best_epoch) == (5, 1)


def test_a_malformed_stopper_record_is_refused(tmp_path):
    _, _, state, _ = _stopped_run(epochs=3)
    state.callback_records["early_stopping.val_loss"]["wait"] = -1
    with pytest.raises(dp.StateError, match="early_stopping.val_loss record is malformed"):
        _resumed(state, epochs=60)
    data = json.loads(json.dumps(state.to_dict()))
    with pytest.raises(dp.StateError, match="names saved weights 'early_stopping.val_loss', but they were not given"):
        TrainingState.from_dict(data, net=state.net, optimizer=state.optimizer)


def test_a_checkpoint_writer_listed_first_still_saves_the_epochs_stopper_record(tmp_path):
    net, opt, X, y, kw = _noisy_run()
    stopper = dp.EarlyStopping("val_loss", patience=3)
    writer = dp.CheckpointWriter(tmp_path, interval=0)
    dp.fit(net, X, y, optimizer=opt, seed=1, epochs=3, callbacks=[writer, stopper], **kw)
    record = load_checkpoint(tmp_path / "checkpoint.safetensors").training["callbacks"]["early_stopping.val_loss"]
    assert record["wait"] == 2 and record["best_epoch"] == 1  # epoch 3's, not epoch 2's


@pytest.mark.parametrize("change", [{"batch_size": 32}, {"batch_size": None}, {"batch_size": 8},
                                    {"batching": "sequential"}, {"rows": 60}])
@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
@pytest.mark.parametrize("through_file", [False, True])
def test_an_unfinished_epoch_is_finished_only_from_the_batches_it_began_with(tmp_path, change, through_file):
    # stopped 2 batches into epoch 2 (5 batches an epoch); the rest from other batches would
    # never end (more rows a batch), or skip rows and take others twice (fewer)
    net, state = run_keeping_state(dp.SGD(lr=0.1), epochs=3, steps=7)
    assert state.progress is not None and state.progress.batches == 2
    if through_file:
        save_checkpoint(tmp_path / "c.safetensors", state)
        state = load_checkpoint(tmp_path / "c.safetensors").training_state()
    X, y = data()
    rows = change.get("rows", N)
    kw = {"batch_size": change.get("batch_size", BATCH), "batching": change.get("batching")}
    # other rows are refused before the batches are compared: the state knows the run's (its training_data)
    words = ("have 60 rows where the run's had 70" if rows != N
             else "stopped 2 batches into epoch 2, of shuffled batches of 16 from 70")
    with pytest.raises(dp.ConfigError, match=words):
        dp.fit(state.net, X[:rows], y[:rows], loss=dp.CrossEntropy(), optimizer=state.optimizer, resume=state,
               epochs=3, seed=0, **kw)


def test_a_state_without_the_batch_layout_is_checked_by_its_rows():
    net, state = run_keeping_state(dp.SGD(lr=0.1), epochs=3, steps=7)
    data_ = state.to_dict()
    del data_["unfinished"]["layout"]  # as written before the layout was kept
    X, y = data()
    for batch_size, ok in ((16, True), (32, False), (8, False)):
        again = TrainingState.from_dict(data_, net=state.net, optimizer=state.optimizer)
        call = lambda: dp.fit(again.net, X, y, loss=dp.CrossEntropy(), optimizer=again.optimizer, resume=again,  # noqa: E731
                              epochs=3, batch_size=batch_size)
        if ok:
            assert len(call()) == 3
        else:
            with pytest.raises(dp.ConfigError, match="held 32 rows in 2"):
                call()
