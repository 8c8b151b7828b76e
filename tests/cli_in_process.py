"""`deltaprop ARGS` run inside the test process.

:func:`run_cli` calls ``deltaprop.cli.main(ARGS)`` with stdout and stderr captured and
returns what ``subprocess.run([python, "-m", "deltaprop.cli", *ARGS], capture_output=True,
text=True)`` returns: the exit status and both streams. A warning the run raises is written
to its stderr as Python would print it in a process of its own, so a test that wants one
line on stderr still sees a stray warning. An exception that escapes ``main`` (a process
would print a traceback) fails the test where it happens.

Tests of what a command says, writes and exits with use it: a new interpreter per command
costs a second of imports and tests nothing more. Each module keeps a few runs through the
real entry point for what only a process shows: ``python -m deltaprop.cli`` itself, signals,
file-size limits, a closed pipe, the environment read at start-up.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import warnings


def run_cli(*args, cwd=None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``deltaprop *args`` in this process (in ``cwd``, with ``env``'s variables set)."""
    from deltaprop.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        if env is not None:
            stack.enter_context(_environment(env))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        _process_warning_filters()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
            sys.stdout.flush()
    printed = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in caught)
    return subprocess.CompletedProcess([sys.executable, "-m", "deltaprop.cli", *argv], int(code), out.getvalue(),
                                       err.getvalue() + printed)


def _process_warning_filters() -> None:
    """The filters a new interpreter starts with: every warning shown, less the quiet kinds."""
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)


@contextlib.contextmanager
def _environment(env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
