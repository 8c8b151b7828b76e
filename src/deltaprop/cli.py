"""The ``deltaprop`` command: train, evaluate, predict, gradcheck, plot, info, export.

Errors the user can fix are one line on stderr and a non-zero exit status: 2 for usage
and configuration mistakes, 1 for everything else (bad files, data, a diverged run), 130
after Ctrl-C. No traceback is shown for any of them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import os
import re
import signal
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import __version__, _checks, kernels, vector_blas
from .atomic import atomic_write_bytes
from .bounded import open_regular
from .callbacks import (Callback, CheckpointWriter, EarlyStopping, ProgressBar, early_stopped_epoch, epoch_rows,
                        epoch_summary, largest_weight)
from .config import (TrainConfig, _integer, _number, _schedule, _toml_value, _utf8, config_file, load_toml,
                     schedule_spec)
from .data import DATASETS, IMAGE_SHAPES, LABEL_NAMES, read_rows, read_table, train_validation_split
from .data.arrays import other_data_file
from .data import load as load_dataset
from .data import mnist as mnist_files
from .data.mnist import FASHION_MNIST, MNIST
from .errors import (ConfigError, DataError, DatasetNotFoundError, Error, FileFormatError, ModelFileError, ShapeError,
                     TrainingDivergedError)
from .data.npy import read_npy_header
from .data.streaming import RowView
from .distributed import StopVote
from .gradcheck import gradcheck
from .images import (IMAGE_SIDE, image_axes, input_shape_words, levels_recorded, model_image_side, model_levels_top,
                     read_image, read_shaped_image, reduce_image)
from .images import STYLES as IMAGE_STYLES
from .initializers import forms_words
from .images import style_for as image_style_for
from .metrics import accuracy, classification_report, confusion_matrix, confusion_table
from .network import Network, mlp
from .plots import figure_format, plot_confusion, plot_history, plot_samples, plot_weights, samples_problem
from .preprocessing import (Rescaling, auto_scaling, describe_inputs, standardization_for, unit_scaling,
                            with_input_layer)
from .runlock import LOCK_NAME, RunLock
from .schedules import (Constant, CosineAnnealing, ReduceOnPlateau, StepDecay, idle_after_t_max, schedule_from_config,
                        slower_decay, stalled_by_decay)
from .serialization import (
    Checkpoint,
    ModelFile,
    class_probabilities,
    decided_classes,
    input_range_of,
    is_one_class,
    labels_are_logits,
    load_checkpoint,
    read_model,
    save,
)
from .interrupts import ignored, interrupt_once
from .layers import Dense
from .report import earlier_sessions, recorded_facts, recorded_status, sweep_folder_words
from .training import (History, TrainingState, applied_threads, changed_update_forms, exploded_weights, fit,
                       threads_words, update_forms_words)

PROG = "deltaprop"
_RUN_FILES = ("model.safetensors", "checkpoint.safetensors", "history.csv", "history.png", "config.toml",
              "diagnostics.csv", "alerts.csv", "run.json", "evaluation.json", "report.html")


class UsageError(Exception):
    """A command line that cannot be parsed; exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(f"{message} (see {self.prog} --help)")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but arguments no parser took are refused naming the command whose
        --help lists its options (argparse's top-level parser names only itself)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            words = [self.prog, getattr(parsed, "command", None), getattr(parsed, "what", None)]
            prog = " ".join(w for w in words if isinstance(w, str))
            raise UsageError(f"unrecognized arguments: {' '.join(extras)} (see {prog} --help)")
        return parsed


#: Terminal control characters (C0 but tab and newline, DEL, C1) and their visible escapes: text
#: read from a model or data file (class names, recorded settings) never moves the cursor, clears
#: the screen, sets the window title or the clipboard of the terminal it is shown in.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"}
#: The same, and tab and newline too: for one name in a line.
_NAME_CONTROLS = {**_CONTROLS, ord("\n"): "\\n", ord("\t"): "\\t"}


def _say(*parts, err: bool = False) -> None:
    text = " ".join(map(str, parts)).translate(_CONTROLS)
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def _shown_name(name) -> str:
    """A class name as a line shows it: its control characters, line breaks among them, as escapes."""
    return str(name).translate(_NAME_CONTROLS)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return " ".join(text.split())


# -- the parser ---------------------------------------------------------------------------------
_TRAIN_OPTIONS = [
    # flag, config key, help
    ("--dataset", "dataset", "mnist, fashion-mnist, mnist-sample (bundled; the default), parity, or a .npz/.csv file"),
    ("--data-dir", "data_dir", "folder holding the MNIST or Fashion-MNIST files (in it or its mnist/ or fashion-mnist/ "
     "subfolder, gzipped or not); they are downloaded into it only when no copy is found elsewhere (the cache, "
     "$DELTAPROP_DATA, a system folder): where one is, a folder without them is refused, never passed over"),
    ("--label-column", "label_column", "the label column of a CSV file (a header name, or an index: 0 first, -1 last) or the "
     f"labels array of an .npz; default: the column named {', '.join(LABEL_NAMES[:-2])} or {LABEL_NAMES[-2]} (any "
     f"case), {LABEL_NAMES[-1]} only when none of those is there, else the first or the last column, whichever holds "
     "class ids or class names (the last when neither does); labels may be class names, read in sorted order as "
     "classes 0..k-1, when none of them is a number"),
    ("--input-shape", "input_shape", "the shape of one example before it was flattened into a row, e.g. 28,28 or "
     "14,14,4 (a CSV file's rows of pixels, in this axis order), which the model records: its report, serve and predict "
     "draw and read its images in it (default: an .npz file's images', a named dataset's; a CSV file's rows are "
     "drawn as no image)"),
    ("--layers", "layers", "widths, e.g. 784,256,10 (default: features,50,classes)"),
    ("--activation", "activation", "hidden activation: sigmoid (default), tanh, relu, leaky_relu, identity"),
    ("--output-activation", "output", "output layer: softmax (default), sigmoid, identity, or several joined by + "
     "(sigmoid+softmax)"),
    ("--loss", "loss", "cross_entropy (default; with softmax, or identity outputs taken as logits), binary_cross_entropy "
     "(with a sigmoid output: one unit for two classes, else one a class, as with --layers ending in the "
     "classes), "
     "mse (with any output)"),
    ("--optimizer", "optimizer", "sgd (default), adagrad, rmsprop, adadelta, adam, adamw"),
    ("--lr", "lr", "learning rate α (default: 0.3 for sgd, else the optimizer's own: adam and adamw 0.001, rmsprop and "
     "adagrad 0.01, adadelta 1.0)"),
    ("--momentum", "momentum", "SGD momentum μ in [0, 1) (default 0)"),
    ("--weight-decay", "weight_decay", "L2 weight decay λ >= 0 (decoupled for adamw; default: the optimizer's own, "
                                       "0.01 for adamw, else 0)"),
    ("--dropout", "dropout", "dropout rate after every hidden activation, in [0, 1)"),
    ("--schedule", "schedule", "learning-rate schedule: constant (default), step, exponential, cosine, plateau; settings "
     "after a colon, e.g. cosine:t_max=20,min_lr=0.001 or step:step_size=3,gamma=0.5 (TOML: a [schedule] table with "
     "type and the same keys); cosine's t_max defaults to the run's epochs and step's step_size to a third of them, "
     "rounded down: from 6 epochs on two decays when the epochs are a multiple of 3, else three (10 epochs: "
     "0.3, 0.15, 0.075, 0.0375); under 6 epochs a decay every epoch"),
    ("--init", "init", f"weight initialiser (default by activation): {forms_words()}; zeros, accepted with a "
     "warning, shows the symmetry problem (a layer's units never become different)"),
    ("--batch-size", "batch_size", "examples per step, or 'full' for full-batch gradient descent (default 20)"),
    ("--batching", "batching", "batch order: shuffled (default), sequential, or sliding (seed 000: windows of "
     "batch-size + 1 rows moving by batch-size); sequential and sliding take the training rows in their stored "
     "order, also after --validation-split (or a data file's test part) removes some of them"),
    ("--epochs", "epochs", "passes over the training data (default 10)"),
    ("--steps", "steps", "stop after this many updates (with --epochs: whichever comes first)"),
    ("--validation-split", "validation_split", "share of the training data held out for validation (default 0.1)"),
    ("--early-stopping", "early_stopping", "tolerate this many epochs without val_loss improvement, stop at the next; "
                                           "the model keeps the best epoch's weights (0: off)"),
    ("--seed", "seed", "random seed for weights, shuffling and dropout (default 0)"),
    ("--dtype", "dtype", "float32 (default) or float64"),
    ("--scaling", "scaling", "input scaling, saved in the model: auto (default: x/255 for 8-bit images, none for data "
     "in [0, 1], else standardize), unit, standardize (mean and deviation of the training split: a deviation per "
     "feature for tabular data, one for all pixels of images), standardize-per-feature, standardize-global "
     "(one deviation for all features), none"),
]


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train a network (seed 000's MNIST network by default)",
                       description="Train a network. Every option can also come from --config FILE.toml "
                                   "(keys as in a run's config.toml); flags override it.")
    for flag, key, text in _TRAIN_OPTIONS:
        t.add_argument(flag, dest=key, default=argparse.SUPPRESS, metavar=key.upper(), help=text)
    t.add_argument("--nesterov", dest="nesterov", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                   help="Nesterov momentum (needs --momentum > 0); --no-nesterov turns off a --config file's")
    t.add_argument("--config", metavar="FILE.toml", help="read options from a TOML file (keys as in config.toml)")
    t.add_argument("--out", metavar="DIR", help="output folder (default: a new runs/<date-time>)")
    t.add_argument("--overwrite", action="store_true",
                   help="replace the run in an existing --out folder: its files are removed when the new run's "
                        "training begins (a start refused before that leaves them as they were)")
    t.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR from its checkpoint (--epochs/--steps may extend it)")
    t.add_argument("--quiet", "-q", action="store_true",
                   help="no header, epoch or alert lines: only notes, warnings, errors and the end of the run (its "
                        "alerts summed up, its accuracy, the files written)")
    t.add_argument("--log-json", action="store_true",
                   help="one JSON object per epoch on stdout, then one of the result (test_accuracy and "
                        "test_examples, or training_* for a file trained on whole; out; seconds); the other lines go "
                        "to stderr")
    t.add_argument("--threads", metavar="N",
                   help="BLAS threads for training (default: the CPUs idle when training starts, where small steps start on one "
                        "and keep more only if a timed probe finds them faster; the count used is kept in run.json and the "
                        "checkpoint: pass it again for a bit-identical rerun of a run whose count did not change, as train says; "
                        "a count over the CPUs oversubscribes them, and one over what the BLAS runs (NumPy's OpenBLAS: 64) "
                        "trains on and keeps the BLAS's count, as a note says)")
    t.add_argument("--serve", metavar="PORT", nargs="?", const="8000",
                   help="also serve the run's live page on 127.0.0.1:PORT (default 8000), kept up after training "
                        "until Ctrl-C (see deltaprop serve)")
    t.set_defaults(handler=cmd_train)


def _add_evaluate(sub) -> None:
    e = sub.add_parser("evaluate", help="accuracy, per-class precision/recall and confusion matrix of a model")
    e.add_argument("model", metavar="MODEL", help="a model file (model.safetensors) or a run folder")
    e.add_argument("--dataset", help="dataset name or file (default: the one the model was trained on)")
    e.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's files (MNIST, Fashion-MNIST; "
                   "default: the one the model's training run used, while it still holds them), as for train")
    e.add_argument("--split", choices=("test", "train", "all"),
                   help="which rows to score: test (the rows training held out; the default for the training "
                        "file and named datasets), train, or all (the default for any other file: every row)")
    e.add_argument("--label-column", help="the label column of a CSV file (default: the one training used)")
    e.add_argument("--plot", metavar="FILE.png", help="also draw the confusion matrix (PNG; .svg or .pdf for those "
                   "formats)")
    e.set_defaults(handler=cmd_evaluate)


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="classify images (PNG/JPEG) or the rows of .npy or CSV files, one line each")
    p.add_argument("model", metavar="MODEL", help="a model file (model.safetensors) or a run folder")
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="images (PNG/JPEG, any size), .npy files of raw feature rows, or CSV files of them (with a "
                        "header, read by the training file's column names in any order, other columns such as the "
                        "label left out; without one, by position); several may be given")
    p.add_argument("--top", default="3", help="how many classes to list per input (default 3)")
    p.add_argument("--images", default="auto", choices=("auto", *IMAGE_STYLES),
                   help="how an image becomes 28x28 levels (for a model of smaller square images, 8x8 say, as serve "
                        "does: digits framed as those are, other styles reduced from 28x28): digit (MNIST's: "
                        "cropped to the ink, fitted in 20x20, centred by mass), fashion (Fashion-MNIST's: trimmed, "
                        "fitted in 28x28, gray levels kept), as-is (only resized: to a larger model's side directly, and an "
                        "image of the model's size taken as it is); auto (default) takes the style of "
                        "the data the model was trained on, and digit for a model that does not record it")
    p.add_argument("--levels", default=None,
                   help="the value a white pixel had in the model's raw training inputs, which an image's 0..255 "
                        "levels are scaled to (16 for scikit-learn's 8x8 digits, 1 for inputs in [0, 1]); default: "
                        "what the model file records (train records it), and 255 where it records nothing (a model of an "
                        "older deltaprop trained with --scaling none, or saved by dp.save without input_range)")
    p.set_defaults(handler=cmd_predict)


def _add_gradcheck(sub) -> None:
    g = sub.add_parser("gradcheck", help="compare backprop gradients with finite differences")
    g.add_argument("--layers", default="4,5,3", help="widths (default 4,5,3)")
    g.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    g.add_argument("--output-activation", dest="output", default="softmax", help="output layer (default softmax)")
    g.add_argument("--loss", default="cross_entropy", help="loss (default cross_entropy)")
    g.add_argument("--examples", default="8", help="random examples to check on (default 8)")
    g.add_argument("--tolerance", default="1e-6", help="largest relative error that passes (default 1e-6)")
    g.add_argument("--h", default="1e-6", help="the finite differences' step, (L(θ + h) − L(θ − h)) / 2h (default 1e-6; "
                   "a larger one where a note says the error is its rounding)")
    g.add_argument("--seed", default="0", help="seed of the random network, examples, sampled entries and dropout "
                   "masks (default 0)")
    g.add_argument("--max-entries", default="200", metavar="N|all",
                   help="entries checked per parameter (and of the inputs' ∂L/∂x), a random sample where there are "
                        "more (default 200); all checks every one, two forward passes each")
    g.add_argument("--dropout", default="0", help="dropout rate after every hidden activation, in [0, 1), as for train "
                   "(default 0); its masks are drawn once and held fixed during the check")
    g.add_argument("--inference", action="store_true",
                   help="check the inference function (dropout off) instead of the training one")
    g.add_argument("--no-input-check", dest="check_input", action="store_false",
                   help="check the parameters only, not ∂L/∂x (the row input x)")
    g.add_argument("--weighted", action="store_true",
                   help="give the examples random weights in [0, 2), scaled to mean 1 as train's fit scales them, and "
                        "check the weighted loss (1/n) Σ w_i ℓ_i")
    g.set_defaults(handler=cmd_gradcheck)


def _add_plot(sub) -> None:
    pl = sub.add_parser("plot", help="draw figures (PNG, SVG or PDF): history, weights, samples")
    psub = pl.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser, required=True)
    out_help = "the PNG file to write (.svg or .pdf for those formats; default: {} in the run's folder)"
    ph = psub.add_parser("history", help="loss and accuracy per epoch (from a run folder, history.csv or checkpoint)")
    ph.add_argument("source", metavar="RUN", help="a run folder, its history.csv or a checkpoint")
    ph.add_argument("-o", "--out", metavar="FILE.png", help=out_help.format("history.png"))
    ph.set_defaults(handler=cmd_plot_history)
    pw = psub.add_parser("weights", help="first-layer weights as images, weight matrices as heatmaps")
    pw.add_argument("model", metavar="MODEL", help="a model file (model.safetensors) or a run folder")
    pw.add_argument("-o", "--out", metavar="FILE.png", help=out_help.format("weights.png"))
    pw.set_defaults(handler=cmd_plot_weights)
    ps = psub.add_parser("samples", help="example images with their labels (and a model's predictions)",
                         description="Draw the first rows to score as images, titled with their labels and, with "
                                     "--model, the model's predictions. The rows are those evaluate scores.")
    ps.add_argument("--dataset", help="dataset name or file (default: the one --model was trained on, else mnist-sample)")
    ps.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's files (MNIST, Fashion-MNIST), "
                    "as for train")
    ps.add_argument("--split", choices=("test", "train", "all"),
                    help="which rows to draw, as for evaluate: test (the default for the training file and named "
                         "datasets), train, or all (the default for any other file)")
    ps.add_argument("--label-column", help="the label column of a CSV file (default: the one --model's training used)")
    ps.add_argument("--model", help="show this model's predictions too")
    ps.add_argument("-n", default="25", help="how many images (default 25)")
    ps.add_argument("--as-images", action="store_true",
                    help="draw rows as images even when they look like a table's (a square of 4x4 to 7x7 values, or "
                         "columns the model standardises one by one); by default only squares of at least 8x8 are drawn")
    ps.add_argument("-o", "--out", metavar="FILE.png",
                    help="the PNG file to write (.svg or .pdf for those formats; default: samples.png next to "
                         "--model, else in this folder)")
    ps.set_defaults(handler=cmd_plot_samples)


def _add_info(sub) -> None:
    i = sub.add_parser("info", help="a model's layers, parameters and metadata")
    i.add_argument("model", metavar="MODEL", help="a model or checkpoint file, or a run folder")
    i.set_defaults(handler=cmd_info)



def _add_serve(sub) -> None:
    sv = sub.add_parser("serve", help="a local web page: draw a digit, watch the forward and backward pass, follow a run",
                        description="Serve a page on this machine for a model file or a run folder (see docs/serve.md).")
    sv.add_argument("path", metavar="PATH", help="a .safetensors model or a run folder (followed live while it trains)")
    sv.add_argument("--port", default="8000", help="TCP port (default 8000; 0 picks a free one)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.set_defaults(handler=cmd_serve)


def _add_sweep(sub) -> None:
    sw = sub.add_parser("sweep", help="train a grid (or random sample) of options, one run folder a trial, on Dask",
                        description="A hyperparameter sweep: every combination of the --grid values (or --random N "
                                    "of them), each trained as `deltaprop train` into SWEEP/trial-NNN on a Dask "
                                    "worker; results in SWEEP/sweep.csv and sweep.png (see docs/distributed.md).")
    sw.add_argument("config", metavar="CONFIG.toml", nargs="?", help="options every trial shares (as for train --config)")
    sw.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                    help="an option of train and its values, e.g. lr=0.03,0.1,0.3 or layers=784,100,10:784,300,10 "
                         "(':' separates values that hold commas, ';' values that hold colons, as in "
                         "'schedule=step:gamma=0.5;cosine'); repeat for more options")
    sw.add_argument("--random", metavar="N", help="train N combinations drawn at random from the grid instead of all "
                    "(all of them, said so, when N is more than the grid has)")
    sw.add_argument("--seed", help="seed of the --random draw (default 0; only with --random: the trials' own "
                    "training seed is CONFIG.toml's seed, or --grid seed=...)")
    sw.add_argument("--workers", metavar="N", help="worker processes of the local Dask cluster (default: one per CPU; "
                    "at most one a trial to run)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask cluster, e.g. tcp://host:8786")
    sw.add_argument("--out", metavar="DIR", help="the sweep's folder (default: a new runs/sweep-<date-time>)")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in --out, skipping finished trials")
    sw.set_defaults(handler=cmd_sweep)


def _add_export(sub) -> None:
    x = sub.add_parser("export", help="write a model as ONNX (for inference engines) or a PyTorch state_dict",
                       description="Export a model file (or a run folder's model.safetensors); see docs/export.md.")
    x.add_argument("model", metavar="MODEL", help="a model file (model.safetensors) or a run folder")
    x.add_argument("--format", choices=("onnx", "torch"),
                   help="onnx, or torch (safetensors for nn.Sequential); may be left out when -o ends in .onnx "
                        "or .safetensors")
    x.add_argument("-o", "--out", help="output file (default: beside MODEL, as model.onnx or model.pt.safetensors)")
    x.add_argument("--input-type", help="ONNX input element type, e.g. uint8 for raw pixels (default: the model's dtype)")
    x.add_argument("--input-range", metavar="MIN,MAX",
                   help="with an integer --input-type, the range of the raw inputs, for a model file that records "
                        "none (deltaprop info prints it where it does), e.g. 0,255 for 8-bit pixels "
                        "(--input-range=-128,127 where MIN is negative)")
    x.add_argument("--opset", type=int, metavar="N", help="ONNX opset, 13 up to the newest the installed onnx knows "
                                                          "(default 17, which most runtimes read)")
    x.set_defaults(handler=cmd_export)


def _add_report(sub) -> None:
    r = sub.add_parser("report", help="rebuild a run folder's report.html from its files")
    r.add_argument("run", metavar="RUN_DIR", help="a run folder written by deltaprop train")
    r.set_defaults(handler=cmd_report)


#: The subcommands, in the order ``--help`` lists them; each adds its parser.
_COMMANDS = [_add_train, _add_evaluate, _add_predict, _add_gradcheck, _add_plot, _add_info, _add_serve, _add_sweep,
             _add_export, _add_report]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Feedforward neural networks trained by backpropagation.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in _COMMANDS:
        add(sub)
    return parser


def _int_option(name: str, value: str, *, allow_zero: bool = False) -> int:
    return _checks.positive_int(name, _integer(name, value), allow_zero=allow_zero)


def _threads_option(args) -> int | None:
    """``--threads N`` as the count the BLAS runs (:func:`~deltaprop.training.applied_threads`:
    at most the count it was built for), which the run trains on and records; None when not given."""
    return None if args.threads is None else applied_threads(_int_option("--threads", args.threads))


def _threads_notes(args) -> tuple[str, ...]:
    """``--threads N`` over the CPUs this process may run on (they are oversubscribed), or
    over what the BLAS runs: what the run trains on and records, in a note."""
    if args.threads is None:
        return ()
    asked = _int_option("--threads", args.threads)
    words = threads_words(asked, applied_threads(asked))
    return (f"--threads {asked}: {words}",) if words else ()


def _number_option(name: str, value: str) -> float:
    return _checks.positive_number(name, _number(name, value))


# -- data -----------------------------------------------------------------------------------------
@dataclass
class _Dataset:
    """Raw rows of a dataset: train and test parts, class names, and (for a file) which
    column or array held the labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    label_source: str | None = None
    held_out: bool = True  # False: too few rows to set a test part aside; the test rows are the training rows
    file: dict[str, Any] | None = None  # a data file's SHA-256 and row count, as the model records them
    feature_names: tuple[str, ...] | None = None  # a CSV header's names of the feature columns
    notes: tuple[str, ...] = ()  # what reading the file assumed (said on stderr)
    test_rows: np.ndarray | None = None  # a data file's row numbers (from 0) of the test rows, in their order
    image_shape: tuple[int, ...] | None = None  # an .npz file's x of images, (n, h, w): each row's (h, w)

    def all_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Every row: the training and the test part together."""
        if not self.held_out:
            return self.x_train, self.y_train
        return np.concatenate([self.x_train, self.x_test]), np.concatenate([self.y_train, self.y_test])


def _is_file_dataset(name: str) -> bool:
    return name.lower().replace("_", "-") not in DATASETS


def _idx_spec(name: str):
    """The IDX dataset (MNIST, Fashion-MNIST) called ``name``, or None."""
    return {"mnist": MNIST, "fashion-mnist": FASHION_MNIST}.get(name.lower().replace("_", "-"))


def _holds_files(spec, data_dir: str) -> bool:
    """Whether ``data_dir`` (or its ``<name>/`` subfolder) holds each of the dataset's files."""
    folders = [Path(data_dir).expanduser(), Path(data_dir).expanduser() / spec.name]
    wanted = [(rf.name, rf.raw_name) for rf in spec.files.values()]
    return all(any((folder / n).is_file() for folder in folders for n in names) for names in wanted)


def _recorded_data_dir(mf, name: str) -> str | None:
    """The ``--data-dir`` the model's training run read ``name`` from, while it still holds
    the files (None otherwise: the usual search, cache included, applies)."""
    config = mf.extra.get("config") if mf is not None else None  # plot samples without --model has none
    folder = config.get("data_dir") if isinstance(config, dict) and config.get("dataset") == name else None
    spec = _idx_spec(name)
    if not isinstance(folder, str) or not folder or spec is None:
        return None
    return folder if _holds_files(spec, folder) else None


def _check_data_dir(name: str, data_dir: str, given: str | None = None) -> None:
    """``--data-dir`` means that folder: one without the dataset's files is an error when
    another folder (the cache, a system copy) holds them, never a silent fall back to it.
    ``given``: the setting as the user gave it (a ``--config`` file's line), if not the option."""
    spec = _idx_spec(name)
    if spec is None or _holds_files(spec, data_dir):
        return
    wanted = [rf.name for rf in spec.files.values()]
    elsewhere = mnist_files._search_dirs(spec, None)
    found = [mnist_files._find(spec, rf, elsewhere) for rf in spec.files.values()]
    if not all(found):
        return  # nowhere else either: the download goes ahead, or fails saying so
    leave = "leave out --data-dir" if given is None or given.startswith("--") else "leave data_dir out of that file"
    kinds = {"cache": "the cached copy in", "system": "the system's copy in", "user": "the copy in"}
    copies = dict.fromkeys((kinds[kind], str(path.parent)) for path, kind in found)  # the folders that would be read
    raise DataError(f"{given or f'--data-dir {data_dir}'} does not hold the {spec.name} files: looked in it and in "
                    f"{Path(data_dir) / spec.name} for {wanted[0]} and its {len(wanted) - 1} companions (gzipped or "
                    f"not); put them there, or {leave} to use " + " and ".join(f"{k} {d}" for k, d in copies))


def _named_dataset(name: str, data_dir: str | None, mmap: bool = False, given: str | None = None) -> _Dataset:
    if data_dir:
        data_dir = os.path.expanduser(data_dir)  # --data-dir=~/data: no shell expands a ~ after "="
        _check_data_dir(name, data_dir, given)
    try:
        ds = load_dataset(name, data_dir=data_dir or None, flatten=True, mmap=mmap)
    except DatasetNotFoundError as exc:
        text = str(exc)
        missing = text.split("missing ", 1)[-1].split(",")[0].split()[0].rstrip(".")
        failed = (text.split("Downloading failed (no network?):", 1)[-1].split("To supply them")[0]
                  if "Downloading failed" in text else "")
        why = [" ".join(failed.split()).rstrip(".")] if failed.strip() else []
        why += [line.strip().rstrip(".") for line in text.splitlines() if line.startswith("Deleted ")]
        raise DataError(f"the {name} dataset is not on this machine ({missing} and others are missing) and could not "
                        "be downloaded" + "".join(f" ({w})" for w in why) + "; put its files in a folder and pass "
                        f"--data-dir FOLDER (see {PROG} train --help), or train on the bundled sample: "
                        "--dataset mnist-sample") from None
    return _Dataset(ds.x_train, ds.y_train, ds.x_test, ds.y_test, tuple(ds.class_names))


def _data_dir_unread(name: str, data_dir: str | None, given: str | None = None) -> tuple[str, ...]:
    """The note for a ``--data-dir`` that the dataset ``name`` does not read (empty if it
    does); ``given``: the setting as the user gave it, if not the option."""
    if not data_dir or _idx_spec(name) is not None:
        return ()
    what = {"parity": "generated", "mnist-sample": "bundled with deltaprop"}.get(name.lower().replace("_", "-"),
                                                                               "a file of its own")
    return (f"{given or f'--data-dir {data_dir}'} is not read: it says where the MNIST and Fashion-MNIST files are, and "
            f"{name} is {what}",)


def _load_data(name: str, data_dir: str | None, seed: int = 0, label_column=None, *, mmap: bool = False,
               keep_order: bool = False, feature_names=None, dtype=None, label_position=None,
               data_dir_given: str | None = None, label_values=None, class_names=None) -> _Dataset:
    """A named dataset (its images memory-mapped with ``mmap``), or a .npz/.csv file split
    80/20 (stratified, seeded) into train and test (each part in the file's order with
    ``keep_order``, else shuffled; the same rows either way). ``feature_names``: the
    columns a model was trained on, which a CSV header must name (in any order);
    ``label_position``: the label column's index in its training file, which a CSV file
    without a header is read by; ``data_dir_given``: ``data_dir`` as the user gave it, if
    not as the option (a ``--config`` file's line); ``label_values``: a model's own class
    labels (:func:`_class_values`), which a file's labels are read as the positions of;
    ``class_names``: a model's class names, which a file's labels written as names are read
    as (without them a file's names, sorted, are its classes)."""
    unread = _data_dir_unread(name, data_dir, data_dir_given)
    if not _is_file_dataset(name):
        ds = _named_dataset(name, data_dir, mmap, data_dir_given)
        return replace(ds, notes=ds.notes + unread)
    path = Path(name)
    if path.is_dir():
        raise DataError(f"{path} is a folder; --dataset takes a name ({', '.join(DATASETS)}) or a .npz/.csv file")
    if not path.exists() and not path.suffix:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or give a .npz/.csv file")
    table = read_table(path, label_column=label_column, feature_names=feature_names, dtype=dtype,
                       label_position=label_position, label_values=label_values, class_names=class_names)
    x, y = table.x.reshape(len(table.x), -1), table.y
    _check_class_ids(path, y)
    present = np.unique(y)
    n_classes = len(table.class_names) if table.class_names is not None else int(y.max()) + 1
    source = table.label_source + _unused_ids(present, n_classes)
    if table.class_names is not None and class_names is None:  # a file's own names: which id each is
        source += (f"; its {n_classes} class names, sorted, are classes 0..{n_classes - 1}: "
                   f"{_listed(table.class_names)}")
    held_out = len(x) >= _MIN_ROWS_TO_SPLIT
    x_tr, y_tr, x_te, y_te = (train_validation_split(x, y, 0.2, seed=seed, keep_order=keep_order) if held_out
                              else (x, y, x, y))
    if held_out and not len(y_te):  # every class under 3 rows: 20% of each rounds to none
        held_out, x_tr, y_tr, x_te, y_te = False, x, y, x, y
    rows = np.arange(len(y))  # the test rows' numbers in the file: the same split of the row numbers
    test_rows = train_validation_split(rows, y, 0.2, seed=seed, keep_order=keep_order)[2] if held_out else rows
    file = {"sha256": _file_sha256(path), "rows": len(y)}
    if len(present) < n_classes:  # outputs no row trains: evaluate refuses rows of these classes
        file["no_example"] = sorted(set(range(n_classes)) - set(present.tolist()))
    if table.label_index is not None:  # a CSV file's label column, by which a file without a header is read
        file["label_index"] = table.label_index
    if table.x.ndim > 2:  # images saved as such: another file's in another axis order is refused
        file["shape"] = [int(d) for d in table.x.shape[1:]]
    if table.class_names is not None:  # labels written as names: the model's class names are those
        file["labels"] = "names"
    names = table.class_names if table.class_names is not None else tuple(str(c) for c in range(n_classes))
    return _Dataset(x_tr, y_tr, x_te, y_te, names, source, held_out, file,
                    table.feature_names, table.notes + unread, test_rows,
                    table.x.shape[1:] if table.x.ndim > 2 else None)


def _repeated(x: np.ndarray, seen: np.ndarray) -> int:
    """How many rows of ``x`` equal a row of ``seen`` exactly (values compared as float64)."""
    return int(_repeats(x, seen).sum())


#: values converted to float64 at a time where rows are hashed to find repeats
_REPEAT_CHUNK = 1 << 16


def _repeats(x: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Per row of ``x``, whether it equals a row of ``seen`` exactly (as float64). Each row
    is hashed a chunk at a time, h = Σⱼ bits(xⱼ)·mⱼ mod 2⁶⁴ (odd mⱼ), and only the rows
    whose hash the other side also holds are compared whole: a few bytes a row, not a
    float64 copy of both tables sorted."""
    def rows(a: np.ndarray) -> np.ndarray:  # each row as one opaque value, compared byte by byte
        a = np.ascontiguousarray(a.reshape(len(a), -1), dtype=np.float64) + 0.0  # -0.0 is 0.0
        return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()

    width = math.prod(x.shape[1:])
    multipliers = np.random.default_rng(0).integers(1, 2**63, size=width, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    step = max(1, _REPEAT_CHUNK // max(width, 1))

    def hashes(a: np.ndarray) -> np.ndarray:
        out = np.empty(len(a), dtype=np.uint64)
        for start in range(0, len(a), step):
            chunk = np.array(np.asarray(a[start:start + step]).reshape(-1, width), dtype=np.float64)  # a copy
            chunk += 0.0  # -0.0 is 0.0
            bits = chunk.view(np.uint64)
            bits *= multipliers
            out[start:start + step] = bits.sum(axis=1, dtype=np.uint64)
        return out

    def among(values: np.ndarray, table: np.ndarray) -> np.ndarray:  # np.isin without its copies
        table = np.sort(table)
        at = np.minimum(np.searchsorted(table, values), max(len(table) - 1, 0))
        return table[at] == values if len(table) else np.zeros(len(values), dtype=bool)

    hx, hs = hashes(x), hashes(seen)
    found = np.zeros(len(x), dtype=bool)
    maybe = np.flatnonzero(among(hx, hs))
    if len(maybe):
        candidates = np.flatnonzero(among(hs, hx[maybe]))
        found[maybe] = np.isin(rows(np.asarray(x)[maybe]), rows(np.asarray(seen)[candidates]))
    return found


def _training_rows_note(mf, name: str, ds: _Dataset, x: np.ndarray, which: str = "rows") -> str | None:
    """Words for rows ``x`` (``which``: "rows", or "test rows" of a split) of another data
    file than the model's own that repeat rows the model trained on (its training file,
    read as training read it, when that file is still there unchanged). None when there
    are none, or the training file cannot be compared."""
    trained, recorded = mf.extra.get("dataset"), mf.extra.get("data_file")
    if not isinstance(trained, str) or not _is_file_dataset(trained) or not isinstance(recorded, dict):
        return None
    if ds.file is None or ds.file["sha256"] == recorded.get("sha256"):  # a named dataset, or the file itself
        return None
    try:
        if not Path(trained).is_file() or _file_sha256(Path(trained)) != recorded.get("sha256"):
            return None
        own = _load_data(trained, None, _split_seed(mf), _trained_label_column(mf),
                         feature_names=_trained_feature_names(mf), dtype=mf.net.dtype,
                         label_position=_trained_label_index(mf))
    except (Error, OSError):
        return None
    if own.x_train.shape[1:] != x.shape[1:]:
        return None
    fit_rows, held_rows = np.arange(len(own.y_train)), np.arange(0)
    if _validation_rows(mf, own.y_train):  # the rows training held out for validation, as it split them
        fit_rows, _, held_rows, _ = train_validation_split(fit_rows, own.y_train, mf.extra["config"]["validation_split"],
                                                           seed=_split_seed(mf))
    fitted = _repeats(x, own.x_train[fit_rows])
    validated = int((_repeats(x, own.x_train[held_rows]) & ~fitted).sum()) if len(held_rows) else 0
    if not fitted.any() and not validated:
        return None
    more = (f" ({validated} more repeat a validation row, held out of training)"
            if validated else "")
    return (f"{int(fitted.sum())} of the {len(x)} {which} of {name} repeat the features of a row the model trained "
            f"on (in {trained}) exactly{more}: the accuracy counts them as unseen; score a file without them for an "
            "accuracy on rows the model never saw")


def _repeats_note(name: str, ds: _Dataset) -> str | None:
    """Words for a data file's test rows whose features repeat a training row's exactly
    (duplicate rows, oversampling done before the split): the test accuracy counts them
    as unseen. None when there are none."""
    if ds.file is None or not ds.held_out or not len(ds.x_test):
        return None

    repeated = _repeated(ds.x_test, ds.x_train)
    if not repeated:
        return None
    return (f"{repeated} of the {len(ds.x_test)} test rows of {name} repeat a training row's features exactly (the "
            "file holds duplicate rows, or rows copied by oversampling): the test accuracy counts them as unseen; "
            "remove the duplicates (pandas: df.drop_duplicates()) for a score on rows the model never saw")


def _check_class_ids(path: Path, y: np.ndarray) -> None:
    """The command line trains on one class id a row; 2-D labels are refused, saying how
    to turn one-hot rows into ids."""
    if y.ndim == 1:
        return
    one_hot = y.ndim == 2 and bool(((y == 0) | (y == 1)).all()) and bool((y.sum(axis=1) == 1).all())
    column = y.ndim == 2 and y.shape[1] == 1
    if one_hot and not column:
        fix = f"save the class ids instead: np.savez({str(path)!r}, x=x, y=y.argmax(axis=1))"
    elif column:  # a column vector, as MATLAB or df[['label']].to_numpy() gives: class ids in the wrong shape
        raise DataError(f"{path}: the labels have shape {y.shape}, one column; class ids are one value a row, "
                        f"1-D: save them so, np.savez({str(path)!r}, x=x, y=y.ravel())")
    else:
        fix = ("the command line trains on one class a row; for several labels a row (or other targets) fit a network "
               "in Python (deltaprop.fit, or the scikit-learn estimators)")
    kind = "one-hot rows" if one_hot else "rows of values, not one class id a row"
    raise DataError(f"{path}: the labels have shape {y.shape} ({kind}); {fix}")


def _unused_ids(present: np.ndarray, n_classes: int) -> str:
    """Words for class ids in 0..max that no row uses (each is an output that never fires)."""
    unused = sorted(set(range(n_classes)) - set(present.tolist()))
    if not unused:
        return ""
    shown = ", ".join(map(str, unused[:5])) + (", ..." if len(unused) > 5 else "")
    why = "ids count from 0" if unused == [0] else "the ids have gaps"
    return (f"; NOTE: {why}: class{'es' if len(unused) > 1 else ''} {shown} of 0..{n_classes - 1} "
            f"{'have' if len(unused) > 1 else 'has'} no example, and the network gets {n_classes} outputs")


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check_unchanged(recorded: Any, ds: _Dataset, path: str, fix: str) -> None:
    """Refuse a data file whose bytes differ from those the model trained on."""
    if not isinstance(recorded, dict) or ds.file is None or recorded.get("sha256") == ds.file["sha256"]:
        return
    then, now = recorded.get("rows"), ds.file["rows"]
    rows = f"{then} rows then, {now} now" if then != now else f"the same {now} rows in number, other bytes"
    raise DataError(f"{path} has changed since the model was trained on it (SHA-256 {str(recorded.get('sha256'))[:12]}… "
                    f"then, {ds.file['sha256'][:12]}… now; {rows}); {fix}")


#: A data file with fewer rows than this has no held-out test part: it is trained and scored whole.
_MIN_ROWS_TO_SPLIT = 10
_NO_TEST_SET = (f"no held-out test set: files under {_MIN_ROWS_TO_SPLIT} rows, or with no class of 3 rows (20% of "
                "each class rounds to none), are trained on whole, so this is the accuracy on the training rows, "
                "not on unseen data")


def _trained_label_column(mf):
    """The label column the model's training run read its data file with (None: found)."""
    config = mf.extra.get("config") if mf is not None else None
    column = config.get("label_column") if isinstance(config, dict) else None
    return column if isinstance(column, (int, str)) and not isinstance(column, bool) else None


def _trained_label_index(mf) -> int | None:
    """The label column's index in the CSV file the model trained on (None: not recorded)."""
    recorded = mf.extra.get("data_file") if mf is not None else None
    index = recorded.get("label_index") if isinstance(recorded, dict) else None
    return index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else None


def _trained_image_shape(mf) -> tuple[int, ...] | None:
    """The shape of one input as the model records it, where its inputs were images
    (``(h, w, c)``, ``(c, h, w)``, ``(h, w)``: an .npz file's, a named dataset's, or given
    to ``fit`` or ``save``); None where not recorded or a row's."""
    shape = getattr(mf, "input_shape", None) if mf is not None else None
    return shape if image_axes(shape) is not None else None


def _check_image_axes(mf, path, shape: tuple[int, ...] | None) -> None:
    """Refuse images whose axes are those the model trained on in another order
    (``(3, 32, 32)`` for a model of ``(32, 32, 3)`` images): flattened, the same number of
    values reach its inputs in the wrong places. Axes of length 1 are left out of the
    comparison (``(28, 28)`` and ``(28, 28, 1)`` are the same images)."""
    trained = _trained_image_shape(mf)
    if trained is None or shape is None:
        return
    given, kept = tuple(d for d in shape if d != 1), tuple(d for d in trained if d != 1)
    if given == kept or sorted(given) != sorted(kept) or len(shape) != len(trained):
        return
    free, order = list(range(len(shape))), []
    for d in trained:  # the given axis each trained axis is, the first free one of its length
        order.append(next(i for i in free if shape[i] == d))
        free.remove(order[-1])
    axes = ", ".join(str(i + 1) for i in order)
    raise ShapeError(f"{path}: its images have the shape {tuple(shape)}, the model's {tuple(trained)} in another axis "
                     "order (channels first where training had them last, or the other way round), so their values "
                     f"would reach its inputs in the wrong places: reorder the axes, x.transpose(0, {axes})")


def _refuse_images_for_table(mf, path, shape: tuple[int, ...] | None) -> None:
    """Refuse inputs of two axes or more each (images, ``(28, 28)``) for a model trained on
    a table's columns (a CSV file's): flattened to its width they would fill its columns
    with pixels, and every answer would mean nothing."""
    if mf is None or shape is None or len([d for d in shape if d != 1]) < 2:
        return
    names = _trained_feature_names(mf)
    if names is None and _trained_label_index(mf) is None:
        return
    columns = f" ({_listed(names, 8)})" if names is not None else ""
    raise ShapeError(f"{path}: holds inputs of shape {tuple(shape)} each (images?), but the model was trained on a "
                     f"table's {mf.net.n_features} columns{columns}, one value each; give rows of those columns, one "
                     f"a row (a 2-D array of shape (n, {mf.net.n_features}) or a CSV file), not images flattened to "
                     "that width")


def _split_seed(mf) -> int:
    """The seed a model's training run split its data file with, so that its test rows
    are the ones it never trained on (0 for models that do not record it)."""
    config = mf.extra.get("config") if mf is not None else None
    seed = config.get("seed", 0) if isinstance(config, dict) else 0
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def _input_layer(kind: str, x_train: np.ndarray):
    """The preprocessing layer for ``--scaling`` on these training rows (None: raw inputs).
    Rows still on disk (an mpiexec run) give each column's range, read a chunk at a time; only
    standardising reads them all."""
    rows = x_train
    if isinstance(x_train, RowView):
        x_train = x_train.extremes()
    auto = kind == "auto"
    if auto:
        kind = auto_scaling(x_train)
    if kind == "none":
        return None
    if kind.startswith("standardize"):
        per_feature = {"standardize": None, "standardize_per_feature": True, "standardize_global": False}[kind]
        return standardization_for(rows[:] if isinstance(rows, RowView) else rows, per_feature=per_feature)
    return unit_scaling(x_train, auto=auto)


# -- train: the run's configuration and folder -------------------------------------------------
def _train_flags(args) -> dict[str, Any]:
    flags = {key: getattr(args, key) for _, key, _ in _TRAIN_OPTIONS if hasattr(args, key)}
    if hasattr(args, "nesterov"):
        flags["nesterov"] = args.nesterov
    return flags


def _named_by_its_line(exc: ConfigError, path, toml: dict[str, Any], flags: dict[str, Any]) -> ConfigError:
    """A value the ``--config`` file set, refused by the checks (``lr must be > 0, got -1.0``):
    the error names the file's line (``lr = -1 in run.toml: ...``), as the data's checks do."""
    text = str(exc)
    key = next((k for k in toml if k not in flags and re.match(rf"(unknown )?{re.escape(k)}\b", text)), None)
    if key is None:
        return exc
    try:
        shown = _toml_value(key, toml[key])
    except ConfigError:  # not finite, or a table: as Python writes it
        shown = str(toml[key])
    return type(exc)(f"{key} = {shown} in {path}: {text}")


def _new_config(args, flags: dict[str, Any]) -> TrainConfig:
    sources, notes = [], []
    if args.config:
        toml = config_file(args.config, notes, overridden=flags)  # checked below with the flags over it
        sources.append(toml)
        notes += _other_limit_kept(args.config, toml, flags)
    try:
        cfg = TrainConfig.from_mapping(*sources, flags, origin=str(args.config or "the options"))
    except ConfigError as exc:
        raise _named_by_its_line(exc, args.config, toml, flags) if args.config else exc from None
    if args.config:
        cfg.read_from(args.config, {key: value for key, value in toml.items() if key not in flags})
    if cfg.label_column is not None and not _is_file_dataset(cfg.dataset):
        # not recorded: evaluate and predict would read another file's labels from that column
        what = {"parity": "generated", "mnist-sample": "bundled with deltaprop"}.get(
            cfg.dataset.lower().replace("_", "-"), "read from its own IDX files")
        column = cfg.label_column
        notes.append(f"{cfg.named('label_column', str(column))} is not read: it names the label "
                     f"column of a .csv or .npz file, and {cfg.dataset} is {what}")
        cfg.label_column = None
    if cfg.dropout and len(cfg.layers) == 2:  # kept in config.toml: a sweep's resume compares it
        widths = ",".join(map(str, cfg.layers))
        notes.append(f"{cfg.named('dropout', f'{cfg.dropout:g}')} is not applied: it drops hidden units, "
                     f"and {cfg.named('layers', widths)} has no hidden layer")
    team = getattr(args, "team", None)
    for note in notes if team is None or team.rank == 0 else ():  # said once, by the process that prints
        _say(f"note: {note}", err=True)
    if _is_file_dataset(cfg.dataset) and Path(cfg.dataset).is_file():
        # config.toml and the model name the file from anywhere (its folder's name, too, in UTF-8)
        cfg.dataset = _utf8("dataset", str(Path(cfg.dataset).resolve()))
    if cfg.data_dir:  # as the dataset: a rerun of config.toml from another folder reads the same one
        cfg.data_dir = _utf8("data_dir", str(Path(cfg.data_dir).resolve()))
    return cfg


def _other_limit_kept(path: str, toml: dict[str, Any], flags: dict[str, Any]) -> list[str]:
    """The note for ``--epochs`` (``--steps``) given over a file that sets the other limit:
    both bound the run, so the file's may end it before the length the flag asks for."""
    for given, other in (("epochs", "steps"), ("steps", "epochs")):
        if given in flags and other not in flags and toml.get(other) is not None:
            return [f"{path} sets {other} = {toml[other]}, which still bounds the run beside --{given} "
                    f"{flags[given]}: training stops at whichever limit it reaches first; to train by --{given} "
                    f"alone, remove {other} from the file (or give a larger --{other})"]
    return []


def _resume_folder(args, flags: dict[str, Any]) -> Path:
    changed = sorted(set(flags) - {"epochs", "steps"})
    given = [f"--{k.replace('_', '-')}" for k in changed]
    given += [flag for flag, value in (("--config", args.config), ("--out", args.out), ("--overwrite", args.overwrite)) if value]
    if given == ["--out"] and Path(args.resume).is_dir():  # a copy of the folder goes on there
        import shlex

        length = [f"--{key} {flags[key]}" for key in ("epochs", "steps") if key in flags]
        there = "NEW_FOLDER" if os.path.lexists(args.out) else args.out  # cp -r into an existing one nests it
        where = "a new folder" if there != args.out else args.out
        copy, go_on = shlex.join(["cp", "-r", args.resume, there]), shlex.join([PROG, "train", "--resume", there])
        raise UsageError(f"train --resume continues the run in its own folder ({args.resume}), not in --out; "
                         f"to go on with it in {where}, copy the folder there and resume the copy: {copy} && "
                         f"{' '.join([go_on, *length])}")
    if given:
        raise UsageError("train --resume continues a run as it was configured; only --epochs and --steps "
                         f"may be given (not {', '.join(given)}); to train with other settings, start a new run "
                         f"from its configuration: {_new_run_line(args)}")
    out = Path(args.resume)
    if out.is_file():  # a file of the run folder (its checkpoint, model or config.toml) names the folder
        run_files = ("checkpoint.safetensors", "config.toml", "model.safetensors")
        if out.name not in run_files and not any((out.parent / name).is_file() for name in run_files):
            raise Error(f"{out} is a file, not a run folder; --resume takes the folder a {PROG} train run wrote "
                        "(its --out)")
        out = out.parent
    if not out.is_dir():
        raise Error(f"{out}: no such run folder to resume")
    return out


def _new_run_line(args) -> str:
    """``train --resume DIR`` given other settings, as the new run that trains them: the
    run's config.toml with the same flags (less ``--resume`` and ``--overwrite``) into a
    new folder."""
    import shlex

    def names(word: str, option: str) -> bool:  # argparse takes any unambiguous prefix of an option
        key = word.partition("=")[0]
        return word.startswith("--") and len(key) > 2 and option.startswith(key)

    words, rest = [], list(getattr(args, "argv", ["train"]))[1:]
    while rest:
        word = rest.pop(0)
        if names(word, "--resume"):
            rest[:0 if "=" in word else 1] = []
        elif not names(word, "--overwrite"):
            words.append(word)
    if not any(names(w, "--config") for w in words):
        words = ["--config", str(Path(args.resume) / "config.toml"), *words]
    if not any(names(w, "--out") for w in words):
        words += ["--out", "NEW_FOLDER"]
    return shlex.join([PROG, "train", *words])


def _restart_line(out: Path) -> str:
    """The command that starts a run over in ``out`` as its config.toml configured it."""
    return f"{PROG} train --config {out / 'config.toml'} --out {out} --overwrite"


def _no_checkpoint(out: Path) -> Error:
    """Why ``out`` cannot be resumed when it holds no checkpoint, and what to do instead."""
    if (out / "model.safetensors").is_file():
        return Error(f"{out} holds a model but no checkpoint.safetensors to resume from; start a new run to train longer")
    facts = recorded_facts(out) or {}
    if (out / "config.toml").is_file() and facts.get("status") == "diverged":  # the same start diverges again
        where = facts.get("diverged")
        lr = where.get("lr") if isinstance(where, dict) else None
        was = f" (it was {lr:g})" if isinstance(lr, (int, float)) and not isinstance(lr, bool) else ""
        return Error(f"{out} holds no checkpoint: its run diverged before its first epoch ended, so there is nothing "
                     f"to resume; train again with a lower learning rate{was}: {_restart_line(out)} --lr LOWER")
    if (out / "config.toml").is_file():
        return Error(f"{out} holds no checkpoint: its run stopped before the first one was saved, so there is nothing "
                     f"to resume; start it over with: {_restart_line(out)}")
    if sweep_folder_words(out):
        return Error(f"{out} holds no checkpoint.safetensors: it is a {PROG} sweep folder; continue the sweep with "
                     f"{PROG} sweep CONFIG.toml --grid ... --out {out} --resume (the grid and configuration file it was "
                     "started with), or resume one of its trials, trial-N, with train --resume")
    return Error(f"{out} holds no checkpoint.safetensors to resume from; is it a {PROG} train output folder?")


def _resume_config(out: Path, flags: dict[str, Any]) -> tuple[TrainConfig, Checkpoint]:
    """The run's configuration with the new ``--epochs``/``--steps``, and its checkpoint.
    A new length keeps the schedule's (:meth:`TrainConfig.keep_schedule`): the resumed run
    trains with the checkpoint's schedule, and its config.toml must rerun that run."""
    path = out / "checkpoint.safetensors"
    if not path.exists():
        raise _no_checkpoint(out)
    try:
        checkpoint = _read_checkpoint(path)
    except (ModelFileError, FileFormatError) as exc:  # a damaged file is no run to go on with: say what is
        again = (f"start the run over with: {_restart_line(out)}" if (out / "config.toml").is_file()
                 else "start a new run")
        raise type(exc)(f"{str(exc).rstrip('.')}; restore the file from a copy to resume, or {again}") from None
    saved = checkpoint.extra.get("config")
    if not isinstance(saved, dict):
        raise Error(f"{path} was not written by {PROG} train; it holds no run configuration (a CheckpointWriter's "
                    "checkpoint resumes in Python: ck = load_checkpoint(path); fit(ck.net, X, y, loss=ck.loss, "
                    "optimizer=ck.optimizer, resume=ck.training_state()))")
    before = TrainConfig.from_mapping(saved, origin="the checkpoint's configuration")
    _check_saved_config(path, before, checkpoint)
    _check_config_toml(out, saved)
    if ("steps" in flags and "epochs" not in flags and "epochs" in before.derived
            and before.epochs == TrainConfig.epochs):
        # the default 10 epochs were no limit asked for: --steps alone is the run's length, as in a new run
        # (epochs a resume's --epochs set stay listed as derived, but were asked for: they still bound it)
        saved = {**saved, "derived": [name for name in before.derived if name != "epochs"]}
        saved.pop("epochs", None)
    cfg = TrainConfig.from_mapping(saved, flags, origin="the checkpoint's configuration")
    if (cfg.epochs, cfg.steps) != (before.epochs, before.steps):
        cfg.keep_schedule(checkpoint.schedule.config())
    return cfg, checkpoint


def _read_checkpoint(path: Path) -> Checkpoint:
    """The run's checkpoint; a model file in its place (copied over it) is told as that."""
    from .serialization import read_model

    held = read_model(path)
    if not isinstance(held, Checkpoint):
        raise ModelFileError(f"{path} holds a model, not a checkpoint (a model file copied over it?): it keeps no "
                             "optimizer state, schedule or place in the run to go on from")
    return held


def _check_saved_config(path: Path, cfg: TrainConfig, checkpoint: Checkpoint) -> None:
    """Refuse a checkpoint whose configuration is not its run's: other layer widths than
    its network has (config.toml and the report would describe another network), another
    seed than its training state began with (fit would refuse it less clearly), or another
    network, optimizer, rate or loss than it trained with (:func:`_trained_otherwise`: the
    resume would train the checkpoint's and write config.toml with the other)."""
    net, seed = checkpoint.net, checkpoint.training.get("seed")
    widths = [net.n_features, *(layer.n_out for layer in net.layers if isinstance(layer, Dense))]
    if cfg.layers and cfg.layers != widths:
        problem = (f"its configuration gives layers {','.join(map(str, cfg.layers))}, but the network it holds has "
                   f"widths {','.join(map(str, widths))}")
    elif seed is not None and seed != cfg.seed:
        problem = f"its configuration gives seed {cfg.seed}, but its training state began with seed {seed}"
    else:
        problem = _trained_otherwise(cfg, checkpoint)
        if problem is None:
            return
    raise ModelFileError(f"{path}: {problem}; the file was edited or damaged: resume from a checkpoint deltaprop "
                         "wrote, or start a new run")


def _trained_otherwise(cfg: TrainConfig, checkpoint: Checkpoint) -> str | None:
    """What the checkpoint's configuration builds otherwise than the run it holds (the
    network's layers after its input scaling, the optimizer and its settings, the base rate,
    the loss), or None."""
    from .preprocessing import split_input_layer

    net, _ = split_input_layer(checkpoint.net)
    try:
        built = cfg.build_network(net.n_features, net.n_outputs)
        optimizer, loss = cfg.build_optimizer().config(), cfg.build_loss().config()
    except Error as exc:
        return f"its configuration builds no run ({exc})"
    held = checkpoint.optimizer.config()

    def layers(network) -> list:  # a Dense layer's initialiser no longer matters once it trained
        return [{k: v for k, v in layer.items() if k != "init"} for layer in network.config()["layers"]]

    if layers(built) != layers(net) or built.dtype != net.dtype:
        mine, held_layers = (f"{', '.join(map(repr, n.layers))} in {n.dtype.name}" for n in (built, net))
        return f"its configuration builds {mine}, but the network it holds is {held_layers}"
    if {**optimizer, "lr": None} != {**held, "lr": None}:
        return f"its configuration gives the optimizer {optimizer}, but it trained with {held}"
    if optimizer["lr"] != checkpoint.training["base_lr"]:
        return f"its configuration gives lr {optimizer['lr']}, but its run's base rate is {checkpoint.training['base_lr']}"
    if loss != checkpoint.loss.config():
        return f"its configuration gives the loss {loss}, but it trained with {checkpoint.loss.config()}"
    return None


def _check_config_toml(out: Path, saved: dict[str, Any]) -> None:
    """Refuse to resume when the run's config.toml sets another value than its checkpoint
    trained with (an edit by hand, or a checkpoint copied from another run): the resume
    would train the checkpoint's run and rewrite config.toml, losing the edit unsaid. The
    length (epochs, steps, a schedule's) may differ: a resume stopped before its first
    checkpoint leaves config.toml with the new one. An unreadable config.toml is rewritten."""
    try:
        written = load_toml(out / "config.toml")
    except (Error, OSError):
        return
    for key in TrainConfig.keys():
        if key in ("epochs", "steps", "derived") or key not in written:
            continue
        value, mine = saved.get(key), written[key]  # a key the checkpoint lacks was None (no value: label_column)
        if key not in saved and mine in (None, ""):
            continue
        if key == "schedule":
            value, mine = _schedule_settings(value), _schedule_settings(mine)
            if isinstance(value, dict) and isinstance(mine, dict) and value.get("type") == mine.get("type"):
                differ = next((k for k in sorted({*value, *mine}) if value.get(k) != mine.get(k)), None)
                if differ is not None:  # name the setting: schedule.gamma
                    key, value, mine = f"schedule.{differ}", value.get(differ), mine.get(differ)
        if mine != value:
            trained, fix = (f"{key} = {json.dumps(value)}", "restore") if value is not None else (f"no {key} set", "remove")
            raise ConfigError(
                f"{out / 'config.toml'} sets {key} = {json.dumps(mine)}, but its checkpoint trained with {trained} "
                f"(config.toml edited, or a checkpoint from another run?); train --resume "
                f"continues the checkpoint's run and rewrites config.toml: {fix} {key} to resume, or train the "
                f"edited configuration as a new run: {PROG} train --config {out / 'config.toml'} --out NEW_FOLDER")


def _schedule_settings(value: Any) -> Any:
    """A configuration's schedule as the settings a resume keeps from its checkpoint: the
    built schedule's config (defaults filled in) less its length (cosine's ``t_max``, step's
    ``step_size``), which a resume's ``--epochs`` may change; a value that is no schedule as
    it is."""
    from .schedules import schedule_from_config

    try:
        built = schedule_from_config(_schedule(value)).config()
    except (Error, TypeError, ValueError):
        return value
    return {key: v for key, v in built.items() if key not in ("t_max", "step_size")}


def _run_is_complete(cfg: TrainConfig, state: TrainingState) -> bool:
    """Whether the run's limits (epochs, steps) are already reached, or early stopping
    ended it: resuming trains nothing."""
    return ((cfg.epochs is not None and state.completed_epochs >= cfg.epochs)
            or (cfg.steps is not None and state.step >= cfg.steps) or early_stopped_epoch(state) is not None)


def _nothing_to_train(cfg: TrainConfig, state: TrainingState) -> ConfigError:
    stopped = early_stopped_epoch(state)
    if stopped is not None:
        return ConfigError(f"early stopping ended this run at epoch {stopped}: there is nothing to resume "
                           "(model.safetensors holds the weights it kept); start a new run to train longer")
    if cfg.steps is not None and state.step >= cfg.steps:
        limit = (f"its limit is --steps {cfg.steps}" if state.step == cfg.steps  # a --steps below them was asked now
                 else f"more than the --steps {cfg.steps} asked")
        return ConfigError(f"the run already made {state.step} steps ({limit}); "
                           f"pass --steps N with N > {state.step} to continue it")
    done = state.completed_epochs  # an epoch a --steps stop cut short is not one of them: a resume finishes it
    return ConfigError(f"the run already has {done} epochs; pass --epochs N with N > {done} to continue it")


def _new_run_folder(out: str | None, name: str = "%Y%m%d-%H%M%S") -> Path:
    """The folder for a new run, created now: ``--out`` (it may exist; it is checked under
    the lock) or a fresh ``runs/<date-time>[-k]`` claimed atomically by ``mkdir`` (``name``:
    the date-time's ``strftime`` format)."""
    if out:
        _utf8("--out", out)  # its files name it in UTF-8 (report.html, run.json)
    try:
        if out:
            path = Path(out)
            if path.exists() and not path.is_dir():
                raise OSError(f"{path} exists and is not a folder; choose another --out")
            path.mkdir(parents=True, exist_ok=True)
            return path
        base = Path("runs") / time.strftime(name)
        base.parent.mkdir(parents=True, exist_ok=True)
        for k in itertools.count(1):
            path = base if k == 1 else base.with_name(f"{base.name}-{k}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except FileExistsError:
        raise OSError(f"{out}: a parent of this path is a file; choose another --out") from None
    except OSError as exc:
        if exc.strerror is None:
            raise
        raise OSError(f"cannot create the output folder {out or 'runs/'}: {exc.strerror}") from None
    raise AssertionError("unreachable")


class _Overwritten(Callback):
    """The previous run's files that ``--overwrite`` replaces, moved aside (under the lock)
    into the hidden folder ``out/.overwritten`` until training begins, since a start refused
    before then (another MPI process could not start, or the processes were given different
    runs) must not destroy them: :meth:`put_back` restores them, and they are removed
    (:meth:`drop`) when training begins (:meth:`on_train_begin`) or the command ends."""

    NAME = ".overwritten"

    def __init__(self, out: Path):
        self.out, self.folder, self.names = out, out / self.NAME, []

    def move_aside(self) -> None:
        self.folder.mkdir(exist_ok=True)  # one left by a start killed before it trained was put back
        try:
            for name in _RUN_FILES:
                if (self.out / name).exists():
                    os.replace(self.out / name, self.folder / name)
                    self.names.append(name)
        except BaseException:
            self.put_back()
            raise

    def put_back(self) -> bool:
        """Restore the previous run's files over what the refused start wrote (config.toml);
        False when they were already removed (training had begun)."""
        if not self.folder.is_dir():
            return False
        for name in _RUN_FILES:
            if name not in self.names:
                with contextlib.suppress(FileNotFoundError):
                    (self.out / name).unlink()
        for name in self.names:
            os.replace(self.folder / name, self.out / name)
        self.drop()
        return True

    def drop(self) -> None:
        _remove_folder(self.folder)

    def on_train_begin(self, state) -> None:
        self.drop()


#: A folder being removed by :func:`_remove_folder` (a leftover of a process killed meanwhile).
_REMOVING = ".removing"


def _remove_folder(folder: Path) -> None:
    """Remove ``folder``, renamed first: a process killed while removing it leaves no part
    of it under its own name (``.overwritten`` left behind means a start that never trained,
    whose previous run :func:`_restore_overwritten` puts back)."""
    import shutil

    gone = folder.with_name(folder.name + _REMOVING)
    shutil.rmtree(gone, ignore_errors=True)
    try:
        os.replace(folder, gone)
    except FileNotFoundError:
        return
    except OSError:
        gone = folder
    shutil.rmtree(gone, ignore_errors=True)


def _restore_overwritten(out: Path) -> None:
    """Under the lock: put back the previous run that a ``train --overwrite`` killed before
    its training began (SIGKILL, a power cut) left in ``out/.overwritten``, over the
    config.toml that start wrote, and say so; the folder then holds that run as it was
    before the killed command, for ``--resume``, a refusal or a new ``--overwrite``. The
    remains of a removal killed midway (training had begun: the new run replaced it) go.
    Beside files of a run that trained since (more than the killed start's config.toml),
    nothing is put back over them: the command is refused, naming both."""
    _remove_folder(out / (_Overwritten.NAME + _REMOVING))
    folder = out / _Overwritten.NAME
    if not folder.is_dir():
        return
    names = [name for name in _RUN_FILES if (folder / name).is_file()]
    newer = [name for name in names if name != "config.toml" and (out / name).exists()]
    if newer:
        raise Error(f"{folder} holds files of an earlier run ({', '.join(names)}) that a train --overwrite set aside, "
                    f"beside this run's own {', '.join(newer)}: move the files you want to keep out of {folder}, "
                    "then delete it")
    for name in names:
        os.replace(folder / name, out / name)
    with contextlib.suppress(OSError):
        folder.rmdir()
    if names:
        _say(f"note: {folder} held the previous run ({', '.join(names)}) of a train --overwrite that stopped "
             f"before its training began; it is put back in {out}", err=True)


class _Kept:
    """A file's bytes as they were (None: there was no such file), to put back when a
    command that rewrote it is refused: a refused ``train --resume`` leaves its run folder
    as it found it."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data: bytes | None = path.read_bytes()
        except FileNotFoundError:
            self.data = None
        except OSError:  # unreadable: nothing to put back
            self.path = None

    def put_back(self) -> None:
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            if self.data is None:
                self.path.unlink(missing_ok=True)
            elif not self.path.is_file() or self.path.read_bytes() != self.data:
                atomic_write_bytes(self.path, self.data)


def _claim_contents(out: Path, overwrite: bool) -> _Overwritten | None:
    """Under the lock: a folder with files in it holds someone's work; refuse it unless
    ``--overwrite``, which moves the previous run's files aside (:class:`_Overwritten`,
    returned) until training begins."""
    present = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME and not p.name.startswith("."))
    if not present:
        return None
    if not overwrite:
        saved = any(name in ("checkpoint.safetensors", "model.safetensors") for name in present)
        if not saved and any(name in _RUN_FILES for name in present):
            raise ConfigError(f"{out} holds a run that stopped before its first checkpoint was saved, so there is "
                              "nothing to resume; start it over with --overwrite, or choose another --out")
        holds = "already holds a run" if saved else f"is not empty ({', '.join(present[:3])})"
        raise ConfigError(f"{out} {holds}; choose another --out, continue it with --resume {out}, "
                          "or replace it with --overwrite")
    aside = _Overwritten(out)
    aside.move_aside()
    return aside


# -- train: data and model --------------------------------------------------------------------
@dataclass
class _Data:
    """A run's data: raw training, validation and test rows and the class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    validation: tuple[np.ndarray, np.ndarray] | None
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    label_source: str | None = None
    held_out: bool = True
    file: dict[str, Any] | None = None
    feature_names: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    test_rows: np.ndarray | None = None  # a data file's row numbers of the test rows (None: a named dataset)

    @property
    def n_features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))


def _training_data(cfg: TrainConfig, *, mapped: bool = False, default_split: bool = False) -> _Data:
    """The run's data; ``mapped`` (an mpiexec run): the images memory-mapped and, for
    shuffled mini-batches, the training and validation rows as views read a batch at a time;
    ``default_split``: --validation-split was not given (see :func:`_without_default_split`)."""
    in_order = cfg.batching != "shuffled"  # sequential and sliding batches take the rows as stored
    ds = _load_data(cfg.dataset, cfg.data_dir, cfg.seed, cfg.label_column, mmap=mapped, keep_order=in_order,
                    dtype=cfg.dtype, data_dir_given=cfg.named("data_dir", cfg.data_dir))
    ds = _without_default_split(cfg, ds) if default_split else ds
    if (repeats := _repeats_note(cfg.dataset, ds)) is not None:
        ds = replace(ds, notes=ds.notes + (repeats,))
    if in_order and (grouped := _grouped_note(cfg, ds)) is not None:
        ds = replace(ds, notes=ds.notes + (grouped,))
    if ds.file is not None and len(present := np.unique(ds.all_rows()[1])) < 2:
        raise DataError(f"{cfg.dataset}: the labels ({ds.label_source}) hold one class only ({present[0]}); a "
                        "classifier needs examples of at least two classes: give a file with rows of every class")
    if mapped and cfg.batch_size != "full" and cfg.batching == "shuffled":
        return _row_views(cfg, ds)
    x_tr, y_tr, validation = ds.x_train, ds.y_train, None
    if cfg.validation_split:
        x_tr, y_tr, x_va, y_va = train_validation_split(x_tr, y_tr, cfg.validation_split, seed=cfg.seed,
                                                        keep_order=in_order)
        _check_validation_split(cfg, len(ds.y_train), _rows_left(cfg.validation_split, ds.y_train), len(y_va))
        validation = (x_va, y_va)
    return _Data(x_tr, y_tr, validation, ds.x_test, ds.y_test, ds.class_names, ds.label_source, ds.held_out, ds.file,
                 ds.feature_names, ds.notes, ds.test_rows)


def _grouped_note(cfg: TrainConfig, ds: _Dataset) -> str | None:
    """Words for a data file whose training rows come grouped by class (each class's rows
    together, as in a file sorted by label) under --batching sequential or sliding, which
    take them in that order: most batches hold one class. None otherwise."""
    y = np.asarray(ds.y_train)
    if ds.file is None or y.ndim != 1 or cfg.batch_size == "full" or len(y) <= cfg.batch_size:
        return None
    runs = 1 + int(np.count_nonzero(y[1:] != y[:-1]))
    if runs != len(np.unique(y)) or runs < 2:
        return None
    return (f"{cfg.dataset}'s training rows come grouped by class (each class's rows together, as in a file sorted "
            f"by label), and {cfg.named('batching', cfg.batching)} takes them in that order: nearly every batch holds one "
            "class, and the network learns the last ones over the first; use shuffled batching (the default)")


def _split_is_default(args, flags: dict[str, Any]) -> bool:
    """Whether --validation-split was given neither as a flag nor in the --config file."""
    return "validation_split" not in flags and not (args.config and "validation_split" in config_file(args.config))


def _without_default_split(cfg: TrainConfig, ds: _Dataset) -> _Dataset:
    """The default --validation-split of a file too small for it to hold out a row: the run
    trains on every training row without validation, as --validation-split 0 does, and says
    so in a note; the config records 0 as derived, so --config on the same file reruns it."""
    if not cfg.validation_split:
        return ds
    rows = np.arange(len(ds.y_train))
    if len(train_validation_split(rows, ds.y_train, cfg.validation_split, seed=cfg.seed)[3]):
        return ds
    if cfg.early_stopping:
        given, path = cfg.named("early_stopping", str(cfg.early_stopping)), cfg.given_in("early_stopping")
        leave = "out --early-stopping" if path is None else f"early_stopping out of {path}"
        raise ConfigError(f"{given} watches the validation loss, but the default --validation-split "
                          f"{cfg.validation_split:g} of {cfg.dataset}'s {len(rows)} training rows holds out no row: "
                          f"give a larger --validation-split (each class needs 5 training rows for 0.1), or leave {leave}")
    note = (f"the default --validation-split {cfg.validation_split:g} of {cfg.dataset}'s {len(rows)} training rows "
            "holds out no row: training without validation (a larger --validation-split holds rows out)")
    cfg.validation_split = 0.0
    cfg.derived = sorted({*cfg.derived, "validation_split"})
    return replace(ds, notes=ds.notes + (note,))


def _rows_left(fraction: float, y: np.ndarray) -> int:
    """The training rows ``round(fraction * count)`` held out of each class leaves (the
    split itself keeps one row of a class it would hold out whole)."""
    counts = np.bincount(np.asarray(y))
    return int(np.maximum(counts - np.floor(fraction * counts + 0.5), 0).sum())


def _check_validation_split(cfg: TrainConfig, n_rows: int, n_train: int, n_validation: int) -> None:
    """Refuse a validation split that leaves no rows to validate on, or none to train on."""
    given = cfg.named("validation_split", f"{cfg.validation_split:g}")
    option, none = (("--validation-split", "--validation-split 0") if given.startswith("--")
                    else ("validation_split", "validation_split = 0"))
    if n_validation == 0:
        raise ConfigError(f"{given} of {cfg.dataset}'s {n_rows} training rows holds out no row; use {none} "
                          "(no validation) or a larger one")
    if n_train == 0:
        raise ConfigError(f"{given} of {cfg.dataset}'s {n_rows} training rows leaves no row to train on; use a "
                          f"smaller {option}")


def _row_views(cfg: TrainConfig, ds: _Dataset) -> _Data:
    """The split of :func:`_training_data` as :class:`RowView` s: the same rows in the same
    order, held as row numbers (the split is drawn on the row numbers)."""
    rows, y_tr, validation = np.arange(len(ds.y_train)), ds.y_train, None
    if cfg.validation_split:
        rows, y_tr, val_rows, y_va = train_validation_split(rows, y_tr, cfg.validation_split, seed=cfg.seed)
        _check_validation_split(cfg, len(ds.y_train), _rows_left(cfg.validation_split, ds.y_train), len(y_va))
        validation = (RowView(ds.x_train, val_rows), y_va)
    return _Data(RowView(ds.x_train, rows), y_tr, validation, ds.x_test, ds.y_test, ds.class_names, ds.label_source,
                 ds.held_out, ds.file, ds.feature_names, ds.notes, ds.test_rows)


def _check_layers(cfg: TrainConfig, data: _Data) -> None:
    n_features, n_classes = data.n_features, len(data.class_names)
    if not cfg.layers:
        return
    given = cfg.named("layers", ",".join(map(str, cfg.layers)))
    if cfg.layers[0] != n_features:
        wanted = [n_features, *cfg.layers[1:]]
        use = f"--layers {','.join(map(str, wanted))}" if given.startswith("--") else f"layers = {wanted}"
        raise ShapeError(f"{given} starts with {cfg.layers[0]} inputs but {cfg.dataset} has {n_features} "
                         f"features per example; use {use}")
    if cfg.layers[-1] != n_classes and not (cfg.layers[-1] == 1 and n_classes == 2):
        raise ShapeError(f"{given} ends with {cfg.layers[-1]} outputs but {cfg.dataset} has {n_classes} classes")


def _check_input_shape(cfg: TrainConfig, data: _Data) -> None:
    """Refuse an ``input_shape`` of another count of values than the data's rows hold."""
    if cfg.input_shape is not None and math.prod(cfg.input_shape) != data.n_features:
        given = cfg.named("input_shape", ",".join(map(str, cfg.input_shape)))
        raise ShapeError(f"{given} holds {math.prod(cfg.input_shape)} values a row, but {cfg.dataset} has "
                         f"{data.n_features} features per example; give the shape its rows were flattened from")


@dataclass
class _Model:
    """What ``fit`` trains: a new network (its first layer may scale raw inputs), or the
    one a checkpoint continues."""

    net: Network
    optimizer: Any
    loss: Any
    state: TrainingState | None = None


def _n_outputs(cfg: TrainConfig, data: _Data) -> int:
    """Output units: one per class, or one sigmoid unit for two classes with binary cross-entropy
    (one a class, any number of them, where ``--layers`` ends so or, without ``--layers``,
    for more than two classes: each ``σ`` trained on "this class or not")."""
    n_classes = len(data.class_names)
    if cfg.loss != "binary_cross_entropy" or (cfg.layers and cfg.layers[-1] == n_classes):
        return n_classes
    present = np.unique(np.concatenate([data.y_train, data.y_test]))
    if not cfg.layers and n_classes > 2 and len(present) > 2:
        return n_classes
    if n_classes != 2 and len(present) == 2:
        raise ConfigError(f"binary_cross_entropy (one sigmoid output) needs the class ids 0 and 1; {cfg.dataset}'s "
                          f"labels are {present[0]} and {present[1]}: relabel them 0 and 1, or use "
                          "--output-activation softmax --loss cross_entropy")
    if n_classes != 2:
        raise ConfigError(f"binary_cross_entropy with one sigmoid output needs two classes; {cfg.dataset} has "
                          f"{n_classes}: use --output-activation softmax --loss cross_entropy, or one sigmoid output "
                          f"a class: --layers ending in {n_classes} (e.g. --layers {data.n_features},50,{n_classes})")
    return 1


def _batches_per_epoch(cfg: TrainConfig, data: _Data) -> int:
    n_train = len(data.x_train)
    return 1 if cfg.batch_size == "full" else -(-n_train // min(cfg.batch_size, n_train))


def _new_model(cfg: TrainConfig, data: _Data) -> _Model:
    _check_layers(cfg, data)
    _check_input_shape(cfg, data)
    n_features, n_outputs = data.n_features, _n_outputs(cfg, data)
    cfg.fill_from_run(n_features, n_outputs, _batches_per_epoch(cfg, data))  # config.toml holds the widths and length
    with warnings.catch_warnings(record=True) as said:  # a zero init's warning: one line, not Python's two
        warnings.simplefilter("always", UserWarning)
        net = with_input_layer(cfg.build_network(n_features, n_outputs), _input_layer(cfg.scaling, data.x_train))
    for text in dict.fromkeys(str(w.message) for w in said):
        _say(f"warning: {text}", err=True)
    return _Model(net, cfg.build_optimizer(), cfg.build_loss())


def _resumed_model(checkpoint: Checkpoint) -> _Model:
    return _Model(checkpoint.net, checkpoint.optimizer, checkpoint.loss, checkpoint.training_state())


def _check_schedule_covers(cfg: TrainConfig, checkpoint: Checkpoint, model: _Model, data: _Data) -> None:
    """Refuse to extend a run past the end of its cosine schedule: the epochs after ``t_max``
    would all train at ``min_lr`` (0 by default: no training at all). The run's rates so far
    followed a cosine over ``t_max`` epochs, and no longer one would reproduce them, so the
    schedule is not stretched either; a run configured to go on past ``t_max`` goes on."""
    schedule = model.state.schedule
    if not isinstance(schedule, CosineAnnealing):
        return
    batches = _batches_per_epoch(cfg, data)
    before = TrainConfig.from_mapping(checkpoint.extra["config"], origin="the checkpoint's configuration")
    planned, asked = before.run_epochs(batches), cfg.run_epochs(batches)
    if planned <= schedule.t_max < asked:
        t_max, low = schedule.t_max, schedule.min_lr
        one = asked == t_max + 1
        idle = f" ({'it' if one else 'they'} would not train at all)" if low == 0 else ""
        # the limit that sets the new length is the one to speak of: --steps where they end the run first
        by_steps = cfg.steps is not None and (cfg.epochs is None or -(-cfg.steps // max(1, batches)) <= cfg.epochs)
        length = f"{cfg.steps:,} steps ({asked} epochs of {batches} steps)" if by_steps else f"{asked} epochs"
        limit, most = (f"--steps {cfg.steps}", f"--steps {t_max * batches}") if by_steps else (
            f"--epochs {asked}", f"--epochs {t_max}")
        within = "" if model.state.completed_epochs >= t_max else f", or resume with at most {most}"
        after = f"epoch {asked} would train" if one else f"epochs {t_max + 1}-{asked} would all train"
        raise ConfigError(f"cannot extend this run to {length}: its cosine schedule ends at epoch {t_max} "
                          f"(t_max={t_max}), so {after} at its min_lr {low:g}{idle}; "
                          f"start a new run with {limit} (the cosine then anneals over all of them){within}")


def _step_schedule_note(cfg: TrainConfig, checkpoint: Checkpoint, model: _Model, data: _Data) -> None:
    """Say so when a run is extended with a step schedule whose ``step_size`` was filled in
    from the run's first length (``derived``) and differs from the new length's: the
    schedule is kept (the rates of the epochs trained cannot change; it decays on as
    before), as cosine's is never stretched, and differs from a new run of the new length.
    A ``step_size`` given in the run's options is its own, whatever the length: no note."""
    schedule, state = model.state.schedule, model.state
    if not isinstance(schedule, StepDecay) or state.base_lr is None:
        return
    batches = _batches_per_epoch(cfg, data)
    before = TrainConfig.from_mapping(checkpoint.extra["config"], origin="the checkpoint's configuration")
    planned, asked = before.run_epochs(batches), cfg.run_epochs(batches)
    fresh, k = max(1, asked // 3), schedule.step_size
    if asked <= planned or "schedule.step_size" not in before.derived or fresh == k:
        return
    last = schedule.lr_at(asked - 1, state.base_lr)
    _say(f"note: the run keeps its step schedule's step_size={k} (the default for its first {planned} epochs): the "
         f"rate goes on falling x{schedule.gamma:g} every {f'{k} epochs' if k > 1 else 'epoch'}, to {last:g} at epoch "
         f"{asked}, where a new run of {asked} epochs would take step_size={fresh}; for that, start a new run with "
         f"--epochs {asked}", err=True)


def _cosine_short_note(cfg: TrainConfig, checkpoint: Checkpoint, model: _Model, data: _Data) -> None:
    """Say so when a resume shortens a run to end before its cosine schedule's ``t_max``:
    the schedule is kept (the rates of the epochs trained cannot change), so the run ends
    partway down the cosine, at a rate above its ``min_lr``, where a new run of the new
    length would anneal over all of its epochs when ``t_max`` comes from the length."""
    schedule, state = model.state.schedule, model.state
    if not isinstance(schedule, CosineAnnealing) or state.base_lr is None:
        return
    batches = _batches_per_epoch(cfg, data)
    before = TrainConfig.from_mapping(checkpoint.extra["config"], origin="the checkpoint's configuration")
    planned, asked, t_max = before.run_epochs(batches), cfg.run_epochs(batches), schedule.t_max
    if not asked < min(planned, t_max):
        return
    last = schedule.lr_at(asked - 1, state.base_lr)
    derived = "schedule.t_max" in before.derived
    fresh = (f", where a new run of {asked} epochs would take t_max={asked} and anneal over all of them; for that, "
             f"start a new run with --epochs {asked}") if derived else ""
    _say(f"note: the run keeps its cosine schedule's t_max={t_max}{' (its first length)' if derived else ''}: ending "
         f"at epoch {asked}, its rate falls only to {last:g} (from {state.base_lr:g}; the cosine reaches its min_lr "
         f"{schedule.min_lr:g} after epoch {t_max}){fresh}", err=True)


def _idle_after_t_max_warning(cfg: TrainConfig, data: _Data) -> None:
    """Say so when a new run's cosine schedule ends (at a rate of 0) before the run does, or
    a step or exponential decay takes the rate to nothing for half of it or more
    (:func:`~deltaprop.schedules.stalled_by_decay`); the run goes on as asked, as a resume of
    a run set up that way does."""
    epochs = cfg.run_epochs(_batches_per_epoch(cfg, data))
    if (idle := idle_after_t_max(schedule_from_config(cfg.schedule), epochs)) is not None:
        path = cfg.given_in("schedule")
        longer = (f"--schedule cosine:t_max={epochs} or more (cosine alone takes the run's epochs)" if path is None else
                  f"the schedule in {path} a t_max of {epochs} or more (or none: cosine alone takes the run's epochs)")
        _say(f"warning: {idle}; give {longer}, or a min_lr above 0 to train on at that rate", err=True)
    schedule = schedule_from_config(cfg.schedule)
    if (stalled := stalled_by_decay(schedule, epochs)) is not None:
        where = "--schedule" if cfg.given_in("schedule") is None else f"the schedule in {cfg.given_in('schedule')}"
        _say(f"warning: {stalled}; give {where} {slower_decay(schedule)}", err=True)


# -- train: one run -------------------------------------------------------------------------------
class _EpochLog(Callback):
    """One line (or one JSON object) per epoch, for logs and pipes."""

    def __init__(self, json_lines: bool):
        self.json_lines = json_lines

    def on_epoch_end(self, state):
        logs = state.logs
        speed = epoch_rows(state) / logs["seconds"] if logs.get("seconds") else None
        if self.json_lines:
            keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "steps", "seconds")
            record = {k: logs.get(k) for k in keys}
            record["examples_per_second"] = None if speed is None else round(speed, 1)
            _say(json.dumps(record))
            return
        _say(epoch_summary(state))


class _AlertLog(Callback):
    """Each alert the epoch it first holds (fit's diagnostics recorder raises each once):
    beside the epoch lines, or on stderr when stdout carries JSON."""

    def __init__(self, err: bool):
        self.err = err
        self._shown: list[dict] = []  # the alerts of the last epoch, as printed

    def on_train_begin(self, state):
        records = state.history.records  # a resumed run's last epoch printed its own
        self._shown = list(records[-1].get("alerts") or ()) if records else []

    def on_epoch_end(self, state):
        self._shown = []
        self._show(state)

    def on_train_end(self, state):
        """Alerts the run's end added to its last epoch (a run early stopping ended, judged as ended)."""
        self._show(state)

    def _show(self, state) -> None:
        from .alerts import Alert

        for a in (state.history.records[-1].get("alerts") or ()) if state.history.records else ():
            if a not in self._shown:
                _say(f"alert [{a['rule']}] {Alert.from_dict(a)}", err=self.err)
                self._shown.append(a)


def _early_stopping(cfg: TrainConfig) -> EarlyStopping:
    return EarlyStopping("val_loss", patience=cfg.early_stopping)


def _keep_best_weights(cfg: TrainConfig, model: _Model) -> None:
    """A finished run's network as early stopping ended it: its best epoch's weights, which
    the checkpoint keeps (the checkpoint's own are the last epoch's, to resume from)."""
    best = model.state.saved_weights.get(_early_stopping(cfg).key) if cfg.early_stopping else None
    for p, w in zip(model.net.parameters(), best or ()):
        np.copyto(p.value, w)


def _deciding_callbacks(cfg: TrainConfig) -> list[Callback]:
    """The callbacks that decide the course of training (early stopping): every process of
    a data-parallel run needs them, or the others go on when rank 0 stops."""
    return [_early_stopping(cfg)] if cfg.early_stopping else []


def _callbacks(args, cfg: TrainConfig, writer: CheckpointWriter) -> list[Callback]:
    callbacks: list[Callback] = _deciding_callbacks(cfg)
    callbacks.append(writer)
    if args.log_json:
        callbacks.append(_EpochLog(json_lines=True))
    elif not args.quiet:
        callbacks.append(ProgressBar(file=sys.stdout) if sys.stdout.isatty() else _EpochLog(json_lines=False))
    if not args.quiet:
        callbacks.append(_AlertLog(err=bool(args.log_json)))
    return callbacks


def _reporter(args, cfg: TrainConfig, out: Path, data: _Data):
    """The report writer of a run folder (report.html, diagnostics.csv, alerts.csv, run.json)."""
    from .report import ReportWriter, data_sha256, run_facts

    arrays = [data.x_train, data.y_train, *(data.validation or ()), data.x_test, data.y_test]
    source = str(Path(cfg.dataset).resolve()) if _is_file_dataset(cfg.dataset) else cfg.dataset
    command = [PROG, *getattr(args, "argv", ["train"])]
    file_sha = None if data.file is None else data.file["sha256"]
    earlier = recorded_facts(out) if getattr(args, "resume", None) else None  # the sessions that trained it so far
    team = getattr(args, "team", None)
    return ReportWriter(out, run_facts(command, cfg.as_dict(), data_source=source, data_sha=data_sha256(*arrays),
                                       file_sha=file_sha, processes=1 if team is None else team.comm.Get_size()),
                        earlier=earlier)


def _report_results(args, reporter, model: _Model, data: _Data, X_test, acc: float, records) -> None:
    """The final report with the test results; the alert summary; a loud warning when the
    run ends at chance accuracy (the exit status stays 0)."""
    from .alerts import at_chance, chance_level, standing, summary
    from .report import evaluation

    alerts = History(records).alerts
    at_end = standing(alerts, records, _standing_context(reporter, model, data))  # which still hold
    if reporter is not None:
        images = data.x_test if data.x_test.dtype == np.uint8 else None
        scored = {} if data.held_out else {"scored": "training", "note": _NO_TEST_SET}
        reporter.finish("done", evaluation=evaluation(model.net, X_test, data.y_test, data.class_names,
                                                      loss=model.loss, images=images, rows=data.test_rows, **scored),
                        alerts_at_end=at_end)
    if alerts or not args.quiet:
        _say(summary(alerts, at_end), err=bool(args.log_json))
    chance = chance_level(data.y_test, len(data.class_names))  # of the rows scored, as the report's
    if at_chance(acc, chance):
        rows = "test" if data.held_out else "training"
        holding = any(item["cleared_by"] is None for item in at_end["alerts"])
        why = ("see the alerts above" if holding else
               ("every alert above cleared before the last epoch, so none names a cause" if alerts
                else "no alert rule named a cause (too few steps or epochs to judge)")
               + ": check that the labels belong to the features, then try more --epochs or another --lr")
        _say(f"WARNING: {rows} accuracy {acc:.4f} is at chance (always answering the most common class of the {rows} "
             f"labels scores {chance:.4f}): this network has not learned; {why}", err=True)


def _architecture(cfg: TrainConfig, data: _Data) -> str:
    return " → ".join(map(str, cfg.network_sizes(data.n_features, len(data.class_names))))


def _schedule_words(cfg: TrainConfig) -> str:
    spec = schedule_spec(cfg.schedule)
    if spec["type"] == "constant":
        return ""
    settings = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
    return f", {spec['type']} schedule ({settings})" if settings else f", {spec['type']} schedule"


def _plateau_note(cfg: TrainConfig, data: _Data) -> tuple[str, ...]:
    """The note for a plateau schedule watching a ``val_`` metric in a run without
    validation rows: it watches the training metric instead (as :class:`ReduceOnPlateau`
    documents), which early stopping refuses to do."""
    schedule = schedule_from_config(cfg.schedule)
    if (not isinstance(schedule, ReduceOnPlateau) or not schedule.monitor.startswith("val_")
            or data.validation is not None):
        return ()
    monitor = schedule.monitor  # no rows: a split of 0, or a default one too small for the file (said above)
    return (f"the plateau schedule monitors {monitor}, but this run holds out no validation rows: it watches the "
            f"training {monitor[4:]} instead; give a validation split that holds out rows to watch {monitor}",)


def _batch_words(cfg: TrainConfig, data: _Data) -> str:
    """The batch size as it trains: one of at least the training rows is the whole
    training split each step (full-batch gradient descent), and is said so."""
    n_train = len(data.x_train)
    if cfg.batch_size == "full":
        return f"full batch ({n_train} training rows)"
    if cfg.batch_size >= n_train:
        return f"batch {cfg.batch_size} (full batch: {n_train} training rows)"
    return f"batch {cfg.batch_size}"


def _rate_words(model: _Model) -> str:
    """The base rate α₀ and, for a resumed run with a schedule, the rate of its next epoch
    (the optimizer holds the rate of the last epoch trained, not the base)."""
    state = model.state
    if state is None or state.base_lr is None or state.schedule is None:
        return f"lr {model.optimizer.lr:g}"
    if isinstance(state.schedule, Constant):
        return f"lr {state.base_lr:g}"
    epoch = state.completed_epochs  # an epoch stopped midway is trained on from where it stopped
    return f"lr {state.base_lr:g} (epoch {epoch + 1} at {state.schedule.lr_at(epoch, state.base_lr):g})"


def _header(args, cfg: TrainConfig, out: Path, model: _Model, data: _Data) -> None:
    for note in data.notes + _plateau_note(cfg, data) + _threads_notes(args):  # said even with --quiet
        _say(f"note: {note}", err=True)
    if model.state is None:  # as fit warns (its warning is left out in _fit), in the options' words
        _idle_after_t_max_warning(cfg, data)
    if args.quiet:
        return
    if model.state is not None:
        action = f"resuming {out} at epoch {model.state.completed_epochs + 1}"
    else:
        action = f"training on {getattr(args, 'dataset', None) or cfg.dataset}"
    decay = f", weight decay {model.optimizer.weight_decay:g}" if model.optimizer.weight_decay else ""
    line = (f"{action}: {_architecture(cfg, data)}, {cfg.optimizer} {_rate_words(model)}{decay}"
            f"{_schedule_words(cfg)}, {_batch_words(cfg, data)}, inputs {describe_inputs(model.net)}, "
            f"{kernels.backend()} kernels")
    team = getattr(args, "team", None)
    if team is not None:  # --threads, where given, is what _fit passes on
        threads = team.threads if args.threads is None else _threads_option(args)
        line += f", {team.comm.Get_size()} MPI processes ({threads} BLAS thread{'s' if threads > 1 else ''} each)"
    _say(line, err=bool(args.log_json))
    if data.label_source:
        _say(f"labels: {data.label_source}", err=bool(args.log_json))


def _fit(args, cfg: TrainConfig, model: _Model, data: _Data, callbacks, threads) -> History:
    from .alerts import fixes_for

    batch_size = None if cfg.batch_size == "full" else cfg.batch_size
    schedule = None if model.state is not None else cfg.schedule
    team = getattr(args, "team", None)
    with contextlib.ExitStack() as stack:
        if team is not None:  # from here on Ctrl-C stops every rank at the same step
            stack.push(_ignoring_ctrl_c_once_stopped)  # left after the vote restores the handler
            team.agree(True, stack.enter_context(StopVote(team.comm)))
            threads = threads or team.threads
        stack.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore"))  # fit reports divergence
        stack.enter_context(fixes_for("cli"))  # the alerts' fixes name this command's flags, not fit's parameters
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message="EarlyStopping starts afresh")  # _early_stopping_note said it
        warnings.filterwarnings("ignore", message="the cosine schedule ends at epoch")  # _header said it
        warnings.filterwarnings("ignore", message="the (step|exponential) schedule .* takes the learning rate under")
        warnings.filterwarnings("ignore", message=r"X's column \d+ holds .*, the network's dtype")  # the data's note
        warnings.filterwarnings("ignore", message="resume= continues a run whose last epochs trained with")  # noted
        warnings.filterwarnings("ignore", message=r"threads=\d+: ")  # _header's note on --threads said it
        return fit(model.net, data.x_train, data.y_train, loss=model.loss, optimizer=model.optimizer, epochs=cfg.epochs,
                   steps=cfg.steps, batch_size=batch_size, batching=cfg.batching, seed=cfg.seed, validation=data.validation,
                   schedule=schedule, callbacks=callbacks, resume=model.state, threads=threads,
                   comm=None if team is None else team.comm)


def _early_stopping_note(args, callbacks, model: _Model) -> None:
    """A resume from a checkpoint that kept no early-stopping record (written before it was
    kept): say that early stopping starts afresh, so the run may end elsewhere."""
    stoppers = [cb for cb in callbacks if isinstance(cb, EarlyStopping)]
    state = model.state
    if state is None or not stoppers or stoppers[0].key in state.callback_records or state.completed_epochs == 0:
        return  # before the first epoch ends there is nothing to record
    _say(f"note: the checkpoint holds no early-stopping record (it was written by an older deltaprop), so early "
         f"stopping starts afresh at epoch {state.completed_epochs + 1} and may stop elsewhere than an uninterrupted "
         "run", err=True)


def _checkpoint_exploded(exc: TrainingDivergedError, writer: CheckpointWriter) -> bool:
    """Whether the checkpoint on disk holds weights that had already exploded, by fit's
    yardstick (:func:`~deltaprop.training.exploded_weights` against the weights fit began with),
    whichever epoch it is of: the epoch before the divergence, or an older one where the later
    writes had not been made (spaced in time) or failed. Where the writer does not know the
    checkpoint's weights, that of the epoch before is judged by fit's own finding."""
    if not writer.written_epoch:
        return False
    largest, start = writer.written_largest, getattr(exc, "start_weight", None)
    if largest is not None and start is not None:
        return exploded_weights(largest, start)
    return (bool(getattr(exc, "exploded", False)) and writer.written_batches is None
            and writer.written_epoch == exc.epoch - 1)


def _diverged(exc: TrainingDivergedError, cfg: TrainConfig, out: Path, writer: CheckpointWriter) -> int:
    checkpoint = out / "checkpoint.safetensors"
    again = f"train again from fresh weights: {PROG} train --config {out / 'config.toml'} --lr LOWER --out NEW_FOLDER"
    if not writer.written_epoch:
        kept = f"no epoch finished, so there is no checkpoint; {again}"
    elif _checkpoint_exploded(exc, writer):
        largest = writer.written_largest if writer.written_largest is not None else exc.largest_weight
        grown = "grown past any finite size" if not math.isfinite(largest) else f"grown to {largest:.3g} (largest |w|)"
        kept = (f"the last checkpoint ({_written(writer)}), {checkpoint}, holds weights that had already {grown}, too "
                f"large to train on: {again}")
    else:
        kept = f"the last good checkpoint ({_written(writer)}) is {checkpoint}"
    shown = f"; {exc.layer}" if getattr(exc, "layer", None) else ""
    _say(f"{PROG}: error: training diverged at epoch {exc.epoch}, step {exc.step} (the loss became NaN or "
         f"infinite{shown}); lower --lr (it was {cfg.lr:g}); {kept}", err=True)
    return 1


def _ignoring_ctrl_c():
    """After a Ctrl-C: a second one is ignored while its few files are written (atomically)
    and the line that says how to go on is printed; the command then ends, 130."""
    return ignored(signal.SIGINT)


def _ignoring_ctrl_c_once_stopped(kind, exc, tb) -> None:
    """An MPI rank stopped by Ctrl-C ignores SIGINT from then on, to its exit: a Ctrl-C in
    Python's shutdown (default handler back) killed it by the signal, which ``mpiexec``
    reports as a failed job (``BAD TERMINATION``, exit 2) after rank 0 said how to go on."""
    if kind is not None and issubclass(kind, KeyboardInterrupt):
        with contextlib.suppress(ValueError):  # not the main thread: nothing to change
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a SIGTERM stops the ranks as Ctrl-C does


def _alerts_standing(reporter, model: _Model, data: _Data) -> dict | None:
    """Which of the alerts raised so far still hold at the last finished epoch (for a run
    that diverged or was interrupted: its report says so of each, as a finished run's does)."""
    from .alerts import standing

    records = getattr(reporter, "records", None)
    if not records:
        return None
    return standing(History(records).alerts, records, _standing_context(reporter, model, data))


def _standing_context(reporter, model: _Model, data: _Data):
    """The context the run's alerts are judged in at its end: the one its diagnostics judged
    each epoch in (the training state's ``alert_context``: the classes' chance level, the
    optimizer with its rate and weight decay, the inputs' scaling, the probe loss before the
    first step), with the last record as the run's end (a stop, Ctrl-C or divergence ends it
    before its limits). Judged without the optimizer, an alert the weight decay raised
    (strong_decay) read as cleared while it still held. Where no epoch began in this
    session, that context as the command's model and data give it."""
    import dataclasses

    from .alerts import context_of
    from .callbacks import DiagnosticsRecorder

    state = getattr(reporter, "state", None)
    ctx = getattr(state, "alert_context", None)
    if ctx is None:
        ctx = context_of(model.net, model.loss, data.y_train, optimizer=model.optimizer)
        kept = (state.callback_records.get(DiagnosticsRecorder.key) or {}).get("start_loss") if state else None
        if isinstance(kept, (int, float)) and not isinstance(kept, bool) and math.isfinite(kept):
            ctx = dataclasses.replace(ctx, start_loss=float(kept))
    return dataclasses.replace(ctx, run_epochs=None, run_steps=None)  # standing takes the last record as the end


def _resume_command(args, out: Path) -> str:
    """The command that goes on with the run in ``out``: a resume that gave the run a new
    length gives it again, since the checkpoint on disk may still hold the old one (no epoch
    ended since), and a resume without it would finish the run at the old length."""
    length = [f"--{key} {value}" for key in ("epochs", "steps")
              if getattr(args, "resume", None) and (value := getattr(args, key, None)) is not None]
    return " ".join([f"{PROG} train --resume {out}", *length])


def _interrupted(args, out: Path, writer: CheckpointWriter, reporter, alerts_at_end=lambda: None) -> int:
    """Ctrl-C while training: the last completed epoch's checkpoint is kept (first), the
    report marked interrupted and showing that checkpoint's epochs and weights (a Ctrl-C
    between an epoch's record and its checkpoint left one more epoch in memory), and one line
    says how to go on. ``alerts_at_end``: a function giving the alerts standing then."""
    with _ignoring_ctrl_c():
        epoch = writer.save_on_interrupt()
        if reporter is not None:
            reporter.show_saved(writer.written_records or [])
            reporter.finish("interrupted", alerts_at_end=alerts_at_end())
    if epoch:
        _say(f"interrupted; {_the_checkpoint(writer)} is in {out}. Resume with: {_resume_command(args, out)}",
             err=True)
    elif not (out / "config.toml").is_file():  # stopped as it was written: the folder holds no run
        _say(f"interrupted before training began; nothing was saved in {out}. Run the same command again", err=True)
    else:
        _say("interrupted before the first epoch finished; nothing was saved to resume from. Start over with: "
             f"{_restart_line(out)}", err=True)
    return 130


def _written(writer: CheckpointWriter) -> str:
    """Where the checkpoint on disk stands: ``epoch N``, or, for one taken inside an epoch
    (a resumed run stopped by ``--steps``), ``B batches into epoch N``."""
    if writer.written_batches is None:
        return f"epoch {writer.written_epoch}"
    return f"{writer.written_batches:,} batches into epoch {writer.written_epoch} (a resume finishes that epoch)"


def _the_checkpoint(writer: CheckpointWriter) -> str:
    """``the checkpoint of epoch N``, or ``the checkpoint taken B batches into epoch N, ...``."""
    return f"the checkpoint {'of' if writer.written_batches is None else 'taken'} {_written(writer)}"


def _trained_words(state, epoch_batches: int | None = None) -> str:
    """What a run whose training ended has trained: ``4 epochs``, or, for one a ``--steps``
    limit stopped inside an epoch, ``2 epochs and 140 of the 180 batches of epoch 3``
    (``epoch_batches``: that epoch's batches, when the state does not hold them)."""
    progress = getattr(state, "progress", None)
    if progress is None or not progress.batches:
        return f"{state.epoch} epoch{'s' if state.epoch != 1 else ''}"
    done, total = progress.epoch, epoch_batches or getattr(state, "epoch_batches", None)
    of = f" of the {total:,}" if total else ""
    return f"{done} epoch{'s' if done != 1 else ''} and {progress.batches:,}{of} batches of epoch {done + 1}"


def _interrupted_finishing(out: Path, reporter, epochs: str) -> int:
    """Ctrl-C while the trained run's model and results are written: unless they all
    were (run.json says done), the report is marked interrupted and the line says that a
    resume writes what is missing. ``epochs``: what it trained (:func:`_trained_words`)."""
    if recorded_status(out) == "done":
        _say(f"interrupted; the run had finished and its files are in {out}", err=True)
        return 130
    if reporter is not None:
        with _ignoring_ctrl_c():
            reporter.finish("interrupted")
    _say(f"interrupted while writing the results; the run's {epochs} are trained and checkpointed in {out}. "
         f"Write its model and results with: {PROG} train --resume {out}", err=True)
    return 130


def _failed_finishing(exc: OSError, out: Path, reporter, epochs: str) -> int:
    """A file of the trained run's model and results could not be written (a full disk):
    unless run.json already says done, the report says failed (not training for ever) and
    the line says that a resume writes what is missing once that is fixed."""
    if recorded_status(out) == "done":
        raise exc
    if reporter is not None:
        with contextlib.suppress(OSError):
            reporter.finish("failed")
    _say(f"{_os_error_line(exc)}; the run's {epochs} are trained and checkpointed in {out}. Once that is "
         f"fixed, write its model and results with: {PROG} train --resume {out}", err=True)
    return 1


def _finish(args, cfg: TrainConfig, out: Path, model: _Model, data: _Data, meta: dict, records, reporter) -> int:
    """Write the model, the history plot and the report; print the test accuracy, the
    alerts' summary, the training time (the report's: :attr:`ReportWriter.training_seconds`)
    and what was written."""
    from .report import model_weights, training_words

    save(model.net, out / "model.safetensors", **meta)
    state = reporter.state if reporter is not None else None
    weights = model_weights(state) if state is not None and records else {}
    kept = weights.get("epoch")  # early stopping's best
    partial = (weights["batches"], weights["epoch_batches"]) if "batches" in weights else None  # a stop inside it
    plot_history(records, out / "history.png", title=f"{cfg.dataset}: {_architecture(cfg, data)}", model_epoch=kept,
                 partial=partial)
    acc = accuracy(data.y_test, model.net.predict(data.x_test))
    _report_results(args, reporter, model, data, data.x_test, acc, records)
    if getattr(args, "serve", None) is None:  # every file is written (a served page waits for Ctrl-C)
        _work_done()
    if args.log_json:
        summary = {"test_accuracy" if data.held_out else "training_accuracy": acc,
                   "test_examples" if data.held_out else "training_examples": int(len(data.y_test)),
                   "out": str(out), "seconds": reporter.training_seconds}
        _say(json.dumps(summary))
    else:
        if data.held_out:
            _say(f"test accuracy {acc:.4f} on {len(data.y_test)} examples ({training_words(reporter.facts)})")
        else:
            _say(f"training accuracy {acc:.4f} on all {len(data.y_test)} examples ({training_words(reporter.facts)})")
            _say(f"WARNING: {_NO_TEST_SET}", err=True)
        _say(f"wrote {out}/: {', '.join(_RUN_FILES)}")
    return 0


def _model_meta(cfg: TrainConfig, data: _Data) -> dict[str, Any]:
    """What a run's model and checkpoints record besides the network: class names (their
    kind, so the scikit-learn wrapper restores integer labels as integers), the config, and
    the range of the raw training inputs (before any scaling layer: the levels ``serve`` and
    ``predict`` scale an image's 0..255 to, as for 8x8 digits of 0..16 under ``--scaling none``)."""
    ids = data.class_names == tuple(str(c) for c in range(len(data.class_names)))
    extra = {"config": cfg.as_dict(), "dataset": cfg.dataset, "classes_kind": "i" if ids else "U"}
    if data.file is not None:
        extra["data_file"] = data.file
    if data.feature_names is not None:  # a CSV header's names: evaluate reads other files' columns by them
        extra["feature_names"] = list(data.feature_names)
    return {"class_names": data.class_names, "extra": extra, "input_range": input_range_of(data.x_train),
            "input_shape": _input_shape(cfg, data)}


def _input_shape(cfg: TrainConfig, data: _Data) -> tuple[int, ...] | None:
    """The shape of one training example before flattening, which the model records (its
    report and served page draw its images by it): ``--input-shape``, else an .npz file's
    images', a named image dataset's; None for a table's rows (a CSV file's, parity's)."""
    if cfg.input_shape is not None:
        return tuple(cfg.input_shape)
    shape = data.file.get("shape") if data.file is not None else None
    if shape is None and not _is_file_dataset(cfg.dataset):
        shape = IMAGE_SHAPES.get(cfg.dataset.lower().replace("_", "-"))
    return tuple(shape) if shape is not None else None


def _checkpoint_writer(out: Path, model: _Model) -> CheckpointWriter:
    """The run's checkpoint writer; a resumed run's knows the checkpoint it resumed from is on disk."""
    writer = CheckpointWriter(out)
    if model.state is not None:
        writer.written_largest = largest_weight(p.value for p in model.net.parameters())
        writer.written_epoch = model.state.epoch
        writer.written_batches = None if model.state.progress is None else model.state.progress.batches
        writer.written_records = list(model.state.history.records)
    return writer


def _run(args, cfg: TrainConfig, out: Path, model: _Model, data: _Data, threads,
         overwritten: _Overwritten | None = None) -> int:
    """Train in ``out`` (locked by the caller): config.toml, then checkpoints and history
    while training, then the model; errors of the loop become messages and exit codes.
    ``overwritten``: the previous run's files, removed once training begins."""
    writer = _checkpoint_writer(out, model)
    config = _Kept(out / "config.toml") if model.state is not None else None  # a refused resume puts it back
    reporter = server = None
    try:  # from the first file written on, Ctrl-C leaves a folder that says how to go on
        atomic_write_bytes(out / "config.toml", cfg.to_toml().encode())
        writer.meta = meta = _model_meta(cfg, data)  # reads every training row when they are on disk
        model.net.input_shape = meta["input_shape"]  # the report draws its weights by it
        server = _serve_in_background(args, out)
        reporter = _reporter(args, cfg, out, data)
        callbacks = [*([overwritten] if overwritten is not None else []), *_callbacks(args, cfg, writer), reporter]
        _header(args, cfg, out, model, data)
        _early_stopping_note(args, callbacks, model)
        history = _fit(args, cfg, model, data, callbacks, threads)
    except TrainingDivergedError as exc:
        reporter.show_saved(writer.written_records or [])
        reporter.finish("diverged", alerts_at_end=_alerts_standing(reporter, model, data),
                        diverged={"epoch": exc.epoch, "step": exc.step, "lr": cfg.lr, "message": str(exc),
                                  "checkpoint_exploded": _checkpoint_exploded(exc, writer)})
        return _diverged(exc, cfg, out, writer)
    except KeyboardInterrupt:
        _release_team(args)
        if overwritten is not None and overwritten.put_back():  # training had not begun: nothing is lost
            _say(f"interrupted before training began; the run it was to overwrite is kept in {out}", err=True)
            return 130
        return _interrupted(args, out, writer, reporter, lambda: _alerts_standing(reporter, model, data))
    except OSError as exc:  # a checkpoint or record could not be written: the report must not say training for ever
        if isinstance(exc, Error) and reporter is None:  # refused before training (--serve's port is taken):
            if config is not None:
                config.put_back()
            raise  # the caller leaves the folder as the start found it
        if reporter is not None:
            with contextlib.suppress(OSError):
                reporter.finish("failed", alerts_at_end=_alerts_standing(reporter, model, data))
        # before training began (config.toml, or a read or write after it), the run it was to overwrite is kept
        back = not writer.written_epoch and overwritten is not None and overwritten.put_back()
        if writer.written_epoch:
            kept, then = f"{_the_checkpoint(writer)} is kept", f"go on with: {_resume_command(args, out)}"
        elif back or not (out / "config.toml").is_file():  # config.toml itself could not be written
            kept = "nothing was written" + (" (the run it was to overwrite is kept)" if back else "")
            then = "run the same command again"
        else:  # nothing to resume from: a resume would refuse the folder
            kept, then = "no checkpoint was written", f"start it over with: {_restart_line(out)}"
        _say(f"{_os_error_line(exc)}; {kept}. Once that is fixed, {then}", err=True)
        return 1
    except (Error, _TeamStopped):  # refused (by fit's checks, or another MPI process could not start)
        if config is not None and writer.state is None:  # before training began: the resumed run is as it was
            config.put_back()
        raise
    status = _after_training(args, cfg, out, model, data, meta, history, callbacks, reporter)
    return status if server is None else _keep_serving(server, status)


def _after_training(args, cfg: TrainConfig, out: Path, model: _Model, data: _Data, meta, history, callbacks,
                    reporter) -> int:
    """The run's last files and words once training ended; Ctrl-C or a failed write while
    they are written says what is kept."""
    try:
        _end_of_training_notes(args, callbacks, reporter)
        _put_back_lost_config(out, cfg)
        return _finish(args, cfg, out, model, data, meta, history.records, reporter)
    except KeyboardInterrupt:
        return _interrupted_finishing(out, reporter, _trained_words(reporter.state))
    except OSError as exc:
        return _failed_finishing(exc, out, reporter, _trained_words(reporter.state))


def _put_back_lost_config(out: Path, cfg: TrainConfig) -> None:
    """config.toml is written as a run starts; gone when it ends, the folder was removed or
    moved meanwhile and made again by the files written since (checkpoints, history, the
    report): write it again, so that the folder holds the whole run, and say so."""
    if (out / "config.toml").is_file():
        return
    atomic_write_bytes(out / "config.toml", cfg.to_toml().encode())
    _say(f"note: {out / 'config.toml'} was gone when training ended (was {out} removed or moved meanwhile?); "
         f"it is written again with the run's other files, and {out} holds the run from here on", err=True)


def _end_of_training_notes(args, callbacks, reporter) -> None:
    """Early stopping's report, then any change of the BLAS threads during the run."""
    for callback in callbacks:
        report = callback.report() if isinstance(callback, EarlyStopping) else None
        if report:
            _say(report, err=bool(args.log_json))
    _thread_changes_note(getattr(reporter, "state", None))


def _thread_changes_note(state) -> None:
    """Say when the BLAS threads changed during the run (its steps slowed down: another
    process took a CPU; or the probe of a run started on one thread, at a fixed step),
    since such a run's bits cannot be repeated with one --threads."""
    probed = set(getattr(state, "thread_probe", None) or ())
    changes = list(getattr(state, "thread_changes", None) or ())
    tried = [change for change in changes if change[0] in probed]
    changes = [change for change in changes if change[0] not in probed]
    if tried:
        moves = ", ".join(f"{threads} from step {step}" for step, threads in tried)
        _say(f"note: a timed probe changed the BLAS threads to keep the faster count: {moves}. A rerun repeats "
             "these bits only where its probe chooses the same; pass --threads N to train on one count", err=True)
    if changes:
        moves = ", ".join(f"{threads} from step {step}" for step, threads in changes)
        _say(f"note: the steps slowed down while training (another process took a CPU?), so the BLAS threads "
             f"changed: {moves}. A rerun gives other bits; pass --threads N to train on one count", err=True)


def _release_team(args) -> None:
    """Ctrl-C on rank 0 before training began: the other ranks, waiting to agree on the
    start, stop as interrupted too."""
    team = getattr(args, "team", None)
    if team is not None and not team.agreed:
        with contextlib.suppress(KeyboardInterrupt, _TeamStopped):
            team.agree(False, interrupted=True)


def _serve_in_background(args, out: Path):
    """``train --serve``: the run's page, served from a thread while training runs."""
    if getattr(args, "serve", None) is None:
        return None
    from .serve import serve_in_background

    return serve_in_background(out, port=_int_option("--serve", args.serve, allow_zero=True))


def _keep_serving(server, status: int) -> int:
    from .serve import keep_serving

    return keep_serving(server, status)


def _lock(out: Path) -> RunLock:
    lock = RunLock(out).acquire()
    if lock.note:
        _say(lock.note, err=True)
    return lock


def _resume(args, flags: dict[str, Any], threads) -> int:
    out = _resume_folder(args, flags)
    lock = _lock(out)
    try:
        _restore_overwritten(out)
        cfg, checkpoint = _resume_config(out, flags)
        _check_not_exploded(out)
        data = _team_data(args, cfg, lambda: _resumed_data(cfg, args))
        _check_unchanged(checkpoint.extra.get("data_file"), data, cfg.dataset, _other_data_fix(out, cfg))
        model = _resumed_model(checkpoint)
        if not _run_is_complete(cfg, model.state):  # the schedule's notes and checks speak of epochs to train
            _threads_note(threads, model.state, out, args)
            _update_forms_note(model.state)
            _check_schedule_covers(cfg, checkpoint, model, data)
            _step_schedule_note(cfg, checkpoint, model, data)
            _cosine_short_note(cfg, checkpoint, model, data)
            _check_shares(args, cfg, data)
            return _run(args, cfg, out, model, data, threads)
        return _finish_complete_run(args, cfg, out, model, data)
    finally:
        lock.release()


def _other_data_fix(out: Path, cfg: TrainConfig) -> str:
    """What to do when a resumed run's data file holds other rows than it trained on: a
    resume goes on with the run's own rows only (its shuffled order and place in the epoch
    are theirs). ``train`` starts a new run from fresh weights; training the model further
    on the new rows is done in Python, from the checkpoint's weights."""
    label = "" if cfg.label_column is None else f", label_column={cfg.label_column!r}"
    return (f"restore the file the run trained on to resume; to train on this one, start a new run: {PROG} train "
            f"--config {out / 'config.toml'} --out NEW_FOLDER (fresh weights), or train this run's model further in "
            f"Python: net = deltaprop.load({str(out / 'checkpoint.safetensors')!r}); x, y = "
            f"deltaprop.data.load_arrays({cfg.dataset!r}{label}); deltaprop.fit(net, x, y, ...)")


def _check_not_exploded(out: Path) -> None:
    """Refuse to resume from a checkpoint the run's divergence found exploded: the resume's
    own divergence check measures growth from where it starts, so it would train on (and call
    good) weights already too large to train on."""
    facts = recorded_facts(out) or {}
    where = facts.get("diverged")
    if facts.get("status") == "diverged" and isinstance(where, dict) and where.get("checkpoint_exploded") is True:
        raise UsageError(f"{out / 'checkpoint.safetensors'} holds weights that had already exploded when the run "
                         f"diverged (epoch {where.get('epoch')}); a resume would start from them. Train again from "
                         f"fresh weights: {PROG} train --config {out / 'config.toml'} --lr LOWER --out NEW_FOLDER")


def _resumed_data(cfg: TrainConfig, args) -> _Data:
    """The resumed run's data; its file gone is told with the fix (a resume keeps its
    ``--dataset``, so the file must be back where the run trained on it)."""
    try:
        return _training_data(cfg, mapped=_on_ranks(args))
    except DatasetNotFoundError as exc:
        if not _is_file_dataset(cfg.dataset) or Path(cfg.dataset).exists():
            raise
        raise DatasetNotFoundError(f"{str(exc).rstrip('.')}; the run trained on this file: put it back there to resume "
                                   "(a resume keeps the run's --dataset), or start a new run on another file") from None


def _threads_note(threads: int | None, state: TrainingState, out: Path, args) -> None:
    """``--resume --threads N`` on a run trained on other BLAS threads trains on, but its
    GEMMs now sum in another order: say that the result is no longer the bits of one run. A
    resume on another number of MPI processes (the state's, or for a checkpoint written
    before it kept them, run.json's last session's) cannot repeat the bits anyway and
    chooses its threads as a new run does (``fit``): on one process, say that instead (over
    MPI the header line gives the threads of each process)."""
    processes = 1 if getattr(args, "team", None) is None else args.team.comm.Get_size()
    if state.processes is None:  # an older checkpoint: the processes its last session trained on
        sessions = earlier_sessions(recorded_facts(out))
        state.processes = sessions[-1].get("processes") if sessions else None  # a count >= 1, or None
    if state.processes is not None and state.processes != processes:
        if processes == 1:
            each = f" ({state.threads} BLAS thread{'s' if state.threads > 1 else ''} each)" if state.threads else ""
            chosen = (f"trains on --threads {threads}" if threads is not None
                      else "chooses its BLAS threads as a new run does (pass --threads N to set them)")
            _say(f"note: the run's last epochs trained on {state.processes} MPI processes{each}; resumed on one "
                 f"process, it {chosen}, so its next epochs round differently from an uninterrupted run's", err=True)
        return
    if threads is not None and state.threads is not None and threads != state.threads:
        _say(f"note: --threads {threads}: the run's last epochs trained on {state.threads} BLAS thread(s); its next "
             f"epochs round differently, so the model will not be bit for bit the one an uninterrupted run on "
             f"{state.threads} gives (leave out --threads to keep {state.threads})", err=True)
    elif threads is None and state.threads is not None and state.threads > (allowed := _blas_threads_now()):
        # fit keeps the run's count only up to what this process may use (fewer CPUs, a BLAS limit)
        _say(f"note: the run's last epochs trained on {state.threads} BLAS threads, more than the {allowed} this "
             f"process may use now (its CPUs or a BLAS thread limit); its next epochs train on {allowed} and round "
             f"differently, so the model will not be bit for bit an uninterrupted run's (--threads {state.threads} "
             f"keeps them, slowly where the CPUs are fewer)", err=True)


def _update_forms_note(state: TrainingState) -> None:
    """Say so when a resume trains with other update forms than the run's last session did
    (another ``DELTAPROP_KERNELS``, numba installed or removed since, another
    ``DELTAPROP_BLAS_UPDATES``): each rounds differently, so the bits are no longer one run's."""
    changed = changed_update_forms(state)
    if changed:
        then, here = update_forms_words(changed)
        _say(f"note: the run's last epochs trained with {then}, this resume with {here} (DELTAPROP_KERNELS, "
             "DELTAPROP_BLAS_UPDATES, numba installed or not); they round differently, so the model will not be bit "
             "for bit an uninterrupted run's (resume where they are as before to keep it)", err=True)


def _blas_threads_now() -> int:
    """The BLAS threads a resumed ``fit`` may keep now (:func:`deltaprop.training._fit_threads`)."""
    from .training import _blas_default

    return _blas_default()


def _unwritten(out: Path) -> list[str]:
    """What a run whose epochs are all trained has not written yet (empty: nothing; a
    run.json that does not say done means the last files were cut short)."""
    missing = [name for name in ("model.safetensors", "history.png", "evaluation.json") if not (out / name).is_file()]
    status = recorded_status(out)
    if status not in (None, "done"):
        missing.append(f"the final report (run.json says {status})")
    return missing


def _finish_complete_run(args, cfg: TrainConfig, out: Path, model: _Model, data: _Data) -> int:
    """``--resume`` of a run with every epoch trained: refused when its files are all
    written, else the model and results are written from the checkpoint (the run was
    stopped or killed while writing them): an ``--epochs``/``--steps`` it trained past is refused, since
    the model and config.toml would record it; one it reached ends the run there."""
    missing = _unwritten(out)
    if not missing:
        raise _nothing_to_train(cfg, model.state)
    if model.state.progress is not None:  # stopped inside an epoch by --steps: the report says how far
        model.state.epoch_batches = _batches_per_epoch(cfg, data)
    words = _trained_words(model.state)
    trained = {"epochs": model.state.epoch, "steps": model.state.step}
    given = " and ".join(f"--{key} {value}" for key, value in (("epochs", cfg.epochs), ("steps", cfg.steps))
                         if value is not None and value < trained[key])
    if given:
        raise ConfigError(f"the run already trained {words} ({model.state.step} steps), past "
                          f"{given}; leave {given} out to write its model and results, or start a new run")
    if not args.quiet:
        what = ("model.safetensors is missing; writing it from the checkpoint" if missing[0] == "model.safetensors"
                else f"its results were not all written ({', '.join(missing)}); writing them from the checkpoint")
        _say(f"{out}: the run's {words} are complete but {what}")
    _keep_best_weights(cfg, model)
    model.net.input_shape = _input_shape(cfg, data)  # the report draws its weights by it
    reporter = _reporter(args, cfg, out, data)
    reporter.take_over(recorded_facts(out), model.state)
    records = model.state.history.records
    try:  # config.toml reruns this run: a resume stopped before its first epoch ended left its new length there
        atomic_write_bytes(out / "config.toml", cfg.to_toml().encode())
        return _finish(args, cfg, out, model, data, _model_meta(cfg, data), records, reporter)
    except KeyboardInterrupt:
        return _interrupted_finishing(out, reporter, words)
    except OSError as exc:
        return _failed_finishing(exc, out, reporter, words)


class _Team:
    """The processes of an ``mpiexec`` run: rank 0 runs ``train`` as one process would and
    writes the run folder; the others build the same model from the same options, train
    beside it silently and write nothing. Before training every rank says whether it got
    ready (a few integers gathered from every rank, no pickled objects), so an error on any
    rank stops all of them instead of leaving the rest waiting in a collective, and every
    rank exits with the same status (``mpiexec`` combines the ranks' statuses bit by bit: 2
    on one rank and 1 on another made 3). Before that, rank 0 tells the others once whether
    it got past what may download the dataset (:meth:`data_ready`)."""

    def __init__(self, comm):
        from .distributed import threads_per_rank

        self.comm, self.rank, self.agreed = comm, comm.Get_rank(), False
        self.data_told, self.data_ok = False, False
        self.same_error_as_rank_0 = False
        self.status = 0  # the exit status of the first rank that could not start
        self.threads = threads_per_rank(comm)

    def agree(self, ready: bool, vote=None, *, interrupted: bool = False, error: str | None = None,
              status: int = 0) -> None:
        """Raise _TeamStopped when a rank is not ready, KeyboardInterrupt on every rank when
        one was interrupted (``vote`` marked, or Ctrl-C while loading) before training.
        A rank not ready because of ``error`` (its exit ``status``) learns whether rank 0
        stopped with the same message (``same_error_as_rank_0``: then only rank 0 prints
        it); every rank learns the status of the first rank not ready (``status``)."""
        if self.agreed:
            return
        import zlib

        self.data_ready(False)  # a rank stopped before the data: the broadcast every rank takes first
        self.agreed = True
        interrupted = interrupted or (vote is not None and vote.asked)
        digest = -1 if error is None else zlib.crc32(error.encode())
        mine = np.array([int(ready), int(not interrupted), digest, status], dtype=np.int64)
        table = np.zeros((self.comm.Get_size(), 4), dtype=np.int64)
        self.comm.Allgather(mine, table)
        self.same_error_as_rank_0 = error is not None and table[0, 2] == digest
        if not table[:, 1].min():
            raise KeyboardInterrupt
        if not table[:, 0].min():
            self.status = int(table[np.argmin(table[:, 0]), 3])
            raise _TeamStopped(self.status)


    def data_ready(self, ok: bool = True) -> bool:
        """Whether rank 0 got its data (``ok``, on rank 0): one broadcast of one integer that
        every rank takes once, before :meth:`agree` (which takes it where a rank stopped
        before; so the others wait for rank 0 and never for a broadcast it skipped)."""
        if not self.data_told:
            self.data_told = True  # first: a Ctrl-C just after the broadcast must not take it twice
            flag = np.array([int(ok)], dtype=np.int64)
            self.comm.Bcast(flag, root=0)
            self.data_ok = bool(flag[0])
        return self.data_ok


def _team_data(args, cfg: TrainConfig, load: Callable[[], _Data]) -> _Data:
    """``load()``; over MPI, for a dataset that may be downloaded (MNIST, Fashion-MNIST), rank 0
    loads it first while the others wait, then they read the copy it stored: one download,
    not one per process. When rank 0 could not (a download that failed), the others stop
    without loading (:class:`_TeamStopped`, rank 0's status) and rank 0 reports why, once."""
    team = getattr(args, "team", None)
    if team is None:
        return load()
    if team.rank == 0:
        if _idx_spec(cfg.dataset) is None:  # nothing to download: the ranks load side by side
            team.data_ready(True)
        data = load()  # an error reaches agree(), which tells the others first
        team.data_ready(True)
        return data
    if not team.data_ready():
        team.agree(False)  # raises _TeamStopped with rank 0's status
    return load()


def _check_shares(args, cfg: TrainConfig, data: _Data) -> None:
    """Over MPI, refuse batches that would leave a process no row before the run folder is
    touched (a refused run must not leave a config.toml that blocks the corrected one)."""
    team = getattr(args, "team", None)
    if team is not None:
        from .distributed import check_shares

        batch_size = None if cfg.batch_size == "full" else cfg.batch_size
        check_shares(len(data.y_train), batch_size, team.comm.Get_size(), batching=cfg.batching,
                     resumed=bool(getattr(args, "resume", None)))


def _on_ranks(args) -> bool:
    """Whether this ``train`` is one process of an ``mpiexec`` run."""
    return getattr(args, "team", None) is not None


class _TeamStopped(Exception):
    """Another rank could not start (rank 0 reports why); ``status`` is that rank's exit status."""

    def __init__(self, status: int = 1):
        super().__init__(status)
        self.status = status


def _train_on_ranks(args, comm) -> int:
    args.team = team = _Team(comm)
    interrupted = False
    try:
        if team.rank == 0:
            return _train(args)
        status = _follow(args, team)
        if getattr(args, "serve", None) is not None:  # rank 0 serves on until Ctrl-C; this one only waits
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # for it at exit, which Ctrl-C must not cut short
        return status
    except (Error, OSError, UsageError) as exc:
        status = 2 if isinstance(exc, (ConfigError, UsageError)) else 1
        if team.rank != 0 and getattr(exc, "on_every_rank", False):
            return status  # raised on every rank: rank 0 reports it
        if not team.agreed:  # an error while getting ready: rank 0 reports one that the others share
            with contextlib.suppress(_TeamStopped, KeyboardInterrupt):
                team.agree(False, error=_one_line(exc), status=status)
            if team.rank != 0 and team.same_error_as_rank_0:
                return status
            if team.rank != 0 and team.status != status:  # its own error; the job exits with rank 0's status
                _say(f"{PROG}: error: {_one_line(exc)}", err=True)
                return team.status
        raise
    except _TeamStopped as stopped:
        if team.rank == 0:
            _say(f"{PROG}: error: another MPI process could not start training (its error is above)", err=True)
        return stopped.status
    except KeyboardInterrupt:
        interrupted = True
        if team.rank == 0:
            raise
        return 130
    finally:  # stopped before training: release the others (a Ctrl-C there is reported once, above)
        with contextlib.suppress(_TeamStopped, KeyboardInterrupt):
            team.agree(False, interrupted=interrupted)


def _follow(args, team: _Team) -> int:
    """A rank other than 0: the same model and data as rank 0, trained silently."""
    flags = _train_flags(args)
    threads = _threads_option(args)
    args.quiet, args.log_json = True, False
    if args.resume:
        folder = _resume_folder(args, flags)
        if not team.data_ready():  # rank 0 first puts back what a killed --overwrite set aside (_resume)
            team.agree(False)  # raises _TeamStopped with rank 0's status
        cfg, checkpoint = _resume_config(folder, flags)  # as rank 0 reads it
        data = _team_data(args, cfg, lambda: _training_data(cfg, mapped=True))
        model = _resumed_model(checkpoint)
        if _run_is_complete(cfg, model.state):  # rank 0 says why, or writes the missing model file
            try:
                team.agree(False)
            except _TeamStopped as stopped:
                return stopped.status
            return 0
    else:
        cfg = _new_config(args, flags)
        data = _team_data(args, cfg, lambda: _training_data(cfg, mapped=True,
                                                            default_split=_split_is_default(args, flags)))
        model = _new_model(cfg, data)
    try:
        _fit(args, cfg, model, data, _deciding_callbacks(cfg), threads)
    except TrainingDivergedError:
        return 1  # rank 0 reports it and keeps the checkpoint
    except KeyboardInterrupt:
        return 130  # every rank stopped at the same step; rank 0 reports it and keeps the checkpoint
    return 0


def cmd_train(args) -> int:
    from .distributed import sigterm_as_ctrl_c, world

    comm = world()
    if comm is not None:
        try:
            with sigterm_as_ctrl_c():  # while the data loads too: mpiexec forwards a SIGTERM to every rank
                status = _train_on_ranks(args, comm)
        except KeyboardInterrupt:
            _ignoring_ctrl_c_once_stopped(KeyboardInterrupt, None, None)
            if not StopVote.terminated:
                raise
            _say("interrupted", err=True)
            return 128 + signal.SIGTERM
        if status == 130:
            _ignoring_ctrl_c_once_stopped(KeyboardInterrupt, None, None)
        return 128 + signal.SIGTERM if status == 130 and StopVote.terminated else status
    # SIGTERM (kill, systemd, docker stop, a batch scheduler's time limit) stops a one-process
    # run as Ctrl-C does: the last finished epoch's checkpoint is kept, run.json says
    # interrupted, and the command ends 143.
    with interrupt_once(signal.SIGTERM) as terminated:
        try:
            status = _train(args)
        except KeyboardInterrupt:  # before a run folder was made (the data loading)
            if not terminated:
                raise
            _say("interrupted", err=True)
            status = 130
    return 128 + signal.SIGTERM if terminated and status == 130 else status


def _train(args) -> int:
    kernels.backend()  # DELTAPROP_KERNELS and DELTAPROP_BLAS_UPDATES refused before any work
    vector_blas.check_environment()
    flags = _train_flags(args)
    threads = _threads_option(args)
    if args.resume:
        return _resume(args, flags, threads)
    cfg = _new_config(args, flags)
    data = _team_data(args, cfg, lambda: _training_data(cfg, mapped=_on_ranks(args),
                                                        default_split=_split_is_default(args, flags)))
    model = _new_model(cfg, data)
    _check_shares(args, cfg, data)
    out = _new_run_folder(args.out)
    lock = _lock(out)
    overwritten = None
    refused = False
    try:
        _restore_overwritten(out)
        overwritten = _claim_contents(out, args.overwrite)
        try:
            return _run(args, cfg, out, model, data, threads, overwritten)
        except (Error, _TeamStopped):
            refused = True
            if overwritten is None or not overwritten.put_back():
                _forget_unstarted(out)
            raise
    finally:
        if overwritten is not None:
            overwritten.drop()
        lock.release()
        if refused and not args.out:  # the runs/<date-time> folder made for it, left empty: not left behind
            with contextlib.suppress(OSError):
                out.rmdir()


def _forget_unstarted(out: Path) -> None:
    """A new run refused before training began (another MPI process could not start, or the
    processes were given different runs) wrote config.toml alone: it is removed, so that the
    corrected command may use the folder as a refusal before the folder does (no --overwrite)."""
    if {p.name for p in out.iterdir()} & set(_RUN_FILES) == {"config.toml"}:
        with contextlib.suppress(FileNotFoundError):
            (out / "config.toml").unlink()


def cmd_report(args) -> int:
    from .report import rebuild

    _say(f"wrote {rebuild(args.run)}")
    return 0


# -- evaluate / predict -----------------------------------------------------------------------------
def _model_path(path: str | Path) -> Path:
    """A model file, or the model.safetensors of a run folder."""
    path = Path(path)
    if path.is_dir() and (path / "model.safetensors").is_file():
        note = _earlier_model_note(path)
        if note:
            _say(note, err=True)
        return path / "model.safetensors"
    if path.is_dir() and any((path / name).is_file() for name in ("checkpoint.safetensors", "config.toml", "run.json")):
        raise Error(_no_model_words(path))
    _refuse_sweep_folder(path, "model.safetensors")
    return path


def _refuse_sweep_folder(path: Path, missing: str) -> None:
    """Refuse a sweep's folder given where a run folder or model is asked for, naming one of
    its trials' run folders (the generic refusal would ask for a file the folder never holds)."""
    words = sweep_folder_words(path) if path.is_dir() else None
    if words:
        raise ModelFileError(f"{path} holds no {missing}: {words}")


def _earlier_model_note(out: Path) -> str | None:
    """A note when the run folder's model.safetensors is not of its run as it stands: the
    run was resumed after an earlier session wrote the model (``train --resume`` with more
    epochs) and is training, or stopped, interrupted, diverged or failed, so its last
    checkpoint has other weights than the model (and than the best epoch's early stopping
    keeps). None when the run is done or the model is of its checkpoint."""
    from .report import UNFINISHED
    from .runlock import is_held

    held = is_held(out)
    status = "training" if held else recorded_status(out)
    checkpoint = out / "checkpoint.safetensors"
    if status not in UNFINISHED or not checkpoint.is_file():
        return None
    try:
        ck, model = read_model(checkpoint), read_model(out / "model.safetensors")
    except (Error, OSError):
        return None  # the command itself says what is wrong with the model; a damaged checkpoint is no evidence
    if not isinstance(ck, Checkpoint):
        return None
    weights = [p.value for p in model.net.parameters()]
    for kept in ([p.value for p in ck.net.parameters()], *ck.saved_weights.values()):
        if len(kept) == len(weights) and all(np.shape(a) == np.shape(b) and np.array_equal(a, b)
                                             for a, b in zip(kept, weights)):
            return None
    earlier = (f"note: {out}/model.safetensors was written by an earlier session of its run, not at its last "
               f"checkpoint (epoch {ck.epoch})")
    if held:
        return f"{earlier}: the run is training again, and its model is written when it ends"
    if status == "diverged":
        where = (recorded_facts(out) or {}).get("diverged")
        if isinstance(where, dict) and where.get("checkpoint_exploded") is True:
            lr = where.get("lr")
            was = f" (it was {lr:g})" if isinstance(lr, (int, float)) and not isinstance(lr, bool) else ""
            return (f"{earlier}: the run diverged after it, and its last checkpoint, {checkpoint}, holds weights that "
                    f"had already exploded; train again from fresh weights with a lower learning rate{was}: "
                    f"{PROG} train --config {out / 'config.toml'} --lr LOWER --out NEW_FOLDER")
        return f"{earlier}: the run diverged after it; its last good checkpoint is {checkpoint}"
    stopped = {"interrupted": "was interrupted", "failed": "failed to write its files"}.get(
        status, "ended without recording how (killed, or its last files could not be written)")
    return (f"{earlier}: the run {stopped} after it; give {checkpoint} for the run as it stands, or finish it "
            f"with: {PROG} train --resume {out}")


def _no_model_words(out: Path) -> str:
    """Why the run folder ``out`` holds no model.safetensors yet, and what to use instead."""
    from .runlock import is_held

    checkpoint = out / "checkpoint.safetensors"
    if is_held(out):
        kept = f"; its last checkpoint is {checkpoint}" if checkpoint.is_file() else ""
        return f"{out} holds no model.safetensors yet: its run is still training (the model is written when it ends){kept}"
    facts = recorded_facts(out)
    if facts is not None and facts.get("status") == "diverged":  # a resume repeats the same steps: it diverges again
        where = facts.get("diverged")
        lr = where.get("lr") if isinstance(where, dict) else None
        was = f" (it was {lr:g})" if isinstance(lr, (int, float)) and not isinstance(lr, bool) else ""
        again = (f"train again with a lower learning rate{was}: {PROG} train --config {out / 'config.toml'} "
                 "--lr LOWER --out NEW_FOLDER")
        if checkpoint.is_file() and isinstance(where, dict) and where.get("checkpoint_exploded") is True:
            return (f"{out} holds no model.safetensors: its run diverged, and its last checkpoint, {checkpoint}, holds "
                    f"weights that had already exploded; {again.replace('train again', 'train again from fresh weights')}")
        if checkpoint.is_file():
            return (f"{out} holds no model.safetensors: its run diverged, and resuming it would diverge again. Give its "
                    f"last good checkpoint, {checkpoint}, or {again}")
        return f"{out} holds no model.safetensors: its run diverged before its first epoch ended; {again}"
    if checkpoint.is_file() and facts is None and not (out / "config.toml").is_file():
        return (f"{out} holds no model.safetensors, only {checkpoint}, with no config.toml or run.json beside it (as a "
                f"CheckpointWriter of fit leaves a folder, which {PROG} train --resume cannot continue): give the "
                "checkpoint itself")
    if checkpoint.is_file():
        return (f"{out} holds no model.safetensors: its run did not finish. Give its last checkpoint, {checkpoint}, "
                f"or finish the run with: {PROG} train --resume {out}")
    return (f"{out} holds no model.safetensors: its run stopped before anything was saved. Start it over with: "
            f"{_restart_line(out)}")


def _read(path: str):
    return read_model(_model_path(path))


def _is_training_file(mf, name: str, ds: _Dataset) -> bool:
    """Whether the file ``name`` is the one the model trained on: the same bytes, or the
    same path (whose bytes then must not have changed)."""
    recorded, trained = mf.extra.get("data_file"), mf.extra.get("dataset")
    same_path = isinstance(trained, str) and Path(name).resolve() == Path(trained).resolve()
    if isinstance(recorded, dict) and ds.file is not None:
        if recorded.get("sha256") == ds.file["sha256"]:
            return True
        if same_path:
            _check_unchanged(recorded, ds, name, "its held-out rows can no longer be told from the training rows: "
                             "restore it, score every row with --split all, or train again")
    return same_path


def _trained_feature_names(mf) -> list[str] | None:
    """The feature columns' names of the CSV file the model trained on, or the DataFrame's
    columns a saved scikit-learn estimator was fitted on (its ``feature_names_in_``); None
    where neither is recorded."""
    names = mf.extra.get("feature_names", mf.extra.get("feature_names_in")) if mf is not None else None
    ok = isinstance(names, list) and len(names) == mf.net.n_features and all(isinstance(n, str) for n in names)
    return names if ok else None


def _rows_to_score(args, mf, name: str) -> tuple[_Dataset, np.ndarray, np.ndarray, str]:
    """The dataset, the rows ``evaluate`` scores and, in words, which they are: a named
    dataset's or the training file's held-out rows by default, every row of another file
    (its columns read by the names the model trained on, when both have a header)."""
    given = getattr(args, "label_column", None)
    label_column = given or _trained_label_column(mf)
    if not given and _trained_feature_names(mf) is not None and str(label_column).strip().lstrip("-").isdigit():
        label_column = None  # an index into the training file's header: a header names the label by the features
    data_dir = args.data_dir or _recorded_data_dir(mf, name)
    ds = _load_data(name, data_dir, _split_seed(mf), label_column, feature_names=_trained_feature_names(mf),
                    dtype=mf.net.dtype if mf is not None else None,
                    label_position=None if given else _trained_label_index(mf),
                    label_values=_class_values(mf) if _is_file_dataset(name) else None,
                    class_names=mf.class_names if mf is not None and _is_file_dataset(name) else None)
    _refuse_ids_for_names(mf, name, ds)
    for note in ds.notes:
        _say(f"note: {note}", err=True)
    if mf is not None and _is_file_dataset(name):  # fractions for a model that divides by 255 itself
        _check_image_axes(mf, name, ds.image_shape)
        _refuse_images_for_table(mf, name, ds.image_shape)
        for part in (ds.x_train, ds.x_test):
            _check_not_prescaled(mf, Path(name), part)
        if ds.x_train.shape[1] == mf.net.n_features:  # another width is refused below
            _note_far_outside(mf, Path(name), ds.all_rows()[0])
            _note_divided(mf, Path(name), ds.all_rows()[0])
    if mf is not None and ds.x_train.shape[1] != mf.net.n_features:  # plot samples may have no model
        per_row = "feature columns besides the label column" if name.lower().endswith((".csv", ".txt")) else "inputs a row"
        raise ShapeError(f"{name}: holds {ds.x_train.shape[1]} {per_row}, but the model takes {mf.net.n_features}; "
                         f"give a file with the {mf.net.n_features} feature columns it was trained on")
    if args.split == "all":
        trained_file = False
    else:
        trained_file = not _is_file_dataset(name) or (mf is not None and _is_training_file(mf, name, ds))
    split = args.split or ("test" if trained_file else "all")
    if split == "all":
        x, y = ds.all_rows()
        return ds, x, y, f"all {len(y)} rows"
    if not ds.held_out:
        whole = (f"the training rows: {_NO_TEST_SET}" if trained_file else
                 f"no {split} part: a file under {_MIN_ROWS_TO_SPLIT} rows, or with no class of 3 rows, is not split")
        return ds, ds.x_train, ds.y_train, f"all {len(ds.y_train)} rows, {whole}"
    x, y = (ds.x_test, ds.y_test) if split == "test" else (ds.x_train, ds.y_train)
    # another file's own split is not the model's: cmd_evaluate counts its rows the model trained on
    if split == "test" and trained_file and (repeats := _repeats_note(name, ds)) is not None:
        _say(f"note: {repeats}", err=True)
    if split == "train" and trained_file and (held := _validation_rows(mf, y)):
        _say(f"note: these {len(y)} train rows include the {held} validation rows training held out of them "
             f"(--validation-split {mf.extra['config']['validation_split']:g}), which the model never trained on",
             err=True)
    return ds, x, y, f"{split}, {len(y)} examples"


def _refuse_ids_for_names(mf, name: str, ds: _Dataset) -> None:
    """Refuse a file labelled with numbers for a model trained on a file labelled with
    class names. Reading the numbers as the model's class ids (the names in sorted order)
    would be right only where the file numbered the classes in that same order, which
    nothing in it can show: another order (setosa, versicolor, virginica as 1, 2, 3, or
    by their order in the file) would score every row against the wrong class without a
    word, so the file is refused and its rows must carry the names."""
    recorded = mf.extra.get("data_file") if mf is not None else None
    if not isinstance(recorded, dict) or recorded.get("labels") != "names" or not _is_file_dataset(name):
        return
    if ds.file is not None and ds.file.get("labels") == "names":
        return
    raise DataError(f"{name}: its labels ({ds.label_source}) are numbers, but {mf.path} was trained on labels written "
                    f"as class names ({_listed(mf.class_names)}), and numbers cannot be told to be the same classes "
                    "in the same order; label the rows with those names")


def _validation_rows(mf, y: np.ndarray) -> int:
    """How many of the train rows ``y`` the model's training run held out for validation
    (:func:`~deltaprop.data.transforms.train_validation_split`: ``round(f · count)`` of each
    class, one row of it kept); 0 when it recorded none."""
    config = mf.extra.get("config") if mf is not None else None
    fraction = config.get("validation_split") if isinstance(config, dict) else None
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1 or not len(y):
        return 0
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    return int(np.maximum(np.minimum(np.floor(fraction * counts + 0.5), counts - 1), 0).sum())


def _class_values(mf) -> np.ndarray | None:
    """The labels a model's classes are, where its class names are whole numbers other than
    its output positions 0..k-1 (a scikit-learn classifier fitted on labels 1, 2, 3); None
    where the names are those positions, or are no numbers."""
    names = tuple(mf.class_names or ()) if mf is not None else ()
    if not names or names == tuple(str(i) for i in range(len(names))):
        return None
    try:
        values = np.array([float(n) for n in names])
    except ValueError:
        return None
    if not np.isfinite(values).all() or not (values == np.round(values)).all():
        return None
    return values


def _classifier(path: str, needs: str, fix: str):
    """The model at ``path``, which must classify (one class a row): ``needs`` says who
    needs it so, ``fix`` what to do instead."""
    mf = _read(path)
    if mf.outputs in ("values", "labels"):
        what = "a regressor" if mf.outputs == "values" else "a multi-label classifier"
        raise ConfigError(f"{mf.path}: is {what}; {needs} classifiers (one class a row). {fix}")
    return mf


def _model_dataset(args, mf) -> str:
    """``--dataset``, else the dataset the model records."""
    name = args.dataset or mf.extra.get("dataset")
    if not isinstance(name, str) or not name:
        raise ConfigError("this model does not record its dataset; pass --dataset NAME or FILE")
    if not args.dataset and _is_file_dataset(name) and not Path(name).exists():
        raise DatasetNotFoundError(f"{name}: no such file; the model was trained on this file: put it back there, or "
                                   "give its new place with --dataset FILE (a file of the same bytes is known as its "
                                   "training file: its test rows are those training held out)")
    return name


def _predicted_classes(mf, x: np.ndarray, name: str) -> np.ndarray:
    """The class of each row of ``x`` (the rows of ``name``) by the model's own decision rule (a
    single logit's threshold is 0); an output that overflowed is refused, not counted as a class."""
    outputs = _finite_outputs(mf.net, x, name, row="{path}, row {i} of those scored")
    return decided_classes(outputs, mf.net.decision_threshold, mf.class_names)


def _names_its_classes(mf) -> bool:
    """Whether the model's class names say what its classes are: names other than the ids
    0, 1, ..., or the ids of a named dataset (MNIST's digits), not a data file's bare ids."""
    names = tuple(mf.class_names or ())
    trained = mf.extra.get("dataset")
    named_data = isinstance(trained, str) and not _is_file_dataset(trained)
    return bool(names) and (named_data or names != tuple(str(i) for i in range(len(names))))


def _listed(names, most: int = 10) -> str:
    return ", ".join(map(str, names[:most])) + (", ..." if len(names) > most else "")


def _class_names_shown(mf, ds: _Dataset, name: str, what: str) -> tuple[str, ...]:
    """The names the rows' classes are shown by: the model's, or the dataset's where the
    model's are bare ids (or there is no model). A named dataset whose classes are not the
    model's (Fashion-MNIST products for a model of MNIST digits) is refused: its labels
    would be shown under the names of other classes, and ``what`` (a score, a drawing)
    would mean nothing."""
    own = tuple(ds.class_names)
    if mf is None or not mf.class_names:
        return own
    model = tuple(mf.class_names)
    if _is_file_dataset(name) or model == own:  # a file's classes are ids, which the model's names name
        return model
    if not _names_its_classes(mf):
        return own
    trained = mf.extra.get("dataset")
    where = f"its own dataset ({trained})" if isinstance(trained, str) and trained else "the data it was trained on"
    raise DataError(f"{name}'s classes ({_listed(own)}) are not the ones {mf.path} was trained on ({_listed(model)}), "
                    f"so {what} would show {name}'s labels under other classes' names; use the model on "
                    f"{where}, or train one on {name}")


def cmd_evaluate(args) -> int:
    if args.plot:
        figure_format(args.plot)  # a refused file name before any scoring, not after the report
    mf = _classifier(args.model, "evaluate scores",
                     f"Score it in Python: dp.load({str(args.model)!r}).predict(X) gives its labels (0/1 a label) "
                     "or values to compare with y, or use the scikit-learn estimator's score()")
    name = _model_dataset(args, mf)
    ds, x, y, which = _rows_to_score(args, mf, name)
    names = _class_names_shown(mf, ds, name, "a per-class score")
    pred = _predicted_classes(mf, x, name)
    # the classes the model knows (its names, its outputs), not the dataset's: a model of a file's 3
    # classes has never seen MNIST's digits 3..9, which would count as its errors
    known = max(len(mf.class_names or ()), mf.net.n_outputs if mf.net.n_outputs > 1 else 2)
    if len(y) and int(y.max()) >= known:
        raise DataError(f"{name}: holds class {int(y.max())}, which the model never saw (it knows {known} classes, "
                        f"0..{known - 1}); score a file of those classes only, or train a model on rows of every class")
    _refuse_untrained_classes(mf, name, y)
    # any split of another file: its "test" rows are its own split, which may hold rows the model trained on
    part = "rows" if which.startswith("all ") else f"{which.split(',')[0]} rows"
    if (repeats := _training_rows_note(mf, name, ds, x, part)) is not None:
        _say(f"note: {repeats}", err=True)
    k = max(len(names), known)
    names = tuple(names) + tuple(str(i) for i in range(len(names), k))
    cm = confusion_matrix(y, pred, k)
    report = classification_report(y, pred, k, names)
    _say(f"{name} ({which}): accuracy {report.accuracy:.4f}")
    _say(report.table())
    _say("")
    _say(confusion_table(cm, names))
    if args.plot:
        _say(f"wrote {plot_confusion(cm, args.plot, class_names=names)}")
    return 0


def _refuse_untrained_classes(mf, name: str, y: np.ndarray) -> None:
    """Refuse rows of a class id the model's training file had no example of (its ids
    counted from 1, or had gaps): that output was never trained, so they only count as
    its errors; most often the two files number the classes differently."""
    recorded = mf.extra.get("data_file")
    absent = recorded.get("no_example") if isinstance(recorded, dict) else None
    if not isinstance(absent, list) or not len(y):
        return
    hit = np.isin(y, np.array(absent, dtype=np.int64))
    if not hit.any():
        return
    classes = sorted({int(c) for c in np.unique(y[hit])})
    shown = ", ".join(map(str, classes[:5])) + (", ..." if len(classes) > 5 else "")
    hint = " (from 0 here, from 1 there)" if absent == [0] else ""
    raise DataError(f"{name}: {int(hit.sum())} of its {len(y)} rows scored are of class{'es' if len(classes) > 1 else ''} "
                    f"{shown}, of which the model's training file had no example (that output was never trained, so "
                    f"they would only count as its errors); if the two files number the classes differently{hint}, "
                    "renumber this file's labels as the training file's, or score rows of the trained classes only")


def _read_npy(path: Path) -> np.ndarray:
    if path.is_dir():
        raise FileFormatError(f"{path} is a folder; give a .npy file or an image")
    try:
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


def _image_style(mf: ModelFile, choice: str, side: int = IMAGE_SIDE) -> str:
    """The style images are read in for this model of ``side`` x ``side`` images:
    ``choice``, or with ``auto`` the style of the data it was trained on (digit when the
    file does not say, and for smaller images of other data: the style the serve page
    draws them in)."""
    if choice != "auto":
        return choice
    config = mf.extra.get("config")
    dataset = config.get("dataset") if isinstance(config, dict) else None
    style = image_style_for(dataset)
    if style is None and side != IMAGE_SIDE:
        _say(f"note: this model was trained on {dataset}, not on MNIST or Fashion-MNIST; images are read as digits, "
             "as deltaprop serve draws them for it; --images fashion or --images as-is reads them otherwise", err=True)
        return "digit"
    if style is None:
        raise ConfigError(f"this model was trained on {dataset}, not on MNIST or Fashion-MNIST, so how its images "
                          "were made into 784 inputs is not known: say it with --images digit (cropped, fitted in "
                          "20x20, centred by mass), --images fashion or --images as-is, or give a .npy file of rows")
    return style


def _note_shaped_images(mf: ModelFile, choice: str) -> None:
    """Say how image files are read for a model of images of another shape than a square
    grey one, which ``--images`` (a square grey image's framing) does not apply to."""
    shape = _trained_image_shape(mf)
    ignored = f"; --images {choice} frames square grey images only" if choice != "auto" else ""
    _say(f"note: this model takes {input_shape_words(shape)}: each image is read as it is (no framing), in "
         f"{image_axes(shape)[2]} channel(s) and resized to {image_axes(shape)[0]}x{image_axes(shape)[1]} where it is "
         f"not{ignored}", err=True)


def _check_not_prescaled(mf: ModelFile, path: Path, rows: np.ndarray) -> None:
    """Refuse rows already divided by 255 for a model that divides its raw inputs itself:
    its ÷max scaling was fitted on whole-number levels, and fractions in [0, 1] would be
    divided again into near-zero inputs that every class answers alike."""
    first = mf.net.layers[0]
    if not isinstance(first, Rescaling) or rows.dtype.kind != "f" or rows.min() < 0 or rows.max() > 1:
        return
    if np.array_equal(rows, np.round(rows)):
        return
    top = round(1.0 / first.scale)
    save = "np.savez(path, x=np.rint(x * {top}), y=y)" if path.suffix.lower() == ".npz" else \
        "np.save('rows.npy', np.rint(rows * {top}))" if path.suffix.lower() == ".npy" else "the values times {top}, rounded"
    raise DataError(f"{path}: its values are fractions in [0, 1], but this model divides its raw inputs by {top} "
                    f"itself (it was trained on whole levels 0..{top}); give the rows undivided, e.g. "
                    + save.format(top=top))


def _note_zeros_and_ones(mf: ModelFile, path: Path, rows: np.ndarray) -> None:
    """A note for rows of only 0 and 1 (a black-and-white image saved as 0/1) given to a
    model that divides its raw inputs by T > 1 itself: a 1 reaches it as 1/T, near black,
    and every such row is scored almost as a blank one, without a word."""
    first = mf.net.layers[0]
    if not isinstance(first, Rescaling) or not rows.size:
        return
    top = round(1.0 / first.scale)
    if top <= 1 or rows.max() != 1 or not np.isin(rows, (0, 1)).all():
        return
    _say(f"note: {path} holds only 0 and 1, but this model divides its raw inputs by {top} itself (it was trained on "
         f"levels 0..{top}), so a 1 reaches it as {1 / top:.3g}, near black; if 1 means white, give the rows times "
         f"{top}: np.save('rows.npy', rows * {top})", err=True)


#: The top of the raw training inputs' range from which rows of fractions in [0, 1] are
#: taken for rows divided by it (0..16 digit levels and up: fractions fill 1/16 of it).
_SHRUNK_TOP = 16.0


def _note_divided(mf: ModelFile, path: Path, rows: np.ndarray) -> None:
    """A note for rows of fractions in [0, 1] given to a model whose raw training inputs
    ran from ``lo ≥ 0`` to ``hi ≥ 16`` (0..255 levels as floats, standardised rather than
    divided by 255): rows divided by ``hi`` already, which its (x − μ)/σ maps to nearly one
    point, every row then scored alike without a word. A model that divides its raw inputs
    itself refuses them (:func:`_check_not_prescaled`)."""
    if mf.input_range is None or not rows.size or rows.dtype.kind != "f" or isinstance(mf.net.layers[0], Rescaling):
        return
    lo, hi = (float(v) for v in mf.input_range)
    if lo < 0 or hi < _SHRUNK_TOP or rows.min() < 0 or rows.max() > 1 or np.array_equal(rows, np.round(rows)):
        return
    suffix = path.suffix.lower()
    fix = (f"np.savez(path, x=x * {hi:g}, y=y)" if suffix == ".npz" else f"np.save('rows.npy', rows * {hi:g})"
           if suffix == ".npy" else f"the feature values times {hi:g}")
    _say(f"note: {path} holds fractions in [0, 1], but the model's raw training inputs ran from {lo:g} to {hi:g} "
         f"and it takes its inputs on that scale: were the rows divided by {hi:g} (scaled to [0, 1]) already? its "
         f"answers to them would mean nothing; if so, give them on the training data's scale, e.g. {fix}", err=True)


def _note_far_outside(mf: ModelFile, path: Path, rows: np.ndarray) -> None:
    """A note for rows whose values lie beyond the raw training inputs' range ``lo..hi`` by
    more than its span ``hi − lo`` (0..255 rows for a model of inputs in [0, 1]): rows on
    another scale than the training data's, which the model scores without a word."""
    if mf.input_range is None or not rows.size:
        return
    lo, hi = (float(v) for v in mf.input_range)
    low, high = float(rows.min()), float(rows.max())
    span = hi - lo
    if span <= 0 or (low >= lo - span and high <= hi + span):
        return
    _say(f"note: {path} holds values from {low:g} to {high:g}, far outside the model's raw training inputs, "
         f"{lo:g} to {hi:g}: are the rows on the training data's scale (not multiplied by 255, standardised, or in "
         "other units)?", err=True)


def _width_problem(path: Path, raw: np.ndarray, width: int, n_features: int, side: int | None, mf=None) -> ShapeError:
    """The refusal of ``.npy`` or CSV rows ``width`` values wide for a model of
    ``n_features`` inputs, with what they are (the training file's columns, or images) and
    the likely fix: rows saved transposed (``rows.T``), or still holding the training
    file's label column (``np.delete``; in a CSV file, a header naming it label)."""
    names = _trained_feature_names(mf)
    what = (f" ({side}x{side} images)" if side is not None else
            f" (the columns {', '.join(names[:8])}{', ...' if len(names) > 8 else ''} of its training file, in that "
            "order, without the label column)" if names else "")
    fix = ""
    if path.suffix.lower() in (".csv", ".txt"):
        if width == n_features + 1:
            fix = ("; if a column holds the labels, name it label in a header line (predict then leaves it out), or "
                   "remove it")
    else:
        transposed = raw.ndim == 2 and raw.shape[0] == n_features and raw.shape[1] != n_features
        label = _label_column_fix(mf) if width == n_features + 1 else None
        if transposed and label:  # as many rows as inputs and one column more: either may be the cause
            fix = (f"; the array has shape {raw.shape}: if a column is an input, save it transposed, "
                   f"np.save('rows.npy', rows.T); {label}")
        elif transposed:
            fix = f"; the array has shape {raw.shape}, a column an input: save it transposed, np.save('rows.npy', rows.T)"
        elif label:
            fix = f"; {label}"
    return ShapeError(f"{path}: {width} features per input, but the model takes {n_features}{what}{fix}")


def _label_column_fix(mf) -> str:
    """How to drop a label column left in ``.npy`` rows one value wider than the model takes."""
    index = _trained_label_index(mf)
    drop, which = ("LABEL_INDEX", "") if index is None else (index, f" (column {index + 1} of the training file)")
    return f"if the rows still hold the label column{which}, drop it: np.save('rows.npy', np.delete(rows, {drop}, axis=1))"


def _csv_rows(path: Path, n_features: int, side: int | None, model: str, mf) -> np.ndarray:
    """The feature rows of a CSV file for ``predict``: read by the header names the model
    trained on (in any order, its other columns left out), else by position, a label
    column where the training file had it left out (:func:`deltaprop.data.read_rows`); a
    note says what was left out, and how to score the rows against their labels."""
    import shlex

    rows, notes, left_out = read_rows(path, n_features, feature_names=_trained_feature_names(mf),
                                      label_position=_trained_label_index(mf))
    for note in notes:
        _say(f"note: {note}", err=True)
    if left_out == 1 and rows.shape[1] == n_features and mf.outputs not in ("values", "labels"):  # a label column
        _say(f"note: if the column left out holds the rows' labels, score the rows against them with: "
             f"{shlex.join([PROG, 'evaluate', str(model), '--dataset', str(path)])}", err=True)
    if rows.shape[1] != n_features:
        raise _width_problem(path, rows, rows.shape[1], n_features, side, mf)
    return rows


def _image_rows(path: Path, n_features: int, style: str, side: int | None, mf, notes: list[str] | None) -> np.ndarray:
    """An image file as one row of the model's inputs: made in ``style`` at its square grey
    ``side``; for a model of images of another shape it records (20x30, 14x14 of 4
    channels), its pixels in that shape as they are (:func:`read_shaped_image`)."""
    shape = _trained_image_shape(mf)
    if side is None and shape is None:
        raise ShapeError(f"{path}: this model's {n_features} inputs are not a square image of at least 8x8 pixels (a "
                         "table's columns), so an image cannot be its input; give its rows in a .npy or CSV file instead")
    read = read_image(path, style, side=side) if side is not None else read_shaped_image(path, shape)
    if read.notes and notes is not None:
        notes.append(f"note: {path}: {'; '.join(read.notes)}")
    return reduce_image(read.pixels, side).reshape(1, side * side) if side is not None else read.pixels.reshape(1, -1)


def _rows_of(path: Path, n_features: int, style: str = "digit", side: int | None = IMAGE_SIDE,
             model: str = "MODEL", mf=None, notes: list[str] | None = None) -> np.ndarray:
    """The raw input rows in one INPUT: an image (28x28 levels made in ``style``, reduced
    to the model's ``side`` x ``side`` as deltaprop serve reduces drawings) or a .npy file;
    ``model``: the model as the command line named it, for the command a refusal suggests;
    ``mf``: its model file, whose training columns a refusal of rows of another width names;
    ``notes``: where an image's notes (inverted, its first frame only, ...) are put."""
    if path.suffix.lower() != ".npy":
        if not path.exists() and any(c in path.name for c in "*?["):  # the shell passes a pattern matching none as it is
            raise DataError(f"{path}: no file matches this pattern; check the folder's name and the files' "
                            "extension (.png is not .PNG)")
        if not path.exists():
            raise DataError(f"{path}: no such file")
        if path.suffix.lower() in (".csv", ".txt"):
            return _csv_rows(path, n_features, side, model, mf)
        if path.suffix.lower() == ".npz":
            import shlex

            raise DataError(f"{path}: predict reads rows from a .npy or CSV file or one image; to score a labelled "
                            f"file use: {shlex.join([PROG, 'evaluate', str(model), '--dataset', str(path)])}; for rows "
                            "without labels save them with np.save('rows.npy', rows)")
        if (problem := other_data_file(path, ".csv or .npy rows, or an image")) is not None:  # a table, not an image
            raise ConfigError(problem)
        return _image_rows(path, n_features, style, side, mf, notes)
    raw = _read_npy(path)
    if raw.ndim > 2:
        _check_image_axes(mf, path, raw.shape[1:])
        _refuse_images_for_table(mf, path, raw.shape[1:])
    if raw.ndim == 1 or (side is not None and raw.shape == (side, side)):
        rows = raw.reshape(1, -1)
    elif raw.ndim >= 2:
        rows = raw.reshape(len(raw), -1)
    else:
        raise ShapeError(f"{path}: expected a row or rows of features, got shape {raw.shape}")
    if rows.shape[1] != n_features:
        raise _width_problem(path, raw, rows.shape[1], n_features, side, mf)
    if rows.dtype.kind == "f" and not np.isfinite(rows).all():
        r, c = np.argwhere(~np.isfinite(rows))[0]
        what = "NaN (a missing value)" if np.isnan(rows[r, c]) else f"{rows[r, c]} (infinity)"
        raise DataError(f"{path}: rows[{r}, {c}] holds {what}, not a finite number; clean or impute the missing or "
                        "infinite values first")
    return rows


def _prediction_lines(outputs: np.ndarray, kind: str, threshold: float, names, top: int, *,
                      logits: bool = False) -> list[str]:
    """One line a row, saying what the outputs are (:attr:`ModelFile.outputs`): a class and
    its probabilities (logits are turned into them), a class and raw scores, the labels
    set of a multi-label model (``logits``: of logits, each on at ``z ≥ threshold``, shown as
    ``σ(z)``), or a regressor's values."""
    if kind == "values":
        return ["values " + ", ".join(f"{v:.6g}" for v in row) if len(row) > 1 else f"value {row[0]:.6g}"
                for row in outputs]
    if kind == "labels":
        lines = []
        proba = 0.5 * (1.0 + np.tanh(0.5 * outputs)) if logits else outputs  # σ(z), no overflow
        for row, p_row in zip(outputs, proba):
            on = [_class_name(names, int(c)) for c in np.flatnonzero(row >= threshold)]
            shown = ", ".join(f"{_class_name(names, c)}: {p_row[c]:.4f}" for c in range(len(row)))
            lines.append(f"labels {', '.join(on) or '(none)'}  (probabilities {shown})")
        return lines
    proba = class_probabilities(outputs, kind)
    shown_as, values = ("probabilities", proba) if proba is not None else ("scores", outputs)
    predicted = decided_classes(outputs, threshold, names)
    column_class = (lambda c: 1) if values.shape[1] == 1 else int  # a single score is class 1's
    if is_one_class(names, outputs.shape[1]):  # every row is its one class: show no class 1 that is not there
        shown_as, values, column_class = (shown_as, values[:, :1], int) if proba is not None else ("score", values, None)
    lines = []
    for c_pred, row in zip(predicted, values):
        order = np.argsort(-row, kind="stable")[:top]
        shown = ", ".join(f"{row[c]:.4f}" if column_class is None else f"{_class_name(names, column_class(c))}: {row[c]:.4f}"
                          for c in order)
        lines.append(f"class {_class_name(names, int(c_pred))}  ({shown_as} {shown})")
    return lines


def _threshold_note(mf: ModelFile, threshold: float) -> str | None:
    """A note for a single-output classifier whose decision threshold is not the even odds
    its probabilities show: class 1 where ``p ≥ t`` (``σ(z) ≥ σ(t)`` for a logit), so a
    row's class may be the one of the smaller probability listed."""
    if mf.net.n_outputs != 1 or mf.outputs not in ("probabilities", "logits") or is_one_class(mf.class_names, 1):
        return None
    p = threshold if mf.outputs == "probabilities" else 0.5 * (1.0 + math.tanh(0.5 * threshold))
    if math.isclose(p, 0.5, rel_tol=0.0, abs_tol=1e-12):
        return None
    return (f"note: this model decides class {_class_name(mf.class_names, 1)} where its probability is at least "
            f"{p:.4g} (its decision threshold), not 0.5, so a row's class may have the smaller probability listed")


def _class_name(names, c: int) -> str:
    return _shown_name(names[c]) if names and c < len(names) else str(c)


#: How each style makes an image into a 28x28 model's inputs, in words.
_FRAMING = {"digit": "images are made as MNIST's digits were: cropped to the ink, fitted in 20x20 and centred by mass "
                     "in 28x28, white ink on black",
            "fashion": "images are made as Fashion-MNIST's were: trimmed to the product, fitted in 28x28 and centred, "
                       "light on dark, gray levels kept",
            "as-is": "images are only resized to 28x28 (--images as-is), gray levels and background kept"}


def _finite_outputs(net, x, path, *, row: str = "{path}[{i}]") -> np.ndarray:
    """The network's outputs for the rows ``x`` (of ``path``), refused (:class:`DataError`)
    where one is NaN or infinite: numbers that overflowed the network's dtype would count as
    a class of NaN probabilities (numpy's overflow warnings are left unsaid; the error names
    the row, as ``row`` says)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        outputs = net.predict_proba(x)
    bad = np.flatnonzero(~np.isfinite(outputs).all(axis=1))
    if bad.size:
        where = row.format(path=path, i=bad[0]) if len(outputs) > 1 else str(path)
        raise DataError(f"{where}: the model's outputs are not finite (NaN or infinity) for this input: its numbers "
                        f"overflow {net.dtype.name}, so it has no prediction; the model may be diverged (weights up to "
                        f"{max(float(np.abs(p.value).max()) for p in net.parameters()):.3g}), or the input lies far "
                        "outside what it was trained on")
    return outputs


def _note_image_framing(mf, side: int, style: str, top_level: float | None) -> None:
    """What predict does to images for a model of ``side``x``side`` inputs other than 28x28,
    the levels it gives them where the model file records no range of its raw inputs, and
    that the square grey image is a guess where it records no shape of its inputs."""
    if side != IMAGE_SIDE and style == "digit":
        _say(f"note: digits are framed as small digits are: the ink's longer edge fills a {4 * side}x{4 * side} frame, "
             f"centred, and each of this model's {side}x{side} pixels is the mean of a 4x4 block, as deltaprop serve "
             "frames drawings", err=True)
    elif side > IMAGE_SIDE and style == "as-is":
        _say(f"note: images are resized to this model's {side}x{side} (one of that size is taken as it is)", err=True)
    elif side != IMAGE_SIDE:
        exact = " (an image of that size is taken as it is)" if style == "as-is" else ""
        resized = "reduced" if side < IMAGE_SIDE else "enlarged"  # no detail finer than 28x28's either way
        _say(f"note: images are made into 28x28 levels, then {resized} to this model's {side}x{side} (each pixel the "
             f"mean of the area it covers), as deltaprop serve {resized[:-1]}s drawings{exact}", err=True)
    if top_level is None and not levels_recorded(mf):
        _say("note: this model's file does not record the range of its raw training inputs (it has no input "
             "scaling: trained with --scaling none by an older deltaprop, or saved without it), so the images' "
             "0..255 levels reach it as they are; for a model trained on other levels pass --levels (16 for 0..16, 1 "
             "for [0, 1])", err=True)
    if getattr(mf, "input_shape", None) is None:  # an older file's named dataset or .npz images are read as recorded
        _say(f"note: this model's file records no shape of its inputs, so its {mf.net.n_features} inputs are "
             f"taken for one {side}x{side} grey image, a guess (images of another shape may hold as many "
             f"values, and a model of them answers wrongly here); {PROG} train --input-shape H,W[,C] or "
             "dp.save(..., input_shape=(h, w, c)) records the shape", err=True)


def cmd_predict(args) -> int:
    top = _int_option("--top", args.top)
    top_level = _number_option("--levels", args.levels) if args.levels is not None else None
    mf = _read(args.model)
    net = mf.net
    paths = [Path(p) for p in args.inputs]
    images = [p for p in paths if p.suffix.lower() not in (".npy", ".csv", ".txt", ".npz")]
    side = model_image_side(mf)  # None: no square grey image (a table's row, or images of another shape)
    shaped = side is None and _trained_image_shape(mf) is not None  # images of the shape the model records
    style = _image_style(mf, args.images, side) if images and side is not None else "digit"
    if images and shaped:
        _note_shaped_images(mf, args.images)
    # every input is checked before any output
    notes: list[str] = []
    batches = [_rows_of(path, net.n_features, style, side, args.model, mf, notes) for path in paths]
    unused = [f"--{name} {value}" for name, value, default in (("images", args.images, "auto"), ("levels", args.levels, None))
              if value != default]
    if unused and not images:  # they make images into inputs; rows reach the model as they are
        _say(f"note: {' and '.join(unused)} {'apply' if len(unused) > 1 else 'applies'} to images only; the .npy rows "
             "reach the model as they are (scale them yourself if they are on another scale)", err=True)
    for path, rows in zip(paths, batches):
        if path not in images:  # an image's levels are 0..255, scaled below
            _check_not_prescaled(mf, path, rows)
            _note_zeros_and_ones(mf, path, rows)
            _note_far_outside(mf, path, rows)
            _note_divided(mf, path, rows)
    if images and side == IMAGE_SIDE:
        _say(f"note: {_FRAMING[style]}", err=True)
    for note in notes:
        _say(note, err=True)
    if images and side is not None:
        _note_image_framing(mf, side, style, top_level)
    pictures = images and (side is not None or shaped)  # image files made into the model's inputs
    recorded = model_levels_top(mf, side) if side is not None or shaped else 255.0
    given = top_level is not None
    if pictures and given and top_level != recorded and levels_recorded(mf):
        _say(f"note: --levels {top_level:g} puts the images on 0..{top_level:g}, but this model's file records its "
             f"raw training inputs as running to {recorded:g}; leave out --levels to use the file's", err=True)
    top_level = top_level if given else recorded
    if pictures and top_level != 255.0:
        # images are 0..255 levels; the model's raw inputs were on another scale
        batches = [rows * (top_level / 255.0) if path in images else rows for path, rows in zip(paths, batches)]
        said = f"--levels {top_level:g}: its training inputs are taken to have run" if given else \
            "this model's training inputs ran"
        _say(f"note: {said} from 0 to {top_level:g}, so the images' 0..255 levels are scaled to that range", err=True)
    several = len(paths) > 1 or len(batches[0]) > 1
    threshold, logits = mf.net.decision_threshold, labels_are_logits(net)
    if (note := _threshold_note(mf, threshold)) is not None:
        _say(note, err=True)
    for path, rows in zip(paths, batches):
        outputs = _finite_outputs(net, _checks.cast_checked(rows, net.dtype, name=str(path)), path)
        for r, line in enumerate(_prediction_lines(outputs, mf.outputs, threshold, mf.class_names, top, logits=logits)):
            where = f"{path}[{r}]" if len(rows) > 1 else str(path)
            _say(f"{where}: {line}" if several else line)
    return 0


# -- gradcheck / plot / info ------------------------------------------------------------------------
def cmd_gradcheck(args) -> int:
    cfg = TrainConfig.from_mapping({"layers": args.layers, "activation": args.activation, "output": args.output,
                                    "loss": args.loss, "seed": args.seed, "dropout": args.dropout},
                                   origin="the options")
    if not cfg.layers:
        raise ConfigError("--layers needs at least an input and an output width, e.g. 4,5,3")
    n = _int_option("--examples", args.examples)
    tol = _number_option("--tolerance", args.tolerance)
    h = _number_option("--h", args.h)
    max_entries = _max_entries_option(args.max_entries)
    if cfg.dropout and len(cfg.layers) == 2:
        _say(f"note: --dropout {cfg.dropout:g} is not applied: it drops hidden units, and --layers "
             f"{','.join(map(str, cfg.layers))} has no hidden layer", err=True)
    net = mlp(cfg.layers, activation=cfg.activation, output=cfg.output, dropout=cfg.dropout, seed=cfg.seed,
              dtype="float64")
    rng = np.random.default_rng(cfg.seed)
    X = rng.standard_normal((n, cfg.layers[0]))
    k = cfg.layers[-1]
    y = rng.integers(0, max(k, 2), size=n) if k > 1 else rng.integers(0, 2, size=n)
    weights = rng.uniform(0, 2, size=n) if args.weighted else None
    report = gradcheck(net, cfg.build_loss(), X, y, h=h, tolerance=tol, max_entries=max_entries,  # training's loss
                       train=not args.inference, seed=cfg.seed, check_input=args.check_input, sample_weight=weights)
    extra = ", weighted" if args.weighted else ""
    if cfg.dropout and len(cfg.layers) > 2:
        extra += f", dropout {cfg.dropout:g} " + ("off (inference)" if args.inference else "(masks frozen)")
    _say(f"gradient check: {' → '.join(map(str, cfg.layers))}, {cfg.activation}, {cfg.output} output, {cfg.loss}, "
         f"{n} examples{extra}")
    _say(report.table())
    return 0 if report.passed else 1


def _max_entries_option(value: str) -> int | None:
    """``--max-entries``: a positive count, or ``all`` (None: every entry)."""
    if value.strip().lower() == "all":
        return None
    try:
        return _int_option("--max-entries", value)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; give a count >= 1, or all to check every entry") from None


def cmd_plot_history(args) -> int:
    src = Path(args.source)
    if src.is_dir():
        if (src / "history.csv").is_file():
            records = History.read_csv(src / "history.csv").records
        elif (src / "checkpoint.safetensors").is_file():
            records = load_checkpoint(src / "checkpoint.safetensors").training["history"]
        else:
            _refuse_sweep_folder(src, "history.csv")
            raise DataError(f"{src} holds neither a history.csv nor a checkpoint.safetensors; give a run folder of "
                            f"{PROG} train, its history.csv or its checkpoint")
    elif src.suffix.lower() == ".csv":
        if not src.exists():
            raise DataError(f"{src}: no such file")
        records = History.read_csv(src).records
    else:
        model = read_model(src)
        if not isinstance(model, Checkpoint):
            raise DataError(f"{src} is a model file, which keeps no history; give its run folder, the history.csv "
                            "or the checkpoint.safetensors beside it")
        records = model.training["history"]
    out = args.out or (src if src.is_dir() else src.parent) / "history.png"
    weights = (recorded_facts(src if src.is_dir() else src.parent) or {}).get("model_weights")
    weights = weights if isinstance(weights, dict) else {}
    kept = weights.get("epoch")  # early stopping's best, as run.json says
    kept = kept if _whole(kept) and kept >= 1 else None
    partial = (weights.get("batches"), weights.get("epoch_batches"))  # a stop inside the last epoch
    partial = partial if all(_whole(v) and v >= 1 for v in partial) and kept == _last_epoch(records) else None
    _say(f"wrote {plot_history(records, out, title=f'training history: {src}', model_epoch=kept, partial=partial)}")
    return 0


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _last_epoch(records) -> int | None:
    """The epoch of the last history record, None where it has none."""
    epoch = records[-1].get("epoch") if records else None
    return int(epoch) if isinstance(epoch, (int, float)) and not isinstance(epoch, bool) else None


def cmd_plot_weights(args) -> int:
    mf = _read(args.model)
    out = args.out or mf.path.parent / "weights.png"
    if mf.kind == "checkpoint":
        kept = f"{_checkpoint_weights(mf)} (the checkpoint, step {mf.step:,})"
    else:
        kept = _run_model_weights(Path(args.model))  # as info says it
    title = f"weights: {kept}" if kept else None
    _say(f"wrote {plot_weights(mf.net, out, title=title)}" + (f"; {title}" if title else ""))
    return 0


def cmd_plot_samples(args) -> int:
    """The first ``-n`` of the rows evaluate would score (the model's dataset, label column
    and held-out rows by default), with the model's predictions by its own decision rule."""
    n = _int_option("-n", args.n)
    mf = (_classifier(args.model, "plot samples draws the predictions of",
                      "Leave out --model to draw the rows and their labels alone") if args.model else None)
    name = _model_dataset(args, mf) if mf is not None else args.dataset or "mnist-sample"
    ds, x, y, _ = _rows_to_score(args, mf, name)
    x, y = x[:n], y[:n]
    names = _class_names_shown(mf, ds, name, "a drawing of its predictions")
    images = True if args.as_images else None
    # images saved as such ((n, h, w), (n, h, w, c)), or of the shape the model records: drawn in it, not
    # refolded into a square grey image
    shape = ds.image_shape or (_trained_image_shape(mf) if mf is not None else None)
    shown = x.reshape(len(x), *shape) if image_axes(shape) is not None else x
    if shown.ndim == 2 and (problem := samples_problem(x.shape[1], images=images,
                                                       net=mf.net if mf is not None else None, force="--as-images")):
        raise ShapeError(f"{name}: {problem}")
    predictions = _predicted_classes(mf, x, name) if mf is not None else None
    out = args.out or (mf.path.parent if mf is not None else Path(".")) / "samples.png"
    _say(f"wrote {plot_samples(shown, y, out, class_names=names, predictions=predictions, n=n, images=images)}")
    return 0


def _run_model_weights(path: Path) -> str | None:
    """Which epoch's weights a finished run's model holds (early stopping keeps its best
    epoch's), from run.json, for a run folder or its model.safetensors; None otherwise."""
    from .report_html import model_weights_words

    folder = path if path.is_dir() else path.parent if path.name == "model.safetensors" else None
    facts = None if folder is None else recorded_facts(folder)
    if not facts or facts.get("status") != "done":  # an unfinished run's model is an earlier session's
        return None
    return model_weights_words(facts.get("model_weights"))


def _checkpoint_weights(mf) -> str:
    """A checkpoint's weights as info says a model's: ``epoch N``, or ``epoch N, partial: B of
    its T batches`` for one taken inside an epoch (T from the recorded batch layout, when it
    says it: ``⌈rows / batch size⌉``, one for full batches)."""
    unfinished = mf.training.get("unfinished")
    if not isinstance(unfinished, dict):
        return f"epoch {mf.epoch}"
    layout = str(unfinished.get("layout", ""))
    sizes = re.fullmatch(r"\w+ batches of (\d+) from (\d+) rows", layout)
    total = -(-int(sizes[2]) // int(sizes[1])) if sizes else 1 if layout.startswith("full batches") else None
    return f"epoch {unfinished['epoch'] + 1}, partial: {unfinished['batches']:,}" + \
        (f" of its {total:,} batches" if total else " batches of it")


def _checkpoint_epoch(mf) -> str:
    """Which epoch a checkpoint's weights are of: "epoch N", or the epoch a steps limit or a
    callback stopped inside, how far, and how a resume goes on."""
    unfinished = mf.training.get("unfinished")
    if unfinished is None:
        return f"epoch {mf.epoch}"
    done = unfinished["epoch"]
    limit = mf.extra.get("config", {}).get("steps") if isinstance(mf.extra.get("config"), dict) else None
    then = ("a resume finishes it" if not isinstance(limit, int) or mf.step < limit else
            f"its run's limit, steps = {limit:,}, ended it there: a resume with --steps N above {limit} trains on")
    return (f"epoch {done + 1} unfinished ({unfinished['batches']:,} batches of it trained; {done} "
            f"epoch{'s' if done != 1 else ''} complete; {then})")


def _run_processes(path: Path) -> str | None:
    """The MPI processes a run trained on, from run.json's sessions, for a run folder or a
    file in one; None for a run trained on one process, or one whose run.json does not say."""
    from .report import processes_words

    folder = (path if path.is_dir() else
              path.parent if path.name in ("model.safetensors", "checkpoint.safetensors") else None)
    return None if folder is None else processes_words(recorded_facts(folder))


#: Feature columns ``info`` names before it says how many there are in all.
_COLUMNS_SHOWN = 12


def _input_columns_words(mf) -> str | None:
    """What a row of raw inputs holds, in order, where the model records it: the training
    CSV file's feature columns (and where its label column was), and the shape of one
    example's image (an .npz file's, a named dataset's, ``--input-shape`` of a CSV file's
    rows of pixels); the order .npy rows must keep. One line each, either or both."""
    names, index, shape = _trained_feature_names(mf), _trained_label_index(mf), _trained_image_shape(mf)
    label = f"; the label was column {index + 1} of the training file" if index is not None else ""
    lines = []
    if names is not None:
        shown = ", ".join(names[:_COLUMNS_SHOWN]) + (f", ... ({len(names)} in all)" if len(names) > _COLUMNS_SHOWN else "")
        lines.append(f"input columns: {shown} (a row's values in this order{label})")
    if shape is not None:
        lines.append(f"input images: {' x '.join(map(str, shape))} a row (flattened in this axis order)")
    return "\n".join(lines) or None


def cmd_info(args) -> int:
    mf = _read(args.model)
    _say(mf.net.summary())
    _say(f"file: {mf.path} ({mf.kind}, format version {mf.metadata['format_version']})")
    if mf.class_names:
        _say(f"classes: {', '.join(map(_shown_name, mf.class_names))}")
    _say(f"input scaling: {describe_inputs(mf.net)}")
    if mf.input_range is not None:
        _say(f"training inputs: {mf.input_range[0]:g} to {mf.input_range[1]:g} (raw, before any scaling)")
    if (columns := _input_columns_words(mf)) is not None:
        _say(columns)
    _say(f"outputs: {mf.outputs}" + (f" (saved with loss {mf.loss!r})" if mf.kind == "model" and mf.loss is not None else ""))
    _say(f"tensors sha256: {mf.metadata['tensors_sha256']}")
    if mf.kind == "checkpoint":
        _say(f"checkpoint: {_checkpoint_epoch(mf)}, step {mf.step}, optimizer {mf.optimizer!r}")
    weights = _run_model_weights(Path(args.model)) if mf.kind == "model" else None
    if weights:
        _say(f"weights: {weights}")
    processes = _run_processes(Path(args.model))
    if processes:
        _say(f"trained on: {processes}")
    cfg = mf.extra.get("config")
    if isinstance(cfg, dict):
        _say("training configuration: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    return 0


def cmd_serve(args) -> int:
    from .serve import serve

    return serve(args.path, host=args.host, port=_int_option("--port", args.port, allow_zero=True))


def _sweep_folder(args) -> Path:
    from .sweep import holds_sweep

    if args.out:
        _utf8("--out", args.out)  # sweep.csv and the trials' files name it in UTF-8
    if args.resume:
        if not args.out:
            raise UsageError("sweep --resume needs --out DIR, the folder of the sweep to continue")
        if not Path(args.out).is_dir():
            raise UsageError(f"{args.out}: no such sweep folder to continue; check the path, or start the sweep "
                             "there without --resume")
        if any(Path(args.out).iterdir()) and not holds_sweep(Path(args.out)):  # a run's folder, say: kept as it is
            raise UsageError(f"{args.out} holds no sweep to continue (no sweep.csv, no trial-NNN folders); check "
                             "the path, or start the sweep in a new or empty folder without --resume")
        return Path(args.out)
    if args.out:
        out = Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            if out.is_dir() and holds_sweep(out):
                raise UsageError(f"{out} is not an empty folder; choose another --out, or continue it with --resume")
            raise UsageError(f"{out} is not an empty folder, and holds no sweep to continue with --resume; choose "
                             "another --out (a new or empty folder)")
        out.mkdir(parents=True, exist_ok=True)
        return out
    return _new_run_folder(None, "sweep-%Y%m%d-%H%M%S")  # a sweep started in the same second gets its own


def _find_sweep_data(trials, config: str | None) -> None:
    """Find (or download) once, before any trial starts, each MNIST-style dataset the trials
    read: a missing one stops the sweep with train's message, rather than failing every trial
    after as many download attempts, and the workers then share one cached copy."""
    from .sweep import expected_config

    wanted = set()
    for trial in trials:
        try:
            cfg = expected_config(config, trial.options)
        except Error:  # a bad value fails its own trial, with its own message
            continue
        if _idx_spec(cfg.dataset) is not None:
            wanted.add((cfg.dataset, cfg.data_dir or None))
    for name, data_dir in sorted(wanted, key=str):
        _named_dataset(name, data_dir, mmap=True)


def _sweep_interrupted(args, trials, out: Path, varied: list[str]) -> int:
    """Ctrl-C: one line saying what became of the trials and how to go on (the results are
    written by the caller's finally)."""
    status = [t.result.get("status", "not run") for t in trials]
    import shlex

    given = [a for a in args.argv[1:] if a != "--resume"]
    command = shlex.join([PROG, "sweep", *given, *([] if args.out else ["--out", str(out)]), "--resume"])
    failed = f"{status.count('failed')} failed, " if "failed" in status else ""  # a resume trains them again
    _say(f"interrupted: {status.count('ok')} trial(s) finished, {failed}{status.count('interrupted')} stopped, "
         f"{status.count('not run')} not started (see {out}/sweep.csv); continue with: {command}", err=True)
    return 130


def _sweep_seed(args, random: int | None) -> int:
    """--seed, which seeds the --random draw of trials and nothing else (0 when not given)."""
    if args.seed is not None and random is None and args.resume:  # it never set the trials' seed: they trained
        raise UsageError(f"--seed {args.seed} seeds only the --random draw of trials, and this sweep has none: leave "
                         "--seed out to resume it (--seed never set the trials' training seed: they trained with "
                         "CONFIG.toml's seed, default 0)")
    if args.seed is not None and random is None:
        raise UsageError(f"--seed {args.seed} seeds the --random draw of trials, and no --random N is given; to set the "
                         f"trials' training seed, put seed = {args.seed} in CONFIG.toml or give --grid seed={args.seed}")
    return 0 if args.seed is None else _int_option("--seed", args.seed, allow_zero=True)


def cmd_sweep(args) -> int:
    from . import sweep
    from .distributed import launched_rank, launched_size

    if launched_size() > 1:  # every process would run the whole sweep, into one folder
        if launched_rank() not in (None, 0):
            return 2  # rank 0 says why, once
        raise UsageError(f"mpiexec started {launched_size()} copies of this sweep; a sweep trains its trials on Dask "
                         "workers (each trial one process), so run deltaprop sweep once, without mpiexec")
    if args.workers and args.scheduler:
        raise UsageError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    flags = {flag.lstrip("-").replace("-", "_"): key for flag, key, _ in _TRAIN_OPTIONS}
    grid = sweep.parse_grid(args.grid or [], set(flags.values()), aliases=flags)
    if args.scheduler:
        sweep.check_scheduler_address(args.scheduler)
    sweep.check_dask()  # before the sweep is announced or its folder made
    random = None if args.random is None else _int_option("--random", args.random)
    workers = None if args.workers is None else _int_option("--workers", args.workers)
    seed = _sweep_seed(args, random)
    planned = sweep.plan_trials(grid, Path("."), random=random, seed=seed)
    config = None
    if args.config:
        sweep.check_shared_config(args.config, planned)  # a bad file stops the sweep now
        config = str(Path(args.config).resolve())
    if not args.scheduler:  # the local workers train in this environment: a bad value would fail every trial
        kernels.check_environment()
        vector_blas.check_environment()
    _find_sweep_data(planned, config)  # before a folder is made
    if args.scheduler:  # one that does not answer as a scheduler stops it now, nothing written (Ctrl-C not held)
        sweep.answer_from_scheduler(args.scheduler, sweep.connect_timeout())
    made = not args.resume and not (args.out and Path(args.out).exists())
    out = _sweep_folder(args).resolve()
    trials = sweep.plan_trials(grid, out, random=random, seed=seed)
    combinations = len(sweep.plan_trials(grid, out))
    capped = (f"--random {random} asks for more trials than the grid's {combinations} combinations: all {combinations}; "
              if random is not None and random > combinations else "")
    _say(f"{capped}sweep of {len(trials)} trial{'s' if len(trials) != 1 else ''} over {', '.join(grid)} in {out}")
    if args.resume:
        sweep.check_resumable(trials, config)  # before the finally below rewrites sweep.csv
    return _run_sweep(args, trials, config, workers, out, list(grid), made)


def _run_sweep(args, trials, config, workers, out: Path, varied: list[str], made: bool) -> int:
    """Train the sweep's trials; ``made``: this command made ``out`` (removed if no trial started)."""
    from . import sweep

    # SIGTERM (kill, a batch scheduler's limit) stops the sweep as Ctrl-C does: the running
    # trials are stopped, sweep.csv says what became of each, and the command ends 143.
    ran = True
    with interrupt_once(signal.SIGTERM) as terminated:
        try:
            sweep.run_sweep(trials, config=config, workers=workers, scheduler=args.scheduler, resume=args.resume,
                            say=_say)
        except KeyboardInterrupt:
            status = _sweep_interrupted(args, trials, out, varied)
            return 128 + signal.SIGTERM if terminated else status
        except Error:
            # no trial started (the scheduler unreachable, no Dask): the folder is left as it was, so
            # the corrected command may use it (a sweep.csv of trials "not run" made it refuse the
            # folder); one this command made is removed, as it is still empty
            ran = False
            if made:
                with contextlib.suppress(OSError):
                    out.rmdir()
            raise
        finally:
            if ran:
                sweep.write_results(trials, out, varied)
                sweep.plot_results(trials, out, varied)
    return _sweep_results(trials, out, varied)


def _sweep_results(trials, out: Path, varied: list[str]) -> int:
    """The finished sweep's table, its best trial and what was written; the exit status (0
    when a trial finished, else 1)."""
    from . import sweep

    _say(sweep.table(trials, varied))
    best = sweep.best_trial(trials)
    failed = sum(t.result.get("status") == "failed" for t in trials)
    finished = sum(t.result.get("status") == "ok" for t in trials)
    if best is not None:
        _say(f"best: trial {best.index} ({', '.join(f'{k}={v}' for k, v in best.options.items())}), validation "
             f"accuracy {best.result['best_val_accuracy']:.4f} at epoch {best.result['best_epoch']}"
             f"{sweep.tie_note(best, trials)}: {best.folder}{sweep.model_note(best)}{sweep.alerts_note(best)}")
    elif finished:
        _say(f"no best trial: the {finished} finished trial(s) have no validation accuracy to rank them by "
             "(give them a validation split, e.g. --grid validation_split=0.1, or compare the test accuracy in each "
             "trial's evaluation.json)")
    _say(f"wrote {out}/sweep.csv" + (", sweep.png" if best is not None else "") +
         (f"; {failed} trial(s) failed (their errors are in sweep.csv)" if failed else ""))
    if sweep.none_learned(trials):
        _say(f"WARNING: every finished trial ({finished}) ends at chance accuracy (its chance_accuracy alert holds at "
             "its last epoch): none has learned, so the best trial is only the least bad; see the alerts of each "
             "(alerts.csv in its folder), e.g. try lower learning rates, and check that the labels belong to the "
             "features", err=True)
    return 0 if finished else 1


def _export_format(args) -> str:
    """--format, or the one the -o file's name says (.onnx: onnx; .safetensors: torch)."""
    named = {".onnx": "onnx", ".safetensors": "torch"}.get(Path(args.out).suffix.lower()) if args.out else None
    if args.format is None and named is None:
        raise UsageError("say what to write: --format onnx or --format torch (or an -o file ending in .onnx or "
                         ".safetensors)")
    if args.format is not None and named is not None and named != args.format:
        raise UsageError(f"--format {args.format} writes no {Path(args.out).suffix} file; name -o for the format, "
                         f"or give --format {named}")
    return args.format or named


def cmd_export(args) -> int:
    from .export import export_file

    args.format = _export_format(args)
    _refuse_sweep_folder(Path(args.model), "model.safetensors")
    if args.input_type is not None and args.format != "onnx":
        raise ConfigError("--input-type sets the ONNX graph's input; it has no meaning for --format torch")
    if args.input_range is not None and args.format != "onnx":
        raise ConfigError("--input-range is for the ONNX graph's integer --input-type; it has no meaning for --format torch")
    if args.opset is not None and args.format != "onnx":
        raise ConfigError("--opset is the ONNX graph's; it has no meaning for --format torch")
    lohi = None
    if args.input_range is not None:
        try:
            lohi = tuple(float(v) for v in args.input_range.split(","))
        except ValueError:
            lohi = ()
        if len(lohi) != 2 or not all(math.isfinite(v) for v in lohi) or lohi[0] > lohi[1]:
            raise UsageError(f"--input-range takes MIN,MAX, two finite numbers MIN ≤ MAX (e.g. 0,255), "
                             f"got {args.input_range!r}")
    _say(export_file(args.model, args.format, args.out, input_type=args.input_type, input_range=lohi,
                     opset=args.opset)[1])
    return 0


def _os_error_line(exc: OSError) -> str:
    """The one line an ``OSError`` is told in: the file, then the system's reason."""
    where = f"{exc.filename}: " if getattr(exc, "filename", None) and str(exc.filename) not in str(exc.strerror) else ""
    text = f"{where}{exc.strerror}" if exc.strerror else _one_line(exc)
    return f"{PROG}: error: {_one_line(Exception(text))}"


# -- entry point -----------------------------------------------------------------------------------
#: Commands whose product is files written while they print: a reader of stdout going away
#: (``train ... | head``, ``sweep ... | head``, ``evaluate ... --plot F | head``) must not
#: cut them short (see :class:`_StdoutOnClosedPipe`).
_RUN_ON_CLOSED_STDOUT = ("train", "sweep", "evaluate")

#: The exit status when stdout's reader went away: as if killed by SIGPIPE (128 + 13).
_CLOSED_PIPE_STATUS = 128 + 13


def _stdout_to_devnull(stream) -> None:
    """Point ``stream``'s file descriptor at os.devnull (what is left to print goes nowhere)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)


class _StdoutOnClosedPipe:
    """``sys.stdout`` while a command of :data:`_RUN_ON_CLOSED_STDOUT` runs: once the reader
    has gone (a broken pipe), the rest goes to os.devnull and the command runs on, so a
    training run finishes and writes its files; ``closed`` tells main to exit as
    ``predict`` does then (:data:`_CLOSED_PIPE_STATUS`)."""

    def __init__(self, stream):
        self._stream = stream
        self.closed = False

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def _gone(self) -> None:
        self.closed = True
        _stdout_to_devnull(self._stream)
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()  # what the pipe refused goes to os.devnull

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _refuse_copies(command: str) -> int | None:
    """Under ``mpiexec -n N``, every command but train (which trains over the N processes)
    and sweep (which says why itself) would run N times over, printing everything N times
    and writing the same files at once: rank 0 refuses in one line, the others end with the
    same status and say nothing. None where the command may run."""
    from .distributed import launched_rank, launched_size

    copies = launched_size()
    if copies <= 1 or command in ("train", "sweep"):
        return None
    if launched_rank() not in (None, 0):
        return 2  # rank 0 says why, once
    raise UsageError(f"mpiexec started {copies} copies of deltaprop {command}, which works in one process (only "
                     f"train spreads over several): run deltaprop {command} without mpiexec")


def _run_command(args) -> int:
    """The command's handler; for :data:`_RUN_ON_CLOSED_STDOUT`, a stdout closed by its reader
    lets the command finish and gives :data:`_CLOSED_PIPE_STATUS` where it succeeded. A
    stdout closed before the start (``>&-``: ``sys.stdout`` is None) takes the output to
    os.devnull, as ``print`` drops it then."""
    refused = _refuse_copies(args.command)
    if refused is not None:
        return refused
    if args.command not in _RUN_ON_CLOSED_STDOUT:
        return int(args.handler(args))
    stream = sys.stdout
    devnull = open(os.devnull, "w") if stream is None else None  # closed below
    guard = sys.stdout = _StdoutOnClosedPipe(devnull if stream is None else stream)
    try:
        status = int(args.handler(args))
    finally:
        if sys.stdout is guard:
            sys.stdout = stream
        if devnull is not None:
            devnull.close()
    return _CLOSED_PIPE_STATUS if guard.closed and status == 0 else status


#: Whether this process is the ``deltaprop`` command (:func:`run`), not a caller of :func:`main`.
_OWN_PROCESS = False


def _work_done() -> None:
    """The command's work is done (a run's files are all written, or the command returned):
    from here to the process's exit, SIGINT and SIGTERM are ignored, so it ends with its own
    status. Left at their handlers, one that came now said ``interrupted`` (130) of a run
    that had finished, or, once the interpreter was finalizing (Python puts the default
    actions back then), killed the process silently (status -2 or -15). Only in the
    command's own process (:func:`run`), on its main thread."""
    import threading

    if _OWN_PROCESS and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run(argv=None) -> int:
    """:func:`main` as the ``deltaprop`` process (its entry points): a signal that comes
    after the command's work is done is ignored to the exit (:func:`_work_done`)."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    status = main(argv)
    _work_done()
    return status


_MODEL = ("MODEL", "a model file or a run folder", "give its path")
_OWN_DATASET = ("--dataset", "a dataset name or file", "give one, or leave --dataset out for the model's own")
_DATA_DIR = ("--data-dir", "the folder holding the dataset's files", "give the folder, or leave --data-dir out")
_PLOT_OUT = ("--out (-o)", "the file to write", "give a file name, or leave it out to write beside the input")
#: The path arguments an empty name (an unset shell variable: ``--out "$RUN"``) would not
#: refuse but take as left out (a new run in runs/<date-time>, a default file) or as the
#: current folder: ``(command, dest)``: (the option, what it takes, the fix).
_PATH_ARGUMENTS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("train", "resume"): ("--resume", "the folder of the run to continue",
                          "give the run's folder, or leave --resume out to start a new run"),
    ("train", "out"): ("--out", "the folder to write the run in",
                       "give a folder, or leave --out out for a new runs/<date-time>"),
    ("train", "config"): ("--config", "a TOML file of options", "give the file, or leave --config out"),
    ("train", "data_dir"): _DATA_DIR,
    ("evaluate", "model"): _MODEL, ("evaluate", "dataset"): _OWN_DATASET, ("evaluate", "data_dir"): _DATA_DIR,
    ("evaluate", "plot"): ("--plot", "the figure file to write", "give a file name, or leave --plot out"),
    ("predict", "model"): _MODEL,
    ("predict", "inputs"): ("INPUT", "an image, .npy or CSV file", "give the files' paths"),
    ("plot history", "source"): ("RUN", "a run folder, its history.csv or a checkpoint", "give its path"),
    ("plot history", "out"): _PLOT_OUT, ("plot weights", "model"): _MODEL, ("plot weights", "out"): _PLOT_OUT,
    ("plot samples", "dataset"): ("--dataset", "a dataset name or file",
                                  "give one, or leave --dataset out for the default"),
    ("plot samples", "data_dir"): _DATA_DIR,
    ("plot samples", "model"): ("--model", "a model file or a run folder", "give its path, or leave --model out"),
    ("plot samples", "out"): ("--out (-o)", "the file to write", "give a file name, or leave it out"),
    ("info", "model"): _MODEL, ("serve", "path"): ("PATH", "a model file or a run folder", "give its path"),
    ("sweep", "config"): ("CONFIG.toml", "a TOML file of options", "give the file, or leave it out"),
    ("sweep", "out"): ("--out", "the sweep's folder", "give a folder, or leave --out out for a new runs/sweep-<date-time>"),
    ("export", "model"): _MODEL,
    ("export", "out"): ("--out (-o)", "the file to write", "give a file name, or leave it out to write beside MODEL"),
    ("report", "run"): ("RUN_DIR", "a run folder", "give its path"),
}


def _refuse_empty_paths(args) -> None:
    """Refuse a path argument given as an empty name (see :data:`_PATH_ARGUMENTS`), which
    would otherwise be taken as left out or as the current folder."""
    command = args.command if args.command != "plot" else f"plot {args.what}"
    for key, value in vars(args).items():
        known = _PATH_ARGUMENTS.get((command, key))
        if known is not None and (value == "" or isinstance(value, list) and "" in value):
            name, takes, fix = known
            raise UsageError(f"{name} takes {takes}, and got an empty name (an unset shell variable?); {fix}")


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    try:
        parser = build_parser()  # argparse's objects take a moment to build: a Ctrl-C may come meanwhile
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version
            return int(exc.code or 0)
        except UsageError:
            from .distributed import launched_rank

            if launched_rank() not in (None, 0):  # every process of mpiexec reads the same command line:
                return 2  # rank 0 says what is wrong with it, once
            raise
        if args.command is None:
            parser.print_help()
            return 0
        args.argv = list(sys.argv[1:] if argv is None else argv)
        _refuse_empty_paths(args)
        return _run_command(args)
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
        _stdout_to_devnull(sys.stdout)
        return _CLOSED_PIPE_STATUS
    except OSError as exc:
        _say(_os_error_line(exc), err=True)
        return 1
    except KeyboardInterrupt:
        _say("interrupted", err=True)
        return 130
    except MemoryError:
        _say(f"{PROG}: error: out of memory; use a smaller network, batch or dataset", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(run())
