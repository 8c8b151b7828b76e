"""Which model a run folder's page serves: the file training wrote last, named with the
epoch whose weights it holds, so a ``train --resume`` past an old model.safetensors is
followed and not answered from the old model."""

from __future__ import annotations

import os

import numpy as np

import deltaprop as dp
from deltaprop.serialization import save_checkpoint
from test_serve_http import UNIT, request, running_server

CLASSES = [str(i) for i in range(10)]
PIXELS = np.zeros((28, 28), dtype=int)
PIXELS[6:22, 12:16] = 255


def _train(run, later):
    """Five epochs of a small model; after epoch 2 the run folder holds its checkpoint and
    model.safetensors (a finished 2-epoch run); the epoch-5 checkpoint goes to ``later``."""
    x = np.random.default_rng(0).uniform(0, 1, size=(60, 784)).astype(np.float32)

    def keep(state):
        if state.epoch == 2:
            save_checkpoint(run / "checkpoint.safetensors", state, class_names=CLASSES, input_scaling=UNIT)
            dp.save(state.net, run / "model.safetensors", class_names=CLASSES, input_scaling=UNIT)
        if state.epoch == 5:
            save_checkpoint(later, state, class_names=CLASSES, input_scaling=UNIT)

    dp.fit(dp.mlp([784, 16, 10], seed=0), x, np.arange(60) % 10, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5),
           epochs=5, batch_size=20, seed=0, callbacks=[dp.LambdaCallback(on_epoch_end=keep)])


def _later_than(path, other, seconds):
    """Give ``path`` a modification time ``seconds`` after ``other``'s (coarse clocks)."""
    t = os.stat(other).st_mtime_ns + int(seconds * 1e9)
    os.utime(path, ns=(t, t))


def _served(server):
    status, out, _ = request(server, "POST", "/api/predict", {"pixels": PIXELS.tolist()})
    assert status == 200, out
    return out


def _probabilities(path):
    return dp.load(path).predict_proba(PIXELS.reshape(1, 784).astype(np.float32))[0]


def test_a_resume_past_the_old_model_is_served_from_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    later = tmp_path / "later.safetensors"
    _train(run, later)
    _later_than(run / "model.safetensors", run / "checkpoint.safetensors", 1)  # the finished run's model is last
    old_model = _probabilities(run / "model.safetensors")
    with running_server(run) as s:
        np.testing.assert_allclose(_served(s)["probabilities"], old_model, rtol=1e-5)
        model = request(s, "GET", "/api/model")[1]
        assert (model["file"], model["kind"], model["epoch"]) == ("model.safetensors", "model", 2)

        os.replace(later, run / "checkpoint.safetensors")  # the resume writes its epoch-5 checkpoint
        _later_than(run / "checkpoint.safetensors", run / "model.safetensors", 1)
        current = _probabilities(run / "checkpoint.safetensors")
        assert np.max(np.abs(current - old_model)) > 1e-3  # the two models differ: the test can tell them apart
        out = _served(s)
        np.testing.assert_allclose(out["probabilities"], current, rtol=1e-5)
        assert (out["model_file"], out["model_epoch"]) == ("checkpoint.safetensors", 5)
        model = request(s, "GET", "/api/model")[1]
        assert (model["file"], model["kind"], model["epoch"]) == ("checkpoint.safetensors", "checkpoint", 5)

        net = dp.load(run / "checkpoint.safetensors")  # the resume ends: its model file is written last
        dp.save(net, run / "model.safetensors", class_names=CLASSES)
        _later_than(run / "model.safetensors", run / "checkpoint.safetensors", 1)
        model = request(s, "GET", "/api/model")[1]
        assert (model["file"], model["epoch"]) == ("model.safetensors", 5)
        np.testing.assert_allclose(_served(s)["probabilities"], current, rtol=1e-5)


def test_equal_times_choose_the_finished_model_and_a_lone_file_is_used(tmp_path):
    from deltaprop.serve.model import newest_run_model

    assert newest_run_model(tmp_path) is None
    dp.save(dp.mlp([784, 4, 10], seed=0), tmp_path / "checkpoint.safetensors")
    assert newest_run_model(tmp_path) == tmp_path / "checkpoint.safetensors"
    dp.save(dp.mlp([784, 4, 10], seed=1), tmp_path / "model.safetensors")
    _later_than(tmp_path / "model.safetensors", tmp_path / "checkpoint.safetensors", 0)
    assert newest_run_model(tmp_path) == tmp_path / "model.safetensors"
    _later_than(tmp_path / "checkpoint.safetensors", tmp_path / "model.safetensors", 0.001)
    assert newest_run_model(tmp_path) == tmp_path / "checkpoint.safetensors"
