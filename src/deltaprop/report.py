"""The run report: one self-contained ``report.html`` per run folder.

It shows the run's configuration and exact command (each session's, for a resumed run),
seed, versions, data source with the data file's SHA-256 and a digest of the arrays as
loaded, timing; the loss and accuracy curves (train and validation, values on hover) and the
learning rate, and which epoch's weights the model holds; each layer's diagnostics over the
epochs as small multiples; the alerts; the confusion matrix; the first layer's weights as
images (seed 001's figure) when the inputs are square images; and the examples the network
got wrong most confidently (of the test set, or of the training rows when there is none).

Everything is inline (hand-written SVG, CSS, a few lines of JavaScript for the hover, images
as PNG ``data:`` URIs), so the file opens from disk with no request to any host and reads
without JavaScript too (every point carries an SVG ``<title>``). While training the page
reloads itself every few seconds; the final version does not.

The run folder's files the report is rebuilt from (``deltaprop report RUN_DIR``):
``run.json`` (command, versions, data, timing), ``history.csv``, ``diagnostics.csv``,
``alerts.csv``, ``evaluation.json`` (confusion matrix, wrong examples) and the model file.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_bytes
from .callbacks import Callback
from .errors import DataError

#: Seconds between reloads of the page while the run trains.
REFRESH_SECONDS = 5
#: An epoch's end rewrites the report only when this many seconds have passed since the last
#: write (the page reloads every REFRESH_SECONDS anyway): a run of 0.05-second epochs does not
#: spend its time rendering. The end of the run always writes it.
REPORT_INTERVAL = 2.0
#: the largest share of a run's time its report may take while training
REPORT_TIME_SHARE = 0.05
#: While training, run.json's timing is brought up to date at least this often in seconds
#: (after a batch, between the page's writes and within a long epoch), so a process killed
#: outright leaves a training time short by at most about this much.
TIMING_INTERVAL = 5.0
#: The most confidently wrong test examples shown.
WRONG_EXAMPLES = 16
#: First-layer units drawn as images (the first ones, in order).
WEIGHT_IMAGES = 64
#: Curves draw a hover point for at most this many epochs (evenly thinned beyond).
MAX_POINTS = 300

DIAGNOSTICS_COLUMNS = ("epoch", "probe_size", "name", "layer", "type", "mean", "std", "saturated", "stuck", "dead",
                       "delta_norm", "identical_units", "grad_norm", "norm", "update_ratio", "off_target",
                       "probe_accuracy", "probe_loss")
#: Columns of diagnostics.csv that files written before them lack (read as gaps).
LATER_DIAGNOSTICS_COLUMNS = ("stuck", "off_target", "probe_accuracy", "probe_loss")
#: The numbers of a whole epoch's probe (on each of its rows): the diagnostics' key of each column.
PROBE_COLUMNS = {"probe_accuracy": "accuracy", "probe_loss": "loss"}
#: The per-layer statistics of diagnostics.csv (the rest are per parameter).
LAYER_STATISTICS = ("mean", "std", "saturated", "stuck", "dead", "delta_norm", "identical_units", "off_target")
ALERT_COLUMNS = ("epoch", "rule", "layer", "evidence", "fix")


# -- the run's facts -------------------------------------------------------------------------------
def data_sha256(*arrays: np.ndarray) -> str:
    """SHA-256 over the arrays as loaded (dtype, shape and bytes of each, in order); an
    array still on disk (with ``chunks()``, a RowView) is read a chunk at a time."""
    h = hashlib.sha256()
    for a in arrays:
        if not hasattr(a, "chunks"):
            a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        for part in a.chunks() if hasattr(a, "chunks") else [a]:
            h.update(np.ascontiguousarray(part).tobytes() if part.size == 0 else memoryview(np.ascontiguousarray(part)).cast("B"))
    return h.hexdigest()


def run_facts(command: list[str], config: dict[str, Any], *, data_source: str, data_sha: str,
              file_sha: str | None = None, processes: int = 1) -> dict[str, Any]:
    """What ``run.json`` holds at the start of a run; :class:`ReportWriter` adds the timing.
    ``data_sha``: :func:`data_sha256` of the split arrays (``data.arrays_sha256``);
    ``file_sha``: the SHA-256 of the data file's bytes, as the model records it
    (``data.file_sha256``; None for a named dataset). run.json files written before they
    were told apart hold the arrays' digest as ``data.sha256``. ``processes``: the MPI
    processes the run trains on (``mpiexec -n``; 1 alone), each with its share of every
    global batch."""
    from . import __version__

    data = {"source": data_source, "arrays_sha256": data_sha}
    if file_sha is not None:
        data["file_sha256"] = file_sha
    return {
        "command": command,
        "config": config,
        "seed": config.get("seed"),
        "versions": {"deltaprop": __version__, "numpy": np.__version__, "python": platform.python_version()},
        "data": data,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "status": "training",
        "processes": processes,
    }


#: ``scored`` in evaluation.json: the rows the results are of (a file too small to split is
#: trained and scored whole, so its results are of the training rows, not of unseen data).
SCORED_ROWS = ("test", "training")


def evaluation(net, X: np.ndarray, y: np.ndarray, class_names, *, loss=None,
               images: np.ndarray | None = None, scored: str = "test", note: str | None = None,
               rows: np.ndarray | None = None) -> dict[str, Any]:
    """The results for the report: accuracy, confusion matrix and the
    :data:`WRONG_EXAMPLES` wrong predictions with the highest confidence (with their
    pictures when ``images`` holds the raw inputs as uint8 images). ``loss``: the one the
    network was trained with, which says whether its outputs are logits. ``scored``: which
    rows ``X`` holds, ``"test"`` (held out) or ``"training"`` (every training row, when
    there is no held-out test set); ``note``: why, in the words the CLI prints. ``rows``: each
    row of ``X``'s number in its data file (from 0), which a wrong example records as ``row``
    (its ``index`` is its place in ``X``, which a file's shuffled split does not keep)."""
    if scored not in SCORED_ROWS:
        raise ValueError(f"scored must be one of {SCORED_ROWS}, not {scored!r}")
    from .metrics import confusion_matrix
    from .network import predictions_from_outputs
    from .serialization import class_probabilities, output_kind

    outputs = net.predict_proba(X)
    pred = predictions_from_outputs(outputs, threshold=getattr(loss, "decision_threshold", 0.5))
    probs = class_probabilities(outputs, output_kind(net, loss))
    scores = probs is None
    if scores:  # no probabilities: ranked by the winning score, and each example records its output as ``score``
        probs = outputs if outputs.shape[1] > 1 else np.hstack([1 - outputs, outputs])
    k = max(len(class_names), probs.shape[1])
    y = np.asarray(y, dtype=np.int64)
    confidence = probs[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:WRONG_EXAMPLES]
    examples = []
    for i in wrong:
        ex = {"index": int(i), "label": int(y[i]), "predicted": int(pred[i]), "confidence": float(confidence[i])}
        if scores:  # the network's output, as predict shows it: 1 − a of one output is no output of the network
            ex["score"] = float(outputs[i, pred[i]] if outputs.shape[1] > 1 else outputs[i, 0])
        if rows is not None:
            ex["row"] = int(rows[i])
        _example_pixels(ex, images, i, getattr(net, "input_shape", None))
        examples.append(ex)
    results = {
        "accuracy": float(np.mean(pred == y)) if len(y) else None,
        "examples": int(len(y)),
        "scored": scored,
        "class_names": [str(c) for c in class_names] + [str(c) for c in range(len(class_names), k)],
        "confusion": confusion_matrix(y, pred, k).tolist(),
        "wrong": examples,
    }
    if note is not None:
        results["note"] = note
    return results


def _example_pixels(ex: dict[str, Any], images, i: int, shape) -> None:
    """Put example ``i``'s raw image in ``ex``: ``pixels`` (its uint8 levels, flattened), with
    ``shape`` where the model records one of an image (``[14, 14, 4]``); without one, a
    square count of levels is drawn as a square grey image, as before shapes were recorded."""
    from .images import image_axes

    if images is None:
        return
    if shape is not None and image_axes(shape) is not None and math.prod(shape) == images[i].size:
        ex["shape"] = [int(d) for d in shape]
    elif shape is not None or not _square_side(images[i].size):
        return
    ex["pixels"] = np.asarray(images[i], dtype=np.uint8).ravel().tolist()


def model_weights(state) -> dict[str, Any]:
    """Which epoch's weights the trained network holds, and why: ``{"epoch", "last_epoch",
    "why"}``, ``why`` ``"early_stopping"`` (with its ``monitor``, ``best`` value and
    ``stopped_epoch``, None when it did not stop the run) when an early stopping kept its best
    epoch's weights and the network holds them, else ``"last_epoch"``."""
    records = state.history.records
    last = int(records[-1]["epoch"]) if records else int(state.epoch)
    params = state.net.parameters()
    for key, record in state.callback_records.items():
        saved = state.saved_weights.get(key)
        if not key.startswith("early_stopping.") or not isinstance(record, dict) or saved is None:
            continue
        best_epoch = record.get("best_epoch")
        if isinstance(best_epoch, int) and len(saved) == len(params) and \
                all(np.array_equal(p.value, w) for p, w in zip(params, saved)):
            return {"epoch": best_epoch, "last_epoch": last, "why": "early_stopping",
                    "monitor": key.partition(".")[2], "best": record.get("best"),
                    "stopped_epoch": record.get("stopped_epoch")}
    kept = {"epoch": last, "last_epoch": last, "why": "last_epoch"}
    progress, total = state.progress, getattr(state, "epoch_batches", None)
    if progress is not None and isinstance(total, int) and 0 < progress.batches < total:  # a stop inside the epoch
        kept.update(batches=progress.batches, epoch_batches=total)
    return kept


# -- run folder files ----------------------------------------------------------------------------------
def diagnostics_rows(records) -> list[dict[str, Any]]:
    """One row per epoch and layer (name ``layers.i``) or parameter (``layers.i.W``)."""
    rows = []
    for r in records:
        d = r.get("diagnostics")
        if not d:
            continue
        base = {"epoch": r.get("epoch"), "probe_size": d["probe_size"],
                **{column: d.get(key) for column, key in PROBE_COLUMNS.items()}}
        for s in d["layers"]:
            rows.append({**base, "name": f"layers.{s['index']}", "layer": s["index"], "type": s["layer"],
                         **{k: s.get(k) for k in LAYER_STATISTICS}})
        for p in d["parameters"]:
            rows.append({**base, "name": p["name"], "layer": p["layer"], "type": "parameter",
                         **{k: p.get(k) for k in ("grad_norm", "norm", "update_ratio")}})
    return rows


def _csv_bytes(columns, rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return buf.getvalue().encode()


def write_run_files(out: Path, records, facts: dict[str, Any]) -> None:
    """``diagnostics.csv``, ``alerts.csv`` and ``run.json``, each written atomically."""
    atomic_write_bytes(out / "diagnostics.csv", _csv_bytes(DIAGNOSTICS_COLUMNS, diagnostics_rows(records)))
    alerts = [a for r in records for a in r.get("alerts") or ()]
    atomic_write_bytes(out / "alerts.csv", _csv_bytes(ALERT_COLUMNS, alerts))
    atomic_write_bytes(out / "run.json", json.dumps(facts, indent=1).encode())


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    return list(csv.DictReader(io.StringIO(text)))


def _cell(row: dict[str, str], key: str, path: Path):
    value = row.get(key, "")
    if value in ("", None):
        return None
    if value in ("True", "False"):
        return value == "True"
    try:
        return float(value)
    except ValueError:
        raise DataError(f"{path}: {key} is {value!r}, not a number") from None


def _checked_rows(path: Path, columns, later=()) -> list[dict[str, str]]:
    """The rows of a run folder's CSV file, each with every one of ``columns`` (a missing
    file: none); a :class:`DataError` names the file and what is missing. ``later``: columns
    that older files lack, read as empty."""
    rows = _read_csv(path)
    if not rows:
        return rows
    absent = [c for c in columns if c not in rows[0] and c not in later]
    if absent:
        raise DataError(f"{path}: it lacks the column{'s' if len(absent) > 1 else ''} {', '.join(absent)} "
                        f"(its columns must be {', '.join(columns)})")
    for n, row in enumerate(rows, start=2):
        if None in row or any(row.get(c, "") is None for c in columns):
            raise DataError(f"{path}: line {n} has {len([v for k, v in row.items() if k is not None and v is not None])}"
                            f" of its {len(columns)} fields (the file is cut short or damaged)")
    return rows


def _whole(row: dict[str, str], key: str, path: Path) -> int:
    value = _cell(row, key, path)
    if value is None or not float(value).is_integer():
        raise DataError(f"{path}: {key} is {row.get(key)!r}, not a whole number")
    return int(value)


def _statistic(row: dict[str, str], key: str, path: Path, line: int):
    """A diagnostics.csv statistic: empty (a gap), true/false for ``identical_units``, else a
    finite number (the writer leaves a value that is not finite empty, so inf or nan in the
    file was put there by hand); a :class:`DataError` names the file, line and column."""
    value = _cell(row, key, path)
    boolean = key == "identical_units"
    if value is None or (isinstance(value, bool) if boolean else not isinstance(value, bool) and math.isfinite(value)):
        return value
    want = "True or False" if boolean else "a finite number (or empty: not recorded)"
    raise DataError(f"{path}: line {line}, column {key} holds {row[key]!r}, not {want}")


def read_diagnostics_csv(path: Path) -> dict[int, dict[str, Any]]:
    """``diagnostics.csv`` back into each epoch's :meth:`Diagnostics.as_dict` form."""
    from .diagnostics import Diagnostics

    by_epoch: dict[int, dict[str, Any]] = {}
    for line, row in enumerate(_checked_rows(path, DIAGNOSTICS_COLUMNS, LATER_DIAGNOSTICS_COLUMNS), start=2):
        epoch = _whole(row, "epoch", path)
        d = by_epoch.setdefault(epoch, {"probe_size": _whole(row, "probe_size", path), "layers": [], "parameters": []})
        layer = _whole(row, "layer", path)
        for column, key in PROBE_COLUMNS.items():
            value = _statistic(row, column, path, line)
            if value is not None:
                d[key] = value
        if row["type"] == "parameter":
            d["parameters"].append({"name": row["name"], "layer": layer,
                                    **{k: _statistic(row, k, path, line) for k in ("grad_norm", "norm", "update_ratio")}})
        else:
            d["layers"].append({"index": layer, "layer": row["type"],
                                **{k: _statistic(row, k, path, line) for k in LAYER_STATISTICS}})
    for epoch, d in by_epoch.items():
        try:
            Diagnostics.from_dict(d)  # every field present and well-formed
        except (TypeError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: epoch {epoch}'s rows are malformed ({type(exc).__name__}: {exc})") from None
    return by_epoch


def read_alerts_csv(path: Path) -> dict[int, list[dict[str, Any]]]:
    """``alerts.csv`` back into each epoch's alerts, checked (known rules, layers from 0)."""
    from .alerts import checked_alerts

    rows = []
    for row in _checked_rows(path, ALERT_COLUMNS):
        layer = _cell(row, "layer", path)
        rows.append({"rule": row["rule"], "epoch": _whole(row, "epoch", path),
                     "layer": None if layer is None else _whole(row, "layer", path),
                     "evidence": row["evidence"], "fix": row["fix"]})
    try:
        alerts = checked_alerts(rows)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    by_epoch: dict[int, list] = {}
    for alert in alerts:
        by_epoch.setdefault(alert["epoch"], []).append(alert)
    return by_epoch


def sweep_folder_words(out: Path) -> str | None:
    """What to give instead of ``out`` where it is a sweep's folder (sweep.csv, ``trial-N``
    folders), which holds one run folder a trial: one of them, named; None for any other."""
    trials = sorted(p for p in out.glob("trial-*") if p.is_dir() and p.name[6:].isdigit())
    if not trials and not (out / "sweep.csv").is_file():
        return None
    example = f", e.g. {trials[0]}" if trials else ""
    return f"it is a deltaprop sweep folder; give the run folder of one of its trials (trial-N){example}"


def _sweep_words(out: Path) -> str:
    """What to give instead of ``out``: a trial's run folder for a sweep's folder, else a
    train output folder is asked for."""
    return sweep_folder_words(out) or "is it a deltaprop train output folder?"


def read_run(out: Path) -> dict[str, Any]:
    """Everything the report shows, from a run folder's files."""
    from .training import History

    out = Path(out)
    if not out.is_dir():
        raise DataError(f"{out}: no such run folder")
    if (out / "history.csv").is_file():
        records = History.read_csv(out / "history.csv").records
    elif (out / "run.json").is_file():
        records = []  # a run stopped before its first checkpoint (and history) was saved
    else:
        raise DataError(f"{out} holds no history.csv: " + _sweep_words(out))
    diagnostics = read_diagnostics_csv(out / "diagnostics.csv")
    alerts = read_alerts_csv(out / "alerts.csv")
    for epoch, found in alerts.items():
        layers = len((diagnostics.get(epoch) or {}).get("layers") or ()) or None
        for a in found:
            if layers is not None and a["layer"] is not None and a["layer"] >= layers:
                raise DataError(f"{out / 'alerts.csv'}: an alert of epoch {epoch} names layer {a['layer']}; the "
                                f"network has {layers} layers (diagnostics.csv)")
    for r in records:
        r["epoch"] = int(r["epoch"])
    records, note = _common_epochs(records, diagnostics)
    for r in records:
        r["diagnostics"] = diagnostics.get(r["epoch"])
        r["alerts"] = alerts.get(r["epoch"], [])
    facts = checked_facts(_read_json(out / "run.json"), out / "run.json")
    if facts.get("alerts_at_end") is not None:  # absent from older run.json files
        from .alerts import checked_standing

        try:
            facts["alerts_at_end"] = checked_standing(facts["alerts_at_end"])
        except DataError as exc:
            raise DataError(f"{out / 'run.json'}: {exc}") from None
    evaluation_json = out / "evaluation.json"
    evaluation = checked_evaluation(_read_json(evaluation_json), evaluation_json)
    unfinished = facts.get("status") in UNFINISHED
    if not unfinished or not _same_model(out, facts.get("earlier_model")):
        facts.pop("earlier_model", None)  # the model it names is no longer the folder's
    sessions = facts.get("sessions")
    if facts.get("status") == "diverged" and "earlier_model" not in facts and isinstance(sessions, list) \
            and len(sessions) > 1 and (out / "model.safetensors").is_file():
        facts["earlier_model"] = {"session": None, "epoch": None}  # a run.json written before it was recorded
    if unfinished:  # evaluation.json and model.safetensors, if any, are of an earlier session's model
        evaluation = None
    weights, table, shape = _first_layer_weights(out, checkpoint_first=unfinished)
    return {"records": records, "facts": facts, "evaluation": evaluation, "weights": weights,
            "weights_table": table, "weights_shape": shape, "note": note}


def checked_facts(facts, path: Path) -> dict[str, Any]:
    """run.json's content (``{"status": "unknown"}`` for none) with the objects the report
    reads (``config``, its ``layers``, ``versions``, ``data``) of the kind
    :func:`run_facts` writes; else a :class:`DataError` naming the file and the field."""
    if facts is None:
        return {"status": "unknown"}

    def refuse(field: str, value, want: str):
        shown = json.dumps(value)
        raise DataError(f"{path}: {field} is {shown if len(shown) <= 60 else shown[:57] + '...'}, not {want} "
                        "(the file is damaged; deltaprop train writes it)")

    if not isinstance(facts, dict):
        refuse("the content", facts, "an object of the run's facts (status, config, ...)")
    for key in ("config", "versions", "data"):
        if facts.get(key) is not None and not isinstance(facts[key], dict):
            refuse(key, facts[key], "an object")
    layers = (facts.get("config") or {}).get("layers")
    if layers is not None and not isinstance(layers, list):
        refuse("config.layers", layers, "a list of layer widths")
    return facts


def _common_epochs(records, diagnostics: dict[int, Any]) -> tuple[list, str | None]:
    """The history records of the epochs diagnostics.csv holds too, and a line saying which
    epochs were left out (None: the files end at the same epoch). While a run trains,
    history.csv is written with its checkpoint and diagnostics.csv and alerts.csv with its
    report, each every few seconds, so a run killed outright leaves one ending before the
    other: epochs past diagnostics.csv's last have no diagnostics and no alerts recorded,
    which the page would show as none."""
    if not diagnostics:
        return records, None  # a run that records no diagnostics, or none written yet
    last_history = records[-1]["epoch"] if records else 0
    last_diagnostics = max(diagnostics)
    if last_history == last_diagnostics:
        return records, None
    common = min(last_history, last_diagnostics)
    kept = [r for r in records if r["epoch"] <= common]
    history_words = f"ends at epoch {last_history}" if records else "holds no epoch"
    note = (f"history.csv {history_words} but diagnostics.csv and alerts.csv at epoch {last_diagnostics}: they are "
            "written at different moments while the run trains, and it stopped (or is training) between those "
            f"writes. This page shows the epochs all three hold ({f'up to {common}' if common else 'none'})")
    if last_history > common:
        note += (f"; epochs {common + 1} to {last_history} are in history.csv and the checkpoint, with no diagnostics "
                 "or alerts recorded")
    return kept, note


#: run.json statuses of a run whose last session wrote no model: its curves end at the last
#: checkpoint, while a model.safetensors and evaluation.json in the folder, if any, were
#: written by an earlier session (``train --resume`` of a finished run with more epochs).
UNFINISHED = ("training", "interrupted", "diverged", "failed")


def checked_evaluation(ev, path: Path) -> dict[str, Any] | None:
    """evaluation.json's content (None: no file) with every field the report shows of the
    kind :func:`evaluation` writes; else a :class:`DataError` naming the file and the field."""
    if ev is None:
        return None

    def refuse(field: str, value, want: str):
        shown = json.dumps(value)
        raise DataError(f"{path}: {field} is {shown if len(shown) <= 60 else shown[:57] + '...'}, not {want}")

    if not isinstance(ev, dict):
        refuse("the content", ev, "an object of accuracy, examples, class_names, confusion and wrong")
    if ev.get("accuracy") is not None and not (_is_real(ev["accuracy"]) and 0 <= ev["accuracy"] <= 1):
        refuse("accuracy", ev["accuracy"], "a number from 0 to 1")
    if (ev.get("accuracy") is not None or "examples" in ev) and not _is_count(ev.get("examples")):
        refuse("examples", ev.get("examples"), "a count of rows")
    if ev.get("scored", "test") not in SCORED_ROWS or not isinstance(ev.get("note", ""), str):
        field = "note" if ev.get("scored", "test") in SCORED_ROWS else "scored"
        refuse(field, ev.get(field), "a line of text" if field == "note" else " or ".join(SCORED_ROWS))
    names = ev.get("class_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        refuse("class_names", names, "a list of class names")
    cm = ev.get("confusion")
    if cm is not None:
        if not (isinstance(cm, list) and all(isinstance(r, list) and len(r) == len(cm) and all(map(_is_count, r))
                                             for r in cm)):
            refuse("confusion", cm, "a square table of counts (a list of rows of whole numbers from 0)")
        if names is not None and len(names) != len(cm):
            refuse("class_names", names, f"{len(cm)} names, one per row of confusion")
    wrong = ev.get("wrong")
    if wrong is not None and not isinstance(wrong, list):
        refuse("wrong", wrong, "a list of examples")
    for i, ex in enumerate(wrong or ()):
        _check_wrong_example(ex, f"wrong[{i}]", refuse)
    return ev


def _check_wrong_example(ex, field: str, refuse) -> None:
    if not isinstance(ex, dict):
        refuse(field, ex, "an object of index, label, predicted and confidence")
    for key in ("index", "label", "predicted"):
        if not _is_count(ex.get(key)):
            refuse(f"{field}.{key}", ex.get(key), "a whole number from 0")
    if "row" in ex and not _is_count(ex["row"]):
        refuse(f"{field}.row", ex["row"], "a whole number from 0")
    for key in ("confidence", "score") if "score" in ex else ("confidence",):
        if not _is_real(ex.get(key)):
            refuse(f"{field}.{key}", ex.get(key), "a number")
    pixels, shape = ex.get("pixels"), ex.get("shape")
    if shape is not None and not _image_shape_of(shape, pixels):
        refuse(f"{field}.shape", shape, "an image's shape ([h, w], [h, w, c] or [c, h, w]) of its pixels' count")
    if pixels is not None and not (isinstance(pixels, list) and (shape is not None or _square_side(len(pixels)))
                                   and all(_is_count(v) and v <= 255 for v in pixels)):
        refuse(f"{field}.pixels", pixels, "a square image's grey levels (whole numbers from 0 to 255)")


def _image_shape_of(shape, pixels) -> bool:
    """Whether ``shape`` is an image's shape of as many values as ``pixels`` holds."""
    from .images import image_axes

    whole = isinstance(shape, list) and 2 <= len(shape) <= 3 and all(_is_count(d) and d > 0 for d in shape)
    return whole and isinstance(pixels, list) and math.prod(shape) == len(pixels) and image_axes(shape) is not None


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def recorded_facts(out: Path) -> dict[str, Any] | None:
    """A run folder's run.json (None: none, or not readable)."""
    try:
        facts = json.loads((Path(out) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) else None


def recorded_status(out: Path) -> str | None:
    """The status a run folder's run.json records ("training", "done", "interrupted", ...;
    None: no readable run.json)."""
    facts = recorded_facts(out)
    return None if facts is None else str(facts.get("status"))


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc})") from None


def _first_layer_weights(out: Path, *, checkpoint_first: bool = False) -> tuple[np.ndarray | None, bool, Any]:
    """The first Dense layer's weights of the run's model (else of its checkpoint; the
    checkpoint first for a run whose last session wrote no model), whether its inputs
    are a table's columns (:func:`~deltaprop.plots._tabular_inputs`), and the shape of one
    input the file records (None: not known)."""
    from .errors import ModelFileError
    from .layers import Dense
    from .serialization import load

    names = ("model.safetensors", "checkpoint.safetensors")
    for name in reversed(names) if checkpoint_first else names:
        if (out / name).is_file():
            try:
                net = load(out / name)
            except ModelFileError:
                continue
            return next(layer.W.value for layer in net.layers if isinstance(layer, Dense)), *_inputs_of(net)
    return None, False, None


def rebuild(out) -> Path:
    """Write ``report.html`` in the run folder ``out`` again from its files. A run.json
    that says training while no process holds the folder's lock is of a run that ended
    without recording it (killed, or its last files could not be written): it is shown
    interrupted and says so (the page does not reload). A run that is not done shows
    no test results and its checkpoint's weights, as its own report did (see
    :data:`UNFINISHED`). The files are read and the page written under the folder's
    :func:`~deltaprop.runlock.writing` lock, which the training process takes for each of its
    report writes: a rebuild as training ends comes before its final page or after it, never
    over it."""
    from .runlock import is_held, writing

    if not Path(out).is_dir():
        raise DataError(f"{out}: no such run folder")
    with writing(out):  # the training process writes no report file meanwhile: its final page is not overwritten
        run = read_run(Path(out))
        facts = run["facts"]
        if facts.get("status") == "training" and not is_held(out):
            facts = {**facts, "status": "interrupted", "end_unrecorded": True}
        return write_report(Path(out), run["records"], facts, evaluation=run["evaluation"], weights=run["weights"],
                            weights_table=run["weights_table"], weights_shape=run["weights_shape"], note=run["note"])


def write_report(out: Path, records, facts: dict[str, Any], *, evaluation=None, weights=None,
                 weights_table: bool = False, weights_shape=None, note: str | None = None) -> Path:
    """Render and write ``out/report.html`` atomically (``note``: a line shown at the top;
    ``weights_table``: the first layer's inputs are a table's columns, not drawn as images;
    ``weights_shape``: the shape of one input the model records, which they are drawn in)."""
    from .report_html import render

    page = render(records, facts, evaluation=evaluation, weights=weights, weights_table=weights_table,
                  weights_shape=weights_shape,
                  refresh=REFRESH_SECONDS if facts.get("status") == "training" else None, note=note)
    return atomic_write_bytes(Path(out) / "report.html", page.encode("utf-8"))


class ReportWriter(Callback):
    """After every epoch (at most every ``interval`` seconds): ``diagnostics.csv``,
    ``alerts.csv``, ``run.json`` and a fresh ``report.html`` that reloads itself while
    training. Writing grows with the epochs (every chart holds them all), so after a write
    that took ``w`` seconds the next waits at least ``w·(1 − s)/s`` (``s`` =
    :data:`REPORT_TIME_SHARE`): a long run spends at most that share of its time on its
    report (``interval=0``: every epoch). Between those writes, and within an epoch,
    run.json alone is rewritten with the timing every :data:`TIMING_INTERVAL` seconds.
    :meth:`finish` writes the final version with the test results and the timing; the epoch
    that ends the run (its last by ``epochs`` or ``steps``, or one a callback stopped it after)
    writes none of its own (but with ``interval=0``), which :meth:`finish` would write again at once.

    A run trained by several processes, or sessions (``deltaprop train --resume``;
    ``earlier``: the run.json the earlier ones wrote), keeps each session's command, start,
    training time and wall time in run.json's ``sessions``: its ``command`` and ``started``
    are the first session's, its ``training_seconds`` and ``seconds`` the sums over all. Each
    session that trained keeps its BLAS ``threads`` at its start and, when they changed, its
    ``thread_changes`` (``[step, threads]``); run.json's ``thread_changes`` are all sessions'.
    Each session that trained keeps the MPI ``processes`` it trained on too (run.json's: the
    last session's)."""

    def __init__(self, out, facts: dict[str, Any], *, interval: float = REPORT_INTERVAL,
                 earlier: dict[str, Any] | None = None):
        self.out = Path(out)
        self.facts = dict(facts)
        self.session = {"command": facts.get("command"), "started": facts.get("started")}
        self.earlier = earlier_sessions(earlier)
        kept = earlier_model(earlier, Path(out))
        if kept is not None:  # until this session writes its own: the page says whose the model is
            self.facts["earlier_model"] = kept
        self.interval = interval
        self.started = time.perf_counter()
        self.last_write = -math.inf
        self.last_timing = -math.inf  # run.json's last write
        self.train_started: float | None = None
        self.trained = 0.0  # seconds of this session's finished fits
        self.records: list = []
        self.weights = None
        self.weights_table = False  # the first layer's inputs are a table's columns
        self.weights_shape = None  # the shape of one input the model records (None: not known)
        self.state = None
        self.gap = interval

    def session_training_seconds(self) -> float:
        """This session's training time: from fit's ``on_train_begin`` to its ``on_train_end``
        (the epochs with their validation, checkpoints and report writes; not loading the data,
        building the network, writing the model or scoring the test set); while fit runs, so far."""
        running = 0.0 if self.train_started is None else time.perf_counter() - self.train_started
        return self.trained + running

    @property
    def training_seconds(self) -> float:
        """The run's training time: every session's :meth:`session_training_seconds`, summed.
        run.json's ``training_seconds``, the report's and the CLI's training time are this number."""
        self._time_facts()
        return self.facts["training_seconds"]

    def _time_facts(self) -> None:
        """run.json's timing: this session's beside the earlier ones', and the sums."""
        current = {**self.session, "training_seconds": round(self.session_training_seconds(), 3),
                   "seconds": round(time.perf_counter() - self.started, 3)}
        sessions = [*self.earlier, current]
        changes = [c for s in sessions for c in s.get("thread_changes", ())]
        if changes:  # every session's, not only this one's: no rerun repeats any of them
            self.facts["thread_changes"] = changes
        self.facts.update(command=sessions[0]["command"], started=sessions[0]["started"], sessions=sessions,
                          training_seconds=round(sum(s["training_seconds"] or 0.0 for s in sessions), 3),
                          seconds=round(sum(s["seconds"] or 0.0 for s in sessions), 3))

    def _write(self) -> None:
        from .runlock import writing

        began = time.perf_counter()
        with writing(self.out):
            self._time_facts()
            write_run_files(self.out, self.records, self.facts)
            write_report(self.out, self.records, self.facts, weights=self.weights, weights_table=self.weights_table,
                         weights_shape=self.weights_shape)
        self.last_write = self.last_timing = time.perf_counter()
        took = self.last_write - began
        if self.interval > 0:  # interval=0 asks for every epoch, whatever it costs
            self.gap = max(self.interval, took * (1 - REPORT_TIME_SHARE) / REPORT_TIME_SHARE)

    def on_train_begin(self, state):
        from . import kernels

        self.records = state.history.records
        self.weights = _dense_weights(state.net)
        self.weights_table, self.weights_shape = _inputs_of(state.net)
        self.state = state
        self.train_started = time.perf_counter()
        # what a bit-identical rerun needs besides the config: `--threads N` with this N
        self.facts["threads"] = self.session["threads"] = state.threads
        if "processes" in self.facts:  # a session that trained: on how many processes
            self.session["processes"] = self.facts["processes"]
        self.facts["kernels"] = kernels.backend()

    def on_train_end(self, state):
        if state.thread_changes:  # the BLAS threads followed the machine's load: no rerun repeats it
            self.session["thread_changes"] = [list(change) for change in state.thread_changes]
        if self.train_started is not None:
            self.trained += time.perf_counter() - self.train_started
            self.train_started = None
        self._time_facts()

    def on_batch_end(self, state, batch_size, batch_loss):
        if time.perf_counter() - self.last_timing >= TIMING_INTERVAL:
            self._write_timing()

    def _write_timing(self) -> None:
        """run.json alone (a small file), with this session's training time so far. Not while
        another process (``deltaprop report``) holds the folder's report lock: this runs within
        a step, whose time the BLAS thread governor reads, so it tries again after a later step."""
        from .runlock import writing

        with writing(self.out, wait=0) as free:
            if not free:
                return
            self._time_facts()
            atomic_write_bytes(self.out / "run.json", json.dumps(self.facts, indent=1).encode())
        self.last_timing = time.perf_counter()

    def on_epoch_end(self, state):
        if self.interval > 0 and _ends_run(state):  # :meth:`finish` writes the page: rendered once, not twice
            return
        if time.perf_counter() - self.last_write >= self.gap:
            self._write()

    def take_over(self, facts: dict[str, Any] | None, state) -> None:
        """Finish the report of a run whose epochs were trained by an earlier process (it
        stopped while writing its results): the threads and kernels its run.json recorded are
        kept, with the records and weights of ``state`` (pass that run.json as ``earlier`` too:
        it holds the sessions that trained it)."""
        if isinstance(facts, dict):
            self.facts.update({k: facts[k] for k in ("threads", "kernels") if k in facts})
            if "processes" not in facts:  # an older run.json: how many trained it is not known
                self.facts.pop("processes", None)
            elif _is_count(facts["processes"]) and facts["processes"] >= 1:
                self.facts["processes"] = facts["processes"]
        self.records = state.history.records
        self.weights = _dense_weights(state.net)
        self.weights_table, self.weights_shape = _inputs_of(state.net)
        self.state = state

    def show_saved(self, records) -> None:
        """Show the run as its checkpoint on disk holds it: ``records``, the checkpoint's
        history, and the checkpoint's first-layer weights (none without one), as :func:`rebuild`
        does. A Ctrl-C after an epoch's history record but before its checkpoint leaves the
        network and the history one epoch past what a resume goes on from; a run that diverged
        in its first epoch holds its initial weights, which no file keeps."""
        self.records = list(records)
        self.weights, self.weights_table, self.weights_shape = _first_layer_weights(self.out, checkpoint_first=True)

    def finish(self, status: str, *, evaluation: dict[str, Any] | None = None,
               alerts_at_end: dict[str, Any] | None = None, diverged: dict[str, Any] | None = None) -> Path:
        """The final report: ``status`` is done, diverged, interrupted or failed (a file
        could not be written); ``alerts_at_end``
        (:func:`deltaprop.alerts.standing`) says which alerts still hold at the last epoch;
        ``diverged`` (a diverged run): ``{"epoch", "step", "lr", "message"}``, where and why.
        A finished run records which epoch's weights its model holds (:func:`model_weights`).
        run.json is written last, so one that says done means every file was written; another
        status is written to it first as well, so that a run whose page cannot be written (a
        full disk) still records how it ended. A run.json that cannot be written is left as it
        was, and :func:`rebuild` tells its ``training`` from a run that is training."""
        from .runlock import writing

        self.facts["status"] = status
        if status == "done" and self.state is not None and self.records:
            self.facts["model_weights"] = model_weights(self.state)
        if status == "done" or not _same_model(self.out, self.facts.get("earlier_model")):
            self.facts.pop("earlier_model", None)  # this session wrote the model (or began to)
        if alerts_at_end is not None:
            self.facts["alerts_at_end"] = alerts_at_end
        if diverged is not None:
            self.facts["diverged"] = diverged
        self.facts["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
        with writing(self.out):  # a `deltaprop report` now waits, and then renders these files
            self._time_facts()
            if status != "done":  # the end first, in the smallest file: a full disk may still take it
                atomic_write_bytes(self.out / "run.json", json.dumps(self.facts, indent=1).encode())
            if evaluation is not None:
                atomic_write_bytes(self.out / "evaluation.json", json.dumps(evaluation).encode())
            page = write_report(self.out, self.records, self.facts, evaluation=evaluation, weights=self.weights,
                                weights_table=self.weights_table, weights_shape=self.weights_shape)
            write_run_files(self.out, self.records, self.facts)
        return page


def _ends_run(state) -> bool:
    """Whether the epoch just closed is the run's last: its ``epochs`` or ``steps`` are
    reached, or a callback asked to stop (a stand-in state without them: not known)."""
    finished = getattr(state, "finished", None)
    return callable(finished) and bool(state.stop_training or finished(state.epochs, state.steps))


def earlier_model(facts: dict[str, Any] | None, out: Path) -> dict[str, Any] | None:
    """The model.safetensors an earlier session of a resumed run wrote (``facts``: the
    run.json before the resume): ``{"session", "epoch", "sha256"}`` plus the rest of its
    ``model_weights`` (``session``, counted from 1, and ``epoch`` None where not recorded);
    None where the folder holds no model. Kept in run.json as ``earlier_model`` while the run
    is not done, so its page says whose the model is (the file's SHA-256 tells it is still
    that model)."""
    path = Path(out) / "model.safetensors"
    if not isinstance(facts, dict) or not path.is_file():
        return None
    if isinstance(facts.get("earlier_model"), dict) and facts.get("status") != "done":
        return facts["earlier_model"]  # a resumed session that wrote none, resumed again
    if facts.get("status") != "done":
        return None  # not known whose
    weights = facts.get("model_weights") if isinstance(facts.get("model_weights"), dict) else {}
    epoch = weights.get("epoch") if _is_count(weights.get("epoch")) else None
    return {**weights, "epoch": epoch, "session": len(earlier_sessions(facts)) or None, "sha256": _file_sha256(path)}


def _file_sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _same_model(out: Path, kept) -> bool:
    """Whether ``out``'s model.safetensors is still the file :func:`earlier_model` recorded."""
    if not isinstance(kept, dict) or not isinstance(kept.get("sha256"), str):
        return False
    return _file_sha256(Path(out) / "model.safetensors") == kept["sha256"]


def earlier_sessions(facts: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The sessions a run's run.json records (None: none): its ``sessions`` or, for one
    written before they were kept, one session of its command, start and times. A value of
    the wrong kind is None (unknown), not guessed."""
    if not isinstance(facts, dict):
        return []
    sessions = facts.get("sessions")
    if not isinstance(sessions, list):
        sessions = [facts]
    kept = [_session(s) for s in sessions if isinstance(s, dict)]
    if kept and not any("threads" in s or "thread_changes" in s for s in kept):
        # written before each session kept its threads: the run's record is its last session's
        kept[-1].update(_thread_record(facts))
    return kept


def _session(s: dict[str, Any]) -> dict[str, Any]:
    command, started = s.get("command"), s.get("started")
    return {"command": command if isinstance(command, list) and all(isinstance(c, str) for c in command) else None,
            "started": started if isinstance(started, str) else None,
            "training_seconds": _seconds_or_none(s.get("training_seconds")),
            "seconds": _seconds_or_none(s.get("seconds")), **_thread_record(s), **_processes_record(s)}


def _processes_record(s: dict[str, Any]) -> dict[str, Any]:
    """A session's MPI ``processes``, when recorded as a count of at least 1."""
    value = s.get("processes")
    return {"processes": value} if _is_count(value) and value >= 1 else {}


def recorded_processes(facts: dict[str, Any] | None) -> list[int]:
    """The MPI processes each recorded session of a run trained on, in order (empty: none
    recorded, a run.json written before they were)."""
    return [s["processes"] for s in earlier_sessions(facts) if "processes" in s]


def processes_words(facts: dict[str, Any] | None) -> str | None:
    """The MPI processes a run trained on, in words (``2 MPI processes (...)``; ``1, then 3
    MPI processes, a session each (...)``); None for a run trained on one process, or one
    whose run.json does not say."""
    counts = recorded_processes(facts)
    if not counts or set(counts) == {1}:
        return None
    shared = "--batch-size is the global batch, shared among them"
    if len(set(counts)) == 1:
        return f"{counts[0]} MPI processes ({shared})"
    return f"{', then '.join(map(str, counts))} MPI processes, a session each ({shared})"


def _thread_record(s: dict[str, Any]) -> dict[str, Any]:
    """A session's BLAS threads and ``[step, threads]`` changes, those of the right kind only."""
    def count(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    out: dict[str, Any] = {}
    if count(s.get("threads")) and s["threads"] >= 1:
        out["threads"] = s["threads"]
    changes = s.get("thread_changes")
    if isinstance(changes, list) and changes and all(isinstance(c, list) and len(c) == 2 and all(map(count, c))
                                                     for c in changes):
        out["thread_changes"] = [list(c) for c in changes]
    return out


def _seconds_or_none(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    return float(value) if ok else None


def training_words(facts: dict[str, Any]) -> str:
    """The run's training time as the CLI says it: ``2.4 s of training``, ``… over 2 sessions``."""
    sessions = facts.get("sessions")
    over = f" over {len(sessions)} sessions" if isinstance(sessions, list) and len(sessions) > 1 else ""
    return f"{facts.get('training_seconds', 0.0):.1f} s of training{over}"


def _tabular_inputs(net) -> bool:
    from .plots import _tabular_inputs

    return _tabular_inputs(net)


def _inputs_of(net) -> tuple[bool, tuple[int, ...] | None]:
    """Whether ``net``'s inputs are a table's columns, and the shape of one input it records."""
    return _tabular_inputs(net), getattr(net, "input_shape", None)


def _dense_weights(net) -> np.ndarray | None:
    from .layers import Dense

    return next((layer.W.value for layer in net.layers if isinstance(layer, Dense)), None)


def _square_side(n: int) -> int | None:
    side = math.isqrt(n)
    return side if side * side == n and side >= 4 else None


def png_data_uri(pixels: np.ndarray) -> str:
    """A uint8 image as a ``data:image/png;base64,...`` URI (no file, no request): grey
    ``(h, w)``, or ``(h, w, c)`` of 2 (grey and alpha), 3 (RGB) or 4 (RGBA) channels."""
    from PIL import Image

    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    mode = "L" if pixels.ndim == 2 else {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    buf = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.ndim == 3 and mode == "L" else pixels, mode=mode).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)
