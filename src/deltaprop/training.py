"""The training loop: full-batch gradient descent and shuffled mini-batch SGD.

Three parts, each with one job:

* a **batch source** (:class:`BatchSource`) fixes an epoch's batches and gathers each into
  reused buffers: the whole set every step (:class:`FullBatch`, seed 000's gradient
  descent), or batches of ``batch_size`` in a fresh random order every epoch, the last one
  holding the remainder (:class:`MiniBatches`, seed 001; :class:`LazyMiniBatches` reads
  them from disk);
* **one training step** (:meth:`Loop.train_step`): forward (keeping what backward needs),
  loss, backward (``δ`` layer by layer, filling every ``Parameter.grad``), then the
  gradient hook (every callback's :meth:`~deltaprop.callbacks.Callback.on_gradients`, which
  may read or change the gradients, e.g. average them across processes), then one
  optimizer update;
* the **epoch's bookkeeping** (:meth:`Loop.run_epoch`, :meth:`Loop.close_epoch`): the
  learning rate from the schedule, running loss and accuracy, validation, the history
  record and the callbacks.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import math
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _checks, fpenv, vector_blas
from .atomic import atomic_write_bytes
from .callbacks import Callback, DiagnosticsRecorder, overrides
from .errors import ConfigError, DataError, ShapeError, StateError, TrainingDivergedError
from .losses import BinaryCrossEntropy, Loss
from .network import Network, predictions_from_outputs
from .optimizers import Optimizer
from .schedules import (CosineAnnealing, Schedule, check_anneals, schedule_for_run, schedule_from_config,
                        warn_idle_after_t_max, warn_stalled_by_decay)

HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "steps")


class History:
    """Per-epoch records: ``loss`` and ``accuracy`` (running means over the epoch's
    batches), ``val_loss`` and ``val_accuracy`` (after the epoch), ``lr``, ``seconds``
    and the cumulative ``steps``. ``history["loss"]`` is the list of one column;
    accuracies are None for regression, validation entries None without validation data."""

    #: Which alerts still hold at the run's last epoch, as ``fit`` judged them when it returned
    #: (:func:`deltaprop.alerts.standing`: ``{"last_epoch": N, "alerts": [{"rule", "layer",
    #: "epoch", "cleared_by"}]}``, run.json's ``alerts_at_end``); None where no check judged
    #: them (``diagnostics=False``, a history read from a file or built from records).
    alerts_at_end: dict[str, Any] | None = None

    def __init__(self, records: Iterable[dict[str, Any]] = ()):
        self.records: list[dict[str, Any]] = [dict(r) for r in records]
        self._kept: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (record, its copy), see snapshot

    def snapshot(self) -> list[dict[str, Any]]:
        """A copy of each record, for a checkpoint: the later epochs change none of them.
        Only the last record can still change (the callbacks of its epoch fill it in), so
        the copies of the records before it are made once and reused by later snapshots:
        a checkpoint each epoch would otherwise copy the whole history each epoch, a cost
        that grows with the square of the epochs."""
        records, kept = self.records, self.__dict__.setdefault("_kept", [])  # (unpickled: not there)
        if kept and (len(kept) >= len(records) or records[len(kept) - 1] is not kept[-1][0]
                     or records[0] is not kept[0][0]):
            kept.clear()  # the records were replaced, not appended to
        kept.extend((r, dict(r)) for r in records[len(kept):-1])
        return [copy for _, copy in kept] + [dict(r) for r in records[len(kept):]]

    def append(self, record: dict[str, Any]) -> None:
        self.records.append({k: record.get(k) for k in HISTORY_KEYS})

    def __getitem__(self, key: str) -> list:
        if key not in HISTORY_KEYS:
            raise KeyError(f"{key!r} is not a history column; columns: {', '.join(HISTORY_KEYS)}")
        return [r.get(key) for r in self.records]

    def __getattr__(self, key: str) -> list:
        if key in HISTORY_KEYS:
            return self[key]
        raise AttributeError(key)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def alerts(self) -> list:
        """Every :class:`~deltaprop.alerts.Alert` raised so far, in the order they fired."""
        from .alerts import Alert

        return [Alert.from_dict(a) for r in self.records for a in r.get("alerts") or ()]

    @property
    def standing_alerts(self) -> list | None:
        """The :attr:`alerts` that still hold at the run's last epoch (the others cleared
        before it: :attr:`alerts_at_end` gives the epoch each cleared by); None where
        :attr:`alerts_at_end` is."""
        if self.alerts_at_end is None:
            return None
        held = {(a["rule"], a["layer"], a["epoch"]) for a in self.alerts_at_end["alerts"] if a["cleared_by"] is None}
        return [a for a in self.alerts if (a.rule, a.layer, a.epoch) in held]

    @property
    def diagnostics(self) -> list:
        """Per epoch, its :class:`~deltaprop.diagnostics.Diagnostics` (None where not recorded)."""
        from .diagnostics import Diagnostics

        return [Diagnostics.from_dict(r["diagnostics"]) if r.get("diagnostics") else None for r in self.records]

    def as_dict(self) -> dict[str, list]:
        return {k: self[k] for k in HISTORY_KEYS}

    def write_csv(self, path) -> Path:
        """Write the records as ``history.csv`` (one row per epoch, the columns of
        :data:`HISTORY_KEYS`, empty cells for None), atomically."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(HISTORY_KEYS)
        for record in self.records:
            writer.writerow(["" if record.get(k) is None else record.get(k) for k in HISTORY_KEYS])
        return atomic_write_bytes(path, buf.getvalue().encode())

    @classmethod
    def read_csv(cls, path) -> "History":
        """The history in a file written by :meth:`write_csv`; :class:`DataError` naming the
        line and column of anything that is not a number."""
        from .bounded import MAX_TEXT_BYTES, read_text

        path = Path(path)
        text = read_text(path, max_bytes=MAX_TEXT_BYTES, what="history file", error=DataError, allow_empty=True)
        rows = list(csv.reader(text.splitlines()))
        if not rows or [c.strip() for c in rows[0]][: len(HISTORY_KEYS)] != list(HISTORY_KEYS):
            raise DataError(f"{path}: not a deltaprop history.csv (its header should be {','.join(HISTORY_KEYS)})")
        records = []
        for line, row in enumerate(rows[1:], start=2):
            record: dict[str, Any] = {}
            for key, cell in zip(HISTORY_KEYS, row):
                try:
                    record[key] = None if cell == "" else float(cell)
                except ValueError:
                    raise DataError(f"{path}, line {line}: {key} is {cell!r}, not a number") from None
            records.append(record)
        return cls(records)

    def __repr__(self) -> str:
        if not self.records:
            return "History(0 epochs)"
        last = self.records[-1]
        keys = ("loss", "accuracy", "val_loss", "val_accuracy")
        shown = ", ".join(f"{k}={last[k]:.4g}" for k in keys if last.get(k) is not None)
        return f"History({len(self)} epochs; last: {shown})"


@dataclass
class EpochProgress:
    """How far an epoch has come, enough to finish it exactly after a stop: ``rng_state``
    is the shuffling generator's state when the epoch began (the epoch's batches are drawn
    again from it), ``batches`` are done, having seen ``seen`` examples with summed loss
    ``loss_sum`` and ``correct`` predictions (None without classes), in ``seconds``.
    ``layout`` names the batches (:meth:`BatchSource.layout`): the rest of the epoch can
    only be drawn from the same (None in states written before it was kept)."""

    epoch: int
    rng_state: dict[str, Any]
    batches: int = 0
    seen: int = 0
    loss_sum: float = 0.0
    correct: int | None = 0
    seconds: float = 0.0
    layout: str | None = None

    def add(self, rows: int, batch_loss: float, correct: int) -> None:
        """Count one more batch of ``rows`` examples."""
        self.batches += 1
        self.seen += rows
        self.loss_sum += batch_loss * rows
        if self.correct is not None:
            self.correct += correct

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "rng_state": self.rng_state, "batches": self.batches, "seen": self.seen,
                "loss_sum": self.loss_sum, "correct": self.correct, "seconds": self.seconds, "layout": self.layout}

    @classmethod
    def from_dict(cls, data: Any) -> "EpochProgress":
        if not isinstance(data, dict) or set(data) - {"layout"} != set(_PROGRESS_FIELDS):
            raise StateError(f"the unfinished epoch must be a mapping of {', '.join(_PROGRESS_FIELDS)} (and layout)")
        layout = data.get("layout")
        if layout is not None and not isinstance(layout, str):
            raise StateError(f"the unfinished epoch's layout must be a string, got {layout!r:.80}")
        counts = {k: _whole("unfinished " + k, data[k]) for k in ("epoch", "batches", "seen")}
        if (counts["batches"] == 0) != (counts["seen"] == 0):
            raise StateError("the unfinished epoch's batches and examples seen disagree")
        correct = None if data["correct"] is None else _whole("unfinished correct", data["correct"])
        if correct is not None and correct > counts["seen"]:
            raise StateError("the unfinished epoch has more correct predictions than examples seen")
        _set_rng(np.random.default_rng(), data["rng_state"], "unfinished epoch's shuffling")  # refuse a bad state now
        return cls(**counts, rng_state=data["rng_state"], loss_sum=_real("unfinished loss_sum", data["loss_sum"]),
                   correct=correct, seconds=_real("unfinished seconds", data["seconds"]), layout=layout)


_PROGRESS_FIELDS = ("epoch", "rng_state", "batches", "seen", "loss_sum", "correct", "seconds")
#: What :meth:`TrainingState.to_dict` writes (and ``from_dict`` needs, ``unfinished`` aside).
STATE_FIELDS = ("epoch", "step", "iterations", "base_lr", "schedule", "schedule_state", "loss", "net_rng",
                "shuffle_rng", "history", "unfinished", "threads", "callbacks", "saved_weights", "seed", "epochs", "steps",
                "processes", "sample_weight", "training_data")
#: absent from older checkpoints
_OPTIONAL_FIELDS = ("unfinished", "threads", "callbacks", "saved_weights", "seed", "epochs", "steps", "processes",
                    "sample_weight", "training_data")
#: :attr:`TrainingState.sample_weight` of a run trained without ``sample_weight``
UNWEIGHTED = "unweighted"
#: At most this many saved copies of the weights (one per early stopping's monitor).
MAX_SAVED_WEIGHTS = 4


@dataclass
class TrainingState:
    """Everything the loop knows; callbacks read it and may set ``stop_training``.

    ``epoch`` is the current epoch (0-based) during an epoch and the number of epochs
    closed after training; ``step`` counts optimizer updates. ``rng`` shuffles the batches.
    ``progress`` is where the epoch under way stands, or the epoch a ``steps`` limit or a
    callback stopped before its end (it was closed with a record of its part); None at an
    epoch boundary. Passing a state back to :func:`fit` (``resume=``) continues exactly
    where it stopped, reopening such an unfinished epoch, and so does a state rebuilt with
    :meth:`from_dict` from :meth:`to_dict` with the weights and the optimizer's state.

    Callbacks that decide across epochs keep what they know here, so that a resume goes on
    deciding as the run would have: ``callback_records`` holds, per callback key, a
    JSON-able record (:class:`~deltaprop.callbacks.EarlyStopping`'s best value, its epoch
    and the epochs waited) and ``saved_weights`` a copy of the network's parameters
    (its best epoch's), both written at the end of every finished epoch and saved in
    checkpoints. ``resume_weights`` are the weights training stopped at when a callback
    changed the network afterwards (early stopping restoring its best epoch's): a resume
    and a checkpoint start from them, not from the network's weights."""

    net: Network
    optimizer: Optimizer
    loss: Loss
    rng: np.random.Generator
    history: History = field(default_factory=History)
    epoch: int = 0
    step: int = 0
    epochs: int | None = None
    steps: int | None = None
    n_examples: int = 0
    logs: dict[str, Any] = field(default_factory=dict)
    stop_training: bool = False
    schedule: Schedule | None = None
    base_lr: float | None = None
    progress: EpochProgress | None = None
    #: the BLAS threads the run trains on (None: the BLAS default), kept so a resume uses the same
    #: (while a thread probe tries more, the count it started on: the trial is no choice yet)
    threads: int | None = None
    #: the MPI processes the run trains on (1: one process; None: not known, a state written
    #: before it was kept); a resume on another count chooses its BLAS threads afresh
    processes: int | None = None
    #: ``(step, threads)`` for each change of the BLAS threads in this call of ``fit`` (the
    #: steps slowed down: :class:`~deltaprop.blas_threads.ThreadGovernor`); not saved
    thread_changes: list[tuple[int, int]] = field(default_factory=list)
    #: the steps of those changes that were the probe of a run started on fewer threads
    #: (small steps: :mod:`deltaprop.blas_threads`), not slowdowns; not saved
    thread_probe: list[int] = field(default_factory=list)
    #: the :class:`~deltaprop.alerts.Context` the run's alerts are judged in each epoch (its
    #: :class:`~deltaprop.callbacks.DiagnosticsRecorder` sets it as training begins: the
    #: classes' chance level, the optimizer, the inputs' scaling, the probe loss before the
    #: first step, the run's limits), so the check at the run's end judges in the same; not saved
    alert_context: Any = field(default=None, repr=False, compare=False)
    #: the rows of the run's validation set in this call of ``fit`` (None: no validation); not saved
    validation_rows: int | None = field(default=None, repr=False, compare=False)
    #: the number of batches of the epoch under way (the loop sets it when the epoch starts)
    epoch_batches: int | None = None
    #: the rows those batches hold in all (sliding windows overlap: more than ``n_examples``)
    epoch_batch_rows: int | None = None
    callback_records: dict[str, dict[str, Any]] = field(default_factory=dict)
    saved_weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    resume_weights: list[np.ndarray] | None = None
    #: the ``seed`` the run's shuffling began from (a whole number or a list of them; None
    #: when not known: a fresh random seed, a generator, or a state written before it was kept)
    seed: int | list[int] | None = None
    #: the rows' weights the run trains on: :data:`UNWEIGHTED`, or the :func:`weights_digest` of
    #: its ``sample_weight`` (not the weights); None when not known (a state written before it was kept)
    sample_weight: str | None = None
    #: the rows the run trains on: their :func:`data_fingerprint` (counts and digests, not the
    #: data); None when not known (a state written before it was kept)
    training_data: dict[str, Any] | None = None
    #: ``optimizer.lr`` when :meth:`from_dict` rebuilt the state: the rate of the epoch a
    #: checkpoint was written in, which a metric-driven schedule (ReduceOnPlateau) may have
    #: lowered since, so that its ``lr_at`` no longer gives it; a resume accepts it
    carried_lr: float | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def running(self) -> tuple[int, float, int | None]:
        """(examples seen, summed loss, correct predictions or None) so far in this epoch."""
        p = self.progress
        return (0, 0.0, None) if p is None else (p.seen, p.loss_sum, p.correct)

    @property
    def completed_epochs(self) -> int:
        """Epochs trained to their end (an unfinished one does not count)."""
        return self.epoch if self.progress is None else self.progress.epoch

    def finished(self, epochs: int | None = None, steps: int | None = None) -> bool:
        """Whether a run to ``epochs`` epochs or ``steps`` steps has nothing left to train
        from this state (``fit(resume=)`` refuses such a resume)."""
        return (epochs is not None and self.completed_epochs >= epochs) or (steps is not None and self.step >= steps)

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-able values (:data:`STATE_FIELDS`): counters, base rate,
        schedule and its state, loss, both random generators, history and the unfinished
        epoch, the callbacks' records, the keys of :attr:`saved_weights` and the run's limits
        (``epochs``, ``steps``: what a resume given neither goes on to). The weights, the
        saved weights and the optimizer's arrays (:meth:`Optimizer.state`) are not in it."""
        schedule = self.schedule
        return {
            "epoch": int(self.epoch),
            "step": int(self.step),
            "iterations": int(self.optimizer.iterations),
            "base_lr": float(self.base_lr if self.base_lr is not None else self.optimizer.lr),
            "schedule": schedule.config() if schedule is not None else {"type": "constant"},
            "schedule_state": schedule.state() if schedule is not None else {},
            "loss": self.loss.config(),
            "net_rng": self.net.rng.bit_generator.state,  # PCG64: big ints, which JSON keeps exactly
            "shuffle_rng": self.rng.bit_generator.state,
            "history": self.history.snapshot(),
            "unfinished": None if self.progress is None else self.progress.to_dict(),
            "threads": self.threads,
            "processes": self.processes,
            "callbacks": {key: dict(record) for key, record in self.callback_records.items()},
            "saved_weights": sorted(self.saved_weights),
            "seed": self.seed,
            "sample_weight": self.sample_weight,
            "training_data": None if self.training_data is None else dict(self.training_data),
            "epochs": self.epochs,
            "steps": self.steps,
        }

    @classmethod
    def from_dict(cls, data: Any, *, net: Network, optimizer: Optimizer,
                  saved_weights: dict[str, list[np.ndarray]] | None = None,
                  history_checked: bool = False) -> "TrainingState":
        """The state :meth:`to_dict` described, for ``net`` (its dropout generator is set
        from the dict) and ``optimizer`` (whose arrays the caller restores); ``saved_weights``:
        the arrays of :attr:`saved_weights` the dict names. Anything missing or malformed
        raises :class:`~deltaprop.errors.StateError`. ``history_checked``: the history's
        columns, diagnostics and alerts passed :func:`deltaprop._checks.history_records`
        already (a checkpoint's are, when it is read), so only its numbering and losses are
        checked here."""
        from .losses import loss_from_config

        if not isinstance(data, dict) or any(k not in data for k in STATE_FIELDS if k not in _OPTIONAL_FIELDS):
            raise StateError(f"a training state must be a mapping holding {', '.join(STATE_FIELDS)}")
        epoch, step = _whole("epoch", data["epoch"]), _whole("step", data["step"])
        base_lr = _real("base_lr", data["base_lr"])
        if not base_lr > 0:
            raise StateError(f"the training state's base_lr must be > 0, got {base_lr!r}")
        history = _history(data["history"], epoch, columns_checked=history_checked)
        try:
            loss = loss_from_config(data["loss"])
            schedule = schedule_from_config(data["schedule"])
            schedule.load_state(data["schedule_state"])
        except (ConfigError, TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            raise StateError(f"the training state's loss or schedule is invalid: {exc}") from None
        progress = None if data.get("unfinished") is None else EpochProgress.from_dict(data["unfinished"])
        if progress is not None and progress.epoch not in (epoch - 1, epoch):
            raise StateError(f"the unfinished epoch {progress.epoch + 1} does not follow the state's epoch {epoch}")
        threads = data.get("threads")
        if threads is not None and (_whole("threads", threads) < 1):
            raise StateError(f"the training state's threads must be None or >= 1, got {threads}")
        processes = data.get("processes")
        if processes is not None and (_whole("processes", processes) < 1):
            raise StateError(f"the training state's processes must be None or >= 1, got {processes}")
        limits = {key: data.get(key) for key in ("epochs", "steps")}
        for key, limit in limits.items():
            if limit is not None and _whole(key, limit) < 1:
                raise StateError(f"the training state's {key} must be None or >= 1, got {limit}")
        records = _callback_records(data.get("callbacks", {}))
        weights = _saved_weights(data.get("saved_weights", []), saved_weights or {}, net)
        rng = np.random.default_rng()
        _set_rng(rng, data["shuffle_rng"], "shuffling")
        _set_rng(net.rng, data["net_rng"], "network")
        seed = data.get("seed")
        if seed is not None and recorded_seed(seed) != seed:
            raise StateError(f"the training state's seed must be None, a whole number >= 0 or a list of them, "
                             f"got {seed!r:.60}")
        state = cls(net=net, optimizer=optimizer, loss=loss, rng=rng, history=History(history), epoch=epoch,
                    step=step, schedule=schedule, base_lr=base_lr, progress=progress, threads=threads,
                    processes=processes, callback_records=records, saved_weights=weights, seed=seed,
                    sample_weight=_weights_record(data.get("sample_weight")),
                    training_data=_data_record(data.get("training_data")), **limits)
        state.carried_lr = float(optimizer.lr)
        return state


def _is_digest(value: Any) -> bool:
    """Whether ``value`` is a digest as a state keeps one (:func:`_digest`)."""
    return isinstance(value, str) and len(value) == 2 * _DIGEST_BYTES and all(c in "0123456789abcdef" for c in value)


def _weights_record(value: Any) -> str | None:
    """A state's ``sample_weight`` entry checked: None, :data:`UNWEIGHTED` or a digest."""
    if value is None or value == UNWEIGHTED or _is_digest(value):
        return value
    raise StateError(f"the training state's sample_weight must be None, {UNWEIGHTED!r} or a digest of "
                     f"{2 * _DIGEST_BYTES} hex digits, got {value!r:.60}")


def _data_record(value: Any) -> dict[str, Any] | None:
    """A state's ``training_data`` entry checked: None or a :func:`data_fingerprint`."""
    if value is None:
        return None
    if (isinstance(value, dict) and set(value) == set(_DATA_KEYS)
            and all(isinstance(value[k], int) and not isinstance(value[k], bool) and value[k] >= 1
                    for k in ("rows", "features"))
            and _is_digest(value["y"]) and _is_digest(value["X"])):
        return {k: value[k] for k in _DATA_KEYS}
    raise StateError(f"the training state's training_data must be None or a mapping of {', '.join(_DATA_KEYS)} "
                     f"(counts >= 1 and digests of {2 * _DIGEST_BYTES} hex digits), got {value!r:.80}")


def recorded_seed(seed: Any) -> int | list[int] | None:
    """``seed`` as a state keeps it: a whole number ``>= 0``, a list of them (at most 16),
    or None for any other seed (None itself, a generator), which cannot be told apart."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and 0 <= seed < 2**64:
        return int(seed)
    if isinstance(seed, (list, tuple, np.ndarray)) and 0 < len(seed) <= 16:
        entries = [recorded_seed(entry) for entry in seed]
        if all(isinstance(entry, int) for entry in entries):
            return entries
    return None


def _history(records: Any, epoch: int, *, columns_checked: bool = False) -> list[dict[str, Any]]:
    """The state's history as the loop writes it: one record per epoch closed (an epoch a
    stop ended early included), ``epoch`` in all, numbered 1 to ``epoch``, each with the
    epoch's training loss ``(1/n) Σ ℓ_i``, a finite number (a non-finite one stops the run);
    its columns, diagnostics and alerts checked too unless ``columns_checked``."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise StateError("the training state's history must be a list of records")
    if len(records) != epoch:
        raise StateError(f"the training state is at epoch {epoch}, but its history holds {len(records)} epoch "
                         f"record{'s' if len(records) != 1 else ''}; every epoch trained has one")
    for i, record in enumerate(records, start=1):
        number, loss = record.get("epoch"), record.get("loss")
        if isinstance(number, bool) or number != i:
            raise StateError(f"history record {i} is numbered epoch {number!r:.40}, not {i}")
        if isinstance(loss, bool) or not isinstance(loss, (int, float)) or not math.isfinite(loss):
            raise StateError(f"history record {i} holds no finite training loss (got {loss!r:.40}); "
                             "every epoch trained records one")
    if columns_checked:
        return records
    try:  # its columns, diagnostics and alerts, as a checkpoint's are checked
        _checks.history_records(records)
    except DataError as exc:
        raise StateError(f"the training state's {exc}") from None
    return records


def _callback_records(records: Any) -> dict[str, dict[str, Any]]:
    """The callbacks' records, as a mapping of keys to mappings (each callback checks its own)."""
    if not isinstance(records, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in records.items()):
        raise StateError("the training state's callbacks must map callback keys to records")
    return {k: dict(v) for k, v in records.items()}


def _saved_weights(keys: Any, arrays: dict[str, list[np.ndarray]], net: Network) -> dict[str, list[np.ndarray]]:
    """The saved weights ``keys`` names, each a finite copy of ``net``'s parameters."""
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(keys) > MAX_SAVED_WEIGHTS:
        raise StateError(f"the training state's saved_weights must list at most {MAX_SAVED_WEIGHTS} keys")
    shapes = [(p.value.shape, p.value.dtype) for p in net.parameters()]
    out = {}
    for key in keys:
        weights = arrays.get(key)
        if weights is None:
            raise StateError(f"the training state names saved weights {key!r}, but they were not given")
        if [(np.shape(w), getattr(w, "dtype", None)) for w in weights] != shapes:
            raise StateError(f"the saved weights {key!r} do not match the network's parameters")
        if not all(np.all(np.isfinite(w)) for w in weights):
            raise StateError(f"the saved weights {key!r} hold NaN or infinity")
        out[key] = [np.array(w) for w in weights]
    return out


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
        raise StateError(f"the training state's {name} must be a whole number >= 0, got {value!r:.40}")
    return value


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StateError(f"the training state's {name} must be a finite number, got {value!r:.40}")
    return float(value)


def _set_rng(rng: np.random.Generator, state: Any, what: str) -> None:
    kind = type(rng.bit_generator).__name__
    if not isinstance(state, dict) or state.get("bit_generator") != kind:
        raise StateError(f"the {what} random state is not a {kind} state")
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise StateError(f"the {what} random state is invalid: {exc}") from None


_is_lazy = _checks.is_lazy


def _evaluate(net: Network, loss: Loss, X: np.ndarray, Y: np.ndarray, ids: np.ndarray | None, chunk: int = 4096,
              *, name: str = "X", finite: bool = False):
    """Loss and accuracy of ``net`` on a whole set, in chunks (a lazy ``X``'s read and
    checked one at a time, a message naming it ``name``). ``finite``: outputs that are NaN
    or infinite are a :class:`DataError` (``a ≥ t`` and the argmax would call them class 0)."""
    total = 0.0
    correct = 0
    n = X.shape[0]
    lazy = _is_lazy(X)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        xb = (_checks.feature_rows(X, np.arange(start, stop), net.n_features, net.dtype, name=name) if lazy
              else X[start:stop])
        a = net._forward(np.ascontiguousarray(xb, dtype=net.dtype), False)
        if finite and not _checks.all_finite(a):
            row = start + int(np.argwhere(~np.isfinite(a))[0][0])
            raise DataError(f"the network's outputs are NaN or infinite for row {row} of {name}, so they can be "
                            f"neither scored nor given a class: its weights hold NaN or infinity, or these inputs "
                            f"overflow {net.dtype.name} through them. Check the weights (a diverged run?), scale "
                            f"{name}, or compute in dtype='float64'")
        total += float(loss.value(a, Y[start:stop])) * (stop - start)  # a loss of one's own may give np.float32
        if ids is not None:
            predicted = predictions_from_outputs(a, threshold=loss.decision_threshold)
            correct += int(np.count_nonzero(predicted == ids[start:stop]))
    return total / n, (correct / n if ids is not None else None)


def _class_ids(loss: Loss, Y: np.ndarray) -> np.ndarray | None:
    """The class of every target row (None for regression targets)."""
    return predictions_from_outputs(Y) if loss.targets_are_classes(Y) else None


def _multilabel_targets(net: Network, loss: Loss, Y: np.ndarray, ids: np.ndarray | None) -> bool:
    """Whether ``fit`` trains a multi-label classifier: binary cross-entropy on several
    outputs, Sigmoid units or logits (``from_logits=True``, label on at ``z ≥ 0``), every
    target 0 or 1, and some row not one-hot (several 1s, or none; ``ids`` None). One-hot
    rows (one output a class, one-vs-rest) stay one class a row, the argmax; fractional
    targets (soft labels) too."""
    from .serialization import _output_layer

    return (isinstance(loss, BinaryCrossEntropy) and ids is None and net.n_outputs > 1
            and (loss.from_logits or _output_layer(net) == "Sigmoid") and bool(np.all((Y == 0) | (Y == 1))))


# -- batch sources ----------------------------------------------------------------------------------
class BatchSource(ABC):
    """The batches of one epoch, as ``(x, y, ids, w)``: inputs in the network's dtype,
    target rows, class ids (None for regression) and row weights (None when unweighted).

    :meth:`start_epoch` fixes the epoch's batches and is the only place a source draws from
    the shuffling generator, so that generator's state before it and the number of batches
    done say exactly where an epoch stands. A new order (in sequence, sliding windows, ...)
    is a subclass that overrides :meth:`start_epoch` and :meth:`batch`."""

    def __init__(self, X, Y: np.ndarray, ids: np.ndarray | None, W: np.ndarray | None = None):
        self.X, self.Y, self.ids, self.W = X, Y, ids, W
        self.n_examples = len(Y)

    @abstractmethod
    def start_epoch(self, rng: np.random.Generator) -> int:
        """Fix this epoch's batches (drawing from ``rng`` if the order is random); their number."""

    @abstractmethod
    def batch(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Batch ``k`` of the epoch; the arrays may be reused buffers, valid until the next call."""

    @abstractmethod
    def layout(self) -> str:
        """The epoch's batches in words (their kind, size and the rows they come from): an
        unfinished epoch is finished only from the same."""

    @abstractmethod
    def rows_before(self, k: int) -> int:
        """The rows batches ``0 … k−1`` of an epoch hold."""


class FullBatch(BatchSource):
    """Every example in every step (seed 000's gradient descent): one batch an epoch."""

    def start_epoch(self, rng):
        return 1

    def batch(self, k):
        return self.X, self.Y, self.ids, self.W

    def layout(self):
        return f"full batches of {self.n_examples} rows"

    def rows_before(self, k):
        return k * self.n_examples


class MiniBatches(BatchSource):
    """Batches of ``batch_size`` rows, the last holding the remainder, in a fresh random
    order every epoch (seed 001) or, with ``shuffle=False``, in the stored order. Rows are
    gathered into buffers kept from one batch to the next."""

    def __init__(self, X, Y, ids, batch_size: int, *, shuffle: bool = True, W=None):
        super().__init__(X, Y, ids, W)
        self.batch_size = min(batch_size, self.n_examples)
        self.shuffle = shuffle
        self.order = np.arange(self.n_examples)
        b = self.batch_size
        if not _is_lazy(X):
            self._x = np.empty((b, X.shape[1]), dtype=X.dtype)
            self._y = np.empty((b, Y.shape[1]), dtype=Y.dtype)
            self._ids = np.empty(b, dtype=np.int64)
            self._w = np.empty(b, dtype=Y.dtype)

    def start_epoch(self, rng):
        if self.shuffle:
            self.order = rng.permutation(self.n_examples)
        return -(-self.n_examples // self.batch_size)

    def indices(self, k: int) -> np.ndarray:
        """The example indices of batch ``k`` in this epoch's order."""
        return self.order[k * self.batch_size : (k + 1) * self.batch_size]

    def layout(self):
        order = "shuffled" if self.shuffle else "sequential"
        return f"{order} batches of {self.batch_size} from {self.n_examples} rows"

    def rows_before(self, k):
        return min(k * self.batch_size, self.n_examples)

    def batch(self, k):
        # The indices are this class's own (a permutation or windows of range(n)), never out
        # of range; mode="clip" lets take write straight into the buffer, where the default
        # mode="raise" gathers into a temporary first and copies it over (a second pass).
        idx = self.indices(k)
        m = idx.shape[0]
        xb, yb = self._x[:m], self._y[:m]
        self.X.take(idx, axis=0, out=xb, mode="clip")
        self.Y.take(idx, axis=0, out=yb, mode="clip")
        idb = wb = None
        if self.ids is not None:
            idb = self._ids[:m]
            self.ids.take(idx, out=idb, mode="clip")
        if self.W is not None:
            wb = self._w[:m]
            self.W.take(idx, out=wb, mode="clip")
        return xb, yb, idb, wb


class LazyMiniBatches(MiniBatches):
    """:class:`MiniBatches` read from a lazy array (e.g. :func:`deltaprop.data.open_mapped`)
    when needed; each batch's rows are read in ascending order, checked as an array in
    memory is (:func:`deltaprop._checks.feature_rows`) and handed on in the batch's order."""

    def __init__(self, X, Y, ids, batch_size: int, *, shuffle: bool = True, W=None, dtype=np.float32,
                 n_features: int):
        super().__init__(X, Y, ids, batch_size, shuffle=shuffle, W=W)
        self.dtype = dtype
        self.n_features = n_features

    def batch(self, k):
        # Read in file order, then put back in the batch's order: row i of the batch is the
        # same example as in memory, so a dropout mask drawn for row i falls on it alike.
        idx = self.indices(k)
        ascending = np.argsort(idx, kind="stable")
        rows = _checks.feature_rows(self.X, idx[ascending], self.n_features, self.dtype)
        xb = rows.take(np.argsort(ascending), axis=0)  # row j of the batch is rows[i] where ascending[i] = j
        return xb, self.Y[idx], None if self.ids is None else self.ids[idx], None if self.W is None else self.W[idx]


class SlidingWindows(MiniBatches):
    """Seed 000's SGD batches: windows of ``b + 1`` consecutive rows in the stored order,
    each starting ``b`` rows after the one before, wrapping around the end. Step ``t`` of
    an epoch (``t = 1 … ⌈n/b⌉``) takes rows ``b·t … b·t + b`` modulo ``n`` (the seed's
    Julia range ``b*i:b*i+b``), so neighbouring windows share a row and the epoch's last
    window ends at row ``b``. Every epoch takes the same windows, as the seed's do when
    ``b`` divides ``n``."""

    def __init__(self, X, Y, ids, batch_size: int, *, W=None):
        stride = min(batch_size, len(Y))
        super().__init__(X, Y, ids, min(stride + 1, len(Y)), shuffle=False, W=W)
        self.stride = stride

    def start_epoch(self, rng):
        return -(-self.n_examples // self.stride)

    def indices(self, k: int) -> np.ndarray:
        return (self.stride * (k + 1) + np.arange(self.batch_size)) % self.n_examples

    def layout(self):
        return f"sliding windows of {self.batch_size} every {self.stride} rows of {self.n_examples}"

    def rows_before(self, k):
        return k * self.batch_size


#: How :func:`fit` orders mini-batches (``batching=``).
BATCHINGS = ("shuffled", "sequential", "sliding")


def batch_source(net: Network, X, Y, ids, W, batch_size: int | None, *, shuffle: bool = True,
                 batching: str | None = None) -> BatchSource:
    """The source :func:`fit` uses: full batch, mini-batches in memory, lazy mini-batches,
    or (``batching="sliding"``) seed 000's windows."""
    batching = _batching(batching, shuffle, batch_size)
    shuffle = batching == "shuffled"
    if batch_size is None:
        return FullBatch(X, Y, ids, W)
    if batching == "sliding":
        if _is_lazy(X):
            from .data.streaming import SparseRows

            sparse = _checks.is_sparse(X) or isinstance(X, SparseRows)
            load = "X.toarray() (a sparse X)" if sparse else "np.asarray(X[np.arange(len(X))])"
            raise ConfigError(f"sliding batches need X in memory; load it with {load}")
        return SlidingWindows(X, Y, ids, batch_size, W=W)
    if _is_lazy(X):
        return LazyMiniBatches(X, Y, ids, batch_size, shuffle=shuffle, W=W, dtype=net.dtype, n_features=net.n_features)
    return MiniBatches(X, Y, ids, batch_size, shuffle=shuffle, W=W)


def _batching(batching: str | None, shuffle: bool, batch_size: int | None) -> str:
    """``batching`` checked against ``shuffle`` (None: what ``shuffle`` says)."""
    if batching is None:
        return "shuffled" if shuffle else "sequential"
    if batching not in BATCHINGS:
        raise ConfigError(f"unknown batching {batching!r}; choose one of {', '.join(BATCHINGS)}")
    if batching == "shuffled" and not shuffle:
        raise ConfigError("shuffle=False contradicts batching='shuffled'; give one of them")
    return batching


# -- fit ----------------------------------------------------------------------------------------
def fit(net: Network, X, y, *, loss: Loss, optimizer: Optimizer, epochs: int | None = None, steps: int | None = None,
        batch_size: int | None = 32, shuffle: bool = True, batching: str | None = None, seed: int | None = None,
        validation: tuple[Any, Any] | None = None, schedule: Schedule | str | None = None,
        callbacks: Sequence[Callback] = (), resume: TrainingState | None = None, threads: int | None = None,
        sample_weight=None, comm=None, flush_subnormals: bool = True, diagnostics: bool = True) -> History:
    """Train ``net`` on ``(X, y)`` and return its :class:`History`.

    ``X``: ``(n, features)`` array (converted once to the network's dtype), or a lazy array
    with ``shape``, ``len`` and ``X[index_array]`` (:func:`deltaprop.data.open_mapped`, a
    SciPy sparse matrix) whose batches are read (or densified) and checked when needed.
    ``y``: class ids or target rows. Binary cross-entropy on several Sigmoid outputs with
    0/1 target rows of which some are not one-hot (several 1s, or none) trains a
    multi-label classifier (``net.multilabel``: ``net.predict`` gives the ``(n, k)`` 0/1
    labels ``a ≥ 0.5``, ``save`` records it, and there is no accuracy); one-hot rows (one
    sigmoid a class) stay one class a row, the argmax. ``sample_weight``: one weight ``≥ 0`` per row, scaled
    to mean 1, so the loss is ``(1/n) Σ w_i ℓ_i`` (see :mod:`deltaprop.losses`; accuracy
    still counts every row once); a resume takes the run's own rows and weights only (the
    state keeps digests of them). Stops after ``epochs`` epochs or ``steps`` updates (the first reached;
    if neither is given, a resume's run's own, else 10 epochs), or when a callback asks.
    ``batch_size=None`` is full-batch gradient descent, whatever ``batching`` (as a batch
    size of at least the rows is in each: every row, in the stored order). ``batching`` orders the
    mini-batches: ``"shuffled"`` (a fresh random order every epoch; the default),
    ``"sequential"`` (the stored order; as ``shuffle=False``) or ``"sliding"`` (seed 000's
    windows of ``batch_size + 1`` rows moving by ``batch_size``, :class:`SlidingWindows`).
    ``schedule``: a :class:`~deltaprop.schedules.Schedule`, a name or a config mapping (a
    ``"cosine"`` or ``"step"`` without its length takes the run's: ``schedule_for_run``).
    The same ``seed`` (and network seed) gives bit-identical weights and history. Without
    ``resume``, a second ``fit`` of the same network goes on from its current weights (the
    same optimizer keeps its moments and step count), with a fresh schedule and a history
    that starts again at epoch 1; ``resume`` continues a run as one. A non-finite loss
    (a validation loss too, or, without validation rows, the run's last step's outputs on its
    rows) raises
    :class:`~deltaprop.errors.TrainingDivergedError` naming the first layer that shows it
    (:func:`_unstable_layer`); the network gets back the epoch's first weights (those ``fit``
    began with where these had exploded) and the optimizer's state is zeroed, ready for a
    refit at a lower rate (:meth:`Loop._diverged`). ``resume`` takes
    the :class:`TrainingState` of an earlier run (callbacks see it;
    :meth:`TrainingState.from_dict` rebuilds one) and continues it exactly, mid-epoch too,
    to ``epochs``/``steps`` in all, with the state's loss, schedule, rate and shuffling
    (:func:`_training_state` says what a resume refuses). Callbacks run in the order given,
    :class:`~deltaprop.callbacks.EarlyStopping` first (so a checkpoint holds what it kept);
    every callback's ``on_train_end`` is called, even after one of them raised, and what
    ended the run is what ``fit`` raises (:meth:`Loop.run`; :func:`_checked` says which
    lists of callbacks raise ``ConfigError``).
    ``threads`` sets the BLAS threads (default: :func:`_fit_threads` says how they are
    chosen, probed and kept for a resume; the count can change the last bit of a GEMM, so
    bit-identical reruns need the same ``threads``); the state records the count the BLAS
    runs (:func:`applied_threads`), with a warning where it is more than the CPUs or than
    the BLAS runs (:func:`threads_words`). ``comm`` (an mpi4py
    communicator) trains data-parallel over its processes, ``batch_size`` being the global
    batch (:mod:`deltaprop.distributed`). ``flush_subnormals`` (default True) trains with
    the thread's flush-to-zero and denormals-are-zero modes set (:mod:`deltaprop.fpenv`;
    only values below the smallest normal float change: decaying momentum stays fast).
    ``diagnostics`` (on by default) adds a :class:`~deltaprop.callbacks.DiagnosticsRecorder`
    unless ``callbacks`` holds one: per-layer diagnostics and alerts after every epoch, in
    the history (``history.diagnostics``, ``history.alerts``); it changes no weight."""
    vector_blas.check_environment()  # a bad DELTAPROP_BLAS_UPDATES, whatever kernels run the updates
    if batch_size is not None:  # a whole float (32.0) as the int it means; _prepare reports a bad one
        with contextlib.suppress(ConfigError):
            batch_size = _checks.positive_int("batch_size", batch_size)
    given = threads is not None
    threads, top_threads = _fit_threads(net, X, batch_size, threads, resume, comm)
    threads, flush_subnormals, diagnostics = _checked_options(threads, flush_subnormals, diagnostics, comm)
    controller = None if threads is None else blas_controller()  # the governor's too: what fit restores
    blas = contextlib.nullcontext() if controller is None else controller.limit(limits=threads, user_api="blas")
    with blas, fpenv.flush_subnormals(flush_subnormals):
        if controller is not None:  # the count the run records is the one the BLAS runs
            threads = _warned_threads(threads, _blas_now(controller), given)
        return _fit(
            net, X, y, loss=loss, optimizer=optimizer, epochs=epochs, steps=steps,
            batch_size=batch_size, shuffle=shuffle, batching=batching, seed=seed, validation=validation,
            schedule=schedule, callbacks=callbacks, resume=resume, sample_weight=sample_weight, comm=comm,
            threads=threads, diagnostics=diagnostics, top_threads=top_threads, controller=controller,
        )


_BLAS_CONTROLLER = None
_BLAS_CONTROLLER_MODULES = 0  # len(sys.modules) when it was built


def blas_controller():
    """One threadpoolctl controller for the process: building one reads /proc/self/maps and
    inspects every loaded library (about 10 ms), a cost each fit and partial_fit paid. It is
    built again when modules were imported since, which may have loaded another BLAS (SciPy's
    own OpenBLAS, or an OpenMP runtime, comes with ``import scipy.optimize``): a controller
    that did not know it would leave its threads unlimited."""
    global _BLAS_CONTROLLER, _BLAS_CONTROLLER_MODULES
    if _BLAS_CONTROLLER is None or _BLAS_CONTROLLER_MODULES != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()
        _BLAS_CONTROLLER_MODULES = len(sys.modules)
    return _BLAS_CONTROLLER


def _fit_threads(net, X, batch_size, threads, resume, comm) -> tuple[int | None, int | None]:
    """The BLAS threads of a ``fit``: ``threads`` as given, else the resumed run's (at most
    the BLAS threads the caller allows, ``threadpool_limits``), else :func:`_auto_threads`;
    and the most the run may change them to, or None. A count ``fit`` chose on one process
    is changed during the run when its steps slow down, and small steps, started on one
    thread, probe more at a fixed step on idle CPUs and keep the faster
    (:class:`~deltaprop.blas_threads.ThreadGovernor`, :func:`_thread_governor`). The count
    last kept is in the state; a resume on as many MPI processes as the state's trains on it
    to the end, with no probe and no change (so that it repeats the bits). A resume on another
    count cannot repeat them (the ranks sum their rows' gradients in another order) and
    chooses as a new run does: the count a run on two processes kept is one rank's share of
    the CPUs, a fraction of the machine for a run resumed on one. Over several MPI
    processes the host's CPUs are shared among its ranks: found by a collective that every
    rank takes, whatever its arguments (a rank that skipped it, given another batch size or
    ``threads=``, met the others' next collective instead: an MPI abort)."""
    host_threads = None
    processes = comm.Get_size() if comm is not None else 1
    if processes > 1:
        from .distributed import threads_per_rank

        host_threads = threads_per_rank(comm)
    resumed = (threads is None and isinstance(resume, TrainingState)
               and resume.processes in (None, processes))  # None: a state written before processes were kept
    if resumed and resume.threads is not None:
        # at most the threads the caller allows (threadpool_limits around fit, a smaller
        # machine): more would oversubscribe the cores it left to others
        # over MPI, at most the rank's share of the host's CPUs too (a run resumed from one process)
        threads = min(resume.threads, _blas_default(), host_threads or resume.threads)
    if threads is None:  # a full batch is one step of all the rows
        rows = batch_size if batch_size is not None else getattr(X, "shape", (None,))[0]
        threads = _auto_threads(net, rows, host_threads)
        if resumed or host_threads is not None or threads is None:
            return threads, None
        if threads == 1 and _is_small_step(net, rows):
            top = _blas_default()  # a probe may find more pay (blas_threads); _thread_governor counts the idle CPUs
            return threads, top if top > 1 else None
        return threads, threads if threads > 1 else None
    return threads, None


#: Below this many multiply-adds in a step's largest GEMM, ``fit`` starts on one BLAS thread
#: (and may probe more: :func:`_thread_governor`).
SMALL_STEP_MACS = 8_000_000


def _auto_threads(net, batch_size, host_threads: int | None = None) -> int | None:
    """The BLAS threads ``fit`` starts on by default for steps of ``batch_size`` rows: 1 when a
    step's largest GEMM (rows × the widest ``n_in·n_out``) is under :data:`SMALL_STEP_MACS`,
    where a second thread may gain nothing and suffers most from a busy machine (measurements
    in ``bench/README.md``; ``fit`` may probe more: :func:`_thread_governor`); over several
    MPI processes, ``host_threads``, the host's CPUs shared among its ranks
    (:func:`deltaprop.distributed.threads_per_rank`, as the command line does); else the CPUs
    other processes leave idle, measured over 50 ms (:func:`deltaprop.cpus.idle_cpus`; at
    least 1, at most the BLAS default), or None (the BLAS default) where they cannot be
    measured."""
    if not isinstance(net, Network) or batch_size is None or isinstance(batch_size, bool):
        return None
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        return None  # _prepare reports the bad value
    if _is_small_step(net, batch_size):
        return 1
    if host_threads is not None:
        return host_threads
    return _idle_threads()


def _is_small_step(net, rows: int) -> bool:
    """Whether a step's largest GEMM (rows × the widest ``n_in·n_out``) is under :data:`SMALL_STEP_MACS`."""
    from .layers import Dense

    widest = max((layer.n_in * layer.n_out for layer in net.layers if isinstance(layer, Dense)), default=0)
    return rows * widest < SMALL_STEP_MACS


def _idle_threads() -> int | None:
    """The CPUs other processes leave idle, measured over 50 ms (at least 1, at most the
    BLAS default), or None where they cannot be measured."""
    from .cpus import idle_cpus

    idle = idle_cpus()
    if idle is None:
        return None
    return max(1, min(_blas_default(), int(idle + 0.5)))


def _blas_default() -> int:
    """The BLAS threads this process's BLAS runs on now (a caller's limit included)."""
    from threadpoolctl import threadpool_info

    return max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=1)


def _blas_now(controller) -> int | None:
    """The BLAS threads ``controller``'s BLAS libraries run on now (their largest count), or
    None where it found no BLAS."""
    return max((i["num_threads"] for i in controller.select(user_api="blas").info()), default=None)


def applied_threads(threads: int) -> int:
    """The BLAS threads a limit of ``threads`` runs on: a BLAS runs at most the count it was
    built for (NumPy's OpenBLAS: 64), so a larger limit gives that many; ``threads`` itself
    where no BLAS is found."""
    controller = blas_controller()
    with controller.limit(limits=threads, user_api="blas"):
        return _blas_now(controller) or threads


def threads_words(asked: int, applied: int) -> str | None:
    """What a count of BLAS threads asked for does, when it is more than the CPUs this
    process may run on (its threads oversubscribe them: each GEMM waits for a thread
    without a core) or more than the BLAS runs (:func:`applied_threads`); None when neither."""
    from .cpus import available_cpus

    cpus = len(available_cpus())
    ran = f"training runs on {applied} BLAS thread{'s' if applied > 1 else ''}, the count recorded for a rerun or resume"
    at_most = f"the BLAS runs at most {applied} threads, so " if applied < asked else ""
    if asked > cpus:
        return (f"more than the {cpus} CPU{'s' if cpus > 1 else ''} this process may run on, so the BLAS threads "
                f"oversubscribe them and steps run slower (pass {cpus} or fewer for speed); {at_most}{ran}")
    return f"{at_most}{ran}" if at_most else None


def _warned_threads(threads: int, applied: int | None, given: bool) -> int:
    """The count to record for a run ``fit`` limited to ``threads`` BLAS threads, which run
    on ``applied`` (None: no BLAS found); a count the caller gave that oversubscribes the
    CPUs or is more than the BLAS runs is warned of (:func:`threads_words`)."""
    applied = applied or threads
    words = threads_words(threads, applied) if given else None
    if words:
        import warnings

        warnings.warn(f"threads={threads}: {words}", UserWarning, stacklevel=3)
    return applied


#: Multiply-adds of forward GEMMs a thread probe times on each count (K/2 steps each):
#: about 0.1 s of steps on two cores; 266 steps K at batch 32 of 784-256-128-10.
PROBE_MACS = 1_000_000_000


def _thread_governor(state, source, threads: int, top: int, controller=None):
    """The :class:`~deltaprop.blas_threads.ThreadGovernor` of a run ``fit`` started on
    ``threads`` BLAS threads, allowed up to ``top``, that sets them through ``controller``
    (fit's, whose libraries fit restores: not a BLAS loaded during the run). A run started on
    fewer (small steps) probes the idle CPUs (at most ``top``) after K steps,
    K = 2·PROBE_MACS / (batch · Σ n_in·n_out) (at least 32), where the run is long enough
    for the probe (3K/2 steps) to pay and two or more CPUs are idle (measured only then:
    50 ms)."""
    from .blas_threads import ThreadGovernor
    from .cpus import idle_cpus
    from .layers import Dense

    probe = None
    if threads < top:
        rows = getattr(source, "batch_size", source.n_examples)
        macs = rows * sum(layer.n_in * layer.n_out for layer in state.net.layers if isinstance(layer, Dense))
        probe = max(32, -(-2 * PROBE_MACS // max(1, macs)))
        limits = [state.steps] if state.steps is not None else []
        if state.epochs is not None:
            limits.append(state.epochs * -(-source.n_examples // rows))
        planned = min(limits, default=0)
        if planned - state.step < 4 * probe:
            return None  # too short for the probe to pay
        idle = idle_cpus()
        top = 1 if idle is None else max(1, min(top, int(idle + 0.5)))
        if top <= threads:
            return None  # other processes leave no second CPU idle
    controller = controller or blas_controller()
    return ThreadGovernor(top, lambda n: controller.limit(limits=n, user_api="blas"),
                          idle=idle_cpus, start=threads, probe_steps=probe)


def _fit(net, X, y, *, loss, optimizer, epochs, steps, batch_size, shuffle, batching, seed, validation, schedule,
         callbacks, resume, sample_weight, comm=None, threads=None, diagnostics=True,
         top_threads=None, controller=None) -> History:
    """The training loop behind :func:`fit` (BLAS threads already chosen; ``top_threads``:
    ``fit`` chose them, so a :class:`~deltaprop.blas_threads.ThreadGovernor` may change
    them, up to this many, through ``controller``: :func:`_thread_governor`). Over MPI, a
    rank that cannot prepare its run tells the others before raising (none is left waiting)."""
    on_ranks = comm is not None and comm.Get_size() > 1
    try:
        state, (X_arr, Y, ids, W) = _prepare(
            net, X, y, loss=loss, optimizer=optimizer, epochs=epochs, steps=steps,
            batch_size=batch_size, seed=seed, schedule=schedule, resume=resume, sample_weight=sample_weight,
        )
        state.threads, state.processes = threads, comm.Get_size() if comm is not None else 1
        source = batch_source(net, X_arr, Y, ids, W, batch_size, shuffle=shuffle, batching=batching)
        validation, callbacks = _validation_set(net, loss, validation), _checked(callbacks)
        state.validation_rows = None if validation is None else len(validation[1])
        state.alert_context = None  # a resumed state's is its last call's: this call's diagnostics set their own
        if diagnostics and not any(isinstance(cb, DiagnosticsRecorder) for cb in callbacks):
            callbacks.insert(0, DiagnosticsRecorder(X_arr, Y, sample_weight=W))  # reads rows of X
    except Exception:
        _tell_other_ranks_this_one_failed(comm)
        raise
    try:
        if on_ranks:
            from .distributed import train_data_parallel

            history = train_data_parallel(comm, state, source, validation, callbacks)
        else:
            governor = None if top_threads is None else _thread_governor(state, source, threads, top_threads, controller)
            history = Loop(state, source, validation=validation, callbacks=callbacks, governor=governor).run()
        history.alerts_at_end = _alerts_at_end(state)
        return history
    finally:
        # A schedule sets the optimizer's rate epoch by epoch; after the run the optimizer
        # holds its base rate again, so a new fit with it anneals from the rate it was given
        # (as a new PyTorch scheduler does from ``initial_lr``), not from the last epoch's.
        # resume= keeps the schedule's place in the TrainingState.
        optimizer.lr = state.base_lr


def _alerts_at_end(state: TrainingState) -> dict[str, Any] | None:
    """Which of the run's alerts still hold at its last epoch (:func:`deltaprop.alerts.standing`),
    judged in the context its diagnostics judged each epoch in (``state.alert_context``:
    chance level, optimizer, scaling, start loss), the last record taken as the run's end
    (early stopping or a callback may end it before its limits), as ``train`` judges them;
    None where no diagnostics ran or no epoch was recorded."""
    if state.alert_context is None or not state.history.records:
        return None
    import dataclasses

    from .alerts import standing

    ctx = dataclasses.replace(state.alert_context, run_epochs=None, run_steps=None)
    return standing(state.history.alerts, state.history.records, ctx)


def _checked_options(threads, flush_subnormals, diagnostics, comm) -> tuple[int | None, bool, bool]:
    """fit's ``threads`` (None or >= 1) and its two flags (True or False only: ``"no"`` is
    truthy); over MPI a rank that refuses them tells the others first."""
    try:
        threads = None if threads is None else _checks.positive_int("threads", threads)
        return threads, _checks.flag("flush_subnormals", flush_subnormals), _checks.flag("diagnostics", diagnostics)
    except Exception:
        _tell_other_ranks_this_one_failed(comm)
        raise


def _tell_other_ranks_this_one_failed(comm) -> None:
    """Over MPI, the start-up check that every rank reaches (:func:`~deltaprop.distributed.agree_on_run`),
    told that this rank cannot train: the others raise too instead of waiting for it."""
    if comm is not None and comm.Get_size() > 1:
        from .distributed import agree_on_run

        agree_on_run(comm, None)


def row_weights(sample_weight, n: int, dtype) -> np.ndarray:
    """``sample_weight`` checked (``n`` finite numbers ``≥ 0``, not all 0) and scaled to mean 1."""
    if np.asarray(sample_weight).dtype.kind == "c":
        raise DataError("sample_weight must be real numbers, one per row; got complex values")
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("sample_weight must be numbers, one per row") from None
    if w.shape != (n,):
        raise ShapeError(f"sample_weight has shape {w.shape}; it needs one weight per row, shape ({n},)")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.argmax(bad))
        missing = ": a missing weight? give it one, or drop the row" if np.isnan(w[i]) else ""
        raise DataError(f"sample_weight must be finite numbers >= 0 (0 leaves a row out); row {i} holds {w[i]:g}"
                        f"{missing}")
    if not np.any(w > 0):
        raise DataError("sample_weight is 0 everywhere: no row would count; give some rows a weight > 0")
    return (w / w.mean()).astype(dtype)


#: The bytes of a :func:`weights_digest`.
_DIGEST_BYTES = 16


def _digest(values: np.ndarray) -> str:
    """The BLAKE2b digest (hex, :data:`_DIGEST_BYTES` bytes) of an array's bytes (read in
    place: no copy of them)."""
    return hashlib.blake2b(np.ascontiguousarray(values), digest_size=_DIGEST_BYTES).hexdigest()


def weights_digest(W: np.ndarray | None) -> str:
    """What a training state keeps of the rows' weights ``W`` (:func:`row_weights`, scaled to
    mean 1, so weights a constant apart are one objective): :data:`UNWEIGHTED` for None, else
    the BLAKE2b digest (hex) of their little-endian float64 bytes, whatever the network's dtype."""
    if W is None:
        return UNWEIGHTED
    return _digest(np.asarray(W, dtype="<f8"))


#: At most this many rows of ``X``, spread evenly over it, go into a :func:`data_fingerprint`.
FINGERPRINT_ROWS = 1024
#: What a :func:`data_fingerprint` holds.
_DATA_KEYS = ("rows", "features", "y", "X")


def data_fingerprint(net: Network, X, Y: np.ndarray) -> dict[str, Any]:
    """What a training state keeps of its training rows (:attr:`TrainingState.training_data`):
    ``rows`` (n), ``features`` (values a row), the BLAKE2b digest of every target row ``Y``
    (as the loss prepared them: labels or values) and that of rows ``⌊i (n − 1)/(k − 1)⌋``,
    ``i < k = min(n, FINGERPRINT_ROWS)``, of ``X`` (:func:`_rows_digest`: an array in memory,
    a lazy one or a sparse matrix holding the same rows give one digest). Values are taken
    as the network reads them, rounded to float32 (−0 as 0), so the record is the same
    whatever the network's dtype, and on every MPI rank (each is given the whole X and y:
    :mod:`deltaprop.distributed`).

    It catches another row count, other labels or targets in any row, and other features in
    the rows it reads: every row of data up to ``FINGERPRINT_ROWS`` rows (of larger data, rows
    reordered or replaced by others move those it reads too). It cannot see a change in X
    confined to rows it does not read (edited in place, the labels and row count kept), nor
    one below float32's precision. Every fit pays for it: on MNIST's 60000 × 784 float32 rows
    (188 MB) it took ~40 ms, about what fit's own check of X takes, where a digest of all of X
    took ~20 times as long (0.85 s)."""
    n = len(Y)
    k = min(n, FINGERPRINT_ROWS)
    # whole-number arithmetic, the rows the formula names on every machine and NumPy version
    rows = np.arange(k, dtype=np.int64) * (n - 1) // max(1, k - 1)
    return {"rows": int(n), "features": int(net.n_features), "y": _targets_digest(Y), "X": _rows_digest(net, X, rows)}


def _targets_digest(Y: np.ndarray) -> str:
    """The digest of every row of ``Y`` as little-endian float32 (−0 as 0), converted a chunk
    of rows at a time: never a second copy of all of ``Y`` (one-hot rows of many classes
    are as large as X)."""
    Y = np.asarray(Y)
    digest = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    step = max(1, _FINGERPRINT_CHUNK // max(1, Y[:1].size))
    for start in range(0, len(Y), step):
        with np.errstate(over="ignore"):  # a float64 beyond float32's range digests as ±inf
            digest.update(np.asarray(np.asarray(Y[start : start + step], dtype=np.float32) + np.float32(0), dtype="<f4"))
    return digest.hexdigest()


#: :func:`_rows_digest` reads at most about this many values of X at a time.
_FINGERPRINT_CHUNK = 1 << 20


def _rows_digest(net: Network, X, rows: np.ndarray) -> str:
    """The digest of rows ``rows`` of ``X`` (ascending) as float32: of the flat positions
    (in the rows taken) of their values that are not 0 and of those values, so that a
    sparse matrix (a lazy array holding one as ``.X``, as ``fit`` wraps it) and the same
    rows dense give one digest. Read a chunk of rows at a time: a wide or sparse X is never
    dense whole, and a sparse one is read from its matrix, not through its lazy rows."""
    f = net.n_features
    sparse = getattr(X, "X", None) if _is_lazy(X) else None
    sparse = sparse if _checks.is_sparse(sparse) else None
    at, of = (hashlib.blake2b(digest_size=_DIGEST_BYTES) for _ in range(2))
    step = max(1, _FINGERPRINT_CHUNK // max(1, f))
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        with np.errstate(over="ignore"):
            if sparse is not None:
                block = sparse.tocsr()[chunk].tocsr()
                block.sum_duplicates()
                flat = np.repeat(np.arange(len(chunk), dtype=np.int64), np.diff(block.indptr)) * f + block.indices
                values = np.asarray(block.data, dtype=np.float32)
            else:
                x = _checks.feature_rows(X, chunk, f, net.dtype) if _is_lazy(X) else np.asarray(X)[chunk]
                x = np.asarray(x, dtype=np.float32).ravel()
                flat = np.flatnonzero(x)
                values = x[flat]
        keep = values != 0  # -0 and explicit zeros of a sparse matrix as the zeros they are
        at.update(np.asarray(flat[keep] + start * f, dtype="<i8").tobytes())
        of.update(np.asarray(values[keep], dtype="<f4").tobytes())
    return _digest(np.frombuffer(at.digest() + of.digest(), dtype=np.uint8))


def _validation_set(net: Network, loss: Loss, validation):
    """``(X_val, Y_val rows, class ids)`` ready for :func:`_evaluate`, or None."""
    if validation is None:
        return None
    if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
        raise ConfigError("validation must be a pair (X_val, y_val)")
    Xv = validation[0]
    if _is_lazy(Xv):  # its width checked now, each chunk's values as it is read
        Xv = _checks.lazy_features(Xv, net.n_features, name="X_val")
    else:
        Xv = _checks.features(Xv, net.n_features, net.dtype, name="X_val")
    try:
        Yv = loss.prepare_targets(validation[1], net.n_outputs, net.dtype)
    except (DataError, ShapeError) as exc:  # the same rules as y's: say they are the validation rows'
        raise type(exc)(f"validation y_val: {exc}") from None
    _checks.same_length(len(Xv), Yv.shape[0], names=("X_val", "y_val"))
    # fit trains a regressor on values (decided from the training targets): validation values
    # that happen to be 0 and 1 are values too, with no accuracy; so are one-hot validation
    # rows of a multi-label classifier (its labels are no argmax)
    return Xv, Yv, None if net.gives_values or net.multilabel else _class_ids(loss, Yv)


def _checked(callbacks: Sequence[Callback]) -> list[Callback]:
    """The callbacks, early stopping first: what it keeps for an epoch (its record and best
    weights) is in the state before another callback, a checkpoint writer, takes it. Refused
    (:class:`ConfigError`): one callback given twice, two EarlyStopping on one metric (they
    share one record in the state) and two that restore their best weights (the network
    would end with the last one's, whatever the other reports)."""
    from .callbacks import EarlyStopping

    if isinstance(callbacks, Callback):
        raise ConfigError(f"callbacks must be a list, e.g. callbacks=[{type(callbacks).__name__}(...)]")
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise ConfigError(f"{cb!r} is not a deltaprop Callback")
        _warn_unknown_hooks(cb)
        if any(other is cb for other in callbacks[:i]):
            raise ConfigError(f"callbacks holds the same {type(cb).__name__} twice: it would be called twice at "
                              "every hook (an EarlyStopping would count every epoch twice); pass it once")
    stoppers = [cb for cb in callbacks if isinstance(cb, EarlyStopping)]
    keys = [cb.key for cb in stoppers]
    for key in keys:
        if keys.count(key) > 1:
            raise ConfigError(f"two EarlyStopping callbacks watch {key.split('.', 1)[1]}: the training state keeps "
                              "one record per metric, so a checkpoint and a resume would keep only one's; pass one "
                              "EarlyStopping per metric")
    restoring = [cb.monitor for cb in stoppers if cb.restore_best_weights]
    if len(restoring) > 1:
        raise ConfigError(f"EarlyStopping on {restoring[0]} and on {restoring[1]} both restore their best epoch's "
                          "weights, but the network can end with one epoch's weights only; set "
                          "restore_best_weights=False on all but one")
    return sorted(callbacks, key=lambda cb: not isinstance(cb, EarlyStopping))


#: The hooks :class:`Loop` calls.
HOOKS = ("on_train_begin", "on_epoch_begin", "on_gradients", "on_batch_end", "on_epoch_end", "on_train_end")


def _warn_unknown_hooks(cb: Callback) -> None:
    """Warn of methods of ``cb``'s class named like a hook that the loop never calls (another
    library's ``on_batch_begin``, ``on_train_batch_end``): they would silently do nothing."""
    import warnings

    unknown = sorted({name for klass in type(cb).__mro__ if klass is not object for name, value in vars(klass).items()
                      if name.startswith("on_") and callable(value) and name not in HOOKS})
    if unknown:
        warnings.warn(f"{type(cb).__name__} defines {', '.join(unknown)}, which fit never calls; its hooks are "
                      f"{', '.join(HOOKS)} (on_batch_end for every step, on_gradients before every update)",
                      UserWarning, stacklevel=5)


# -- the loop -----------------------------------------------------------------------------------
class Loop:
    """One run of :func:`fit`: epochs of batches from ``source``, each batch one
    :meth:`train_step`, each epoch closed by :meth:`close_epoch`.

    The gradient hook: a callback that overrides
    :meth:`~deltaprop.callbacks.Callback.on_gradients` is called in every step after
    backward has filled every ``Parameter.grad`` (all views of ``net.flat_gradients``) and
    before the optimizer reads them; the others cost nothing there."""

    def __init__(self, state: TrainingState, source: BatchSource, *, validation=None,
                 callbacks: Sequence[Callback] = (), governor=None):
        self.state, self.source, self.validation = state, source, validation
        self.governor = governor  # a ThreadGovernor, or None: the BLAS threads stay as they are
        self.callbacks = list(callbacks)
        self.gradient_callbacks = [cb for cb in self.callbacks if overrides(cb, "on_gradients")]
        self.params = state.net.parameters()
        if not state.optimizer.is_built_for(self.params):
            state.optimizer.build(self.params)
        self.snapshot = [p.value.copy() for p in self.params]  # the epoch's first weights (finite ones)
        self.first = [p.value.copy() for p in self.params]  # the weights fit began with (see _diverged)
        self.start_largest = _run_start_largest(state, self.first)  # the run's, across resumes
        state.callback_records[UPDATE_FORMS_KEY] = update_forms()  # this session's (a resume's replace them)
        if state.progress is not None and state.progress.batches:
            _check_same_batches(state.progress, source)
        n = source.batch_size if isinstance(source, MiniBatches) else source.n_examples
        self._pred = np.empty(n, dtype=np.int64)
        self._hits = np.empty(n, dtype=np.bool_)
        self._last_rows: np.ndarray | None = None  # the last step's batch (the run's end checks its outputs)

    def run(self) -> History:
        """Train to the end. Every callback whose ``on_train_begin`` returned has its
        ``on_train_end`` called, however training ends, even after another one's raised (a
        checkpoint writer later in the list still writes). What ended the run (Ctrl-C, a
        divergence, a callback's error) is what ``fit`` raises; an ``on_train_end`` error
        after it is added to its notes, else raised itself."""
        state = self.state
        begun: list[Callback] = []
        error: BaseException | None = None
        try:
            for cb in self.callbacks:
                cb.on_train_begin(state)
                begun.append(cb)
            while not self.stop_requested() and not _finished(state):
                self.run_epoch()
            # The last step's update is followed by no loss that would show it overflowed.
            if not self._weights_finite():
                self._diverged("the weights are no longer finite", epoch=state.epoch, step=state.step)
        except BaseException as exc:
            error = exc
            raise
        finally:
            failed = None
            for cb in begun:
                try:
                    cb.on_train_end(state)
                except BaseException as exc:
                    if error is not None:
                        error.add_note(f"then {type(cb).__name__}.on_train_end raised {exc!r}")
                    failed = failed or exc
            if failed is not None and error is None:
                raise failed
        return state.history

    def run_epoch(self) -> None:
        """One epoch (or the rest of an unfinished one): its learning rate, its batches
        (until ``steps`` or a stop), then close it."""
        state = self.state
        # float: a schedule of one's own may give a NumPy scalar, which JSON (a checkpoint) cannot hold
        state.optimizer.lr = float(state.schedule.lr_at(state.epoch, state.base_lr))
        for p, saved in zip(self.params, self.snapshot):
            if np.all(np.isfinite(p.value)):
                np.copyto(saved, p.value)
        for cb in self.callbacks:
            cb.on_epoch_begin(state)
        started = time.perf_counter()
        progress = state.progress
        if progress is None:
            correct = 0 if self.source.ids is not None else None
            progress = state.progress = EpochProgress(state.epoch, state.rng.bit_generator.state, correct=correct,
                                                      layout=self.source.layout())
        else:  # draw the unfinished epoch's batches again, then skip those done
            state.rng.bit_generator.state = progress.rng_state
        n_batches = state.epoch_batches = self.source.start_epoch(state.rng)
        state.epoch_batch_rows = self.source.rows_before(n_batches)
        governor = self.governor
        for k in range(progress.batches, n_batches):
            step_started = time.perf_counter()
            xb, yb, idb, wb = self.source.batch(k)
            batch_loss, correct = self.train_step(xb, yb, idb, wb)
            self._last_rows = xb
            step_seconds = time.perf_counter() - step_started  # the governor's: callbacks' time is not the step's
            state.step += 1
            progress.add(xb.shape[0], batch_loss, correct)
            for cb in self.callbacks:
                cb.on_batch_end(state, self.step_rows(xb), batch_loss)
            if governor is not None:
                before = governor.current
                governor.step_done(step_seconds, xb.shape[0], state.step)
                if governor.current != before:
                    state.thread_changes.append((state.step, governor.current))
                    if governor.probed and governor.probed[-1] == state.step:
                        state.thread_probe.append(state.step)
                state.threads = governor.kept  # what a checkpoint keeps: not the probe's trial
            if (state.steps is not None and state.step >= state.steps) or self.stop_in_epoch():
                break
        self.close_epoch(started, finished=progress.batches == n_batches)

    def train_step(self, x: np.ndarray, y: np.ndarray, ids: np.ndarray | None,
                   weights: np.ndarray | None = None) -> tuple[float, int]:
        """Forward, loss, backward, the gradient hook, one update; the batch's loss and its
        number of correct predictions (0 without class ids; every row counts once)."""
        state = self.state
        net, loss = state.net, state.loss
        correct = 0
        try:
            a = net._forward(x, True)
            # float: a loss of one's own may return a NumPy scalar (np.float32 would sum the
            # epoch's loss in float32, and a record of it could not be written as JSON)
            value = float(loss.value(a, y) if weights is None else loss.value(a, y, weights))
            if not math.isfinite(value):
                self._loss_not_finite(value)
            if ids is not None:
                m = a.shape[0]
                predictions_from_outputs(a, out=self._pred[:m], threshold=loss.decision_threshold)
                np.equal(self._pred[:m], ids, out=self._hits[:m])
                correct = int(np.count_nonzero(self._hits[:m]))
            net._backward(loss, a, y, weights)
            for cb in self.gradient_callbacks:
                cb.on_gradients(state)
            state.optimizer.step()
        except TrainingDivergedError:
            raise
        except FloatingPointError as exc:  # overflow under np.errstate(over="raise")
            self._floating_point_error(exc)
        return value, correct

    def step_rows(self, x: np.ndarray) -> int:
        """The rows of the step's batch that callbacks are told of (``on_batch_end``)."""
        return x.shape[0]

    def stop_requested(self) -> bool:
        """Whether a callback asked to stop (``state.stop_training``); asked before every epoch."""
        return self.state.stop_training

    def stop_in_epoch(self) -> bool:
        """Whether a stop asked during an epoch ends it after the batch under way."""
        return self.state.stop_training

    def close_epoch(self, started: float, *, finished: bool = True) -> None:
        """The epoch's record: its running loss and accuracy, validation, the history, then
        the callbacks. Only a finished epoch is shown to the schedule and forgets its
        progress; an unfinished one keeps it, to be reopened by a resume."""
        state = self.state
        epoch = state.epoch
        # An overflow in the epoch's last update has no later loss to show it: check here,
        # before validation and callbacks (a checkpoint writer) see the weights.
        if not self._weights_finite():
            self._diverged("the weights are no longer finite", epoch=epoch + 1, step=state.step)
        progress = state.progress
        seen, loss_sum, correct = self.epoch_totals()
        logs: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": loss_sum / seen,
            "accuracy": correct / seen if correct is not None else None,
            "lr": state.optimizer.lr,
            "steps": state.step,
        }
        if self.validation is not None:
            logs["val_loss"], logs["val_accuracy"] = self.validate()
            if not math.isfinite(logs["val_loss"]):  # finite weights whose outputs overflow: useless ones
                self._diverged(f"the validation loss is {logs['val_loss']}", epoch=epoch + 1, step=state.step)
        elif self._run_ends(finished) and not self._last_outputs_finite():  # no later loss would show it
            self._diverged("the outputs of the last step's rows are NaN or infinite after it", epoch=epoch + 1,
                           step=state.step)
        logs["seconds"] = progress.seconds + (time.perf_counter() - started)
        state.logs = logs
        state.history.append(logs)
        if finished:
            state.progress = None
            state.schedule.observe(epoch, logs)
        else:
            progress.seconds = logs["seconds"]
        state.epoch = epoch + 1
        for cb in self.callbacks:
            cb.on_epoch_end(state)

    def _run_ends(self, finished: bool) -> bool:
        """Whether the epoch being closed is the run's last by its limits (epochs or steps)."""
        state = self.state
        return ((finished and state.epochs is not None and state.epoch + 1 >= state.epochs)
                or (state.steps is not None and state.step >= state.steps))

    def _last_outputs_finite(self) -> bool:
        """Whether the network's outputs on the last step's rows are finite under the weights
        that step left (finite weights can still overflow on them)."""
        rows = self._last_rows
        try:
            return rows is None or bool(np.all(np.isfinite(self.state.net._forward(rows, False))))
        except FloatingPointError:  # np.seterr(over="raise"): they overflowed
            return False

    def epoch_totals(self) -> tuple[int, float, int | None]:
        """The epoch's examples seen, summed loss and correct predictions (None without classes)."""
        return self.state.running

    def validate(self) -> tuple[float, float | None]:
        """Loss and accuracy on the validation set. NumPy raising there (``np.seterr(all=
        "raise")``: an overflow in the forward pass of a validation row) stops the run as a
        divergence, as it does in a step."""
        try:
            return _evaluate(self.state.net, self.state.loss, *self.validation, name="X_val")
        except FloatingPointError as exc:
            self._diverged(f"numpy raised {exc!r} scoring the validation set", step=self.state.step)

    def _loss_not_finite(self, value: float) -> None:
        """A step's loss overflowed: stop the run (data-parallel training first carries it to
        the step's gradient reduction, so that every process stops at the same step)."""
        self._diverged(f"the loss is {value}", loss_overflowed=True)

    def _floating_point_error(self, exc: FloatingPointError) -> None:
        """NumPy raised in a step (``np.seterr(over="raise")``): stop the run, as for a loss
        that overflowed."""
        self._diverged(f"numpy raised {exc!r}")

    def _diagnosis(self, what: str, loss_overflowed: bool) -> tuple[str, str | None]:
        """What diverged and the layer that shows it (:func:`_unstable_layer`)."""
        return what, _unstable_layer(self.state.net, self.snapshot, loss_overflowed)

    def _weights_finite(self) -> bool:
        return all(np.all(np.isfinite(p.value)) for p in self.params)

    def _diverged(self, what: str, *, epoch: int | None = None, step: int | None = None,
                  loss_overflowed: bool = False) -> None:
        """Raise, naming the layer that shows it (:func:`_unstable_layer`), after giving the
        network back the weights the diverged epoch began with, or, where those had already
        exploded (``max|θ|`` :data:`DIVERGED_GROWTH` times or more ``max(1, max|θ₀|)`` of the
        weights ``θ₀`` fit began with), ``θ₀`` themselves, and zeroing the optimizer's state
        (moments, step count): a refit at a lower rate starts from weights and moments it can
        train on. ``epoch`` and ``step`` default to the one under way (1-based)."""
        state = self.state
        epoch = state.epoch + 1 if epoch is None else epoch
        step = state.step + 1 if step is None else step
        what, where = self._diagnosis(what, loss_overflowed)  # before the weights are restored
        top, first_top = _largest(self.snapshot), _largest(self.first)
        exploded = exploded_weights(top, self.start_largest)
        for p, saved in zip(self.params, self.first if exploded else self.snapshot):
            np.copyto(p.value, saved)
        state.optimizer.build(self.params)  # its moments grew with the weights: a refit starts them afresh
        if exploded:
            kept = (f"the weights fit began with (largest |w| {first_top:.3g}; those at the start of epoch {epoch} "
                    f"had already grown to {top:.3g}, too large to train on)")
        else:
            kept = f"the weights from the start of epoch {epoch} (largest |w| {top:.3g})"
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch}, step {step}: {what}{'; ' + where if where else ''}. The network "
            f"keeps {kept}, and the {state.optimizer.type_name} optimizer's state (moments, step count) is reset, "
            f"so both can be fitted again. {_divergence_fixes(state.optimizer.lr)}",
            epoch=epoch,
            step=step,
            layer=where,
            largest_weight=top,
            exploded=exploded,
            start_weight=self.start_largest,
        )


def _divergence_fixes(lr: float) -> str:
    """What to change, in the terms of the caller: the command line has no gradient clipping."""
    from .alerts import interface

    if interface() == "cli":
        return f"Lower the learning rate (--lr; it was {lr:g}) or scale the inputs to [0, 1] (--scaling)"
    return (f"Lower the learning rate (it was {lr:g}), clip the gradients (a callback whose on_gradients scales "
            "state.net.flat_gradients to a largest norm), or scale the inputs to [0, 1]")


#: The training state's record of the run's start (checkpoints keep it, so a resumed run
#: judges its weights against the run's first ones, not those it was resumed from).
RUN_START_KEY = "run_start"


#: The training state's record of the update forms its last session trained with
#: (:func:`update_forms`): a resume on others rounds differently, which ``train --resume`` says.
UPDATE_FORMS_KEY = "update_forms"


def update_forms() -> dict[str, Any]:
    """The forms of the updates and activations this process trains with, each of which
    rounds differently: the kernels (``"numba"`` or ``"numpy"``, :mod:`deltaprop.kernels`)
    and whether the SGD and Adam updates run by BLAS (:mod:`deltaprop.vector_blas`)."""
    from . import kernels

    return {"kernels": kernels.backend(), "blas_updates": bool(vector_blas.available())}


_UPDATE_FORM_WORDS = {"kernels": lambda v: f"{v} kernels", "blas_updates": lambda v: f"BLAS updates {'on' if v else 'off'}"}
_UPDATE_FORM_ENVIRONMENT = {"kernels": lambda v: f"DELTAPROP_KERNELS={v}",
                            "blas_updates": lambda v: f"DELTAPROP_BLAS_UPDATES={'on' if v else 'off'}"}


def changed_update_forms(state: TrainingState) -> list[tuple[str, Any, Any]]:
    """The update forms (:func:`update_forms`) this process trains with that differ from
    those the state's run last trained with, as ``(name, then, now)``: empty where they are
    the same, or the state kept none (written before they were kept)."""
    before, now = state.callback_records.get(UPDATE_FORMS_KEY), update_forms()
    if not isinstance(before, dict):
        return []
    return [(key, before[key], now[key]) for key in _UPDATE_FORM_WORDS if key in before and before[key] != now[key]]


def update_forms_words(changed: list[tuple[str, Any, Any]]) -> tuple[str, str]:
    """The forms of :func:`changed_update_forms` in words: the run's then and this process's
    (``"numba kernels, BLAS updates on"``, ``"numpy kernels, BLAS updates off"``)."""
    then = ", ".join(_UPDATE_FORM_WORDS[key](old) for key, old, _ in changed)
    return then, ", ".join(_UPDATE_FORM_WORDS[key](new) for key, _, new in changed)


def _warn_other_update_forms(state: TrainingState) -> None:
    """A resume that trains with other update forms than the run's last session did: each
    rounds differently, so the weights are no longer bit for bit an uninterrupted run's."""
    changed = changed_update_forms(state)
    if changed:
        import warnings

        then, now = update_forms_words(changed)
        setting = " ".join(_UPDATE_FORM_ENVIRONMENT[key](old) for key, old, _ in changed)
        warnings.warn(f"resume= continues a run whose last epochs trained with {then}, and this process trains with "
                      f"{now}, which round differently, so the weights will not be bit for bit an uninterrupted "
                      f"run's; for its bits, resume in a process started with {setting}", UserWarning, stacklevel=6)


def _run_start_largest(state: TrainingState, first: Sequence[np.ndarray]) -> float:
    """``max |θ₀|`` of the weights the run began with: of ``first`` in a fresh run, kept in
    the state's records; read back from them in a resumed one (``first``'s, the resumed
    weights', where they hold none: a checkpoint written before it was kept)."""
    if state.step == 0 and not state.history.records:
        top = _largest(first)
        if math.isfinite(top):
            state.callback_records[RUN_START_KEY] = {"largest_weight": top}
        return top
    kept = state.callback_records.get(RUN_START_KEY, {}).get("largest_weight")
    number = isinstance(kept, (int, float)) and not isinstance(kept, bool) and math.isfinite(kept) and kept >= 0
    return float(kept) if number else _largest(first)


def exploded_weights(largest: float, start: float) -> bool:
    """Whether weights whose largest ``max |θ|`` is ``largest`` have exploded from weights whose
    largest was ``start``: grown :data:`DIVERGED_GROWTH` times or more ``max(1, start)``, or not
    finite (NaN or infinity)."""
    return not math.isfinite(largest) or largest >= DIVERGED_GROWTH * max(1.0, start)


def _largest(weights: Sequence[np.ndarray]) -> float:
    """``max |θ|`` over every array of ``weights`` (0 for none)."""
    return max((float(np.max(np.abs(w))) for w in weights if w.size), default=0.0)


#: A layer whose largest weight is this many times its largest at the start of the epoch
#: grew by orders of magnitude (:func:`_unstable_layer`).
DIVERGED_GROWTH = 100.0


def _unstable_layer(net: Network, snapshot: Sequence[np.ndarray], loss_overflowed: bool = False) -> str | None:
    """The first layer, input to output, that shows the divergence, in words: its weights or
    gradients NaN or infinite, its largest weight ``max |θ|`` :data:`DIVERGED_GROWTH` times or more
    its value at the start of the epoch (``snapshot``: every parameter's value then, in
    order), or its outputs of the last training forward NaN or infinite; else, for a loss
    that overflowed (``loss_overflowed``), the last layer, whose finite outputs it overflowed
    on (or, where ``max|a|² · size`` cannot overflow, the targets); else None. Run on the
    divergence only: it reads every parameter once."""
    saved = iter(snapshot)
    with np.errstate(all="ignore"):
        for i, layer in enumerate(net.layers):
            name = f"layer {i} ({layer.type_name})"
            params = layer.parameters()
            before = [next(saved) for _ in params]
            if not all(_checks.all_finite(p.value) for p in params):
                return f"{name} holds NaN or infinite weights"
            if not all(_checks.all_finite(p.grad) for p in params):
                return f"{name} has NaN or infinite gradients"
            if params:
                start = max(float(np.max(np.abs(v))) for v in before)
                now = max(float(np.max(np.abs(p.value))) for p in params)
                if start > 0 and now >= DIVERGED_GROWTH * start:
                    return f"{name}'s largest weight grew from {start:.3g} to {now:.3g} since the epoch began"
            output = net._outputs[i]
            if output is not None and not _checks.all_finite(output):
                return f"{name}'s outputs are NaN or infinite"
        output = net._outputs[-1]
        if loss_overflowed and output is not None and output.size:
            last, top = f"layer {len(net.layers) - 1} ({net.layers[-1].type_name})", float(np.max(np.abs(output)))
            if top * top * output.size < np.finfo(output.dtype).max:  # no sum of their squares overflows
                wider = ", or use dtype='float64'" if output.dtype != np.float64 else ""
                return (f"{last}'s outputs are at most {top:.3g}, so the targets (or sample weights) overflowed "
                        f"the loss in {output.dtype.name}: scale the targets{wider}")
            return f"{last}'s outputs reach {top:.3g}, too large for the loss"
    return None


def _finished(state: TrainingState) -> bool:
    """Whether the run has reached its ``epochs`` or ``steps``."""
    return (state.epochs is not None and state.epoch >= state.epochs) or (
        state.steps is not None and state.step >= state.steps
    )


def _prepare(net, X, y, *, loss, optimizer, epochs, steps, batch_size, seed, schedule, resume, sample_weight=None):
    """Check the arguments; the state to train and ``(X, target rows, class ids, row weights or None)``."""
    if not isinstance(net, Network):
        raise ConfigError(f"fit needs a deltaprop Network, got {type(net).__name__}")
    if not isinstance(loss, Loss):
        raise ConfigError(f"loss must be a deltaprop loss such as CrossEntropy(), got {loss!r}")
    if not isinstance(optimizer, Optimizer):
        raise ConfigError(f"optimizer must be a deltaprop optimizer such as SGD(lr=0.1), got {optimizer!r}")
    if epochs is not None:
        epochs = _checks.positive_int("epochs", epochs)
    if steps is not None:
        steps = _checks.positive_int("steps", steps)
    if epochs is None and steps is None:  # a resume goes on to its run's limits (where the state knows them)
        known = isinstance(resume, TrainingState) and (resume.epochs is not None or resume.steps is not None)
        epochs, steps = (resume.epochs, resume.steps) if known else (10, None)
    if batch_size is not None:
        _checks.positive_int("batch_size", batch_size)
    loss.check_output(net)
    _no_dropout_after_the_output(net)
    net.decision_threshold = float(loss.decision_threshold)  # predict's rule for one output: 0 for a logit
    shape = getattr(X, "shape", None)
    X_arr = _training_inputs(net, X, batch_size)
    if isinstance(shape, tuple) and len(shape) > 2:  # images given as such: each example's shape, which save records
        net.input_shape = tuple(int(d) for d in shape[1:])
    Y = loss.prepare_targets(y, net.n_outputs, net.dtype)
    _checks.same_length(len(X_arr), Y.shape[0])
    ids = _class_ids(loss, Y)
    # values, not classes: predict returns the outputs (binary cross-entropy's rows of several 1s are
    # independent labels, which have no accuracy but are no regressor's values)
    net.gives_values = ids is None and not isinstance(loss, BinaryCrossEntropy)
    net.multilabel = _multilabel_targets(net, loss, Y, ids)
    W = None if sample_weight is None else row_weights(sample_weight, len(Y), net.dtype)
    batches = 1 if batch_size is None else -(-len(X_arr) // max(1, min(batch_size, len(X_arr))))
    state = _training_state(net, loss, optimizer, epochs=epochs, steps=steps, seed=seed, schedule=schedule,
                            resume=resume, batches=batches, weights=weights_digest(W),
                            data=data_fingerprint(net, X_arr, Y))
    state.n_examples = len(X_arr)
    return state, (X_arr, Y, ids, W)


def _no_dropout_after_the_output(net: Network) -> None:
    """Refuse a Dropout after the network's last other layer: in training it would drop the
    outputs the loss compares with the targets (a dropped softmax probability reads as
    log 0, the kept ones are scaled by 1/(1 − p) and no longer sum to 1), so the loss and
    gradients would not be the model's. At inference it is the identity, so evaluate and
    predict take such a network."""
    from .layers import Dropout

    i = len(net.layers)
    while i > 0 and isinstance(net.layers[i - 1], Dropout):
        i -= 1
    dropped = [k for k in range(i, len(net.layers)) if net.layers[k].rate > 0]
    if i > 0 and dropped:
        k = dropped[0]
        raise ConfigError(
            f"layer {k} ({net.layers[k]!r}) comes after the output layer {i - 1} ({type(net.layers[i - 1]).__name__}): "
            "in training it would drop the outputs the loss compares with the targets. Put the Dropout before "
            "the last Dense layer, or remove it"
        )


def _training_inputs(net: Network, X, batch_size):
    """``X`` in the network's dtype, or a lazy array whose shape has been checked."""
    if _checks.is_sparse(X) and batch_size is None:  # one batch of every row: dense
        X = X.toarray()
    if not _is_lazy(X):
        return _checks.features(X, net.n_features, net.dtype, warn_rounding=True)
    if batch_size is None:
        raise ConfigError(
            "full-batch training needs X in memory; pass a batch_size to stream mini-batches "
            "from disk, or load the array with np.asarray(X[np.arange(len(X))])"
        )
    return _checks.lazy_features(X, net.n_features)


def _training_state(net, loss, optimizer, *, epochs, steps, seed, schedule, resume, batches=1,
                    weights=UNWEIGHTED, data=None) -> TrainingState:
    """A new state, or ``resume`` set to run to ``epochs``/``steps`` with ``loss``; a schedule
    named without its length takes the run's (``batches`` an epoch: the epochs ``steps`` take).
    ``weights``: the :func:`weights_digest` of the rows' weights this call trains on; ``data``:
    the :func:`data_fingerprint` of its rows (None: not known).

    A resume with nothing left to train raises :class:`~deltaprop.errors.ConfigError`. It
    trains on with the state's loss, schedule, rate (``state.base_lr``) and shuffling, so it
    raises ``ConfigError`` for another of deltaprop's losses than the state's (or its
    settings, such as ``from_logits``; a loss class of your own is taken as given), for a
    ``schedule`` other than the state's, for an ``optimizer.lr`` set since (set
    ``state.base_lr`` instead), and for a ``seed`` other than the one the run began with
    (kept in the state): leave ``seed`` and ``schedule`` out or pass the run's own. It
    raises ``ConfigError`` too where a fit of another network has bound the optimizer to
    that one since, zeroing the moments the run goes on from, for a ``sample_weight``
    other than the run's (or none where it had some, or some where it had none), and for
    other training rows than the run's (:func:`_check_same_data`)."""
    if resume is None:
        state = _new_training_state(net, loss, optimizer, epochs=epochs, steps=steps, seed=seed, schedule=schedule,
                                    batches=batches)
        state.sample_weight, state.training_data = weights, data
        return state
    _check_resume_of(resume, net, optimizer)
    _check_same_data(resume, data)  # before the state changes: a refused resume leaves it as it was
    _check_same_weights(resume, weights)
    state = resume
    if state.resume_weights is not None:  # a callback changed the weights after the last step
        for p, w in zip(net.parameters(), state.resume_weights):
            np.copyto(p.value, w)
        state.resume_weights = None
    if state.schedule is None:
        state.schedule = schedule_from_config(schedule)
    if state.base_lr is None:
        state.base_lr = optimizer.lr
    saved = schedule_from_config(resume.schedule).config()
    if schedule is not None and schedule_for_run(schedule, None, lengths=saved).config() != saved:
        raise ConfigError(
            "resume= continues with the schedule (and its state) saved in the TrainingState; "
            "pass the same schedule or none"
        )
    _check_same_run(state, loss, seed)
    _check_same_rate(state, optimizer)
    if state.step == 0:  # a state made for a run yet to start (a run begun with it was checked then)
        check_anneals(state.schedule, state.base_lr)
    _check_work_left(state, epochs, steps)
    _check_schedule_covers(state, epochs, steps, batches)
    _warn_other_update_forms(state)  # user → fit → _fit → _prepare → _training_state → it
    if state.progress is not None:  # reopen the unfinished epoch: its record is rewritten
        state.epoch = state.progress.epoch
        del state.history.records[state.epoch :]
    state.epochs, state.steps = epochs, steps
    # a state that did not know its weights or rows: the run goes on with these
    state.sample_weight, state.training_data = weights, data
    state.stop_training = False
    state.loss = loss
    return state


def _new_training_state(net, loss, optimizer, *, epochs, steps, seed, schedule, batches) -> TrainingState:
    """The state of a run that starts now (see :func:`_training_state`)."""
    rng = np.random.default_rng(_checks.seed(seed))
    state = TrainingState(net=net, optimizer=optimizer, loss=loss, rng=rng, epochs=epochs, steps=steps)
    run_epochs = min(n for n in (epochs, None if steps is None else -(-steps // batches)) if n is not None)
    state.schedule = schedule_for_run(schedule, run_epochs)
    state.schedule.reset()  # an instance used by an earlier run starts afresh
    if optimizer.lr == 0:  # a schedule may reach 0, but a run that starts there trains nothing
        raise ConfigError(f"optimizer.lr is 0: the run would leave the weights as they are; set a rate > 0, "
                          f"e.g. {optimizer.type_name}(lr=0.01) or optimizer.lr = 0.01")
    state.base_lr = optimizer.lr
    check_anneals(state.schedule, state.base_lr, "optimizer.lr")
    warn_idle_after_t_max(state.schedule, run_epochs, stacklevel=6)  # user → fit → _fit → _prepare → _training_state → here
    warn_stalled_by_decay(state.schedule, run_epochs, stacklevel=6)
    state.seed = recorded_seed(seed)
    return state


def _check_resume_of(resume, net, optimizer) -> None:
    """``resume`` is a TrainingState of this network and optimizer whose moments the
    optimizer still holds (see :func:`_training_state`)."""
    if not isinstance(resume, TrainingState):
        raise ConfigError(f"resume= takes the TrainingState of an earlier run (the state callbacks see, or "
                          f"load_checkpoint(path).training_state()), not {type(resume).__name__}")
    if resume.net is not net or resume.optimizer is not optimizer:
        other = " and ".join(name for name, mine in (("network", resume.net is net),
                                                     ("optimizer", resume.optimizer is optimizer)) if not mine)
        raise ConfigError(f"resume= goes on with the weights and optimizer moments its TrainingState holds, and "
                          f"this call gives another {other} (a new one, even of the same settings, holds other "
                          "values); pass the state's own: for a checkpoint ck = load_checkpoint(path), "
                          "fit(ck.net, X, y, loss=ck.loss, optimizer=ck.optimizer, resume=ck.training_state())")
    if resume.step and optimizer.slots and not optimizer.is_built_for(net.parameters()):
        # a fit of another network bound the optimizer to that one, zeroing its moments and steps:
        # the resume would train on from zero moments, no longer the run it continues
        raise ConfigError(
            f"resume= continues the {optimizer.type_name} moments of this run, but the optimizer has been bound "
            "to another network's parameters since (a fit of another network with it zeroes them), so the run "
            "cannot go on exactly: give each network its own optimizer, or resume from a checkpoint "
            "(load_checkpoint(path).training_state())"
        )


def _check_schedule_covers(state: TrainingState, epochs: int | None, steps: int | None, batches: int) -> None:
    """Refuse to extend a run past the end of its cosine schedule, as ``deltaprop train
    --resume`` does: the epochs after ``t_max`` would all train at ``min_lr`` (0 by default:
    not at all). A run set up to go on past ``t_max`` goes on; a state that does not know the
    length it was set up for (one from a checkpoint written before checkpoints kept
    ``epochs`` and ``steps``) is not checked."""
    schedule = state.schedule
    if not isinstance(schedule, CosineAnnealing) or (state.epochs is None and state.steps is None):
        return

    def run_epochs(epochs, steps):
        return min(n for n in (epochs, None if steps is None else -(-steps // batches)) if n is not None)

    planned, asked, t_max = run_epochs(state.epochs, state.steps), run_epochs(epochs, steps), schedule.t_max
    if planned <= t_max < asked:
        by_steps = steps is not None and (epochs is None or -(-steps // batches) <= epochs)  # the limit asked
        length, limit, most = ((f"{steps:,} steps ({asked} epochs of {batches} steps)", f"steps={steps}",
                                f"steps={t_max * batches}") if by_steps else
                               (f"{asked} epochs", f"epochs={asked}", f"epochs={t_max}"))
        within = "" if state.completed_epochs >= t_max else f", or resume with at most {most}"
        after = f"epoch {asked} would train" if asked == t_max + 1 else f"epochs {t_max + 1}-{asked} would all train"
        raise ConfigError(f"cannot extend this run to {length}: its cosine schedule ends at epoch {t_max} "
                          f"(t_max={t_max}), so {after} at its min_lr {schedule.min_lr:g}; start a new fit with "
                          f"{limit} (the cosine then anneals over all of them){within}")


def _check_same_rate(state: TrainingState, optimizer: Optimizer) -> None:
    """A resume trains at the run's own rate: ``state.base_lr`` through its schedule. The
    optimizer holds that base rate after ``fit`` returns, or the rate of the epoch it was
    saved in when rebuilt from a checkpoint (:attr:`TrainingState.carried_lr`: a plateau
    schedule may have lowered its rate after that epoch, at the epoch's end); any other
    ``optimizer.lr`` was set since, and is refused rather than silently replaced by the run's."""
    lr, base = float(optimizer.lr), float(state.base_lr)
    if state.carried_lr is not None and math.isclose(lr, state.carried_lr, rel_tol=1e-6):
        return
    epochs = {state.epoch, max(state.epoch - 1, 0)} | ({state.progress.epoch} if state.progress is not None else set())
    if any(math.isclose(lr, float(rate), rel_tol=1e-6) for rate in
           [base, *(state.schedule.lr_at(e, base) for e in sorted(epochs))]):
        return
    raise ConfigError(f"optimizer.lr is {lr:g}, but resume= continues the run at its own rate (base {base:g}); "
                      f"to train on at {lr:g}, set state.base_lr = {lr:g} before fit (its schedule anneals from "
                      "it), or start a new fit without resume=")


def _check_same_batches(progress: EpochProgress, source: BatchSource) -> None:
    """Refuse to finish an unfinished epoch from other batches than it began with: its
    first ``progress.batches`` batches were of its own size, order and rows, and the rest
    of another layout would skip some rows and take others twice (or never end)."""
    here, n_batches = source.layout(), source.start_epoch(np.random.default_rng(0))
    same = here == progress.layout if progress.layout is not None else (
        progress.batches < n_batches and source.rows_before(progress.batches) == progress.seen)
    # all of them is a state taken after the epoch's last step, before it closed; more cannot be
    if same and progress.batches > n_batches:  # the epoch would never close, and the run would end untrained
        raise StateError(f"the resumed state stopped {progress.batches} batches into epoch {progress.epoch + 1}, "
                         f"but that epoch ({here}) has {n_batches}: the training state was edited or damaged; "
                         "resume from a checkpoint deltaprop wrote")
    if not same:
        began = progress.layout or f"batches that held {progress.seen} rows in {progress.batches}"
        raise ConfigError(
            f"the resumed state stopped {progress.batches} batches into epoch {progress.epoch + 1}, of {began}; "
            f"this call gives {here}. Finish that epoch with the batch size, batching and data it began with "
            "(or resume from a checkpoint taken at the end of an epoch)"
        )


def _check_same_run(state: TrainingState, loss: Loss, seed) -> None:
    """Refuse a resume with another seed than the state began with (its shuffling goes on
    from the state's generator, so a new seed would be ignored) or another of deltaprop's
    losses than it trained with (the run would change its objective midway). A loss of
    another class (a wrapper of the state's) and a seed the state does not know pass."""
    if seed is not None and state.seed is not None and recorded_seed(seed) != state.seed:
        raise ConfigError(
            f"resume= continues the run's shuffling from the TrainingState, which began with seed={state.seed}; "
            f"seed={seed!r:.60} would be ignored. Pass seed={state.seed} or leave seed out, or start a new run "
            "(without resume=) to train with another seed"
        )
    from .losses import CrossEntropy, MeanSquaredError

    own = (CrossEntropy, BinaryCrossEntropy, MeanSquaredError)
    if type(loss) in own and type(state.loss) in own and loss.config() != state.loss.config():
        raise ConfigError(
            f"resume= continues a run trained with the loss {state.loss!r}; loss={loss!r} would change its "
            f"objective midway. Pass loss={state.loss!r} (the checkpoint's .loss), or start a new run "
            "(without resume=) to train with another loss"
        )


def _check_same_weights(state: TrainingState, weights: str) -> None:
    """Refuse a resume whose rows' weights (``weights``: their :func:`weights_digest`) are not
    the run's: the loss the rest of the run minimises would be another weighting of the rows.
    A state that does not know its weights (written before it kept them) takes any.

    Over MPI every rank is given the whole ``sample_weight`` and takes its share of each
    batch (:mod:`deltaprop.distributed`, whose start-up check makes the ranks agree on it),
    so the digest is of the same weights on every rank, on any number of processes."""
    kept = state.sample_weight
    if kept is None or kept == weights:
        return
    if weights == UNWEIGHTED:
        what = f"the run trained with sample_weight (digest {kept[:8]}…); this call gives none"
    elif kept == UNWEIGHTED:
        what = f"the run trained without sample_weight; this call gives one (digest {weights[:8]}…)"
    else:
        what = f"this call's sample_weight (digest {weights[:8]}…) differs from the run's (digest {kept[:8]}…)"
    raise ConfigError(
        f"resume= continues the run's objective, but {what}: the rest of the run would minimise another "
        "weighting of the rows; pass the sample_weight the run trained with, or start a new run (without "
        "resume=) to train with other weights"
    )


def _check_same_data(state: TrainingState, data: dict[str, Any] | None) -> None:
    """Refuse a resume on other training rows than the run's (``data``: their
    :func:`data_fingerprint`): the rest of the run would train on them with the shuffled
    order and the place in the epoch of the run's rows. A state that does not know its rows
    (written before it kept them; the scikit-learn estimators' ``partial_fit`` clears the
    record, as each call trains on its own rows) takes any. What the fingerprint cannot see
    is said by :func:`data_fingerprint`; over MPI every rank makes the same one."""
    kept = state.training_data
    if kept is None or data is None or kept == data:
        return
    differs = [f"this call's {what} {data[key]:,} {unit} where the run's had {kept[key]:,}"
               for key, what, unit in (("rows", "X and y have", "rows"), ("features", "X has", "features a row"))
               if data[key] != kept[key]]
    if not differs:
        compared = f"{min(data['rows'], FINGERPRINT_ROWS):,} of its {data['rows']:,} rows"
        differs = [f"this call's {what}" for key, what in
                   (("y", "y (labels or targets) differs from the run's"),
                    ("X", f"X differs from the run's in the {compared} compared")) if data[key] != kept[key]]
    raise ConfigError(
        f"resume= continues the run on its training data, but {' and '.join(differs)}: the rest of the run would "
        "train on other rows with the shuffled order and epoch position of the run's. Pass the X and y the run "
        "trained with; to train the network further on this data, start a new run from its weights: fit without "
        "resume= (the network keeps its weights; from a file, net = deltaprop.load(path)), or in scikit-learn "
        "warm_start=True or partial_fit"
    )


def _check_work_left(state: TrainingState, epochs: int | None, steps: int | None) -> None:
    """Refuse a resume that would train nothing (it would look like a finished run)."""
    if not state.finished(epochs, steps):
        return
    if steps is not None and state.step >= steps:
        raise ConfigError(
            f"nothing to train: the run has already taken {state.step} steps; ask for more than {state.step}"
        )
    done = state.completed_epochs
    raise ConfigError(
        f"nothing to train: the run has already completed {done} epoch{'s' if done != 1 else ''}; "
        f"ask for more than {done} epochs to continue it"
    )


def evaluate(net: Network, X, y, *, loss: Loss | None = None) -> dict[str, float | None]:
    """``{"loss": ..., "accuracy": ...}`` of ``net`` on ``(X, y)`` (loss only if given). A
    single output is class 1 at ``a ≥`` the given loss's threshold or, with no loss, the
    network's own :attr:`~deltaprop.Network.decision_threshold` (0 for a single logit
    trained by ``fit``), as :meth:`~deltaprop.Network.predict` decides. A regressor
    (:attr:`~deltaprop.Network.gives_values`) has no accuracy (None, also where ``y`` is
    0 and 1, unless ``MeanSquaredError(classification=True)`` is given); with no loss its
    loss is its own, ``(1/n) Σ_i ‖a_i − y_i‖²``. A multi-label classifier
    (:attr:`~deltaprop.Network.multilabel`) has no accuracy of one class a row either
    (None): compare ``net.predict(X)`` with ``y`` label by label; with no loss its loss is
    its binary cross-entropy. Outputs that are NaN or infinite are a :class:`DataError`, not
    scored (as :meth:`~deltaprop.Network.predict` refuses them)."""
    from .losses import MeanSquaredError

    used = loss
    if used is None and net.multilabel:  # its own loss: each label's binary cross-entropy
        used = BinaryCrossEntropy()
    if used is None:
        used = MeanSquaredError(classification=False if net.gives_values else None)
        used.decision_threshold = net.decision_threshold
    used.check_output(net)
    Xa = _checks.lazy_features(X, net.n_features) if _is_lazy(X) else _checks.features(X, net.n_features, net.dtype)
    Y = used.prepare_targets(y, net.n_outputs, net.dtype)
    _checks.same_length(len(Xa), Y.shape[0])
    undecided = isinstance(used, MeanSquaredError) and "classification" not in used.config()
    ids = None if (net.gives_values and undecided) or net.multilabel else _class_ids(used, Y)
    value, acc = _evaluate(net, used, Xa, Y, ids, finite=True)
    return {"loss": value if loss is not None or net.gives_values or net.multilabel else None, "accuracy": acc}
