"""One trial of a sweep, run on a Dask worker as a ``deltaprop train`` process of its own.

A process a trial keeps each trial's output its own (a worker runs several trials at once
in its threads, and the process-wide ``sys.stdout``/``sys.stderr`` cannot be told apart
between them), and lets a trial be stopped: when the sweep cancels the trial's task (its
Ctrl-C) or the worker goes away, the process gets SIGINT and ends as ``deltaprop train``
ends on Ctrl-C, its last epoch's checkpoint kept. :data:`TRIAL_PROCESS` starts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["run_trial"]

#: Seconds a stopped trial has to write its checkpoint and end before it is killed.
STOP_GRACE = 30.0
#: Seconds a retried trial waits for a previous training of its folder (whose worker was
#: killed) to let go of the folder's lock.
LOCK_WAIT = 60.0
_POLL = 0.25
#: The trial's process: Ctrl-C restored first (it inherits the worker's ignored SIGINT), then
#: :func:`main` with train's arguments.
TRIAL_PROCESS = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                 "import sys; from deltaprop.sweep_trial import main; sys.exit(main(sys.argv[1:]))")


def _argv(config: str | None, options: dict[str, str], folder: str) -> list[str]:
    """``deltaprop train`` for the trial: one BLAS thread, and ``--overwrite``: a folder of
    this sweep that holds no finished run is started over (a first try, a try whose worker
    was killed, or a resume of a stopped trial)."""
    from .cli import _TRAIN_OPTIONS

    flag_of = {key: flag for flag, key, _ in _TRAIN_OPTIONS}
    argv = ["train", "--quiet", "--out", folder, "--threads", "1", "--overwrite"]
    if config:
        argv += ["--config", config]
    for key, value in options.items():
        argv += [flag_of.get(key, f"--{key.replace('_', '-')}"), value]
    return argv


def _task_cancelled() -> bool:
    """Whether the Dask task running this trial was cancelled (the sweep was stopped, or its
    client went away) or its worker is closing; False where not on a worker."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker = get_worker()
        task = worker.state.tasks.get(thread_state.key)
    except (ImportError, ValueError, AttributeError):
        return False
    return task is None or task.state in ("cancelled", "released", "forgotten") or \
        worker.status.name in ("closing", "closed", "closing_gracefully", "failed")


def _await_unlocked(folder: Path) -> None:
    """Wait (up to :data:`LOCK_WAIT`) for a training of ``folder`` still ending to let it go;
    a training that holds it longer fails this trial with train's lock message."""
    from .runlock import is_held

    deadline = time.monotonic() + LOCK_WAIT
    while is_held(folder) and time.monotonic() < deadline:
        time.sleep(_POLL)


def _communicate(proc: subprocess.Popen, stopped: Any) -> tuple[str, str]:
    """The process's output once it ends; SIGINT when ``stopped()`` says so, SIGKILL when
    it has not ended :data:`STOP_GRACE` seconds after."""
    stop_sent = None
    while True:
        try:
            return proc.communicate(timeout=_POLL)
        except subprocess.TimeoutExpired:
            if stop_sent is None and stopped():
                proc.send_signal(signal.SIGINT)
                stop_sent = time.monotonic()
            elif stop_sent is not None and time.monotonic() - stop_sent > STOP_GRACE:
                proc.kill()


def trial_environment() -> dict[str, str]:
    """The trial process's environment: this one's, with one BLAS thread, and without the
    variables by which ``mpiexec`` names a job's size and ranks. A worker started by MPI
    (``dask-mpi``, or a sweep run under ``mpiexec``) has them, and a trial's ``deltaprop
    train`` then took itself for a process of a data-parallel job and failed starting MPI."""
    from .distributed import LAUNCHER_RANK, LAUNCHER_SIZE

    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_SIZE + LAUNCHER_RANK}
    return dict(env, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def run_trial(config: str | None, options: dict[str, str], folder: str) -> dict[str, Any]:
    """Train one trial in a ``deltaprop train`` process (on a worker): its exit status, error
    line and wall time. A folder that holds a finished run already (a retried task whose
    first worker died after the run finished) is not trained again."""
    from .sweep import finished_trial

    if finished_trial(Path(folder)):
        return {"exit": 0, "error": "", "seconds": 0.0}
    _await_unlocked(Path(folder))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", TRIAL_PROCESS, *_argv(config, options, folder)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", env=trial_environment(), start_new_session=True)
    _, err = _communicate(proc, _task_cancelled)
    status = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return {"exit": status, "error": failure(status, err) if status else "", "seconds": time.perf_counter() - started}


def failure(status: int, stderr: str) -> str:
    """A failed trial's reason in one line: its error, else how its process ended. A process
    killed by a signal (the kernel's out-of-memory killer sends SIGKILL) prints nothing, and
    its trial was listed as failed with an empty reason."""
    from .sweep import _error_of

    said = _error_of(stderr)
    if said:
        return said
    if status > 128:
        try:
            name = signal.Signals(status - 128).name
        except ValueError:
            name = f"signal {status - 128}"
        oom = ", most likely by the system for want of memory" if name == "SIGKILL" else ""
        return (f"its deltaprop train process was killed by {name}{oom} (exit status {status}), "
                "without an error message")
    return f"its deltaprop train process exited with status {status}, without an error message"


def _watch_parent() -> None:
    """SIGINT this process when the worker that started it is gone (killed: the trial is then
    retried elsewhere, and must not go on training in the same folder)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="deltaprop-trial-parent", daemon=True).start()


def main(argv: list[str]) -> int:
    """The trial's process: ``deltaprop train`` with Ctrl-C restored (the worker blocks or
    ignores SIGINT, and a child inherits that) and the parent watched."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _watch_parent()
    from .cli import main as cli_main

    return cli_main(argv)

