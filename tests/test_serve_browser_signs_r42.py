"""deltaprop serve in headless Chromium: every δ strip is coloured by its sign (red
positive, blue negative), also where its values all have one sign, as a single output's
δ always does; only layers that cannot be negative (sigmoid, ReLU, softmax outputs) are
drawn in shades of one blue. A single output decided away from 0.5 says so; a model with
no hidden layer names the output its first weights feed; a model file replaced by one whose
classes the chosen target does not fit is answered for, not refused at every drawing."""

from __future__ import annotations

import os

import pytest

import deltaprop as dp
from test_serve_http import running_server

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
from test_serve_browser import ARGS, CHROMIUM, draw_zero, wait_idle  # noqa: E402

if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is missing (apt-get install -y chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow

_CELL_COLOUR = """([layer, field]) => {
    const strip = document.querySelector(`#${field} .strip[data-layer='${layer}'] canvas`);
    return [...strip.getContext('2d').getImageData(3, 3, 1, 1).data].slice(0, 3);
}"""


def test_a_single_outputs_delta_is_red_when_positive_and_blue_when_negative(tmp_path):
    """One sigmoid output with binary cross-entropy: its δ = a − y is positive for target
    class 0 and negative for class 1, and its colour says which; it was blue for both.
    Its decision threshold, 0.3, is said beside probabilities that put the class shown
    below the other (it was "dog, 40% sure" with no word why)."""
    path = tmp_path / "m.safetensors"
    net = dp.mlp([784, 12, 1], activation="tanh", output="sigmoid", seed=1)
    net.decision_threshold = 0.3  # dog from a probability of 0.3: the page says so beside the probabilities
    dp.save(net, path, class_names=["cat", "dog"], input_scaling={"kind": "unit", "max": 255})
    with playwright_api.sync_playwright() as p, running_server(path) as server:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.startsWith('784 → 12 → 1')")
        draw_zero(page)
        wait_idle(page)
        probability = page.evaluate("state.last.probabilities")[1]
        assert 0.3 <= probability < 0.5 and page.inner_text("#predicted") == "dog"  # the smaller probability's class
        assert page.inner_text("#outputs-kind") == (
            "probabilities; this model decides dog where its probability is at least 0.3 (its decision threshold), "
            "not 0.5, so the class shown may have the smaller probability"
        )
        assert page.inner_text("#loss-name") == "for target dog, the predicted class (auto) (BinaryCrossEntropy)"
        seen = {}
        for target in (0, 1):
            page.click(f"#targets button[data-target='{target}']")
            page.wait_for_function(f"() => state.last && state.last.target === {target}")
            wait_idle(page)
            assert page.inner_text("#loss-name") == f"for target {['cat', 'dog'][target]} (BinaryCrossEntropy)"
            out = page.evaluate("state.last")
            delta = out["layers"][2]["delta"]  # the output Dense layer's δ = ∂L/∂z = a − y
            assert out["layers"][2]["type"] == "Dense" and len(delta) == 1
            a = out["layers"][3]["output"][0]
            assert delta[0] == pytest.approx(a - target, rel=1e-5)
            seen[target] = page.evaluate(_CELL_COLOUR, [out["layers"][2]["index"], "deltas"])
            sigmoid = page.evaluate(_CELL_COLOUR, [out["layers"][3]["index"], "forward"])
            assert sigmoid[2] > sigmoid[0]  # a probability: shades of blue, as before
        r, g, b = seen[0]  # δ = a > 0: red
        assert r > b, seen
        r, g, b = seen[1]  # δ = a − 1 < 0: blue
        assert b > r, seen
        assert errors == []
        browser.close()


def test_a_model_without_hidden_layer_names_the_output_its_weights_feed(tmp_path):
    """A softmax regression (784 → 10, no hidden layer): hovering its one Dense layer shows
    the weights into an output unit, named by its class, not "hidden unit j". Replaced by a
    model of fewer classes than the target chosen, the page answers for the new model; it
    showed the refusal of the old target at every drawing until a reload."""
    path = tmp_path / "m.safetensors"
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    dp.save(dp.mlp([784, 10], seed=2), path, class_names=names, input_scaling={"kind": "unit", "max": 255})
    with playwright_api.sync_playwright() as p, running_server(path) as server:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.startsWith('784 → 10')")
        draw_zero(page)
        wait_idle(page)
        cell = int(page.get_attribute("#forward .strip.hoverable canvas", "data-cell"))
        page.hover("#forward .strip.hoverable canvas", position={"x": 3 * cell + cell // 2, "y": cell // 2})
        page.wait_for_selector("#weights-box", state="visible")
        label = page.inner_text("#weights-label")
        assert label.startswith("weights into output unit 3 (three), as the model has no hidden layer"), label
        assert "hidden unit" not in label

        # the file is replaced by a model of three classes while class 7 is the target: the page
        # describes the new model and answers for it (auto), not "target must be a class id in 0..2"
        page.click("#targets button[data-target='7']")
        page.wait_for_function("() => state.last && state.last.target === 7")
        wait_idle(page)
        dp.save(dp.mlp([784, 3], seed=3), path, class_names=["a", "b", "c"], input_scaling={"kind": "unit", "max": 255})
        draw_zero(page)
        page.wait_for_function("() => state.last && state.last.classes.length === 3", timeout=20_000)
        wait_idle(page)
        assert page.evaluate("state.target") is None and page.evaluate("state.last.target") in (0, 1, 2)
        assert "error" not in (page.get_attribute("#status", "class") or "")
        assert page.inner_text("#model-info").startswith("784 → 3") and errors == []
        browser.close()
