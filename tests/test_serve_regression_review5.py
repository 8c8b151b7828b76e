"""`deltaprop serve` for a regressor: the page and the API show the predicted values and
backpropagate the model's own loss for a target value the user gives."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.serve.model import ModelSource
from test_serve_http import request, running_server

ROW = [6.0, 41.0, 650.0]


def regressor(path, *, outputs=1, names=None):
    """A regressor of three standardised columns named by a CSV header, saved with its loss."""
    mean, std = np.array([5.0, 50.0, 500.0]), np.array([1.0, 10.0, 100.0])
    net = dp.Network([dp.Standardization(mean, std), dp.Dense(3, 6), dp.Tanh(), dp.Dense(6, outputs)],
                     seed=3, dtype="float64")
    extra = {"feature_names": ["rooms", "age", "area"]}
    if names is not None:
        extra["target_names"] = names
    dp.save(net, path, loss=dp.MeanSquaredError(classification=False), extra=extra)
    return net


def _loss_at(loaded, inputs, target):
    y = np.array([target], dtype=np.float64).reshape(1, -1)
    return float(loaded.loss_and_gradients(dp.MeanSquaredError(classification=False), np.array([inputs]), y,
                                           train=False))


def test_a_regressor_is_served_with_its_values_and_a_target_value(tmp_path):
    """serve refused a regressor ("the page shows the one class a drawing is"); now the
    answer is its predicted value, and the backward pass is the squared error for a target
    value, its ∂L/∂x checked against finite differences of the loaded model's loss."""
    regressor(tmp_path / "m.safetensors", names=["price"])
    loaded = dp.load(tmp_path / "m.safetensors")
    with running_server(tmp_path / "m.safetensors") as server:
        model = request(server, "GET", "/api/model")[1]
        status, out, _ = request(server, "POST", "/api/backward", {"inputs": ROW, "target": 2.5})
        by_query = request(server, "POST", "/api/backward?target=2.5", {"inputs": ROW})[1]
    assert model["outputs"] == "values" and model["value_names"] == ["price"] and model["classes"] == []
    assert model["threshold"] is None
    assert status == 200, out
    predicted = float(loaded.predict_proba(np.array([ROW]))[0, 0])
    assert out["values"] == pytest.approx([predicted], rel=1e-12) and out["value_names"] == ["price"]
    assert out["predicted"] is None and out["probabilities"] is None and out["target"] == [2.5]
    assert out["loss"] == pytest.approx((predicted - 2.5) ** 2, rel=1e-12) == by_query["loss"]
    assert out["layers"][-1]["delta"] == pytest.approx([2 * (predicted - 2.5)], rel=1e-12)  # ∂L/∂a of the output
    for i, step in enumerate([1e-4, 1e-3, 1e-2]):
        up, down = list(ROW), list(ROW)
        up[i] += step
        down[i] -= step
        numeric = (_loss_at(loaded, up, 2.5) - _loss_at(loaded, down, 2.5)) / (2 * step)
        assert out["input_gradient"][i] == pytest.approx(numeric, rel=1e-6)


def test_no_target_is_the_prediction_itself_and_bad_targets_are_a_400(tmp_path):
    """With no target the prediction is the target: loss 0 and every δ 0 (the page says so).
    A target of the wrong length or type, or a class id's query of a classifier, is refused."""
    regressor(tmp_path / "m.safetensors", outputs=2)
    with running_server(tmp_path / "m.safetensors") as server:
        model = request(server, "GET", "/api/model")[1]
        status, auto, _ = request(server, "POST", "/api/backward", {"inputs": ROW})
        half = request(server, "POST", "/api/backward", {"inputs": ROW, "target": [None, 1.0]})[1]
        wrong = [request(server, "POST", "/api/backward", {"inputs": ROW, "target": t}) for t in (1.0, [1, 2, 3], "1")]
        query = request(server, "POST", "/api/backward?target=1,nan", {"inputs": ROW})
    assert model["value_names"] == ["y0", "y1"]
    assert status == 200 and auto["target"] == auto["values"] and auto["loss"] == 0
    assert all(v == 0 for layer in auto["layers"] for v in (layer["delta"] or [])) and not any(auto["input_gradient"])
    assert half["target"] == [half["values"][0], 1.0] and half["loss"] == pytest.approx((half["values"][1] - 1) ** 2)
    for st, body, _ in wrong:
        assert st == 400 and "target" in body["error"], body
    assert query[0] == 400 and "numbers separated by commas" in query[1]["error"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_neural_net_regressor_saved_with_save_is_served(tmp_path):
    from deltaprop.sklearn import NeuralNetRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    est = NeuralNetRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    est.save(tmp_path / "r.safetensors")
    source = ModelSource(tmp_path / "r.safetensors")
    out = source.backward(np.array(X[0]), [4.0])
    assert out["values"] == pytest.approx([float(est.predict(X[:1])[0])], rel=1e-5)
    assert out["loss"] == pytest.approx((out["values"][0] - 4.0) ** 2, rel=1e-5)


def test_a_classifier_refuses_a_target_of_values(tmp_path):
    net = dp.mlp([3, 4, 3], seed=0)
    dp.save(net, tmp_path / "c.safetensors", class_names=["a", "b", "c"])
    source = ModelSource(tmp_path / "c.safetensors")
    assert source.forward(np.array(ROW))["outputs"] != "values" and not source.gives_values()
    with pytest.raises(dp.errors.ShapeError, match="class id"):
        source.backward(np.array(ROW), [1.0])
