"""`deltaprop serve` and requests whose headers contradict themselves: two Content-Length
headers that differ are a 400 at once, not a wait for a body that never comes."""

from __future__ import annotations

import json
import socket

import pytest
from test_serve_http import running_server, save_model

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
