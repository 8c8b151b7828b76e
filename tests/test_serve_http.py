"""deltaprop serve over HTTP: the API's numbers come from the library, and the safety list
(Host header, cross-origin POSTs, body and image caps, field validation, path traversal,
slow clients) holds without the server ever stopping."""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import socket
import struct
import threading
import types
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

import deltaprop as dp
from deltaprop import cli
from deltaprop.images import load_digit
from deltaprop.serve import make_server
from deltaprop.serve import handler as serve_handler
from deltaprop.serialization import apply_scaling

UNIT = {"kind": "unit", "max": 255}


@contextlib.contextmanager
def running_server(path, **kwargs):
    """A server for ``path`` on a free port, served from a thread; yields it."""
    server = make_server(path, port=0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def save_model(path, *, dtype="float32", seed=0):
    net = dp.mlp([784, 16, 10], activation="sigmoid", seed=seed, dtype=dtype)
    dp.save(net, path, class_names=[str(i) for i in range(10)], input_scaling=UNIT,
            extra={"config": {"loss": "cross_entropy"}})
    return net


def digit_png(kind="zero", size=200) -> bytes:
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    if kind == "zero":
        draw.ellipse((60, 30, 140, 170), outline="black", width=14)
    else:
        draw.line([(100, 30), (100, 170)], fill="black", width=14)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def request(server, method, path, body=None, headers=None, host=None):
    """(status, parsed JSON or raw bytes, headers) of one request on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host if host is not None else f"127.0.0.1:{server.port}")
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    for k, v in hdrs.items():
        conn.putheader(k, v)
    if data is not None and "Content-Length" not in hdrs:
        conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data)
    res = conn.getresponse()
    raw = res.read()
    conn.close()
    is_json = res.getheader("Content-Type", "").startswith("application/json")
    return res.status, json.loads(raw) if is_json else raw, res


def write_history(path, records) -> None:
    """A history.csv as ``deltaprop train`` writes it: a header row, one row per epoch."""
    keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "steps")
    rows = [",".join(keys)] + [",".join("" if r.get(k) is None else str(r[k]) for k in keys) for r in records]
    path.write_text("\n".join(rows) + "\n")


def read_all(conn: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    conn.close()
    return b"".join(chunks)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "model.safetensors"
    save_model(path)
    return path


@pytest.fixture(scope="module")
def server(model_path):
    with running_server(model_path) as s:
        yield s


def load_digit_bytes(png: bytes) -> np.ndarray:
    from deltaprop.images import digit_from_bytes

    return digit_from_bytes(png)


# -- the numbers -------------------------------------------------------------------------------
def test_predict_pixels_is_the_library_prediction(server, model_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(28, 28))
    status, out, _ = request(server, "POST", "/api/predict", {"pixels": pixels.tolist()})
    assert status == 200, out
    net = dp.load(model_path)  # the file's input scaling is the loaded network's first layer
    expected = net.predict_proba(pixels.reshape(1, 784))[0]
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-6, atol=1e-7)
    assert out["predicted"] == int(np.argmax(expected))
    assert [len(layer["output"]) for layer in out["layers"]] == [16, 16, 10, 10]


def test_png_is_read_as_deltaprop_predict_reads_the_file(server, model_path, tmp_path, capsys):
    png = digit_png("zero")
    (tmp_path / "zero.png").write_bytes(png)
    status, out, _ = request(server, "POST", "/api/predict", png, headers={"Content-Type": "image/png"})
    assert status == 200, out
    assert np.array_equal(np.array(out["input"]), load_digit(tmp_path / "zero.png"))
    assert cli.main(["predict", str(model_path), str(tmp_path / "zero.png"), "--top", "10"]) == 0
    printed = capsys.readouterr().out
    shown = ", ".join(f"{c}: {p:.4f}" for c, p in sorted(enumerate(out["probabilities"]), key=lambda t: (-t[1], t[0])))
    assert f"class {out['predicted']}  (probabilities {shown})" in printed
    status, same, _ = request(server, "POST", "/api/predict", {"png": "data:image/png;base64," + base64.b64encode(png).decode()})
    assert status == 200 and same["probabilities"] == out["probabilities"]


def test_backward_matches_finite_differences_of_the_loss(tmp_path):
    path = tmp_path / "m64.safetensors"
    net = save_model(path, dtype="float64", seed=3)
    pixels = load_digit_bytes(digit_png("one"))
    with running_server(path) as s:
        status, out, _ = request(s, "POST", "/api/backward", {"pixels": pixels.tolist(), "target": 7})
    assert status == 200, out
    x = apply_scaling(UNIT, pixels.reshape(1, 784), np.float64)
    loss = dp.CrossEntropy()
    assert out["target"] == 7
    assert out["loss"] == pytest.approx(loss.value(net.predict_proba(x), loss.prepare_targets(np.array([7]), 10, np.float64)),
                                        rel=1e-12)
    grad = np.array(out["input_gradient"]).reshape(784)
    h = 1e-6
    for i in [int(j) for j in np.argsort(-np.abs(grad))[:5]] + [0, 400]:
        xp, xm = x.copy(), x.copy()
        xp[0, i] += h
        xm[0, i] -= h
        fd = (net.loss_and_gradients(loss, xp, [7]) - net.loss_and_gradients(loss, xm, [7])) / (2 * h)
        # the page sends raw 0..255 pixels: ∂L/∂pixel = ∂L/∂x · ∂x/∂pixel, and x = pixel / 255
        assert grad[i] == pytest.approx(fd / 255, rel=1e-5, abs=1e-11)
    # δ of the first Dense layer is ∂L/∂z¹: the bias gradient of a one-example batch
    net.loss_and_gradients(loss, x, [7])
    np.testing.assert_allclose(out["layers"][0]["delta"], net.layers[0].b.grad, rtol=1e-12)
    assert out["layers"][-1]["delta"] is None  # softmax + cross-entropy start at a − y


def test_another_target_changes_loss_deltas_and_input_gradient(server):
    png = base64.b64encode(digit_png("zero")).decode()
    _, auto, _ = request(server, "POST", "/api/backward", {"png": png})
    other = (auto["predicted"] + 1) % 10
    _, chosen, _ = request(server, "POST", "/api/backward", {"png": png, "target": other})
    assert auto["target"] == auto["predicted"] and chosen["target"] == other
    assert chosen["loss"] > auto["loss"]
    assert chosen["input_gradient"] != auto["input_gradient"]
    assert chosen["layers"][0]["delta"] != auto["layers"][0]["delta"]
    assert chosen["probabilities"] == auto["probabilities"]


def test_weights_of_a_first_layer_unit(server, model_path):
    status, out, _ = request(server, "GET", "/api/weights?unit=5")
    assert status == 200
    W = dp.load(model_path).layers[1].W.value  # layer 0 is the model's own input scaling
    np.testing.assert_allclose(np.array(out["weights"]), W[:, 5].reshape(28, 28), rtol=1e-7)
    for bad in ("unit=16", "unit=-1", "unit=x", "unit=1&unit=2", ""):
        assert request(server, "GET", f"/api/weights?{bad}")[0] == 400


def test_run_folder_history_and_unchanged_polls(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    save_model(run / "model.safetensors")
    write_history(run / "history.csv", [{"epoch": e, "loss": 1.0 / e, "lr": 0.3} for e in (1, 2, 3)])
    with running_server(run) as s:
        status, out, _ = request(s, "GET", "/api/run")
        assert status == 200 and out["epochs"] == 3 and [r["epoch"] for r in out["history"]] == [1, 2, 3]
        assert out["history"][1]["loss"] == 0.5 and out["history"][0]["accuracy"] is None
        status, again, _ = request(s, "GET", f"/api/run?since={out['signature']}")
        assert again == {"unchanged": True, "signature": out["signature"]}
        write_history(run / "history.csv", [{"epoch": e, "loss": 1.0 / e} for e in (1, 2, 3, 4)])
        assert request(s, "GET", f"/api/run?since={out['signature']}")[1]["epochs"] == 4


def test_model_file_has_no_run_view(server):
    status, out, _ = request(server, "GET", "/api/run")
    assert status == 404 and "run folder" in out["error"]


def test_static_files_with_a_content_security_policy(server):
    status, page, res = request(server, "GET", "/")
    assert status == 200 and b'<canvas id="pad"' in page
    assert "default-src 'self'" in res.getheader("Content-Security-Policy")
    assert res.getheader("X-Content-Type-Options") == "nosniff"
    for path in ("/app.js", "/style.css"):
        assert request(server, "GET", path)[0] == 200


# -- the safety list ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    "/../../etc/passwd", "/static/../server.py", "/%2e%2e/%2e%2e/etc/passwd", "/static/index.html",
    "/handler.py", "//etc/passwd", "/app.js/../../model.py", "/.%2e/README.md",
])
def test_only_its_own_static_files_are_served(server, path):
    status, out, _ = request(server, "GET", path)
    assert status == 404 and set(out) == {"error"}


@pytest.mark.parametrize("host", ["evil.example:{port}", "attacker.test", "127.0.0.1:1", "localhost.evil.example:{port}",
                                  "", "127.0.0.1:{port}@evil.example", "10.0.0.1:{port}"])
def test_a_foreign_host_header_is_refused(server, host):
    status, out, _ = request(server, "GET", "/api/model", host=host.format(port=server.port))
    assert status == 421 and "Host" in out["error"]


def test_local_host_names_are_accepted(server):
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", f"LOCALHOST:{server.port}"):
        assert request(server, "GET", "/api/model", host=host)[0] == 200


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"}, {"Origin": "http://localhost:1"},
])
def test_cross_origin_posts_are_refused(server, headers):
    status, out, _ = request(server, "POST", "/api/predict", {"pixels": [[0] * 28] * 28}, headers=headers)
    assert status == 403 and "cross-origin" in out["error"]


def test_same_origin_post_is_accepted(server):
    headers = {"Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"}
    assert request(server, "POST", "/api/predict", {"pixels": [[0] * 28] * 28}, headers=headers)[0] == 200


def test_an_oversized_body_is_refused_unread(server):
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.sendall(f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {5 << 20}\r\n\r\n".encode())
    reply = read_all(conn).decode()
    assert reply.startswith("HTTP/1.1 413") and "limit is 1,048,576" in reply


def test_the_cap_is_exact(server):
    cap = serve_handler.MAX_BODY_BYTES
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.sendall(f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: {cap + 1}\r\n\r\n".encode())
    assert read_all(conn).startswith(b"HTTP/1.1 413")
    body = b'{"pixels": [' + b",".join([b"0"] * 784) + b"]}"
    body += b" " * (cap - len(body))  # exactly at the cap: read and answered
    status, out, _ = request(server, "POST", "/api/predict", body)
    assert status == 200 and out["input"][0][0] == 0


BAD_BODIES = [
    (b"{not json", 400, "malformed JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"\xff\xfe", 400, "UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "malformed JSON"),
    (json.dumps({"pixels": [[0] * 28] * 27}).encode(), 400, "28x28"),
    (json.dumps({"pixels": [[0] * 27] * 28}).encode(), 400, "a row has 27"),
    (json.dumps({"pixels": [0] * 783}).encode(), 400, "783 items"),
    (json.dumps({"pixels": "zeros"}).encode(), 400, "28x28 array"),
    (b'{"pixels": [' + b",".join([b"NaN"] * 784) + b"]}", 400, "NaN is not a JSON number"),
    (b'{"pixels": [' + b",".join([b"1e999"] * 784) + b"]}", 400, "finite"),
    (b'{"pixels": [' + b",".join([b"-Infinity"] * 784) + b"]}", 400, "Infinity"),
    (b'{"pixels": [' + b",".join([str(10**400).encode()] * 784) + b"]}", 400, "an integer of 401 digits"),
    (b'{"pixels": [' + b",".join([b"0"] * 783 + [str(-10**309).encode()]) + b"]}", 400, "an integer of 310 digits"),
    (json.dumps({"pixels": [True] * 784}).encode(), 400, "finite numbers"),
    (json.dumps({"pixels": ["1"] * 784}).encode(), 400, "finite numbers"),
    (json.dumps({"pixels": [300] * 784}).encode(), 400, "0..255"),
    (json.dumps({"pixels": [0] * 784, "png": "x"}).encode(), 400, "exactly one"),
    (json.dumps({}).encode(), 400, "exactly one"),
    (json.dumps({"pixels": [0] * 784, "extra": 1}).encode(), 400, "unknown field"),
    (json.dumps({"png": 12}).encode(), 400, "base64 string"),
    (json.dumps({"png": "not base64!"}).encode(), 400, "base64"),
    (json.dumps({"png": base64.b64encode(b"GIF89a....").decode()}).encode(), 400, "not a PNG"),
    (b'{"pixels": [' + b"1" * 5000 + b"]}", 400, "malformed JSON"),
]


@pytest.mark.parametrize("body, status, words", BAD_BODIES, ids=[w for _, _, w in BAD_BODIES])
def test_malformed_bodies_get_a_4xx_and_one_line_json(server, body, status, words):
    got, out, _ = request(server, "POST", "/api/predict", body)
    assert got == status and set(out) == {"error"} and words in out["error"] and "\n" not in out["error"]


@pytest.mark.parametrize("target, words", [(10, "0..9"), (-1, "0..9"), ("3", "integer"), (2.5, "integer"), (True, "integer")])
def test_bad_targets(server, target, words):
    status, out, _ = request(server, "POST", "/api/backward", {"pixels": [[0] * 28] * 28, "target": target})
    assert status in (400, 422) and words in out["error"]


def test_a_query_target_is_honoured_with_either_body_and_a_conflict_is_refused(server):
    pixels = {"pixels": [[0] * 28] * 28}
    auto = request(server, "POST", "/api/backward", pixels)[1]
    target = (auto["predicted"] + 3) % 10
    by_body = request(server, "POST", "/api/backward", {**pixels, "target": target})[1]
    status, by_query, _ = request(server, "POST", f"/api/backward?target={target}", pixels)
    assert status == 200 and by_query["target"] == target and by_query["loss"] == by_body["loss"] != auto["loss"]
    png = request(server, "POST", f"/api/backward?target={target}", digit_png(), headers={"Content-Type": "image/png"})[1]
    assert png["target"] == target
    status, out, _ = request(server, "POST", f"/api/backward?target={target}", {**pixels, "target": target})
    assert status == 200 and out["target"] == target
    status, out, _ = request(server, "POST", f"/api/backward?target={target}", {**pixels, "target": (target + 1) % 10})
    assert status == 400 and set(out) == {"error"} and "two targets" in out["error"]
    status, out, _ = request(server, "POST", f"/api/predict?target={target}", pixels)
    assert status == 400 and "predict takes no target" in out["error"]


def test_predict_takes_no_target_and_wrong_content_types_are_refused(server):
    assert request(server, "POST", "/api/predict", {"pixels": [0] * 784, "target": 1})[0] == 400
    status, out, _ = request(server, "POST", "/api/predict", b"pixels=1", headers={"Content-Type": "text/plain"})
    assert status == 415 and "Content-Type" in out["error"]
    assert request(server, "GET", "/api/predict")[0] == 405
    assert request(server, "POST", "/nowhere", {"pixels": [0] * 784})[0] == 404


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with one tiny compressed row (a bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def test_image_size_is_capped_before_decoding(server):
    status, out, _ = request(server, "POST", "/api/predict", _png_header_only(5000, 5000), headers={"Content-Type": "image/png"})
    assert status == 422 and "5000x5000 pixels is too large" in out["error"]
    status, out, _ = request(server, "POST", "/api/predict", _png_header_only(30_000, 30_000),
                             headers={"Content-Type": "image/png"})
    assert status == 422 and "900,000,000 pixels is too large (limit 4,194,304)" in out["error"], out


def test_blank_and_broken_drawings_say_what_to_do(server):
    blank = io.BytesIO()
    Image.new("RGB", (50, 50), "white").save(blank, "PNG")
    status, out, _ = request(server, "POST", "/api/predict", blank.getvalue(), headers={"Content-Type": "image/png"})
    assert status == 422 and "blank" in out["error"]
    status, out, _ = request(server, "POST", "/api/predict", b"\x89PNG\r\n\x1a\nbroken", headers={"Content-Type": "image/png"})
    assert status == 422 and "cannot decode" in out["error"]


def test_missing_or_chunked_length_and_a_short_body(server):
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.sendall(f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".encode())
    assert conn.recv(4096).startswith(b"HTTP/1.1 411")
    conn.close()
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.sendall(f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: 50\r\n\r\n{{}}".encode())
    conn.shutdown(socket.SHUT_WR)
    assert conn.recv(4096).startswith(b"HTTP/1.1 400")
    conn.close()


def test_garbage_request_lines_get_json_errors(server):
    for line in (b"HELLO\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\x01\x02\r\n\r\n"):
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        conn.sendall(line)
        reply = read_all(conn)
        assert b"{\"error\"" in reply  # a line with no HTTP version gets an HTTP/0.9 reply: no status line
    assert request(server, "GET", "/api/model")[0] == 200


@pytest.mark.slow  # a client sending a byte a second
def test_a_slow_client_does_not_block_others(server, monkeypatch):
    """One client sends its body a byte a second; another is served meanwhile, and the
    slow one is cut off with 408 when its body deadline passes."""
    # the handler's clock stands still until the other client is served, then jumps past the
    # deadline: a loaded machine may take seconds to serve it, and the test does not race that
    monkeypatch.setattr(serve_handler, "BODY_SECONDS", 60.0)
    now = [0.0]
    monkeypatch.setattr(serve_handler, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    body = json.dumps({"pixels": [0] * 784}).encode()
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    slow.sendall(f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode())
    stop, replies = threading.Event(), []

    def dribble():
        for byte in body:
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                break
            if stop.wait(1.0):
                break
        with contextlib.suppress(OSError):
            replies.append(read_all(slow))

    t = threading.Thread(target=dribble, daemon=True)
    t.start()
    status, out, _ = request(server, "POST", "/api/backward", {"pixels": [0] * 784})
    assert status == 200 and t.is_alive() and not replies  # served while the slow one is mid-body
    now[0] = 1e9  # the deadline has passed: the slow one's next byte is refused
    t.join(20)
    stop.set()
    slow.close()
    assert replies and replies[0].startswith(b"HTTP/1.1 408")
    assert request(server, "GET", "/api/model")[0] == 200


def test_keep_alive_serves_several_requests_on_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(3):
        conn.request("POST", "/api/predict", json.dumps({"pixels": [0] * 784}), {"Content-Type": "application/json"})
        res = conn.getresponse()
        assert res.status == 200
        res.read()
    conn.close()


def test_a_run_folder_before_its_first_model(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text("epochs = 3\n")
    with running_server(run) as s:
        status, out, _ = request(s, "GET", "/api/model")
        assert status == 200 and out["ready"] is False and "no model yet" in out["message"]
        status, out, _ = request(s, "POST", "/api/predict", {"pixels": [0] * 784})
        assert status == 503 and "no model yet" in out["error"]
        assert request(s, "GET", "/api/run")[1]["epochs"] == 0
        save_model(run / "checkpoint.safetensors")  # a model file stands in for the first checkpoint
        assert request(s, "POST", "/api/predict", {"pixels": [0] * 784})[0] == 200


def test_a_newer_model_in_the_run_folder_is_picked_up(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    save_model(run / "model.safetensors", seed=1)
    with running_server(run) as s:
        first = request(s, "POST", "/api/predict", {"pixels": [100] * 784})[1]["probabilities"]
        save_model(run / "model.safetensors", seed=2)
        second = request(s, "POST", "/api/predict", {"pixels": [100] * 784})[1]["probabilities"]
    assert first != second
    net = dp.load(run / "model.safetensors")
    np.testing.assert_allclose(second, net.predict_proba(np.full((1, 784), 100, np.float32))[0], rtol=1e-6)


def test_a_model_with_other_inputs_is_served_but_refuses_drawings(tmp_path):
    path = tmp_path / "parity.safetensors"
    dp.save(dp.mlp([10, 3, 2], seed=0), path)
    with running_server(path) as s:
        assert request(s, "GET", "/api/model")[1]["image_input"] is False
        status, out, _ = request(s, "POST", "/api/predict", {"pixels": [0] * 784})
        assert status == 400 and "not a 28x28 image" in out["error"]


def test_head_gets_headers_only_and_a_vanished_client_is_quiet(server, capfd):
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.sendall(f"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
    reply = read_all(conn)
    assert reply.startswith(b"HTTP/1.1 405") and reply.endswith(b"\r\n\r\n")
    for _ in range(3):  # connect, send half a request, hang up
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        conn.sendall(f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: 100\r\n\r\n{{".encode())
        conn.close()
    assert request(server, "GET", "/api/model")[0] == 200
    assert "Traceback" not in capfd.readouterr().err


def test_training_state_comes_from_the_run_lock(tmp_path):
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    save_model(run / "model.safetensors")
    write_history(run / "history.csv", [{"epoch": 1, "loss": 1.0}])
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with running_server(run) as s:
        assert request(s, "GET", "/api/run")[1]["training"] is None  # no lock, history newer than the model
        (run / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}))
        assert request(s, "GET", "/api/run")[1]["training"] is True
        (run / "run.lock").write_text(json.dumps({"pid": int(gone.stdout), "host": socket.gethostname(), "started": "then"}))
        assert request(s, "GET", "/api/run")[1]["training"] is False  # a stale lock: that process is gone
        (run / "run.lock").unlink()
        save_model(run / "model.safetensors")  # the final model, written after the history
        assert request(s, "GET", "/api/run")[1]["training"] is False
        # train --serve keeps its process (and lock) after training: run.json says the run ended
        (run / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}))
        (run / "run.json").write_text(json.dumps({"status": "training"}))
        assert request(s, "GET", "/api/run")[1]["training"] is True
        (run / "run.json").write_text(json.dumps({"status": "done"}))
        assert request(s, "GET", "/api/run")[1]["training"] is False


def test_input_gradient_goes_back_through_input_layers():
    """A network that scales its own input (a parameter-free layer before the first Dense):
    ∂L/∂x is with respect to the raw pixels, through that layer's own backward."""
    preprocessing = pytest.importorskip("deltaprop.preprocessing")
    from deltaprop.serve.model import ModelSource

    net = dp.Network([preprocessing.Rescaling(1 / 255), dp.Dense(784, 12), dp.Tanh(), dp.Dense(12, 10), dp.Softmax()],
                     seed=0, dtype="float64")
    loss = dp.CrossEntropy()
    x = np.random.default_rng(1).integers(0, 256, size=(1, 784)).astype(np.float64)
    net.loss_and_gradients(loss, x, [4], train=False)
    grad = ModelSource._input_gradient(net, net.trace())[0].copy()
    h = 1e-3
    for i in (0, 100, 400, 783):
        xp, xm = x.copy(), x.copy()
        xp[0, i] += h
        xm[0, i] -= h
        fd = (net.loss_and_gradients(loss, xp, [4]) - net.loss_and_gradients(loss, xm, [4])) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=1e-6, abs=1e-12)


def test_layers_are_numbered_as_the_model_file_and_its_alerts_number_them(server, model_path):
    # the page applies the input scaling itself; the layers after it keep the model's own
    # numbers (the Rescaling layer is 0), which the run's alerts and diagnostics use
    net = dp.load(model_path)
    assert net.layers[0].type_name == "Rescaling"
    _, model, _ = request(server, "GET", "/api/model")
    assert [layer["index"] for layer in model["layers"]] == list(range(1, len(net.layers)))
    _, out, _ = request(server, "POST", "/api/backward", {"png": base64.b64encode(digit_png("zero")).decode()})
    for described, shown in zip(model["layers"], out["layers"]):
        assert shown["index"] == described["index"] and net.layers[shown["index"]].type_name == shown["type"]


def test_a_drawing_is_made_into_inputs_in_the_style_of_the_models_data(tmp_path):
    # a Fashion-MNIST model reads a drawing as predict reads its images: fitted in 28x28 with
    # its gray levels, not cropped to a 20x20 digit and centred by mass
    from deltaprop.images import image_from_bytes

    net = dp.mlp([784, 16, 10], activation="sigmoid", seed=0)
    path = tmp_path / "fashion.safetensors"
    dp.save(net, path, input_scaling=UNIT, extra={"config": {"loss": "cross_entropy", "dataset": "fashion-mnist"}})
    png = digit_png("zero")
    with running_server(path) as server:
        status, out, _ = request(server, "POST", "/api/predict", png, headers={"Content-Type": "image/png"})
    assert status == 200, out
    assert np.array_equal(np.array(out["input"]), image_from_bytes(png, "fashion"))
    assert not np.array_equal(np.array(out["input"]), image_from_bytes(png, "digit"))


def _cut_png(keep: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (50, 50), 0).save(buf, "PNG")
    return buf.getvalue()[:keep]


@pytest.mark.parametrize("data, words", [(_cut_png(40), "starts as a PNG but is truncated or damaged"),
                                         (_cut_png(60), "starts as a PNG but is truncated or damaged"),
                                         (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "starts as a PNG")],
                         ids=["in-the-header", "in-the-pixels", "garbage-after-the-signature"])
def test_a_truncated_png_is_named_as_such_without_python_objects(server, data, words):
    for body, kind in ((data, "image/png"), ({"png": base64.b64encode(data).decode()}, "application/json")):
        status, out, _ = request(server, "POST", "/api/predict", body, headers={"Content-Type": kind})
        assert status == 422 and words in out["error"] and "<" not in out["error"] and "0x" not in out["error"]


def test_predict_names_a_truncated_or_foreign_image_file_and_what_is_wrong(model_path, tmp_path, capsys):
    for name, data, words in [("cut.png", _cut_png(40), "starts as a PNG but is truncated or damaged"),
                              ("notes.png", b"just some text, not an image", "not a readable image")]:
        (tmp_path / name).write_bytes(data)
        assert cli.main(["predict", str(model_path), str(tmp_path / name)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"deltaprop: error: {tmp_path / name}: ") and words in err
        assert "\n" not in err and "<" not in err and "_io" not in err
