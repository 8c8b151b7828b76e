"""Alerts on runs that end at chance for a reason the old fix text pointed away from: a
learning rate too small to move the weights (the fix said to lower it), and a weight decay
that shrank every unit to the same zero weights (the fix said only never to initialise at zero)."""

from __future__ import annotations

import csv

import pytest

from cli_in_process import run_cli as cli
from deltaprop.alerts import Context, check


def _chance_records(update_ratio: float, relative_gradient: float) -> list[dict]:
    """Three epochs at chance whose two Dense layers move by ``update_ratio`` of ‖W‖ a step
    under a gradient of ``relative_gradient`` × ‖W‖."""
    params = [{"name": f"layers.{k}.W", "layer": k, "norm": 10.0, "grad_norm": 10.0 * relative_gradient,
               "update_ratio": update_ratio} for k in (1, 3)]
    return [{"epoch": e, "loss": 2.3, "accuracy": 0.1, "steps": 90 * e,
             "diagnostics": {"layers": [], "parameters": params}} for e in (1, 2, 3)]


def _chance_alert(records):
    return next(a for a in check(records, Context(chance=0.1)) if a.rule == "chance_accuracy")


def test_chance_with_tiny_steps_under_a_healthy_gradient_says_raise_the_learning_rate():
    alert = _chance_alert(_chance_records(update_ratio=1e-7, relative_gradient=0.05))
    assert "raise the learning rate" in alert.evidence
    assert alert.fix.startswith("raise the learning rate")  # the fix no longer says "lower" first


def test_chance_with_vanished_gradients_does_not_blame_the_learning_rate():
    # dead ReLUs: no gradient, no step; a larger rate would move nothing
    assert "raise the learning rate" not in _chance_alert(_chance_records(0.0, 0.0)).evidence
    # steps of the usual size: the rate is not too small
    assert "raise the learning rate" not in _chance_alert(_chance_records(1e-2, 1e-2)).evidence


def _alerts(run) -> dict[str, dict]:
    with open(run / "alerts.csv", newline="") as f:
        return {row["rule"]: row for row in csv.DictReader(f)}


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_train_with_a_tiny_learning_rate_says_the_steps_are_too_small(tmp_path):
    res = cli("train", "--epochs", "3", "-q", "--lr", "1e-6", "--out", tmp_path / "run")
    assert res.returncode == 0
    assert "is at chance" in res.stderr
    alert = _alerts(tmp_path / "run")["chance_accuracy"]
    assert "raise the learning rate" in alert["evidence"]


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_train_with_a_weight_decay_that_zeroes_the_weights_names_the_weight_decay(tmp_path):
    res = cli("train", "--epochs", "3", "-q", "--weight-decay", "1", "--out", tmp_path / "run")
    assert res.returncode == 0
    assert "is at chance" in res.stderr
    alert = _alerts(tmp_path / "run")["zero_init_symmetry"]
    assert "--weight-decay" in alert["fix"]
