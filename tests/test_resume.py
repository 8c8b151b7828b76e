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
