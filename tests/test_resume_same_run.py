"""``fit(resume=state)`` continues the state's run: a ``seed`` other than the one the run
began with (which the state keeps, checkpoints too) and another of deltaprop's losses than
the state's are refused, not silently ignored or switched to."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.serialization import load_checkpoint

rng = np.random.default_rng(1)
X = rng.normal(size=(240, 20)).astype(np.float32)
y = X[:, :3].argmax(1).astype(np.int64)


def _stopped(tmp_path, loss=None, seed=5):
    """A checkpoint 10 batches into epoch 2 (240 rows in batches of 16: 25 steps)."""
    net = dp.Network([dp.Dense(20, 16), dp.Tanh(), dp.Dense(16, 3), dp.Softmax()], seed=3)
    dp.fit(net, X, y, loss=loss or dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1, momentum=0.9), steps=25,
           batch_size=16, seed=seed, threads=1, callbacks=[dp.CheckpointWriter(tmp_path, interval=0)])
    return load_checkpoint(tmp_path / "checkpoint.safetensors")


def _resume(cp, state=None, **changed):
    kwargs = dict(loss=cp.loss, optimizer=cp.optimizer, steps=45, batch_size=16, seed=5, threads=1)
    kwargs.update(changed)
    return dp.fit(cp.net, X, y, resume=state or cp.training_state(), **kwargs)


def test_the_state_and_its_checkpoint_keep_the_seed(tmp_path):
    cp = _stopped(tmp_path)
    assert cp.training_state().seed == 5 and cp.training_state().to_dict()["seed"] == 5
    assert _stopped(tmp_path / "seq", seed=[5, 2]).training_state().seed == [5, 2]
    assert _stopped(tmp_path / "none", seed=None).training_state().seed is None  # a fresh random seed


def test_a_resume_with_another_seed_is_refused(tmp_path):
    cp = _stopped(tmp_path)
    with pytest.raises(dp.ConfigError, match=r"began with seed=5; seed=6 would be ignored\. Pass seed=5 or leave "
                                             r"seed out, or start a new run \(without resume=\)"):
        _resume(cp, seed=6)
    with pytest.raises(dp.ConfigError, match="began with seed=5; seed=Generator"):
        _resume(cp, seed=np.random.default_rng(5))


def test_a_resume_with_the_runs_seed_or_none_gives_the_same_run(tmp_path):
    same = _resume(_stopped(tmp_path / "a"), seed=5)
    left_out = _resume(_stopped(tmp_path / "b"), seed=None)
    assert [r["loss"] for r in same.records] == [r["loss"] for r in left_out.records]


def test_a_state_that_does_not_know_its_seed_takes_any(tmp_path):
    cp = _stopped(tmp_path)
    data = cp.training_state().to_dict()
    del data["seed"]  # as a checkpoint written before the seed was kept
    state = dp.TrainingState.from_dict(data, net=cp.net, optimizer=cp.optimizer)
    assert state.seed is None
    assert _resume(cp, state, seed=6).records[-1]["steps"] == 45


@pytest.mark.parametrize("seed", ["5", -1, 2.5, True, [], [1, "x"]])
def test_a_state_with_a_malformed_seed_is_refused(tmp_path, seed):
    cp = _stopped(tmp_path)
    data = cp.training_state().to_dict()
    data["seed"] = seed
    with pytest.raises(dp.StateError, match="the training state's seed must be None, a whole number >= 0"):
        dp.TrainingState.from_dict(data, net=cp.net, optimizer=cp.optimizer)


@pytest.mark.parametrize("first, then", [(dp.CrossEntropy(), dp.MeanSquaredError()),
                                         (dp.MeanSquaredError(), dp.CrossEntropy())])
def test_a_resume_with_another_loss_is_refused(tmp_path, first, then):
    cp = _stopped(tmp_path, loss=first)
    with pytest.raises(dp.ConfigError, match=rf"trained with the loss {type(first).__name__}\(.*would change its "
                                             rf"objective midway\. Pass loss={type(first).__name__}\("):
        _resume(cp, loss=then)


def test_a_resume_with_an_equal_loss_object_or_a_loss_class_of_ones_own_goes_on(tmp_path):
    class Traced(dp.CrossEntropy):  # a loss of one's own (as a wrapper that adds a penalty is)
        pass

    assert _resume(_stopped(tmp_path / "a"), loss=dp.CrossEntropy()).records[-1]["steps"] == 45
    assert _resume(_stopped(tmp_path / "b"), loss=Traced()).records[-1]["steps"] == 45
