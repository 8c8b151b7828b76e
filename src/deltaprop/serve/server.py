"""``deltaprop serve``: bind, check the Host header, serve until Ctrl-C.

The standard library's ``ThreadingHTTPServer`` is enough for one person's browser on
their own machine: one thread per connection, no extra dependency, nothing to configure.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from ..errors import ConfigError, Error
from ..report import sweep_folder_words
from .handler import STATIC_FILES, Handler, read_static
from .model import ModelSource
from .run import RUN_FILES

__all__ = ["ServerError", "Server", "keep_serving", "make_server", "serve", "serve_in_background"]

_LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class ServerError(Error, OSError):
    """The server cannot start (the port is taken, the address is not this machine's)."""


@dataclass
class App:
    """What the handler serves: the model, and the run folder when there is one."""

    source: ModelSource
    run_folder: Path | None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Server(ThreadingHTTPServer):
    """A threading HTTP server that knows the names it may be reached by."""

    daemon_threads = True  # a hung connection never keeps the process alive after Ctrl-C
    block_on_close = False
    # connections the kernel holds until they are accepted: socketserver's 5 dropped or reset
    # most of 32 clients that connect at once (a script's thread pool)
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: App):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), Handler)
        self.app = app
        self.host = host
        self.port = self.server_address[1]
        self.static = {name: read_static(name) for name, _ in STATIC_FILES.values()}
        shown = f"[{host}]" if ":" in host else host
        if host in ("0.0.0.0", "::"):
            shown = "127.0.0.1"
        self.url = f"http://{shown}:{self.port}/"

    def handle_error(self, request, client_address) -> None:
        """A client that hung up or went silent is not news; anything else is printed."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def host_allowed(self, header: str | None) -> bool:
        """Whether a ``Host`` header names this server: the port must match, and the name
        must be the bound one, localhost, or an IP address (a DNS-rebinding page can only
        send a DNS name, its own)."""
        if not header or len(header) > 255:
            return False
        try:
            parts = urlsplit(f"//{header}")
            name, port = parts.hostname, parts.port
        except ValueError:
            return False
        if name is None or (port or 80) != self.port or parts.path or parts.username is not None:
            return False
        if _is_loopback(self.host):
            return name in _LOCAL_NAMES or (_is_ip(name) and ipaddress.ip_address(name).is_loopback)
        return name in _LOCAL_NAMES or _is_ip(name) or name == self.host.lower()


def _app(path: str | Path) -> App:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such model file or run folder")
    if path.is_dir() and not any((path / name).exists() for name in (*RUN_FILES, "config.toml")):
        sweep = sweep_folder_words(path)
        if sweep:
            raise ConfigError(f"{path} holds no model.safetensors: {sweep}")
        raise ConfigError(f"{path} is not a run folder (no history.csv, model or checkpoint); "
                          "give a run folder or a .safetensors model")
    source = ModelSource(path)
    return App(source, path if source.is_run else None)


def make_server(path: str | Path, *, host: str = "127.0.0.1", port: int = 8000, port_option: str = "--port") -> Server:
    """A server for the model file or run folder ``path``, bound and ready for
    ``serve_forever`` (``port=0`` picks a free port; ``server.url`` says which).
    ``port_option``: the command-line option that gave the port, named in errors."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"{port_option} must be in 0..65535, got {port!r}")
    if not isinstance(host, str) or not host.strip():  # "" binds every interface, with no URL to print
        raise ConfigError(f"--host must name an address, got {host!r}: 127.0.0.1 (this machine only, the default), "
                          "or 0.0.0.0 for every network interface")
    app = _app(path)
    try:
        return Server(host, port, app)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServerError(f"port {port} is in use (another server?); "
                              f"pass {port_option} N, or {port_option} 0 for a free one") from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES) or isinstance(exc, socket.gaierror):
            raise ServerError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                              f"check --host and {port_option}") from None
        raise


def serve(path: str | Path, *, host: str = "127.0.0.1", port: int = 8000, out: TextIO | None = None) -> int:
    """Serve until Ctrl-C; returns 0 (the port is released on the way out)."""
    out = out or sys.stdout
    server = make_server(path, host=host, port=port)
    if not _is_loopback(host):
        print(f"warning: listening on {host}, so other machines on the network can reach this page "
              f"and run the model; use the default --host 127.0.0.1 to keep it local", file=sys.stderr, flush=True)
    what = "run folder" if server.app.run_folder else "model"
    try:
        print(f"serving {what} {path} at {server.url}  (Ctrl-C to stop)", file=out, flush=True)
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        print("stopped", file=out, flush=True)
    finally:
        server.server_close()
    return 0


def serve_in_background(path: str | Path, *, host: str = "127.0.0.1", port: int = 8000) -> Server:
    """Start serving ``path`` from a daemon thread (``deltaprop train --serve``); the URL
    goes to stderr, so stdout keeps the training's own output."""
    server = make_server(path, host=host, port=port, port_option="--serve")
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25}, daemon=True).start()
    print(f"serving the run at {server.url}  (kept up after training until Ctrl-C)", file=sys.stderr, flush=True)
    return server


def keep_serving(server: Server, status: int) -> int:
    """Block until Ctrl-C, then stop ``server``; returns ``status`` (the training's)."""
    try:
        print(f"still serving {server.url}; Ctrl-C to stop", file=sys.stderr, flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr, flush=True)
    finally:
        server.shutdown()
        server.server_close()
    return status
