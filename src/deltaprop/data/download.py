"""Verified downloads: try each mirror in turn, check the digest, rename into place.

A file is streamed into a temporary file beside its destination while its digest is
computed; only when the digest matches is it fsynced and renamed over the destination.
A mirror that answers with an error status, an HTML page, a stalled connection, a short
transfer or the wrong bytes is skipped for the next one, and nothing partial is ever
left behind.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from deltaprop.atomic import atomic_write
from deltaprop.errors import ConfigError, DownloadError

__all__ = ["DEFAULT_TIMEOUT", "Digest", "cache_dir", "fetch", "file_digest", "verify_file"]

log = logging.getLogger("deltaprop.data")

#: Seconds a connection may stay silent (connect or read) before the mirror is abandoned.
DEFAULT_TIMEOUT = 30.0
#: No file we download is larger than this; a mirror sending more is wrong.
MAX_DOWNLOAD_BYTES = 256 << 20
#: (algorithm, hex digest); sha256 preferred, md5 where only that is published.
Digest = tuple[str, str]
_ALGORITHMS = ("sha256", "md5")
_USER_AGENT = "deltaprop-data/1"


class _MirrorFailed(Exception):
    """One mirror did not deliver the file; the next one is tried."""


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


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, digests: Sequence[Digest]) -> bool:
    """Whether the file exists and matches the preferred digest (sha256 over md5)."""
    algorithm, expected = _best(digests)
    try:
        return file_digest(path, algorithm) == expected
    except OSError:
        return False


def _download(url: str, dest: Path, digest: Digest, timeout: float, max_bytes: int) -> None:
    algorithm, expected = digest
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with atomic_write(dest) as out:
        h = hashlib.new(algorithm)
        received = 0
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if response.status != 200:
                    raise _MirrorFailed(f"HTTP status {response.status}")
                if response.headers.get_content_type() == "text/html":
                    raise _MirrorFailed("served an HTML page instead of the file")
                length = response.headers.get("Content-Length")
                length = int(length) if length and length.isdigit() else None
                if length is not None and length > max_bytes:
                    raise _MirrorFailed(f"announces {length:,} bytes, over {max_bytes:,}")
                while chunk := response.read(1 << 16):
                    received += len(chunk)
                    if received > max_bytes:
                        raise _MirrorFailed(f"sent more than {max_bytes:,} bytes")
                    h.update(chunk)
                    out.write(chunk)
                if length is not None and received != length:
                    raise _MirrorFailed(f"transfer interrupted after {received:,} of "
                                        f"{length:,} bytes")
        except urllib.error.HTTPError as exc:
            raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise _MirrorFailed(f"cannot connect ({exc.reason})") from None
        except TimeoutError:
            raise _MirrorFailed(f"no data for {timeout:g} s (timed out)") from None
        except (http.client.HTTPException, OSError, ValueError) as exc:
            raise _MirrorFailed(f"transfer failed ({type(exc).__name__}: {exc})") from None
        if h.hexdigest() != expected:
            raise _MirrorFailed(f"{algorithm} checksum mismatch: got {h.hexdigest()}, "
                                f"expected {expected}")


def fetch(filename: str, dest_dir: str | os.PathLike, digests: Sequence[Digest],
          mirrors: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
          max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Download ``filename`` from the first mirror that delivers it intact into ``dest_dir``.

    ``mirrors`` are URL prefixes (``filename`` is appended). Returns the final path;
    raises :class:`~deltaprop.errors.DownloadError` listing every mirror's failure.
    """
    if not timeout > 0:
        raise ConfigError(f"timeout must be > 0 seconds, got {timeout!r}.")
    digest = _best(digests)
    dest = Path(dest_dir) / filename
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(filename) else mirror.rstrip("/") + "/" + filename
        log.info("downloading %s", url)
        try:
            _download(url, dest, digest, timeout, max_bytes)
        except _MirrorFailed as exc:
            log.warning("%s: %s", url, exc)
            failures.append(f"{url}: {exc}")
            continue
        return dest
    tried = "\n  ".join(failures) if failures else "(no mirrors given)"
    raise DownloadError(f"could not download {filename}; every mirror failed:\n  {tried}")
