"""`deltaprop serve` and requests whose headers contradict themselves: two Content-Length
headers that differ are a 400 at once, not a wait for a body that never comes. A model
file that records no range of its training inputs is said to, not fed 0..255 silently."""

from __future__ import annotations

import json
import os
import shutil
import socket

import numpy as np
import pytest
from test_serve_http import request, running_server, save_model

import deltaprop as dp

BODY = json.dumps({"pixels": [[0] * 28] * 28}).encode()


def _raw(server, lengths: list[str]) -> tuple[int, dict]:
    """Status and JSON of a POST sent byte for byte with these Content-Length headers; the
    connection stays open for writing (a server waiting for more body waits)."""
    head = "".join(f"Content-Length: {v}\r\n" for v in lengths)
    request = (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
               f"Content-Type: application/json\r\n{head}\r\n").encode() + BODY
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.mark.parametrize("lengths", [[str(len(BODY) + 50), str(len(BODY))], [str(len(BODY)), str(len(BODY) + 50)]])
def test_two_content_lengths_that_differ_are_refused_at_once(tmp_path, lengths):
    """The first one was believed: a larger first length left the server waiting 10 s for
    bytes that never come, then a 408 (here the socket's 5 s timeout fails first); a smaller
    one cut the body short. Which length the sender meant cannot be known: a 400 now."""
    save_model(tmp_path / "m.safetensors")
    with running_server(tmp_path / "m.safetensors") as server:
        status, out = _raw(server, lengths)
    assert status == 400, out
    assert "Content-Length" in out["error"] and "differ" in out["error"]


def test_a_content_length_repeated_with_the_same_value_is_read(tmp_path):
    save_model(tmp_path / "m.safetensors")
    with running_server(tmp_path / "m.safetensors") as server:
        status, out = _raw(server, [str(len(BODY)), str(len(BODY))])
    assert status == 200, out
    assert len(out["probabilities"]) == 10


def _raw_digits_model(path):
    """An 8x8 model trained with `--scaling none` on a file: no input layer, no range recorded."""
    net = dp.mlp([64, 12, 10], seed=0, dtype="float64")
    dp.save(net, path, class_names=[str(i) for i in range(10)],
            extra={"config": {"dataset": "digits.csv", "scaling": "none"}, "dataset": "digits.csv"})


def test_the_page_is_told_when_the_model_records_no_input_range(tmp_path):
    """/api/model said levels_top 255 alike for a model that records its range and one that
    records none; the page now has levels_known to say the second's levels are assumed."""
    _raw_digits_model(tmp_path / "raw.safetensors")
    save_model(tmp_path / "unit.safetensors")
    with running_server(tmp_path / "raw.safetensors") as raw:
        described = request(raw, "GET", "/api/model")[1]
        script = request(raw, "GET", "/app.js")[1].decode()
        pixels = np.zeros((8, 8))
        pixels[1:7, 3:5] = 255
        status, out, _ = request(raw, "POST", "/api/predict", {"pixels": pixels.tolist()})
    with running_server(tmp_path / "unit.safetensors") as unit:
        recorded = request(unit, "GET", "/api/model")[1]
    assert described["image_side"] == 8 and described["levels_top"] == 255
    assert described["levels_known"] is False and recorded["levels_known"] is True
    assert "m.levels_known === false" in script and "does not record the range" in script
    assert status == 200, out  # still answered, on the levels the page says it feeds
    want = dp.load(tmp_path / "raw.safetensors").predict_proba(pixels.reshape(1, 64))[0]
    assert out["probabilities"] == pytest.approx(want.tolist(), abs=1e-12)


@pytest.mark.slow
def test_the_page_says_it_feeds_0_to_255_to_a_model_that_records_no_range(tmp_path):
    """In the browser: the preview's note says the levels are assumed, for that model only."""
    import test_serve_browser as tsb  # skips where playwright or chromium is missing
    from test_serve_browser import Watched

    _raw_digits_model(tmp_path / "raw.safetensors")
    save_model(tmp_path / "unit.safetensors")
    notes = {}
    chromium = tsb.CHROMIUM if os.path.exists(tsb.CHROMIUM) else shutil.which("chromium")
    with tsb.playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=tsb.ARGS)
        try:
            for name, sizes in (("raw", "64 → 12 → 10"), ("unit", "784 → 16 → 10")):
                with running_server(tmp_path / f"{name}.safetensors") as server:
                    w = Watched(b, server.url.rstrip("/"))
                    w.page.goto(server.url)
                    w.page.wait_for_function("() => document.querySelector('#model-info').textContent"
                                             f".includes('{sizes}')")
                    notes[name] = w.page.inner_text("#preview-note")
                    assert not w.errors, w.errors
        finally:
            b.close()
    assert "does not record the range" in notes["raw"] and "0..255" in notes["raw"]
    assert "does not record the range" not in notes["unit"]
