"""Bounded reading of untrusted files and text: every file deltaprop parses comes through here.

A file is opened without blocking (a FIFO with no writer would otherwise hang ``open``),
and refused unless ``fstat`` says it is a regular file of at most ``max_bytes``, before
one byte is read; so ``/dev/zero``, a pipe, a folder or a multi-GB file cost nothing.

Text is checked before a parser sees it. The nesting depth (JSON: ``[``/``{`` outside
strings; TOML: arrays, inline tables, table headers and the length of dotted keys) is
found by a linear scan, because both standard parsers recurse (a ``RecursionError``
past about 1,000 levels) and TOML's dotted keys take quadratic time. Integers are parsed
with a cap on their digits, so a 5,000-digit number is a clear error, not a slow
``int()`` or Python's digit-limit ``ValueError``. Every problem raises the caller's
:class:`~deltaprop.errors.Error` subclass with the path (or what the text is) and the
problem.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import ConfigError, Error

__all__ = [
    "MAX_DEPTH", "MAX_INT_DIGITS", "MAX_TEXT_BYTES", "check_json_depth", "check_toml_depth", "file_kind",
    "open_regular", "parse_int", "parse_json", "parse_toml", "read_bytes", "read_text",
]

#: Deepest nesting accepted in JSON or TOML (deltaprop's own files nest 4 deep at most).
MAX_DEPTH = 64
#: Most digits in an integer (a PCG64 random state holds 39-digit numbers).
MAX_INT_DIGITS = 100
#: Default size cap of a text file (configs, CSV headers, histories).
MAX_TEXT_BYTES = 16 << 20

_KINDS = (
    (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
)
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[[ord("["), ord("{")]] = 1
_BRACKET_STEP[[ord("]"), ord("}")]] = -1
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_TOML_SKIP = re.compile(
    rb'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'[\s\S]*?\'\'\'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"|\'[^\'\n]*\'|#[^\n]*',
    re.DOTALL,
)
_TOML_KEY_BREAK = re.compile(rb"[=,\[\]{}\n]")
_LONG_DIGITS = re.compile(rb"[0-9_]{%d,}" % (MAX_INT_DIGITS + 1))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words ("a folder", "a named pipe (FIFO)", ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | os.PathLike, *, max_bytes: int, what: str = "file", error: type[Error] = ConfigError,
                 allow_empty: bool = False) -> BinaryIO:
    """``path`` opened for binary reading, once ``fstat`` shows a regular file of 1 (0 with
    ``allow_empty``) to ``max_bytes`` bytes; anything else raises ``error`` naming the path and what it is.
    The open itself never blocks (``O_NONBLOCK``: a FIFO without a writer opens at once)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except NotADirectoryError:
        raise error(f"{path}: a parent of this path is a file, not a folder") from None
    except IsADirectoryError:
        raise error(f"{path} is a folder, not a {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path} is {file_kind(st.st_mode)}, not a {what}; give a regular file")
        if st.st_size == 0 and not allow_empty:
            raise error(f"{path} is empty (0 bytes); expected a {what}")
        if st.st_size > max_bytes:
            raise error(f"{path} is {st.st_size:,} bytes, more than the {max_bytes:,} allowed for a {what}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | os.PathLike, *, max_bytes: int, what: str = "file", error: type[Error] = ConfigError,
               allow_empty: bool = False) -> bytes:
    """The whole of a regular file of at most ``max_bytes`` (see :func:`open_regular`)."""
    with open_regular(path, max_bytes=max_bytes, what=what, error=error, allow_empty=allow_empty) as f:
        try:
            data = f.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise error(f"{path} grew past {max_bytes:,} bytes while being read")
    return data


def read_text(path: str | os.PathLike, *, max_bytes: int = MAX_TEXT_BYTES, what: str = "file",
              error: type[Error] = ConfigError, allow_empty: bool = False) -> str:
    """A regular file's UTF-8 text, size-capped (see :func:`open_regular`)."""
    data = read_bytes(path, max_bytes=max_bytes, what=what, error=error, allow_empty=allow_empty)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start:,} is invalid)") from None


def _as_bytes(text: str | bytes | memoryview) -> bytes | memoryview:
    return text if isinstance(text, (bytes, memoryview)) else text.encode("utf-8", "surrogatepass")


def _max_depth(code: bytes) -> int:
    """Deepest bracket nesting of ``code`` (strings already removed): a cumulative sum."""
    if not code:
        return 0
    step = _BRACKET_STEP[np.frombuffer(code, dtype=np.uint8)]
    return int(np.cumsum(step, dtype=np.int64).max())


#: Bytes of JSON text scanned at a time by :func:`_json_depth`.
_DEPTH_CHUNK = 1 << 18


def _json_depth(raw: bytes | memoryview) -> int:
    """Deepest bracket nesting of the JSON text ``raw``, brackets in strings left out: a
    bracket is outside a string where an even number of unescaped quotes come before it.
    Arrays of the quotes and brackets only (a pass over the text without strings, for
    a quote after a long run of backslashes): the history of a 20,000-epoch checkpoint
    took 390 MB to scan that way, a piece per string. The text is scanned 256 KiB at a
    time, the quotes counted and the depth carried from one piece to the next: arrays of
    all the positions at once took 83 MB over the 29 MB text of such a history."""
    a = np.frombuffer(raw, dtype=np.uint8)
    depth = deepest = quotes_before = 0
    for lo in range(0, a.size, _DEPTH_CHUNK):
        piece = a[lo : lo + _DEPTH_CHUNK]
        quotes = np.flatnonzero(piece == _QUOTE) + lo
        after = quotes[(quotes > 0) & (a[np.maximum(quotes - 1, 0)] == _BACKSLASH)]  # may be escaped
        if after.size:
            run = np.ones(after.size, dtype=np.int64)  # backslashes before each, counted so far
            going = np.ones(after.size, dtype=bool)
            for _ in range(64):
                at = after - run - 1
                going &= (at >= 0) & (a[np.maximum(at, 0)] == _BACKSLASH)
                if not going.any():
                    break
                run += going
            else:
                return _max_depth(_JSON_STRING.sub(b"", raw))
            quotes = np.setdiff1d(quotes, after[run % 2 == 1], assume_unique=True)  # an odd run escapes it
        brackets = np.flatnonzero(_BRACKET_STEP[piece] != 0) + lo
        outside = brackets[(np.searchsorted(quotes, brackets) + quotes_before) % 2 == 0]
        quotes_before += quotes.size
        if outside.size:
            levels = np.cumsum(_BRACKET_STEP[a[outside]], dtype=np.int64) + depth
            deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


def check_json_depth(text: str | bytes, *, what: str, error: type[Error], max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than ``max_depth`` (brackets outside strings, one pass)."""
    depth = _json_depth(_as_bytes(text))
    if depth > max_depth:
        raise error(f"{what} is nested {depth:,} levels deep, more than the {max_depth} allowed")


def _check_digits(code: bytes, what: str, error: type[Error], max_digits: int) -> None:
    pattern = _LONG_DIGITS if max_digits == MAX_INT_DIGITS else re.compile(rb"[0-9_]{%d,}" % (max_digits + 1))
    m = pattern.search(code)
    if m:
        raise error(f"{what} holds a number of {len(m.group()):,} digits, more than the {max_digits} allowed")


def parse_int(text: Any, *, what: str, error: type[Error], max_digits: int = MAX_INT_DIGITS) -> int:
    """A whole number from decimal text of at most ``max_digits`` digits (sign allowed)."""
    if not isinstance(text, str):
        raise error(f"{what} must be a whole number written in digits, got {type(text).__name__}")
    body = text.strip().removeprefix("-").removeprefix("+")
    if not body.isascii() or not body.isdigit():
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise error(f"{what} must be a whole number written in digits, got {shown!r}")
    if len(body) > max_digits:
        raise error(f"{what} has {len(body):,} digits, more than the {max_digits} allowed")
    return int(text)


def parse_json(text: str | bytes | memoryview, *, what: str, error: type[Error], max_depth: int = MAX_DEPTH,
               max_int_digits: int = MAX_INT_DIGITS) -> Any:
    """JSON text → Python values, with nesting and integer digits capped before parsing.
    ``NaN`` and ``Infinity`` are accepted as Python's ``json`` writes them; callers check
    the ranges of the values they use. ``text`` may be a memoryview of UTF-8 bytes (a
    tensor's): no copy of it is made, and it is let go of once decoded."""
    raw = _as_bytes(text)
    del text  # a large text given as a temporary is freed with ``raw``, before the values are built
    check_json_depth(raw, what=what, error=error, max_depth=max_depth)

    def whole(digits: str) -> int:  # a JSON integer: [-]digits
        if len(digits) <= max_int_digits:
            return int(digits)
        return parse_int(digits, what=f"a number in {what}", error=error, max_digits=max_int_digits)

    try:
        decoded = str(raw, "utf-8")
        del raw
        return json.loads(decoded, parse_int=whole)
    except Error:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON ({str(exc)[:200]})") from None


def check_toml_depth(text: str | bytes, *, what: str, error: type[Error], max_depth: int = MAX_DEPTH,
                     max_int_digits: int = MAX_INT_DIGITS) -> None:
    """Refuse TOML whose arrays/tables nest deeper, or whose dotted keys are longer, than
    ``max_depth``, or that holds a number of more than ``max_int_digits`` digits: one
    linear pass over the text with strings and comments taken out."""
    code = _TOML_SKIP.sub(b'""', _as_bytes(text))
    depth = _max_depth(code)
    if depth > max_depth:
        raise error(f"{what} is nested {depth:,} levels deep, more than the {max_depth} allowed")
    dots = max((piece.count(b".") for piece in _TOML_KEY_BREAK.split(code)), default=0)
    if dots + 1 > max_depth:
        raise error(f"{what} has a dotted key of {dots + 1:,} parts, more than the {max_depth} allowed")
    _check_digits(code, what, error, max_int_digits)


def parse_toml(text: str, *, what: str, error: type[Error] = ConfigError, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """TOML text → a mapping, with nesting, key length and digits capped before parsing."""
    check_toml_depth(text, what=what, error=error, max_depth=max_depth)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what}: TOML syntax error: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise error(f"{what}: cannot be read as TOML ({str(exc)[:200]})") from None
