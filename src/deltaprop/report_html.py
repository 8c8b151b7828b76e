"""The HTML of ``report.html``: hand-written SVG charts, tables and inline images.

:func:`render` is a pure function of the run's records, facts, test results and first-layer
weights (see :mod:`deltaprop.report`, which gathers them and writes the file)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .alerts import NO_ALERTS, at_chance, chance_level, standing_of
from .callbacks import metric_text
from .images import image_axes, image_planes, input_shape_words
from .plots import _IMAGE_SIDE as IMAGE_SIDE
from .plots import _partial_last_epoch
from .report import MAX_POINTS, WEIGHT_IMAGES, _square_side, escape, png_data_uri, processes_words

COLORS = {"train": "#1f77b4", "validation": "#d62728", "other": "#2ca02c"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;\
max-width:1100px;padding:0 16px 40px;color:#222}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top}
.facts td:first-child{color:#555;white-space:nowrap}code{font-size:13px;word-break:break-all}
.status{display:inline-block;padding:2px 8px;border-radius:4px;background:#eee}
.status.training{background:#fff3cd}.status.done{background:#d4edda}.status.diverged,.status.interrupted,.status.failed{background:#f8d7da}
.warning{background:#f8d7da;border:2px solid #c00;padding:10px 14px;font-weight:600;margin:12px 0}
.alerts li{margin:6px 0}.alerts .fix{color:#333}.standing.holds{color:#a00;font-weight:600}\
.standing.cleared{color:#070}.rule{font-family:monospace;background:#f3f3f3;padding:0 4px}
.charts,.multiples,.images{display:flex;flex-wrap:wrap;gap:12px}
svg{background:#fff}svg text{font:11px system-ui,sans-serif;fill:#333}svg .grid{stroke:#e5e5e5}
svg .pt{cursor:pointer}svg .pt:hover{r:5}
.cm td{text-align:right;min-width:34px}.cm th{text-align:right}
.cm{display:block;max-width:100%;overflow-x:auto}.cm caption{white-space:nowrap;text-align:left}
@media (max-width:600px){.facts td:first-child{white-space:normal}}
.images figure{margin:0;text-align:center;font-size:12px}
.images img{image-rendering:pixelated;width:56px;height:56px;border:1px solid #ccc}
#tip{position:absolute;background:#222;color:#fff;padding:3px 7px;border-radius:3px;font-size:12px;pointer-events:none}
"""

SCRIPT = """
(function(){var tip=document.getElementById('tip');
document.querySelectorAll('svg .pt').forEach(function(p){
p.addEventListener('mouseenter',function(){tip.textContent=p.getAttribute('data-tip');tip.hidden=false;
var r=p.getBoundingClientRect();tip.style.left=(r.right+window.scrollX+6)+'px';tip.style.top=(r.top+window.scrollY-30)+'px';});
p.addEventListener('mouseleave',function(){tip.hidden=true;});});})();
"""


def render(records, facts: dict[str, Any], *, evaluation=None, weights=None, weights_table: bool = False,
           weights_shape=None, refresh: int | None = None, note: str | None = None) -> str:
    """The whole page. ``refresh``: seconds between reloads (None once the run is over);
    ``note``: a line shown under the header (which epochs of the run's files are shown);
    ``weights_table``: the first layer's inputs are a table's columns (standardised per
    feature), whose weights are not drawn as images, as ``plot weights`` does not;
    ``weights_shape``: the shape of one input the model records (``(14, 14, 4)``), which
    they are drawn in (None: not known, and a square count is drawn square, as a guess)."""
    head = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    body = [
        _header(records, facts, evaluation),
        f'<p class="warning">{escape(note)}.</p>' if note else "",
        _section("alerts", "Alerts", _alerts(records, facts.get("alerts_at_end"), facts.get("status"))),
        _section("curves", "Loss, accuracy and learning rate",
                 _curves(records, _kept_epoch(records, facts), ended=facts.get("status") in _ENDED)),
        _section("diagnostics", "Per-layer diagnostics (probe batch, after each epoch)",
                 _diagnostics(records, ended=facts.get("status") in _ENDED)),
        _section("confusion", f"Confusion matrix ({_scored(evaluation)[1]})",
                 _NO_CLASSES if _no_accuracy(records) else _confusion(evaluation, facts.get("status"), bool(records),
                                                                  facts.get("earlier_model"))),
        _section("weights", "First-layer weights", _weights(weights, table=weights_table, saved=bool(records),
                                                                    shape=weights_shape)),
        _section("wrong", f"Most confidently wrong {_scored(evaluation)[0]} examples",
                 _NO_CLASSES if _no_accuracy(records) else _wrong(evaluation, facts.get("status"), bool(records),
                                                              facts.get("earlier_model"))),
        _section("run", "Run", _run_facts(facts)),
    ]
    title = escape(_run_title(facts.get("config") or {}, layers=False))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{head}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{CSS}</style></head><body>{''.join(body)}"
            f'<div id="tip" role="tooltip" hidden></div><script>{SCRIPT}</script></body></html>\n')


#: The confusion matrix and wrong examples of a run that records no accuracy: none will come.
_NO_CLASSES = ("<p>None: this run records no accuracy (its targets are values, as a regressor's, or independent "
               "labels, not one class a row).</p>")


def _no_accuracy(records) -> bool:
    """Whether the run's epochs record a loss but never an accuracy (a regressor's: its
    targets are values, with no class to count right or wrong)."""
    finite = any(isinstance(r.get("loss"), (int, float)) and math.isfinite(r["loss"]) for r in records)
    return finite and all(r.get("accuracy") is None and r.get("val_accuracy") is None for r in records)


def _section(ident: str, title: str, content: str) -> str:
    return f'<section id="{ident}"><h2>{escape(title)}</h2>{content}</section>'


def _scored(evaluation) -> tuple[str, str]:
    """The rows the test results are of, as (adjective, set): the held-out test set, or
    every training row of a run with none (evaluation.json files written before it was
    recorded are of the test set)."""
    if evaluation and evaluation.get("scored") == "training":
        return "training", "all training rows: no held-out test set"
    return "test", "test set"


def _results_line(evaluation) -> str:
    """The accuracy line in the CLI's words, and its warning for training rows."""
    acc, n = evaluation["accuracy"], evaluation["examples"]
    if _scored(evaluation)[0] == "test":
        return f"<p>test accuracy <b>{acc:.4f}</b> on {n} examples</p>"
    note = evaluation.get("note") or "no held-out test set: this is the accuracy on the training rows, not on unseen data"
    return (f"<p>training accuracy <b>{acc:.4f}</b> on all {n} examples</p>"
            f'<p class="warning">WARNING: {escape(note)}</p>')


def _run_title(cfg: dict, *, layers: bool = True) -> str:
    """``deltaprop run: DATASET, 784 → 50 → 10``, with only the parts the configuration
    records (a folder a ``CheckpointWriter`` of ``fit`` wrote records neither)."""
    parts = [str(cfg.get("dataset") or "")]
    if layers:
        parts.append(" → ".join(map(str, cfg.get("layers") or [])))
    said = ", ".join(part for part in parts if part)
    return f"deltaprop run: {said}" if said else "deltaprop run"


def _header(records, facts, evaluation) -> str:
    status = str(facts.get("status", "unknown"))
    cfg = facts.get("config") or {}
    parts = [f"<h1>{escape(_run_title(cfg))}</h1>",
             f'<p><span class="status {escape(status)}">{escape(status)}</span> {len(records)} epoch(s)']
    kept = _kept_epoch(records, facts)
    if records:  # an epoch a steps limit cut short is said so, as history.png's title says it
        partial = _partial_last_epoch(records, [int(r["epoch"]) for r in records]) or \
            _recorded_partial(facts.get("model_weights"), records[-1])
        cut = "" if partial is None else f", partial: {partial[0]} of its {partial[1]} steps"
        parts.append(f"; last epoch ({records[-1]['epoch']}{cut}): {_epoch_values(records[-1])}")
    n_alerts = sum(len(r.get("alerts") or ()) for r in records)
    at_end = facts.get("alerts_at_end")
    holding = "" if not n_alerts or at_end is None else \
        f", {sum(item['cleared_by'] is None for item in at_end['alerts'])} still holding at the last epoch"
    parts.append(f'; <a href="#alerts">{n_alerts} alert(s){holding}</a></p>')
    if kept is not None:
        record, why = kept
        parts.append(f'<p class="kept">The model holds the weights of epoch {record["epoch"]}, not of the last epoch '
                     f'({records[-1]["epoch"]}): {escape(why)}. Its results below are of that epoch\'s weights; '
                     f"epoch {record['epoch']}: {_epoch_values(record)}.</p>")
    if evaluation and evaluation.get("accuracy") is not None:
        acc = evaluation["accuracy"]
        parts.append(_results_line(evaluation))
        chance = _chance(evaluation)
        if at_chance(acc, chance):  # the alerts name a cause only where a rule fired, as the CLI's warning says
            cleared = bool(n_alerts) and at_end is not None and all(item["cleared_by"] is not None
                                                                    for item in at_end["alerts"])
            why = ("see the alerts" if n_alerts and not cleared else
                   ("every alert cleared before the last epoch, so none names a cause" if cleared
                    else "no alert rule named a cause (too few steps or epochs to judge)")
                   + ": check that the labels belong to the features, then try more epochs or another learning rate")
            parts.append(f'<p class="warning">This network ends at chance accuracy: {acc:.4f} against {chance:.4f} '
                         f"for always answering the most common class of the {_scored(evaluation)[0]} labels. It has "
                         f"not learned; {why}.</p>")
    if status == "training":
        parts.append("<p>The run is training; this page reloads itself every few seconds.</p>")
    if status == "failed":
        parts.append("<p>The run stopped when a file could not be written (the command said which). Its files "
                     "written before are kept; " + ("<code>deltaprop train --resume</code> with its folder continues it "
                                                    "from its last checkpoint" if records else _START_OVER)
                     + " once the cause is fixed.</p>")
    if status == "diverged":
        parts.append(_diverged_words(facts.get("diverged"), facts.get("earlier_model"), saved=bool(records)))
    if status == "interrupted":
        parts.append("<p>The run stopped before it finished; " + (_GO_ON if records else _START_OVER)
                     + ".</p>")
        if facts.get("end_unrecorded"):
            parts.append(f"<p>{END_UNRECORDED}.</p>")
    if status in ("interrupted", "failed") and earlier_model_words(facts.get("earlier_model")):
        parts.append(f"<p>The last session wrote no model: {earlier_model_words(facts['earlier_model'])}.</p>")
    return "<header>" + "".join(parts) + "</header>"


def _recorded_partial(kept, last) -> tuple[int, int] | None:
    """``(batches, epoch_batches)`` where run.json's ``model_weights`` says the model holds
    the last record's epoch stopped inside it; the records alone cannot tell a first epoch
    cut short (no full epoch before it to compare with), which history.png's title reads so."""
    if not isinstance(kept, dict) or kept.get("epoch") != last.get("epoch"):
        return None
    batches, total = kept.get("batches"), kept.get("epoch_batches")
    if all(isinstance(n, int) and not isinstance(n, bool) for n in (batches, total)) and 0 < batches < total:
        return batches, total
    return None


#: How an interrupted run goes on: from its checkpoint, or, with no epoch in its history (none
#: finished, or it was killed before its first checkpoint), over again (so does a failed
#: one), since a resume refuses a folder without a checkpoint.
_GO_ON = ("<code>deltaprop train --resume</code> with its folder continues it from its last checkpoint, or writes "
          "its model and results when its epochs are all trained")
_START_OVER = ("no checkpoint was saved, so there is nothing to resume: start it over from its configuration with "
               "<code>deltaprop train --config FOLDER/config.toml --out FOLDER --overwrite</code>")


#: A run.json that says training while no process trains in the folder (``deltaprop report``).
END_UNRECORDED = ("Its run.json still says training, but no process is training in this folder: the run ended "
                  "without recording how (it was killed, or its last files could not be written, as on a full disk)")


def earlier_model_words(kept) -> str | None:
    """Whose the folder's model.safetensors is while a resumed run's last session wrote
    none (run.json's ``earlier_model``, see :func:`deltaprop.report.earlier_model`)."""
    if not isinstance(kept, dict):
        return None
    session = kept.get("session")
    whose = f"session {session}'s" if isinstance(session, int) else "an earlier session's"
    epoch = kept.get("epoch")
    of = f", with the weights of epoch {epoch}" if isinstance(epoch, int) else ""
    return (f"the folder's model.safetensors (and its evaluation.json) is {whose}{of}, written when that session "
            "finished")


def _diverged_words(diverged, earlier=None, *, saved: bool | None = None) -> str:
    """Where and why a diverged run stopped (run.json's ``diverged``; absent from older
    files) and the fix, in the CLI's words; ``earlier``: run.json's ``earlier_model``;
    ``saved``: an epoch finished, so the folder holds a checkpoint (None: not known)."""
    d = diverged if isinstance(diverged, dict) else {}
    epoch, step, lr, message = (d.get(k) for k in ("epoch", "step", "lr", "message"))
    where = f" at epoch {epoch}, step {step}" if isinstance(epoch, int) and isinstance(step, int) else ""
    rate = f" (it was {lr:g})" if isinstance(lr, (int, float)) and not isinstance(lr, bool) else ""
    why = f" ({escape(_divergence_cause(message))})" if isinstance(message, str) else ""
    again = ("train again from fresh weights with <code>deltaprop train --config FOLDER/config.toml "
             "--lr LOWER --out NEW_FOLDER</code>")
    curves = "The curves stop at the last finished epoch"
    if saved is False and d.get("checkpoint_exploded") is not True:
        curves = "No epoch finished, so there are no curves"
        kept = ("there is no checkpoint to resume, so start from fresh weights: <code>deltaprop train --config "
                "FOLDER/config.toml --lr LOWER --out NEW_FOLDER</code>")
    elif d.get("checkpoint_exploded") is not True:
        kept = "the last good checkpoint, if an epoch finished, is the folder's checkpoint.safetensors"
    else:
        kept = ("the folder's last checkpoint, checkpoint.safetensors, holds weights that had already exploded, too "
                f"large to train on: {again}")
    return (f'<p class="warning">Training diverged{where}: the loss became NaN or infinite{why}. {curves}, '
            f"and {_no_model(earlier)}. Lower the learning rate, <code>--lr</code>{rate}, "
            f"for example 3-10× smaller, or scale the inputs to [0, 1], and train again; {kept}.</p>")


def _divergence_cause(message: str) -> str:
    """The cause the library's divergence message gives (its first sentence, less the
    ``training diverged at epoch E, step S:`` the page says already): the rest of it tells a
    caller of ``fit`` which weights the network in memory keeps and the fix, which the CLI
    saves no model of and the page says itself. A message of another form: whole."""
    lead, colon, rest = message.partition(": ")
    if not (colon and lead.startswith("training diverged at epoch ")):
        return message
    return rest.split(". ", 1)[0]


def _no_model(earlier) -> str:
    words = earlier_model_words(earlier)
    return "no model was written" if words is None else f"this session wrote no model: {words}"


def _epoch_values(record) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {metric_text(record[k])}" for k in ("loss", "accuracy", "val_loss", "val_accuracy")
                     if isinstance(record.get(k), (int, float)))




def _kept_epoch(records, facts) -> tuple[dict, str] | None:
    """The record of the epoch whose weights the model holds and why, when that is not the
    last epoch (run.json's ``model_weights``; absent from older run.json files)."""
    kept = facts.get("model_weights")
    if not isinstance(kept, dict) or kept.get("why") != "early_stopping" or not records:
        return None
    record = next((r for r in records if r["epoch"] == kept.get("epoch")), None)
    if record is None or record is records[-1]:
        return None
    return record, _kept_words(kept)


def _kept_words(kept: dict) -> str:
    """Why the model holds an earlier epoch's weights, as the CLI says it."""
    best = kept.get("best")
    words = f"early stopping kept the weights of epoch {kept.get('epoch')}, the best {kept.get('monitor')}"
    if isinstance(best, (int, float)):
        words += f" ({metric_text(best)})"
    if isinstance(kept.get("stopped_epoch"), int):
        words += f", and stopped the run at epoch {kept['stopped_epoch']}"
    elif "stopped_epoch" in kept:
        words += ", and did not stop the run"
    return words


def _chance(evaluation) -> float | None:
    """:func:`~deltaprop.alerts.chance_level` of the scored rows' labels (the confusion
    matrix's row sums), as the CLI's warning gives it."""
    cm = np.asarray(evaluation.get("confusion") or [[0]], dtype=np.int64)
    counts = cm.sum(axis=1)
    if not counts.sum():
        return None
    return chance_level(np.repeat(np.arange(len(counts)), counts), len(counts))


def _alerts(records, at_end=None, status=None) -> str:
    """Every alert as it fired; with ``at_end`` (run.json's ``alerts_at_end``), whether it
    still holds at the last epoch or cleared before it."""
    alerts = [a for r in records for a in r.get("alerts") or ()]
    if not alerts and status == "diverged":
        return "<p>No alert fired before the run diverged; see above for where it diverged and the fix.</p>"
    if not alerts:
        return f"<p>{escape(NO_ALERTS[0].upper() + NO_ALERTS[1:])}.</p>"
    items = []
    for a in alerts:
        state = standing_of(a, at_end)
        shown = "" if state is None else \
            f' <span class="standing {"holds" if state.startswith("still") else "cleared"}">{escape(state)}.</span>'
        items.append(f'<li><span class="rule">{escape(a["rule"])}</span> epoch {a["epoch"]}: {escape(a["evidence"])}.'
                     f'{shown} <span class="fix">Fix: {escape(a["fix"])}</span></li>')
    return f'<ul class="alerts">{"".join(items)}</ul>'


def _curves(records, kept=None, *, ended: bool = False) -> str:
    """The curves; ``kept`` (:func:`_kept_epoch`): a dashed line at the epoch whose weights
    the model holds; ``ended``: the run is over, so an empty chart has none to come."""
    none = "none recorded" if ended else "no data yet"
    epochs = [int(r["epoch"]) for r in records]
    col = lambda k: [r.get(k) for r in records]  # noqa: E731
    mark = None if kept is None else (int(kept[0]["epoch"]), f"the model's weights: epoch {kept[0]['epoch']}")
    alerted = _alert_epochs(records)
    charts = [
        line_chart("loss", epochs, [("train", col("loss"), COLORS["train"]),
                                    ("validation", col("val_loss"), COLORS["validation"])], mark=mark, empty=none,
                   marks=alerted),
        line_chart("accuracy", epochs, [("train", col("accuracy"), COLORS["train"]),
                                        ("validation", col("val_accuracy"), COLORS["validation"])], mark=mark,
                   empty="none recorded (no classes)" if _no_accuracy(records) else none, marks=alerted),
        _rate_chart(epochs, col("lr"), none, alerted),
    ]
    note = "" if mark is None else f"<p>The dashed line marks epoch {mark[0]}, whose weights the model holds.</p>"
    if any(isinstance(r.get(k), (int, float)) for r in records for k in ("loss", "accuracy")):
        validated = any(isinstance(r.get(k), (int, float)) for r in records for k in ("val_loss", "val_accuracy"))
        note += _TRAIN_MEANS + (_BESIDE_VALIDATION if validated else ".</p>")
    if records and all(r.get("val_loss") is None and r.get("val_accuracy") is None for r in records):
        note += "<p>This run has no validation set (validation split 0), so only the training curves are drawn.</p>"
    note += _not_finite_note(records)
    return note + '<div class="charts">' + "".join(charts) + "</div>"


#: The ratio of the largest learning rate to the smallest above which its chart has a log axis.
RATE_LOG_SPAN = 100.0


def _rate_chart(epochs: list[int], rates: list, empty: str, marks) -> str:
    """The learning rate's chart: on a log axis where every recorded rate is above 0 and
    the largest over the smallest is more than :data:`RATE_LOG_SPAN` (two decades): an
    exponential decay from 0.1 to 1e-5 on a linear axis lies on 0 for its last decades."""
    shown = [float(v) for v in rates if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    log = bool(shown) and min(shown) > 0 and max(shown) > RATE_LOG_SPAN * min(shown)
    return line_chart("learning rate (log scale)" if log else "learning rate", epochs,
                      [("lr", rates, COLORS["other"])], log=log, empty=empty, marks=marks)


#: The curves' columns and their names in words.
_CURVE_NAMES = {"loss": "train loss", "val_loss": "validation loss", "accuracy": "train accuracy",
                "val_accuracy": "validation accuracy", "lr": "learning rate"}


def _not_finite_note(records) -> str:
    """Which epochs' values are NaN or infinite (a diverging run's): no point is drawn for
    them and the line breaks there, which the page says rather than leave a bare gap."""
    found = []
    for key, name in _CURVE_NAMES.items():
        epochs = [r["epoch"] for r in records if isinstance(r.get(key), (float, np.floating)) and not math.isfinite(r[key])]
        if epochs:
            shown = ", ".join(map(str, epochs[:5])) + (f" and {len(epochs) - 5} more" if len(epochs) > 5 else "")
            found.append(f"the {name} at epoch{'s' if len(epochs) > 1 else ''} {shown}")
    if not found:
        return ""
    return (f"<p>Not finite (NaN or infinite): {escape('; '.join(found))}. No point is drawn there, and the "
            "line breaks.</p>")


#: What a train point is: history.csv's loss and accuracy are running means over the epoch, not a
#: second pass over the training rows at its end, as validation is.
_TRAIN_MEANS = ("<p>A train point is the mean over the epoch's batches as it trained: the weights changed after "
                "every step (and dropout, where the run uses it, was on)")
_BESIDE_VALIDATION = (", so early on it can be worse than the validation point, which is of the weights at the "
                      "epoch's end.</p>")


def _alert_epochs(records) -> set[int]:
    """The epochs at which an alert fired: their points are always among those hovered."""
    return {int(r["epoch"]) for r in records if r.get("alerts")}


#: The small multiples: (title, per layer or parameter, key, log scale).
_MULTIPLES = (
    ("activation mean and std", "layer", ("mean", "std"), False),
    ("saturated share (σ' near 0)", "layer", ("saturated",), False),
    ("stuck share (sigmoid/tanh units on one flat end for every probe row)", "layer", ("stuck",), False),
    ("dead share (ReLU units off on every probe row)", "layer", ("dead",), False),
    ("‖δ‖ reaching the layer", "layer", ("delta_norm",), True),
    ("update ratio ‖Δθ‖/‖θ‖ of the epoch's last step", "parameter", ("update_ratio",), True),
    ("‖∇θ‖ (loss gradient)", "parameter", ("grad_norm",), True),
    ("‖θ‖", "parameter", ("norm",), False),
)


def _diagnostics(records, *, ended: bool = False) -> str:
    diags = [(int(r["epoch"]), r.get("diagnostics")) for r in records if r.get("diagnostics")]
    if not diags:
        return "<p>No diagnostics recorded.</p>" if ended else "<p>No diagnostics recorded yet.</p>"
    epochs = [e for e, _ in diags]
    alerted = _alert_epochs(records)
    # each epoch's statistics by layer index or parameter name (the first of a repeated one), read once
    by_ident = {kind: [_by_ident(d, kind) for _, d in diags] for kind in ("layer", "parameter")}
    out = []
    for title, kind, keys, log in _MULTIPLES:
        charts = []
        for ref in diags[-1][1]["layers" if kind == "layer" else "parameters"]:
            ident = ref["index"] if kind == "layer" else ref["name"]
            stats = [epoch.get(ident) for epoch in by_ident[kind]]
            series = []
            for n, key in enumerate(keys):
                values = [None if s is None else s.get(key) for s in stats]
                if any(v is not None for v in values):
                    series.append((key.replace("_", " "), values, COLORS["train"] if n == 0 else COLORS["other"]))
            if series:
                name = f"layer {ident} ({ref['layer']})" if kind == "layer" else ident
                # a log scale has no 0: a layer whose ‖δ‖ or ‖∇θ‖ is 0 (no gradient reaches it) is drawn on a
                # linear one, at 0, not left out as if nothing were recorded
                positive = all(v is None or not math.isfinite(v) or v > 0 for _, values, _ in series for v in values)
                charts.append(line_chart(name, epochs, series, log=log and positive, width=250, height=150,
                                         marks=alerted))
        if charts:
            out.append(f"<h3>{escape(title)}</h3><div class=\"multiples\">{''.join(charts)}</div>")
    return "".join(out)


def _by_ident(d, kind) -> dict:
    """An epoch's layer (by index) or parameter (by name) statistics; of a repeated one, the first."""
    found: dict = {}
    for s in d["layers" if kind == "layer" else "parameters"]:
        found.setdefault(s["index"] if kind == "layer" else s["name"], s)
    return found


def line_chart(title: str, x: list[int], series, *, log: bool = False, width: int = 360, height: int = 220,
               mark: tuple[int, str] | None = None, empty: str = "no data yet", marks=()) -> str:
    """An SVG line chart of ``series`` (label, values with None gaps, colour) over epochs ``x``;
    the points shown on hover (an SVG title and a ``data-tip``) are every epoch's up to
    MAX_POINTS epochs, else evenly thinned ones, always with the first, the last, each series'
    lowest and highest, ``mark``'s and ``marks``' epochs. ``mark``: (epoch, words) for a dashed
    vertical line; ``marks``: other epochs to hover (an alert's); ``empty``: the words shown
    where no value is there."""
    left, right, top, bottom = 54, 10, 34, 28
    fy = (lambda v: math.log10(v)) if log else float
    with np.errstate(invalid="ignore"):  # None is NaN here, and a usable value is a finite one (> 0 on a log scale)
        usable = [np.flatnonzero(np.isfinite(v) & (v > 0 if log else True))
                  for v in (np.array(values, dtype=np.float64) for _, values, _ in series)]
    ys = [y for (_, values, _), index in zip(series, usable) for y in map(fy, [values[i] for i in index.tolist()])]
    if not ys:
        return (f'<svg class="chart" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
                f'<text x="8" y="16">{escape(title)}: {escape(empty)}</text></svg>')
    y0, y1 = _y_range(ys, log)
    # one epoch: centred in a range of its own, not at the left end of an axis running on to the next epoch
    x0, x1 = (min(x), max(x)) if max(x) > min(x) else (min(x) - 0.5, min(x) + 0.5)
    # margins that hold the longest y label and half the last epoch's, centred on the axis's end, whole
    labels = _y_ticks(y0, y1, log)
    left = max(left, math.ceil(max(_text_px(text) for _, text in labels)) + 8)
    right = max(right, math.ceil(_text_px(str(math.floor(x1))) / 2) + 2)
    sx = lambda v: left + (v - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    sy = lambda v: top + (1 - _fraction(fy(v), y0, y1)) * (height - top - bottom)  # noqa: E731
    columns = (left + (np.array(x, dtype=np.float64) - x0) / (x1 - x0) * (width - left - right)).astype(np.int64)
    parts = [f'<svg class="chart" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="14" font-weight="600">{escape(title)}</text>']
    parts += _axes(x0, x1, labels, left, right, top, bottom, width, height)
    if mark is not None and x0 <= mark[0] <= x1:
        parts.append(f'<line class="mark" x1="{sx(mark[0]):.1f}" y1="{top}" x2="{sx(mark[0]):.1f}" '
                     f'y2="{height - bottom}" stroke="#555" stroke-dasharray="4 3"><title>{escape(mark[1])}</title></line>')
    # evenly thinned, the first and the last epoch always among them (at most MAX_POINTS), and the
    # marked epochs (the dashed line's, an alert's) with each series' lowest and highest point
    step = max(1, math.ceil((len(x) - 1) / (MAX_POINTS - 1)))
    shown = {*marks, *(() if mark is None else (mark[0],))}
    marked = {i for i, xi in enumerate(x) if xi in shown} if shown else set()
    drawn = [(item, index) for item, index in zip(series, usable) if len(index)]  # no legend for an empty one
    for n, ((label, values, color), index) in enumerate(drawn):
        for run in np.split(index, np.flatnonzero(np.diff(index) != 1) + 1):  # the unbroken stretches
            keep = _columns(columns[run], [fy(values[i]) for i in run.tolist()])
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="'
                         + " ".join(f"{sx(x[i]):.1f},{sy(values[i]):.1f}" for i in run[keep].tolist()) + '"/>')
        ok = set(index.tolist())
        if step > 1:  # the first of equal ones, as min and max give them
            at = np.array([values[i] for i in index.tolist()], dtype=np.float64)
            extremes = {int(index[np.argmin(at)]), int(index[np.argmax(at)])}
        else:
            extremes = set()
        for i in sorted({*range(0, len(x), step), len(x) - 1, *marked, *extremes}):
            if i in ok:
                tip = escape(f"{label}, epoch {x[i]}: {values[i]:.5g}")
                parts.append(f'<circle class="pt" cx="{sx(x[i]):.1f}" cy="{sy(values[i]):.1f}" r="3" fill="{color}" '
                             f'data-tip="{tip}"><title>{tip}</title></circle>')
        parts.append(f'<text x="{left + 4 + 90 * n}" y="28" fill="{color}">— {escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _y_range(ys: list[float], log: bool) -> tuple[float, float]:
    """The y axis's ends: the values' lowest and highest (log10 of them on a log axis); for a
    constant, a range around it within float64's finite numbers, from 0 at most for values of
    0 or more (a share of dead units at 0 every epoch, not labelled -0.04 below it)."""
    y0, y1 = min(ys), max(ys)
    if y1 - y0 >= 1e-12 * max(1.0, abs(y1)):
        return y0, y1
    if log:
        return y0 - 0.5, y1 + 0.5
    return (max(y0 - max(abs(y0) * 0.1, 0.05), 0.0 if y0 >= 0 else -_LARGEST),
            min(y1 + max(abs(y1) * 0.1, 0.05), _LARGEST))


def _columns(column: np.ndarray, ys: list[float]) -> np.ndarray:
    """Which points of an unbroken run draw its line to the pixel (their places in it, in
    order), from each point's pixel ``column`` and value ``ys``: where more than one falls in
    a column, only the column's first, lowest, highest and last (the first of equal ones), so
    no spike is lost; a run of at most 4 points a column is drawn through every point."""
    n = len(column)
    starts = np.flatnonzero(np.concatenate(([True], column[1:] != column[:-1])))
    if n <= 4 * len(starts):
        return np.arange(n)
    values = np.array(ys, dtype=np.float64)
    group = np.cumsum(np.isin(np.arange(n), starts)) - 1
    kept = [starts, np.append(starts[1:] - 1, n - 1)]
    for extreme in (np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)):
        at = np.flatnonzero(values == extreme[group])
        kept.append(at[np.unique(group[at], return_index=True)[1]])
    return np.unique(np.concatenate(kept))


def _axes(x0, x1, labels, left, right, top, bottom, width, height) -> list[str]:
    out = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>']
    for at, label in labels:
        yy = top + (1 - at) * (height - top - bottom)
        out.append(f'<line class="grid" x1="{left}" y1="{yy:.1f}" x2="{width - right}" y2="{yy:.1f}"/>'
                   f'<text x="{left - 4}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
    # as many intervals (up to 5) as labels of the widest epoch fit side by side: 20000 five times in
    # a small multiple's 176 px ran into one another
    wide = _text_px(str(math.floor(x1))) + 8
    intervals = max(1, min(5, int((width - left - right) // wide)))
    sx = lambda t: left + (t - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    for t in _epoch_ticks(x0, x1, intervals, sx):
        xx = sx(t)
        out.append(f'<text x="{xx:.1f}" y="{height - bottom + 14}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 2}" text-anchor="middle">epoch</text>')
    return out


def _epoch_ticks(x0: float, x1: float, intervals: int, sx) -> list[int]:
    """Whole epochs to label on an axis from ``x0`` to ``x1``: the multiples of the smallest
    step of 1, 2 or 5 × 10^k that gives at most ``intervals + 1`` labels, evenly spaced (1, 3,
    5, 6, 8, 10 read as a broken axis); the first and the last epoch are added, room left, where
    they lie at least ¾ of a step beyond and their labels do not run into their neighbours'
    (``sx``: epoch to pixels). A step's labels are counted before they are listed."""
    first, last = math.ceil(x0), math.floor(x1)
    if last <= first:
        return [first] if x0 <= first <= x1 else []

    def beyond(end: int, tick: int, step: int) -> bool:
        return (abs(end - tick) >= 0.75 * step
                and abs(sx(end) - sx(tick)) >= (_text_px(str(end)) + _text_px(str(tick))) / 2 + 6)

    for step in (m * 10**k for k in range(12) for m in (1, 2, 5)):
        lowest = -(-first // step) * step
        if lowest > last:
            return [first, last]
        if (last - lowest) // step + 1 > intervals + 1:
            continue
        ticks = list(range(lowest, last + 1, step))
        if ticks[0] != first and len(ticks) <= intervals and beyond(first, ticks[0], step):
            ticks.insert(0, first)
        if ticks[-1] != last and len(ticks) <= intervals and beyond(last, ticks[-1], step):
            ticks.append(last)
        return ticks
    return [first, last]


#: float64's largest finite number: a constant's axis is padded within it.
_LARGEST = float(np.finfo(np.float64).max)


def _fraction(v: float, y0: float, y1: float) -> float:
    """Where ``v`` lies from ``y0`` (0) to ``y1`` (1), ``(v − y0)/(y1 − y0)``; halved first
    where ``y1 − y0`` overflows (values either side of ±9e307, a diverging run's)."""
    if math.isfinite(y1 - y0):
        return (v - y0) / (y1 - y0)
    return (v / 2 - y0 / 2) / (y1 / 2 - y0 / 2)


#: The decades (log10) of a log axis's round values: normal float64 numbers, 1e-307 to 1e308.
_LOG_LIMITS = (-307.0, 308.0)


def _y_ticks(y0: float, y1: float, log: bool) -> list[tuple[float, str]]:
    """The y axis's ticks inside ``[y0, y1]`` (in log10 units on a log scale), bottom first,
    as (fraction of the axis's height, label): 3 to 6 round values, multiples of 1, 2, 2.5
    or 5 × 10^k; on a log scale whole decades, or 1, 2 and 5 × 10^k within two decades;
    where fewer than 3 round values fall inside, the 5 evenly spaced values (of any finite
    range: ends near float64's limits, subnormal values on a log scale, included)."""
    lo, hi = (max(y0, _LOG_LIMITS[0]), min(y1, _LOG_LIMITS[1])) if log else (y0, y1)
    values = next((c for c in (_log_candidates(lo, hi) if log else [_round_steps(lo, hi)]) if 3 <= len(c) <= 6), None)
    if values is not None:
        digits = _label_digits(values)
        return [(_fraction(math.log10(v) if log else v, y0, y1), _tick_text(v, digits)) for v in values]
    at = [k / 4 for k in range(5)]
    ts = [y0 * (1 - f) + y1 * f for f in at]  # no y1 − y0, which overflows for ends near ±1.8e308
    if not log:
        digits = _label_digits(ts)
        return [(f, _tick_text(t, digits)) for f, t in zip(at, ts)]
    inside = all(_LOG_LIMITS[0] <= t <= _LOG_LIMITS[1] for t in ts)
    digits = _label_digits([10.0**t for t in ts]) if inside else 3
    return [(f, _power_text(t, digits)) for f, t in zip(at, ts)]


def _log_candidates(lo: float, hi: float) -> list[list[float]]:
    """A log axis's round values from ``10^lo`` to ``10^hi`` (``lo``, ``hi`` within
    :data:`_LOG_LIMITS`), by preference: whole decades; 1, 2 and 5 × 10^k; even steps."""
    if not lo < hi:
        return []
    decades = [10.0**t for t in _round_steps(lo, hi, whole=True)]
    one_two_five = [m * 10.0**k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
    return [decades, [v for v in one_two_five if lo - 1e-9 <= math.log10(v) <= hi + 1e-9],
            [v for v in _round_steps(10.0**lo, 10.0**hi) if v > 0]]


def _label_digits(values: list[float]) -> int:
    """As many significant digits (3 to 12) as tell ``values`` apart: 0.4169 and 0.417, not 0.417 twice."""
    gap = min((abs(b - a) for a, b in zip(values, values[1:])), default=0.0)
    top = max(map(abs, values), default=0.0)
    if not (0 < gap < math.inf and 0 < top < math.inf):
        return 3
    return max(3, min(12, math.floor(math.log10(top)) - math.floor(math.log10(gap)) + 1))


def _round_steps(lo: float, hi: float, *, whole: bool = False) -> list[float]:
    """The multiples in ``[lo, hi]`` of the smallest round step (1, 2, 2.5 or 5 × 10^k; whole
    numbers only where ``whole``) that gives at most 6 of them."""
    span = hi - lo
    if not (math.isfinite(span) and span / 6 > 0):
        return []
    k = math.floor(math.log10(span / 6))
    for e in (k, k + 1, k + 2):
        for m in (1, 2, 2.5, 5):
            step = m * 10.0**e
            if whole and (step < 1 or step != int(step)):
                continue
            first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
            if last - first + 1 <= 6:
                # k·step rounded to the step's own digits: 0.30000000000000004 is 0.3
                digits = max(0, -math.floor(math.log10(step)) + 1)
                return [round(i * step, digits) for i in range(first, last + 1)]
    return []


def _power_text(t: float, digits: int) -> str:
    """``10^t`` as :func:`_tick_text` writes it, also beyond float64's normal numbers (1e-320, 1e+309)."""
    if _LOG_LIMITS[0] <= t <= _LOG_LIMITS[1]:
        return _tick_text(10.0**t, digits)
    exponent = math.floor(t)
    mantissa = round(10.0 ** (t - exponent), digits - 1)
    if mantissa >= 10:
        mantissa, exponent = 1.0, exponent + 1
    return f"{f'{mantissa:.{digits - 1}f}'.rstrip('0').rstrip('.')}e{exponent:+d}"


def _tick_text(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, short: no trailing zeros, and below 0.001
    or from 100000 on as 1.45e-4 or 2e+37 (as the served page's charts label theirs), not
    0.000145; 0, not -0."""
    rounded = float(f"{value:.{digits}g}") + 0.0
    if not math.isfinite(rounded):  # float64's largest, 1.797e308, rounds up past it: written 1.8e+308 all the same
        rounded = value
    if rounded != 0 and not 1e-3 <= abs(rounded) < 1e5:
        mantissa, exponent = f"{rounded:.{digits - 1}e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.') if '.' in mantissa else mantissa}e{int(exponent):+d}"
    return f"{rounded:.{digits + 6}g}"


#: A character's width in px in the charts' 11 px labels, as DejaVu Sans draws them (the
#: widest of the usual system fonts: 7 px a digit); the margins are fitted to them.
_CHAR_PX = {".": 3.5, "-": 4.5, "+": 9.5}


def _text_px(text: str) -> float:
    return sum(_CHAR_PX.get(c, 7.0) for c in text)


#: run.json statuses of a run that is over (no epoch, diagnostics or result is to come).
_ENDED = ("done", "diverged", "interrupted", "failed")


def _not_scored(status, saved: bool = True, earlier=None) -> str:
    """Why a run has no test results: it has not ended yet, or it ended before it was scored
    (``saved``: it kept an epoch, in its checkpoint; ``earlier``: run.json's ``earlier_model``)."""
    words = earlier_model_words(earlier)
    if status in _ENDED and words is not None:
        then = "" if status == "diverged" else ("; a <code>deltaprop train --resume</code> that finishes the run "
                                                "scores its own model")
        return (f"<p>None for the last session: it {'diverged' if status == 'diverged' else f'stopped ({status})'} "
                f"and wrote no model, so it scored none; {words}{then}.</p>")
    if status == "diverged":
        return "<p>None: the run diverged, so it wrote no model and scored none.</p>"
    if status in ("interrupted", "failed") and not saved:
        return f"<p>None: the run stopped ({status}) before its first epoch ended, so it saved no model to score.</p>"
    if status in ("interrupted", "failed"):
        return (f"<p>None: the run stopped ({status}) before its end, where the test set is scored; a "
                "<code>deltaprop train --resume</code> that finishes it scores it, and <code>deltaprop evaluate</code> "
                "scores its checkpoint.safetensors meanwhile.</p>")
    return "<p>Computed on the test set when training ends.</p>"


def _confusion(evaluation, status=None, saved: bool = True, earlier=None) -> str:
    if not evaluation or not evaluation.get("confusion"):
        return _not_scored(status, saved, earlier)
    cm = np.asarray(evaluation["confusion"], dtype=np.int64)
    names = evaluation.get("class_names") or [str(i) for i in range(len(cm))]
    rows = cm.sum(axis=1, keepdims=True)
    share = cm / np.maximum(rows, 1)
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = []
    for i, name in enumerate(names):
        cells = "".join(
            f'<td style="background:rgba(31,119,180,{share[i, j]:.2f});color:{"#fff" if share[i, j] > 0.5 else "#222"}" '
            f'title="true {escape(name)}, predicted {escape(names[j])}: {cm[i, j]}">{cm[i, j]}</td>'
            for j in range(len(names))
        )
        body.append(f"<tr><th>{escape(name)}</th>{cells}</tr>")
    return (f'<table class="cm"><caption>rows: true class; columns: predicted class</caption>'
            f"<tr><th></th>{head}</tr>{''.join(body)}</table>")


def _weights(W, *, table: bool = False, saved: bool = True, shape=None) -> str:
    """The first Dense layer's weights as images; ``saved``: the run kept an epoch (a page of
    a run stopped before its first epoch ended shows no weights, having saved none);
    ``shape``: the shape of one input the model records, which they are drawn in."""
    if W is None:
        return "<p>No Dense layer.</p>" if saved else (
            "<p>No weights were saved: the run stopped before its first epoch ended.</p>")
    if shape is not None:
        return _shaped_weights(W, shape)
    side = _square_side(W.shape[0])
    if table and side is not None:  # as plot weights: 64 columns of a table, each in its own units, make no 8x8 picture
        return (f"<p>The inputs are a table's {W.shape[0]} columns (standardised one by one), not an image, so the "
                "weights are not drawn.</p>")
    # a count of no square (28x20 images: 560, standardised one by one as any such inputs are) is said so, not
    # called a table's columns; 16 bits or 25 columns of a table are no 4x4 or 5x5 picture
    if side is None or side < IMAGE_SIDE:
        return (f"<p>The inputs are not square images of at least {IMAGE_SIDE}×{IMAGE_SIDE} ({W.shape[0]} features), "
                "so the weights are not drawn.</p>")
    figs = []
    for j in range(min(W.shape[1], WEIGHT_IMAGES)):
        w = W[:, j].astype(np.float64)
        scale = float(np.max(np.abs(w))) or 1.0
        pixels = np.clip(127.5 + 127.5 * w / scale, 0, 255).astype(np.uint8).reshape(side, side)
        figs.append(f'<figure><img alt="unit {j}" src="{png_data_uri(pixels)}"><figcaption>unit {j}</figcaption></figure>')
    note = f"<p>Each hidden unit's incoming weights as a {side}×{side} image (grey 0, white positive, black negative), "
    note += "each scaled to its own largest |w|: its shades compare its weights, not those of two units"
    note += f"; the first {WEIGHT_IMAGES} of {W.shape[1]}.</p>" if W.shape[1] > WEIGHT_IMAGES else ".</p>"
    return note + _GUESSED_SHAPE.format(n=W.shape[0], side=side) + f'<div class="images">{"".join(figs)}</div>'


_GUESSED_SHAPE = ("<p>The model file does not record the shape of its inputs, so drawing its {n} inputs as a "
                  "{side}×{side} grey image is a guess (images of another shape, 14×14 of 4 channels say, hold as many "
                  "values). A model records it when trained by <code>deltaprop train</code> on a named image dataset, "
                  "an .npz file of images or with <code>--input-shape H,W[,C]</code> (a CSV file's rows of pixels), "
                  "by <code>fit</code> on images given as such (x of shape (n, h, w) or "
                  "(n, h, w, c)), or saved with <code>save(net, path, input_shape=(h, w, c))</code>.</p>")


def _shaped_weights(W, shape) -> str:
    """The weights into each unit drawn in the shape of one input the model records: an
    ``h×w`` image per channel, one scale a unit (its largest |w| over every channel)."""
    axes = image_axes(shape)
    words = input_shape_words(shape)
    if axes is None:
        return f"<p>The inputs are {escape(words)}, not an image, so the weights are not drawn.</p>"
    h, w, c, first = axes
    figs = []
    for j in range(min(W.shape[1], WEIGHT_IMAGES)):
        unit = W[:, j].astype(np.float64)
        scale = float(np.max(np.abs(unit))) or 1.0
        levels = np.clip(127.5 + 127.5 * unit / scale, 0, 255).astype(np.uint8)
        planes = image_planes(levels, shape)
        imgs = "".join(f'<img alt="unit {j}{f", channel {k}" if c > 1 else ""}" src="{png_data_uri(p)}">'
                       for k, p in enumerate(planes))
        figs.append(f"<figure>{imgs}<figcaption>unit {j}</figcaption></figure>")
    each = f"a {h}×{w} image" if c == 1 else f"{c} {h}×{w} images, one a channel (from channel 0)"
    note = f"<p>The inputs are {escape(words)}. Each hidden unit's incoming weights as {each} (grey 0, white "
    note += "positive, black negative), each unit scaled to its own largest |w|: its shades compare its weights, not "
    note += "those of two units"
    note += f"; the first {WEIGHT_IMAGES} of {W.shape[1]}.</p>" if W.shape[1] > WEIGHT_IMAGES else ".</p>"
    return note + f'<div class="images">{"".join(figs)}</div>'


def _wrong(evaluation, status=None, saved: bool = True, earlier=None) -> str:
    if not evaluation or "wrong" not in evaluation:
        return _not_scored(status, saved, earlier)
    rows = _scored(evaluation)[0]
    if not evaluation["wrong"]:
        return f"<p>The network got every {rows} example right.</p>"
    names = evaluation.get("class_names") or []
    label = lambda c: names[c] if c < len(names) else str(c)  # noqa: E731
    figs = []
    in_file = any("row" in ex for ex in evaluation["wrong"])  # a data file's rows, by their number in it
    for ex in evaluation["wrong"]:
        where = f"row {ex['row']}" if "row" in ex else f"#{ex['index']}"
        shown = f"{ex['confidence']:.2f}" if "score" not in ex else f"output {ex['score']:.4g}"
        caption = f"{where}: true {label(ex['label'])}, predicted {label(ex['predicted'])} ({shown})"
        img = ""
        if ex.get("pixels"):
            img = f'<img alt="{rows} example {ex["index"]}" src="{png_data_uri(_example_image(ex))}">'
        figs.append(f"<figure>{img}<figcaption>{escape(caption)}</figcaption></figure>")
    note = ("<p>Rows are numbered as in the data file, from 0 (the first row under any header), "
            "as pandas numbers them.</p>" if in_file else "")
    if any("score" in ex for ex in evaluation["wrong"]):  # as deltaprop predict shows them
        note += ("<p>The network's outputs are scores, not probabilities: each example shows its output for the "
                 "predicted class (of a single output, that output), ranked by how far it chose that class.</p>")
    return note + f'<div class="images">{"".join(figs)}</div>'


def _example_image(ex) -> np.ndarray:
    """A wrong example's pixels as the image to show: in the shape it records (its colours,
    channels last), else square grey (a file written before shapes were recorded)."""
    pixels = np.asarray(ex["pixels"], dtype=np.uint8)
    if ex.get("shape") is None:
        side = _square_side(len(pixels))
        return pixels.reshape(side, side)
    h, w, c, first = image_axes(ex["shape"])
    image = pixels.reshape(c, h, w).transpose(1, 2, 0) if first else pixels.reshape(h, w, c)
    return image[:, :, 0] if c == 1 else image


def _seconds(value) -> str | None:
    return f"{value:.1f} s" if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def model_weights_words(kept) -> str | None:
    """Which epoch's weights a finished run's model holds (run.json's ``model_weights``), as
    the report's run table and ``deltaprop info`` say it; None when not recorded."""
    if not isinstance(kept, dict) or not isinstance(kept.get("epoch"), int):
        return None
    if kept.get("why") == "early_stopping":
        return f"epoch {kept['epoch']} ({_kept_words(kept)})"
    batches, total = kept.get("batches"), kept.get("epoch_batches")
    if all(isinstance(n, int) and not isinstance(n, bool) for n in (batches, total)) and 0 < batches < total:
        return f"epoch {kept['epoch']}, partial: {batches} of its {total} batches (the last epoch trained, stopped inside it)"
    return f"epoch {kept['epoch']} (the last epoch trained)"


def _command(command) -> str | None:
    return " ".join(map(str, command)) if isinstance(command, list) else command


def _sessions(facts) -> list:
    sessions = facts.get("sessions")
    return [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []


def _over_sessions(facts, key: str) -> str | None:
    """A time summed over the run's sessions (run.json's ``key``), with their count and each one's."""
    total = _seconds(facts.get(key))
    sessions = _sessions(facts)
    if total is None or len(sessions) < 2:
        return total
    each = ", ".join(_seconds(s.get(key)) or "unknown" for s in sessions)
    return f"{total} over {len(sessions)} sessions ({each})"


def _resumes(facts) -> list[tuple[str, Any]]:
    """One row per session after the first (a ``train --resume``): its start and command."""
    return [(f"session {n}", f"{s.get('started') or 'unknown start'}: {_command(s.get('command')) or 'unknown command'}")
            for n, s in enumerate(_sessions(facts)[1:], start=2)]


def _run_facts(facts) -> str:
    versions = facts.get("versions") or {}
    data = facts.get("data") or {}
    rows = [
        ("status", facts.get("status")),
        ("model weights", model_weights_words(facts.get("model_weights"))),
        ("model.safetensors", earlier_model_words(facts.get("earlier_model"))),
        ("command" if len(_sessions(facts)) < 2 else "command (session 1)", _command(facts.get("command"))),
        *_resumes(facts),
        ("trained on", processes_words(facts)),  # the command does not show mpiexec
        ("seed", facts.get("seed")),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
        ("data source", data.get("source")),
        ("data SHA-256", data.get("file_sha256")),  # the file's bytes: sha256sum FILE
        ("split arrays SHA-256 (dtype, shape, bytes as loaded)", data.get("arrays_sha256", data.get("sha256"))),
        ("started", facts.get("started")),
        ("finished", facts.get("finished")),
        ("training time", _over_sessions(facts, "training_seconds")),
        ("wall time", _over_sessions(facts, "seconds")),
    ]
    table = "".join(f"<tr><td>{escape(k)}</td><td><code>{escape(v)}</code></td></tr>" for k, v in rows if v is not None)
    cfg = facts.get("config") or {}
    config = "".join(f"<tr><td>{escape(k)}</td><td><code>{escape(v)}</code></td></tr>" for k, v in cfg.items())
    return f'<table class="facts">{table}</table><h3>Configuration</h3><table class="facts">{config}</table>'
