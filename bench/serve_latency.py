"""Round-trip latency of `deltaprop serve` for the main job's model.

Trains the main job (784 → 50 sigmoid → 10 softmax on the bundled MNIST sample) into a
temporary run folder, serves it on a free port in this process, and times over HTTP, on one
keep-alive connection as the page uses: POST /api/predict, POST /api/backward, and the pair
(one predict plus one backward), each with a drawn digit sent as a base64 PNG, as the page
sends it. Prints the median and 95th percentile in milliseconds, and the CPU time the work
took (on a busy machine the wall time also counts waiting for a core). The target is a
predict plus a backward under 50 ms.

    uv run python bench/serve_latency.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image, ImageDraw

from deltaprop import cli
from deltaprop.serve import make_server


def drawing() -> str:
    """A 280x280 canvas with a 0 drawn in black on white, as a data URL."""
    img = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(img).ellipse((85, 50, 195, 230), outline="black", width=18)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> float:
    start = time.perf_counter()
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    res = conn.getresponse()
    data = res.read()
    elapsed = time.perf_counter() - start
    if res.status != 200:
        sys.exit(f"{path} answered {res.status}: {data[:200]!r}")
    return elapsed * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "main"
        assert cli.main(["train", "--out", str(run), "--quiet"]) == 0
        server = make_server(run, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        png = drawing()
        predict = json.dumps({"png": png}).encode()
        backward = json.dumps({"png": png, "target": 3}).encode()
        for _ in range(10):  # warm-up: first requests allocate buffers
            post(conn, "/api/predict", predict)
            post(conn, "/api/backward", backward)
        times: dict[str, list[float]] = {"predict": [], "backward": [], "predict + backward": []}
        cpu_start = time.process_time()
        for _ in range(args.rounds):
            p = post(conn, "/api/predict", predict)
            b = post(conn, "/api/backward", backward)
            times["predict"].append(p)
            times["backward"].append(b)
            times["predict + backward"].append(p + b)
        cpu_ms = (time.process_time() - cpu_start) * 1000 / args.rounds
        conn.close()
        server.shutdown()
        server.server_close()
    print(f"deltaprop serve, main job's model (784-50-10), PNG drawing 280x280, {args.rounds} rounds, one keep-alive connection")
    for name, values in times.items():
        values.sort()
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"{name:>20}: median {statistics.median(values):6.2f} ms, p95 {p95:6.2f} ms")
    # On a machine shared with other work the wall times include waiting for a core; the CPU
    # time this process spent (client and server together) is what the work itself costs.
    print(f"{'CPU time':>20}: {cpu_ms:6.2f} ms per predict + backward (client and server, this process)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
