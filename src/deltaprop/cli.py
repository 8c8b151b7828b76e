"""The ``deltaprop`` command: train, evaluate, predict, gradcheck, plot, info.

Errors the user can fix are one line on stderr and a non-zero exit status: 2 for usage
and configuration mistakes, 1 for everything else (bad files, data, a diverged run), 130
after Ctrl-C. No traceback is shown for any of them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import _checks
from .errors import ConfigError, DataError, Error, ShapeError, TrainingDivergedError

PROG = "deltaprop"
_RUN_FILES = ("model.safetensors", "checkpoint.safetensors", "history.csv", "history.png", "config.toml",
              "diagnostics.csv", "alerts.csv", "run.json", "evaluation.json", "report.html")


class UsageError(Exception):
    """A command line that cannot be parsed; exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _say(*parts, err: bool = False) -> None:
    print(*parts, file=sys.stderr if err else sys.stdout, flush=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return " ".join(text.split())


# -- the parser ---------------------------------------------------------------------------------
_TRAIN_OPTIONS = [
    # flag, config key, help
    ("--dataset", "dataset", "mnist, fashion-mnist, mnist-sample (bundled; the default), parity, or a .npz/.csv file"),
    ("--data-dir", "data_dir", "folder where MNIST files are looked for / downloaded to"),
    ("--layers", "layers", "widths, e.g. 784,256,10 (default: features,50,classes)"),
    ("--activation", "activation", "hidden activation: sigmoid (default), tanh, relu, leaky_relu, identity"),
    ("--output-activation", "output", "output layer: softmax (default), sigmoid, identity, or several joined by + (sigmoid+softmax)"),
    ("--loss", "loss", "cross_entropy (default), binary_cross_entropy, mse"),
    ("--optimizer", "optimizer", "sgd (default), adagrad, rmsprop, adadelta, adam, adamw"),
    ("--lr", "lr", "learning rate α (default 0.3)"),
    ("--momentum", "momentum", "SGD momentum μ in [0, 1) (default 0)"),
    ("--weight-decay", "weight_decay", "L2 weight decay λ >= 0 (decoupled for adamw)"),
    ("--dropout", "dropout", "dropout rate after every hidden activation, in [0, 1)"),
    ("--schedule", "schedule", "learning-rate schedule: constant, step, exponential, cosine, plateau"),
    ("--init", "init", "weight initialiser: glorot_uniform, he_normal, scaled_normal, scaled_normal(S) (default by activation)"),
    ("--batch-size", "batch_size", "examples per step, or 'full' for full-batch gradient descent (default 20)"),
    ("--batching", "batching", "batch order: shuffled (default), sequential, or sliding (seed 000: windows of batch-size + 1 rows moving by batch-size)"),
    ("--epochs", "epochs", "passes over the training data (default 10)"),
    ("--steps", "steps", "stop after this many updates (with --epochs: whichever comes first)"),
    ("--validation-split", "validation_split", "share of the training data held out for validation (default 0.1)"),
    ("--early-stopping", "early_stopping", "stop after this many epochs without validation improvement (0: off)"),
    ("--seed", "seed", "random seed for weights, shuffling and dropout (default 0)"),
    ("--dtype", "dtype", "float32 (default) or float64"),
    ("--scaling", "scaling", "input scaling: auto (default), unit, standardize, none"),
]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog=PROG, description="Feedforward neural networks trained by backpropagation.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a network (seed 000's MNIST network by default)",
                       description="Train a network. Every option can also come from --config FILE.toml; flags override it.")
    for flag, key, text in _TRAIN_OPTIONS:
        t.add_argument(flag, dest=key, default=argparse.SUPPRESS, metavar=key.upper(), help=text)
    t.add_argument("--nesterov", dest="nesterov", action="store_const", const=True, default=argparse.SUPPRESS,
                   help="Nesterov momentum (needs --momentum > 0)")
    t.add_argument("--config", metavar="FILE.toml", help="read options from a TOML file (keys as in config.toml)")
    t.add_argument("--out", metavar="DIR", help="output folder (default runs/<date-time>)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint (--epochs/--steps may extend it)")
    t.add_argument("--quiet", "-q", action="store_true", help="print only errors and the final summary")
    t.add_argument("--log-json", action="store_true", help="one JSON object per epoch on stdout")
    t.add_argument("--threads", metavar="N", help="BLAS threads for training (default: one for small steps, else the BLAS default)")
    t.set_defaults(handler=cmd_train)

    e = sub.add_parser("evaluate", help="accuracy, per-class precision/recall and confusion matrix of a model")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("--dataset", help="dataset name or file (default: the one the model was trained on)")
    e.add_argument("--data-dir")
    e.add_argument("--split", choices=("test", "train"), default="test")
    e.add_argument("--plot", metavar="FILE.png", help="also draw the confusion matrix")
    e.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("predict", help="classify an image (PNG/JPEG) or the rows of a .npy file")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("--top", default="3", help="how many classes to list per input (default 3)")
    p.set_defaults(handler=cmd_predict)

    g = sub.add_parser("gradcheck", help="compare backprop gradients with finite differences")
    g.add_argument("--layers", default="4,5,3", help="widths (default 4,5,3)")
    g.add_argument("--activation", default="sigmoid")
    g.add_argument("--output-activation", dest="output", default="softmax")
    g.add_argument("--loss", default="cross_entropy")
    g.add_argument("--examples", default="8", help="random examples to check on (default 8)")
    g.add_argument("--tolerance", default="1e-6", help="largest relative error that passes (default 1e-6)")
    g.add_argument("--seed", default="0")
    g.set_defaults(handler=cmd_gradcheck)

    pl = sub.add_parser("plot", help="draw PNG figures: history, weights, samples")
    psub = pl.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser, required=True)
    ph = psub.add_parser("history", help="loss and accuracy per epoch (from a run folder, history.csv or checkpoint)")
    ph.add_argument("source", metavar="RUN")
    ph.add_argument("-o", "--out", default="history.png")
    ph.set_defaults(handler=cmd_plot_history)
    pw = psub.add_parser("weights", help="first-layer weights as images, weight matrices as heatmaps")
    pw.add_argument("model", metavar="MODEL")
    pw.add_argument("-o", "--out", default="weights.png")
    pw.set_defaults(handler=cmd_plot_weights)
    ps = psub.add_parser("samples", help="example images with their labels (and a model's predictions)")
    ps.add_argument("--dataset", default="mnist-sample")
    ps.add_argument("--data-dir")
    ps.add_argument("--model", help="show this model's predictions too")
    ps.add_argument("-n", default="25", help="how many images (default 25)")
    ps.add_argument("-o", "--out", default="samples.png")
    ps.set_defaults(handler=cmd_plot_samples)

    r = sub.add_parser("report", help="rebuild a run folder's report.html from its files")
    r.add_argument("run", metavar="RUN_DIR")
    r.set_defaults(handler=cmd_report)

    i = sub.add_parser("info", help="a model's layers, parameters and metadata")
    i.add_argument("model", metavar="MODEL")
    i.set_defaults(handler=cmd_info)

    sv = sub.add_parser("serve", help="a local web page: draw a digit, watch the forward and backward pass, follow a run",
                        description="Serve a page on this machine for a model file or a run folder (see docs/serve.md).")
    sv.add_argument("path", metavar="PATH", help="a .safetensors model or a run folder (followed live while it trains)")
    sv.add_argument("--port", default="8000", help="TCP port (default 8000; 0 picks a free one)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.set_defaults(handler=cmd_serve)
    return parser


def _int_option(name: str, value: str, *, allow_zero: bool = False) -> int:
    from .config import _integer

    return _checks.positive_int(name, _integer(name, value), allow_zero=allow_zero)


def _number_option(name: str, value: str) -> float:
    from .config import _number

    return _checks.positive_number(name, _number(name, value))


# -- data -----------------------------------------------------------------------------------------
def _is_file_dataset(name: str) -> bool:
    from .data import DATASETS

    return name.lower().replace("_", "-") not in DATASETS


def _load_data(name: str, data_dir: str | None, seed: int = 0):
    """(x_train, y_train, x_test, y_test, class_names) with rows of features."""
    from . import data

    if not _is_file_dataset(name):
        ds = data.load(name, data_dir=data_dir or None, flatten=True)
        return ds.x_train, ds.y_train, ds.x_test, ds.y_test, tuple(ds.class_names)
    path = Path(name)
    if path.is_dir():
        raise DataError(f"{path} is a folder; --dataset takes a name ({', '.join(data.DATASETS)}) or a .npz/.csv file")
    x, y = data.load_arrays(path)
    x = x.reshape(len(x), -1)
    if y.ndim != 1:
        raise DataError(f"{path}: labels must be class ids (1-D) for training from the command line")
    n_classes = int(y.max()) + 1
    # a file has no test split: hold out a stratified 20% (seeded) as the test set
    x_tr, y_tr, x_te, y_te = data.train_validation_split(x, y, 0.2, seed=seed) if len(x) >= 10 else (x, y, x, y)
    return x_tr, y_tr, x_te, y_te, tuple(str(c) for c in range(n_classes))


def _split_seed(mf) -> int:
    """The seed a model's training run split its data file with, so that its test rows
    are the ones it never trained on (0 for models that do not record it)."""
    config = mf.extra.get("config") if mf is not None else None
    seed = config.get("seed", 0) if isinstance(config, dict) else 0
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def _scaling(kind: str, x_train: np.ndarray) -> dict[str, Any]:
    from .serialization import scaling_for

    if kind == "auto":
        return scaling_for(x_train)
    if kind == "none":
        return {"kind": "none"}
    if kind == "unit":
        if x_train.dtype.kind not in "ui":
            raise ConfigError("scaling 'unit' divides integer pixels by their maximum; these inputs are floats: use none or standardize")
        return scaling_for(x_train)
    from .data import Standardizer

    return {"kind": "standardize", "state": Standardizer("global").fit(x_train).to_dict()}


# -- train ----------------------------------------------------------------------------------------
from .callbacks import Callback  # noqa: E402  (light; needed for the classes below)


class _RunWriter(Callback):
    """The checkpoint and history.csv, atomically. Every epoch end encodes the checkpoint's
    bytes and keeps them; they reach the disk at most every ``interval`` seconds and always
    when training ends, however it ends (``fit`` calls ``on_train_end`` on Ctrl-C and on
    divergence too), so the last completed epoch is on disk and never a mid-epoch state,
    while a thousand one-second epochs do not cost a thousand fsyncs."""

    def __init__(self, out: Path, meta: dict[str, Any], *, interval: float = 5.0):
        self.out = out
        self.meta = meta
        self.interval = interval
        self.state = None
        self.at_boundary = False
        self.pending: bytes | None = None
        self.pending_records: list[dict[str, Any]] = []
        self.written_epoch: int | None = None
        self.last_write = time.monotonic()

    def on_train_begin(self, state):
        self.state = state
        self.last_write = time.monotonic()

    def on_epoch_begin(self, state):
        self.at_boundary = False

    def on_epoch_end(self, state):
        from .serialization import encode_checkpoint

        self.at_boundary = True
        self.pending = encode_checkpoint(state, **self.meta)
        self.pending_records = list(state.history.records)
        if time.monotonic() - self.last_write >= self.interval:
            self.flush()

    def on_train_end(self, state):
        self.flush()

    def flush(self) -> None:
        from .atomic import atomic_write_bytes

        if self.pending is not None:
            atomic_write_bytes(self.out / "checkpoint.safetensors", self.pending)
            write_history_csv(self.out / "history.csv", self.pending_records)
            self.pending = None
            self.written_epoch = self.pending_records[-1]["epoch"] if self.pending_records else self.state.epoch
            self.last_write = time.monotonic()

    def save_on_interrupt(self) -> int | None:
        """Make sure the last completed epoch's checkpoint is on disk; its epoch or None."""
        from .serialization import encode_checkpoint

        state = self.state
        if state is not None and self.at_boundary and self.pending is None and self.written_epoch != state.epoch:
            self.pending = encode_checkpoint(state, **self.meta)
            self.pending_records = list(state.history.records)
        self.flush()
        return self.written_epoch


class _AlertLog(Callback):
    """Each alert the epoch it first holds (the recorder in fit raises each once), printed
    with ``say``: beside the epoch lines, or on stderr when stdout carries JSON."""

    def __init__(self, say):
        self.say = say

    def on_epoch_end(self, state):
        from .alerts import Alert

        for a in state.history.records[-1].get("alerts") or ():
            self.say(f"alert [{a['rule']}] {Alert.from_dict(a)}")


class _EpochLog(Callback):
    """One line (or one JSON object) per epoch, for logs and pipes."""

    def __init__(self, json_lines: bool):
        self.json_lines = json_lines

    def on_epoch_end(self, state):
        logs = state.logs
        if self.json_lines:
            record = {k: logs.get(k) for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "steps", "seconds")}
            record["examples_per_second"] = round(state.n_examples / logs["seconds"], 1) if logs.get("seconds") else None
            _say(json.dumps(record))
            return
        parts = [f"epoch {logs['epoch']}", f"loss {logs['loss']:.4f}"]
        for key in ("accuracy", "val_loss", "val_accuracy"):
            if logs.get(key) is not None:
                parts.append(f"{key.replace('_', ' ')} {logs[key]:.4f}")
        if logs.get("seconds"):
            parts.append(f"{state.n_examples / logs['seconds']:,.0f} examples/s")
        _say(", ".join(parts))


def write_history_csv(path: Path, records) -> Path:
    from .atomic import atomic_write_bytes
    from .training import HISTORY_KEYS

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_KEYS)
    for r in records:
        w.writerow(["" if r.get(k) is None else r.get(k) for k in HISTORY_KEYS])
    return atomic_write_bytes(path, buf.getvalue().encode())


def read_history_csv(path: Path) -> list[dict[str, Any]]:
    from .training import HISTORY_KEYS

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0]][: len(HISTORY_KEYS)] != list(HISTORY_KEYS):
        raise DataError(f"{path}: not a deltaprop history.csv (its header should be {','.join(HISTORY_KEYS)})")
    records = []
    for n, row in enumerate(rows[1:], start=2):
        rec: dict[str, Any] = {}
        for key, cell in zip(HISTORY_KEYS, row):
            try:
                rec[key] = None if cell == "" else float(cell)
            except ValueError:
                raise DataError(f"{path}, line {n}: {key} is {cell!r}, not a number") from None
        records.append(rec)
    return records


def _default_out() -> Path:
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    out, k = base, 2
    while out.exists():
        out = base.with_name(f"{base.name}-{k}")
        k += 1
    return out


def _prepare_out(out: Path, resume: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise OSError(f"{out} exists and is not a folder; choose another --out")
    if not resume and out.is_dir() and any((out / f).exists() for f in ("model.safetensors", "checkpoint.safetensors")):
        raise ConfigError(f"{out} already holds a run; choose another --out, or continue it with --resume {out}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    return out


def cmd_train(args) -> int:
    from .config import TrainConfig, load_toml

    flags = {key: getattr(args, key) for _, key, _ in _TRAIN_OPTIONS if hasattr(args, key)}
    if hasattr(args, "nesterov"):
        flags["nesterov"] = True
    threads = None if args.threads is None else _int_option("--threads", args.threads)
    checkpoint = None
    if args.resume:
        from .serialization import load_checkpoint

        changed = sorted(set(flags) - {"epochs", "steps"})
        if changed or args.config or args.out:
            what = ", ".join([f"--{k.replace('_', '-')}" for k in changed] + (["--config"] if args.config else []) + (["--out"] if args.out else []))
            raise UsageError(f"train --resume continues a run as it was configured; only --epochs and --steps may be given (not {what})")
        out = Path(args.resume)
        if out.is_file():
            out = out.parent
        if not out.is_dir():
            raise Error(f"{out}: no such run folder to resume")
        checkpoint = load_checkpoint(out / "checkpoint.safetensors")
        saved = checkpoint.extra.get("config")
        if not isinstance(saved, dict):
            raise Error(f"{out / 'checkpoint.safetensors'} was not written by deltaprop train; it holds no run configuration")
        cfg = TrainConfig.from_mapping(saved, flags, origin="the checkpoint's configuration")
    else:
        sources = []
        if args.config:
            toml = load_toml(args.config)
            TrainConfig.from_mapping(toml, origin=str(args.config))  # names the file in errors
            sources.append(toml)
        cfg = TrainConfig.from_mapping(*sources, flags, origin=str(args.config or "the options"))
        out = Path(args.out) if args.out else _default_out()

    x_tr, y_tr, x_te, y_te, class_names = _load_data(cfg.dataset, cfg.data_dir, cfg.seed)
    from . import report as run_report

    data_sha = run_report.data_sha256(x_tr, y_tr, x_te, y_te)
    n_features = int(np.prod(x_tr.shape[1:]))
    n_classes = len(class_names)
    if cfg.layers:
        if cfg.layers[0] != n_features:
            raise ShapeError(f"--layers starts with {cfg.layers[0]} inputs but {cfg.dataset} has {n_features} features per example; "
                             f"use --layers {n_features},{','.join(map(str, cfg.layers[1:]))}")
        if cfg.layers[-1] != n_classes and not (cfg.layers[-1] == 1 and n_classes == 2):
            raise ShapeError(f"--layers ends with {cfg.layers[-1]} outputs but {cfg.dataset} has {n_classes} classes")
    if cfg.validation_split:
        from .data import train_validation_split

        x_tr, y_tr, x_va, y_va = train_validation_split(x_tr, y_tr, cfg.validation_split, seed=cfg.seed)
    scaling = checkpoint.input_scaling if checkpoint is not None else _scaling(cfg.scaling, x_tr)
    from .serialization import apply_scaling

    X = apply_scaling(scaling, x_tr, cfg.dtype)
    validation = (apply_scaling(scaling, x_va, cfg.dtype), y_va) if cfg.validation_split else None

    import deltaprop as dp

    if checkpoint is not None:
        net, opt, loss = checkpoint.net, checkpoint.optimizer, checkpoint.loss
        state = checkpoint.training_state()
        if cfg.epochs is not None and cfg.epochs <= state.epoch and cfg.steps is None:
            raise ConfigError(f"the run already has {state.epoch} epochs; pass --epochs N with N > {state.epoch} to continue it")
    else:
        cfg.layers = cfg.network_sizes(n_features, n_classes)  # config.toml holds the resolved widths
        net, opt, loss = cfg.build_network(n_features, n_classes), cfg.build_optimizer(), cfg.build_loss()
        state = None
    out = _prepare_out(out, resume=checkpoint is not None)
    from .atomic import atomic_write_bytes

    atomic_write_bytes(out / "config.toml", cfg.to_toml().encode())
    meta = {"class_names": class_names, "input_scaling": scaling,
            "extra": {"config": cfg.as_dict(), "dataset": cfg.dataset}}
    writer = _RunWriter(out, meta)
    if state is not None:
        writer.written_epoch = state.epoch  # the checkpoint we resumed from is on disk
    callbacks: list[Callback] = []
    if cfg.early_stopping:
        callbacks.append(dp.EarlyStopping("val_loss", patience=cfg.early_stopping))
    callbacks.append(writer)
    tty = sys.stdout.isatty()
    if args.log_json:
        callbacks.append(_EpochLog(json_lines=True))
    elif not args.quiet:
        callbacks.append(dp.ProgressBar(file=sys.stdout) if tty else _EpochLog(json_lines=False))
    source = str(Path(cfg.dataset).resolve()) if _is_file_dataset(cfg.dataset) else cfg.dataset
    reporter = run_report.ReportWriter(out, run_report.run_facts([PROG, *getattr(args, "argv", ["train"])], cfg.as_dict(),
                                                                 data_source=source, data_sha=data_sha))
    callbacks.append(reporter)
    info = (lambda *a: _say(*a, err=True)) if args.log_json else _say
    if not args.quiet:
        callbacks.append(_AlertLog(info))
        action = f"resuming {out} at epoch {state.epoch + 1}" if state is not None else f"training on {cfg.dataset}"
        info(f"{action}: {' → '.join(map(str, cfg.network_sizes(n_features, n_classes)))}, {opt!r}, batch {cfg.batch_size}, "
             f"{dp.kernels.backend()} kernels")

    started = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported below
            history = dp.fit(net, X, y_tr, loss=loss, optimizer=opt, epochs=cfg.epochs, steps=cfg.steps,
                             batch_size=None if cfg.batch_size == "full" else cfg.batch_size, batching=cfg.batching, seed=cfg.seed,
                             validation=validation, schedule=None if state is not None else cfg.schedule,
                             callbacks=callbacks, resume=state, threads=threads)
    except TrainingDivergedError as exc:
        reporter.finish("diverged")
        kept = (f"the last good checkpoint (epoch {writer.written_epoch}) is {out / 'checkpoint.safetensors'}"
                if writer.written_epoch else "no epoch finished, so there is no checkpoint")
        _say(f"{PROG}: error: training diverged at epoch {exc.epoch}, step {exc.step} (the loss became NaN or infinite); "
             f"lower --lr (it was {cfg.lr:g}); {kept}", err=True)
        return 1
    except KeyboardInterrupt:
        reporter.finish("interrupted")
        epoch = writer.save_on_interrupt()
        if epoch:
            _say(f"interrupted; the checkpoint of epoch {epoch} is in {out}. Resume with: {PROG} train --resume {out}", err=True)
        else:
            _say("interrupted before the first epoch finished; nothing was saved to resume from", err=True)
        return 130
    seconds = time.perf_counter() - started
    records = history.records
    from .plots import plot_history
    from .serialization import save

    save(net, out / "model.safetensors", **meta)
    plot_history(records, out / "history.png", title=f"{cfg.dataset}: {' → '.join(map(str, cfg.network_sizes(n_features, n_classes)))}")
    X_te = apply_scaling(scaling, x_te, cfg.dtype)
    acc = dp.accuracy(y_te, net.predict(X_te))
    reporter.finish("done", evaluation=run_report.evaluation(net, X_te, y_te, class_names,
                                                             images=x_te if x_te.dtype == np.uint8 else None))
    _summarise_alerts(history, acc, y_tr, n_classes, quiet=args.quiet, info=info)
    if args.log_json:
        _say(json.dumps({"test_accuracy": acc, "test_examples": int(len(y_te)), "out": str(out), "seconds": round(seconds, 3)}))
    else:
        _say(f"test accuracy {acc:.4f} on {len(y_te)} examples ({seconds:.1f} s of training)")
        _say(f"wrote {out}/: {', '.join(_RUN_FILES)}")
    return 0


def _summarise_alerts(history, accuracy: float, y_train, n_classes: int, *, quiet: bool, info) -> None:
    """The end-of-run alert summary; a run ending at chance accuracy says so loudly."""
    from .alerts import at_chance, chance_level, summary

    chance = chance_level(y_train, n_classes)
    if history.alerts:
        info(summary(history.alerts))
    elif not quiet:
        info(summary([]))
    if at_chance(accuracy, chance):
        _say(f"WARNING: test accuracy {accuracy:.4f} is at chance (always answering the most common class scores "
             f"{chance:.4f}): this network has not learned; see the alerts above", err=True)


def cmd_report(args) -> int:
    from .report import rebuild

    _say(f"wrote {rebuild(args.run)}")
    return 0


# -- evaluate / predict -----------------------------------------------------------------------------
def _read(path: str):
    from .serialization import read_model

    return read_model(path)


def cmd_evaluate(args) -> int:
    from . import metrics
    from .network import predictions_from_outputs
    from .serialization import apply_scaling

    mf = _read(args.model)
    name = args.dataset or mf.extra.get("dataset")
    if not isinstance(name, str) or not name:
        raise ConfigError("this model does not record its dataset; pass --dataset NAME or FILE")
    x_tr, y_tr, x_te, y_te, class_names = _load_data(name, args.data_dir, _split_seed(mf))
    x, y = (x_te, y_te) if args.split == "test" else (x_tr, y_tr)
    names = mf.class_names or class_names
    X = apply_scaling(mf.input_scaling, x, mf.net.dtype)
    pred = predictions_from_outputs(mf.net.predict_proba(X))
    k = max(len(names), mf.net.n_outputs if mf.net.n_outputs > 1 else 2)
    names = tuple(names) + tuple(str(i) for i in range(len(names), k))
    cm = metrics.confusion_matrix(y, pred, k)
    report = metrics.classification_report(y, pred, k, names)
    _say(f"{name} ({args.split}, {len(y)} examples): accuracy {report.accuracy:.4f}")
    _say(report.table())
    _say("")
    _say(metrics.confusion_table(cm, names))
    if args.plot:
        from .plots import plot_confusion

        _say(f"wrote {plot_confusion(cm, args.plot, class_names=names)}")
    return 0


def _read_npy(path: Path) -> np.ndarray:
    from .errors import FileFormatError

    if path.is_dir():
        raise FileFormatError(f"{path} is a folder; give a .npy file or an image")
    try:
        from .bounded import open_regular
        from .data.npy import read_npy_header

        # a regular file only (never a FIFO or device); the header's claims are checked first
        with open_regular(path, max_bytes=1 << 40, what=".npy file", error=FileFormatError) as f:
            read_npy_header(f, str(path), os.fstat(f.fileno()).st_size)
            f.seek(0)
            arr = np.load(f, allow_pickle=False)
    except FileFormatError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise FileFormatError(f"{path}: not a readable .npy file ({_one_line(exc)})") from None
    if not isinstance(arr, np.ndarray):
        raise FileFormatError(f"{path}: expected one .npy array, not an archive")
    if arr.size == 0:
        raise ShapeError(f"{path}: holds no values (shape {arr.shape}); give at least one row of features")
    return arr


def cmd_predict(args) -> int:
    from .network import predictions_from_outputs
    from .serialization import apply_scaling

    top = _int_option("--top", args.top)
    mf = _read(args.model)
    net = mf.net
    path = Path(args.input)
    if path.suffix.lower() == ".npy":
        raw = _read_npy(path)
        rows = raw.reshape(1, -1) if raw.ndim == 1 or (raw.ndim == 2 and raw.shape == (28, 28) and net.n_features == 784) else raw.reshape(len(raw), -1) if raw.ndim >= 2 else None
        if rows is None:
            raise ShapeError(f"{path}: expected a row or rows of features, got shape {raw.shape}")
    else:
        from .images import load_digit

        if not path.exists():
            raise DataError(f"{path}: no such file")
        if net.n_features != 784:
            raise ShapeError(f"images become 28x28 = 784 inputs, but this model takes {net.n_features}; give a .npy row instead")
        rows = load_digit(path).reshape(1, 784)
    if rows.shape[1] != net.n_features:
        raise ShapeError(f"{path}: {rows.shape[1]} features per input, but the model takes {net.n_features}")
    X = apply_scaling(mf.input_scaling, rows, net.dtype)
    proba = net.predict_proba(X)
    pred = predictions_from_outputs(proba)
    names = mf.class_names
    label = lambda c: names[c] if names and c < len(names) else str(c)  # noqa: E731
    for r in range(len(X)):
        prefix = f"[{r}] " if len(X) > 1 else ""
        p = proba[r] if proba.shape[1] > 1 else np.array([1 - proba[r, 0], proba[r, 0]])
        order = np.argsort(-p, kind="stable")[:top]
        shown = ", ".join(f"{label(int(c))}: {p[c]:.4f}" for c in order)
        _say(f"{prefix}class {label(int(pred[r]))}  (probabilities {shown})")
    return 0


# -- gradcheck / plot / info ------------------------------------------------------------------------
def cmd_gradcheck(args) -> int:
    import deltaprop as dp
    from .config import TrainConfig
    from .losses import loss_from_name

    cfg = TrainConfig.from_mapping({"layers": args.layers, "activation": args.activation, "output": args.output,
                                    "loss": args.loss, "seed": args.seed}, origin="the options")
    if not cfg.layers:
        raise ConfigError("--layers needs at least an input and an output width, e.g. 4,5,3")
    n = _int_option("--examples", args.examples)
    tol = _number_option("--tolerance", args.tolerance)
    net = dp.mlp(cfg.layers, activation=cfg.activation, output=cfg.output, seed=cfg.seed, dtype="float64")
    rng = np.random.default_rng(cfg.seed)
    X = rng.standard_normal((n, cfg.layers[0]))
    k = cfg.layers[-1]
    y = rng.integers(0, max(k, 2), size=n) if k > 1 else rng.integers(0, 2, size=n)
    report = dp.gradcheck(net, loss_from_name(cfg.loss), X, y, tolerance=tol)
    _say(f"gradient check: {' → '.join(map(str, cfg.layers))}, {cfg.activation}, {cfg.output} output, {cfg.loss}, {n} examples")
    _say(report.table())
    return 0 if report.passed else 1


def cmd_plot_history(args) -> int:
    from .plots import plot_history

    src = Path(args.source)
    if src.is_dir():
        if (src / "history.csv").is_file():
            records = read_history_csv(src / "history.csv")
        else:
            from .serialization import load_checkpoint

            records = load_checkpoint(src / "checkpoint.safetensors").training["history"]
    elif src.suffix == ".csv":
        if not src.exists():
            raise DataError(f"{src}: no such file")
        records = read_history_csv(src)
    else:
        from .serialization import load_checkpoint

        records = load_checkpoint(src).training["history"]
    _say(f"wrote {plot_history(records, args.out, title=str(src))}")
    return 0


def cmd_plot_weights(args) -> int:
    from .plots import plot_weights

    _say(f"wrote {plot_weights(_read(args.model).net, args.out)}")
    return 0


def cmd_plot_samples(args) -> int:
    from .plots import plot_samples

    n = _int_option("-n", args.n)
    mf = _read(args.model) if args.model else None
    x_tr, y_tr, x_te, y_te, names = _load_data(args.dataset, args.data_dir, _split_seed(mf))
    predictions = None
    if mf is not None:
        from .serialization import apply_scaling

        predictions = mf.net.predict(apply_scaling(mf.input_scaling, x_te[:n].reshape(min(n, len(x_te)), -1), mf.net.dtype))
    _say(f"wrote {plot_samples(x_te, y_te, args.out, class_names=names, predictions=predictions, n=n)}")
    return 0


def cmd_info(args) -> int:
    mf = _read(args.model)
    _say(mf.net.summary())
    _say(f"file: {mf.path} ({mf.kind}, format version {mf.metadata['format_version']})")
    if mf.class_names:
        _say(f"classes: {', '.join(mf.class_names)}")
    scaling = mf.input_scaling or {"kind": "none"}
    if scaling["kind"] == "unit":
        _say(f"input scaling: x / {scaling['max']} (raw pixels to [0, 1])")
    elif scaling["kind"] == "standardize":
        _say(f"input scaling: standardize ({scaling['state']['mode']})")
    else:
        _say("input scaling: none")
    _say(f"tensors sha256: {mf.metadata['tensors_sha256']}")
    if mf.kind == "checkpoint":
        _say(f"checkpoint: epoch {mf.epoch}, step {mf.step}, optimizer {mf.optimizer!r}")
    cfg = mf.extra.get("config")
    if isinstance(cfg, dict):
        _say("training configuration: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    return 0


def cmd_serve(args) -> int:
    from .serve import serve

    return serve(args.path, host=args.host, port=_int_option("--port", args.port, allow_zero=True))


# -- entry point -----------------------------------------------------------------------------------
def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version
            return int(exc.code or 0)
        if args.command is None:
            parser.print_help()
            return 0
        args.argv = list(sys.argv[1:] if argv is None else argv)
        return int(args.handler(args))
    except UsageError as exc:
        _say(f"{PROG}: error: {_one_line(exc)}", err=True)
        return 2
    except ConfigError as exc:
        _say(f"{PROG}: error: {_one_line(exc)}", err=True)
        return 2
    except Error as exc:
        _say(f"{PROG}: error: {_one_line(exc)}", err=True)
        return 1
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: end quietly, as SIGPIPE would
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) and str(exc.filename) not in str(exc.strerror) else ""
        text = f"{where}{exc.strerror}" if exc.strerror else _one_line(exc)
        _say(f"{PROG}: error: {_one_line(Exception(text))}", err=True)
        return 1
    except KeyboardInterrupt:
        _say("interrupted", err=True)
        return 130
    except MemoryError:
        _say(f"{PROG}: error: out of memory; use a smaller network, batch or dataset", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
