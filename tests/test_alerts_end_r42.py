"""The check at the end of a command-line run judged its alerts without the context the
epochs were judged in (no optimizer, no weight decay, no inputs' scaling): an alert a weight
decay raised (strong_decay) was printed, and kept in run.json and the report, as cleared the
epoch after it fired, while it still held at the last epoch."""

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import cli
from deltaprop.alerts import Context


def test_fit_keeps_the_context_its_alerts_are_judged_in():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)) * 50.0  # unscaled inputs
    y = rng.integers(0, 3, size=60)
    seen = []
    net = dp.mlp([4, 6, 3], seed=0)
    dp.fit(
        net,
        X,
        y,
        loss=dp.CrossEntropy(),
        optimizer=dp.AdamW(lr=0.003, weight_decay=0.02),
        epochs=2,
        batch_size=20,
        seed=0,
        callbacks=[dp.LambdaCallback(on_train_end=lambda state: seen.append(state))],
    )
    ctx = seen[0].alert_context
    assert (ctx.optimizer, ctx.lr, ctx.weight_decay) == ("AdamW", 0.003, 0.02)
    assert ctx.scaled_inputs is False and ctx.run_epochs == 2
    assert ctx.chance == pytest.approx(np.bincount(y).max() / 60)
    assert ctx.start_loss is not None and ctx.layers[0] == "Dense(glorot_uniform)"


class _Reporter:
    def __init__(self, ctx):
        self.state = type("State", (), {"alert_context": ctx, "callback_records": {}})()


def test_the_end_of_a_command_line_run_is_judged_in_its_epochs_context():
    ctx = Context(
        chance=0.1,
        optimizer="SGD",
        lr=0.3,
        momentum=0.0,
        weight_decay=0.1,
        scaled_inputs=False,
        start_loss=2.4,
        run_epochs=10,
        run_steps=None,
        interface="cli",
    )
    at_end = cli._standing_context(_Reporter(ctx), None, None)
    # the same context, but for the run's limits: its last record ends it (a stop or Ctrl-C ends it early)
    assert at_end == Context(**{**ctx.__dict__, "run_epochs": None, "run_steps": None})


def _digits_csv(tmp_path):
    sklearn = pytest.importorskip("sklearn.datasets", reason="the digits come with scikit-learn")
    X, y = sklearn.load_digits(return_X_y=True)
    header = ",".join(f"p{i}" for i in range(64)) + ",label"
    path = tmp_path / "digits.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%g")
    return path


class _StopAtEpoch(dp.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.slow  # a ten-epoch command-line run on scikit-learn's digits
@pytest.mark.parametrize("stop", [None, 6])
def test_a_weight_decay_alert_that_still_holds_is_not_said_to_have_cleared(tmp_path, monkeypatch, stop):
    from cli_in_process import run_cli

    if stop is not None:  # Ctrl-C after epoch 6
        real = cli._fit
        monkeypatch.setattr(
            cli,
            "_fit",
            lambda args, cfg, model, data, callbacks, threads: real(
                args, cfg, model, data, [*callbacks, _StopAtEpoch(stop)], threads
            ),
        )
    out = tmp_path / "run"
    res = run_cli("train", "--dataset", _digits_csv(tmp_path), "--weight-decay", "0.1", "--out", out, "--quiet", "--threads", "1")
    assert res.returncode == (0 if stop is None else 130), res.stderr
    last = stop or 10
    facts = json.loads((out / "run.json").read_text())
    held = {a["rule"]: a["cleared_by"] for a in facts["alerts_at_end"]["alerts"]}
    assert facts["alerts_at_end"]["last_epoch"] == last
    assert "strong_decay" in held and held["strong_decay"] is None
    if stop is None:  # the summary's line under the alert
        lines = res.stdout.splitlines()
        [k] = [k for k, line in enumerate(lines) if line.startswith("  [strong_decay]")]
        assert lines[k + 1] == f"    -> still holds at the last epoch ({last})"
    report = (out / "report.html").read_text(encoding="utf-8")
    item = report[report.index('<span class="rule">strong_decay</span>') :].split("</li>")[0]
    assert f"still holds at the last epoch ({last})" in item and "cleared by" not in item
