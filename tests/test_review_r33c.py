"""Review of the CSV header and serve changes: a request body left unread is never read as
the next request, a client's Connection: close is kept, and --label-column digits reach
the CSV reader as the user wrote them."""

from __future__ import annotations

import http.client
import json
import socket

import pytest
from test_serve_http import running_server, save_model

BODY = json.dumps({"pixels": [[0] * 28] * 28}).encode()


@pytest.fixture
def server(tmp_path):
    save_model(tmp_path / "m.safetensors")
    with running_server(tmp_path / "m.safetensors") as running:
        yield running


@pytest.mark.parametrize("path, headers", [("/api/predcit", {}), ("/api/predict", {"Origin": "http://elsewhere"})])
def test_a_post_refused_before_its_body_is_read_does_not_spoil_the_next_request(server, path, headers):
    """Its body stayed on the kept-alive connection and was read as the next request line:
    a client that retried on the same connection got '400 Bad request syntax' for a good one."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("POST", path, body=BODY, headers={"Content-Type": "application/json", **headers})
        first = conn.getresponse()
        first.read()
        assert first.status in (403, 405) and first.getheader("Connection") == "close"
        conn.request("POST", "/api/predict", body=BODY, headers={"Content-Type": "application/json"})
        second = conn.getresponse()
        assert second.status == 200, second.read()[:200]
        assert "predicted" in json.loads(second.read())
    finally:
        conn.close()


def _exchange(server, request: bytes) -> bytes:
    """Everything the server sends on one connection until it closes it (or 3 s pass)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as conn:
        conn.sendall(request)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except TimeoutError:
            answer += b"<still open>"
    return answer


def test_a_get_with_a_body_does_not_run_the_body_as_a_request(server):
    inner = f"GET /api/smuggled HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    answer = _exchange(server, f"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                               f"Content-Length: {len(inner)}\r\n\r\n".encode() + inner)
    assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1 ") == 1, answer[-200:]
    assert b"smuggled" not in answer and not answer.endswith(b"<still open>")


@pytest.mark.parametrize("version, header", [("HTTP/1.0", ""), ("HTTP/1.1", "Connection: close\r\n")])
def test_a_post_from_a_client_that_asked_to_close_is_closed_after_the_answer(server, version, header):
    """Reading the body whole set the connection to stay open, whatever the client asked."""
    answer = _exchange(server, f"POST /api/predict {version}\r\nHost: 127.0.0.1:{server.port}\r\n"
                               f"Content-Type: application/json\r\n{header}Content-Length: {len(BODY)}\r\n\r\n"
                               .encode() + BODY)
    assert answer.startswith(b"HTTP/1.1 200") and not answer.endswith(b"<still open>")
