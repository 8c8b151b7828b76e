"""Hyperparameter sweeps on Dask distributed (``pip install "dask[distributed]"``, or ``uv sync --extra sweep``).

A sweep is a grid (or a random sample of it) over ``deltaprop train``'s options. Each trial is
an ordinary run folder, ``SWEEP/trial-NNN``, trained by ``deltaprop train`` on a Dask
worker: with no scheduler address, a :class:`distributed.LocalCluster` of worker processes on
this machine (one BLAS thread each, so the trials do not fight over cores); with one, an
existing cluster (whose workers must see the sweep folder, e.g. on a shared file system).
A failed trial is recorded with its error and never stops the others. ``--resume`` skips a
finished trial only when the configuration its folder recorded (``config.toml``) is the one
this sweep gives it; any other setting stops the sweep before it trains. The results are
``sweep.csv`` (a row a trial) and ``sweep.png`` (best validation accuracy against each
varied option); the best trial is named with its folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_bytes
from .errors import ConfigError, Error
from .sweep_trial import run_trial

__all__ = ["Trial", "check_resumable", "check_shared_config", "expected_config", "parse_grid", "plan_trials",
           "run_sweep", "run_trial", "summarise", "trial_options"]

#: Columns of sweep.csv after the varied options. ``seconds`` is the trial's wall time in
#: ``deltaprop train`` as its run.json records it (training and testing), whether the trial
#: ran now or was skipped as finished before. ``alerts``: the alert rules still holding at the
#: trial's last epoch (run.json's ``alerts_at_end``), as ``rule`` or ``rule@layer``, ``;``-separated.
RESULT_KEYS = ("status", "best_val_accuracy", "best_epoch", "epochs", "seconds", "alerts", "folder", "error")
#: Result columns named apart from the options of deltaprop train they would repeat (a grid
#: over epochs gave sweep.csv two columns named epochs).
RESULT_COLUMNS = {"epochs": "epochs_trained"}


@dataclass
class Trial:
    """One point of the sweep: its options (flag name → text, as on the command line)."""

    index: int
    options: dict[str, str]
    folder: Path
    result: dict[str, Any] = field(default_factory=dict)


def _grid_values(key: str, values: str) -> list[str]:
    """One --grid option's values: separated by ``;`` when one is present (values that
    hold ``:`` and ``,``, such as a schedule with settings; a last ``;`` may end the list),
    else by ``:`` (values that hold commas), else by ``,``. A ``layers`` value is itself a
    comma list, so commas alone give one architecture; a schedule with settings alone
    (``cosine:t_max=2``) is one value, and several need ``;`` between them."""
    if ";" in values:
        parts = values.split(";")
        return parts[:-1] if len(parts) > 1 and not parts[-1].strip() else parts
    if key == "schedule" and ":" in values and any("=" in v for v in values.split(":")):
        parts = values.split(":")
        if "=" not in parts[0] and all("=" in v for v in parts[1:]):
            return [values]
        raise ConfigError(f"--grid schedule={values!r}: a schedule's settings hold ':' and ',', so separate the "
                          "grid's schedules with ';', e.g. --grid 'schedule=step:step_size=2,gamma=0.5;cosine'")
    if ":" in values:
        return values.split(":")
    return [values] if key == "layers" else values.split(",")


def parse_grid(specs: list[str], known: set[str], aliases: dict[str, str] | None = None) -> dict[str, list[str]]:
    """``["lr=0.03,0.1", "layers=784,100,10:784,300,10"]`` → ``{"lr": [...], "layers": [...]}``
    (see :func:`_grid_values` for how values are separated). ``aliases`` maps other names of
    a key (train's flag ``output-activation`` for the key ``output``) to it."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        key, eq, values = spec.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        key = (aliases or {}).get(key, key)
        if not eq or not key or not values.strip():
            raise ConfigError(f"--grid {spec!r}: write KEY=V1,V2 (KEY=A:B for values with commas, KEY=A;B for "
                              "values with colons)")
        if key not in known:
            switch = " (a switch: set it in the sweep's CONFIG.toml, e.g. nesterov = true)" if key == "nesterov" else ""
            raise ConfigError(f"--grid {key}: not an option of deltaprop train that takes a value{switch}; choose from "
                              f"{', '.join(sorted(known))}")
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice; list all its values in one --grid")
        parts = [v.strip() for v in _grid_values(key, values)]
        if any(not v for v in parts):
            raise ConfigError(f"--grid {spec!r} has an empty value")
        _check_distinct(key, parts)
        grid[key] = parts
    if not grid:
        raise ConfigError("a sweep needs at least one --grid KEY=V1,V2")
    return grid


def _check_distinct(key: str, values: list[str]) -> None:
    """Refuse a --grid value listed twice, as text or as the setting train reads from it
    (``0.1`` and ``0.10``, ``sgd`` and ``SGD``): every combination holding it would be trained
    twice, bit for bit the same run, and shown as two settings."""
    from .config import TrainConfig

    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        try:
            setting = repr(getattr(TrainConfig.from_mapping({key: value}, origin="--grid"), key))
        except Error:  # a value train refuses fails its own trials; only its text can repeat
            setting = f"text {value}"
        first = values[seen.setdefault(setting, i)]
        if seen[setting] != i:
            same = f"{value!r} twice" if first == value else f"{first!r} and {value!r}, which train reads as one value"
            raise ConfigError(f"--grid {key} lists {same}: their trials would be the same runs trained twice; list "
                              "each value once")


def plan_trials(grid: dict[str, list[str]], out: Path, *, random: int | None = None, seed: int = 0) -> list[Trial]:
    """Every combination of the grid, or ``random`` of them drawn without replacement. Trial
    ``i``'s folder is ``out/trial-i``, ``i`` padded with zeros to ``max(3, digits of the
    count)``, or to the width of the trial folders ``out`` already holds (a resumed sweep
    grown past 999 trials keeps ``trial-000``, so its finished trials are found again)."""
    keys = list(grid)
    points = [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    if random is not None:
        if random < 1:
            raise ConfigError(f"--random must be at least 1, got {random}")
        chosen = np.random.default_rng(seed).permutation(len(points))[: min(random, len(points))]
        points = [points[i] for i in sorted(chosen)]
    widths = trial_widths(out)
    width = widths.pop() if len(widths) == 1 else max(3, len(str(len(points))))
    return [Trial(i, p, out / f"trial-{i:0{width}d}") for i, p in enumerate(points)]


def trial_widths(out: Path) -> set[int]:
    """The digit counts the ``trial-N`` folders in ``out`` are numbered with: a name padded
    with zeros (``trial-007``) has exactly its sweep's width; without padded names, the
    shortest (``trial-123`` in a sweep of width 3). Empty for none; two for a folder whose
    trials were numbered twice over (``trial-000`` and ``trial-0000``)."""
    import re

    padded, plain = set(), set()
    try:
        names = [p.name for p in Path(out).iterdir() if p.is_dir()]
    except OSError:
        return set()
    for name in names:
        match = re.fullmatch(r"trial-(\d+)", name)
        if match:
            digits = match.group(1)
            (padded if len(digits) > len(str(int(digits))) else plain).add(len(digits))
    return padded or ({min(plain)} if plain else set())


def holds_sweep(out: Path) -> bool:
    """Whether ``out`` holds a sweep to continue: its ``sweep.csv`` or ``trial-N`` folders."""
    return (Path(out) / "sweep.csv").is_file() or bool(trial_widths(out))


def _error_of(stderr: str) -> str:
    """The trial's error in one line: from the line that says ``error:`` to the end (a
    message of several lines gives its reason and its fix), else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if "error:" in line), len(lines) - 1)
    return " ".join(lines[max(first, 0):])


def summarise(trial: Trial, run: dict[str, Any] | None) -> dict[str, Any]:
    """The trial's row: its status, best validation accuracy and epoch, from its history."""
    from .training import History

    row: dict[str, Any] = {"status": "failed", "best_val_accuracy": None, "best_epoch": None, "epochs": None,
                           "seconds": None, "folder": str(trial.folder), "error": ""}
    if run is not None:
        row["error"] = run["error"]
    row["seconds"] = _recorded_seconds(trial.folder)
    if row["seconds"] is None and run is not None and run["exit"] != 0 and run["seconds"] is not None:
        row["seconds"] = round(run["seconds"], 3)  # it failed before its run.json was written
    finished = finished_trial(trial.folder) and (run is None or run["exit"] == 0)
    if not finished:
        if run is None:
            row["status"], row["error"] = "not run", ""
        elif run["exit"] == 130:  # stopped by Ctrl-C: a resume trains it again
            row["status"] = "interrupted"
        return row
    row["status"] = "ok"
    row["alerts"] = standing_alerts(trial.folder)
    try:
        records = History.read_csv(trial.folder / "history.csv").records
    except Error as exc:
        row["status"], row["error"] = "failed", str(exc)
        return row
    row["epochs"] = len(records)
    scored = [(r["val_accuracy"], r["epoch"]) for r in records if r.get("val_accuracy") is not None]
    if scored:
        best = max(scored, key=lambda s: (s[0], -s[1]))
        row["best_val_accuracy"], row["best_epoch"] = float(best[0]), int(best[1])
        losses = [(_loss(r.get("val_loss")), int(r["epoch"])) for r in records if r.get("val_accuracy") == best[0]]
        row["val_loss_at_best"], row["val_loss_epoch"] = min(losses, key=lambda pair: pair[0])
        kept = _model_epoch(trial.folder)
        at_kept = [r["val_accuracy"] for r in records if r["epoch"] == kept and r.get("val_accuracy") is not None]
        if at_kept:
            row["model_epoch"], row["model_val_accuracy"] = kept, float(at_kept[-1])
    return row


def _model_epoch(folder: Path) -> int | None:
    """The epoch whose weights the trial's model file holds (run.json's ``model_weights``:
    the last epoch's, or the one early stopping kept); None when not recorded."""
    from .report import recorded_facts

    kept = (recorded_facts(folder) or {}).get("model_weights")
    epoch = kept.get("epoch") if isinstance(kept, dict) else None
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None


def standing_alerts(folder: Path) -> str:
    """The alerts still holding at a finished trial's last epoch, from its run.json
    (``alerts_at_end``): ``rule`` or ``rule@layer`` each, ``"; "``-separated, in the order
    they first fired; empty when none holds (or the run.json does not say)."""
    from .alerts import checked_standing
    from .report import recorded_facts

    at_end = (recorded_facts(folder) or {}).get("alerts_at_end")
    try:
        items = checked_standing(at_end)["alerts"] if at_end is not None else []
    except Error:
        return ""
    held = [a for a in items if a["cleared_by"] is None]
    names = (a["rule"] if a["layer"] is None else f"{a['rule']}@{a['layer']}" for a in held)
    return "; ".join(dict.fromkeys(names))


def alerts_note(trial: Trial) -> str:
    """Words for a trial's line when alerts still hold at its last epoch (the trial's own
    alerts.csv and report say more); empty when none does."""
    held = trial.result.get("alerts")
    if not held:
        return ""
    return f"; alerts still holding at its last epoch: {held} (see {trial.folder / 'alerts.csv'})"


def model_note(best: Trial) -> str:
    """Words for the best trial's line when its model file holds another epoch's weights,
    of a lower validation accuracy (the best epoch's weights are not in the folder)."""
    r = best.result
    if r.get("model_val_accuracy") is None or r["model_val_accuracy"] >= r["best_val_accuracy"]:
        return ""
    return (f" (its model.safetensors holds epoch {r['model_epoch']}'s weights, validation accuracy "
            f"{r['model_val_accuracy']:.4f})")


def _loss(value) -> float:
    """A validation loss to rank by: infinity for one not recorded or not finite."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else math.inf


def finished_trial(folder: Path) -> bool:
    """Whether a trial's folder holds a finished run: its model, and a run.json that says
    done (a trial stopped while its results were written has the model but not the rest)."""
    from .report import recorded_status

    return (folder / "model.safetensors").is_file() and recorded_status(folder) == "done"


def _recorded_seconds(folder: Path) -> float | None:
    """The run's wall time from its run.json (None when there is none to read)."""
    import json

    try:
        seconds = json.loads((folder / "run.json").read_text(encoding="utf-8")).get("seconds")
    except (OSError, ValueError, AttributeError):
        return None
    return round(float(seconds), 3) if isinstance(seconds, (int, float)) and math.isfinite(seconds) else None


def check_shared_config(config: str, trials: list[Trial]) -> None:
    """Refuse a configuration file (``CONFIG.toml``) that no trial can train with: its
    settings must pass train's checks alone or under some trial's options, which override
    them as train's flags do (a cosine's ``min_lr`` above the file's optimizer's default
    rate is no error when the grid gives every trial its ``lr``)."""
    from .config import TrainConfig, config_file

    shared = config_file(config)
    try:
        TrainConfig.from_mapping(shared, origin=str(config))
    except Error:
        for trial in trials:
            with contextlib.suppress(Error):
                TrainConfig.from_mapping(shared, trial.options, origin=str(config))
                return
        raise


def expected_config(config: str | None, options: dict[str, str]):
    """The configuration ``deltaprop train`` builds for a trial: the file's, then the options."""
    from .config import TrainConfig, config_file

    sources = [config_file(config)] if config else []
    return TrainConfig.from_mapping(*sources, dict(options), origin=str(config or "the sweep's options"))


def trial_options(config: str | None, options: dict[str, str], base: Path | None = None) -> dict[str, str]:
    """The options a trial is sent: its own, with a relative ``dataset`` file or ``data_dir``
    (from the configuration file or the grid) made absolute against ``base``, the sweep's
    working folder (default: the current one), as ``--config`` and ``--out`` are: a worker
    of an existing cluster runs in a folder of its own. A value that does not parse is sent
    as it is, and fails its own trial with train's message."""
    from .data import DATASETS

    try:
        cfg = expected_config(config, options)
    except Error:
        return dict(options)
    base = Path.cwd() if base is None else base
    sent = dict(options)
    if cfg.dataset.lower().replace("_", "-") not in DATASETS and not Path(cfg.dataset).is_absolute():
        sent["dataset"] = str((base / cfg.dataset).resolve())
    if cfg.data_dir and not Path(cfg.data_dir).is_absolute():
        sent["data_dir"] = str((base / cfg.data_dir).resolve())
    return sent


def _differences(expected, recorded) -> list[str]:
    """Settings in which a recorded configuration (a finished trial's ``config.toml``, read
    whole) differs from the expected one. Only what the record lists as ``derived`` may be
    left to training again (layer widths taken from the data, a cosine's ``t_max`` or a
    step's ``step_size`` taken from the run's length, compared through ``dataset`` and
    ``epochs``); a value it records as set must be the value this sweep sets."""
    from .config import schedule_spec

    derived = set(recorded.derived)
    out = []
    for key in type(expected).keys():
        if key == "derived":  # which values were filled in, not a setting
            continue
        want, got = getattr(expected, key), getattr(recorded, key)
        shown = repr(want)
        if key == "layers" and not want:
            if "layers" in derived:  # both left to the data
                continue
            shown = "none (the data's [features, 50, classes])"
        if key == "schedule":
            want, got = schedule_spec(want), schedule_spec(got)
            got = {k: v for k, v in got.items() if k in want or f"schedule.{k}" not in derived}
        if want != got:
            out.append(f"{key} = {getattr(recorded, key)!r}, but this sweep gives it {key} = {shown}")
    return out


def _recorded_config(folder: Path):
    """A trial's ``config.toml`` as written, ``derived`` list and derived values included
    (``--config`` would drop those; here they say what training filled in)."""
    from .config import TrainConfig, load_toml

    return TrainConfig.from_mapping(load_toml(folder / "config.toml"), origin=str(folder / "config.toml"))


def _data_file_changed(folder: Path, digests: dict[str, str | None]) -> str | None:
    """Words for a data file whose bytes differ from those the finished trial in ``folder``
    trained on (its run.json's ``data.file_sha256``); None when the same, not recorded (a
    named dataset) or no longer there (the trials that read it fail with train's message).
    ``digests`` caches each file's SHA-256."""
    from .data.download import file_digest
    from .report import recorded_facts

    data = (recorded_facts(folder) or {}).get("data")
    then = data.get("file_sha256") if isinstance(data, dict) else None
    path = data.get("source") if isinstance(data, dict) else None
    if not isinstance(then, str) or not isinstance(path, str):
        return None
    if path not in digests:
        try:
            digests[path] = file_digest(path)
        except (OSError, Error):
            digests[path] = None
    now = digests[path]
    if now is None or now == then:
        return None
    return f"{path} as it was then (SHA-256 {then[:12]}…; {now[:12]}… now)"


def check_resumable(trials: list[Trial], config: str | None) -> None:
    """Refuse to resume over a finished trial (a folder holding a model) that was trained with
    another configuration than this sweep gives it (a changed grid, ``--random``/``--seed``
    or configuration file), or on a data file whose bytes have changed since: its results
    would be shown under the wrong options, or ranked beside trials trained on other data; or
    a sweep folder whose trials were numbered with two widths (``trial-000``, ``trial-0000``)."""
    widths = sorted(trial_widths(trials[0].folder.parent)) if trials else []
    if len(widths) > 1:
        names = " and ".join(f"trial-{0:0{w}d}" for w in widths)
        raise ConfigError(f"{trials[0].folder.parent} holds trial folders numbered with {names}, so which folder is "
                          "each trial's is unclear; move the folders of one numbering out of it, or start a new sweep "
                          "in another --out")
    digests: dict[str, str | None] = {}
    for trial in trials:
        if not finished_trial(trial.folder):
            continue
        where = f"trial {trial.index} ({trial.folder})"
        try:
            recorded = _recorded_config(trial.folder)
        except (Error, OSError) as exc:
            raise ConfigError(f"{where} holds a model but its config.toml cannot be read ({exc}); "
                              "start a new sweep in another --out") from exc
        differs = _differences(expected_config(config, trial_options(config, trial.options)), recorded)
        if differs:
            raise ConfigError(f"{where} was trained with {differs[0]}; --resume continues a sweep with the grid, "
                              "--random/--seed and configuration file it was started with: give those, "
                              "or start a new sweep in another --out")
        changed = _data_file_changed(trial.folder, digests)
        if changed:
            raise ConfigError(f"{where} was trained on {changed}; its results cannot be ranked beside trials "
                              "trained on the file as it is now: restore the file, or start a new sweep in another "
                              "--out")


def check_scheduler_address(address: str) -> None:
    """A Dask scheduler's address is ``tcp://HOST:PORT`` (``tls://`` too; ``HOST:PORT``
    means tcp); anything else is refused here, in one line, before any folder is made."""
    import re

    match = re.fullmatch(r"(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})", address.strip())
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise ConfigError(f"--scheduler {address!r} is not a Dask scheduler address; give it as tcp://HOST:PORT, "
                          "e.g. tcp://127.0.0.1:8786 (the address dask scheduler prints)")


def trial_key(folder: Path) -> str:
    """The trial's Dask key: named by its resolved folder, so two sweeps on one cluster never
    share a key (folders of one name in two places did, and got each other's results), and a
    resume of this sweep asks for the same key (a trial still running is not run twice)."""
    import hashlib

    digest = hashlib.sha256(str(Path(folder).resolve()).encode("utf-8")).hexdigest()[:20]
    return f"deltaprop-trial-{Path(folder).name}-{digest}"


@contextlib.contextmanager
def _ctrl_c_held(*, ignored: bool):
    """While the cluster starts, a Ctrl-C cut its start short (an error at exit) and gave each
    worker process starting then a traceback. A Ctrl-C meanwhile is held and raised as
    KeyboardInterrupt once the block's body is done. ``ignored``: SIGINT is ignored meanwhile,
    and the local workers inherit that (their trials are stopped by the sweep, never by the
    terminal's signal); a terminal's Ctrl-C, sent to the whole process group, is then seen
    by a sentinel process started before, which it ends."""
    import signal
    import subprocess
    import sys
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []
    sentinel = None
    if ignored:
        sentinel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(86400)"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN if ignored else lambda *_: held.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if sentinel is not None:
            held.append(sentinel.poll() is not None)
            sentinel.kill()
            sentinel.wait()
    if any(held):
        raise KeyboardInterrupt


#: deltaprop is on no package index, so "deltaprop[sweep]" alone installs nothing of it: name the package.
_NO_DASK = ('deltaprop sweep needs Dask distributed, which is not installed: pip install "dask[distributed]", '
            'or in a checkout of deltaprop uv sync --extra sweep (or pip install ".[sweep]")')


def check_dask() -> None:
    """Refuse a sweep without Dask distributed before its folder is made (without importing it)."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise ConfigError(_NO_DASK)


def _client(workers: int | None, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(_NO_DASK) from exc
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)  # a worker's shutdown notes are not the user's concern
    if scheduler:
        timeout = connect_timeout()
        answer_from_scheduler(scheduler, timeout)
        try:
            with warnings.catch_warnings():  # versions that differ are said in one line by check_workers
                warnings.filterwarnings("ignore", message="Mismatched versions")
                client = Client(scheduler, timeout=timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise Error(f"cannot reach the Dask scheduler: {exc}; is one running there? Check --scheduler, or leave "
                        "it out to start a local cluster") from None
        try:
            check_workers(client, scheduler, timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                client.close()
            raise
        return client, None
    n = workers or _cpus()
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                           env=env, silence_logs=logging.ERROR)
    return Client(cluster), cluster


#: The packages whose versions every worker must share with the sweep: the trials run the
#: workers' deltaprop, and results trained on another NumPy are not the numbers this one gives.
SHARED_PACKAGES = ("deltaprop", "numpy")


def check_workers(client, address: str, timeout: float) -> None:
    """An existing cluster must have a worker within ``timeout`` seconds (a scheduler without
    workers held the sweep for ever, its trials pending), and every worker the versions of
    :data:`SHARED_PACKAGES` this process has (a worker without deltaprop failed every trial it
    took, one of another version trained with other code); else :class:`Error` in one line."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, asyncio.TimeoutError, TimeoutError):
        raise Error(f"the Dask scheduler at {address} has no workers (none joined within {timeout:g} s): start "
                    f"some (dask worker {address}), or leave --scheduler out to start a local cluster") from None
    versions = client.get_versions(packages=list(SHARED_PACKAGES))
    mine = {k: versions["client"]["packages"].get(k) for k in SHARED_PACKAGES}
    for worker, info in sorted(versions["workers"].items()):
        theirs = {k: (info.get("packages") or {}).get(k) if isinstance(info, dict) else None for k in SHARED_PACKAGES}
        if theirs != mine:
            said = ", ".join(f"{k} {v or 'not installed'}" for k, v in theirs.items())
            raise Error(f"Dask worker {worker} has {said} where this sweep runs "
                        f"{', '.join(f'{k} {v}' for k, v in mine.items())}: install the same versions on every "
                        "worker (the trials run the workers' deltaprop)")
    _dask_version_note(versions)


def _dask_version_note(versions: dict) -> None:
    """Dask's own warning about its packages' versions differing between this process, the
    scheduler and the workers (held back while connecting, to say deltaprop's first)."""
    from distributed.versions import error_message

    note = error_message(versions["scheduler"], versions["workers"], versions["client"])["warning"]
    if note:
        warnings.warn(note, stacklevel=2)


def connect_timeout() -> float:
    """Seconds to wait for the scheduler: Dask's ``distributed.comm.timeouts.connect`` (30 s)."""
    import dask.config
    import distributed  # noqa: F401  (sets its configuration's defaults)
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="seconds"))


#: What the scheduler's line adds when something else answered: the port is the usual mix-up.
_PORT_HINT = ("is this the scheduler's port (8786 unless it was started with another; 8787 is its dashboard)? "
              "Check --scheduler, or leave it out to start a local cluster")


def answer_from_scheduler(address: str, timeout: float) -> None:
    """Open one connection to ``address`` and read Dask's handshake within ``timeout``
    seconds, else raise :class:`~deltaprop.errors.Error` in one line. Dask's client reads the
    handshake with no time limit: a server that accepts but never answers (a web page's port)
    held the sweep for ever, and one that answers in another protocol had its first bytes
    read as a frame's length (``out of memory`` for exabytes)."""
    from distributed.comm import connect
    from distributed.security import Security

    args = Security().get_connection_args("client")
    if address.strip().startswith("tls://") and args.get("ssl_context") is None:
        raise ConfigError(f"--scheduler {address}: a tls:// scheduler needs Dask's TLS settings (the client's "
                          "certificate and key, and the CA: distributed.comm.tls in Dask's configuration), and none "
                          "are set; set them, or give the scheduler's tcp:// address")

    async def handshake():
        comm = await connect(address, timeout=timeout, **args)
        await comm.close()

    try:
        _run_coroutine(lambda: asyncio.wait_for(handshake(), timeout + 1))  # a refused port: connect's own message
    except (OSError, asyncio.TimeoutError) as exc:
        why = str(exc) or "the connection was accepted, but nothing answered"
        raise Error(f"no Dask scheduler answered at {address} within {timeout:g} s ({why}); is one running "
                    f"there, and {_PORT_HINT}") from None
    except Exception:  # whatever the other protocol's bytes made of the handshake
        raise Error(f"{address} answered, but not as a Dask scheduler (its first bytes are not Dask's handshake); "
                    f"{_PORT_HINT}") from None


def _run_coroutine(make) -> None:
    """Run the coroutine ``make()`` returns to its end: here, or on a thread of its own where
    this thread already runs an event loop (a notebook's), which ``asyncio.run`` refuses."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(make())
        return
    import threading

    raised: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(make())
        except BaseException as exc:  # handed to the caller's thread
            raised.append(exc)

    thread = threading.Thread(target=run, name="deltaprop-scheduler-check", daemon=True)
    thread.start()
    thread.join()
    if raised:
        raise raised[0]


def _cpus() -> int:
    """The CPUs this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def local_workers(workers: int | None, trials: int) -> int:
    """The local cluster's worker processes: ``workers`` (default one per CPU), at most one a
    trial to run: a worker more is a process started (Dask imported, seconds of CPU) to wait."""
    return max(1, min(workers or _cpus(), trials))


def _run_json_stamp(folder: Path) -> tuple[int, int, int] | None:
    """What tells a trial's run.json apart from the one before (train writes a new file):
    its inode, modification time and size; None when there is none."""
    try:
        st = os.stat(Path(folder) / "run.json")
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


#: Seconds a stopped sweep watches the folders of its unfinished trials at least: longer than
#: a worker takes to see its task cancelled and stop the trial's process (it looks every
#: quarter second), so a trial that took its folder meanwhile is waited for and counted.
STOPPING_NOTICE = 1.0


def _stop(futures: dict, stamps: dict[Path, Any] | None = None) -> None:
    """After Ctrl-C: cancel every trial not finished; a running one gets SIGINT from its
    worker and ends as train does on Ctrl-C (its last epoch's checkpoint kept). Waits, with
    Ctrl-C ignored, up to :data:`~deltaprop.sweep_trial.STOP_GRACE` seconds for them to let
    go of their folders, and for :data:`STOPPING_NOTICE` seconds at least, in which a trial
    still starting may take its folder; marks them ``interrupted`` and the others ``not run``. ``stamps``:
    each trial's :func:`_run_json_stamp` before this sweep submitted it, so that a run.json
    left by an earlier, stopped sweep (a pending trial of a resume) is not taken for this one's."""
    import signal

    from .interrupts import ignored
    from .runlock import is_held
    from .sweep_trial import STOP_GRACE

    open_ = {f: t for f, t in futures.items() if not t.result}
    for future, trial in open_.items():
        if future.status == "finished":  # finished while the Ctrl-C came
            trial.result = summarise(trial, future.result())
    left = [t for t in open_.values() if not t.result]
    running = [t for t in left if is_held(t.folder)]
    with ignored(signal.SIGINT):
        for future, trial in open_.items():
            if not trial.result:
                future.cancel()
        # A trial whose process was still starting (importing, loading its data) takes its
        # folder's lock only now, before its worker sees the cancel and stops it: watch every
        # trial left for a while, not only those that held their folders at the Ctrl-C.
        now = time.monotonic()
        settled, deadline = now + STOPPING_NOTICE, now + STOP_GRACE + 5
        while time.monotonic() < deadline:
            held = [t for t in left if is_held(t.folder)]
            running += [t for t in held if t not in running]
            if not held and time.monotonic() >= settled:
                break
            time.sleep(0.2)
    from .report import recorded_status

    for trial in open_.values():
        # A trial that got the terminal's Ctrl-C itself may have let go of its folder before
        # the check above: its run.json says so.
        written_now = stamps is None or _run_json_stamp(trial.folder) != stamps.get(trial.folder)
        if not trial.result and (trial in running or (written_now and recorded_status(trial.folder) in
                                                      ("interrupted", "training"))):
            trial.result = summarise(trial, {"exit": 130, "error": "stopped by Ctrl-C", "seconds": None})


def _quiet_logs() -> None:
    """Dask's loggers in this process say nothing below CRITICAL (each logger: a level set on
    ``distributed.worker`` itself would otherwise stand)."""
    import logging

    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _close(client, cluster) -> None:
    """Close the client and the local cluster, their closing notes unsaid: the local workers
    and nannies, whose stderr is this one's, are quieted first (a worker whose heartbeat met
    the scheduler closing logged a CommClosedError traceback after a sweep that succeeded)."""
    _quiet_logs()
    if client is not None and cluster is not None:
        for nanny in (False, True):
            with contextlib.suppress(Exception):
                client.run(_quiet_logs, nanny=nanny, on_error="ignore")
    with contextlib.suppress(Exception):
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(trials: list[Trial], *, config: str | None, workers: int | None = None, scheduler: str | None = None,
              resume: bool = False, say: Callable[[str], None] = print) -> list[Trial]:
    """Train the trials on Dask (skipping finished ones with ``resume``); fills each
    ``trial.result``. Ctrl-C stops the running trials (:func:`_stop`), cancels the pending
    ones, keeps the finished ones and is raised again. A finished trial trained with other
    settings stops the resume (:func:`check_resumable`)."""
    if resume:
        check_resumable(trials, config)
    todo = []
    for trial in trials:
        if resume and finished_trial(trial.folder):
            trial.result = summarise(trial, None)
            say(f"trial {trial.index}: finished before, skipped ({trial.folder})")
        else:
            todo.append(trial)
    if not todo:
        return trials
    # A terminal's Ctrl-C reaches a sweep run under `timeout` twice (sent to the process group,
    # and passed on by timeout): the second cut _stop short, and trials it had stopped were
    # reported as not run.
    import signal

    from .interrupts import interrupt_once

    with interrupt_once(signal.SIGINT):
        return _run_trials(trials, todo, config=config, workers=workers, scheduler=scheduler, say=say)


def _run_trials(trials: list[Trial], todo: list[Trial], *, config, workers, scheduler, say) -> list[Trial]:
    client = cluster = None
    futures: dict = {}
    stamps: dict[Path, Any] = {}
    try:
        with _ctrl_c_held(ignored=not scheduler):
            client, cluster = _client(None if scheduler else local_workers(workers, len(todo)), scheduler)
        stamps = {trial.folder: _run_json_stamp(trial.folder) for trial in todo}
        for trial in todo:
            future = client.submit(run_trial, config, trial_options(config, trial.options), str(trial.folder),
                                   key=trial_key(trial.folder), pure=False)
            futures[future] = trial
        alone = connect_timeout() if scheduler else None  # a local worker killed is restarted by its nanny
        for future, done in _as_completed(client, futures, alone):
            trial = futures[future]
            try:
                run = future.result() if done else {"exit": 1, "error": _NO_WORKER_LEFT.format(alone), "seconds": None}
            except Exception as exc:  # the worker itself failed (killed, out of memory), or the scheduler was lost
                run = {"exit": 1, "error": dask_failure(exc), "seconds": 0.0}
            trial.result = summarise(trial, run)
            _report(trial, say)
    except KeyboardInterrupt:
        _stop(futures, stamps)
        raise
    finally:
        _close(client, cluster)
    return trials


#: Seconds between looks at the cluster's workers while the trials run.
WORKER_LOOK = 1.0
#: A trial left when the cluster had no worker for the connect timeout.
_NO_WORKER_LEFT = ("not run: the Dask cluster's workers went away and none joined within {:g} s (a worker killed, "
                   "or the cluster shut down); continue the sweep with --resume once it has workers")


def dask_failure(exc: Exception) -> str:
    """A trial's error when Dask itself failed it, in one line (Dask's messages span lines,
    which broke sweep.csv's rows and the table's error column)."""
    said = " ".join(str(exc).split())
    if "scheduler-connection-lost" in said:
        return ("not run: the connection to the Dask scheduler was lost (it stopped, or the network failed); "
                "continue the sweep with --resume once it runs again")
    return f"{type(exc).__name__}: {said}"


def _has_workers(client) -> bool:
    """Whether the cluster has a worker (False when its scheduler cannot be asked)."""
    try:
        return bool(client.nthreads())
    except Exception:  # the scheduler lost: no worker can run a trial
        return False


def _as_completed(client, futures: dict, alone: float | None):
    """``(future, True)`` for each trial's future as it finishes; once the cluster has had no
    worker for ``alone`` seconds (None: never looked at), ``(future, False)`` for each left,
    cancelled. A sweep on an existing cluster whose workers went away (killed, shut down)
    waited for ever."""
    from distributed import wait

    pending, since = set(futures), None
    while pending:
        try:
            wait(pending, timeout=WORKER_LOOK, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass
        except Exception:  # futures cancelled (the scheduler was lost): each says why in its result
            time.sleep(0.1)
        done = {future for future in pending if future.done()}
        pending -= done
        yield from ((future, True) for future in done)
        if not pending or alone is None or _has_workers(client):
            since = None
        elif since is None:
            since = time.monotonic()
        elif time.monotonic() - since > alone:
            for future in pending:
                future.cancel()
            yield from ((future, False) for future in pending)
            return


def _report(trial: Trial, say) -> None:
    r = trial.result
    options = ", ".join(f"{k}={v}" for k, v in trial.options.items())
    if r["status"] == "ok" and r["best_val_accuracy"] is None:
        say(f"trial {trial.index} ({options}): finished without a validation accuracy, {r['seconds']} s"
            f"{alerts_note(trial)}")
    elif r["status"] == "ok":
        acc = f"{r['best_val_accuracy']:.4f}"
        say(f"trial {trial.index} ({options}): best val accuracy {acc} at epoch {r['best_epoch']}, {r['seconds']} s"
            f"{alerts_note(trial)}")
    else:
        say(f"trial {trial.index} ({options}): failed: {r['error']}")


def write_results(trials: list[Trial], out: Path, varied: list[str]) -> Path:
    """sweep.csv: one row a trial, the varied options first (atomically)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["trial", *varied, *(RESULT_COLUMNS.get(k, k) for k in RESULT_KEYS)])
    for t in trials:
        r = t.result or {"status": "not run"}
        writer.writerow([t.index, *(t.options[k] for k in varied), *("" if r.get(k) is None else r.get(k) for k in RESULT_KEYS)])
    return atomic_write_bytes(out / "sweep.csv", buf.getvalue().encode())


def best_trial(trials: list[Trial]) -> Trial | None:
    """The finished trial of the highest best validation accuracy. Accuracy is a count of
    rows, so trials often tie on it: among those, the one of the lowest validation loss at an
    epoch of that accuracy (then the first in the grid), not merely the first."""
    ok = [t for t in trials if t.result.get("status") == "ok" and t.result.get("best_val_accuracy") is not None]
    return max(ok, key=lambda t: (t.result["best_val_accuracy"], -_loss(t.result.get("val_loss_at_best")),
                                  -t.index)) if ok else None


def none_learned(trials: list[Trial]) -> bool:
    """Whether every finished trial ends at chance: its ``chance_accuracy`` alert still holds
    at its last epoch (the best of them is then only the least bad, not a setting that works)."""
    ok = [t for t in trials if t.result.get("status") == "ok"]
    return bool(ok) and all("chance_accuracy" in (t.result.get("alerts") or "").split("; ") for t in ok)


def tied_with(best: Trial, trials: list[Trial]) -> list[Trial]:
    """The other finished trials of ``best``'s best validation accuracy."""
    return [t for t in trials if t is not best and t.result.get("status") == "ok"
            and t.result.get("best_val_accuracy") == best.result["best_val_accuracy"]]


def tie_note(best: Trial, trials: list[Trial]) -> str:
    """Words for the best trial's line when others tie with it on accuracy: which, and why
    this one is named, with the epoch of that loss when it is not the best epoch named (the
    first epoch of the best accuracy; a later one of that accuracy may have the lower loss).
    Empty without a tie."""
    tied = tied_with(best, trials)
    if not tied:
        return ""
    loss = _loss(best.result.get("val_loss_at_best"))
    epoch = best.result.get("val_loss_epoch")
    at = f" at epoch {epoch}" if epoch is not None and epoch != best.result.get("best_epoch") else ""
    same = [t for t in tied if _loss(t.result.get("val_loss_at_best")) == loss]
    if not math.isfinite(loss):
        why = "is the first in the grid"
    elif same:  # tied on the loss too (a run stuck at one output): the grid's order chose
        names_same = ", ".join(str(t.index) for t in same)
        why = (f"is the first in the grid of those with the lowest validation loss at it, {loss:.4g}{at}, which "
               f"trial{'s' if len(same) > 1 else ''} {names_same} {'have' if len(same) > 1 else 'has'} too")
    else:
        why = f"has the lowest validation loss at it, {loss:.4g}{at}"
    many = len(tied) > 1
    names = ", ".join(str(t.index) for t in tied)
    return f" (trial{'s' if many else ''} {names} reach{'' if many else 'es'} it too; this one {why})"


def plot_results(trials: list[Trial], out: Path, varied: list[str]) -> Path | None:
    """sweep.png: best validation accuracy against each varied option (a panel each)."""
    ok = [t for t in trials if t.result.get("best_val_accuracy") is not None]
    if not ok:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(varied), figsize=(4.2 * len(varied), 3.6), squeeze=False)
    for ax, key in zip(axes[0], varied):
        values = list(dict.fromkeys(t.options[key] for t in trials))
        xs = [values.index(t.options[key]) for t in ok]
        ax.scatter(xs, [t.result["best_val_accuracy"] for t in ok], color="tab:blue")
        ax.set_xticks(range(len(values)), values, rotation=20 if max(map(len, values)) > 6 else 0, fontsize=8)
        ax.set_xlabel(key)
        ax.set_ylabel("best validation accuracy")
        ax.set_title(f"validation accuracy by {key}")
        ax.grid(alpha=0.3)
    fig.suptitle(f"sweep of {len(trials)} trials ({len(ok)} finished)")
    fig.tight_layout()
    path = out / "sweep.png"
    tmp = path.with_name(".sweep.png.tmp")
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path


#: Characters of a failed trial's error shown in the table (sweep.csv keeps it whole).
TABLE_ERROR_WIDTH = 60


def short_error(error: str, width: int = TABLE_ERROR_WIDTH) -> str:
    """A trial's error for the table: without the ``deltaprop ...: error:`` prefix, its first
    sentence (a message goes on with the fix; a ``;`` or ``.`` inside parentheses ends none),
    cut at a word to ``width`` characters."""
    text = " ".join(error.split())
    if "error: " in text:
        text = text.split("error: ", 1)[1]
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth <= 0 and char in ".;" and text[i + 1 : i + 2] == " ":
            text = text[:i]
            break
    if len(text) <= width:
        return text
    cut = text[: width - 3]
    if text[width - 3] != " " and " " in cut:  # not inside a word
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",:;") + "..."


def table(trials: list[Trial], varied: list[str]) -> str:
    """The results as an aligned text table; an ``error`` column, in short, when a trial failed
    or was stopped (sweep.csv holds the whole message)."""
    alerts = any(t.result.get("alerts") for t in trials)
    errors = any(t.result.get("error") for t in trials)
    head = ["trial", *varied, "status", "best val acc", "epoch", "seconds", *(["alerts at the end"] if alerts else []),
            *(["error"] if errors else [])]
    rows = [head]
    for t in trials:
        r = t.result
        acc = r.get("best_val_accuracy")
        rows.append([str(t.index), *(t.options[k] for k in varied), r.get("status", "not run"),
                     "" if acc is None or (isinstance(acc, float) and math.isnan(acc)) else f"{acc:.4f}",
                     "" if r.get("best_epoch") is None else str(r["best_epoch"]),
                     "" if r.get("seconds") is None else f"{r['seconds']:.1f}",
                     *([r.get("alerts") or ""] if alerts else []),
                     *([short_error(r.get("error") or "")] if errors else [])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
