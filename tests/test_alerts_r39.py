"""Runs that cannot be right said nothing: weights that end the run far worse than the
epoch's running accuracy says, a regression no better than predicting the targets' mean;
and a network that learned under heavy dropout was called a guesser."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import alerts, diagnostics, report
from deltaprop.alerts import Context, check
from deltaprop.errors import DataError


def _record(epoch, loss, accuracy, probe_accuracy=None, probe_loss=None, steps=None):
    diag = {"probe_size": 512, "layers": [], "parameters": []}
    if probe_accuracy is not None:
        diag["accuracy"] = probe_accuracy
    if probe_loss is not None:
        diag["loss"] = probe_loss
    return {"epoch": epoch, "loss": loss, "accuracy": accuracy, "steps": steps or 100 * epoch, "diagnostics": diag}


def _rules(records, ctx):
    return [(a.rule, a.layer) for a in check(records, ctx)]


# -- unsettled weights ---------------------------------------------------------------------------
def test_weights_that_end_the_run_far_below_its_running_accuracy_are_named():
    ctx = Context(chance=0.34, run_epochs=3)
    records = [_record(1, 0.9, 0.55, 0.69), _record(2, 0.8, 0.66, 0.68), _record(3, 0.78, 0.68, 0.38)]
    found = [a for a in check(records, ctx) if a.rule == "unsettled_weights"]
    assert len(found) == 1 and found[0].layer is None
    assert "0.380 on the probe batch" in found[0].evidence and "0.680" in found[0].evidence
    assert "--batch-size" in found[0].fix and "--lr" in found[0].fix
    # a healthy end (at least the running accuracy), or a small dip, is no alert
    healthy = [_record(1, 0.9, 0.55, 0.69), _record(2, 0.8, 0.66, 0.68), _record(3, 0.78, 0.68, 0.62)]
    assert ("unsettled_weights", None) not in _rules(healthy, ctx)


def test_one_bad_end_mid_run_waits_for_a_second_or_the_run_s_last_epoch():
    ctx = Context(chance=0.1, run_epochs=10)
    one = [_record(1, 1.0, 0.8, 0.85), _record(2, 0.8, 0.9, 0.3)]
    assert ("unsettled_weights", None) not in _rules(one, ctx)
    two = [*one, _record(3, 0.7, 0.92, 0.35)]
    assert ("unsettled_weights", None) in _rules(two, ctx)


@pytest.mark.slow  # about 5 s: a ten-epoch command-line run
def test_train_names_weights_that_end_far_below_the_printed_accuracy(tmp_path):
    from cli_in_process import run_cli

    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.make_classification(n_samples=2000, n_features=20, n_informative=8, n_classes=3, random_state=0)
    header = ",".join(f"f{i}" for i in range(20)) + ",label"
    np.savetxt(tmp_path / "mc.csv", np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.6g")
    # SGD at lr 0.3, batch 20: epoch 10's running accuracy is 0.68, while the model it ends
    # with answers one class for 95% of the rows (test accuracy 0.40, chance 0.34); the only
    # alert was an overfitting one, cleared by epoch 8
    done = run_cli("train", "--dataset", tmp_path / "mc.csv", "--out", tmp_path / "run", "--quiet", "--threads", "1")
    assert done.returncode == 0
    assert "[unsettled_weights]" in done.stdout
    assert "the last steps threw the weights off" in done.stdout
    shown = done.stdout.split("[unsettled_weights]")[1].splitlines()[1]
    assert "still holds at the last epoch (10)" in shown


# -- the probe's accuracy and loss in the diagnostics ----------------------------------------------
def test_diagnostics_hold_the_probe_accuracy_and_loss_of_the_weights_as_they_are():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    y = (X[:, 0] > 0).astype(int)
    net = dp.mlp([4, 8, 2], seed=0)
    diag = dp.diagnose(net, X, y, dp.CrossEntropy())
    predicted = net.predict(X)
    assert diag.accuracy == pytest.approx(np.mean(predicted == y))
    assert diag.loss == pytest.approx(dp.evaluate(net, X, y, loss=dp.CrossEntropy())["loss"], rel=1e-5)
    data = diag.as_dict()
    assert diagnostics.checked_diagnostics(data) == data and diagnostics.diagnostics_pass([data])
    with pytest.raises(DataError, match="accuracy = 1.5"):
        diagnostics.checked_diagnostics({**data, "accuracy": 1.5})
    assert not diagnostics.diagnostics_pass([{**data, "loss": float("inf")}])
    # diagnostics.csv keeps them
    rows = report.diagnostics_rows([{"epoch": 1, "diagnostics": data}])
    assert {r["probe_accuracy"] for r in rows} == {data["accuracy"]}


def test_diagnostics_csv_gives_back_the_probe_numbers(tmp_path):
    data = {"probe_size": 2, "layers": [], "parameters": [{"name": "layers.0.W", "layer": 0, "grad_norm": 1.0,
                                                           "norm": 2.0, "update_ratio": None}],
            "accuracy": 0.25, "loss": 1.5}
    report.write_run_files(tmp_path, [{"epoch": 1, "loss": 1.0, "diagnostics": data, "alerts": []}], {})
    assert report.read_diagnostics_csv(tmp_path / "diagnostics.csv")[1] == data


# -- regression no better than the mean ------------------------------------------------------------
def _regression(optimizer, scale=1.0, shift=0.0, epochs=8):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(320, 6))
    y = X @ rng.normal(size=6) + 0.1 * rng.normal(size=320)
    y = (y - y.mean()) / y.std() * scale + shift
    net = dp.mlp([6, 16, 1], activation="tanh", output="identity", seed=0)
    return dp.fit(net, X, y[:, None], loss=dp.MeanSquaredError(), optimizer=optimizer, epochs=epochs, batch_size=16,
                  seed=0)


@pytest.mark.slow  # about 0.6 s: two short fits
def test_a_regression_no_better_than_predicting_the_mean_is_named():
    # SGD at lr 1e-6: 160 updates leave the loss at 1.5 times the targets' variance, and no
    # rule said so (loss_above_guess waits for twice it, flat_loss for 1,000 steps)
    history = _regression(dp.SGD(lr=1e-6))
    found = [a for a in history.alerts if a.rule == "chance_accuracy"]
    assert len(found) == 1 and "of always predicting the targets' mean" in found[0].evidence
    assert "R² = 1 − loss" in found[0].evidence and "raise the learning rate" in found[0].fix
    # a regression that learns raises nothing
    assert _regression(dp.Adam(lr=0.01)).alerts == []


@pytest.mark.slow  # about 0.3 s
def test_a_regression_whose_targets_lie_far_from_the_outputs_is_told_to_scale_them():
    # targets of spread 1e4 and mean 8e3: the start's loss is 1.6 times their variance (under
    # the twice that loss_above_guess waits for), and 160 Adam updates at lr 0.001 move the
    # outputs a few units of the way: no rule said anything
    history = _regression(dp.Adam(lr=0.001), scale=1e4, shift=8e3)
    assert history.records[-1]["loss"] > history.records[0]["loss"] * 0.9
    found = [a for a in history.alerts if a.rule == "chance_accuracy"]
    assert len(found) == 1 and "scale the targets" in found[0].fix


def test_the_mean_rule_speaks_where_the_loss_closes_little_of_the_gap_to_0():
    ctx = Context(mean_loss=1.0, run_epochs=3)
    records = [{"epoch": k, "loss": loss, "steps": 100 * k, "diagnostics": None}
               for k, loss in ((1, 1.0), (2, 0.97), (3, 0.95))]
    assert ("chance_accuracy", None) in _rules(records, ctx)
    records[-1]["loss"] = 0.8
    assert ("chance_accuracy", None) not in _rules(records, ctx)


# -- dropout --------------------------------------------------------------------------------------
@pytest.mark.slow  # about 1 s: six epochs of the digits
def test_a_network_that_learned_under_heavy_dropout_is_not_called_a_guesser():
    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.load_digits(return_X_y=True)
    X = ((X - X.mean()) / X.std()).astype(np.float32)
    net = dp.mlp([64, 8, 10], dropout=0.9, seed=0)
    history = dp.fit(net, X[:1400], y[:1400], loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3), epochs=6,
                     batch_size=20, seed=0)
    # the running accuracy, with 90% of the hidden units dropped, is 0.15 (chance 0.10); the
    # network itself scores 0.76 on the probe rows
    assert history.records[-1]["accuracy"] < 0.19
    assert history.records[-1]["diagnostics"]["accuracy"] > 0.6
    assert [a.rule for a in history.alerts if a.rule == "chance_accuracy"] == []


def test_a_loss_above_guessing_only_with_dropout_on_names_the_dropout():
    ctx = Context(chance=0.1, uniform_loss=2.3, frequencies_loss=2.3, layers=("Dense(glorot_uniform)", "Sigmoid",
                                                                             "Dropout", "Dense(glorot_uniform)",
                                                                             "Softmax"))
    found = [a for a in check([_record(1, 8.0, 0.3, 0.6, probe_loss=1.2)], ctx) if a.rule == "loss_above_guess"]
    assert len(found) == 1
    assert "dropout off" in found[0].evidence and "lower the dropout rate (--dropout)" in found[0].fix
    assert "lower the learning rate" not in found[0].fix
    # where the network without dropout is above guessing too, the steps are blamed as before
    found = [a for a in check([_record(1, 8.0, 0.3, 0.6, probe_loss=6.0)], ctx) if a.rule == "loss_above_guess"]
    assert "lower the learning rate" in found[0].fix


def test_the_fixes_in_python_words_name_fit_s_batch_size_and_schedule():
    ctx = Context(chance=0.34, run_epochs=3, interface="api", optimizer="SGD", lr=0.3)
    records = [_record(1, 0.9, 0.55, 0.69), _record(2, 0.8, 0.66, 0.68), _record(3, 0.78, 0.68, 0.38)]
    fix = next(a.fix for a in check(records, ctx) if a.rule == "unsettled_weights")
    assert "--" not in fix and "fit's batch_size" in fix and "fit's schedule" in fix
    assert alerts.summary([]).count("running accuracy") == 1


# -- a schedule that decayed the rate to nothing --------------------------------------------------
def test_a_flat_loss_under_a_schedule_that_decayed_the_rate_names_the_schedule():
    # exponential decay with gamma 0.01 takes SGD's 0.3 to 3e-11 by epoch 6; the flat-loss fix
    # said to raise --lr "if every step is tiny", never that the schedule made them so
    ctx = Context(chance=0.1, optimizer="SGD", lr=0.3)
    records = [{"epoch": k, "loss": 0.5193, "accuracy": 0.9, "steps": 500 * k, "lr": 0.3 * 0.01 ** (k - 1),
                "diagnostics": None} for k in range(1, 7)]
    found = [a for a in check(records, ctx) if a.rule == "flat_loss"]
    assert len(found) == 1
    assert "the schedule has lowered the learning rate to 3e-11" in found[0].evidence
    assert "--schedule" in found[0].fix and "raise the learning rate" not in found[0].fix
    # a constant rate keeps the fix it had
    for r in records:
        r["lr"] = 0.3
    assert "raise the learning rate" in next(a.fix for a in check(records, ctx) if a.rule == "flat_loss")


# -- the chance warning where every alert cleared ---------------------------------------------------
def test_the_page_s_chance_warning_does_not_point_at_alerts_that_all_cleared():
    from deltaprop import report_html

    alert = {"rule": "overfitting", "epoch": 5, "layer": None, "evidence": "e", "fix": "f"}
    records = [{"epoch": k, "loss": 0.8, "accuracy": 0.65, "alerts": [alert] if k == 5 else []} for k in range(1, 11)]
    facts = {"alerts_at_end": {"last_epoch": 10, "alerts": [{**{k: alert[k] for k in ("rule", "epoch", "layer")},
                                                              "cleared_by": 8}]}}
    evaluation = {"accuracy": 0.34, "examples": 100, "confusion": [[34, 0, 0], [33, 0, 0], [33, 0, 0]]}
    page = report_html._header(records, facts, evaluation)
    assert "ends at chance accuracy" in page
    assert "every alert cleared before the last epoch, so none names a cause" in page and "see the alerts" not in page
    facts["alerts_at_end"]["alerts"][0]["cleared_by"] = None  # one that still holds is pointed at
    assert "see the alerts" in report_html._header(records, facts, evaluation)


def test_a_validation_gap_the_end_weights_share_on_training_rows_is_no_overfitting():
    # make_classification at lr 0.3: running accuracy 0.65, validation 0.40, and the weights as
    # the epoch ends score 0.43 on training rows too: not the training rows learned by heart
    records = [{**_record(k, 0.8, 0.65, 0.43), "val_accuracy": 0.40} for k in (1, 2)]
    assert ("overfitting", None) not in _rules(records, Context(chance=0.34))
    for r in records:  # the end weights fit the training rows: overfitting, as before
        r["diagnostics"]["accuracy"] = 0.66
    assert ("overfitting", None) in _rules(records, Context(chance=0.34))
