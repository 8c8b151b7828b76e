"""The training configuration: defaults, TOML files, validation, and the resolved
``config.toml`` a run writes.

Precedence: built-in defaults < ``--config FILE.toml`` < command-line flags. Every value,
wherever it came from, passes through :func:`TrainConfig.from_mapping`, the one place where
numbers are parsed and checked (NaN, infinity and overflowing literals such as ``1e999``
included), so the library sees only finite, in-range values.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import _checks
from .errors import ConfigError
from .layers import ACTIVATIONS
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES, check_anneals, schedule_from_config

__all__ = ["HIDDEN_ACTIVATIONS", "OUTPUT_LOSSES", "SCALINGS", "TrainConfig", "config_file", "dumps_toml", "load_toml"]

#: How raw inputs are turned into network inputs: ``auto`` divides 8-bit images by 255,
#: leaves data already in [0, 1] as it is and standardises everything else on the
#: training split (see :func:`deltaprop.preprocessing.auto_scaling`).
SCALINGS = ("auto", "unit", "standardize", "standardize_per_feature", "standardize_global", "none")
#: Activations a hidden layer may use.
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
#: Output layer and loss pairs that go together; any output also goes with mse.
#: identity + cross_entropy takes the outputs as logits (the softmax is inside the loss).
OUTPUT_LOSSES = (("softmax", "cross_entropy"), ("identity", "cross_entropy"), ("sigmoid", "binary_cross_entropy"))
#: SGD's learning rate when none is given: seed 000's. Other optimizers use their own default.
SGD_LR = 0.3
DTYPES = ("float32", "float64")
#: The order of mini-batches: reshuffled every epoch, the stored order, or seed 000's
#: windows of batch_size + 1 rows sliding by batch_size (see deltaprop.training).
BATCHINGS = ("shuffled", "sequential", "sliding")
#: A configuration file is a few hundred bytes; refuse more than this before reading it.
MAX_CONFIG_BYTES = 1 << 20
#: The hidden layer's width when ``layers`` is not given: [features, DEFAULT_HIDDEN, outputs].
DEFAULT_HIDDEN = 50
#: The largest whole number config.toml can hold (TOML's integers are 64-bit, signed): the
#: most a seed, a width, a batch size or a limit may be.
MAX_SEED = MAX_INT = 2**63 - 1
#: The names a run's ``derived`` list may hold: the values train fills in from defaults or the run.
DERIVABLE = ("lr", "weight_decay", "epochs", "layers", "validation_split", "schedule.t_max", "schedule.step_size")


@dataclass
class TrainConfig:
    """Everything ``deltaprop train`` needs; the defaults are seed 000's SGD network
    (784 → 50 sigmoid → 10 softmax, cross-entropy, SGD α = 0.3, batches of 20) on the
    bundled MNIST sample. ``lr`` None means the optimizer's own default (SGD: seed 000's
    0.3; Adam 0.001, ...), and ``weight_decay`` None its own λ (AdamW 0.01, the others 0).
    ``label_column`` names or numbers the label column of a CSV
    file (or the labels array of an .npz); None finds it. ``layers`` empty means [features, 50, classes] of the dataset;
    ``epochs``/``steps`` None means no limit of that kind; ``early_stopping`` is the
    patience in epochs (0: off). ``input_shape``: the shape of one example before it was
    flattened (``[14, 14, 4]``; a CSV file's rows of pixels), which the model records; None:
    the data's own (an .npz file's images, a named dataset's), none for a table's rows."""

    dataset: str = "mnist-sample"
    data_dir: str = ""
    label_column: int | str | None = None
    layers: list[int] = field(default_factory=list)
    activation: str = "sigmoid"
    output: str = "softmax"
    loss: str = "cross_entropy"
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float | None = None
    dropout: float = 0.0
    schedule: str | dict[str, Any] = "constant"
    init: str = ""
    batch_size: int | str = 20
    batching: str = "shuffled"
    epochs: int | None = 10
    steps: int | None = None
    validation_split: float = 0.1
    early_stopping: int = 0
    seed: int = 0
    dtype: str = "float32"
    scaling: str = "auto"
    input_shape: list[int] | None = None
    #: The values above that were filled in (defaults such as ``lr``, the layer widths and
    #: a schedule's length taken from the run), as ``"lr"`` or ``"schedule.t_max"``.
    derived: list[str] = field(default_factory=list)

    # -- building ------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, *sources: dict[str, Any], origin: str = "the configuration") -> "TrainConfig":
        """Defaults updated by each mapping in turn (later wins), then checked.
        Unknown keys raise :class:`ConfigError` naming the key and the closest known one."""
        merged: dict[str, Any] = {}
        for source in sources:
            for key, value in source.items():
                if key not in cls.keys():
                    raise ConfigError(f"unknown key {key!r} in {origin}{_suggest(key, cls.keys())}")
                merged[key] = value
        # --steps alone means "stop after that many steps", not "10 epochs or N steps".
        if merged.get("steps") is not None and "epochs" not in merged:
            merged["epochs"] = None
        cfg = cls()
        for key, value in merged.items():
            setattr(cfg, key, value)
        if "epochs" not in merged and _names(cfg.derived):  # the default 10, not a length asked for
            cfg.derived = sorted({*cfg.derived, "epochs"})
        cfg.validate()
        return cfg

    def validate(self) -> "TrainConfig":
        """Parse and check every value in place; the single gate for numbers."""
        self.dataset = _home(_text("dataset", self.dataset, allow_empty=False))
        self.data_dir = _home(_text("data_dir", self.data_dir))
        self.label_column = _label_column(self.label_column)
        self.input_shape = _input_shape(self.input_shape)
        self.layers = _int_list("layers", self.layers)
        self.activation = _choice("activation", _alias(self.activation), HIDDEN_ACTIVATIONS)
        self.output = _output(_alias(self.output))
        self.loss = _loss_name(self.loss)
        _check_output_and_loss(self.output, self.loss)
        self.optimizer = _choice("optimizer", self.optimizer, tuple(OPTIMIZERS))
        if not _names(self.derived):
            raise ConfigError(f"derived must be a list of setting names, got {self.derived!r}")
        if self.lr is None or self.weight_decay is None:
            self.derived = sorted(set(self.derived) | {k for k in ("lr", "weight_decay") if getattr(self, k) is None})
        self.lr = _default_lr(self.optimizer) if self.lr is None else _positive_lr(self.lr, self.optimizer)
        if self.lr < sys.float_info.min:  # subnormal: training flushes it to 0
            raise ConfigError(f"lr must be at least {sys.float_info.min:.3g}, got {self.lr!r} (a smaller rate is 0 "
                              "to training's arithmetic)")
        self.momentum = _checks.fraction("momentum", _number("momentum", self.momentum))
        self.nesterov = _bool("nesterov", self.nesterov)
        self.weight_decay = (_default_weight_decay(self.optimizer) if self.weight_decay is None else
                             _checks.positive_number("weight_decay", _number("weight_decay", self.weight_decay),
                                                     allow_zero=True))
        self.dropout = _checks.fraction("dropout", _number("dropout", self.dropout))
        self.schedule = _schedule(self.schedule)
        check_anneals(schedule_from_config(self.schedule), self.lr, "lr")
        self.init = "" if self.init in ("", None, "auto") else _init_name(self.init)
        if isinstance(self.batch_size, str) and self.batch_size.strip().lower() == "full":
            self.batch_size = "full"
        else:
            self.batch_size = _within_toml("batch_size", _checks.positive_int("batch_size",
                                                                              _integer("batch_size", self.batch_size)),
                                           ', or "full" for the whole training split')
        self.batching = _choice("batching", self.batching, BATCHINGS)
        self.epochs = None if self.epochs is None else _checks.positive_int("epochs", _integer("epochs", self.epochs))
        self.steps = None if self.steps is None else _checks.positive_int("steps", _integer("steps", self.steps))
        for name in ("epochs", "steps"):
            _within_toml(name, getattr(self, name), "; leave it out for no limit of that kind")
        if self.epochs is None and self.steps is None:
            raise ConfigError("give epochs or steps (or both: training stops at the first reached)")
        self.validation_split = _checks.fraction("validation_split", _number("validation_split", self.validation_split))
        self.early_stopping = _within_toml("early_stopping", _checks.positive_int(
            "early_stopping", _integer("early_stopping", self.early_stopping), allow_zero=True))
        self.seed = _within_toml("seed", _checks.positive_int("seed", _integer("seed", self.seed), allow_zero=True))
        self.dtype = _choice("dtype", self.dtype, DTYPES)
        self.scaling = _choice("scaling", self.scaling, SCALINGS)
        self._check_together()
        return self

    def _check_together(self) -> None:
        """Settings that are valid alone but not together: momentum or nesterov for another
        optimizer than sgd, nesterov without momentum, early stopping without validation rows."""
        if self.optimizer != "sgd" and (self.momentum or self.nesterov):
            given = [(f"momentum {self.momentum:g}", "--momentum 0", "momentum = 0.0")] if self.momentum else []
            given += [("nesterov", "--no-nesterov", "nesterov = false")] if self.nesterov else []
            raise ConfigError(f"{' and '.join(s[0] for s in given)} appl{'y' if len(given) > 1 else 'ies'} to the sgd "
                              f"optimizer only, not {self.optimizer!r}: give {' '.join(s[1] for s in given)} (in a "
                              f"config file {', '.join(s[2] for s in given)}), or --optimizer sgd")
        if self.nesterov and not self.momentum:
            raise ConfigError("nesterov needs momentum > 0: give --momentum 0.9, say, or --no-nesterov")
        if self.early_stopping and not self.validation_split:
            raise ConfigError("early_stopping watches the validation loss: set validation_split > 0")

    # -- where the values came from -----------------------------------------------------
    def read_from(self, path: str | Path, written: dict[str, Any]) -> None:
        """Record that the settings ``written`` (key → value as the file has it) were read
        from the file ``path`` (a ``--config`` file), not given as options: :meth:`named`
        then names the file's line."""
        self.__dict__["_files"] = {**self.__dict__.get("_files", {}),
                                   **{key: (str(path), value) for key, value in written.items()}}

    def given_in(self, key: str) -> str | None:
        """The file the setting ``key`` was read from (None: an option, or the default)."""
        return self.__dict__.get("_files", {}).get(key, (None, None))[0]

    def named(self, key: str, shown: str) -> str:
        """A setting as the user gave it: its option (``--layers 784,10``, ``shown`` the
        value), or the line of the file it was read from (``layers = [784, 10] in run.toml``)."""
        path, value = self.__dict__.get("_files", {}).get(key, (None, None))
        if path is None:
            return f"--{key.replace('_', '-')} {shown}"
        try:
            shown = _toml_value(key, value)
        except ConfigError:  # a table: its value as given
            pass
        return f"{key} = {shown} in {path}"

    # -- objects -------------------------------------------------------------------------
    def network_sizes(self, n_features: int, n_outputs: int) -> list[int]:
        """``layers``, or [features, 50, outputs] when not given."""
        return list(self.layers) if self.layers else [n_features, DEFAULT_HIDDEN, n_outputs]

    def build_network(self, n_features: int, n_outputs: int):
        from .network import mlp

        return mlp(self.network_sizes(n_features, n_outputs), activation=self.activation, output=self.output,
                   dropout=self.dropout, init=self.init or None, seed=self.seed, dtype=self.dtype)

    def build_optimizer(self):
        from .optimizers import optimizer_from_name

        kwargs: dict[str, Any] = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            kwargs.update(momentum=self.momentum, nesterov=self.nesterov)
        return optimizer_from_name(self.optimizer, **kwargs)

    def build_loss(self):
        from .losses import CrossEntropy, loss_from_name

        if self.loss == "cross_entropy" and self.output.split("+")[-1] == "identity":
            return CrossEntropy(from_logits=True)
        return loss_from_name(self.loss)

    def run_epochs(self, batches_per_epoch: int) -> int:
        """The epochs the run's limits allow: ``epochs``, or the epochs ``steps`` take
        (the last one begun), whichever is fewer."""
        by_steps = None if self.steps is None else -(-self.steps // max(1, batches_per_epoch))
        return min(n for n in (self.epochs, by_steps) if n is not None)

    def fill_from_run(self, n_features: int, n_outputs: int, batches_per_epoch: int) -> None:
        """Resolve, in place, what the run decides: the layer widths when not given and the
        schedule's length; each value filled is named in :attr:`derived`."""
        filled = set(self.derived)
        if not self.layers:
            self.layers = self.network_sizes(n_features, n_outputs)
            filled.add("layers")
        before = schedule_spec(self.schedule)
        self.schedule = self.schedule_for_run(batches_per_epoch)
        filled |= {f"schedule.{key}" for key in schedule_spec(self.schedule) if key not in before}
        self.derived = sorted(filled)

    def schedule_for_run(self, batches_per_epoch: int) -> str | dict[str, Any]:
        """The schedule with its length taken from the run where not set: cosine anneals
        over the run's epochs (``t_max``), step decays every third of them (``step_size`` =
        ``epochs // 3``, at least 1: two decays in a run of a multiple of 3 epochs)."""
        spec = schedule_spec(self.schedule)
        epochs = self.run_epochs(batches_per_epoch)
        if spec["type"] == "cosine" and "t_max" not in spec:
            spec["t_max"] = max(1, epochs)
        if spec["type"] == "step" and "step_size" not in spec:
            spec["step_size"] = max(1, epochs // 3)
        return spec if len(spec) > 1 else spec["type"]

    def keep_schedule(self, used: dict[str, Any]) -> None:
        """After a resume that changes the run's length: the schedule's length (cosine's
        ``t_max``, step's ``step_size``) as the run trains with it (``used``, the
        checkpoint's schedule), set rather than :attr:`derived`, so that ``config.toml``
        reruns the resumed run instead of deriving another length from the new epochs."""
        spec = schedule_spec(self.schedule)
        if used.get("type") == spec["type"]:
            spec.update({key: value for key, value in used.items() if key in ("t_max", "step_size")})
            self.schedule = _schedule(spec)
        self.derived = [name for name in self.derived if not name.startswith("schedule.")]

    # -- writing -------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """JSON/TOML-able; None values (no limit) are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None and (v or k != "derived")}

    def to_toml(self) -> str:
        """The resolved configuration, with ``derived`` naming the values filled in from
        defaults or the run (:func:`config_file` drops them again, so a rerun with other
        epochs or another optimizer gets its own)."""
        head = "# deltaprop train configuration; rerun with: deltaprop train --config config.toml\n"
        if self.derived:
            head += ("# derived: values filled in from the defaults or this run's data and length; read with --config,\n"
                     "# they are filled in again, so other epochs or another optimizer get their own; a value\n"
                     "# edited here is kept (a schedule's length follows the epochs: remove it from derived to keep it)\n")
        return head + dumps_toml(self.as_dict())


# -- parsing functions (the one place numbers are read) ---------------------------------------
def _names(value: Any) -> bool:
    """Whether ``value`` is a list of setting names (a ``derived`` list)."""
    return isinstance(value, list) and all(isinstance(n, str) for n in value)


#: Flags of ``deltaprop train`` whose configuration key is not the flag's name.
FLAG_KEYS = {"output_activation": "output"}


#: Options of ``deltaprop train`` that say how to run it, not what to train: the command line
#: takes them, a configuration file does not (difflib would offer ``out`` the key ``output``).
COMMAND_LINE_ONLY = ("out", "overwrite", "resume", "config", "threads", "quiet", "log_json", "serve")
#: Other names of settings a user may write: their key.
KEY_ALIASES = {"learning_rate": "lr", "batch": "batch_size"}  # difflib offers batch the key batching, an order


def _suggest(key: str, known) -> str:
    flag = str(key).strip().lower().replace("-", "_")
    if flag in FLAG_KEYS:  # difflib's closest, 'activation', is the hidden layers' setting
        return (f" (--{flag.replace('_', '-')}'s key is {FLAG_KEYS[flag]!r}: {FLAG_KEYS[flag]} = ...); known keys: "
                f"{', '.join(known)}")
    if flag in COMMAND_LINE_ONLY:
        return (f" (--{flag.replace('_', '-')} is an option of the command line only, not a setting of a "
                f"configuration file: give it to the command); known keys: {', '.join(known)}")
    if flag in known or flag in KEY_ALIASES:  # LR, Batch-Size, learning_rate
        return f" (did you mean {KEY_ALIASES.get(flag, flag)!r}?); known keys: {', '.join(known)}"
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; known keys: {', '.join(known)}"


def _number(name: str, value: Any) -> float:
    """A float from a number or a string; NaN, infinity and overflow are refused."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
        value = parsed
    if isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(f"{name} is too large: {value}") from None
    if not isinstance(value, float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r} "
                          f"(NaN, infinity and overflowing values like 1e999 are refused)")
    return value


def _integer(name: str, value: Any) -> int:
    """A whole number from an int or a decimal string; floats must be integral and finite."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                float(text)
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
            value = _number(name, text)  # NaN and infinity are named as such
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ConfigError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    if isinstance(value, int):
        return value
    raise ConfigError(f"{name} must be a whole number, got {value!r}")


def _within_toml(name: str, value: Any, fix: str = "") -> Any:
    """``value``, a whole number at most :data:`MAX_INT` (None passes): config.toml, the
    model's and checkpoint's metadata record it, and TOML's integers are 64-bit."""
    if value is not None and value > MAX_INT:
        shown = value if value < 10**30 else f"a number of {len(str(value))} digits"
        raise ConfigError(f"{name} must be at most 2**63 - 1 ({MAX_INT}), got {shown} (config.toml records it, "
                          f"and TOML's integers are 64-bit){fix}")
    return value


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _text(name: str, value: Any, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise ConfigError(f"{name} must be a {'non-empty ' if not allow_empty else ''}string, got {value!r}")
    return _utf8(name, value)


def _home(path: str) -> str:
    """``path`` with a leading ``~`` or ``~user`` made the home folder, as a shell makes it on
    the command line (a TOML file, or ``--dataset=~/x.csv``, gets no shell to do it)."""
    return os.path.expanduser(path) if path.startswith("~") else path


def _utf8(name: str, value: str) -> str:
    """``value``, which a run's files (config.toml, the model, the report) record as UTF-8
    text: a file name of other bytes (Python holds them as lone surrogates) is refused, not
    a traceback when the first of them is written."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{name} {value!r} holds bytes that are not UTF-8 text (a name in another encoding?); a "
                          "run's files record it as UTF-8 text: rename it, or give a UTF-8 name") from None
    return value


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    key = str(value).strip().lower().replace("-", "_") if isinstance(value, str) else None
    if key not in choices:
        raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return key


def _output(value: Any) -> str:
    """An output activation, or several joined by ``+`` (``sigmoid+softmax``)."""
    from .network import output_layers

    if not isinstance(value, str):
        raise ConfigError(f"output must be a name such as softmax, got {value!r}")
    value = "+".join(_alias(part) for part in value.split("+"))  # logistic+softmax, sigmoid+linear as alone
    output_layers(value)  # raises ConfigError naming the choices
    return "+".join(_choice("output", part, tuple(_activations())) for part in value.split("+"))


def _activations() -> tuple[str, ...]:
    return tuple(ACTIVATIONS)


def _init_name(value: Any) -> str:
    """An initialiser name, or ``scaled_normal(S)``: weights ``S · randn`` (seed 001 draws
    ``randn``, S = 1); an unknown one is refused, naming every form
    (:func:`deltaprop.initializers.forms_words`)."""
    from .initializers import INITIALIZERS, forms_words, resolve

    if isinstance(value, str) and value.strip().lower().replace(" ", "").startswith("scaled_normal("):
        text = value.strip().lower().replace(" ", "")
        resolve(text)  # raises ConfigError for a bad scale
        return text
    key = value.strip().lower().replace("-", "_") if isinstance(value, str) else None
    if key not in tuple(INITIALIZERS):
        raise ConfigError(f"unknown init {value!r}; choose one of {forms_words()}")
    return key


def _loss_name(value: Any) -> str:
    from .losses import loss_from_name

    if not isinstance(value, str):
        raise ConfigError(f"loss must be a name, got {value!r}")
    names = {"CrossEntropy": "cross_entropy", "BinaryCrossEntropy": "binary_cross_entropy", "MeanSquaredError": "mse"}
    return names[loss_from_name(value).type_name]


def _int_list(name: str, value: Any) -> list[int]:
    if isinstance(value, str):
        text = value.strip()
        parts = [p.strip() for p in text.split(",")] if text else []  # "78 4" is no width of 784
        value = parts
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{name} must be a list of widths such as 784,256,10, got {value!r}")
    out = [_within_toml(f"{name} width", _checks.positive_int(f"{name} width", _integer(f"{name} width", v)))
           for v in value]
    if out and len(out) < 2:
        raise ConfigError(f"{name} needs at least an input and an output width, got {out}")
    return out


def _schedule_settings(kind: str) -> dict[str, Any]:
    """The settings of schedule ``kind`` and their defaults (its constructor's keywords)."""
    params = inspect.signature(SCHEDULES[kind]).parameters
    return {name: p.default for name, p in params.items() if p.default is not inspect.Parameter.empty}


def _schedule_spec(value: Any) -> dict[str, Any]:
    """``"cosine"``, ``"cosine:t_max=20,min_lr=0.001"`` or a ``[schedule]`` table as a mapping."""
    if isinstance(value, dict):
        return dict(value)
    if not isinstance(value, str):
        raise ConfigError(f"schedule must be a name or a table, got {value!r}")
    name, _, rest = value.strip().partition(":")
    spec: dict[str, Any] = {"type": name.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, text = item.partition("=")
        if not eq:
            raise ConfigError(f"schedule setting {item!r} must be KEY=VALUE, e.g. --schedule cosine:t_max=20")
        if key.strip() in spec:  # the later would win unsaid
            raise ConfigError(f"schedule {value.strip()!r} sets {key.strip()} twice; give it once")
        spec[key.strip()] = text.strip()
    return spec


def _schedule(value: Any) -> str | dict[str, Any]:
    """A checked schedule: a name, or a mapping of ``type`` and that schedule's settings
    (TOML: ``[schedule]`` with ``type = "cosine"``, ``t_max = 20``; flag:
    ``--schedule cosine:t_max=20``)."""

    spec = _schedule_spec(value)
    kind = spec.get("type")
    if not isinstance(kind, str):
        raise ConfigError(f"the schedule needs its type: type = one of {', '.join(SCHEDULES)} in the [schedule] table "
                          f"(got keys {', '.join(sorted(spec)) or 'none'})")
    kind = kind.strip().lower()
    if kind not in SCHEDULES:
        raise ConfigError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    settings = _schedule_settings(kind)
    out: dict[str, Any] = {"type": kind}
    for key, v in spec.items():
        if key == "type":
            continue
        if key not in settings:
            known = ", ".join(settings) or "none"
            raise ConfigError(f"schedule.{key} is not a setting of the {kind} schedule; its settings: {known}")
        if isinstance(settings[key], str):
            out[key] = _text(f"schedule.{key}", v, allow_empty=False)
        elif isinstance(settings[key], int):
            out[key] = _within_toml(f"schedule.{key}", _integer(f"schedule.{key}", v))
        else:
            out[key] = _number(f"schedule.{key}", v)
    schedule_from_config(out)  # raises ConfigError for out-of-range settings
    return out if len(out) > 1 else kind


def _alias(name: Any) -> Any:
    """Other names of activations: linear = identity, logistic = sigmoid."""
    if not isinstance(name, str):
        return name
    key = name.strip().lower().replace("-", "_")
    return {"linear": "identity", "logistic": "sigmoid"}.get(key, name)


def _check_output_and_loss(output: str, loss: str) -> None:
    last = output.split("+")[-1]
    if loss == "mse" or (last, loss) in OUTPUT_LOSSES:
        return
    pairs = "; ".join(f"{o} with {pair_loss}" for o, pair_loss in OUTPUT_LOSSES)
    raise ConfigError(f"output {output} does not go with loss {loss}: the pairs that work are {pairs}; "
                      "or any output with mse")


def _positive_lr(lr, optimizer: str) -> float:
    """``lr`` as a float > 0; a refusal names a rate to give: the optimizer's default."""
    try:
        return _checks.positive_number("lr", _number("lr", lr))
    except ConfigError as exc:
        raise ConfigError(f"{exc}: give a positive learning rate, e.g. {_default_lr(optimizer):g} "
                          f"(the default for {optimizer})") from None


def _default_lr(optimizer: str) -> float:
    if optimizer == "sgd":
        return SGD_LR
    return float(inspect.signature(OPTIMIZERS[optimizer]).parameters["lr"].default)


def _default_weight_decay(optimizer: str) -> float:
    """The optimizer's own λ: 0 for all but AdamW, whose decoupled decay is its point (0.01)."""
    return float(inspect.signature(OPTIMIZERS[optimizer]).parameters["weight_decay"].default)


def _input_shape(value: Any) -> list[int] | None:
    """The shape of one example: 1 to 4 whole numbers above 0 (``"14,14,4"`` read as
    such); None (or empty) for none given."""
    if value is None or value in ("", []):
        return None
    if isinstance(value, str):
        value = [p.strip() for p in value.split(",")]
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 4:
        raise ConfigError(f"input_shape must be the shape of one example, 1 to 4 whole numbers such as 28,28 or "
                          f"14,14,4, got {value!r}")
    return [_within_toml("input_shape", _checks.positive_int("input_shape", _integer("input_shape", v))) for v in value]


def _label_column(value: Any) -> int | str | None:
    """A column index (an int) or a header name or index as written (a string, digits kept
    as text: the reader refuses digits that a header of numbers names another column by);
    None or "" finds it."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ConfigError(f"label_column must be a column name or index, got {value!r}")


# -- TOML ---------------------------------------------------------------------------------------
def schedule_spec(schedule: str | dict[str, Any]) -> dict[str, Any]:
    """A configuration's schedule as a mapping: ``"cosine"`` → ``{"type": "cosine"}`` (a copy)."""
    return {"type": schedule} if isinstance(schedule, str) else dict(schedule)


def config_file(path: str | Path, notes: list[str] | None = None, overridden=()) -> dict[str, Any]:
    """The settings of a configuration file (``--config``) as a mapping for
    :meth:`TrainConfig.from_mapping`, without the values its ``derived`` list names: a
    run's ``config.toml`` fills in ``lr``, the widths or a cosine's ``t_max`` from its own
    optimizer and length, and those must follow the new run's. A derived value edited in the
    file (one its own settings no longer derive) is kept as set; a schedule length, which
    the run's length derives, is filled in again, and ``notes`` gets a sentence saying so
    where the file's value differs from what its epochs derive. ``overridden``: settings
    given elsewhere too (flags), whose values here are not used: no note speaks of them."""
    mapping = load_toml(path)
    if notes is not None:
        notes += [note for key in ("dataset", "data_dir") if key not in overridden
                  and (note := _beside_note(path, key, mapping.get(key))) is not None]
    names = mapping.pop("derived", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{path}: derived must be a list of setting names, got {names!r}")
    for name in names:
        if name not in DERIVABLE:  # its setting would be dropped unsaid
            raise ConfigError(f"{path}: derived lists {name!r}, which train never fills in (it fills in "
                              f"{', '.join(DERIVABLE)}); a setting listed there is left out and taken again from "
                              f"the defaults or the run: remove {name!r} from derived")
        table, _, key = name.partition(".")
        if not key:
            if not _edited(mapping, table):
                mapping.pop(table, None)
            elif (notes is not None and table not in overridden
                  and (note := _other_optimizers_value(mapping, table)) is not None):
                notes.append(f"{path}: {note}")
        elif isinstance(mapping.get(table), dict):
            value = mapping[table].pop(key, None)
            if (notes is not None and table not in overridden and value is not None
                    and value != _derived_length(mapping, key)):
                notes.append(f"{path}: {name} = {value!r} is listed as derived, so it is taken from this run's "
                             f"length again; to keep {value!r}, remove \"{name}\" from the file's derived list")
    return mapping


def _beside_note(path: str | Path, key: str, value: Any) -> str | None:
    """A sentence for a relative ``dataset`` or ``data_dir`` of the file ``path`` that names
    something beside the file (in its folder) other than what it names from the current
    folder, which relative paths are read from: none there, or another file."""
    from .data import DATASETS

    if not isinstance(value, str) or not value.strip() or Path(value).is_absolute():
        return None
    if key == "dataset" and value.lower().replace("_", "-") in DATASETS:  # a name, not a path
        return None
    here, beside = Path(value), Path(path).parent / value
    try:
        if Path(path).parent.resolve() == Path.cwd().resolve() or not beside.exists():
            return None
        other = here.exists() and not here.samefile(beside)
        if here.exists() and not other:
            return None
    except OSError:
        return None
    found = f"there is no {value} there" if not other else f"that is {here.resolve()}, not the {value} beside it"
    return (f"{path}: {key} = {json.dumps(value)} is read from the current folder, {Path.cwd()}, as relative paths "
            f"are, and {found}; for the one beside the file give {key} = {json.dumps(str(beside.resolve()))} "
            f"(or run from {Path(path).parent})")


def _edited(mapping: dict[str, Any], name: str) -> bool:
    """Whether a setting a run's ``config.toml`` lists as derived no longer holds what the
    file's own settings derive (an edit by hand, which is the user's to keep): ``lr`` and
    ``weight_decay`` against the file's optimizer's defaults, ``layers`` against the default
    one hidden layer of 50, ``epochs`` against 10, ``validation_split`` against the 0 a small
    file takes. A value that cannot be read is kept, for the checks to name."""
    if name not in mapping:
        return False
    value = mapping[name]
    try:
        if name in ("lr", "weight_decay"):
            optimizer = _choice("optimizer", mapping.get("optimizer", TrainConfig.optimizer), tuple(OPTIMIZERS))
            default = _default_lr(optimizer) if name == "lr" else _default_weight_decay(optimizer)
            return _number(name, value) != default
        if name == "layers":
            widths = _int_list("layers", value)
            return len(widths) != 3 or widths[1] != DEFAULT_HIDDEN
        if name == "epochs":
            return _integer("epochs", value) != TrainConfig.epochs
        if name == "validation_split":
            return _number("validation_split", value) != 0
    except ConfigError:
        return True
    return False


def _other_optimizers_value(mapping: dict[str, Any], name: str) -> str | None:
    """A sentence for a derived ``lr`` or ``weight_decay`` kept as edited (it is not the
    file's optimizer's own) that is another optimizer's own: the optimizer may be what was
    edited, and its rate or decay then belongs to the optimizer the file was written for."""
    if name not in ("lr", "weight_decay"):
        return None
    default = _default_lr if name == "lr" else _default_weight_decay
    try:
        optimizer = _choice("optimizer", mapping.get("optimizer", TrainConfig.optimizer), tuple(OPTIMIZERS))
        value = _number(name, mapping[name])
    except ConfigError:
        return None
    others = [o for o in OPTIMIZERS if o != optimizer and default(o) == value]
    if not others:
        return None
    return (f"{name} = {value:g} is listed as derived but is not {optimizer}'s own {name} ({default(optimizer):g}; "
            f"{value:g} is {' and '.join(others)}'s), so it is kept as edited by hand; if the optimizer was changed "
            f"and {optimizer} should take its own, delete the {name} line or give --{name.replace('_', '-')} "
            f"{default(optimizer):g}")


def _derived_length(mapping: dict[str, Any], key: str) -> int | None:
    """A schedule length as the file's own ``epochs`` derive it (None where ``steps`` also
    bounds the run: the batches an epoch takes are not known here)."""
    if "steps" in mapping:
        return None
    try:
        epochs = _integer("epochs", mapping.get("epochs", TrainConfig.epochs))
    except ConfigError:
        return None
    return max(1, epochs) if key == "t_max" else max(1, epochs // 3)


def load_toml(path: str | Path) -> dict[str, Any]:
    """The mapping in a TOML file (a regular file of at most :data:`MAX_CONFIG_BYTES`,
    nested at most :data:`deltaprop.bounded.MAX_DEPTH` deep); every problem, syntax
    included, is a :class:`ConfigError` naming the file."""
    from .bounded import parse_toml, read_text

    text = read_text(path, max_bytes=MAX_CONFIG_BYTES, what="config file", error=ConfigError, allow_empty=True)
    # the byte-order mark some editors start a UTF-8 file with: TOML reads it as a bad statement
    return parse_toml(text.removeprefix("\ufeff"), what=str(path), error=ConfigError)


def _toml_string(s: str) -> str:
    body = json.dumps(s, ensure_ascii=False)  # escapes quotes, backslashes and C0 controls
    return body.replace("\x7f", "\\u007F")


def _toml_value(key: str, v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ConfigError(f"{key} is not finite ({v!r}); TOML output takes finite numbers only")
        text = repr(v)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(key, x) for x in v) + "]"
    raise ConfigError(f"cannot write {key} = {v!r} as TOML")


def _toml_key(k: str) -> str:
    if k and all(c.isalnum() or c in "_-" for c in k) and k.isascii():
        return k
    return _toml_string(k)


def dumps_toml(data: dict[str, Any], _prefix: str = "") -> str:
    """TOML text for a mapping of strings, ints, floats, bools, lists of those and nested
    tables (a small writer: the resolved configuration needs nothing more)."""
    lines = []
    tables = []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(k, v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{_prefix}.{_toml_key(k)}" if _prefix else _toml_key(k)
        out += f"\n[{name}]\n" + dumps_toml(v, name)
    return out
