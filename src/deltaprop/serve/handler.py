"""The HTTP handler: the page's own static files, a small JSON API and a run folder's two
tables as downloads (by fixed names), defended; answers of 1 kB or more go gzipped to a
client that accepts it.

Each connection has its own thread (``ThreadingHTTPServer``) and a socket timeout, and a
request body must arrive whole within :data:`BODY_SECONDS`, so a slow client holds up
only itself. Before anything else a request must name this server in its ``Host`` header
(a page on another site that rebinds its DNS name to 127.0.0.1 sends its own name, and is
refused); a POST must come from this origin and carry at most :data:`MAX_BODY_BYTES`.
Errors are one-line JSON objects, ``{"error": "..."}``, with a 4xx status; nothing a
client sends stops the server.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any, BinaryIO
from urllib.parse import parse_qs

from ..errors import Error, ShapeError
from .model import NoModelYet
from .payload import BadRequest, image_and_target, parse_int

__all__ = ["BODY_SECONDS", "MAX_BODY_BYTES", "Handler", "STATIC_FILES"]

#: The largest request body read (a drawing's PNG is a few kB; 28x28 JSON about 4 kB).
MAX_BODY_BYTES = 1 << 20
#: A request body must be complete within this many seconds.
BODY_SECONDS = 10.0
#: Idle and per-read socket timeout of a connection.
SOCKET_SECONDS = 15.0
#: URL path → (file in the package's static/ folder, Content-Type). Nothing else is served.
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
#: URL path → a run folder's table, sent whole as a download (the page draws long ones thinned).
RUN_DOWNLOADS = {"/run/history.csv": "history.csv", "/run/diagnostics.csv": "diagnostics.csv"}
#: Answers of at least this many bytes go gzipped to a client that accepts it.
GZIP_FROM = 1024
#: One request body at a time is made into an image: a 2048x2048 PNG takes about 100 MB
#: to decode, so clients that send many at once would otherwise take that many times it.
_DECODING = threading.Lock()
#: What the methods it does not serve are told (405, with this in ``Allow``).
ALLOWED_METHODS = "GET, POST"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def read_static(name: str) -> bytes:
    return resources.files("deltaprop.serve").joinpath("static", name).read_bytes()


def _json_bytes(obj: dict[str, Any]) -> bytes:
    """``obj`` as compact JSON; a ValueError for NaN or infinity, which JSON cannot hold."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (named, or ``*``, without ``q=0``)."""
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = re.search(r"q\s*=\s*([0-9.]+)", params)
            try:
                return q is None or float(q[1]) > 0
            except ValueError:
                return False
    return False


@dataclass
class _Download:
    """An opened table of the run folder, to be sent as it is."""

    file: BinaryIO
    name: str


class Handler(BaseHTTPRequestHandler):
    """One connection's requests; ``self.server`` is a :class:`deltaprop.serve.server.Server`."""

    server_version = "deltaprop"
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_SECONDS

    def setup(self) -> None:
        """Send small answers at once (no Nagle wait for the client's delayed ACK: 40 ms)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- entry points -----------------------------------------------------------------------
    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_HEAD(self) -> None:
        """HEAD, PUT, DELETE, OPTIONS, ...: methods HTTP defines that this server does not
        serve, a 405 that names those it does (not the standard library's 501)."""
        self.close_connection = True
        error = (f"{self.command} is not served; GET the page, /api/model, /api/weights or /api/run, "
                 "and POST to /api/predict or /api/backward")
        self._send(405, _json_bytes({"error": error}), "application/json", "no-store", {"Allow": ALLOWED_METHODS})

    do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_TRACE = do_CONNECT = do_HEAD

    def _handle(self, method: str) -> None:
        self._keep_alive = not self.close_connection  # as the client asked (HTTP/1.1 without Connection: close)
        if "Transfer-Encoding" in self.headers or any(v.strip() != "0" for v in self.headers.get_all("Content-Length", [])):
            self.close_connection = True  # until the body is read whole: one left unread would be the next request
        try:
            if not self.server.host_allowed(self.headers.get("Host")):
                raise BadRequest(421, f"Host {self.headers.get('Host')!r} is not this server; open {self.server.url}")
            path, _, query_string = self.path.partition("?")
            query = self._query(query_string)
            if method == "POST":
                self._check_same_origin()
                status, body = self._post(path, query)
            else:
                status, body = self._get(path, query)
        except BadRequest as exc:
            status, body = exc.status, {"error": str(exc)}
        except NoModelYet as exc:
            status, body = 503, {"error": " ".join(str(exc).split())}
        except ShapeError as exc:  # a unit, target or input that does not fit the model
            status, body = 400, {"error": " ".join(str(exc).split())}
        except Error as exc:  # the library refused the input (a blank drawing) or the model file
            status, body = 422, {"error": " ".join(str(exc).split())}
        except Exception as exc:  # a bug: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            status, body = 500, {"error": f"internal error ({exc.__class__.__name__}); see the server's output"}
        if isinstance(body, _Download):
            self._send_file(body.file, body.name)
            return
        if not isinstance(body, tuple):
            try:
                body = (_json_bytes(body), "application/json", "no-store")
            except ValueError as exc:  # a non-finite number (JSON has none): a bug, as above
                traceback.print_exc(file=sys.stderr)
                status = 500
                body = (_json_bytes({"error": f"internal error ({exc.__class__.__name__}); see the server's output"}),
                        "application/json", "no-store")
        self._send(status, *body)

    # -- routes -----------------------------------------------------------------------------
    def _get(self, path: str, query: dict[str, str]):
        app = self.server.app
        if path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            return 200, (self.server.static[name], content_type, "no-cache")
        if path == "/api/model":
            try:
                return 200, {"ready": True, **app.source.describe()}
            except NoModelYet as exc:  # training has not saved a model yet: the page waits
                return 200, {"ready": False, "run": True, "message": str(exc)}
        if path == "/api/weights":
            unit = parse_int("unit", query.get("unit"), text=True)
            if unit is None:
                raise BadRequest(400, "give the hidden unit: /api/weights?unit=N")
            return 200, app.source.first_weights(unit)
        if path == "/api/run":
            return self._run(query)
        if path in RUN_DOWNLOADS:
            return 200, self._download(RUN_DOWNLOADS[path])
        if path in ("/api/predict", "/api/backward"):
            raise BadRequest(405, f"{path} takes POST with a JSON body")
        raise BadRequest(404, f"no such page: {path[:80]}")

    def _run(self, query: dict[str, str]):
        from .run import TABLES, read_run, run_signature

        folder = self.server.app.run_folder
        if folder is None:
            raise BadRequest(404, "this server shows a model file, not a run folder; "
                                  "serve a run folder to follow training")
        since = query.get("since")
        if since is not None and since == run_signature(folder):
            return 200, {"unchanged": True, "signature": since}
        held = {}
        for name in TABLES:  # ?history=N:DIGEST: the client holds N rows, given with that digest
            value = query.get(name)
            if value is None:
                continue
            match = re.fullmatch(r"([0-9]{1,9}):([0-9a-f]{1,64})", value)
            if match is None:
                raise BadRequest(400, f"{name} must be the rows held and the {name}_digest given with them, "
                                      f"as {name}=N:DIGEST, got {value[:40]!r}")
            held[name] = (int(match[1]), match[2])
        try:  # the epoch of the model's weights: its record is kept in a thinned history
            marks = {self.server.app.source.describe()["epoch"]}
        except (Error, OSError):  # no model yet, or a damaged one: /api/model says so
            marks = set()
        return 200, read_run(folder, held, marks)

    def _download(self, name: str):
        """A run folder's table, opened (a regular file only): sent as it is, in chunks."""
        from ..bounded import open_regular
        from ..errors import DataError

        folder = self.server.app.run_folder
        if folder is None:
            raise BadRequest(404, f"this server shows a model file, not a run folder; there is no {name}")
        try:
            return _Download(open_regular(folder / name, max_bytes=1 << 40, what="table", error=DataError,
                                          allow_empty=True), name)
        except DataError as exc:
            raise BadRequest(404, f"{name}: {' '.join(str(exc).split())}") from None

    def _post(self, path: str, query: dict[str, str]):
        if path not in ("/api/predict", "/api/backward"):
            raise BadRequest(404 if path not in STATIC_FILES and not path.startswith("/api/") else 405,
                             f"POST goes to /api/predict or /api/backward, not {path[:80]}")
        unknown = sorted(set(query) - {"target"})
        if unknown:  # a misspelt ?target= would otherwise give the predicted class's pass without a word
            raise BadRequest(400, f"unknown query parameter {unknown[0][:40]!r}; {path} takes only ?target=")
        body = self._read_body()
        source = self.server.app.source
        style, values, side = source.image_style(), source.gives_values(), source.image_side()
        with _DECODING:
            image, target = image_and_target(self.headers.get("Content-Type", ""), body, query, style,
                                             values=values, side=side, grid=source.image_grid())
        if path == "/api/predict":
            if target is not None:
                raise BadRequest(400, "predict takes no target; POST to /api/backward for the backward pass")
            out = source.forward(image)
        else:
            out = source.backward(image, target)
        out["input"] = image.astype(int).tolist() if image.dtype.kind == "u" else image.tolist()
        return 200, out

    # -- checks -----------------------------------------------------------------------------
    @staticmethod
    def _query(text: str) -> dict[str, str]:
        try:
            parsed = parse_qs(text, keep_blank_values=True, max_num_fields=8)
        except ValueError:
            raise BadRequest(400, "too many query parameters") from None
        if any(len(v) > 1 for v in parsed.values()):
            raise BadRequest(400, "a query parameter is repeated")
        return {k: v[0] for k, v in parsed.items()}

    def _check_same_origin(self) -> None:
        """Browsers name the page that sent a request; only this server's own page may POST."""
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            raise BadRequest(403, f"cross-origin requests are refused (Sec-Fetch-Site: {site[:40]})")
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host')}":
            raise BadRequest(403, f"cross-origin requests are refused (Origin: {origin[:80]})")

    def _read_body(self) -> bytes:
        """The body, at most MAX_BODY_BYTES, complete within BODY_SECONDS; any failure
        closes the connection, since the rest of the body may still be on its way."""
        if "Transfer-Encoding" in self.headers:
            raise BadRequest(411, "send the body with a Content-Length, not chunked")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            raise BadRequest(411, "a POST needs a Content-Length header")
        if len({value.strip() for value in lengths}) > 1:  # which one holds is unknowable: a smuggling attempt or a bug
            raise BadRequest(400, f"{len(lengths)} Content-Length headers that differ "
                                  f"({', '.join(repr(v.strip()[:20]) for v in lengths[:4])}); send one")
        text = lengths[0]
        if not re.fullmatch(r"[0-9]{1,19}", text.strip()):  # ASCII digits: int() reads "²" and "1_0" otherwise, or fails
            raise BadRequest(400, f"Content-Length must be the body's size in bytes, got {text.strip()[:40]!r}")
        length = int(text)
        if length > MAX_BODY_BYTES:
            raise BadRequest(413, f"the body is {length:,} bytes; the limit is {MAX_BODY_BYTES:,}")
        chunks, got = [], 0
        deadline = time.monotonic() + BODY_SECONDS
        try:
            while got < length:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BadRequest(408, f"the body did not arrive within {BODY_SECONDS:g} s")
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(length - got)
                if not chunk:
                    raise BadRequest(400, f"the body ended after {got} of {length} bytes")
                chunks.append(chunk)
                got += len(chunk)
        except TimeoutError:
            raise BadRequest(408, f"the body did not arrive within {BODY_SECONDS:g} s") from None
        finally:
            self.connection.settimeout(self.timeout)
        self.close_connection = not self._keep_alive
        return b"".join(chunks)

    # -- responses --------------------------------------------------------------------------
    def _send(self, status: int, data: bytes, content_type: str, cache: str,
              extra: dict[str, str] | None = None) -> None:
        if status >= 400 and self.command == "POST":
            self.close_connection = self.close_connection or status in (408, 411, 413)
        if len(data) >= GZIP_FROM and _accepts_gzip(self.headers.get("Accept-Encoding", "")):
            data = gzip.compress(data, compresslevel=6, mtime=0)
            extra = {**(extra or {}), "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", cache)
        for key, value in {**_SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has headers only
            self.wfile.write(data)
        self.wfile.flush()

    def _send_file(self, f, name: str) -> None:
        """An opened file as a CSV download, copied in chunks (its size as fstat gives it)."""
        with f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(200)
            for key, value in {"Content-Type": "text/csv; charset=utf-8", "Content-Length": str(size),
                               "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                               **_SECURITY_HEADERS}.items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            left = size
            while left > 0:
                chunk = f.read(min(left, 1 << 16))
                if not chunk:  # cut short in place since (training renames new files over old ones): never pad it
                    self.close_connection = True
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
        self.wfile.flush()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's errors (bad request line, unknown method) as JSON too."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._send(int(code), json.dumps({"error": message or phrase}).encode(), "application/json", "no-store")

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: errors and tracebacks still reach stderr (see :meth:`_handle`)."""
