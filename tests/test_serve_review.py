"""`deltaprop serve` answers what it is sent with a 4xx and a one-line reason, never a 500,
and a diverging model's huge numbers with their true size or a 422 that names the layer."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

import deltaprop as dp
from chromium_session import fresh_page, launched_chromium
from test_serve_http import UNIT, request, running_server, save_model


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for the module's browser tests, each on a page of its own."""
    with launched_chromium() as launched:
        yield launched


@contextlib.contextmanager
def _page_of(browser, model_path):
    """The served page of ``model_path`` in ``browser`` (a context of its own), once the model is shown."""
    with running_server(model_path) as server, fresh_page(browser) as page:
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784')")
        yield page


PIXELS = np.zeros((28, 28), dtype=int)
PIXELS[6:22, 12:16] = 255


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    save_model(path)
    with running_server(path) as s:
        yield s


@pytest.mark.parametrize("length", ["²", "1²", "1_0", "-5", "0x10", "5 5"])
def test_a_content_length_that_is_no_byte_count_is_a_400(server, length):
    """int() reads "1_0" as 10 and refuses "²", which str.isdigit() calls a digit: the server
    answered the latter with a 500 and a traceback."""
    status, out, _ = request(server, "POST", "/api/predict", b"{}", headers={"Content-Length": length})
    assert status == 400 and "Content-Length must be the body's size in bytes" in out["error"], out
    status, out, _ = request(server, "POST", "/api/predict", {"pixels": PIXELS.tolist()})
    assert status == 200 and out["predicted"] in range(10)  # still serving


def _huge_model(path, first, second, *, output="identity", loss=None, classes=3):
    """A float32 784-8-k ReLU network whose Dense layers' weights are multiplied by
    ``first`` and ``second``: a diverging run's checkpoint, still finite."""
    net = dp.mlp([784, 8, classes if classes > 2 else 1], output=output, activation="relu", seed=0, dtype="float32")
    dense = [layer for layer in net.layers if isinstance(layer, dp.Dense)]
    dense[0].W.value *= np.float32(first)
    dense[1].W.value *= np.float32(second)
    dp.save(net, path, input_scaling=UNIT, loss=loss or dp.MeanSquaredError(), class_names=["a", "b", "c"][:classes])
    return dp.load(path)


def test_gradient_norms_of_float32_gradients_are_summed_in_float64(tmp_path):
    """A finite float32 gradient of norm above 1.8e19 has a sum of squares above float32's
    largest number: trace() called its norm inf, and the server, which cannot write inf in
    JSON, closed the connection without an answer."""
    path = tmp_path / "model.safetensors"
    net = _huge_model(path, 1e7, 1e6)
    x = PIXELS.reshape(1, 784).astype(np.float32)
    loss = dp.MeanSquaredError()
    with np.errstate(all="ignore"):
        net.loss_and_gradients(loss, x, np.array([2]), train=False)
        trace = net.trace()
    dense = [(i, layer) for i, layer in enumerate(net.layers) if isinstance(layer, dp.Dense)]
    expected = {i: np.linalg.norm(layer.W.grad.astype(np.float64)) for i, layer in dense}
    assert all(np.isfinite(layer.W.grad).all() for _, layer in dense)
    assert max(expected.values()) > np.finfo(np.float32).max ** 0.5  # float32 squares overflow
    for i, _ in dense:
        assert trace[i].grad_norms["W"] == pytest.approx(expected[i], rel=1e-6)
    with running_server(path) as s:
        status, out, _ = request(s, "POST", "/api/backward", {"pixels": PIXELS.tolist(), "target": 2})
    assert status == 200, out
    shown = {layer["index"]: layer["grad_norms"]["W"] for layer in out["layers"] if layer["type"] == "Dense"}
    assert shown == pytest.approx(expected, rel=1e-6)  # Rescaling is layer 0 in the file and in net


def test_numbers_that_overflow_are_a_422_naming_the_layer(tmp_path):
    """The output stays finite (a sigmoid of a huge z is 1) while the last Dense layer's z
    overflows float32: the answer is a 422 that names the layer, not a dropped connection."""
    path = tmp_path / "model.safetensors"
    _huge_model(path, 1e10, 1e30, output="sigmoid", loss=dp.BinaryCrossEntropy(), classes=2)
    with running_server(path) as s:
        for route in ("/api/predict", "/api/backward"):
            status, out, _ = request(s, "POST", route, {"pixels": PIXELS.tolist()})
            assert status == 422 and "layer 3 (Dense)'s output is not finite" in out["error"], out
        assert request(s, "GET", "/api/model")[0] == 200  # still serving


def test_an_answer_that_json_cannot_hold_is_a_500_not_a_dropped_connection(server, monkeypatch):
    source = server.app.source
    monkeypatch.setattr(source, "forward", lambda image: {"predicted": 0, "probabilities": [float("nan")]})
    status, out, _ = request(server, "POST", "/api/predict", {"pixels": PIXELS.tolist()})
    assert status == 500 and out["error"] == "internal error (ValueError); see the server's output"


def _fashion_model(path):
    net = dp.mlp([784, 16, 10], activation="sigmoid", seed=0)
    dp.save(net, path, input_scaling=UNIT, extra={"config": {"loss": "cross_entropy", "dataset": "fashion-mnist"}})


def test_the_model_says_how_a_drawing_becomes_its_inputs(tmp_path, server):
    """A Fashion-MNIST model's drawings are made into inputs in that data's style, while
    the page said "cropped to the ink, fitted in 20x20, centred by mass" for every model:
    /api/model names the style, which the page describes."""
    from deltaprop.images import STYLES

    _fashion_model(tmp_path / "fashion.safetensors")
    with running_server(tmp_path / "fashion.safetensors") as fashion:
        assert request(fashion, "GET", "/api/model")[1]["image_style"] == "fashion"
    assert request(server, "GET", "/api/model")[1]["image_style"] == "digit"
    script = request(server, "GET", "/app.js")[1].decode()
    notes = script[script.index("const STYLE_NOTES"):script.index("};", script.index("const STYLE_NOTES"))]
    assert all(f'"{style}":' in notes for style in STYLES)


@pytest.mark.slow
def test_the_page_describes_a_fashion_models_inputs(tmp_path, browser):
    _fashion_model(tmp_path / "fashion.safetensors")
    with _page_of(browser, tmp_path / "fashion.safetensors") as page:
        note = page.inner_text("#preview-note")
    assert note.startswith("Trimmed to the drawing, its longer side fitted to 28 pixels") and "20×20" not in note


@pytest.mark.parametrize("host", ["", " "])
def test_an_empty_host_is_a_one_line_error_not_every_interface(tmp_path, capsys, host):
    """An empty --host (an unset shell variable, say) bound every network interface, warned
    "listening on , so other machines ..." and printed the URL http://:PORT/."""
    from deltaprop import cli
    from deltaprop.errors import ConfigError
    from deltaprop.serve import make_server

    save_model(tmp_path / "m.safetensors")
    with pytest.raises(ConfigError, match="--host must name an address"):
        make_server(tmp_path / "m.safetensors", host=host, port=0).server_close()
    assert cli.main(["serve", str(tmp_path / "m.safetensors"), "--port", "0", "--host", host]) == 2
    err = capsys.readouterr().err
    assert "--host must name an address" in err and len(err.strip().splitlines()) == 1


def _single_score_model(path):
    """One linear output trained with squared error: a score, class "yes" at 0.5 or more."""
    dp.save(dp.mlp([784, 16, 1], output="identity", seed=0), path, input_scaling=UNIT, loss=dp.MeanSquaredError(),
            class_names=["no", "yes"])


def test_a_single_outputs_threshold_is_given(tmp_path, server):
    _single_score_model(tmp_path / "one.safetensors")
    with running_server(tmp_path / "one.safetensors") as one:
        model = request(one, "GET", "/api/model")[1]
        out = request(one, "POST", "/api/predict", {"pixels": PIXELS.tolist()})[1]
    assert model["threshold"] == dp.load(tmp_path / "one.safetensors").decision_threshold == 0.5
    assert out["outputs"] == "scores" and out["predicted"] == int(out["scores"][0] >= model["threshold"])
    assert request(server, "GET", "/api/model")[1]["threshold"] is None  # ten outputs: the largest is the class


@pytest.mark.slow
def test_the_page_says_how_a_single_score_decides_the_class(tmp_path, browser):
    """The page said "the largest is the class" and listed only class 1's score, while the
    class it showed came from the threshold: "no" beside "yes 0.2767", with no word why."""
    _single_score_model(tmp_path / "one.safetensors")
    with _page_of(browser, tmp_path / "one.safetensors") as page:
        page.evaluate("(body) => fetch('/api/predict', {method: 'POST', headers: {'Content-Type': 'application/json'}, "
                      "body}).then((r) => r.json()).then((r) => renderPrediction(r))",
                      json.dumps({"pixels": PIXELS.tolist()}))
        page.wait_for_function("() => document.querySelector('#outputs-kind').textContent !== ''")
        kind, confidence = page.inner_text("#outputs-kind"), page.inner_text("#confidence")
    assert kind == "a score: the network's raw output, class yes at 0.5 or more, else no; it is not a probability"
    assert confidence.startswith("score ")
