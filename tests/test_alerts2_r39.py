"""A weight decay strong enough to hold the weights at a size too small to fit said nothing
(digits at --weight-decay 0.1 end at test accuracy 0.52 with "no alerts"); heavy dropout
(--dropout 0.99) was answered with a lower learning rate."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import alerts
from deltaprop.alerts import Context, check


def _record(epoch, accuracy, norms, gradients, probe_accuracy=None):
    params = [{"name": f"layers.{2 * k + 1}.W", "layer": 2 * k + 1, "norm": n, "grad_norm": g * n,
               "update_ratio": 0.04} for k, (n, g) in enumerate(zip(norms, gradients))]
    diag = {"probe_size": 512, "layers": [], "parameters": params}
    if probe_accuracy is not None:
        diag["accuracy"] = probe_accuracy
    return {"epoch": epoch, "loss": 1.6, "accuracy": accuracy, "steps": 72 * epoch, "diagnostics": diag}


_SGD = {"optimizer": "SGD", "lr": 0.3, "momentum": 0.0}


def _decay_run(accuracy=0.59, gradients=(0.10, 0.20), grow=1.0):
    # scikit-learn's digits at --weight-decay 0.1: ‖W‖ settles at 2.2 and 2.4, ‖∇W‖/‖W‖ 0.10 and 0.20
    return [_record(e, accuracy, (2.18 * grow ** e, 2.42 * grow ** e), gradients, accuracy - 0.03) for e in range(1, 5)]


def test_a_decay_that_holds_the_weights_at_a_size_too_small_to_fit_is_named():
    ctx = Context(chance=0.1, weight_decay=0.1, **_SGD)
    [alert] = [a for a in check(_decay_run(), ctx) if a.rule == "strong_decay"]
    assert alert.layer is None
    assert "training accuracy is 0.590" in alert.evidence and "settled (2.18, 2.42" in alert.evidence
    assert "weight decay 0.1" in alert.evidence and "0.1, 0.2" in alert.evidence
    assert alert.fix.startswith("lower the weight decay (--weight-decay 0.1)")
    assert "weight decay that outweighs the loss" in alerts.summary([])


def test_modest_decay_growing_weights_or_a_fitted_network_raise_nothing():
    def rules(records, **kw):
        return [a.rule for a in check(records, Context(**{"chance": 0.1, "weight_decay": 0.1, **_SGD, **kw}))]

    assert "strong_decay" in rules(_decay_run())  # the contrast: λ = 0.1 at 1-2λ
    assert "strong_decay" not in rules(_decay_run(), weight_decay=1e-3)  # gradients 100-200λ
    assert "strong_decay" not in rules(_decay_run(accuracy=0.93))  # fits: λ 0.03 on digits ends at 0.92-0.94
    assert "strong_decay" not in rules(_decay_run(grow=1.1))  # the weights still grow
    assert "strong_decay" not in rules(_decay_run(gradients=(0.10, 0.5)))  # the loss's gradient outweighs λ
    assert "strong_decay" not in rules(_decay_run()[:2])  # too few epochs to say the norms settled
    assert "strong_decay" not in rules(_decay_run(), weight_decay=0.0)


def _dropout_ctx(rate):
    return Context(chance=0.1, uniform_loss=2.303, frequencies_loss=2.302, lr=0.3, optimizer="SGD", momentum=0.0,
                   layers=("Dense(glorot_uniform)", "Sigmoid", "Dropout", "Dense(glorot_uniform)", "Softmax"),
                   dropout=rate)


def test_heavy_dropout_comes_before_the_learning_rate_in_a_loss_above_guessing():
    record = {"epoch": 1, "loss": 5.5, "accuracy": 0.1, "steps": 72,
              "diagnostics": {"layers": [], "parameters": [], "loss": 5.0, "accuracy": 0.1}}  # above guessing, dropout off too
    [alert] = [a for a in check([record], _dropout_ctx(0.99)) if a.rule == "loss_above_guess"]
    assert alert.fix.startswith("lower the dropout rate (--dropout) from 0.99 to 0.5 or less first")
    assert "lower the learning rate" in alert.fix  # second, if the alert still holds
    assert "dropout 0.99 keeps only 1% of the hidden units" in alert.evidence
    [mild] = [a for a in check([record], _dropout_ctx(0.5)) if a.rule == "loss_above_guess"]
    assert mild.fix.startswith("lower the learning rate")


def test_heavy_dropout_comes_first_where_the_network_guesses():
    records = [{"epoch": e, "loss": 2.31, "accuracy": 0.1, "steps": 72 * e,
                "diagnostics": {"layers": [], "parameters": [], "loss": 2.30, "accuracy": 0.1}} for e in (1, 2, 3)]
    [alert] = [a for a in check(records, _dropout_ctx(0.99)) if a.rule == "chance_accuracy"]
    assert alert.fix.startswith("lower the dropout rate (--dropout) from 0.99")
    [api] = [a for a in check(records, Context(**{**_dropout_ctx(0.99).__dict__, "interface": "api"}))
             if a.rule == "chance_accuracy"]
    assert "(dp.Dropout(rate) layers, or dropout= of dp.mlp) from 0.99" in api.fix


def test_the_context_knows_the_highest_dropout_rate():
    net = dp.mlp([4, 8, 3], dropout=0.95, seed=0)
    y = np.array([0, 1, 2, 0])
    assert alerts.context_of(net, dp.CrossEntropy(), y).dropout == pytest.approx(0.95)
    assert alerts.context_of(dp.mlp([4, 8, 3], seed=0), dp.CrossEntropy(), y).dropout is None


@pytest.mark.slow  # several seconds: a ten-epoch command-line run on scikit-learn's digits
def test_train_names_a_weight_decay_too_strong_for_digits(tmp_path):
    from cli_in_process import run_cli

    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.load_digits(return_X_y=True)
    header = ",".join(f"p{i}" for i in range(64)) + ",label"
    np.savetxt(tmp_path / "digits.csv", np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%g")
    done = run_cli("train", "--dataset", tmp_path / "digits.csv", "--weight-decay", "0.1", "--out", tmp_path / "run",
                   "--quiet", "--threads", "1")
    assert done.returncode == 0
    assert "[strong_decay]" in done.stdout and "lower the weight decay (--weight-decay 0.1)" in done.stdout
