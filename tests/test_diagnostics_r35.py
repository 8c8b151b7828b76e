"""Diagnostics and alerts: a hand-edited diagnostics.csv, the dead-ReLU rule and its advice,
and the chance level of a run with sample weights."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import alerts, report
from deltaprop.cli import main
from deltaprop.errors import DataError


# -- diagnostics.csv read back -------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("r35") / "run"
    out.mkdir()
    X = np.random.default_rng(0).standard_normal((64, 4))
    history = dp.fit(dp.mlp([4, 6, 2], activation="relu", seed=0), X, (X[:, 0] > 0).astype(int),
                     loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=16, seed=0)
    history.write_csv(out / "history.csv")
    report.write_run_files(out, history.records, {"status": "done", "config": {"dataset": "toy"}})
    return out


def _edited(run_folder, tmp_path, column: str, value: str, line: int = 3):
    out = tmp_path / "run"
    shutil.copytree(run_folder, out)
    path = out / "diagnostics.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    rows[line - 1][rows[0].index(column)] = value
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return out


@pytest.mark.parametrize("column, value", [("mean", "inf"), ("std", "nan"), ("delta_norm", "-inf")])
def test_a_diagnostics_csv_with_a_value_that_is_not_finite_is_refused(run_folder, tmp_path, column, value):
    out = _edited(run_folder, tmp_path, column, value)
    with pytest.raises(DataError, match=rf"diagnostics\.csv: line 3, column {column} holds '{value}', not a finite"):
        report.read_diagnostics_csv(out / "diagnostics.csv")


def test_report_on_a_diagnostics_csv_holding_inf_is_one_line(run_folder, tmp_path, capsys):
    out = _edited(run_folder, tmp_path, "mean", "inf", line=4)
    capsys.readouterr()
    assert main(["report", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "diagnostics.csv: line 4, column mean holds 'inf'" in err


def test_a_diagnostics_csv_with_true_for_a_number_is_refused(run_folder, tmp_path):
    out = _edited(run_folder, tmp_path, "mean", "True")
    with pytest.raises(DataError, match="line 3, column mean holds 'True', not a finite number"):
        report.read_diagnostics_csv(out / "diagnostics.csv")


def test_an_intact_diagnostics_csv_still_reads(run_folder):
    diagnostics = report.read_diagnostics_csv(run_folder / "diagnostics.csv")
    assert sorted(diagnostics) == [1, 2]


# -- dead ReLU units: which layers, and advice that fits the network -----------------------------
def _dead_fit(layers):
    """A fit of ``layers`` whose first Dense layer's biases put every hidden unit at z < 0."""
    X = np.random.default_rng(0).standard_normal((64, 4))
    net = dp.Network(layers, seed=0)
    net.layers[0].b.value[:] = -50.0
    y = (X[:, 0] > 0).astype(int)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=16, seed=0)
    return net, y, history


def _dead_alerts(history):
    return [a for a in history.alerts if a.rule == "dead_relu"]


@pytest.mark.parametrize("init", ["he_normal", "glorot_uniform"])
def test_the_dead_relu_fix_suggests_he_only_where_the_network_does_not_use_it(init):
    _, _, history = _dead_fit([dp.Dense(4, 6, init=init), dp.ReLU(), dp.Dense(6, 2), dp.Softmax()])
    [alert] = _dead_alerts(history)
    assert alert.layer == 1
    assert ("initialise with He" in alert.fix) == (init != "he_normal")
    assert ("started from He initialisation (he_normal)" in alert.evidence) == (init == "he_normal")
    assert "lower the learning rate" in alert.fix and "leaky_relu" in alert.fix


def test_a_leaky_relu_of_slope_0_raises_the_dead_relu_alert():
    net, y, history = _dead_fit([dp.Dense(4, 6, init="he_normal"), dp.LeakyReLU(0.0), dp.Dense(6, 2), dp.Softmax()])
    assert history.diagnostics[-1].layers[1].dead == 1.0
    [alert] = _dead_alerts(history)
    assert alert.layer == 1 and "slope 0" in alert.evidence
    assert "slope above 0" in alert.fix and "initialise with He" not in alert.fix
    at_end = alerts.standing([alert], history.records, alerts.context_of(net, dp.CrossEntropy(), y))
    assert at_end["alerts"][0]["cleared_by"] is None  # it still holds at the last epoch


def test_a_leaky_relu_with_a_slope_still_raises_no_dead_relu_alert():
    _, _, history = _dead_fit([dp.Dense(4, 6, init="he_normal"), dp.LeakyReLU(0.01), dp.Dense(6, 2), dp.Softmax()])
    assert history.diagnostics[-1].layers[1].dead == 1.0
    assert _dead_alerts(history) == []


# -- chance accuracy with sample weights ---------------------------------------------------------
def _weighted_fit(X, y, w, *, dead: bool, epochs: int = 4):
    net = dp.mlp([X.shape[1], 8, 2], activation="relu", seed=0)
    if dead:
        net.layers[0].b.value[:] = -50.0  # every hidden unit dead: the output is one constant
    return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=0.01), epochs=epochs, batch_size=8,
                  seed=0, sample_weight=w)


def _imbalanced(n=400, seed=0):
    """One feature, 5% of the rows class 1 shifted by 3; weights that balance the classes."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(int)
    X = (rng.standard_normal(n) + 3.0 * y)[:, None]
    w = np.where(y == 1, (y == 0).sum() / (y == 1).sum(), 1.0)
    return X, y, w


def test_a_weighted_run_that_guesses_raises_the_chance_alert():
    X, y, w = _imbalanced()
    history = _weighted_fit(X, y, w, dead=True)
    [alert] = [a for a in history.alerts if a.rule == "chance_accuracy"]
    assert "weighted by the sample weights" in alert.evidence and "largest share of the weights" in alert.evidence
    weighted = history.diagnostics[-1].weighted_accuracy
    assert f"is {weighted:.3f} after" in alert.evidence
    assert f"scores {alerts.chance_level(y, 2, w):.3f}" in alert.evidence


def test_a_weighted_run_that_learned_the_weighted_task_raises_no_chance_alert():
    X, y, w = _imbalanced()
    history = _weighted_fit(X, y, w, dead=False, epochs=6)
    # accuracy counting each row once sits under the 0.95 of always answering class 0 ...
    assert history.accuracy[-1] < alerts.chance_level(y, 2)
    # ... but weighted, the network is far above the weighted chance level of 0.5
    assert history.diagnostics[-1].weighted_accuracy > 0.8
    assert "chance_accuracy" not in {a.rule for a in history.alerts}


def test_the_weighted_chance_level_is_the_heaviest_class_share():
    ids = np.array([0, 0, 0, 1])
    assert alerts.chance_level(ids, 2) == 0.75
    assert alerts.chance_level(ids, 2, np.array([1.0, 1.0, 1.0, 5.0])) == 5.0 / 8.0
    ctx = alerts.context_of(dp.mlp([1, 2], seed=0), dp.CrossEntropy(), ids, np.array([1.0, 1.0, 1.0, 5.0]))
    assert ctx.chance == 5.0 / 8.0 and ctx.weighted_chance
    equal = alerts.context_of(dp.mlp([1, 2], seed=0), dp.CrossEntropy(), ids, np.full(4, 2.0))
    assert equal.chance == 0.75 and not equal.weighted_chance


def test_weighted_accuracy_is_checked_when_read_back():
    from deltaprop.diagnostics import checked_diagnostics

    X, y, w = _imbalanced(64)
    record = _weighted_fit(X, y, w, dead=True, epochs=1).records[-1]["diagnostics"]
    assert checked_diagnostics(record)["weighted_accuracy"] == record["weighted_accuracy"]
    with pytest.raises(DataError, match="weighted_accuracy = 1.5, not a number from 0 to 1"):
        checked_diagnostics({**record, "weighted_accuracy": 1.5})


# -- loss above guessing: the guess's loss under sample weights, and steps that raised it ------
def _guess_alert(records, ctx):
    return next(a for a in alerts.check(records, ctx) if a.rule == "loss_above_guess")


def test_the_frequencies_guess_is_scored_under_the_weighted_loss():
    X, y, w = _imbalanced(2000)
    net = dp.mlp([1, 2], seed=0)
    plain = alerts.context_of(net, dp.CrossEntropy(), y)
    weighted = alerts.context_of(net, dp.CrossEntropy(), y, w)
    share = np.mean(y)
    assert plain.frequencies_loss == pytest.approx(-(share * np.log(share) + (1 - share) * np.log(1 - share)), rel=1e-4)
    # balancing weights give each class half the weight: the best constant answer scores ln 2 under the weighted loss
    assert weighted.frequencies_loss == pytest.approx(np.log(2), rel=1e-4)
    alert = _guess_alert([{"epoch": 1, "loss": 5.0, "accuracy": 0.5}], weighted)
    assert f"share of the sample weights, scores {weighted.frequencies_loss:.4g}" in alert.evidence


def test_a_loss_the_steps_raised_far_above_a_high_start_blames_the_steps_too():
    ctx = alerts.Context(chance=1 / 3, frequencies_loss=np.log(3), uniform_loss=np.log(3), start_loss=3.0)
    alert = _guess_alert([{"epoch": 1, "loss": 9.0, "accuracy": 0.3}], ctx)
    assert "raised it 3.0× since" in alert.evidence and "not the steps" not in alert.evidence
    assert "lower the learning rate" in alert.fix and "keep the learning rate" not in alert.fix
    # a loss still near the high start: the start's, as before
    ctx = alerts.Context(chance=1 / 3, frequencies_loss=np.log(3), uniform_loss=np.log(3), start_loss=8.0)
    alert = _guess_alert([{"epoch": 1, "loss": 9.0, "accuracy": 0.3}], ctx)
    assert "not the steps" in alert.evidence and "keep the learning rate" in alert.fix


# -- saturated units: advice that fits the network and the loss ----------------------------------
def _saturated_alert(init, loss, epochs=4):
    """A sigmoid network on inputs from 0 to 255 (unscaled): its hidden layer saturates."""
    rng = np.random.default_rng(0)
    X = rng.random((1000, 20)) * 255
    y = np.argmax(X[:, :3], axis=1)
    net = dp.mlp([20, 32, 3], init=init, seed=0)
    history = dp.fit(net, X, y, loss=loss, optimizer=dp.SGD(lr=0.1), epochs=epochs, batch_size=32, seed=0)
    return next(a for a in history.alerts if a.rule == "saturated" and a.layer == 1)


def test_the_saturated_fix_fits_a_glorot_network_under_cross_entropy():
    # 6 epochs: by the 4th the rule's evidence is still borderline, and whether it fires then
    # depends on the rounding of the BLAS kernels the CPU gets
    alert = _saturated_alert("glorot_uniform", dp.CrossEntropy(), epochs=6)
    assert "learns slowly" in alert.evidence
    assert "smaller weights than glorot_uniform" in alert.fix and "scale the inputs" in alert.fix
    assert "start from smaller weights (glorot_uniform" not in alert.fix
    assert "cross-entropy instead of squared error" not in alert.fix  # the run uses it already


def test_the_saturated_fix_still_suggests_glorot_where_it_is_not_used():
    alert = _saturated_alert("scaled_normal(1)", dp.MeanSquaredError())
    assert "smaller weights than scaled_normal(1) (glorot_uniform" in alert.fix
    assert "cross-entropy" not in alert.fix  # no loss removes a hidden layer's own σ'(z)


# -- units that are copies: advice by how the layer started ------------------------------------
@pytest.mark.filterwarnings("ignore:Dense weights initialised to zero")
@pytest.mark.parametrize("init", ["glorot_uniform", "zeros"])
def test_the_symmetry_fix_names_the_cause_the_start_allows(init):
    X = np.random.default_rng(0).standard_normal((500, 10))
    net = dp.mlp([10, 16, 2], init=init, seed=0)
    # a weight decay so strong that one SGD step multiplies W by 1 - 0.5 * 3 = -0.5
    history = dp.fit(net, X, (X[:, 0] > 0).astype(int), loss=dp.CrossEntropy(),
                     optimizer=dp.SGD(lr=0.5, weight_decay=3.0), epochs=2, batch_size=50, seed=0)
    [alert] = [a for a in history.alerts if a.rule == "zero_init_symmetry"]
    assert ("never initialise weights to zero" in alert.fix) == (init == "zeros")
    assert ("lower the weight decay (dp.SGD(weight_decay=3))" in alert.fix) == (init != "zeros")
    if init != "zeros":
        assert "started distinct (glorot_uniform)" in alert.fix
