"""A regressor's scores are values' scores: no accuracy where its targets happen to be 0 and 1."""

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp


def _regressor():
    """A network fitted on real values y = 0.5 + 0.3 x0 (auto-decided MeanSquaredError)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = 0.5 + 0.3 * x[:, 0] + 0.05 * rng.normal(size=120)
    net = dp.mlp([3, 8, 1], activation="tanh", output="identity", seed=0)
    dp.fit(net, x, y, loss=dp.MeanSquaredError(), optimizer=dp.Adam(lr=0.01), epochs=3, seed=0)
    assert net.gives_values
    return net, x, y


@pytest.mark.parametrize("loss", [None, dp.MeanSquaredError(), dp.MeanSquaredError(classification=False)])
def test_evaluate_of_a_regressor_on_zero_one_values_gives_its_mse_and_no_accuracy(loss):
    net, x, y = _regressor()
    y01 = (y > 0.5).astype(float)  # values that happen to be 0 and 1
    out = dp.evaluate(net, x, y01, loss=loss)
    assert out["accuracy"] is None
    mse = np.mean((net.predict(x).ravel() - y01) ** 2)
    assert out["loss"] == pytest.approx(mse, rel=1e-5)


def test_evaluate_of_a_regressor_without_a_loss_gives_its_mse():
    net, x, y = _regressor()
    out = dp.evaluate(net, x, y)
    assert out["accuracy"] is None
    assert out["loss"] == pytest.approx(np.mean((net.predict(x).ravel() - y) ** 2), rel=1e-5)


def test_evaluate_of_a_regressor_as_classes_when_asked():
    net, x, y = _regressor()
    y01 = (y > 0.5).astype(float)
    out = dp.evaluate(net, x, y01, loss=dp.MeanSquaredError(classification=True))
    assert out["accuracy"] == pytest.approx(np.mean((net.predict_proba(x).ravel() >= 0.5) == y01))


def test_fit_on_values_gives_no_validation_accuracy_for_zero_one_validation_values():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 3))
    y = 0.5 + 0.3 * x[:, 0] + 0.05 * rng.normal(size=150)
    yv = (y[120:] > 0.5).astype(float)
    net = dp.mlp([3, 8, 1], activation="tanh", output="identity", seed=0)
    history = dp.fit(net, x[:120], y[:120], loss=dp.MeanSquaredError(), optimizer=dp.Adam(lr=0.01), epochs=2,
                     seed=0, validation=(x[120:], yv))
    last = history.records[-1]
    assert net.gives_values
    assert last["accuracy"] is None and last["val_accuracy"] is None
    assert last["val_loss"] == pytest.approx(np.mean((net.predict(x[120:]).ravel() - yv) ** 2), rel=1e-4)


def test_fit_on_classes_keeps_its_validation_accuracy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(150, 3))
    y = (x[:, 0] > 0).astype(float)
    net = dp.mlp([3, 8, 1], activation="tanh", output="identity", seed=0)
    history = dp.fit(net, x[:120], y[:120], loss=dp.MeanSquaredError(), optimizer=dp.Adam(lr=0.01), epochs=2,
                     seed=0, validation=(x[120:], y[120:]))
    assert not net.gives_values
    assert history.records[-1]["val_accuracy"] == pytest.approx(np.mean(net.predict(x[120:]) == y[120:]))


def _saturated_fixes(output, y):
    """The fixes of saturation alerts of a sigmoid hidden layer fed inputs of size ~30."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) * 30
    net = dp.mlp([3, 20, 1], activation="sigmoid", output=output, seed=0)
    history = dp.fit(net, x, y(x), loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=1e-4), epochs=2, seed=0)
    fixes = [a["fix"] for rec in history.records for a in rec.get("alerts") or [] if a["rule"] == "saturated"]
    assert fixes  # the hidden layer is saturated: the rule fires
    return fixes


def test_saturation_fix_of_a_regressor_does_not_advise_cross_entropy():
    for fix in _saturated_fixes("identity", lambda x: 3 + 0.1 * x[:, 0]):
        assert "cross-entropy" not in fix


def test_saturation_fix_of_a_hidden_layer_fed_unscaled_inputs_advises_scaling_them():
    """Under a sigmoid output and squared error too: another loss changes the output's δ, not
    the σ' of a hidden layer that inputs of size ~30 saturate (cross-entropy is advised for
    a saturated output layer: tests/test_alerts_r36.py)."""
    for fix in _saturated_fixes("sigmoid", lambda x: (x[:, 0] > 0).astype(float)):
        assert "scale the inputs" in fix and "cross-entropy" not in fix


def _regressor_checkpoint(folder):
    """A run folder whose checkpoint holds a network fitted on real values (undecided MeanSquaredError())."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 3))
    y = 3 + 2 * x[:, 0] - x[:, 1]
    net = dp.mlp([3, 8, 1], activation="tanh", output="identity", seed=0)
    dp.fit(net, x, y, loss=dp.MeanSquaredError(), optimizer=dp.Adam(lr=0.01), epochs=2, seed=0,
           callbacks=[dp.CheckpointWriter(folder)])
    return net, x, y


def test_a_regressors_checkpoint_loads_as_a_regressor(tmp_path):
    from deltaprop.serialization import read_model

    net, x, y = _regressor_checkpoint(tmp_path / "run")
    path = tmp_path / "run" / "checkpoint.safetensors"
    assert read_model(path).outputs == "values"
    loaded = dp.load(path)
    assert loaded.gives_values
    np.testing.assert_allclose(loaded.predict(x), net.predict(x), rtol=1e-6)
    # resuming it still trains on values
    state = dp.serialization.load_checkpoint(path).training_state()
    dp.fit(state.net, x, y, loss=dp.MeanSquaredError(), optimizer=state.optimizer, epochs=3, resume=state)
    assert state.net.gives_values


def test_predict_of_a_regressors_checkpoint_prints_values(tmp_path):
    net, x, _ = _regressor_checkpoint(tmp_path / "run")
    np.save(tmp_path / "rows.npy", x[:2])
    done = run_cli("predict", tmp_path / "run" / "checkpoint.safetensors", tmp_path / "rows.npy")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(": value " in line and "class" not in line for line in lines)
    assert float(lines[0].split(": value ")[1]) == pytest.approx(float(net.predict(x[:1])[0, 0]), rel=1e-5)


def test_report_of_a_regressors_run_promises_no_confusion_matrix(tmp_path):
    _regressor_checkpoint(tmp_path / "run")
    done = run_cli("report", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "Computed on the test set when training ends" not in page  # it never will be: no classes
    assert page.count("this run records no accuracy") == 2
    assert "accuracy: none recorded (no classes)" in page and "no data yet" not in page


def test_report_of_a_classifiers_unfinished_run_still_waits_for_its_test_results():
    from deltaprop.report_html import render

    records = [{"epoch": 1, "loss": 0.7, "accuracy": 0.6, "val_loss": 0.8, "val_accuracy": 0.5, "lr": 0.1}]
    page = render(records, {"status": "training"})
    assert page.count("Computed on the test set when training ends") == 2
    assert "records no accuracy" not in page
    diverged = render([{"epoch": 1, "loss": float("nan"), "accuracy": None, "lr": 0.1}], {"status": "diverged"})
    assert "records no accuracy" not in diverged
