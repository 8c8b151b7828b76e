"""Alerts name the fix in the caller's terms: ``fit``'s parameters for a caller of ``dp.fit``,
the flags for ``deltaprop train`` (which runs ``fit`` too)."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import alerts
from deltaprop.alerts import RULES, Context, check, context_of
from cli_in_process import run_cli


def _pixels(n=300, seed=0):
    """Unscaled 8-bit pixels, 0..255, and a label they decide."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 64)).astype(np.float64)
    return X, (X[:, :32].sum(1) > X[:, 32:].sum(1)).astype(int)


def test_fit_on_unscaled_pixels_names_the_scaling_a_python_caller_does():
    X, y = _pixels()
    net = dp.mlp([64, 32, 2], activation="relu", init="he_normal", seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.01), epochs=1, batch_size=32, seed=0)
    scaling = [a for a in history.alerts if "scaled to [0, 1] or standardised" in a.fix]
    assert scaling, [str(a) for a in history.alerts]
    assert all("dp.Rescaling(1/255)" in a.fix for a in scaling)
    assert all("--" not in a.fix and "--" not in a.evidence for a in history.alerts)


@pytest.mark.slow  # about 0.9 s in the quick suite on 2 cores
def test_the_same_run_through_train_names_the_flag(tmp_path):
    X, y = _pixels()
    data = tmp_path / "pixels.csv"
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", fmt="%d",
               header=",".join(f"p{i}" for i in range(64)) + ",label", comments="")
    res = run_cli("train", "--dataset", data, "--scaling", "none", "--activation", "relu", "--init", "he_normal",
                  "--layers", "64,32,2", "--lr", "0.01", "--epochs", "1", "--batch-size", "32", "--out", tmp_path / "r")
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stdout.splitlines()
             if line.startswith("alert [") and "scaled to [0, 1] or standardised" in line]
    assert lines, res.stdout
    assert all("(--scaling)" in line and "dp.Rescaling" not in line for line in lines)


def test_context_of_takes_the_interface_from_fixes_for():
    net = dp.mlp([4, 3, 2], seed=0)
    assert context_of(net, dp.CrossEntropy()).interface == "api"
    with alerts.fixes_for("cli"):
        assert context_of(net, dp.CrossEntropy()).interface == "cli"
    assert context_of(net, dp.CrossEntropy()).interface == "api"
    with pytest.raises(ValueError, match="interface must be one of"):
        with alerts.fixes_for("gui"):
            pass


def _every_fix(ctx: Context) -> list[str]:
    """The rules' fixed texts and the fixes their builders give for ``ctx``'s run."""
    ada = [Context(optimizer="AdaDelta", lr=lr) for lr in (0.5, 1.0, 2.0)]
    return [fix for _, fix in RULES.values()] + [
        alerts._lower_rate(ctx, "10×"), alerts._raise_rate(ctx), alerts._decay_fix(ctx), alerts._DEAD_OUTPUT,
        alerts._squared_error_output(Context(output_slope_cancelled=False, layers=("Dense(he_normal)", "Softmax"))),
        alerts._symmetry_fix({"index": 0}, ctx), alerts._exploding_fix(ctx), alerts._start_fix(ctx),
        *(alerts._lower_rate(c) for c in ada), *(alerts._raise_rate(c) for c in ada),
    ]


def test_no_fix_in_python_words_names_a_flag():
    ctx = Context(optimizer="SGD", lr=0.1, momentum=0.99, weight_decay=0.5, layers=("Dense(he_normal)", "ReLU"))
    fixes = _every_fix(ctx)
    assert any("--" in fix for fix in fixes)  # the command line's words
    for fix in fixes:
        assert "--" not in alerts.in_python(fix, ctx), fix
    lower = alerts.in_python(alerts._lower_rate(ctx), ctx)  # the values the caller passed
    assert "lower the learning rate (dp.SGD(lr=0.1))" in lower and "lower the momentum (dp.SGD(momentum=0.99)) to 0.9" in lower
    assert "(the optimizer's lr)" in alerts.in_python(alerts._lower_rate(Context()), Context())
    assert "(dp.SGD(weight_decay=0.5))" in alerts.in_python(alerts._decay_fix(ctx), ctx)
    ada = Context(optimizer="AdaDelta", lr=2.0)
    assert "(dp.AdaDelta(lr=2)) to AdaDelta's 1.0" in alerts.in_python(alerts._lower_rate(ada), ada)


def _records(n, **values):
    return [{"epoch": k, "steps": k, "loss": 0.69, **values} for k in range(1, n + 1)]


def test_a_fit_callers_run_of_too_few_updates_names_fits_epochs_and_batch_size():
    records = _records(3, accuracy=0.5)
    api = Context(chance=0.5, run_epochs=3, interface="api")
    (alert,) = [a for a in check(records, api) if a.rule == "chance_accuracy"]
    assert "more epochs (fit's epochs)" in alert.fix and "(fit's batch_size:" in alert.fix and "--" not in alert.fix
    (cli,) = [a for a in check(records, Context(chance=0.5, run_epochs=3)) if a.rule == "chance_accuracy"]
    assert "(--epochs)" in cli.fix and "(--batch-size:" in cli.fix


def test_overfitting_names_the_regularisers_a_fit_caller_passes():
    records = _records(3, accuracy=1.0, val_accuracy=0.6)
    ctx = Context(layers=("Dense(he_normal)", "ReLU", "Dropout", "Dense(he_normal)", "Softmax"), optimizer="Adam",
                  lr=0.001, weight_decay=0.001, interface="api")
    (alert,) = [a for a in check(records, ctx) if a.rule == "overfitting"]
    assert "a stronger weight decay (dp.Adam(weight_decay=0.001))" in alert.fix
    assert "a higher dropout rate (dp.Dropout(rate) layers" in alert.fix and "dp.EarlyStopping" in alert.fix
    assert "--" not in alert.fix


def test_the_output_range_fix_names_the_flag_on_the_command_line_and_mlps_output_in_python():
    cli = RULES["output_range"][1]
    assert "(--output-activation identity)" in cli and "output='identity'" not in cli
    assert "(output='identity' of dp.mlp)" in alerts.in_python(cli, Context(interface="api"))
