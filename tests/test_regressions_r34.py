"""Regressions of changes made side by side: behaviour that an earlier change kept and a
later one lost."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp

#: the settings a step reads (an optimizer's, a Dropout layer's rate)
SETTINGS = {"lr", "weight_decay", "beta1", "beta2", "eps", "rho", "momentum", "nesterov", "rate"}


def _python_calls(fn) -> list[tuple[str, str]]:
    """(file name, function name) of every Python function ``fn()`` entered."""
    calls: list[tuple[str, str]] = []

    def profile(frame, event, arg):
        if event == "call":
            calls.append((Path(frame.f_code.co_filename).name, frame.f_code.co_name))

    before = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(before)
    return calls


def _setting_reads(calls) -> list[tuple[str, str]]:
    """The calls that read or check a setting in Python (a getter, a descriptor, a check)."""
    return [c for c in calls if c[1] in SETTINGS or c[1] == "__get__" or c[0] == "_checks.py"]


# -- the training step stays lean: settings checked when set, read without Python calls -------
@pytest.mark.parametrize("make", [
    lambda: dp.SGD(0.1), lambda: dp.SGD(0.1, momentum=0.9, nesterov=True), lambda: dp.Adam(weight_decay=1e-4),
    lambda: dp.AdamW(), lambda: dp.RMSprop(), lambda: dp.AdaGrad(), lambda: dp.AdaDelta(weight_decay=1e-4),
], ids=["SGD", "SGD-nesterov", "Adam", "AdamW", "RMSprop", "AdaGrad", "AdaDelta"])
def test_an_optimizer_step_runs_no_python_code_to_read_its_settings(make):
    # Checking the settings whenever they are set made every read a Python descriptor call
    # (lr, weight_decay, beta1, beta2, eps: five a step for Adam), in the loop every step runs.
    net = dp.mlp([4, 8, 3], seed=0)
    opt = make()
    opt.build(net.parameters())
    for p in net.parameters():
        p.grad[...] = 0.1
    opt.step()  # first step: buffers made
    assert _setting_reads(_python_calls(opt.step)) == []
    with pytest.raises(dp.ConfigError, match="lr must be >= 0"):  # still checked when set
        opt.lr = -1.0


def test_a_dropout_layer_runs_no_python_code_to_read_its_rate():
    net = dp.mlp([4, 8, 3], dropout=0.5, seed=0)
    layer = next(layer for layer in net.layers if isinstance(layer, dp.Dropout))
    x = np.ones((5, 8), dtype=np.float32)
    layer.forward(x, train=True)

    def step():
        layer.forward(x, train=True)
        layer.backward(x)

    assert _setting_reads(_python_calls(step)) == []
    with pytest.raises(dp.ConfigError, match="Dropout rate"):
        layer.rate = 1.0


# -- the served model and run.json name the weights of a run stopped inside an epoch alike -----
@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_the_served_model_names_a_partial_epoch_as_run_json_does(tmp_path):
    # Two changes side by side: /api/model said epoch 1 and epoch_batches 2 (the batches of
    # the next epoch) for weights 2 batches into epoch 2, while run.json's model_weights said
    # epoch 2, batches 2 and epoch_batches 4 (the batches the epoch has): one field name for
    # two counts, and two epoch numbers for the same weights.
    import json

    from cli_in_process import run_cli
    from test_serve_http import request, running_server

    run = tmp_path / "run"  # parity: 700 rows, batches of 200 (4 an epoch); 6 steps end 2 into epoch 2
    assert run_cli("train", "--dataset", "parity", "--layers", "10,3,2", "--batch-size", "200", "--steps", "6",
                   "--validation-split", "0", "--threads", "1", "--quiet", "--out", run).returncode == 0
    kept = json.loads((run / "run.json").read_text())["model_weights"]
    assert (kept["epoch"], kept["batches"], kept["epoch_batches"]) == (2, 2, 4)
    with running_server(run) as s:
        model = request(s, "GET", "/api/model")[1]
    assert (model["epoch"], model["batches"]) == (kept["epoch"], kept["batches"])
    assert "epoch_batches" not in model or model["epoch_batches"] == kept["epoch_batches"]
    with running_server(run / "checkpoint.safetensors") as s:  # the checkpoint itself, served
        model = request(s, "GET", "/api/model")[1]
    assert (model["epoch"], model["batches"]) == (2, 2)


# -- a scikit-learn estimator's refusal names the estimator's own setting -----------------------
@pytest.mark.parametrize("solver, name", [("sgd", "learning_rate_init 0.001"), (dp.SGD(0.001), "solver.lr 0.001")])
def test_an_estimators_cosine_above_its_rate_is_refused_in_its_own_words(solver, name):
    # fit's check named "the base rate", which no estimator parameter is called
    from deltaprop.sklearn import NeuralNetClassifier

    X, y = np.random.default_rng(0).standard_normal((40, 3)), np.arange(40) % 2
    est = NeuralNetClassifier(hidden_layer_sizes=(4,), solver=solver, learning_rate_init=0.001, max_iter=3,
                              learning_rate={"type": "cosine", "min_lr": 0.01}, random_state=0)
    with pytest.raises(dp.ConfigError, match=f"min_lr 0.01 is above {name}"):
        est.fit(X, y)
