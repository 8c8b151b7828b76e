"""Synchronous data-parallel training over MPI (``pip install mpi4py mpich``; in a checkout, ``uv sync --extra mpi``).

``fit(..., comm=MPI.COMM_WORLD)`` trains one model on ``p`` processes. Every process
draws the same shuffled order from the shared seed and takes its share of every *global*
batch of ``batch_size`` rows: rank ``r`` of ``p`` takes rows ``[⌊rm/p⌋, ⌊(r+1)m/p⌋)`` of a
batch of ``m`` rows. Backward gives each rank the gradient of its own rows' mean loss,
``g_r = (1/m_r) Σ_{i∈r} ∇ℓ_i``; the gradient hook turns it into the global batch's

    g = (1/m) Σ_r m_r g_r

with one reduction of the flat gradient buffer, so every rank applies the update that one
process would apply to the whole batch. The sum is reduced to rank 0 and broadcast back
(``Reduce`` + ``Bcast``) rather than all-reduced, because MPI does not promise that an
all-reduce gives every rank the same last bit: this way the weights stay identical on all
ranks, bit for bit, after every step.

The epoch's training loss and accuracy, and the validation metrics (each rank scores its
share of the validation rows), are summed over the ranks, so every rank's history is the
global one and callbacks decide the same way everywhere. Only rank 0 should write files;
:func:`is_writer` says which.

Ctrl-C: ``mpiexec`` forwards SIGINT to every rank, each at its own moment, maybe while
another rank waits in a collective. While training, SIGINT only marks the rank
(:class:`StopVote`); every step the ranks sum their marks (one integer, reduced without
blocking alongside the gradients), and when any rank was marked, all of them raise
``KeyboardInterrupt`` at the same step, before its update: no rank is left waiting for one
that stopped, and the weights stay equal everywhere. A second SIGINT raises at once only on
one process; on more, a rank keeps its mark however often it comes (leaving alone would
leave the others waiting in the step's collective), and ``mpiexec`` kills the ranks on a
second Ctrl-C.

Before training, the ranks agree that they train the same run (:func:`agree_on_run`): the
training and validation rows' counts and shapes, a CRC-32 of their bytes (of every byte for
arrays in memory; of up to :data:`DIGEST_ROWS` rows spread over the file for lazy ones),
the batching, the limits, the shuffling generator's state, the initial weights, the
layers, the dropout generator, the optimizer, the loss and the schedule. Data or settings
that differ on one rank would otherwise leave the ranks in different collectives (a hang)
or average gradients of rows that do not belong together (a silently wrong model): every
rank raises the same :class:`~deltaprop.errors.ConfigError` instead.

A stop asked by a callback on one rank (``state.stop_training``) is agreed on before every
epoch (one ``Allreduce`` of one integer): every rank stops after the same epoch.

An exception on one rank inside the training loop (a callback's ``OSError``, a read that
failed) would leave the others waiting in the next collective for ever, so it ends the
job: the rank writes its traceback to stderr and calls ``comm.Abort``. Only Ctrl-C and
divergence (a loss or a NumPy error in a step or in scoring the validation rows), which
the ranks agree on at the same step, are raised as exceptions.

mpi4py is imported only by the caller: ``comm`` is any object with mpi4py's
``Get_rank``, ``Get_size``, ``Reduce``, ``Bcast``, ``Allreduce``, ``Allgather``,
``Iallreduce`` and ``Abort``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback
import zlib

import numpy as np

from .callbacks import Callback
from . import _checks
from .errors import ConfigError, Error, TrainingDivergedError
from .training import BatchSource, FullBatch, Loop, MiniBatches, SlidingWindows, _evaluate, _is_lazy, _unstable_layer

__all__ = ["DataParallelLoop", "ShardedBatches", "GradientAverager", "StopVote", "agree_on_run", "agreed_diagnosis",
           "check_shares", "is_writer",
           "raised_on_every_rank", "run_fingerprint", "shard_bounds", "sigterm_as_ctrl_c", "threads_per_rank",
           "train_data_parallel", "world"]

#: A lazy (on-disk) array's digest reads at most this many rows, spread evenly over it.
DIGEST_ROWS = 256


def shard_bounds(m: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a batch of ``m`` rows that ``rank`` of ``size`` takes."""
    return (rank * m) // size, ((rank + 1) * m) // size


def is_writer(comm) -> bool:
    """Whether this process writes the run's files: rank 0, or the only process."""
    return comm is None or comm.Get_rank() == 0


#: The environment variables by which ``mpiexec`` (MPICH, Open MPI, PMIx) tells a process
#: the job's size and its rank: :func:`launched_size` and :func:`launched_rank` read them.
LAUNCHER_SIZE = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE")
LAUNCHER_RANK = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


def launched_size() -> int:
    """The processes ``mpiexec`` started this one among, read from the environment without
    starting MPI: more than 1 for a process of a data-parallel job, else 1."""
    for name in LAUNCHER_SIZE:
        value = os.environ.get(name)
        if value is not None and value.isdigit() and int(value) > 1:
            return int(value)
    return 1


def world():
    """``MPI.COMM_WORLD`` when this process was started by ``mpiexec`` with more than one
    process, else None (mpi4py is imported only then)."""
    if launched_size() == 1:
        return None
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ConfigError(
            'this process was started by mpiexec but mpi4py is not installed: pip install mpi4py, '
            'or in a checkout of deltaprop uv sync --extra mpi (or pip install ".[mpi]")'
        ) from exc
    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def launched_rank() -> int | None:
    """This process's rank as ``mpiexec`` (MPICH, Open MPI, PMIx) gives it in the environment,
    read without starting MPI; None when not started by ``mpiexec``."""
    for name in LAUNCHER_RANK:
        value = os.environ.get(name)
        if value is not None and value.isdigit():
            return int(value)
    return None


def threads_per_rank(comm) -> int:
    """BLAS threads for each rank: the CPUs this process may use, shared among the ranks on
    this host, at least one (two BLAS threads fighting a busy neighbour are many times
    slower than one)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    local = comm.Split_type(_shared_type(), key=comm.Get_rank()) if hasattr(comm, "Split_type") else None
    on_host = local.Get_size() if local is not None else comm.Get_size()
    if local is not None:
        local.Free()
    return max(1, cpus // on_host)


def _shared_type():
    from mpi4py import MPI

    return MPI.COMM_TYPE_SHARED

# -- the ranks agree on the run before training ---------------------------------------------------
#: What :func:`run_fingerprint` holds, in order: (name in messages, kind): a "count" of
#: things, a "value" of a setting, or a "digest" (CRC-32) of arrays or settings.
FINGERPRINT = (("ready", "count"), ("training rows", "count"), ("features per row", "count"),
               ("target columns", "count"), ("X", "digest"), ("y", "digest"), ("sample_weight", "digest"),
               ("validation rows", "count"), ("validation data", "digest"), ("batch size", "count"),
               ("batching", "digest"), ("epochs", "count"), ("steps", "count"), ("epochs done", "count"),
               ("steps done", "count"), ("shuffling generator", "digest"), ("initial weights", "digest"),
               ("layers (activations, dropout rates)", "digest"), ("dropout generator", "digest"),
               ("optimizer", "digest"), ("learning rate", "value"), ("weight decay", "value"),
               ("optimizer settings", "digest"), ("optimizer state", "digest"), ("loss", "digest"),
               ("learning-rate schedule", "digest"))


def _crc(*arrays) -> int:
    """CRC-32 of the arrays' bytes (None for an absent one)."""
    crc = 0
    for a in arrays:
        if a is not None:
            crc = zlib.crc32(np.ascontiguousarray(a).view(np.uint8).ravel(), crc)
    return crc


def _data_crc(X) -> int:
    """Every byte of an array in memory, and of rows viewed in one (a ``RowView`` of a
    ``.npz`` or CSV file read whole: read a chunk at a time); up to DIGEST_ROWS rows spread
    over a lazy one that is read from disk."""
    if not _is_lazy(X):
        return _crc(np.asarray(X))
    base, rows = getattr(X, "base", None), getattr(X, "rows", None)
    if isinstance(base, np.ndarray) and not isinstance(base, np.memmap) and isinstance(rows, np.ndarray):
        crc = 0
        for start in range(0, len(rows), 4096):
            crc = zlib.crc32(np.ascontiguousarray(np.take(base, rows[start:start + 4096], axis=0)).view(np.uint8).ravel(),
                             crc)
        return crc
    n = len(X)
    return _crc(np.asarray(X[np.unique(np.linspace(0, n - 1, min(n, DIGEST_ROWS)).astype(np.int64))]))


def _text_crc(value) -> int:
    """CRC-32 of a setting's text (its JSON, keys sorted)."""
    return zlib.crc32(json.dumps(value, sort_keys=True, default=repr).encode())


def run_fingerprint(state, source: BatchSource, validation) -> np.ndarray:
    """The run as numbers (:data:`FINGERPRINT`), equal on every rank of one run."""
    X = source.X
    Xv, Yv, idv = validation if validation is not None else (None, None, None)
    text = f"{type(source).__name__} {getattr(source, 'shuffle', '')}".encode()
    values = [1, source.n_examples, int(np.prod(X.shape[1:])), source.Y.shape[1], _data_crc(X),
              _crc(source.Y, source.ids), _crc(source.W), 0 if Yv is None else len(Yv),
              0 if Xv is None else zlib.crc32(_data_crc(Xv).to_bytes(4, "little"), _crc(Yv, idv)),
              getattr(source, "batch_size", source.n_examples), zlib.crc32(text),
              -1 if state.epochs is None else state.epochs, -1 if state.steps is None else state.steps,
              state.epoch, state.step, _text_crc(state.rng.bit_generator.state),
              _crc(*(p.value for p in state.net.parameters())), *_training_settings(state)]
    return np.asarray(values, dtype=np.float64)


def _training_settings(state) -> list[float]:
    """What makes the ranks' updates equal besides the data and weights: the layers, the
    dropout generators, the optimizer (type, ``lr``, weight decay, its settings, its state on
    resume), the loss and the schedule (with its state)."""
    from .layers import Dropout

    net, optimizer = state.net, state.optimizer
    generators = [layer.rng.bit_generator.state for layer in net.layers if isinstance(layer, Dropout)]
    params = net.parameters()
    moments = optimizer.state() if optimizer.is_built_for(params) else {}
    schedule = state.schedule
    return [_text_crc(net.config()), _text_crc(generators), _text_crc(optimizer.type_name),
            state.base_lr if state.base_lr is not None else optimizer.lr, optimizer.weight_decay,
            _text_crc(optimizer.config()), _crc(*(moments[k] for k in sorted(moments))),
            _text_crc(state.loss.config()),
            _text_crc(None if schedule is None else [schedule.config(), schedule.state()])]


def raised_on_every_rank(exc: BaseException) -> BaseException:
    """Mark ``exc`` as raised the same way on every rank (a program reports it once, from rank 0)."""
    exc.on_every_rank = True
    return exc


def agree_on_run(comm, mine: np.ndarray | None) -> None:
    """Compare every rank's :func:`run_fingerprint` (None: this rank could not prepare its
    run) with rank 0's: one ``Allgather``, so every rank reaches the same verdict and raises
    the same :class:`ConfigError` (marked :func:`raised_on_every_rank`) when they differ."""
    size = comm.Get_size()
    local = np.zeros(len(FINGERPRINT), dtype=np.float64) if mine is None else mine
    table = np.empty((size, len(FINGERPRINT)), dtype=np.float64)
    comm.Allgather(local, table)
    failed = [r for r in range(size) if not table[r, 0]]
    if failed:
        if mine is None:
            return  # this rank raises its own error
        raise raised_on_every_rank(ConfigError(
            f"process {failed[0]} of {size} could not start data-parallel training: "
            "fit raised an error there (see that process)"))
    for r in range(1, size):
        differs = np.flatnonzero(table[r] != table[0])
        if differs.size:
            raise raised_on_every_rank(ConfigError(
                f"{_difference(r, int(differs[0]), table)}: data-parallel training needs every process to call fit "
                "with the same data, network, optimizer, loss, schedule, seed, batch size and limits (each process "
                "takes its share of every batch and applies the same update)"))


def _difference(r: int, i: int, table: np.ndarray) -> str:
    """Entry ``i`` of :data:`FINGERPRINT` on rank ``r`` against rank 0's, in words."""
    name, kind = FINGERPRINT[i]
    if kind == "count":
        return f"process {r} has {table[r, i]:g} {name} where process 0 has {table[0, i]:g}"
    if kind == "value":
        return f"process {r}'s {name} is {table[r, i]:g} where process 0's is {table[0, i]:g}"
    plural = name.endswith(("weights", "settings", ")"))
    return f"process {r}'s {name} {'differ' if plural else 'differs'} from process 0's"


def train_data_parallel(comm, state, source: BatchSource, validation, callbacks):
    """``fit``'s loop over the ranks of ``comm``, once they agree on the run. A rank whose
    fingerprint fails (a lazy array that cannot be read there) tells the others before raising:
    they raise too instead of waiting for it in the agreement."""
    try:
        mine = run_fingerprint(state, source, validation)
    except BaseException:
        agree_on_run(comm, None)
        raise
    agree_on_run(comm, mine)
    try:
        sharded = ShardedBatches(source, comm.Get_rank(), comm.Get_size())
    except ConfigError as exc:  # the ranks agree on the rows and the batch size, so each raises it
        raise raised_on_every_rank(exc) from None
    return DataParallelLoop(state, sharded, comm, validation=validation, callbacks=callbacks).run()


def _end_job(comm, exc: BaseException) -> None:
    """Report an exception of this rank alone and end every process (the others would wait
    for it in a collective for ever): one line, after the traceback of an unexpected kind
    (not a deltaprop error, ``OSError``, ``MemoryError`` or MPI error). A ``comm`` without ``Abort``
    gets it raised."""
    if not hasattr(comm, "Abort"):
        return
    rank, size = comm.Get_rank(), comm.Get_size()
    # a bug's traceback is kept; not these, nor an MPI error (most likely another rank's end)
    expected = isinstance(exc, (Error, OSError, MemoryError)) or type(exc).__module__.startswith("mpi4py")
    text = "" if expected else "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    line = " ".join(f"{type(exc).__name__}: {exc}".split())
    sys.stderr.write(f"{text}deltaprop: error: process {rank} of {size} failed during data-parallel training "
                     f"({line}); ending every process\n")
    sys.stderr.flush()
    # mpiexec forwards a rank's output through its proxy, and Abort tears the job down at once:
    # a line not yet forwarded was lost (an empty stderr, seen on a busy machine). A moment first.
    time.sleep(0.5)
    comm.Abort(1)
    os._exit(1)  # should Abort return before the process manager ends this process


def check_shares(n: int, batch_size: int | None, size: int, *, batching: str = "shuffled",
                 resumed: bool = False) -> None:
    """Refuse batches that would leave one of ``size`` processes no row: every global batch
    needs at least ``size`` rows. ``n`` training rows in batches of ``batch_size`` (None: full
    batch); ``batching="sliding"`` windows all hold ``batch_size + 1`` rows (they wrap), other
    batchings end with a batch of ``n mod batch_size`` rows. ``resumed``: the run keeps its
    batch size, so the message names the most processes it can be resumed on instead."""
    try:
        _check_shares(n, batch_size, size, batching)
    except ConfigError as exc:
        if not resumed or n < size:
            raise
        most = max(p for p in range(1, size) if _shares(n, batch_size, p, batching))
        raise ConfigError(f"{str(exc).split('; ')[0]}; a resumed run keeps its batch size: resume it on at most "
                          f"{most} process{'es' if most > 1 else ''}") from None


def _shares(n: int, batch_size: int | None, size: int, batching: str) -> bool:
    try:
        _check_shares(n, batch_size, size, batching)
    except ConfigError:
        return False
    return True


def _check_shares(n: int, batch_size: int | None, size: int, batching: str) -> None:
    if n < size:  # no batch size helps: every batch holds at most the n rows
        why = "" if batch_size is None else " (no batch holds more, whatever the batch size)"
        raise ConfigError(f"{_row_count(n)} of training data cannot be shared among {size} processes{why}; train on "
                          f"at least {size} rows, or on at most {n} process{'es' if n > 1 else ''}")
    if batch_size is None:
        return
    b = min(batch_size + (batching == "sliding"), n)
    if b < size:
        raise ConfigError(f"a global batch of {_row_count(b)} cannot be shared among {size} processes; "
                          f"use a batch size of at least {size}, or fewer processes")
    last = n % b if batching != "sliding" else 0
    if 0 < last < size:
        raise ConfigError(f"the last batch of {n} training rows has {_row_count(last)} (batch size {b}), which "
                          f"cannot be shared among {size} processes; use a batch size that leaves a last batch of "
                          f"no rows or of at least {size}, such as {_batch_size_that_fits(n, b, size)}")


def _batch_size_that_fits(n: int, b: int, size: int) -> int:
    """The batch size nearest ``b`` whose batches of ``n`` rows all hold at least ``size`` rows."""
    for d in range(n):
        for c in (b - d, b + d):
            if size <= c <= n and (n % c == 0 or n % c >= size):
                return c
    return n


def _row_count(k: int) -> str:
    return f"{k} row" if k == 1 else f"{k} rows"


class ShardedBatches(BatchSource):
    """This rank's share of every global batch of ``inner`` (the order is ``inner``'s, drawn
    from the same generator on every rank)."""

    def __init__(self, inner: BatchSource, rank: int, size: int):
        super().__init__(inner.X, inner.Y, inner.ids, inner.W)
        if isinstance(inner, SlidingWindows):
            check_shares(inner.n_examples, inner.stride, size, batching="sliding")
        elif isinstance(inner, MiniBatches):
            check_shares(inner.n_examples, inner.batch_size, size)
        elif isinstance(inner, FullBatch):
            check_shares(inner.n_examples, None, size)
        else:
            raise ConfigError(f"data-parallel training cannot shard a {type(inner).__name__}")
        self.inner, self.rank, self.size = inner, rank, size
        #: this rank's first row in the current batch, its rows, and the batch's rows (set by :meth:`batch`)
        self.first_row, self.local_rows, self.global_rows = 0, 0, 0
        self.batch_size = getattr(inner, "batch_size", inner.n_examples)

    def start_epoch(self, rng):
        return self.inner.start_epoch(rng)

    def layout(self):  # the global batches: an unfinished epoch may resume on any number of processes
        return self.inner.layout()

    def rows_before(self, k):
        return self.inner.rows_before(k)

    def batch(self, k):
        if isinstance(self.inner, FullBatch):
            idx = None
            m = self.inner.n_examples
        else:
            idx = self.inner.indices(k)
            m = idx.shape[0]
        lo, hi = shard_bounds(m, self.rank, self.size)
        self.first_row, self.local_rows, self.global_rows = lo, hi - lo, m
        if idx is None:
            rows = slice(lo, hi)
            return self.X[rows], self.Y[rows], _rows(self.ids, rows), _rows(self.W, rows)
        mine = idx[lo:hi]
        if _is_lazy(self.X):  # read in file order, kept in the batch's order (dropout masks follow rows)
            ascending = np.argsort(mine, kind="stable")
            rows = _checks.feature_rows(self.X, mine[ascending], self.inner.n_features, self.inner.dtype)
            x = rows.take(np.argsort(ascending), axis=0)
        else:
            x = self.X[mine]
        return x, self.Y[mine], _rows(self.ids, mine), _rows(self.W, mine)


def _rows(column, rows):
    """``column[rows]``, or None for a column the data does not have (class ids, weights)."""
    return None if column is None else column[rows]


def _terminated_before_vote(signum, frame) -> None:
    """SIGTERM before a :class:`StopVote` takes it over: Ctrl-C's ``KeyboardInterrupt``, the
    first time only, with :attr:`StopVote.terminated` set."""
    if not StopVote.terminated:
        StopVote.terminated = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """While active, on the main thread and where SIGTERM has its default handler, SIGTERM
    stops this process as Ctrl-C does (``mpiexec`` forwards it to every rank while they load
    their data; left at its default it killed them there); a :class:`StopVote` entered within
    takes it over. A handler set meanwhile (an ignored SIGTERM once stopped) is kept on exit."""
    previous = None
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        previous = signal.signal(signal.SIGTERM, _terminated_before_vote)
    try:
        yield
    finally:
        if previous is not None and signal.getsignal(signal.SIGTERM) is _terminated_before_vote:
            signal.signal(signal.SIGTERM, previous)


class StopVote:
    """Ctrl-C agreed on by every rank. Entered (on the main thread, where SIGINT still has
    Python's default handler), a SIGINT only marks this rank (a SIGTERM too, where its
    handler is the default: :attr:`terminated` then says so); a vote sums the marks over
    the ranks, so every rank gets the same answer: stop when any rank was marked.
    :meth:`stop_at_step` is the vote of every step, pipelined: it reads the answer of the
    vote the previous step started (``Iallreduce`` of one integer, carried along by the
    step's gradient reduction) and starts the next one, so the vote adds no round trip to a
    step; a Ctrl-C stops the ranks one step later. :meth:`stop_now` votes at once. Entering
    a vote while another is active for the same ranks reuses that one, so a program can
    hold one over more than the training loop. A second SIGINT raises ``KeyboardInterrupt``
    at once on a one-rank ``comm`` only: on more, a rank that left alone would leave the
    others waiting in the step's collective, so it keeps the mark (every rank stops one
    step later)."""

    _active: StopVote | None = None
    #: whether a SIGTERM marked a vote of this process (a command then exits 143, not 130)
    terminated = False

    def __init__(self, comm):
        self.comm, self.asked = comm, False
        self._mine, self._sum = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
        self._pending = None
        self._previous, self._previous_term, self._outer = None, None, None

    def __enter__(self) -> StopVote:
        outer = StopVote._active
        if outer is not None and outer.comm is self.comm:
            self._outer = outer
            return outer
        on_main = threading.current_thread() is threading.main_thread()
        if on_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._mark)
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, _terminated_before_vote):  # mpiexec forwards
                # a SIGTERM to every rank
                self._previous_term = signal.signal(signal.SIGTERM, self._mark)
            self._outer, StopVote._active = StopVote._active, self
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            if self._previous_term is not None:
                signal.signal(signal.SIGTERM, self._previous_term)
            StopVote._active, self._previous, self._previous_term = self._outer, None, None
        self._outer = None

    def _mark(self, signum, frame) -> None:
        if signum == signal.SIGTERM:
            StopVote.terminated = True
        if self.asked and self.comm.Get_size() == 1:
            raise KeyboardInterrupt
        self.asked = True

    def _settled(self) -> bool:
        """The answer of the vote under way (False when none is)."""
        if self._pending is None:
            return False
        self._pending.Wait()
        self._pending = None
        return bool(self._sum[0])

    def stop_at_step(self) -> bool:
        """The previous step's vote; when it says go on, the next one is started (a
        collective call: every rank makes it at every step)."""
        if self._settled():
            return True
        self._mine[0] = int(self.asked)
        self._pending = self.comm.Iallreduce(self._mine, self._sum)
        return False

    def finish(self) -> None:
        """Wait for the vote under way, when training ended on every rank at the same step
        (each started it); an abandoned request is reported by MPI at exit."""
        self._settled()

    def abandon(self) -> None:
        """Forget the vote under way without waiting for it (training ended by an error, so
        another rank may never answer)."""
        self._pending = None

    def stop_now(self) -> bool:
        """Whether any rank was asked to stop, by the vote under way or by one now (a
        collective call: every rank must make it)."""
        if self._settled():
            return True
        self._mine[0] = int(self.asked)
        self.comm.Allreduce(self._mine, self._sum)
        return bool(self._sum[0])


class GradientAverager(Callback):
    """The gradient hook of data-parallel training: replaces each rank's ``g_r`` in
    ``net.flat_gradients`` by the global batch's gradient ``(1/m) Σ_r m_r g_r``. With a
    :class:`StopVote`, every rank first votes on stopping; an agreed stop raises
    ``KeyboardInterrupt`` on all of them before this step's update."""

    def __init__(self, comm, source: ShardedBatches, vote: StopVote | None = None):
        self.comm, self.source, self.vote = comm, source, vote
        self._sum: np.ndarray | None = None
        #: set by a rank whose own step overflowed (:meth:`DataParallelLoop._loss_not_finite`)
        self.diverged: str | None = None
        #: whether this step's gradients were reduced (cleared by :meth:`DataParallelLoop.train_step`)
        self.reduced = False

    def on_gradients(self, state):
        """One reduction: its arithmetic never raises (``np.errstate``), so under
        ``np.seterr(all="raise")`` a value that overflows here reaches every rank as a
        non-finite gradient instead of stopping one rank between the collectives."""
        self.reduced = True
        if self.vote is not None and self.vote.stop_at_step():
            raise KeyboardInterrupt
        flat = state.net.flat_gradients
        if self._sum is None or self._sum.shape != flat.shape or self._sum.dtype != flat.dtype:
            self._sum = np.empty_like(flat)
        with np.errstate(all="ignore"):
            flat *= self.source.local_rows
            if self.diverged is not None:
                flat[0] = np.nan  # the sum carries it: every rank sees a NaN there after the broadcast
            self.comm.Reduce(flat, self._sum, root=0)
            if self.comm.Get_rank() == 0:
                np.divide(self._sum, self.source.global_rows, out=flat)
            self.comm.Bcast(flat, root=0)
        if not np.isfinite(flat[0]):
            raise _GlobalDivergence(self.diverged or "the gradient is not finite once summed over the processes")


class _GlobalDivergence(Exception):
    """Every rank's signal, raised at the same step, that the run diverged on some rank."""


def agreed_diagnosis(comm, here: bool, what: str, where: str | None) -> tuple[str, str | None]:
    """The divergence every rank reports, ``(what, layer)``: that of the first rank that saw
    it on its own rows (``here``), else rank 0's (a rank's layer is read from its own view,
    its outputs for instance, so the ranks' own diagnoses may differ). One ``Allgather`` of
    two integers and one ``Bcast`` of the text (JSON), made by every rank in this order."""
    text = np.frombuffer(json.dumps([what, where]).encode(), dtype=np.uint8)
    table = np.empty((comm.Get_size(), 2), dtype=np.int64)
    comm.Allgather(np.array([int(here), text.size], dtype=np.int64), table)
    seen = np.flatnonzero(table[:, 0])
    root = int(seen[0]) if seen.size else 0
    chosen = text.copy() if comm.Get_rank() == root else np.empty(int(table[root, 1]), dtype=np.uint8)
    comm.Bcast(chosen, root=root)
    what, where = json.loads(chosen.tobytes().decode())
    return what, where


def summed(comm, *values: float) -> list[float]:
    """Each value summed over the ranks in float64, the same bits on every rank (reduced to
    rank 0 and broadcast, like the gradients)."""
    local = np.asarray(values, dtype=np.float64)
    total = np.empty_like(local)
    comm.Reduce(local, total, root=0)
    comm.Bcast(total, root=0)
    return [float(v) for v in total]


class DataParallelLoop(Loop):
    """:class:`~deltaprop.training.Loop` on one rank: the batches are this rank's shares,
    the gradients are averaged by :class:`GradientAverager`, and an epoch's metrics are
    summed over the ranks before the record is made, so every rank keeps the same history."""

    def __init__(self, state, source: ShardedBatches, comm, *, validation=None, callbacks=()):
        self.comm = comm
        self._all_validation = validation
        if validation is not None:
            Xv, Yv, idv = validation
            lo, hi = shard_bounds(len(Yv), comm.Get_rank(), comm.Get_size())
            validation = (Xv[lo:hi] if not _is_lazy(Xv) else _LazyRows(Xv, lo, hi), Yv[lo:hi],
                          None if idv is None else idv[lo:hi])
        self.averager = GradientAverager(comm, source)
        #: ``(what, layer)`` of a divergence this rank saw on its own rows, in this step or validation
        self._found: tuple[str, str | None] | None = None
        super().__init__(state, source, validation=validation, callbacks=[self.averager, *callbacks])

    def run(self):
        """Train under a :class:`StopVote`, with every Dropout layer drawing the global
        batch's mask and keeping its own rows of it (the masks one process would draw).
        A Ctrl-C that came after the last step's vote stops every rank too; any other
        exception ends the job (:func:`_end_job`)."""
        with StopVote(self.comm) as vote:
            self.averager.vote = vote
            try:
                history = self._run_sharded()
            except (KeyboardInterrupt, TrainingDivergedError):  # agreed on by every rank at the same step
                vote.finish()  # every rank started the vote under way: waiting for it ends it cleanly
                raise
            except BaseException as exc:  # this rank's alone: the others would wait for it
                vote.abandon()
                _end_job(self.comm, exc)
                raise
            if vote.stop_now():
                raise KeyboardInterrupt
        return history

    def _run_sharded(self):
        from .layers import Dropout

        dropouts = [layer for layer in self.state.net.layers if isinstance(layer, Dropout)]
        generators = [layer.rng for layer in dropouts]
        for layer in dropouts:
            layer.rng = _ShardedRandom(layer.rng, self.source)
        progress = self.state.progress
        if progress is not None and self.comm.Get_rank() != 0:
            # A resumed epoch's sums so far are the whole run's (rank 0 keeps them, see
            # close_epoch); the other ranks add only their own rows from here on.
            progress.seen, progress.loss_sum = 0, 0.0
            progress.correct = None if progress.correct is None else 0
        try:
            return super().run()
        finally:
            for layer, rng in zip(dropouts, generators):
                layer.rng = rng

    def close_epoch(self, started, *, finished=True):
        """An epoch stopped before its end keeps the sums of all ranks on rank 0 (zeros on the
        others), so a checkpoint of it, resumed on any number of processes, adds up right."""
        if not finished:
            seen, loss_sum, correct = self.epoch_totals()
            progress = self.state.progress
            mine = self.comm.Get_rank() == 0
            progress.seen, progress.loss_sum = (seen, loss_sum) if mine else (0, 0.0)
            if correct is not None:
                progress.correct = correct if mine else 0
        super().close_epoch(started, finished=finished)

    def train_step(self, x, y, ids, weights=None):
        """One step; a loss that overflowed on any rank stops every rank at this step's
        gradient reduction, with the network's last finite weights (no rank is left waiting
        in a collective for one that stopped)."""
        self.averager.diverged, self.averager.reduced, self._found = None, False, None
        try:
            return super().train_step(x, y, ids, weights)
        except _GlobalDivergence as exc:
            self._diverged(str(exc))

    def _last_outputs_finite(self):
        """Every rank checks its own rows; all agree (one reduction), so each stops or none."""
        return not summed(self.comm, 0.0 if super()._last_outputs_finite() else 1.0)[0]

    def _loss_not_finite(self, value):
        self._found_here(f"the loss is {value} on process {self.comm.Get_rank()}", loss_overflowed=True)
        self.averager.diverged = self._found[0]

    def _found_here(self, what: str, *, loss_overflowed: bool = False) -> None:
        """Keep this rank's diagnosis, read before the step's gradient reduction (whose NaN
        mark would show as layer 0's gradient), as one process reads it."""
        self._found = (what, _unstable_layer(self.state.net, self.snapshot, loss_overflowed))

    def _diagnosis(self, what, loss_overflowed):
        """The same on every rank (:func:`agreed_diagnosis`): every rank reaches a divergence
        at the same step or validation, so each makes its collectives."""
        found, self._found = self._found, None
        if found is None:
            found = super()._diagnosis(what, loss_overflowed)
            return agreed_diagnosis(self.comm, False, *found)
        return agreed_diagnosis(self.comm, True, *found)

    def _floating_point_error(self, exc):
        """NumPy raised on this rank (``np.seterr(all="raise")``). Before the step's gradient
        reduction its rows alone overflowed: the rank joins the reduction with the NaN mark of
        :meth:`_loss_not_finite`, so every rank stops at this step. After it, every rank
        computes the same numbers from the same gradient and weights, so each raised it."""
        if self.averager.reduced:
            super()._floating_point_error(exc)
        self._found_here(f"numpy raised {exc!r} on process {self.comm.Get_rank()}")
        self.averager.diverged = self._found[0]
        self.averager.on_gradients(self.state)  # raises _GlobalDivergence on every rank

    def step_rows(self, x):
        """The global batch's rows: a progress bar counts the epoch's rows, not this rank's
        share of them (``batch_loss`` stays this rank's)."""
        return self.source.global_rows

    def stop_requested(self):
        """``stop_training`` agreed before every epoch: stop when a callback asked on any rank
        (a callback given to one rank, or deciding from its rank's own rows), so that every
        rank stops after the same epoch. One ``Allreduce`` of one integer an epoch."""
        mine = np.array([int(bool(self.state.stop_training))], dtype=np.int64)
        total = np.empty_like(mine)
        self.comm.Allreduce(mine, total)
        self.state.stop_training = bool(total[0])
        return self.state.stop_training

    def stop_in_epoch(self):
        """False: a stop asked during an epoch (``on_batch_end``) is known to its rank alone,
        and ending the epoch there would leave the other ranks waiting in the next step's
        reduction; it takes effect at the epoch's end, agreed by :meth:`stop_requested`."""
        return False

    def epoch_totals(self):
        seen, loss_sum, correct = self.state.running
        seen, loss_sum, hits = summed(self.comm, seen, loss_sum, correct or 0)
        return int(seen), loss_sum, int(hits) if correct is not None else None

    def validate(self):
        """Each rank scores its share of the validation rows; one reduction sums them. NumPy
        raising on one rank's rows (``np.seterr(all="raise")``) is carried by the same
        reduction, so that every rank stops there as a divergence (none waits for it)."""
        Xv, Yv, idv = self.validation
        n = len(Yv)
        val_loss, val_acc, raised = 0.0, 0.0, None
        if n:
            try:
                val_loss, val_acc = _evaluate(self.state.net, self.state.loss, Xv, Yv, idv, name="X_val")
            except FloatingPointError as exc:
                val_loss, val_acc, raised = 0.0, 0.0, exc
        # the rank's hits as the whole number they are: (c/n)·n summed over the ranks missed the
        # last bit of one process's c/n (0.3636363636363636 for 16/44), and a monitor of
        # val_accuracy with min_delta=0 took such a tie for an improvement on one path only
        hits = round((val_acc or 0.0) * n)
        total, loss_sum, hits, failed = summed(self.comm, n, val_loss * n, hits, raised is not None)
        if failed:
            where = (f"numpy raised {raised!r} scoring the validation rows of process {self.comm.Get_rank()}"
                     if raised is not None else "numpy raised scoring the validation rows of another process")
            if raised is not None:
                self._found_here(where)
            self._diverged(where, step=self.state.step)
        return loss_sum / total, (hits / total if idv is not None else None)


class _ShardedRandom:
    """A generator's ``random`` for the current global batch, keeping this rank's rows."""

    def __init__(self, rng: np.random.Generator, source: ShardedBatches):
        self.rng, self.source = rng, source

    def random(self, shape, dtype=np.float64, out=None):
        full = self.rng.random((self.source.global_rows, *shape[1:]), dtype=dtype)
        lo = self.source.first_row
        mine = full[lo : lo + shape[0]]
        if out is None:
            return mine.copy()
        np.copyto(out, mine)
        return out


class _LazyRows:
    """Rows ``[lo, hi)`` of a lazy array, still lazy."""

    def __init__(self, X, lo: int, hi: int):
        self.X, self.lo, self.hi = X, lo, hi
        self.shape = (hi - lo, *tuple(X.shape)[1:])

    def __len__(self):
        return self.hi - self.lo

    def __getitem__(self, index):
        return self.X[np.asarray(index) + self.lo]

    def rows_in_file(self, index) -> np.ndarray:
        """The numbers in the whole array of this share's rows ``index``."""
        rows = np.asarray(index) + self.lo
        in_file = getattr(self.X, "rows_in_file", None)
        return in_file(rows) if in_file is not None else rows
