"""The training loop: full-batch gradient descent and shuffled mini-batch SGD.

One step: gather a batch into a reused buffer, forward (keeping what backward needs),
loss, backward (``δ`` layer by layer), one optimizer update. ``batch_size=None`` uses the
whole training set every step (seed 000's gradient descent); otherwise every epoch visits
the examples in a fresh random order in batches of ``batch_size`` (seed 001), the last
batch holding the remainder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks
from .callbacks import Callback, DiagnosticsRecorder
from .errors import ConfigError, DataError, ShapeError, TrainingDivergedError
from .losses import Loss
from .network import Network
from .optimizers import Optimizer
from .schedules import Schedule, schedule_from_config

HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "steps")


class History:
    """Per-epoch records: ``loss`` and ``accuracy`` (running means over the epoch's
    batches), ``val_loss`` and ``val_accuracy`` (after the epoch), ``lr``, ``seconds``
    and the cumulative ``steps``. ``history["loss"]`` is the list of one column;
    accuracies are None for regression, validation entries None without validation data."""

    def __init__(self, records: Iterable[dict[str, Any]] = ()):
        self.records: list[dict[str, Any]] = [dict(r) for r in records]

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
    def diagnostics(self) -> list:
        """Per epoch, its :class:`~deltaprop.diagnostics.Diagnostics` (None where not recorded)."""
        from .diagnostics import Diagnostics

        return [Diagnostics.from_dict(r["diagnostics"]) if r.get("diagnostics") else None for r in self.records]

    def as_dict(self) -> dict[str, list]:
        return {k: self[k] for k in HISTORY_KEYS}

    def __repr__(self) -> str:
        if not self.records:
            return "History(0 epochs)"
        last = self.records[-1]
        shown = ", ".join(f"{k}={last[k]:.4g}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if last.get(k) is not None)
        return f"History({len(self)} epochs; last: {shown})"


@dataclass
class TrainingState:
    """Everything the loop knows; callbacks read it and may set ``stop_training``.

    ``epoch`` is the current epoch (0-based) during an epoch and the number of completed
    epochs after training; ``step`` counts optimizer updates. ``rng`` shuffles the batches.
    Passing a state back to :func:`fit` (``resume=``) continues exactly where it stopped."""

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
    #: (examples seen, summed loss, correct predictions or None) so far in this epoch
    running: tuple[int, float, int | None] = (0, 0.0, None)


def _is_lazy(X) -> bool:
    return not isinstance(X, np.ndarray) and hasattr(X, "shape") and hasattr(X, "__getitem__") and hasattr(X, "__len__")


def _evaluate(net: Network, loss: Loss, X: np.ndarray, Y: np.ndarray, ids: np.ndarray | None, chunk: int = 4096):
    """Loss and accuracy of ``net`` on a whole set, in chunks."""
    total = 0.0
    correct = 0
    n = X.shape[0]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        xb = X[start:stop] if not _is_lazy(X) else X[np.arange(start, stop)]
        a = net._forward(np.ascontiguousarray(xb, dtype=net.dtype), False)
        total += loss.value(a, Y[start:stop]) * (stop - start)
        if ids is not None:
            correct += int(np.count_nonzero(_predict_ids(a) == ids[start:stop]))
    return total / n, (correct / n if ids is not None else None)


def _predict_ids(a: np.ndarray) -> np.ndarray:
    return (a[:, 0] >= 0.5).astype(np.int64) if a.shape[1] == 1 else np.argmax(a, axis=1)


def _class_ids(loss: Loss, Y: np.ndarray) -> np.ndarray | None:
    if not loss.targets_are_classes(Y):
        return None
    if Y.shape[1] == 1:
        return (Y[:, 0] >= 0.5).astype(np.int64)
    return np.argmax(Y, axis=1)


def fit(
    net: Network,
    X,
    y,
    *,
    loss: Loss,
    optimizer: Optimizer,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = 32,
    shuffle: bool = True,
    seed: int | None = None,
    validation: tuple[Any, Any] | None = None,
    schedule: Schedule | str | None = None,
    callbacks: Sequence[Callback] = (),
    resume: TrainingState | None = None,
    threads: int | None = None,
    diagnostics: bool = True,
) -> History:
    """Train ``net`` on ``(X, y)`` and return its :class:`History`.

    ``X``: ``(n, features)`` array (converted once to the network's dtype), or a lazy
    array with ``shape``, ``len`` and row gathering ``X[index_array]`` (e.g.
    :func:`deltaprop.data.open_mapped`) whose batches are read from disk when needed.
    ``y``: class ids or target rows. Stops after ``epochs`` epochs or ``steps`` updates
    (the first reached; 10 epochs if neither is given), or when a callback asks.
    ``batch_size=None`` is full-batch gradient descent. The same ``seed`` (and network
    seed) gives bit-identical weights and history. A non-finite loss raises
    :class:`~deltaprop.errors.TrainingDivergedError`; the network keeps finite weights.
    ``resume`` takes the :class:`TrainingState` of an earlier run (``fit`` returns its
    history; callbacks see the state) and continues it, with its shuffling generator,
    schedule and history, to ``epochs`` epochs in all.
    ``threads`` caps the BLAS threads used while training. By default (None) a network
    whose per-step GEMMs are small (batch × the largest ``n_in·n_out`` under
    :data:`SMALL_STEP_MACS`) trains on one BLAS thread, larger steps on the BLAS default.
    Measured on two idle cores for 784-256-128-10 (seconds for 6,000 examples, one thread
    against two): batch 8, 0.21 against 0.21; batch 16, 0.133 against 0.128; batch 24,
    0.108 against 0.096; batch 32, 1.1 against 0.9 s an epoch. Below about 4M
    multiply-adds a second thread gains nothing, and it is what suffers when another
    process wants the core (an idle BLAS worker spins against it: at batch 32, with one
    busy-looping process beside it, 2.4 to 7.4 s an epoch on two threads, 1.1 to 1.5 on
    one). On a busy machine pass ``threads=1``. The thread count can change the last bit
    of a GEMM, so bit-identical reruns need the same ``threads``.
    ``diagnostics`` (on by default) adds a :class:`~deltaprop.callbacks.DiagnosticsRecorder`
    unless ``callbacks`` holds one: per-layer diagnostics and alerts after every epoch, kept in
    the history (``history.diagnostics``, ``history.alerts``); it changes no weight.
    """
    if threads is None:
        threads = _auto_threads(net, batch_size)
    if threads is None:
        return _fit(
            net, X, y, loss=loss, optimizer=optimizer, epochs=epochs, steps=steps,
            batch_size=batch_size, shuffle=shuffle, seed=seed, validation=validation,
            schedule=schedule, callbacks=callbacks, resume=resume, diagnostics=diagnostics,
        )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=_checks.positive_int("threads", threads), user_api="blas"):
        return _fit(
            net, X, y, loss=loss, optimizer=optimizer, epochs=epochs, steps=steps,
            batch_size=batch_size, shuffle=shuffle, seed=seed, validation=validation,
            schedule=schedule, callbacks=callbacks, resume=resume, diagnostics=diagnostics,
        )


#: Below this many multiply-adds in a step's largest GEMM, ``fit`` uses one BLAS thread.
SMALL_STEP_MACS = 4_000_000


def _auto_threads(net, batch_size) -> int | None:
    """1 when the step's largest GEMM is small, else None (the BLAS default)."""
    if not isinstance(net, Network) or batch_size is None or isinstance(batch_size, bool):
        return None
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        return None  # _prepare reports the bad value
    from .layers import Dense

    widest = max((layer.n_in * layer.n_out for layer in net.layers if isinstance(layer, Dense)), default=0)
    return 1 if batch_size * widest < SMALL_STEP_MACS else None


def _fit(net, X, y, *, loss, optimizer, epochs, steps, batch_size, shuffle, seed, validation, schedule, callbacks, resume,
         diagnostics=True) -> History:
    """The training loop behind :func:`fit` (BLAS threads already chosen)."""
    state, (X_arr, Y, ids, lazy) = _prepare(
        net, X, y, loss=loss, optimizer=optimizer, epochs=epochs, steps=steps,
        batch_size=batch_size, seed=seed, schedule=schedule, resume=resume,
    )
    n = state.n_examples
    if batch_size is not None:
        batch_size = _checks.positive_int("batch_size", batch_size)
        batch_size = min(batch_size, n)
    val = None
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise ConfigError("validation must be a pair (X_val, y_val)")
        Xv = validation[0] if _is_lazy(validation[0]) else _checks.features(validation[0], net.n_features, net.dtype, name="X_val")
        Yv = loss.prepare_targets(validation[1], net.n_outputs, net.dtype)
        _checks.same_length(len(Xv), Yv.shape[0], names=("X_val", "y_val"))
        val = (Xv, Yv, _class_ids(loss, Yv))

    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise ConfigError(f"{cb!r} is not a deltaprop Callback")
    if diagnostics and not any(isinstance(cb, DiagnosticsRecorder) for cb in callbacks):
        callbacks.insert(0, DiagnosticsRecorder(X_arr, Y))
    params = net.parameters()
    if not optimizer.is_built_for(params):
        optimizer.build(params)
    snapshot = [p.value.copy() for p in params]  # last weights known to be finite

    # Reused batch buffers (mini-batch only; full batch trains on X itself).
    if batch_size is not None and not lazy:
        xbuf = np.empty((batch_size, X_arr.shape[1]), dtype=net.dtype)
        ybuf = np.empty((batch_size, Y.shape[1]), dtype=net.dtype)
        idbuf = np.empty(batch_size, dtype=np.int64)
    order = np.arange(n)
    pred = np.empty(batch_size or n, dtype=np.int64)
    hits = np.empty(batch_size or n, dtype=np.bool_)

    for cb in callbacks:
        cb.on_train_begin(state)
    try:
        while not state.stop_training:
            if state.epochs is not None and state.epoch >= state.epochs:
                break
            if state.steps is not None and state.step >= state.steps:
                break
            epoch = state.epoch
            optimizer.lr = state.schedule.lr_at(epoch, state.base_lr)
            for p, saved in zip(params, snapshot):
                if np.all(np.isfinite(p.value)):
                    np.copyto(saved, p.value)
            for cb in callbacks:
                cb.on_epoch_begin(state)
            started = time.perf_counter()
            if shuffle and batch_size is not None:
                order = state.rng.permutation(n)
            seen = 0
            loss_sum = 0.0
            correct = 0
            for start in range(0, n, batch_size or n):
                if batch_size is None:
                    xb, yb, idb = X_arr, Y, ids
                else:
                    idx = order[start : start + batch_size]
                    m = idx.shape[0]
                    if lazy:
                        idx = np.sort(idx)
                        xb = np.ascontiguousarray(X_arr[idx], dtype=net.dtype)
                        if xb.shape != (m, net.n_features):
                            raise ShapeError(f"the lazy X returned rows of shape {xb.shape}, expected {(m, net.n_features)}")
                        if not np.all(np.isfinite(xb)):
                            raise DataError(f"X contains NaN or infinity in the rows read at step {state.step + 1}")
                        yb = Y[idx]
                        idb = None if ids is None else ids[idx]
                    else:
                        xb, yb = xbuf[:m], ybuf[:m]
                        np.take(X_arr, idx, axis=0, out=xb)
                        np.take(Y, idx, axis=0, out=yb)
                        if ids is not None:
                            idb = idbuf[:m]
                            np.take(ids, idx, out=idb)
                m = xb.shape[0]
                try:
                    a = net._forward(xb, True)
                    batch_loss = loss.value(a, yb)
                    if not math.isfinite(batch_loss):
                        _diverged(state, params, snapshot, f"the loss is {batch_loss}")
                    if ids is not None:
                        if a.shape[1] == 1:
                            np.greater_equal(a[:, 0], 0.5, out=hits[:m])
                            np.equal(hits[:m], idb.astype(np.bool_), out=hits[:m])
                        else:
                            np.argmax(a, axis=1, out=pred[:m])
                            np.equal(pred[:m], idb, out=hits[:m])
                        correct += int(np.count_nonzero(hits[:m]))
                    net._backward(loss, a, yb)
                    optimizer.step()
                except TrainingDivergedError:
                    raise
                except FloatingPointError as exc:  # overflow under np.errstate(over="raise")
                    _diverged(state, params, snapshot, f"numpy raised {exc!r}")
                state.step += 1
                seen += m
                loss_sum += batch_loss * m
                state.running = (seen, loss_sum, correct if ids is not None else None)
                for cb in callbacks:
                    cb.on_batch_end(state, m, batch_loss)
                if (state.steps is not None and state.step >= state.steps) or state.stop_training:
                    break
            # An overflow in the epoch's last update has no later loss to show it: check here,
            # before validation and callbacks (a checkpoint writer) see the weights.
            if not all(np.all(np.isfinite(p.value)) for p in params):
                _diverged(state, params, snapshot, "the weights are no longer finite", epoch=epoch + 1, step=state.step)
            logs: dict[str, Any] = {
                "epoch": epoch + 1,
                "loss": loss_sum / seen,
                "accuracy": correct / seen if ids is not None else None,
                "lr": optimizer.lr,
                "steps": state.step,
            }
            if val is not None:
                logs["val_loss"], logs["val_accuracy"] = _evaluate(net, loss, *val)
            logs["seconds"] = time.perf_counter() - started
            state.logs = logs
            state.history.append(logs)
            state.schedule.observe(epoch, logs)
            state.epoch = epoch + 1
            for cb in callbacks:
                cb.on_epoch_end(state)
        # The last step's update is followed by no loss that would show it overflowed.
        if not all(np.all(np.isfinite(p.value)) for p in params):
            _diverged(state, params, snapshot, "the weights are no longer finite", epoch=state.epoch, step=state.step)
    finally:
        for cb in callbacks:
            cb.on_train_end(state)
    return state.history


def _diverged(state: TrainingState, params, snapshot, what: str, *, epoch: int | None = None, step: int | None = None) -> None:
    """Restore finite weights and raise; ``epoch`` and ``step`` default to the one under way (1-based)."""
    epoch = state.epoch + 1 if epoch is None else epoch
    step = state.step + 1 if step is None else step
    restored = False
    if not all(np.all(np.isfinite(p.value)) for p in params):
        for p, saved in zip(params, snapshot):
            np.copyto(p.value, saved)
        restored = True
    kept = "the weights from the start of that epoch" if restored else "its last weights, which are finite"
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch}, step {step}: {what}. The network keeps {kept}. "
        f"Lower the learning rate (it was {state.optimizer.lr:g}), or scale the inputs to [0, 1]",
        epoch=epoch,
        step=step,
    )


def _prepare(net, X, y, *, loss, optimizer, epochs, steps, batch_size, seed, schedule, resume):
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
    if epochs is None and steps is None:
        epochs = 10
    if batch_size is not None:
        _checks.positive_int("batch_size", batch_size)
    lazy = _is_lazy(X)
    if lazy and batch_size is None:
        raise ConfigError(
            "full-batch training needs X in memory; pass a batch_size to stream mini-batches "
            "from disk, or load the array with np.asarray(X[np.arange(len(X))])"
        )
    if lazy:
        shape = tuple(X.shape)
        if len(shape) != 2 or shape[1] != net.n_features:
            raise ShapeError(f"X has shape {shape}; the network's first layer takes {net.n_features} features per row")
        X_arr = X
        if shape[0] == 0:
            raise ShapeError("X has no rows")
    else:
        X_arr = _checks.features(X, net.n_features, net.dtype)
    Y = loss.prepare_targets(y, net.n_outputs, net.dtype)
    _checks.same_length(len(X_arr), Y.shape[0])
    ids = _class_ids(loss, Y)
    if resume is not None:
        if resume.net is not net or resume.optimizer is not optimizer:
            raise ConfigError("resume= must be the TrainingState of this network and optimizer")
        state = resume
        if state.schedule is None:
            state.schedule = schedule_from_config(schedule)
        if state.base_lr is None:
            state.base_lr = optimizer.lr
        state.epochs, state.steps = epochs, steps
        state.stop_training = False
        state.loss = loss
    else:
        state = TrainingState(net=net, optimizer=optimizer, loss=loss, rng=np.random.default_rng(seed), epochs=epochs, steps=steps)
        state.schedule = schedule_from_config(schedule)
        state.base_lr = optimizer.lr
    if (
        schedule is not None
        and resume is not None
        and schedule_from_config(schedule).config() != schedule_from_config(resume.schedule).config()
    ):
        raise ConfigError(
            "resume= continues with the schedule (and its state) saved in the TrainingState; "
            "pass the same schedule or none"
        )
    state.n_examples = len(X_arr)
    return state, (X_arr, Y, ids, lazy)


def evaluate(net: Network, X, y, *, loss: Loss | None = None) -> dict[str, float | None]:
    """``{"loss": ..., "accuracy": ...}`` of ``net`` on ``(X, y)`` (loss only if given)."""
    from .losses import MeanSquaredError

    used = loss or MeanSquaredError()
    Xa = X if _is_lazy(X) else _checks.features(X, net.n_features, net.dtype)
    Y = used.prepare_targets(y, net.n_outputs, net.dtype)
    _checks.same_length(len(Xa), Y.shape[0])
    value, acc = _evaluate(net, used, Xa, Y, _class_ids(used, Y))
    return {"loss": value if loss is not None else None, "accuracy": acc}
