"""`deltaprop serve` at its edges: a run folder whose model is removed, query numbers that
only look like integers, the option a port error names, and a PNG whose header claims a huge
size."""

from __future__ import annotations

import socket
import struct
import zlib

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError, FileFormatError
from deltaprop.images import image_from_bytes
from deltaprop.serve import ServerError, make_server, serve_in_background
from deltaprop.serve.payload import BadRequest, parse_int
from test_serve_http import UNIT, request, running_server

PIXELS = np.zeros((28, 28), dtype=int)
PIXELS[6:22, 12:16] = 255


def _run_folder(folder):
    x = np.random.default_rng(0).uniform(0, 1, size=(40, 784)).astype(np.float32)
    net = dp.mlp([784, 8, 10], seed=0)
    dp.fit(net, x, np.arange(40) % 10, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=1, batch_size=20)
    folder.mkdir()
    dp.save(net, folder / "model.safetensors", class_names=[str(i) for i in range(10)], input_scaling=UNIT)
    (folder / "history.csv").write_text("epoch,loss\n1,2.3\n")


def test_a_run_whose_model_is_removed_is_not_served_from_the_old_one(tmp_path):
    """`train --out RUN --overwrite` removes the old run's files first: until the new run
    writes its first checkpoint the page must say there is no model, not answer from the
    model that is gone."""
    run = tmp_path / "run"
    _run_folder(run)
    with running_server(run) as s:
        status, out, _ = request(s, "POST", "/api/predict", {"pixels": PIXELS.tolist()})
        assert status == 200 and out["model_file"] == "model.safetensors"
        (run / "model.safetensors").unlink()
        status, out, _ = request(s, "POST", "/api/predict", {"pixels": PIXELS.tolist()})
        assert status == 503 and "no model yet" in out["error"], out


@pytest.mark.parametrize("text", ["²", "--3", "٣", "1_0", " 1", "+1", "1e3", "0x1", ""])
def test_query_numbers_that_are_not_plain_integers_are_a_400(text):
    with pytest.raises(BadRequest) as caught:
        parse_int("target", text, text=True)
    assert caught.value.status == 400 and "must be an integer" in str(caught.value)


@pytest.mark.parametrize("text, value", [("3", 3), ("-2", -2), ("007", 7)])
def test_plain_integers_in_a_query_are_read(text, value):
    assert parse_int("target", text, text=True) == value


def test_a_query_target_of_a_superscript_digit_is_a_400_over_http(tmp_path):
    run = tmp_path / "run"
    _run_folder(run)
    with running_server(run) as s:
        status, out, _ = request(s, "POST", "/api/backward?target=%C2%B2", {"pixels": PIXELS.tolist()})
        assert status == 400 and "target must be an integer" in out["error"], out
        status, out, _ = request(s, "GET", "/api/weights?unit=%C2%B2")
        assert status == 400 and "unit must be an integer" in out["error"], out


def test_port_errors_of_train_serve_name_its_own_option(tmp_path):
    run = tmp_path / "run"
    _run_folder(run)
    with pytest.raises(ConfigError, match="^--serve must be in 0..65535"):
        serve_in_background(run, port=70000)
    with pytest.raises(ConfigError, match="^--port must be in 0..65535"):
        make_server(run, port=70000)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ServerError, match="pass --serve N, or --serve 0 for a free one"):
            serve_in_background(run, port=port)


def _png_header(width: int, height: int) -> bytes:
    """A PNG (8-bit grayscale, no pixel data) whose header claims ``width`` × ``height``."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [5000, 100_000])
def test_a_png_claiming_a_huge_size_is_too_large_not_damaged(side):
    with pytest.raises(FileFormatError) as caught:
        image_from_bytes(_png_header(side, side), name="the PNG", max_pixels=2048 * 2048)
    message = str(caught.value)
    assert "pixels is too large (limit 4,194,304)" in message and "damaged" not in message, message
    assert f"{side}x{side}" in message or f"{side * side:,}" in message, message
