"""fit(resume=state) trains at the run's own rate; a rate set on the optimizer in between
is refused rather than silently replaced, and state.base_lr is the way to change it."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.callbacks import CheckpointWriter
from deltaprop.errors import ConfigError
from deltaprop.serialization import load_checkpoint


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 5)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


class Rates(dp.Callback):
    """The optimizer's rate at the start of every epoch."""

    def __init__(self):
        self.seen = []

    def on_epoch_begin(self, state):
        self.seen.append(state.optimizer.lr)


def _first_run(**options):
    X, y = _data()
    net = dp.mlp([5, 8, 2], activation="relu", seed=0)
    opt = dp.SGD(lr=0.1, momentum=0.9)
    keep = {}

    class Keep(dp.Callback):
        def on_train_end(self, state):
            keep["state"] = state

    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=32, seed=1,
           callbacks=[Keep()], **options)
    return net, opt, keep["state"], X, y


def test_a_rate_set_on_the_optimizer_before_a_resume_is_refused_not_ignored():
    net, opt, state, X, y = _first_run()
    opt.lr = 0.01  # the run went on at 0.1 without a word
    with pytest.raises(ConfigError, match=r"optimizer.lr is 0.01, but resume= continues the run at its own rate "
                                          r"\(base 0.1\).*state.base_lr = 0.01"):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=4, batch_size=32, resume=state)


def test_state_base_lr_changes_the_rate_of_a_resumed_run():
    net, opt, state, X, y = _first_run()
    opt.lr = state.base_lr = 0.01
    rates = Rates()
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=4, batch_size=32, resume=state,
           callbacks=[rates])
    assert rates.seen == [0.01, 0.01]


def test_a_plain_resume_keeps_its_rate_and_schedule():
    net, opt, state, X, y = _first_run(schedule=dp.StepDecay(step_size=1, gamma=0.5))
    rates = Rates()
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=4, batch_size=32, resume=state,
           callbacks=[rates])
    assert rates.seen == pytest.approx([0.1 * 0.5**2, 0.1 * 0.5**3])


def test_a_checkpoint_rebuilt_optimizer_carries_its_epochs_rate_and_resumes(tmp_path):
    X, y = _data()
    net = dp.mlp([5, 8, 2], activation="relu", seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=3, batch_size=32, seed=1,
           schedule=dp.StepDecay(step_size=1, gamma=0.5), callbacks=[CheckpointWriter(tmp_path, interval=0)])
    checkpoint = load_checkpoint(tmp_path / "checkpoint.safetensors")
    state = checkpoint.training_state()
    rates = Rates()
    dp.fit(checkpoint.net, X, y, loss=checkpoint.loss, optimizer=checkpoint.optimizer, epochs=5, batch_size=32,
           resume=state, callbacks=[rates])
    assert rates.seen == pytest.approx([0.1 * 0.5**3, 0.1 * 0.5**4])
