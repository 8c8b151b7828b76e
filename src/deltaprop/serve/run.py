"""A run folder as the live training view sees it: history, diagnostics and alerts.

``deltaprop train`` replaces these files atomically (write, then rename), so a read never
sees half a file; the view polls and reads them again whenever their size or time
changes. Columns are taken as the header names them, so columns added to ``history.csv``
(per-layer diagnostics, say) are shown without a change here.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from ..bounded import open_regular, parse_json, read_text
from ..errors import DataError

__all__ = ["RUN_FILES", "SERIES_ROWS", "read_run", "run_signature", "thin", "TABLES"]

#: The files the live view reads; anything else in the folder is ignored.
RUN_FILES = ("history.csv", "diagnostics.csv", "alerts.json", "alerts.csv", "model.safetensors",
             "checkpoint.safetensors", "run.lock", "run.json")
#: What run.json's ``status`` says once a run has ended (``deltaprop train`` writes it).
ENDED = ("done", "diverged", "interrupted", "failed")
#: Bigger files are not shown (a run of many thousand epochs would still fit).
MAX_TABLE_BYTES = 16 << 20
#: A series (the history, or one layer's or parameter's diagnostics) of more rows than this is
#: sent thinned to about :data:`STRETCHES` stretches (see :func:`thin`); the page hovers as many.
SERIES_ROWS = 1000
STRETCHES = 250


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
    table = read_table_after(path)
    return None if table is None else table[0]


def _digest(lines: list[str]) -> str:
    """SHA-256 (20 hex digits) of a table's lines."""
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:20]


def read_table_after(path: Path, held: int = 0, digest: str | None = None, *, by: str | None = None,
                     marks=frozenset()) -> tuple[list[dict[str, Any]], int, int, str | None, int] | None:
    """A CSV file's records after the first ``held``, when ``digest`` is the digest this
    function gave for the table when it had those rows (the file still starts with them);
    else all of them; a long series among them thinned (see :func:`thin`; ``by``: the column
    naming a row's series, ``marks``: epochs whose rows are kept). Returns (records, index
    of the first one, rows in all, digest of all rows: None for a table with quoted cells,
    whose rows may span lines, rows left out); None when the file is absent, too big or
    unreadable. Only the rows sent are made records."""
    try:  # a regular file only: a FIFO must not hang the server
        text = read_text(path, max_bytes=MAX_TABLE_BYTES, what="table", error=DataError, allow_empty=True)
    except DataError:
        return None
    lines = text.splitlines()
    if not lines:
        return None
    plain = '"' not in text  # no quoting: one row a non-empty line
    kept = [lines[0]] + [line for line in lines[1:] if line] if plain else lines
    start = held if (plain and digest is not None and 0 < held < len(kept)
                     and _digest(kept[:held + 1]) == digest) else 0
    try:
        rows = list(csv.reader(kept[start + 1:] if start else kept))
    except csv.Error:  # a cell over the csv module's 128 KiB: no table training wrote
        return None
    if not start:
        if not rows:
            return None
        header_row, rows = rows[0], rows[1:]
    else:
        header_row = next(csv.reader(kept[:1]))
    header = [h.strip() for h in header_row]
    body = [row for row in rows if row]
    keep = thin(header, body, by=by, marks=marks)
    sent = body if keep is None else [body[i] for i in keep]
    records = [{key: _cell(cell.strip()) for key, cell in zip(header, row)} for row in sent]
    return records, start, start + len(body), _digest(kept) if plain else None, len(body) - len(sent)


def _numbers(cells) -> np.ndarray:
    """A column's cells as float64, NaN where a cell is empty or no finite number."""
    text = np.array(cells, dtype=str)
    try:
        values = np.where(np.char.strip(text) == "", "nan", text).astype(np.float64)
    except ValueError:  # some text: each distinct cell read once
        distinct, where = np.unique(text, return_inverse=True)
        values = np.array([v if type(v) is float else np.nan for v in (_cell(c.strip()) for c in distinct)],
                          dtype=np.float64)[where.reshape(-1)]
    values[~np.isfinite(values)] = np.nan
    return values


def thin(header: list[str], rows: list[list[str]], *, by: str | None = None, marks=frozenset()
         ) -> list[int] | None:
    """The rows a long table is drawn by (their indices, in order), or None to draw every one.
    Each series (the rows of one value of the ``by`` column: a layer's, a parameter's; all of
    them without it) of ``n`` > :data:`SERIES_ROWS` rows is cut into stretches of ``w = ⌈n /
    STRETCHES⌉`` consecutive rows, and of each stretch the first, the last, and for every
    numeric column the lowest and the highest (the first of equal ones) are kept, with the
    rows of the ``marks`` epochs: each column's minimum and maximum over the series, and its
    last row, are among them, and a line through them is the curve to within a stretch."""
    group = header.index(by) if by in header else None
    series: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        series.setdefault(row[group].strip() if group is not None and group < len(row) else "", []).append(i)
    if all(len(members) <= SERIES_ROWS for members in series.values()):
        return None
    cells = list(itertools.zip_longest(*rows, fillvalue=""))[:len(header)]  # the columns, a row short of some: ""
    columns = {j: _numbers(column) for j, column in enumerate(cells) if j != group}
    epoch = columns.pop(header.index("epoch")) if "epoch" in header else None
    marked = np.isin(epoch, [m for m in marks if isinstance(m, (int, float))]) if epoch is not None and marks else None
    kept: list[np.ndarray] = []
    for members in series.values():
        index = np.array(members)
        n = len(index)
        if n <= SERIES_ROWS:
            kept.append(index)
            continue
        width = -(-n // STRETCHES)
        stretches = -(-n // width)
        kept += [index[::width], index[width - 1::width], index[-1:]]
        if marked is not None:
            kept.append(index[marked[index]])
        starts = np.arange(stretches) * width
        for values in columns.values():
            padded = np.full(stretches * width, np.nan)
            padded[:n] = values[index]
            padded = padded.reshape(stretches, width)
            some = ~np.isnan(padded).all(axis=1)
            if not some.any():
                continue
            low = np.where(np.isnan(padded), np.inf, padded).argmin(axis=1)
            high = np.where(np.isnan(padded), -np.inf, padded).argmax(axis=1)
            kept += [index[(starts + low)[some]], index[(starts + high)[some]]]
    return np.unique(np.concatenate(kept)).tolist()


def _read_alerts(folder: Path) -> list[Any] | None:
    path = folder / "alerts.json"
    try:
        text = read_text(path, max_bytes=MAX_TABLE_BYTES, what="alerts file", error=DataError)
        value = parse_json(text, what=str(path), error=DataError)
    except DataError:
        return read_table(folder / "alerts.csv")
    if isinstance(value, dict):
        value = value.get("alerts")
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:  # NaN or Infinity, which JSON cannot carry to the page
        return read_table(folder / "alerts.csv")
    return value if isinstance(value, list) else None


def _lock_holder_alive(folder: Path) -> bool | None:
    """Whether the process named in ``run.lock`` (JSON with its ``pid`` and ``host``, held
    by ``deltaprop train`` while it trains) still runs; None when there is no such lock.
    The lock is only read, never taken, so polling cannot get in the way of a training."""
    try:
        if not os.path.lexists(folder / "run.lock"):
            return None
        with open_regular(folder / "run.lock", max_bytes=1 << 20, what="lock file", error=DataError,
                          allow_empty=True) as f:
            holder = parse_json(f.read(4096) or b"null", what="run.lock", error=DataError)
    except (OSError, DataError):
        return True  # being written: a run is starting
    pid = holder.get("pid") if isinstance(holder, dict) else None
    if (not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31
            or holder.get("host") != socket.gethostname()):
        return True  # a lock we cannot check from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False  # a stale lock: the run stopped without releasing it
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def _recorded_facts(folder: Path) -> dict[str, Any] | None:
    """The run's run.json, or None where it is absent, too big or unreadable."""
    try:
        with open_regular(folder / "run.json", max_bytes=MAX_TABLE_BYTES, what="run.json", error=DataError) as f:
            facts = parse_json(f.read(), what="run.json", error=DataError)  # nesting capped: no RecursionError
    except (OSError, DataError):
        return None
    return facts if isinstance(facts, dict) else None


def _recorded_status(folder: Path) -> str | None:
    """``status`` in the run's run.json (``training``, ``done``, ...), or None."""
    status = (_recorded_facts(folder) or {}).get("status")
    return status if isinstance(status, str) else None


def _with_standing(alerts: list[Any] | None, folder: Path) -> list[Any] | None:
    """The alerts, each with ``standing`` where run.json says whether it still held at the
    run's end ("still holds at the last epoch (N)", "cleared by epoch K ...")."""
    from ..alerts import checked_standing, standing_of

    at_end = (_recorded_facts(folder) or {}).get("alerts_at_end")
    if not alerts or at_end is None:
        return alerts
    try:
        at_end = checked_standing(at_end)
        return [{**a, "standing": standing_of(a, at_end)} if isinstance(a, dict) and "rule" in a else a
                for a in alerts]
    except (DataError, KeyError, TypeError):
        return alerts


def _training(folder: Path) -> bool | None:
    """False once run.json says the run ended (``train --serve`` keeps its process, and so
    its lock, after training); else True while the process named in the run's lock runs;
    False when the lock is stale or the final model is newer than the history (the run
    finished); None otherwise (a run stopped before its end, or one written without a
    lock): the folder cannot tell."""
    if _recorded_status(folder) in ENDED:
        return False
    alive = _lock_holder_alive(folder)
    if alive is not None:
        return alive
    try:
        if (folder / "model.safetensors").stat().st_mtime_ns >= (folder / "history.csv").stat().st_mtime_ns:
            return False
    except OSError:
        pass
    return None


#: The tables a client may hold part of: ``GET /api/run?history=N:DIGEST`` sends only newer rows.
TABLES = ("history", "diagnostics")


def read_run(folder: Path, held: dict[str, tuple[int, str]] | None = None, marks=frozenset()) -> dict[str, Any]:
    """Everything the live view draws, as JSON-able values. ``held`` maps a table
    (``history``, ``diagnostics``) to the rows a client holds and the digest it was given
    with them; where the file still starts with those rows, only the rows after them are
    sent (``history_from``: the index of the first one sent), else all of them (0).
    ``history_rows`` counts the file's rows (what a client holds once it has these), and
    ``history_thinned`` the rows after ``history_from`` left out of a long series (see
    :func:`thin`: kept are each stretch's first, last, lowest and highest, and the records of
    the ``marks`` epochs and of the alerts')."""
    held = held or {}
    alerts = _with_standing(_read_alerts(folder), folder)
    marks = {*marks, *(a.get("epoch") for a in alerts or () if isinstance(a, dict))}
    tables: dict[str, Any] = {}
    for name in TABLES:
        table = read_table_after(folder / f"{name}.csv", *held.get(name, (0, None)),
                                 by="name" if name == "diagnostics" else None, marks=marks)
        records, start, rows, digest, left_out = table if table is not None else (None, 0, 0, None, 0)
        tables[name], tables[f"{name}_from"], tables[f"{name}_digest"] = records, start, digest
        tables[f"{name}_rows"], tables[f"{name}_thinned"] = rows, left_out
    return {
        "run": folder.name,
        "signature": run_signature(folder),
        "training": _training(folder),
        # how the run ended, as run.json says (done, diverged, interrupted, failed), or training; None: not recorded
        "status": _recorded_status(folder),
        "epochs": tables["history_rows"],
        "history": tables["history"] or [],
        **{f"history_{key}": tables[f"history_{key}"] for key in ("from", "digest", "rows", "thinned")},
        "diagnostics": tables["diagnostics"],
        **{f"diagnostics_{key}": tables[f"diagnostics_{key}"] for key in ("from", "digest", "rows", "thinned")},
        "alerts": alerts,
    }
