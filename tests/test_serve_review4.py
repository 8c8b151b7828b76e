"""`deltaprop serve`: the input gradient is ∂L/∂pixel for every model, and the page learns
of a model that changed on disk from the answers it gets."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from test_serve_http import request, running_server

PIXELS = np.zeros((28, 28))
PIXELS[6:22, 12:16] = 255
PIXELS[10:12, 8:20] = 128


def _loss_of_pixels(net, loss, pixels, target, top):
    """The loss of the raw 0..255 ``pixels`` for a network trained on levels 0..``top``."""
    x = (pixels.reshape(1, 784) * (top / 255.0)).astype(net.dtype)
    return float(net.loss_and_gradients(loss, x, np.array([target]), train=False))


@pytest.mark.parametrize("top", [1.0, 255.0])
def test_the_input_gradient_is_per_raw_pixel_for_a_model_of_unit_inputs(tmp_path, top):
    """A model trained on a file of values in [0, 1] (no scaling layer) is fed a drawing's
    levels divided by 255; its input gradient was ∂L/∂(pixel/255), 255 times ∂L/∂pixel."""
    net = dp.mlp([784, 12, 3], activation="tanh", seed=1, dtype="float64")
    config = {"loss": "cross_entropy", "scaling": "auto" if top == 1.0 else "none", "dataset": "data.npz"}
    dp.save(net, tmp_path / "m.safetensors", extra={"config": config})
    with running_server(tmp_path / "m.safetensors") as server:
        status, out, _ = request(server, "POST", "/api/backward", {"pixels": PIXELS.tolist(), "target": 2})
    assert status == 200, out
    loss = dp.CrossEntropy()
    assert out["loss"] == pytest.approx(_loss_of_pixels(net, loss, PIXELS, 2, top), rel=1e-9)
    grad = np.array(out["input_gradient"])
    for r, c in [(10, 13), (11, 9), (14, 14), (3, 3)]:
        up, down = PIXELS.copy(), PIXELS.copy()
        up[r, c] += 0.5
        down[r, c] -= 0.5
        numeric = _loss_of_pixels(net, loss, up, 2, top) - _loss_of_pixels(net, loss, down, 2, top)
        assert grad[r, c] == pytest.approx(numeric, rel=1e-3)


def _save(path, widths, classes, seed=0):
    dp.save(dp.mlp(widths, seed=seed), path, input_scaling={"kind": "unit", "max": 255}, class_names=classes)


def test_answers_name_the_model_they_came_from_and_a_replaced_file_is_another(tmp_path):
    """A model file replaced on disk is read again, but the page, told nothing, kept the old
    model's layers, loss, classes and cached weights (and failed on a layer it did not know):
    every answer names the model's version, which /api/model gives too."""
    path = tmp_path / "model.safetensors"
    _save(path, [784, 16, 10], [str(i) for i in range(10)])
    with running_server(path) as server:
        before = request(server, "GET", "/api/model")[1]["version"]
        out = request(server, "POST", "/api/backward", {"pixels": PIXELS.tolist()})[1]
        assert out["model_version"] == before == request(server, "GET", "/api/model")[1]["version"]
        _save(path, [784, 8, 4, 3], ["a", "b", "c"], seed=5)
        out = request(server, "POST", "/api/predict", {"pixels": PIXELS.tolist()})[1]
        after = request(server, "GET", "/api/model")[1]
    assert out["classes"] == after["classes"] == ["a", "b", "c"]
    assert out["model_version"] == after["version"] != before


def _tabular_model(path):
    """A model of four standardised columns named by a CSV header, as `deltaprop train` saves one."""
    mean, std = np.array([5.0, 50.0, 500.0, 0.0]), np.array([1.0, 10.0, 100.0, 0.1])
    net = dp.Network([dp.Standardization(mean, std), dp.Dense(4, 6), dp.Tanh(), dp.Dense(6, 3), dp.Softmax()],
                     seed=2, dtype="float64")
    dp.save(net, path, class_names=["low", "mid", "high"],
            extra={"config": {"loss": "cross_entropy"}, "feature_names": ["a", "b", "c", "d"]})
    return net, mean


def test_a_model_of_numbers_is_given_numbers_with_its_own_scaling_and_loss(tmp_path):
    """A model that takes no 28x28 image could be served, but nothing could be sent to it:
    pixels and PNGs were refused and there was no other way in. {"inputs": [...]} is one
    row of its raw inputs; the answer is dp.load's, the gradient is ∂L/∂x of those inputs."""
    net, mean = _tabular_model(tmp_path / "m.safetensors")
    row = [6.0, 41.0, 650.0, -0.05]
    with running_server(tmp_path / "m.safetensors") as server:
        model = request(server, "GET", "/api/model")[1]
        status, out, _ = request(server, "POST", "/api/backward", {"inputs": row, "target": 2})
        short = request(server, "POST", "/api/predict", {"inputs": row[:3]})
        pixels = request(server, "POST", "/api/predict", {"pixels": PIXELS.tolist()})
    assert model["features"] == ["a", "b", "c", "d"] and model["feature_means"] == mean.tolist()
    assert status == 200, out
    loaded = dp.load(tmp_path / "m.safetensors")
    assert np.allclose(out["probabilities"], loaded.predict_proba(np.array([row]))[0], atol=1e-12)
    loss = dp.CrossEntropy()

    def loss_at(values):
        return float(loaded.loss_and_gradients(loss, np.array([values]), np.array([2]), train=False))

    assert out["loss"] == pytest.approx(loss_at(row), rel=1e-12) and out["input"] == row
    for i, step in enumerate([1e-4, 1e-3, 1e-2, 1e-5]):
        up, down = list(row), list(row)
        up[i] += step
        down[i] -= step
        assert out["input_gradient"][i] == pytest.approx((loss_at(up) - loss_at(down)) / (2 * step), rel=1e-5)
    assert short[0] == 400 and short[1]["error"] == "this model takes 4 inputs, got 3"
    assert pixels[0] == 400 and 'send them as {"inputs": [4 numbers]}' in pixels[1]["error"]


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
@pytest.mark.parametrize("inputs", [[], "1,2", [1, None, 3, 4], [1.0, True, 2, 3], [[1, 2, 3, 4]], [10**400, 1, 2, 3]])
def test_inputs_that_are_no_flat_list_of_finite_numbers_are_a_400(tmp_path, inputs):
    _tabular_model(tmp_path / "m.safetensors")
    with running_server(tmp_path / "m.safetensors") as server:
        status, out, _ = request(server, "POST", "/api/backward", {"inputs": inputs})
        assert status == 400 and out["error"].startswith("inputs must be"), out
        status, out, _ = request(server, "POST", "/api/backward", {"inputs": [1, 2, 3, 4], "png": "x"})
        assert status == 400 and out["error"].startswith("send exactly one of pixels"), out


def test_an_input_beyond_a_float32_models_range_is_named(tmp_path):
    """1e300 is a finite JSON number, but no float32: the answer named "X" and its "rows"."""
    net = dp.mlp([3, 4, 2], seed=0)
    dp.save(net, tmp_path / "m.safetensors", extra={"feature_names": ["age", "height", "weight"]})
    with running_server(tmp_path / "m.safetensors") as server:
        status, out, _ = request(server, "POST", "/api/predict", {"inputs": [1.0, -1e300, 2.0]})
    assert status == 422 and out["error"] == ("input height is -1e+300, beyond this float32 model's range "
                                              "(±3.403e+38); give a smaller number"), out
