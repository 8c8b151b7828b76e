"""What the page's API calls a model's outputs: probabilities only where the model gives
probabilities; a model whose outputs are scores (squared error on a linear output) gets
them as ``scores``, the numbers and the word ``deltaprop predict`` prints."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import cli
from test_serve_http import UNIT, digit_png, request, running_server

CLASSES = [str(i) for i in range(10)]


def _model(path, output, loss):
    dp.save(dp.mlp([784, 16, 10], output=output, seed=3), path, class_names=CLASSES, input_scaling=UNIT, loss=loss)
    return dp.load(path)  # takes raw 0..255 pixels, as the server's input


@pytest.mark.parametrize("output, loss, kind", [("identity", dp.MeanSquaredError(), "scores"),
                                                ("softmax", dp.CrossEntropy(), "probabilities")])
def test_outputs_are_named_by_their_kind_and_agree_with_predict(tmp_path, output, loss, kind):
    path = tmp_path / "model.safetensors"
    net = _model(path, output, loss)
    png = digit_png("one")
    (tmp_path / "one.png").write_bytes(png)
    with running_server(path) as s:
        status, out, _ = request(s, "POST", "/api/predict", png, headers={"Content-Type": "image/png"})
        back = request(s, "POST", "/api/backward", png, headers={"Content-Type": "image/png"})[1]
    assert status == 200 and out["outputs"] == kind == back["outputs"]
    other = "probabilities" if kind == "scores" else "scores"
    assert out[other] is None and back[other] is None
    values = np.array(out[kind])
    expected = net.predict_proba(np.array(out["input"], dtype=np.float32).reshape(1, 784))[0]
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)
    if kind == "scores":
        assert values.min() < 0 and not np.isclose(values.sum(), 1)  # no probabilities: the test can tell
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert cli.main(["predict", str(path), str(tmp_path / "one.png"), "--top", "10"]) == 0
    order = sorted(range(10), key=lambda c: (-values[c], c))
    shown = ", ".join(f"{c}: {values[c]:.4f}" for c in order)
    assert buf.getvalue().strip() == f"class {out['predicted']}  ({kind} {shown})"
