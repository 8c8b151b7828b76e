"""`deltaprop serve` and a model file written again while the page shows it: the hovered
weights of the first layer name the model they are from, so the page never draws one
model's weights beside another model's forward pass."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from test_serve_http import UNIT, request, running_server

import deltaprop as dp


def _save(path, seed: int) -> dp.Network:
    net = dp.mlp([784, 16, 10], seed=seed)
    dp.save(net, path, input_scaling=UNIT, class_names=[str(i) for i in range(10)])
    return net


def test_weights_name_the_model_version_they_are_from(tmp_path):
    """/api/weights answered with whichever file was on disk and said nothing of it; the
    page cached that answer beside a forward pass of the model it had described before, so
    after the file was written again its hover mixed the old model's pass with the new
    model's weights. The answer now carries the version /api/model and the passes give."""
    path = tmp_path / "model.safetensors"
    first = _save(path, seed=0)
    with running_server(path) as server:
        described = request(server, "GET", "/api/model")[1]
        status, w, _ = request(server, "GET", "/api/weights?unit=3")
        assert status == 200, w
        assert w["model_version"] == described["version"]
        np.testing.assert_allclose(np.ravel(w["weights"]), first.layers[0].W.value[:, 3], rtol=1e-6)

        second = _save(path, seed=7)
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later write, whatever the clock's tick
        status, w2, _ = request(server, "GET", "/api/weights?unit=3")
        assert status == 200, w2
        now = request(server, "GET", "/api/model")[1]["version"]
        assert w2["model_version"] == now != described["version"]
        np.testing.assert_allclose(np.ravel(w2["weights"]), second.layers[0].W.value[:, 3], rtol=1e-6)
        passed = request(server, "POST", "/api/predict", {"pixels": [[0] * 28] * 28})[1]
        assert passed["model_version"] == w2["model_version"]


@pytest.mark.slow
def test_the_page_draws_no_weights_beside_another_models_pass(tmp_path):
    """In Chromium: after the file was written again, hovering a unit showed the new
    model's weights under the old model's forward pass (and cached them beside the old
    model's). The page now describes and draws the new model first."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    browser_tests = pytest.importorskip("test_serve_browser")
    path = tmp_path / "model.safetensors"
    _save(path, seed=0)
    with running_server(path) as server, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_tests.CHROMIUM, args=browser_tests.ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784 → 16 → 10')")
        browser_tests.draw_zero(page)
        browser_tests.wait_idle(page)
        old = page.evaluate("() => state.last.model_version")

        second = _save(path, seed=7)
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        new = request(server, "GET", "/api/model")[1]["version"]
        # the strip's width, read once it is laid out: the page may be redrawing it for the new file
        width = page.wait_for_function("""() => {
            const c = document.querySelector('#forward .strip.hoverable canvas');
            const w = c ? c.getBoundingClientRect().width : 0;
            return w > 0 ? w : null;
        }""").json_value()
        page.hover("#forward .strip.hoverable canvas", position={"x": width - 2, "y": 5})  # unit 15, not cached
        page.wait_for_function(f"() => state.last && state.last.model_version === {new!r}", timeout=30_000)
        assert old != new
        page.mouse.move(0, 0)
        page.hover("#forward .strip.hoverable canvas", position={"x": width - 2, "y": 5})
        page.wait_for_selector("#weights-box", state="visible")
        shown = page.evaluate("() => [state.weights.get(15).model_version, state.weights.get(15).weights.flat()]")
        assert shown[0] == new
        np.testing.assert_allclose(shown[1], second.layers[0].W.value[:, 15], rtol=1e-6)
        browser.close()


def test_a_scikit_learn_model_fitted_on_a_dataframe_names_its_inputs(tmp_path):
    """A scikit-learn classifier of string labels fitted on a DataFrame: the form named its
    fields x0, x1, ... though the file records the columns (``feature_names_in``), so the
    user had to know their order. Its classes are the labels; the numbers are the model's."""
    pd = pytest.importorskip("pandas")
    from deltaprop.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["age", "income", "height"])
    labels = np.array(["cat", "dog", "emu"])[rng.integers(0, 3, 60)]
    clf = NeuralNetClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():  # three iterations do not converge; no matter here
        warnings.simplefilter("ignore")
        clf.fit(frame, labels)
    clf.save(tmp_path / "clf.safetensors")
    with running_server(tmp_path / "clf.safetensors") as server:
        described = request(server, "GET", "/api/model")[1]
        assert described["features"] == ["age", "income", "height"]
        assert described["classes"] == ["cat", "dog", "emu"]
        row = frame.iloc[0].tolist()
        status, out, _ = request(server, "POST", "/api/backward", {"inputs": row, "target": 2})
    assert status == 200, out
    np.testing.assert_allclose(out["probabilities"], clf.predict_proba(frame.iloc[:1])[0], rtol=1e-6)
    assert described["classes"][out["predicted"]] == clf.predict(frame.iloc[:1])[0]


def test_a_model_file_replaced_by_one_that_cannot_be_served_is_said_so(tmp_path):
    """A served model file overwritten by a file that is no model deltaprop can serve (cut
    short, or a multi-label classifier) went on answering with the model it held before,
    under the same file name, without a word. Each request now says what is wrong with the
    file, until it holds a model again."""
    path = tmp_path / "model.safetensors"
    _save(path, seed=0)
    body = {"pixels": [[0] * 28] * 28}
    with running_server(path) as server:
        assert request(server, "POST", "/api/predict", body)[0] == 200
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        status, out, _ = request(server, "POST", "/api/predict", body)
        assert status == 422 and "model.safetensors" in out["error"], out
        assert request(server, "GET", "/api/model")[0] == 422

        labels = dp.mlp([784, 8, 3], output="sigmoid", seed=1)
        dp.save(labels, path, input_scaling=UNIT, class_names=["a", "b", "c"], extra={"multilabel": True})
        status, out, _ = request(server, "POST", "/api/predict", body)
        assert status == 422 and "multi-label" in out["error"], out

        second = _save(path, seed=7)
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # not the first file's stamp, whatever the tick
        status, out, _ = request(server, "POST", "/api/predict", body)
    assert status == 200, out
    x = np.zeros((1, 784))
    np.testing.assert_allclose(out["probabilities"], second.predict_proba(x)[0], rtol=1e-5)
