"""`deltaprop serve` answers what it is sent with a 4xx and a one-line reason, never a 500."""

from __future__ import annotations

import numpy as np
import pytest

from test_serve_http import request, running_server, save_model

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
