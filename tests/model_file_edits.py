"""Model and checkpoint files edited as anyone who reads the documented format can: the
safetensors header's metadata changed and its ``metadata_sha256`` digest recomputed, the
tensors left byte for byte as they were."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Callable

from deltaprop.serialization import _metadata_digest


def edit_metadata(src: Path, dst: Path, change: Callable[[dict], None]) -> Path:
    """Write ``src`` to ``dst`` with ``change(metadata)`` applied (in place, to the dict of
    strings) and the digest recomputed; returns ``dst``."""
    raw = Path(src).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header["__metadata__"]
    change(meta)
    meta["metadata_sha256"] = _metadata_digest(meta)
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    Path(dst).write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + n:])
    return Path(dst)
