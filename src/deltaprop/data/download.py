"""Verified downloads: try each mirror in turn, check the digest, rename into place.

A file is streamed into a temporary file beside its destination while its digest is
computed; only when the digest matches is it fsynced and renamed over the destination.
A mirror that answers with an error status, an HTML page, a stalled connection, a short
transfer or the wrong bytes is skipped for the next one, and nothing partial is ever
left behind.

Mirrors do not all compress a file the same way, so a file may also be recognised by the
SHA-256 of its decompressed content (:class:`ContentDigest`): gzip or raw, any
compression level, one digest for every correct copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from deltaprop.atomic import atomic_write
from deltaprop.errors import ConfigError, DownloadError

__all__ = ["DEFAULT_DEADLINE", "DEFAULT_MIN_RATE", "DEFAULT_TIMEOUT", "ContentDigest", "Digest", "cache_dir", "content_digest",
           "fetch", "file_digest", "verify_file"]

log = logging.getLogger("deltaprop.data")

#: Seconds a connection may stay silent (connect or read) before the mirror is abandoned.
DEFAULT_TIMEOUT = 30.0
#: Seconds one file may take from the request to its last byte, however steadily it comes.
DEFAULT_DEADLINE = 1800.0
#: Bytes per second a transfer must average once the first ``timeout`` seconds have passed.
DEFAULT_MIN_RATE = 2048.0
#: No file we download is larger than this; a mirror sending more is wrong.
MAX_DOWNLOAD_BYTES = 256 << 20
#: (algorithm, hex digest); sha256 preferred, md5 where only that is published.
Digest = tuple[str, str]
_ALGORITHMS = ("sha256", "md5")
_USER_AGENT = "deltaprop-data/1"


#: Decompressed content hashed at most; more means the file is not the one expected.
MAX_CONTENT_BYTES = 1 << 30


class ContentDigest:
    """SHA-256 of a file's decompressed content, fed the file's bytes in chunks.

    A file starting with the gzip magic bytes is decompressed (every member of a
    multi-member file; zero padding after a member is skipped, as ``gzip`` does); any
    other file is hashed as it is. ``hexdigest()`` is None when the gzip stream is
    corrupt or truncated, or expands past ``max_bytes``.
    """

    _MAGIC = b"\x1f\x8b"

    def __init__(self, max_bytes: int = MAX_CONTENT_BYTES):
        self._sha = hashlib.sha256()
        self._head = b""
        self._gzip: bool | None = None
        self._inflate = None  # the gzip member being read, None between members
        self._size = 0
        self._max = max_bytes
        self._bad = False

    def update(self, chunk: bytes) -> None:
        if self._gzip is None:
            self._head += chunk
            if len(self._head) < 2:
                return
            chunk, self._head = self._head, b""
            self._gzip = chunk[:2] == self._MAGIC
        if not self._gzip:
            self._add(chunk)
            return
        try:
            while chunk and not self._bad:
                if self._inflate is None:
                    chunk = chunk.lstrip(b"\0")
                    if not chunk:
                        return
                    self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._add(self._inflate.decompress(chunk, self._max + 1 - self._size))
                if self._inflate.eof:
                    chunk, self._inflate = self._inflate.unused_data, None
                else:
                    chunk = self._inflate.unconsumed_tail
        except zlib.error:
            self._bad = True

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._max:
            self._bad = True
        elif not self._bad:
            self._sha.update(data)

    @property
    def cut_short(self) -> bool:
        """Whether the bytes so far end inside a gzip member (a transfer cut off half-way)."""
        return bool(self._gzip) and self._inflate is not None and not self._bad

    def hexdigest(self) -> str | None:
        if self._gzip is None:  # fewer than two bytes in all: hashed as they are
            self._gzip = False
            self._add(self._head)
        if self._bad or self._inflate is not None:  # corrupt, too large, or cut short
            return None
        return self._sha.hexdigest()


def content_digest(path: str | os.PathLike) -> str | None:
    """SHA-256 of the decompressed content of a file (gzip or raw), None if it cannot be
    decompressed."""
    digest = ContentDigest()
    with _open_local(path) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _MirrorFailed(Exception):
    """One mirror did not deliver the file; the next one is tried."""


class _Pace:
    """The overall deadline and minimum average rate of one transfer (besides the
    per-read timeout, which a mirror sending a byte now and then never trips)."""

    def __init__(self, deadline: float, min_rate: float, grace: float):
        self.deadline, self.min_rate, self.grace = deadline, min_rate, grace
        self.start = time.monotonic()

    def check(self, received: int, length: int | None) -> None:
        """Raise :class:`_MirrorFailed`, saying what was received, when too slow."""
        elapsed = time.monotonic() - self.start
        got = f"{received:,}" + (f" of {length:,}" if length is not None else "") + f" bytes in {elapsed:.1f} s"
        if elapsed > self.deadline:
            raise _MirrorFailed(f"too slow: {got}, past the deadline of {self.deadline:g} s per file")
        if elapsed > self.grace and received < self.min_rate * elapsed:
            raise _MirrorFailed(f"too slow: {got} (an average of {received / elapsed:,.0f} bytes/s, "
                                f"under the minimum of {self.min_rate:,.0f})")


def cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/deltaprop``, else ``~/.cache/deltaprop``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "deltaprop"


def _best(digests: Sequence[Digest]) -> Digest:
    for algorithm in _ALGORITHMS:
        for algo, value in digests:
            if algo == algorithm:
                return algo, value.lower()
    raise ConfigError(f"no supported digest among {list(digests)}; use one of {_ALGORITHMS}.")


def _open_local(path: str | os.PathLike):
    """A local file to hash: regular files only (a FIFO or device in a cache folder is
    refused with an OSError, never waited on)."""
    from deltaprop.bounded import open_regular

    if not os.path.lexists(path):
        raise FileNotFoundError(2, "No such file or directory", str(path))
    return open_regular(path, max_bytes=1 << 40, what="file", error=DownloadError, allow_empty=True)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with _open_local(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, digests: Sequence[Digest], content_sha256: str | None = None) -> bool:
    """Whether the file exists and matches the preferred digest (sha256 over md5) or,
    given ``content_sha256``, whether its decompressed content does."""
    try:
        if digests or not content_sha256:
            algorithm, expected = _best(digests)
            if file_digest(path, algorithm) == expected:
                return True
        return content_sha256 is not None and content_digest(path) == content_sha256.lower()
    except OSError:
        return False


def _response_length(response, max_bytes: int) -> int | None:
    """The announced length of a response that may hold the file; _MirrorFailed if it cannot."""
    if response.status != 200:
        raise _MirrorFailed(f"HTTP status {response.status}")
    if response.headers.get_content_type() == "text/html":
        raise _MirrorFailed("served an HTML page instead of the file")
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if length is not None and length > max_bytes:
        raise _MirrorFailed(f"announces {length:,} bytes, over {max_bytes:,}")
    return length


class _LocalWriteError(Exception):
    """Writing the local file failed (a full disk, a read-only folder): no mirror would do
    better, so the ``OSError`` is raised as it is."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


@contextlib.contextmanager
def _local_file(path: Path):
    """:func:`atomic_write`, its ``OSError`` s told apart from the network's."""
    try:
        with atomic_write(path) as out:
            yield out
    except OSError as exc:
        raise _LocalWriteError(exc) from None


def _read_chunk(response, timeout: float) -> bytes:
    """What has come of the body so far (up to 64 KiB); a network failure is _MirrorFailed."""
    import http.client

    try:
        return response.read1(1 << 16)
    except TimeoutError:
        raise _MirrorFailed(f"no data for {timeout:g} s (timed out)") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise _MirrorFailed(f"transfer failed ({type(exc).__name__}: {exc})") from None


def _stored_as(dest: Path, head: bytes) -> Path:
    """Where a file whose first bytes are ``head`` is kept: a ``.gz`` name only for gzip
    bytes (a mirror serving the file uncompressed gets it stored without ``.gz``, so its
    name says what it holds and every reader agrees with the digest)."""
    if dest.suffix == ".gz" and head[:2] != ContentDigest._MAGIC:
        return dest.with_name(dest.name.removesuffix(".gz"))
    return dest


class _Transfer:
    """One file's bytes as they arrive: counted, paced, hashed, written."""

    def __init__(self, algorithm: str, content_sha256: str | None, pace: _Pace, length: int | None,
                 max_bytes: int):
        self.hash = hashlib.new(algorithm)
        self.content = ContentDigest() if content_sha256 else None
        self.pace, self.length, self.max_bytes = pace, length, max_bytes
        self.received = 0

    def add(self, chunk: bytes, out) -> None:
        self.received += len(chunk)
        self.pace.check(self.received, self.length)
        if self.received > self.max_bytes:
            raise _MirrorFailed(f"sent more than {self.max_bytes:,} bytes")
        self.hash.update(chunk)
        if self.content is not None:
            self.content.update(chunk)
        out.write(chunk)

    def check(self, expected: str | None, algorithm: str, content_sha256: str | None) -> None:
        """_MirrorFailed unless complete and matching the digest or the content digest."""
        if self.length is not None and self.received != self.length:
            raise _MirrorFailed(f"transfer interrupted after {self.received:,} of {self.length:,} bytes")
        if self.hash.hexdigest() == expected:
            return
        if self.content is not None and self.content.cut_short:
            raise _MirrorFailed(f"transfer cut short: the gzip data ends early, after {self.received:,} bytes "
                                "(the connection closed before the end of the file)")
        if self.content is not None and self.content.hexdigest() == content_sha256.lower():
            return  # the same content, compressed differently
        got = self.hash.hexdigest()
        problem = f"{algorithm} checksum mismatch: got {got}, expected {expected}" if expected else ""
        if self.content is not None:
            problem += ("; " if problem else "") + "the decompressed content's SHA-256 differs from the published one"
        raise _MirrorFailed(problem)


def _download(url: str, dest: Path, digest: Digest | None, timeout: float, max_bytes: int,
              content_sha256: str | None = None, pace: _Pace | None = None) -> Path:
    """Stream ``url`` into ``dest`` (or its name without .gz, see :func:`_stored_as`) and
    verify it; returns where it was stored."""
    import http.client  # imported here: most runs find their data on disk, and these cost every start-up ~0.05 s
    import urllib.error
    import urllib.request

    algorithm, expected = digest or ("sha256", None)
    pace = pace or _Pace(DEFAULT_DEADLINE, DEFAULT_MIN_RATE, timeout)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            transfer = _Transfer(algorithm, content_sha256, pace, _response_length(response, max_bytes), max_bytes)
            pace.check(0, transfer.length)
            head = b""
            while len(head) < 2 and (chunk := _read_chunk(response, timeout)):
                head += chunk
            target = _stored_as(dest, head)
            with _local_file(target) as out:
                chunk = head
                while chunk:  # read1 returns what has come, so pace is checked often
                    transfer.add(chunk, out)
                    chunk = _read_chunk(response, timeout)
                transfer.check(expected, algorithm, content_sha256)
    except _LocalWriteError as exc:
        raise exc.error from None
    except urllib.error.HTTPError as exc:
        raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _MirrorFailed(f"cannot connect ({exc.reason})") from None
    except TimeoutError:
        raise _MirrorFailed(f"no data for {timeout:g} s (timed out)") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise _MirrorFailed(f"transfer failed ({type(exc).__name__}: {exc})") from None
    return target


def fetch(filename: str, dest_dir: str | os.PathLike, digests: Sequence[Digest],
          mirrors: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
          max_bytes: int = MAX_DOWNLOAD_BYTES, content_sha256: str | None = None,
          deadline: float = DEFAULT_DEADLINE, min_rate: float = DEFAULT_MIN_RATE) -> Path:
    """Download ``filename`` from the first mirror that delivers it intact into ``dest_dir``.

    ``mirrors`` are URL prefixes (``filename`` is appended). A file is intact when it
    matches one of ``digests`` (of the file as served) or, given ``content_sha256``, when
    its decompressed content does (see :class:`ContentDigest`); ``digests`` may then be
    empty. A ``.gz`` file a mirror serves uncompressed is stored without ``.gz`` (its name
    then says what it holds), so the returned name may lack the suffix. ``timeout``:
    seconds a connection may stay silent; ``deadline``: seconds the whole file may take;
    ``min_rate``: bytes/s it must average after the first
    ``timeout`` seconds. Returns the final path; raises
    :class:`~deltaprop.errors.DownloadError` listing every mirror's failure.
    """
    for name, value in (("timeout", timeout), ("deadline", deadline)):
        if not value > 0:
            raise ConfigError(f"{name} must be > 0 seconds, got {value!r}.")
    if not min_rate >= 0:
        raise ConfigError(f"min_rate must be >= 0 bytes/s, got {min_rate!r}.")
    digest = _best(digests) if digests or not content_sha256 else None
    dest = Path(dest_dir) / filename
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(filename) else mirror.rstrip("/") + "/" + filename
        log.info("downloading %s", url)
        try:
            return _download(url, dest, digest, timeout, max_bytes, content_sha256, _Pace(deadline, min_rate, timeout))
        except _MirrorFailed as exc:
            log.warning("%s: %s", url, exc)
            failures.append(f"{url}: {exc}")
    tried = "\n  ".join(failures) if failures else "(no mirrors given)"
    raise DownloadError(f"could not download {filename}; every mirror failed:\n  {tried}")
