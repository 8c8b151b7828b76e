"""``deltaprop serve``: a local page to draw a digit and watch the network's forward and
backward pass, and to follow a training run as it goes.

The page is the package's own static files (``static/``: HTML, CSS, JavaScript, no other
host); every number it shows comes from the library through a small JSON API
(docs/serve.md): ``POST /api/predict``, ``POST /api/backward``, ``GET /api/run``.
"""

from .server import Server, ServerError, keep_serving, make_server, serve, serve_in_background

__all__ = ["Server", "ServerError", "keep_serving", "make_server", "serve", "serve_in_background"]
