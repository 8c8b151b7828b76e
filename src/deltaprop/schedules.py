"""Learning-rate schedules (the seeds' "annealing"), applied once per epoch.

A schedule maps the epoch (0-based) and the base rate α₀ to the rate of that epoch;
:class:`ReduceOnPlateau` also watches a metric. ``fit`` sets ``optimizer.lr`` from it
before every epoch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import math
import warnings
from typing import Any, ClassVar

from . import _checks
from .errors import ConfigError
from .registry import Registry
from .watch import MetricWatch


class Schedule(ABC):
    type_name: ClassVar[str] = "Schedule"

    @abstractmethod
    def lr_at(self, epoch: int, base_lr: float) -> float:
        """The learning rate of ``epoch`` (0-based) for the base rate ``base_lr``."""

    def observe(self, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch with its metrics; only metric-driven schedules use it."""

    def config(self) -> dict[str, Any]:
        return {"type": self.type_name}

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass

    def reset(self) -> None:
        """Forget what earlier runs taught it: ``fit`` calls this when a new run begins
        (a resumed run keeps the state saved with it)."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{self.type_name}({args})"


class Constant(Schedule):
    """``α_t = α₀``."""

    type_name = "constant"

    def lr_at(self, epoch, base_lr):
        return base_lr


class StepDecay(Schedule):
    """``α_t = α₀ · γ^⌊t / step_size⌋``."""

    type_name = "step"

    def __init__(self, step_size: int = 10, gamma: float = 0.5):
        self.step_size = _checks.positive_int("step_size", step_size)
        self.gamma = _checks.fraction("gamma", gamma, low_open=True)

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)

    def config(self):
        return {"type": self.type_name, "step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(Schedule):
    """``α_t = α₀ · γ^t``."""

    type_name = "exponential"

    def __init__(self, gamma: float = 0.95):
        self.gamma = _checks.fraction("gamma", gamma, low_open=True, high_open=False)

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma**epoch

    def config(self):
        return {"type": self.type_name, "gamma": self.gamma}


class CosineAnnealing(Schedule):
    """``α_t = α_min + ½(α₀ − α_min)(1 + cos(π t / T))`` for ``t ≤ T``, then ``α_min``."""

    type_name = "cosine"

    def __init__(self, t_max: int = 50, min_lr: float = 0.0):
        self.t_max = _checks.positive_int("t_max", t_max)
        self.min_lr = _checks.positive_number("min_lr", min_lr, allow_zero=True)

    def lr_at(self, epoch, base_lr):
        t = min(epoch, self.t_max)
        return self.min_lr + 0.5 * (base_lr - self.min_lr) * (1.0 + math.cos(math.pi * t / self.t_max))

    def config(self):
        return {"type": self.type_name, "t_max": self.t_max, "min_lr": self.min_lr}


class ReduceOnPlateau(Schedule):
    """Multiply the rate by ``factor`` once more than ``patience`` epochs in a row have not
    improved ``monitor`` by more than ``min_delta``, never going below ``min_lr`` and never
    above the base rate: ``α_t = min(α₀, max(α₀ · factorⁿ, α_min))`` after ``n`` reductions
    (a ``min_lr`` above ``α₀`` keeps ``α₀``, as PyTorch's ReduceLROnPlateau does). ``patience``
    epochs are tolerated, as PyTorch's ReduceLROnPlateau counts (Keras' reduces one epoch
    sooner). Names ending in ``accuracy`` are maximised, others minimised; a ``val_`` metric
    falls back to its training counterpart when there is no validation data."""

    type_name = "plateau"

    def __init__(self, factor: float = 0.5, patience: int = 5, *, min_lr: float = 0.0, min_delta: float = 1e-4,
                 monitor: str = "val_loss"):
        self.factor = _checks.fraction("factor", factor, low_open=True)
        self.patience = _checks.positive_int("patience", patience, allow_zero=True)
        self.min_lr = _checks.positive_number("min_lr", min_lr, allow_zero=True)
        self.watch = MetricWatch(monitor, min_delta=min_delta)
        self.scale = 1.0

    @property
    def monitor(self) -> str:
        return self.watch.monitor

    @property
    def min_delta(self) -> float:
        return self.watch.min_delta

    def lr_at(self, epoch, base_lr):
        return min(base_lr, max(base_lr * self.scale, self.min_lr))

    def reset(self):
        self.scale = 1.0
        self.watch.reset()

    def observe(self, epoch, logs):
        if self.watch.update(logs) is False and self.watch.wait > self.patience:
            self.scale *= self.factor
            self.watch.wait = 0

    def config(self):
        return {
            "type": self.type_name,
            "factor": self.factor,
            "patience": self.patience,
            "min_lr": self.min_lr,
            "min_delta": self.min_delta,
            "monitor": self.monitor,
        }

    def state(self):
        # "best" as a score to minimise (−accuracy; ∞ before the first epoch), as saved so far
        best = self.watch.best
        score = math.inf if math.isnan(best) else (-best if self.watch.maximise else best)
        return {"scale": self.scale, "best": score, "wait": self.watch.wait}

    def load_state(self, state):
        self.scale = float(state["scale"])
        score = float(state["best"])
        self.watch.best = math.nan if score == math.inf else (-score if self.watch.maximise else score)
        self.watch.wait = int(state["wait"])


def check_anneals(schedule: Schedule, base_lr: float, rate: str = "the base rate") -> None:
    """Refuse a cosine whose ``min_lr`` is above the base rate ``α₀`` (``rate`` names it):
    ``α_min + ½(α₀ − α_min)(1 + cos(πt/T))`` would then rise from α₀ to ``min_lr`` over the
    run, the opposite of annealing (a ``min_lr`` meant for another optimizer's rate, say)."""
    if isinstance(schedule, CosineAnnealing) and schedule.min_lr > base_lr:
        raise ConfigError(f"the cosine schedule's min_lr {schedule.min_lr:g} is above {rate} {base_lr:g}: the rate "
                          f"would rise to {schedule.min_lr:g} over the run instead of annealing; give a min_lr "
                          "below the rate (0 by default), or a higher rate")


def idle_after_t_max(schedule: Schedule, epochs: int) -> str | None:
    """In words, where a run of ``epochs`` epochs goes on past the end of its cosine
    schedule with ``min_lr`` 0: ``α_t = 0`` for every epoch ``t ≥ T`` (0-based), so epochs
    ``T + 1 … epochs`` train at a rate of 0 and leave the weights as they are (momentum's
    velocity aside); None otherwise. A ``min_lr`` above 0 is a floor the run trains on at."""
    if not isinstance(schedule, CosineAnnealing) or schedule.min_lr > 0 or epochs <= schedule.t_max:
        return None
    t = schedule.t_max
    span = f"epoch {epochs}" if epochs == t + 1 else f"epochs {t + 1}-{epochs}"
    return (f"the cosine schedule ends at epoch {t} (t_max={t}), so {span} of the {epochs} would train at a "
            f"learning rate of 0 (its min_lr): the weights would stay as they are, but for momentum's last velocity")


def warn_idle_after_t_max(schedule: Schedule, epochs: int, *, stacklevel: int = 2) -> None:
    """``fit``'s warning for a new run of ``epochs`` epochs that :func:`idle_after_t_max`
    finds going on past its cosine's end at a rate of 0 (the run goes on, as asked)."""
    if (idle := idle_after_t_max(schedule, epochs)) is not None:
        warnings.warn(f"{idle}; give the cosine a t_max of at least {epochs} (schedule='cosine' takes the run's "
                      "length) or a min_lr above 0 to train on at that rate", UserWarning, stacklevel=stacklevel + 1)


#: A step or exponential decay that keeps the rate under this share of the base rate α₀ for
#: half a run's epochs or more stops it learning early: on the MNIST sample, exponential
#: decay with γ = 0.01 over 5 epochs takes SGD's 0.3 to 3e-5 at epoch 3, and the loss moves by
#: 0.01% over epochs 3-5 (test accuracy 0.864 against 0.906 at a constant rate). γ = 0.5 over
#: 30 epochs passes it at epoch 11, while a step decay of 0.1 every 10 epochs over 30 (down to
#: 1e-2), γ = 0.9 over 100 (1e-3 from epoch 67) and a cosine stay above it for most of the run.
STALLED_SHARE = 1e-3


def stalled_by_decay(schedule: Schedule, epochs: int) -> str | None:
    """In words, where a step or exponential decay keeps the rate ``α_t`` under STALLED_SHARE
    of ``α₀`` for at least half of a run of ``epochs`` epochs (and two of them): those epochs'
    steps are too small to move the weights; None otherwise (a cosine's end:
    :func:`idle_after_t_max`)."""
    if not isinstance(schedule, (StepDecay, ExponentialDecay)):
        return None
    first = next((t for t in range(epochs) if schedule.lr_at(t, 1.0) < STALLED_SHARE), None)
    if first is None or epochs - first < max(2, epochs / 2):
        return None
    settings = (f"gamma={schedule.gamma:g}" if isinstance(schedule, ExponentialDecay)
                else f"step_size={schedule.step_size}, gamma={schedule.gamma:g}")
    return (f"the {schedule.type_name} schedule ({settings}) takes the learning rate under {STALLED_SHARE:g} of its "
            f"start from epoch {first + 1} on ({schedule.lr_at(first, 1.0):.2g} of it), so epochs {first + 1}-{epochs} "
            f"of the {epochs} would take steps too small to move the weights")


def warn_stalled_by_decay(schedule: Schedule, epochs: int, *, stacklevel: int = 2) -> None:
    """``fit``'s warning for a new run of ``epochs`` epochs that :func:`stalled_by_decay`
    finds decaying its rate to nothing for half of it or more (the run goes on, as asked)."""
    if (stalled := stalled_by_decay(schedule, epochs)) is not None:
        warnings.warn(f"{stalled}; give the schedule {slower_decay(schedule)}", UserWarning, stacklevel=stacklevel + 1)


def slower_decay(schedule: Schedule) -> str:
    """What makes a step or exponential decay slower, in words."""
    return "a gamma closer to 1" + (" or a longer step_size" if isinstance(schedule, StepDecay) else "")


SCHEDULES: Registry[type[Schedule]] = Registry(
    "schedule",
    {cls.type_name: cls for cls in (Constant, StepDecay, ExponentialDecay, CosineAnnealing, ReduceOnPlateau)},
)


def schedule_from_config(config: str | dict[str, Any] | Schedule | None) -> Schedule:
    """A schedule from a name (``"cosine"``), a config mapping, or an instance (None: constant)."""
    if config is None:
        return Constant()
    if isinstance(config, Schedule):
        return config
    return SCHEDULES.create(config)


def schedule_for_run(config: str | dict[str, Any] | Schedule | None, epochs: int | None,
                     lengths: dict[str, Any] | None = None) -> Schedule:
    """:func:`schedule_from_config` for a run of ``epochs`` epochs: a cosine or step schedule
    named (or given as a mapping) without its length takes the run's, as the command line
    and the scikit-learn estimators do: ``t_max = epochs``, ``step_size = max(1, epochs // 3)``
    (else a 10-epoch run of ``"step"`` never decays and one of ``"cosine"`` ends at 0.9 α₀).
    ``lengths`` (a schedule's config) gives them instead of ``epochs``. An instance is used
    as given."""
    schedule = schedule_from_config(config)
    if config is None or isinstance(config, Schedule):
        return schedule
    given = config if isinstance(config, dict) else {}
    for cls, key in ((CosineAnnealing, "t_max"), (StepDecay, "step_size")):
        if type(schedule) is cls and key not in given:
            if lengths is not None and lengths.get("type") == schedule.type_name and key in lengths:
                length = lengths[key]
            elif epochs is not None:
                length = max(1, epochs if cls is CosineAnnealing else epochs // 3)
            else:
                continue
            return SCHEDULES.create({**schedule.config(), key: length})
    return schedule
