"""Callbacks: hooks the training loop calls at the start and end of training, of every
epoch and of every batch, and in every step between the gradients and the update. A callback
reads the loop's :class:`~deltaprop.training.TrainingState` and asks it to stop by setting
``state.stop_training``; it never reaches into the optimizer."""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _checks
from .errors import ConfigError
from .watch import MetricWatch
from .serialization import checkpoint_parts, write_checkpoint_parts

if TYPE_CHECKING:  # pragma: no cover
    from .training import TrainingState


class Callback:
    """Base class: override the hooks you need. ``fit`` calls only these six (there is no
    ``on_batch_begin``: change a step's update in :meth:`on_gradients`) and warns of a
    method named like another hook. ``fit`` sets ``optimizer.lr`` from the schedule at the
    start of every epoch, before :meth:`on_epoch_begin`: a rate a callback sets there holds
    for the epoch, one set in another hook only until the next epoch starts (set a step's
    rate in :meth:`on_gradients`)."""

    def on_train_begin(self, state: "TrainingState") -> None: ...

    def on_epoch_begin(self, state: "TrainingState") -> None: ...

    def on_gradients(self, state: "TrainingState") -> None:
        """The gradient hook, called in every step after backward and before the optimizer's
        update: every ``Parameter.grad`` holds ``∂L/∂θ`` for the batch (the loss gradient,
        without weight decay), all views of one flat array, ``state.net.flat_gradients``.
        A hook may read them (diagnostics) or change them in place (averaging them across
        processes); the update uses what it leaves. Only callbacks that override this
        method are called here, so the others add nothing to a step."""

    def on_batch_end(self, state: "TrainingState", batch_size: int, batch_loss: float) -> None: ...

    def on_epoch_end(self, state: "TrainingState") -> None: ...

    def on_train_end(self, state: "TrainingState") -> None: ...


class EarlyStopping(Callback):
    """Stop once more than ``patience`` epochs in a row have not improved ``monitor`` by more
    than ``min_delta`` (``patience`` epochs are tolerated; Keras stops one epoch sooner). With
    ``restore_best_weights`` the network ends with the weights of its best epoch. ``monitor``
    is one of ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``; a ``val_`` metric falls
    back to its training counterpart without validation data; accuracies are maximised,
    losses minimised (:class:`~deltaprop.watch.MetricWatch`). An epoch cut short (by
    ``steps`` or another callback's stop) may be the best, but never counts as the stop.

    A new run starts afresh. What it knows (the best value, its epoch, the epochs waited and
    the best epoch's weights) is kept in the training state at the end of every finished
    epoch (:attr:`~deltaprop.training.TrainingState.callback_records`, ``saved_weights``), so
    checkpoints hold it and a resumed run (``fit(resume=...)``, ``deltaprop train --resume``)
    stops at the epoch, with the weights, an uninterrupted one would. A run it already
    stopped stays stopped: resumed with it, the run trains no further epoch and ends with
    the best epoch's weights (resume without it to train on). A resumed state without its
    record (a checkpoint written before it was kept, or a run without early stopping)
    starts watching at the resume, with a warning."""

    def __init__(self, monitor: str = "val_loss", *, patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True):
        self.watch = MetricWatch(monitor, min_delta=min_delta)
        self.patience = _checks.positive_int("patience", patience, allow_zero=True)
        self.restore_best_weights = restore_best_weights
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.last_epoch: int | None = None  # the last epoch it saw end
        self._stopped_before = False  # the resumed run was already stopped by it
        self._best_weights: list[np.ndarray] | None = None

    @property
    def monitor(self) -> str:
        return self.watch.monitor

    @property
    def min_delta(self) -> float:
        return self.watch.min_delta

    @property
    def best(self) -> float:
        """The best value of ``monitor`` so far (NaN before the first)."""
        return self.watch.best

    @property
    def key(self) -> str:
        """Its name in the training state's records and saved weights."""
        return f"early_stopping.{self.monitor}"

    def on_train_begin(self, state):
        self.watch.reset()
        self.best_epoch = self.stopped_epoch = self._best_weights = None
        self._stopped_before = False
        record = state.callback_records.get(self.key)
        if record is not None:
            self._load(record, state.saved_weights.get(self.key))
            if self._stopped_before:
                state.stop_training = True
        elif state.completed_epochs > 0:  # midway through the first epoch there is nothing to record yet
            warnings.warn(
                f"EarlyStopping starts afresh at epoch {state.completed_epochs + 1}: the resumed training state holds no "
                f"early-stopping record for {self.monitor} (a checkpoint written before deltaprop kept one, or a "
                "run without early stopping), so it may stop elsewhere than an uninterrupted run",
                UserWarning, stacklevel=2,
            )

    def _load(self, record: dict, weights: list[np.ndarray] | None) -> None:
        """Take up a resumed run's record (see :meth:`_record`)."""
        from .errors import StateError

        best, wait = record.get("best"), record.get("wait")
        epochs = [record.get("best_epoch"), record.get("stopped_epoch")]
        numbers_ok = (best is None or (isinstance(best, (int, float)) and not isinstance(best, bool)
                                        and math.isfinite(best)))
        counts = [wait, *(e for e in epochs if e is not None)]
        if not numbers_ok or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise StateError(f"the training state's {self.key} record is malformed: {record!r:.200}")
        if self.restore_best_weights and epochs[0] is not None and weights is None:
            raise ConfigError(f"the resumed run kept no best weights for {self.monitor} (it ran with "
                              "restore_best_weights=False); resume with restore_best_weights=False")
        self.watch.best = math.nan if best is None else float(best)
        self.watch.wait = wait
        self.best_epoch = epochs[0]
        self._best_weights = weights if self.restore_best_weights else None
        if epochs[1] is not None:  # it stopped that run: a resume trains nothing more
            self.stopped_epoch = epochs[1]
            self._stopped_before = True

    def _record(self, state) -> None:
        """Keep what it knows in the training state (after a finished epoch)."""
        best = self.watch.best
        state.callback_records[self.key] = {
            "best": None if math.isnan(best) else best, "wait": self.watch.wait,
            "best_epoch": self.best_epoch, "stopped_epoch": self.stopped_epoch,
        }
        if self._best_weights is not None:
            state.saved_weights[self.key] = self._best_weights

    def on_epoch_end(self, state):
        finished = state.progress is None  # an epoch cut short is run again by a resume
        self.last_epoch = state.epoch
        improved = self.watch.update(state.logs)
        if improved:
            self.best_epoch = state.epoch
            if self.restore_best_weights:
                params = state.net.parameters()
                if self._best_weights is None or not finished:  # new arrays: the state's stay as recorded
                    self._best_weights = [p.value.copy() for p in params]
                else:
                    for saved, p in zip(self._best_weights, params):
                        np.copyto(saved, p.value)
        elif improved is False and self.watch.wait > self.patience and finished:  # a cut-short epoch ends the run anyway
            self.stopped_epoch = state.epoch
            state.stop_training = True
        if finished:
            self._record(state)

    def on_train_end(self, state):
        if self.restore_best_weights and self._best_weights is not None:
            params = state.net.parameters()
            if state.resume_weights is None:  # a resume continues from where training stopped
                state.resume_weights = [p.value.copy() for p in params]
            for saved, p in zip(self._best_weights, params):
                np.copyto(p.value, saved)

    def report(self) -> str | None:
        """What happened, in one line: the epoch it stopped at, the epoch whose weights the
        network kept and why; also, when it never stopped training but an earlier epoch was
        the best, that the network holds that epoch's weights, not the last one's; else None."""
        if self.stopped_epoch is None:
            if not self.restore_best_weights or self.best_epoch is None or self.last_epoch in (None, self.best_epoch):
                return None
            return (f"early stopping did not stop the run (patience {self.patience}), but kept the weights of epoch "
                    f"{self.best_epoch}, the best {self.monitor} ({metric_text(self.best)}), not those of the last epoch, "
                    f"{self.last_epoch}")
        kept = (f"kept the weights of epoch {self.best_epoch}, the best" if self.restore_best_weights
                else f"kept the last weights; the best was epoch {self.best_epoch}")
        return (f"early stopping at epoch {self.stopped_epoch}: {self.monitor} did not improve on {metric_text(self.best)} "
                f"for {self.watch.wait} epochs (patience {self.patience}); {kept}")


def early_stopped_epoch(state: "TrainingState") -> int | None:
    """The epoch at which early stopping ended the run ``state`` holds, from its record;
    None when no early stopping stopped it."""
    stopped = [r.get("stopped_epoch") for key, r in state.callback_records.items()
               if key.startswith("early_stopping.") and isinstance(r, dict)]
    return min((e for e in stopped if isinstance(e, int)), default=None)


def restored_epoch(state: "TrainingState") -> int | None:
    """The epoch whose weights early stopping keeps to restore as the run ends (its best,
    with ``restore_best_weights``), from its record; None where none keeps any."""
    kept = [r.get("best_epoch") for key, r in state.callback_records.items()
            if key.startswith("early_stopping.") and isinstance(r, dict) and key in state.saved_weights]
    return max((e for e in kept if isinstance(e, int)), default=None)


def epoch_rows(state: "TrainingState") -> int:
    """The rows the epoch just closed trained on: every training row, or, for an epoch a
    ``steps`` limit or a stop cut short (its progress kept), the rows it saw before that."""
    return state.progress.seen if state.progress is not None else state.n_examples


def metric_text(value: float) -> str:
    """A loss or accuracy as the epoch lines and the report give it: 4 decimals where those
    show it (``1e-3 ≤ |v| < 1e5``, or 0), else 5 significant digits (``1.0526e+19`` of a
    loss that diverged, not ``10526307236027553792.0000``; ``3.2e-07``, not ``0.0000``)."""
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e5 else f"{value:.5g}"


def epoch_summary(state: "TrainingState") -> str:
    """One epoch's results in a line: ``epoch 3/10: loss 0.1234, accuracy 0.9612, ...``;
    the speed is the rows it trained on (:func:`epoch_rows`) over its seconds."""
    logs = state.logs
    total = f"/{state.epochs}" if state.epochs is not None else ""
    parts = [f"loss {metric_text(logs['loss'])}"]
    for key in ("accuracy", "val_loss", "val_accuracy"):
        if logs.get(key) is not None:
            parts.append(f"{key.replace('_', ' ')} {metric_text(logs[key])}")
    if logs.get("seconds"):
        parts.append(f"{epoch_rows(state) / logs['seconds']:,.0f} examples/s")
    return f"epoch {logs['epoch']}{total}: " + ", ".join(parts)


class ProgressBar(Callback):
    """A live bar per epoch (tqdm) with the running loss and accuracy, then the epoch's
    results as one full line (printed, never cut; a narrow terminal wraps it). The live
    bar fits the terminal (``ncols``, default its width) by leaving out whole fields,
    accuracy first, never by cutting a number. It counts the rows of the epoch's batches
    (sliding windows share a row with the next: ``⌈n/b⌉·(b + 1)`` rows, not ``n``)."""

    #: Room tqdm's own text takes besides the description and fields: percentage, a bar
    #: of at least 10 cells, counts, times and speed.
    _BAR_ROOM = 60

    def __init__(self, *, file=None, leave: bool = True, ncols: int | None = None):
        self.file = file if file is not None else sys.stderr
        self.leave = leave
        self.ncols = ncols
        self._bar = None

    def _width(self) -> int:
        if self.ncols is not None:
            return self.ncols
        import shutil

        return shutil.get_terminal_size((80, 24)).columns

    def on_epoch_begin(self, state):
        from tqdm import tqdm

        desc = f"epoch {state.epoch + 1}/{state.epochs}" if state.epochs is not None else f"epoch {state.epoch + 1}"
        self._room = max(0, self._width() - len(desc) - self._BAR_ROOM)
        self._bar = tqdm(total=state.n_examples, desc=desc, unit="ex", unit_scale=True, file=self.file, leave=False,
                         ncols=self._width())

    def on_batch_end(self, state, batch_size, batch_loss):
        bar = self._bar
        if bar.n == 0 and state.epoch_batch_rows:  # known once the epoch's batches are: overlapping windows hold more
            bar.total = state.epoch_batch_rows
        bar.update(batch_size)
        if bar.n >= bar.total or bar.n == batch_size or bar.n % (batch_size * 50) < batch_size:
            seen, loss_sum, correct = state.running
            fields = [f"loss {metric_text(loss_sum / seen)}"]
            if correct is not None:
                fields.append(f"accuracy {correct / seen:.4f}")
            text = ""
            for field in fields:  # whole fields only, in order of importance
                candidate = f"{text}, {field}" if text else field
                if len(candidate) + 2 > self._room:
                    break
                text = candidate
            bar.set_postfix_str(text, refresh=False)

    def on_epoch_end(self, state):
        if self._bar is None:
            return
        self._bar.close()
        self._bar = None
        if self.leave:
            print(epoch_summary(state), file=self.file, flush=True)

    def on_train_end(self, state):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda s: print(s.logs))``."""

    def __init__(self, *, on_train_begin=None, on_epoch_begin=None, on_gradients=None, on_batch_end=None,
                 on_epoch_end=None, on_train_end=None):
        for name, fn in list(locals().items()):
            if name != "self" and fn is not None:
                if not callable(fn):
                    raise ConfigError(f"LambdaCallback's {name} must be a function of the training state "
                                      f"(or None), got {fn!r:.60}")
                setattr(self, name, fn)


#: The largest share of a run's time :class:`CheckpointWriter`'s writes may take.
CHECKPOINT_TIME_SHARE = 0.05


def largest_weight(weights: Iterable[np.ndarray]) -> float:
    """``max |θ|`` over the arrays ``weights`` (0 for none; infinity where one is NaN or infinite)."""
    largest = 0.0
    for w in weights:
        if w.size:
            top = float(np.max(np.abs(w)))
            largest = max(largest, top if math.isfinite(top) else math.inf)
    return largest


class CheckpointWriter(Callback):
    """Keep a run folder's ``checkpoint.safetensors`` and ``history.csv`` up to date,
    atomically. Every epoch end takes the checkpoint's parts (copies of the arrays and the
    training state, :func:`~deltaprop.serialization.checkpoint_parts`) and keeps them; they
    are encoded and reach the disk at most every ``interval`` seconds and always when
    training ends, however it ends (``fit`` calls ``on_train_end`` on Ctrl-C and on
    divergence too), so the folder holds the last completed epoch (or, for a run that
    stops at ``steps`` inside an epoch, that point with the epoch's progress, which a
    resume finishes) and never a state from a Ctrl-C between two epoch ends, while a
    thousand one-second epochs cost neither a thousand fsyncs nor a thousand encodings of
    a history that grows with every epoch. Where a write takes long (a history of tens of
    thousands of epochs), the writes are spaced further apart, so that they take at most
    :data:`CHECKPOINT_TIME_SHARE` of the run's time. It takes the weights when its ``on_epoch_end``
    runs: give it after a callback that changes them there. ``meta``: the keyword arguments of
    :func:`~deltaprop.serialization.encode_checkpoint` (class names, extra)."""

    def __init__(self, folder, meta: dict[str, Any] | None = None, *, interval: float = 5.0):
        self.folder = Path(folder)
        self.meta = dict(meta or {})
        self.interval = _checks.positive_number("interval", interval, allow_zero=True)
        self.state = None
        #: the epoch whose checkpoint is on disk (None before the first write)
        self.written_epoch: int | None = None
        #: the batches of that epoch the checkpoint holds when it was taken inside it (a steps
        #: limit or a callback's stop); None for a checkpoint at the epoch's end
        self.written_batches: int | None = None
        #: the history records that checkpoint holds (None before the first write)
        self.written_records: list[dict[str, Any]] | None = None
        #: ``max |θ|`` of the network weights that checkpoint holds (infinity where one is not
        #: finite; None before the first write): whether they had exploded when a run diverged
        self.written_largest: float | None = None
        self._pending_largest: float | None = None
        self._at_boundary = False
        self._pending: tuple | None = None
        self._pending_records: list[dict[str, Any]] = []
        self._last_write = time.monotonic()
        self._gap = self.interval  # the interval, or longer where a write takes long

    def on_train_begin(self, state):
        self.state = state
        self._last_write = time.monotonic()

    def on_epoch_begin(self, state):
        self._at_boundary = False

    def on_epoch_end(self, state):
        self._at_boundary = True
        self._keep(state)
        if time.monotonic() - self._last_write >= self._gap:
            self.flush()

    def on_train_end(self, state):
        self.flush()

    def _keep(self, state) -> None:
        self._pending = checkpoint_parts(state, **self.meta)
        self._pending_records = list(state.history.records)
        self._pending_largest = largest_weight(v for k, v in self._pending[0].items() if k.startswith("layers."))

    def flush(self) -> None:
        """Write what the last epoch end kept, if not written yet."""
        from .training import History

        if self._pending is None:
            return
        began = time.monotonic()
        write_checkpoint_parts(self.folder / "checkpoint.safetensors", self._pending)
        History(self._pending_records).write_csv(self.folder / "history.csv")
        unfinished = self._pending[3].get("unfinished")
        self._pending = None
        self.written_epoch = self._pending_records[-1]["epoch"] if self._pending_records else self.state.epoch
        self.written_records = self._pending_records
        self.written_largest = self._pending_largest
        self.written_batches = None if unfinished is None else unfinished["batches"]
        self._last_write = time.monotonic()
        if self.interval > 0:  # interval=0 asks for every epoch, whatever it costs
            took = self._last_write - began
            self._gap = max(self.interval, took * (1 - CHECKPOINT_TIME_SHARE) / CHECKPOINT_TIME_SHARE)

    def save_on_interrupt(self) -> int | None:
        """After an interrupt: make sure the last completed epoch's checkpoint is on disk;
        returns its epoch, or None when no epoch completed."""
        state = self.state
        if state is not None and self._at_boundary and self._pending is None and self.written_epoch != state.epoch:
            self._keep(state)
        self.flush()
        return self.written_epoch


class DiagnosticsRecorder(Callback):
    """After every epoch: :func:`deltaprop.diagnose` on a fixed probe batch of the training
    data, then the alert rules over the history so far. The epoch's history record keeps both
    (``"diagnostics"``, ``"alerts"``), so checkpoints and resumed runs keep them too; ``fit``
    adds a recorder to every run. ``on_alert`` is called with each alert the first time it
    holds (the command line prints it). Each fix names what a caller of ``fit`` passes
    (``dp.SGD(lr=...)``, ``epochs``); within :func:`deltaprop.alerts.fixes_for` ``("cli")``, as
    the command line runs ``fit``, its flags (``--lr``, ``--epochs``). The weights before the epoch's last step are copied
    once an epoch, for that step's update ratio ``‖Δθ‖/‖θ‖``. The probe loss before the run's
    first step is kept in the state's records under :attr:`key` (checkpoints hold it), so a
    resumed run's alerts quote the run's start, not the weights it was resumed from.
    ``sample_weight``: the run's row weights (``fit`` passes its own), so the probe's loss
    and gradients are those of the weighted loss the run minimises (unequal weights make the
    chance level and the accuracy it is judged against weighted: :func:`~deltaprop.alerts.context_of`)."""

    #: its name in the training state's records
    key = "diagnostics"

    def __init__(self, X, Y, *, probe_size: int | None = None, on_alert=None, sample_weight=None):
        from .diagnostics import PROBE_SIZE, probe_rows

        if not hasattr(X, "shape"):  # a list of rows (a lazy array or a sparse matrix is indexed as it is)
            X = np.asarray(X)
        if not hasattr(Y, "shape"):
            Y = np.asarray(Y)
        _checks.same_length(len(X), len(Y))
        if on_alert is not None and not callable(on_alert):
            raise ConfigError(f"on_alert must be a function of one Alert, got {on_alert!r:.60}")
        rows = probe_rows(len(X), PROBE_SIZE if probe_size is None else probe_size)
        self.X = np.asarray(X[rows])
        self.Y = np.asarray(Y[rows])
        self._weights = self._all_weights = None
        if sample_weight is not None:
            from .training import row_weights

            # scaled to mean 1 over the training rows, as fit's, then the probe's rows
            self._all_weights = row_weights(sample_weight, len(X), np.float64)
            self._weights = self._all_weights[rows]
        self._all_targets = Y  # the chance level is the whole training set's, not the probe's
        self.on_alert = on_alert
        self._work = self._monitor = None
        self._before: list[np.ndarray] = []
        self._before_step = -1

    def on_train_begin(self, state):
        from .alerts import AlertMonitor, context_of
        from .diagnostics import own_loss

        net, loss = state.net, state.loss
        self.X = np.ascontiguousarray(self.X, dtype=net.dtype)
        self.Y = loss.prepare_targets(self.Y, net.n_outputs, net.dtype)
        if self._weights is not None:
            self._weights = self._weights.astype(net.dtype)
        # the targets are kept: a recorder given to a second fit needs them again
        ctx = context_of(net, loss, self._all_targets, self._all_weights, self.X, state.optimizer)
        if state.base_lr is not None:  # the run's rate, not a schedule's of the epoch it resumes at
            ctx = dataclasses.replace(ctx, lr=float(state.base_lr))
        ctx = dataclasses.replace(ctx, run_epochs=state.epochs, run_steps=state.steps,  # its last epoch is judged
                                  validation_rows=state.validation_rows)
        with warnings.catch_warnings():  # a zero-initialised network warned when it was built
            warnings.simplefilter("ignore", UserWarning)
            self._work = net.copy()
        self._before = [p.value.copy() for p in net.parameters()]
        self._loss = own_loss(loss)
        if ctx.uniform_loss is not None or ctx.mean_loss is not None:
            ctx = dataclasses.replace(ctx, start_loss=self._start_loss(state))
        self._monitor = AlertMonitor(ctx, state.history.alerts)
        state.alert_context = ctx  # the check at the run's end judges in the same context

    def _start_loss(self, state) -> float | None:
        """The probe loss before the run's first step: measured now in a fresh run and kept
        in the state's records (so checkpoints hold it), read back from them in a resumed one
        (None where they hold none: a checkpoint written before it was kept). A run resumed
        midway through its first epoch has taken steps: measuring now would not be "before
        the first step"."""
        if state.step == 0 and not state.history.records:
            start = self._probe_loss()
            if math.isfinite(start):
                state.callback_records[self.key] = {"start_loss": start}
            return start
        kept = state.callback_records.get(self.key, {}).get("start_loss")
        number = isinstance(kept, (int, float)) and not isinstance(kept, bool)
        return float(kept) if number and math.isfinite(kept) else None

    def _probe_loss(self) -> float:
        """The loss of ``self._work`` (the network as it starts) on the probe batch, dropout off."""
        extra = () if self._weights is None else (self._weights,)
        with self._work.dropout_bypassed(), np.errstate(all="ignore"):
            return float(self._loss.value(self._work._forward(self.X, False), self.Y, *extra))

    def _snapshot(self, state) -> None:
        for saved, p in zip(self._before, state.net.parameters()):
            np.copyto(saved, p.value)
        self._before_step = state.step

    def on_epoch_begin(self, state):
        self._snapshot(state)

    def on_batch_end(self, state, batch_size, batch_loss):
        if (state.steps is not None and state.step >= state.steps) or state.progress.batches >= state.epoch_batches:
            return  # that was the run's last step, or the epoch's (whose ratio needs the snapshot taken before it)
        # counted in batches, not examples: sliding windows overlap, and a process of a
        # data-parallel run sees only its shard of each batch
        if state.progress.batches + 1 == state.epoch_batches or (state.steps is not None
                                                                  and state.step + 1 == state.steps):
            self._snapshot(state)  # the next step is this epoch's last

    def on_epoch_end(self, state):
        from .diagnostics import diagnose_copy

        previous = self._before if state.step - self._before_step == 1 else None
        diag = diagnose_copy(self._work, state.net, self.X, self.Y, self._loss, previous=previous,
                             weights=self._weights)
        record = state.history.records[-1]
        record["diagnostics"] = diag.as_dict()
        new = self._monitor.update(state.history.records)
        record["alerts"] = [a.as_dict() for a in new]
        if self.on_alert is not None:
            for alert in new:
                self.on_alert(alert)

    def on_train_end(self, state):
        """A run a callback stopped before its limits (early stopping) ends at its last
        record: the rules judge that epoch as the run's end (:meth:`~deltaprop.alerts.AlertMonitor.at_end`),
        as they judge the last epoch of a run that reached its limits; what they raise joins
        that record's alerts. Called before the callbacks after it in ``fit``'s list (the
        checkpoint writer, the command line's report) write or print those. A run that ended
        otherwise (Ctrl-C, divergence, an error) is not judged: a resume may go on from it.
        Weights kept to be restored (early stopping's best epoch, in ``state.saved_weights``)
        are those the network ends with, not the last epoch's: the rules judge that epoch's
        record as the run's end (:func:`restored_epoch`)."""
        records = state.history.records
        if self._monitor is None or not state.stop_training or not records or "diagnostics" not in records[-1]:
            return
        new = self._monitor.at_end(records, restored_epoch=restored_epoch(state))
        if state.alert_context is not None:  # the check of which alerts still hold judges the restored epoch too
            state.alert_context = dataclasses.replace(state.alert_context, restored_epoch=self._monitor.ctx.restored_epoch)
        if not new:
            return
        if records[-1].get("alerts") is None:
            records[-1]["alerts"] = []
        # the same list: a checkpoint of the epoch not yet written (its copy of the record shares it) holds them too
        records[-1]["alerts"].extend(a.as_dict() for a in new)
        if self.on_alert is not None:
            for alert in new:
                self.on_alert(alert)


def overrides(callback: Callback, hook: str) -> bool:
    """Whether ``callback`` does something in ``hook`` (a method of its own class, or a
    function given to :class:`LambdaCallback`) rather than inherit the base's no-op."""
    return hook in vars(callback) or getattr(type(callback), hook) is not getattr(Callback, hook)
