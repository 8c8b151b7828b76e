"""``fit(resume=state)`` continues the state's run on its own objective: a resume without
the ``sample_weight`` the run trained with, with weights where it had none, or with other
weights is refused (the state keeps whether it had weights and a digest of them, checkpoints
too), not silently trained on another weighting. A state written before it kept them resumes
as before."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.serialization import load_checkpoint

rng = np.random.default_rng(11)
X = rng.normal(size=(96, 6)).astype(np.float32)
y = X[:, :3].argmax(1).astype(np.int64)
W = rng.uniform(0.2, 3.0, size=96)


def _net():
    return dp.Network([dp.Dense(6, 8), dp.Tanh(), dp.Dense(8, 3), dp.Softmax()], seed=3)


def _fit(net, opt, steps, weights, **kwargs):
    return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, steps=steps, batch_size=16, seed=5, threads=1,
                  sample_weight=weights, diagnostics=False, **kwargs)


def _stopped(tmp_path, weights=W):
    """A checkpoint 3 batches into epoch 2 (96 rows in batches of 16: 9 steps)."""
    _fit(_net(), dp.SGD(lr=0.1, momentum=0.9), 9, weights, callbacks=[dp.CheckpointWriter(tmp_path, interval=0)])
    return load_checkpoint(tmp_path / "checkpoint.safetensors")


def _resume(cp, weights, state=None):
    return _fit(cp.net, cp.optimizer, 14, weights, resume=state or cp.training_state())


def test_a_resume_with_the_same_weights_is_the_uninterrupted_run(tmp_path):
    cp = _stopped(tmp_path)
    resumed = _resume(cp, W.copy())
    net = _net()
    whole = _fit(net, dp.SGD(lr=0.1, momentum=0.9), 14, W)
    assert resumed.records[-1]["steps"] == 14
    assert [r["loss"] for r in resumed.records] == [r["loss"] for r in whole.records]
    for a, b in zip(cp.net.parameters(), net.parameters()):
        assert np.array_equal(a.value, b.value)
    # the same weights scaled by a constant are the same objective (fit scales them to mean 1)
    assert _resume(_stopped(tmp_path / "scaled"), W * 4.0).records[-1]["steps"] == 14


def test_the_state_and_its_checkpoint_keep_the_weights_digest_not_the_weights(tmp_path):
    cp = _stopped(tmp_path)
    kept = cp.training_state().to_dict()["sample_weight"]
    assert isinstance(kept, str) and len(kept) == 32 and int(kept, 16) >= 0  # a hex digest, not 96 numbers
    again = dp.TrainingState.from_dict(cp.training_state().to_dict(), net=cp.net, optimizer=cp.optimizer)
    assert again.sample_weight == kept
    assert _stopped(tmp_path / "plain", weights=None).training_state().sample_weight == "unweighted"


@pytest.mark.parametrize(("weights", "words"), [
    (None, r"the run trained with sample_weight \(digest [0-9a-f]{8}…\); this call gives none"),
    (np.ones(96), r"this call's sample_weight \(digest [0-9a-f]{8}…\) differs from the run's \(digest [0-9a-f]{8}…\)"),
    (W[::-1].copy(), r"this call's sample_weight \(digest [0-9a-f]{8}…\) differs from the run's"),
])
def test_a_resume_with_other_weights_or_none_is_refused(tmp_path, weights, words):
    cp = _stopped(tmp_path)
    with pytest.raises(dp.ConfigError, match=words + r".*pass the sample_weight the run trained with, or start a "
                                                    r"new run \(without resume=\)"):
        _resume(cp, weights)
    # refused before anything changed: the same state still resumes with its own weights
    assert _resume(cp, W).records[-1]["steps"] == 14


def test_a_resume_with_weights_of_an_unweighted_run_is_refused(tmp_path):
    cp = _stopped(tmp_path, weights=None)
    with pytest.raises(dp.ConfigError, match=r"the run trained without sample_weight; this call gives one "
                                             r"\(digest [0-9a-f]{8}…\)"):
        _resume(cp, W)
    assert _resume(cp, None).records[-1]["steps"] == 14


def test_the_in_memory_state_is_checked_too():
    net, opt = _net(), dp.SGD(lr=0.1, momentum=0.9)
    state = {}
    _fit(net, opt, 3, W, callbacks=[_Keep(state)])
    with pytest.raises(dp.ConfigError, match="differs from the run's"):
        _fit(net, opt, 6, W * np.linspace(1, 2, 96), resume=state["s"])


class _Keep(dp.Callback):
    def __init__(self, box):
        self.box = box

    def on_train_end(self, state):
        self.box["s"] = state


def test_a_state_written_before_it_kept_the_weights_resumes_as_before(tmp_path):
    cp = _stopped(tmp_path)
    data = cp.training_state().to_dict()
    del data["sample_weight"]  # as a checkpoint written before the digest was kept
    state = dp.TrainingState.from_dict(data, net=cp.net, optimizer=cp.optimizer)
    assert state.sample_weight is None
    assert _resume(cp, np.ones(96), state).records[-1]["steps"] == 14  # not checked: the state cannot tell


@pytest.mark.parametrize("bad", ["abc", 7, ["x"], "z" * 32])
def test_a_malformed_digest_is_refused_on_load(tmp_path, bad):
    cp = _stopped(tmp_path)
    data = cp.training_state().to_dict()
    data["sample_weight"] = bad
    with pytest.raises(dp.StateError, match="sample_weight"):
        dp.TrainingState.from_dict(data, net=cp.net, optimizer=cp.optimizer)


@pytest.mark.slow
def test_partial_fit_goes_on_with_each_calls_own_weights():
    pytest.importorskip("sklearn")
    from deltaprop.sklearn import NeuralNetClassifier

    clf = NeuralNetClassifier(hidden_layer_sizes=(8,), random_state=0, batch_size=16)
    clf.partial_fit(X[:48], y[:48], sample_weight=W[:48], classes=[0, 1, 2])
    clf.partial_fit(X[48:], y[48:], sample_weight=W[48:])  # other rows, other weights: scikit-learn's contract
    clf.partial_fit(X[48:], y[48:])
    assert clf._state.step == 9


@pytest.mark.slow
def test_over_mpi_every_rank_compares_the_whole_weights_and_refuses_alike(tmp_path):
    from mpi_ranks import ranks_lines

    ranks = ranks_lines('mpi_resume_weights_r38_worker.py', tmp_path)
    assert ranks[0] == ranks[1]  # every rank holds the whole sample_weight: the same digest, the same verdict
    none, other, same = ranks[0]
    assert "none: resume= continues the run's objective, but the run trained with sample_weight" in none
    assert "other: resume= continues the run's objective, but this call's sample_weight" in other
    assert same == "same: ok 14"
    # the two-process checkpoint (float64, the same rows and weights) resumes on one process too
    cp = load_checkpoint(tmp_path / "checkpoint.safetensors")
    with pytest.raises(dp.ConfigError, match="this call gives none"):
        _resume(cp, None)
    assert _resume(cp, W).records[-1]["steps"] == 14
