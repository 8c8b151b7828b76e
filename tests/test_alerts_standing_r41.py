"""An alert `deltaprop train` raised at its last epoch is said to hold there at the end of the
run, judged with the probe loss before the first step that the run's diagnostics kept."""

import json

import pytest
from cli_in_process import run_cli

#: seed 001's MNIST setup (examples/seed001_mnist_mse.toml) stopped after one step: raw pixels
#: into scaled_normal(1) weights saturate the sigmoid outputs, so the loss starts far above
#: guessing and falls from there (no loss_above_guess), while the accuracy is at chance
SEED001_ONE_STEP = ["--layers", "784,32,10", "--output-activation", "sigmoid", "--loss", "mse", "--batch-size", "256",
                    "--init", "scaled_normal(1)", "--scaling", "none", "--validation-split", "0", "--steps", "1", "-q"]


@pytest.mark.slow  # one step on the bundled sample
def test_a_chance_alert_of_the_last_epoch_still_holds_at_the_end(tmp_path):
    """It was printed as raised at epoch 1 and then 'cleared by epoch 1: it no longer holds at
    the last epoch (1)', and the chance warning said every alert had cleared."""
    res = run_cli("train", *SEED001_ONE_STEP, "--out", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    assert "[chance_accuracy] epoch 1:" in res.stdout
    assert "-> still holds at the last epoch (1)" in res.stdout and "cleared by" not in res.stdout
    assert "1 of them still holds at the last epoch (1); 0 cleared before it" in res.stdout
    at_end = json.loads((tmp_path / "run" / "run.json").read_text())["alerts_at_end"]
    assert [(a["rule"], a["cleared_by"]) for a in at_end["alerts"]] == [("chance_accuracy", None)]
