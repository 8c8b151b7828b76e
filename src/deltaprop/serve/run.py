"""A run folder as the live training view sees it: history, diagnostics and alerts.

``deltaprop train`` replaces these files atomically (write, then rename), so a read never
sees half a file; the view polls and reads them again whenever their size or time
changes. Columns are taken as the header names them, so columns added to ``history.csv``
(per-layer diagnostics, say) are shown without a change here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["RUN_FILES", "read_run", "run_signature"]

#: The files the live view reads; anything else in the folder is ignored.
RUN_FILES = ("history.csv", "diagnostics.csv", "alerts.json", "alerts.csv", "model.safetensors", "checkpoint.safetensors")
#: Bigger files are not shown (a run of many thousand epochs would still fit).
MAX_TABLE_BYTES = 16 << 20


def run_signature(folder: Path) -> str:
    """A short digest of the run files' sizes and times: equal digests, nothing new."""
    parts = []
    for name in RUN_FILES:
        try:
            st = (folder / name).stat()
            parts.append(f"{name}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append(f"{name}:-")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def _cell(text: str) -> Any:
    """A number where the cell holds one (finite), None when empty, else the text."""
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else None


def read_table(path: Path) -> list[dict[str, Any]] | None:
    """A CSV file with a header row as a list of records; None when it is absent, too big
    or unreadable (the view then simply omits it)."""
    try:
        if path.stat().st_size > MAX_TABLE_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return None
    header = [h.strip() for h in rows[0]]
    return [{key: _cell(cell.strip()) for key, cell in zip(header, row)} for row in rows[1:] if row]


def _read_alerts(folder: Path) -> list[Any] | None:
    path = folder / "alerts.json"
    try:
        if path.stat().st_size > MAX_TABLE_BYTES:
            return None
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return read_table(folder / "alerts.csv")
    if isinstance(value, dict):
        value = value.get("alerts")
    return value if isinstance(value, list) else None


def _training(folder: Path) -> bool:
    """Whether a run still looks in progress: its history is newer than its final model
    (``deltaprop train`` writes model.safetensors last, after the final history)."""
    try:
        history = (folder / "history.csv").stat().st_mtime_ns
    except OSError:
        return not (folder / "model.safetensors").exists()
    try:
        return (folder / "model.safetensors").stat().st_mtime_ns < history
    except OSError:
        return True


def read_run(folder: Path) -> dict[str, Any]:
    """Everything the live view draws, as JSON-able values."""
    history = read_table(folder / "history.csv") or []
    return {
        "run": folder.name,
        "signature": run_signature(folder),
        "training": _training(folder),
        "epochs": len(history),
        "history": history,
        "diagnostics": read_table(folder / "diagnostics.csv"),
        "alerts": _read_alerts(folder),
    }
