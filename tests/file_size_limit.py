"""Running a process with a file-size limit (RLIMIT_FSIZE), as the disk-full tests do.

``subprocess.run(..., **limited(n))``: writes past ``n`` bytes fail with EFBIG (SIGXFSZ is
ignored), and the process writes no bytecode cache. That second part matters: Python
writes a ``.pyc`` with one ``write()`` whose short count it does not check, so a module
imported for the first time under the limit leaves a truncated ``.pyc`` behind, and every
later import of that module fails with ``EOFError: marshal data too short``.
"""

from __future__ import annotations

import os
import resource
import signal


def limited(limit: int) -> dict:
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit raises EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return {"preexec_fn": apply, "env": {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}}
