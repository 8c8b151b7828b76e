"""A diverged run whose last checkpoint holds exploded weights is not called a good one by
report.html or by the note of `info`/`evaluate`; alert fixes name what the caller can set:
no gradient-clipping callback on the command line, and the initialiser's parameter (--init,
or init= of dp.mlp/dp.Dense)."""

from __future__ import annotations

import json

import pytest
from cli_in_process import run_cli as cli

from deltaprop import alerts
from deltaprop.alerts import Context, check
from deltaprop.report_html import _diverged_words

#: parity under squared error at a rate whose weights explode over three epochs: the loss
#: overflows at epoch 4, when the checkpoint (epoch 3) holds weights of about 1e19
EXPLODES = ("--dataset", "parity", "--activation", "sigmoid", "--output-activation", "identity", "--loss", "mse",
            "--momentum", "0.9", "--lr", "2", "--quiet")
EXPLODED = "holds weights that had already exploded"


def test_report_of_a_run_whose_checkpoint_exploded_does_not_call_it_good(tmp_path):
    out = tmp_path / "run"
    assert cli("train", *EXPLODES, "--epochs", "30", "--out", out).returncode == 1
    assert json.loads((out / "run.json").read_text())["diverged"]["checkpoint_exploded"] is True
    pages = [(out / "report.html").read_text(encoding="utf-8")]  # the run's own, then rebuilt
    assert cli("report", out).returncode == 0
    pages.append((out / "report.html").read_text(encoding="utf-8"))
    for page in pages:
        assert "last good checkpoint" not in page
        assert EXPLODED in page and "train again from fresh weights" in page
        assert "--config FOLDER/config.toml --lr LOWER --out NEW_FOLDER" in page


def test_report_of_a_run_whose_checkpoint_is_good_still_offers_it():
    for record in ({"epoch": 3, "step": 5, "lr": 0.5, "checkpoint_exploded": False}, {"epoch": 3, "step": 5}, None):
        words = _diverged_words(record)
        assert "the last good checkpoint, if an epoch finished, is the folder's checkpoint.safetensors" in words
        assert EXPLODED not in words


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_info_and_evaluate_do_not_call_an_exploded_checkpoint_good(tmp_path):
    out = tmp_path / "run"
    first = cli("train", *EXPLODES, "--epochs", "2", "--out", out)  # its model: epoch 2's
    assert first.returncode == 0, first.stderr
    # the command line's alerts name --init, not a parameter of dp.mlp
    starts = [line for line in first.stdout.splitlines() if "start from smaller weights" in line]
    assert starts and all("with --init" in line and "init=" not in line for line in starts), first.stdout
    assert cli("train", "--resume", out, "--epochs", "30", "-q").returncode == 1  # checkpoint: epoch 3, exploded
    assert json.loads((out / "run.json").read_text())["diverged"]["checkpoint_exploded"] is True
    for command in ("info", "evaluate"):
        res = cli(command, out)
        assert res.returncode == 0, res.stderr
        notes = [line for line in res.stderr.splitlines() if line.startswith("note: ")]
        assert len(notes) == 1 and "earlier session" in notes[0], res.stderr
        assert "last good checkpoint" not in notes[0]
        assert f"its last checkpoint, {out / 'checkpoint.safetensors'}, {EXPLODED}" in notes[0]
        assert f"train again from fresh weights with a lower learning rate (it was 2): deltaprop train --config " \
               f"{out / 'config.toml'} --lr LOWER --out NEW_FOLDER" in notes[0]


def _gradients(norms, loss, epoch):
    return {"epoch": epoch, "loss": loss, "diagnostics": {"probe_size": 64, "layers": [], "parameters": [
        {"name": f"layers.{i}.W", "layer": i, "grad_norm": g, "norm": 5.0, "update_ratio": 1e-2}
        for i, g in zip((0, 2), norms)]}}


def test_the_exploding_gradient_fix_offers_clipping_only_to_a_fit_caller():
    records = [_gradients((1.0, 2.0), 1.0, 1), _gradients((300.0, 2.0), 3.0, 2)]
    layers = ("Dense(scaled_normal(1))", "ReLU", "Dense(scaled_normal(1))", "Softmax")
    (cli_alert,) = [a for a in check(records, Context(layers=layers, interface="cli")) if a.rule == "exploding_gradients"]
    assert "on_gradients" not in cli_alert.fix and "callback" not in cli_alert.fix and "clip" not in cli_alert.fix
    assert "usual size (he_normal) with --init" in cli_alert.fix
    (api,) = [a for a in check(records, Context(layers=layers, interface="api")) if a.rule == "exploding_gradients"]
    assert "a callback's on_gradients can rescale each step's gradients" in api.fix
    assert "usual size (he_normal) with init= of dp.mlp or dp.Dense" in api.fix and "--" not in api.fix
    assert "on_gradients" not in alerts.RULES["exploding_gradients"][1]  # the rule's own words: the command line's


def test_every_initialiser_fix_names_the_parameter_that_sets_it():
    cases = [
        alerts._start_fix(Context(layers=("Dense(glorot_uniform)", "Sigmoid"))),
        alerts._start_fix(Context(layers=("Dense(scaled_normal(1))", "ReLU"))),
        alerts._start_fix(Context()),
        alerts._exploding_fix(Context(layers=("Dense(scaled_normal(1))", "ReLU"))),
        alerts._saturated_fix({"index": 1}, Context(layers=("Dense(glorot_uniform)", "Sigmoid", "Dense(he_normal)",
                                                            "Softmax"), scaled_inputs=False), stuck=False),
        alerts._saturated_fix({"index": 1}, Context(layers=("Dense(scaled_normal)", "Sigmoid", "Dense(he_normal)",
                                                            "Softmax")), stuck=False),
        alerts._dead_relu_fix({"index": 1, "layer": "ReLU"}, Context(layers=("Dense(glorot_uniform)", "ReLU"))),
        alerts._vanishing_fix(Context(layers=("Dense(glorot_uniform)", "Tanh", "Dense(glorot_uniform)", "Softmax"))),
        alerts._ZERO_START, alerts.RULES["loss_above_guess"][1], alerts.RULES["vanishing_gradients"][1],
    ]
    for fix in cases:
        assert "--init" in fix, fix
        python = alerts.in_python(fix, Context(interface="api"))
        assert "--" not in python and "of dp.mlp or dp.Dense" in python, python
