"""Downloads end: a mirror that sends a byte every half second never trips the per-read
timeout, so each file has an overall deadline and a minimum average rate, and the error
names the mirror and what it received."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import deltaprop as dp
from deltaprop.data import download as dl

_BODY = bytes(range(256)) * 4  # 1,024 bytes


@pytest.fixture
def trickle():
    """http://127.0.0.1:PORT/: announces 1,024 bytes, then sends one every half second."""
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(_BODY)))
            self.end_headers()
            try:
                for i in range(40):  # 20 s at most, whatever the client does
                    self.wfile.write(_BODY[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:  # the client gave up
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/mirror/"
    httpd.shutdown()
    httpd.server_close()


def _fetch(url, dest, **kw):
    return dl.fetch("f.bin", dest, [("sha256", "0" * 64)], [url], **kw)


@pytest.mark.slow  # waits out a 2 s deadline
def test_a_trickling_mirror_hits_the_deadline(trickle, tmp_path):
    with pytest.raises(dp.DownloadError) as info:
        _fetch(trickle, tmp_path, timeout=1.5, deadline=2.0, min_rate=0)
    message = str(info.value)
    assert f"{trickle}f.bin: too slow:" in message
    assert " of 1,024 bytes in " in message and "past the deadline of 2 s per file" in message
    assert list(tmp_path.iterdir()) == []  # nothing partial left


@pytest.mark.slow
def test_a_trickling_mirror_is_under_the_minimum_rate(trickle, tmp_path):
    with pytest.raises(dp.DownloadError, match=r"mirror/f\.bin: too slow: \d of 1,024 bytes .*under the minimum of 100"):
        _fetch(trickle, tmp_path, timeout=1.0, deadline=60, min_rate=100)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kw", [{"deadline": 0}, {"deadline": float("nan")}, {"min_rate": -1}])
def test_pace_arguments_are_checked(tmp_path, kw):
    with pytest.raises(dp.ConfigError):
        _fetch("http://127.0.0.1:9/", tmp_path, **kw)



@pytest.mark.slow  # waits out a 2 s deadline
def test_the_command_gives_up_on_a_trickling_mirror(trickle, tmp_path):
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from deltaprop.data import MNIST_MIRRORS, download\n"
        f"MNIST_MIRRORS[:] = [{trickle!r}]\n"
        "download.fetch.__kwdefaults__.update(deadline=2.0, min_rate=0.0)\n"
        "from deltaprop.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    res = subprocess.run([sys.executable, "-c", script, "train", "--dataset", "mnist", "--data-dir", str(tmp_path),
                          "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) <= 4, res.stderr  # short, in CLI terms
    assert "Traceback" not in res.stderr
    assert trickle in res.stderr and "too slow" in res.stderr and "past the deadline of 2 s" in res.stderr
    assert not any(p.name.endswith((".gz", ".tmp")) for p in tmp_path.rglob("*"))
