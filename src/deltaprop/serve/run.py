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
import os
import socket
from pathlib import Path
from typing import Any

from ..bounded import open_regular, parse_json, read_text
from ..errors import DataError
from .filecache import FileCache
from .thinning import SERIES_ROWS, STRETCHES, cell_value, split_lines, thin

__all__ = ["RUN_FILES", "SERIES_ROWS", "STRETCHES", "read_run", "run_signature", "thin", "TABLES"]

#: The files the live view reads; anything else in the folder is ignored.
RUN_FILES = ("history.csv", "diagnostics.csv", "alerts.json", "alerts.csv", "model.safetensors",
             "checkpoint.safetensors", "run.lock", "run.json")
#: What run.json's ``status`` says once a run has ended (``deltaprop train`` writes it).
ENDED = ("done", "diverged", "interrupted", "failed")
#: Bigger tables are not drawn (the page says so, and links them): 20,000 epochs of a network
#: of three hidden layers write about 32 MB of diagnostics.csv.
MAX_TABLE_BYTES = 64 << 20
#: alerts.json and run.json are read up to this size.
MAX_JSON_BYTES = 16 << 20
#: A table with quoted cells (rows may span lines: parsed whole) is read up to this size.
MAX_QUOTED_BYTES = 16 << 20


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


def read_table(path: Path) -> list[dict[str, Any]] | None:
    """A CSV file with a header row as a list of records; None when it is absent, too big
    or unreadable (the view then simply omits it)."""
    try:
        table = read_table_after(path)
    except DataError:
        return None
    return None if table is None else table[0]


def _digest(lines: list[str]) -> str:
    """SHA-256 (20 hex digits) of a table's lines."""
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:20]


#: The tables' answers while their files stay the same: a reload of the page, or a poll while
#: only the other table changed, reads none of them again (about 4 MB held for the answer to
#: a 20,000-epoch parity run's diagnostics.csv).
_ANSWERS = FileCache()


def read_table_after(path: Path, held: int = 0, digest: str | None = None, *, by: str | None = None,
                     marks=frozenset()) -> tuple[list[dict[str, Any]], int, int, str | None, int] | None:
    """A CSV file's records after the first ``held``, when ``digest`` is the digest this
    function gave for the table when it had those rows (the file still starts with them);
    else all of them; a long series among them thinned (see :func:`thin`; ``by``: the column
    naming a row's series, ``marks``: epochs whose rows are kept). Returns (records, index
    of the first one, rows in all, digest of all rows: None for a table with quoted cells,
    whose rows may span lines, rows left out); None when the file is absent or holds no
    header. A file the view cannot read (too big, no regular file, no UTF-8 text, a cell
    over 128 KiB) raises :class:`DataError` saying why. Only the rows sent are made records,
    and an answer is kept while the file stays the same (the records shared: never change them)."""
    numbers = frozenset(m for m in marks if isinstance(m, (int, float)))  # the marks thin() looks at
    key = (held, digest, by, numbers, MAX_TABLE_BYTES, MAX_QUOTED_BYTES)
    return _ANSWERS.get(path, key, lambda: _read_table_after(path, held, digest, by, numbers))


def _read_table_after(path: Path, held: int, digest: str | None, by: str | None, marks: frozenset):
    """:func:`read_table_after`, read from the file."""
    if not os.path.lexists(path):
        return None
    # a regular file only: a FIFO must not hang the server
    text = read_text(path, max_bytes=MAX_TABLE_BYTES, what="table", error=DataError, allow_empty=True)
    plain = '"' not in text  # no quoting: one row a non-empty line
    if not plain and len(text) > MAX_QUOTED_BYTES:
        raise DataError(f"{path.name} has quoted cells and is {len(text):,} bytes, more than the "
                        f"{MAX_QUOTED_BYTES:,} read of such a table (training writes none)")
    lines = text.splitlines()
    del text
    if not lines:
        return None
    try:
        if plain:  # rows are parsed a chunk at a time, and made records only where sent
            kept = [lines[0]] + [line for line in lines[1:] if line]
            del lines
            start = held if (digest is not None and 0 < held < len(kept)
                             and _digest(kept[:held + 1]) == digest) else 0
            header = [h.strip() for h in next(csv.reader(kept[:1]))]
            body, parse = kept[start + 1:], split_lines
        else:
            rows = list(csv.reader(lines))
            if not rows:
                return None
            header = [h.strip() for h in rows[0]]
            start, body, parse = 0, [row for row in rows[1:] if row], lambda chunk: chunk
        keep = thin(header, body, parse, by=by, marks=marks)
        sent = parse(body if keep is None else [body[i] for i in keep])
    except csv.Error as exc:  # a cell over the csv module's 128 KiB: no table training wrote
        raise DataError(f"{path.name} cannot be read as CSV ({exc})") from None
    records = [{key: cell_value(cell.strip()) for key, cell in zip(header, row)} for row in sent]
    return records, start, start + len(body), _digest(kept) if plain else None, len(body) - len(sent)


def _read_alerts(folder: Path) -> list[Any] | None:
    path = folder / "alerts.json"
    try:
        text = read_text(path, max_bytes=MAX_JSON_BYTES, what="alerts file", error=DataError)
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
        with open_regular(folder / "run.json", max_bytes=MAX_JSON_BYTES, what="run.json", error=DataError) as f:
            facts = parse_json(f.read(), what="run.json", error=DataError)  # nesting capped: no RecursionError
    except (OSError, DataError):
        return None
    return facts if isinstance(facts, dict) else None


def _diverged_at(facts: dict[str, Any] | None) -> dict[str, int] | None:
    """The epoch and step a diverged run stopped at, as its run.json's ``diverged`` says."""
    d = (facts or {}).get("diverged") if (facts or {}).get("status") == "diverged" else None
    if not isinstance(d, dict) or not all(type(d.get(k)) is int for k in ("epoch", "step")):
        return None
    return {"epoch": d["epoch"], "step": d["step"]}


def _recorded_status(folder: Path) -> str | None:
    """``status`` in the run's run.json (``training``, ``done``, ...), or None."""
    status = (_recorded_facts(folder) or {}).get("status")
    return status if isinstance(status, str) else None


def _is_epoch(value: Any) -> bool:
    """Whether ``value`` can be an epoch number (a whole number; not True or False)."""
    return isinstance(value, int) and not isinstance(value, bool)


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
    # an alert's epoch, where it is one (a hand-edited alerts.json may hold a list there: not a mark)
    marks = {*marks, *(a["epoch"] for a in alerts or () if isinstance(a, dict) and _is_epoch(a.get("epoch")))}
    tables: dict[str, Any] = {}
    for name in TABLES:
        try:
            table = read_table_after(folder / f"{name}.csv", *held.get(name, (0, None)),
                                     by="name" if name == "diagnostics" else None, marks=marks)
            tables[f"{name}_error"] = None
        except DataError as exc:  # said, not left out as if the run had written none
            table, tables[f"{name}_error"] = None, " ".join(str(exc).split())
        records, start, rows, digest, left_out = table if table is not None else (None, 0, 0, None, 0)
        tables[name], tables[f"{name}_from"], tables[f"{name}_digest"] = records, start, digest
        tables[f"{name}_rows"], tables[f"{name}_thinned"] = rows, left_out
    return {
        "run": folder.name,
        "signature": run_signature(folder),
        "training": _training(folder),
        # how the run ended, as run.json says (done, diverged, interrupted, failed), or training; None: not recorded
        "status": _recorded_status(folder),
        # where a diverged run stopped ({epoch, step}; its history ends at the epoch before), else None
        "diverged": _diverged_at(_recorded_facts(folder)),
        "epochs": None if tables["history_error"] else tables["history_rows"],  # None: unknown
        "history": tables["history"] or [],
        **{f"history_{key}": tables[f"history_{key}"] for key in ("from", "digest", "rows", "thinned", "error")},
        "diagnostics": tables["diagnostics"],
        **{f"diagnostics_{key}": tables[f"diagnostics_{key}"] for key in ("from", "digest", "rows", "thinned", "error")},
        "alerts": alerts,
    }
