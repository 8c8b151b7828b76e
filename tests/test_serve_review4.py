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
