"""Optimizers, decoupled from layers: they see a list of :class:`Parameter` and nothing else.

The base class binds the parameters (:meth:`Optimizer.build`), adds L2 weight decay to the
gradient (into a buffer of its own: ``Parameter.grad`` keeps the loss gradient ``∂L/∂θ``),
counts steps and exports state keyed by parameter position; each subclass writes the
update of one parameter. Hyperparameters are validated when the optimizer is
made and kept as Python floats, so float32 parameters stay float32.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import inspect
import math
import operator
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from . import _checks, kernels, vector_blas
from .errors import ConfigError, StateError
from .layers import Parameter
from .registry import Registry


def _setting(name: str, check) -> property:
    """A hyperparameter checked whenever it is set, when the optimizer is made and between
    steps (as PyTorch's param_groups are changed): a bad value is a :class:`ConfigError`
    naming it, not a run that silently goes wrong (a NaN, a division by zero). It is read
    through a C getter (``operator.attrgetter``): every step reads the settings, and a
    getter written in Python would add a Python call per setting to each step."""

    def set_value(obj, value) -> None:
        setattr(obj, "_" + name, check(name, value))

    return property(operator.attrgetter("_" + name), set_value)


def _non_negative(name: str, value) -> float:
    """λ >= 0, and α >= 0: made with α > 0, a schedule may take the rate down to 0."""
    return _checks.positive_number(name, value, allow_zero=True)


class Optimizer(ABC):
    """Base class. ``weight_decay`` λ adds ``λW`` to every gradient (L2 regularisation,
    ``L + ½λ‖W‖²``) before the update; biases are decayed too, as in PyTorch.
    ``lr``, ``weight_decay`` and a subclass's settings are checked whenever they are set."""

    type_name: ClassVar[str] = "Optimizer"
    #: names of the per-parameter state arrays, in order
    slots: ClassVar[tuple[str, ...]] = ()
    lr = _setting("lr", _non_negative)
    weight_decay = _setting("weight_decay", _non_negative)

    def __init__(self, lr: float, *, weight_decay: float = 0.0):
        try:
            self.lr = _checks.positive_number("lr", lr)
        except ConfigError as exc:  # say what to give: the bound alone left the user guessing
            default = getattr(inspect.signature(type(self)).parameters.get("lr"), "default", None)
            example = default if isinstance(default, (int, float)) and default > 0 else 0.01
            raise ConfigError(f"{exc}: the learning rate α scales every step (W := W − α·update), so it must be a "
                              f"positive number, e.g. {type(self).__name__}(lr={example:g})") from None
        self.weight_decay = weight_decay
        self.params: list[Parameter] = []
        self._targets: list[tuple[np.ndarray, np.ndarray]] = []
        self._state: list[dict[str, np.ndarray]] = []
        self._views: list[dict[str, np.ndarray]] = []
        self._scratch: list[np.ndarray] = []
        self._decayed: list[np.ndarray] = []
        self.iterations = 0

    # -- binding --------------------------------------------------------------------------
    def build(self, params: list[Parameter]) -> None:
        """Bind to ``params`` and zero the state. ``fit`` calls it unless already bound to them.

        Parameters that are consecutive views of one flat buffer (as a Network's are) are
        updated as that one buffer: a step costs a few array operations, whatever the depth."""
        self.params = list(params)
        packed = _packed(self.params)
        if packed is not None:
            self._targets = [packed]
        else:
            self._targets = [(p.value, p.grad) for p in self.params]
        self._state = [{k: np.zeros_like(v) for k in self.slots} for v, _ in self._targets]
        self._scratch = [np.empty_like(v) for v, _ in self._targets]
        # g + λW (L2 decay), kept apart from Parameter.grad; allocated when first needed
        needed = self.weight_decay and self._l2_in_gradient()
        self._decayed = [np.empty_like(v) for v, _ in self._targets] if needed else []
        # per-parameter views of the state, for export and import
        if packed is not None:
            self._views, offset = [], 0
            for p in self.params:
                n = p.value.size
                shape = p.value.shape
                self._views.append({k: a[offset : offset + n].reshape(shape) for k, a in self._state[0].items()})
                offset += n
        else:
            self._views = self._state
        self.iterations = 0

    def is_built_for(self, params: list[Parameter]) -> bool:
        return len(params) == len(self.params) and all(a is b for a, b in zip(params, self.params))

    # -- the update -----------------------------------------------------------------------
    def step(self) -> None:
        """One update of every bound parameter from its current ``grad``."""
        if not self.params:
            raise ConfigError("optimizer.step() before build(params); pass the optimizer to fit or call build")
        self.iterations += 1
        lr = float(self.lr)  # a NumPy scalar set by hand would promote float32 updates
        wd = self.weight_decay
        l2 = bool(wd) and self._l2_in_gradient()
        if l2 and not self._decayed:
            self._decayed = [np.empty_like(v) for v, _ in self._targets]
        for i, ((w, g), state, scratch) in enumerate(zip(self._targets, self._state, self._scratch)):
            if l2:  # g + λW in a buffer of its own, so that Parameter.grad stays ∂L/∂θ
                decayed = self._decayed[i]
                np.multiply(w, wd, out=decayed)
                decayed += g
                g = decayed
            self._update(w, g, state, scratch, lr)

    def _l2_in_gradient(self) -> bool:
        return True

    @abstractmethod
    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], scratch: np.ndarray, lr: float):
        """Update ``w`` in place from its gradient ``g`` and its ``state``; ``scratch`` is free."""

    # -- state ----------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"type": self.type_name, "lr": self.lr, "weight_decay": self.weight_decay}

    def state(self) -> dict[str, np.ndarray]:
        """State for checkpoints: ``"{i}.{slot}"`` arrays by parameter position, plus
        ``"iterations"``. Copies, so later steps do not change an exported state."""
        out = {f"{i}.{k}": v.copy() for i, s in enumerate(self._views) for k, v in s.items()}
        out["iterations"] = np.array(self.iterations, dtype=np.int64)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state` into an optimizer built for the same parameters.
        Any missing, extra, misshapen or mistyped entry raises :class:`StateError`."""
        if not self.params and self.slots:
            raise StateError("build the optimizer for the network's parameters before loading its state")
        expected = {f"{i}.{k}": v for i, s in enumerate(self._views) for k, v in s.items()}
        keys = set(state) - {"iterations"}
        if keys != set(expected) or "iterations" not in state:
            missing = sorted(set(expected) - keys)
            extra = sorted(keys - set(expected))
            raise StateError(
                f"{self.type_name} state does not match its parameters "
                f"(missing {missing[:5] or 'none'}, unexpected {extra[:5] or 'none'}); "
                "was it saved with a different network or optimizer?"
            )
        for key, target in expected.items():
            value = np.asarray(state[key])
            if value.shape != target.shape or value.dtype != target.dtype:
                raise StateError(
                    f"{self.type_name} state {key!r} is {value.dtype}{value.shape}, "
                    f"expected {target.dtype}{target.shape}"
                )
        iterations = np.asarray(state["iterations"])
        if iterations.shape != () or iterations.dtype.kind not in "iu" or int(iterations) < 0:
            raise StateError(f"{self.type_name} state 'iterations' must be one whole number >= 0 (the steps taken), "
                             f"got {state['iterations']!r}")
        for key, target in expected.items():
            target[...] = state[key]
        self.iterations = int(iterations)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{self.type_name}({args})"


def _packed(params: list[Parameter]) -> tuple[np.ndarray, np.ndarray] | None:
    """The flat (values, grads) buffers if ``params`` are consecutive views that tile them."""
    if not params:
        return None
    values, grads = params[0].value.base, params[0].grad.base
    if values is None or grads is None or values.ndim != 1 or grads.ndim != 1 or values.shape != grads.shape:
        return None
    if not (values.flags.c_contiguous and grads.flags.c_contiguous) or values.dtype != grads.dtype:
        return None
    itemsize = values.dtype.itemsize
    offset = 0
    for p in params:
        v, g = p.value, p.grad
        if v.base is not values or g.base is not grads or not v.flags.c_contiguous or not g.flags.c_contiguous:
            return None
        start_v = (v.__array_interface__["data"][0] - values.__array_interface__["data"][0]) // itemsize
        start_g = (g.__array_interface__["data"][0] - grads.__array_interface__["data"][0]) // itemsize
        if start_v != offset or start_g != offset:
            return None
        offset += v.size
    if offset != values.size:
        return None
    return values, grads


def _decay_mean_square(mean_sq, g, scratch, rho: float) -> None:
    """``E[g²] := ρ E[g²] + (1 − ρ) g²`` in place (RMSprop's S, AdaDelta's E[g²])."""
    mean_sq *= rho
    np.multiply(g, g, out=scratch)
    scratch *= 1.0 - rho
    mean_sq += scratch


def _step_by_root_mean_square(w, g, accumulator, scratch, lr: float, eps: float) -> None:
    """``W := W − α g / (√A + ε)``, the step AdaGrad and RMSprop share (``A`` their
    accumulator of squared gradients); ``scratch`` is overwritten."""
    np.sqrt(accumulator, out=scratch)
    scratch += eps
    np.divide(g, scratch, out=scratch)
    scratch *= lr
    w -= scratch


class SGD(Optimizer):
    """Gradient descent, with momentum as seed 002 writes it.

    Plain (μ = 0): ``W := W − α g``.
    Momentum: ``V := μV − α g;  W := W + V`` (seed 002). PyTorch keeps ``V' := μV' + g;
    W := W − αV'``, the same trajectory while α is constant; ours scales the old velocity by
    nothing when α changes, so an annealed α takes effect on new gradients only.
    Nesterov (Sutskever et al. 2013, as Keras): ``V := μV − α g;  W := W + μV − α g``.
    """

    type_name = "SGD"
    _momentum_may_be_one: ClassVar[bool] = False

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, *, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay=weight_decay)
        self._nesterov = False
        self.momentum = momentum
        self.nesterov = nesterov

    def _set_momentum(self, value) -> None:
        value = _checks.fraction("momentum", value, high_open=not self._momentum_may_be_one)
        if value == 0 and self._nesterov:
            raise ConfigError("nesterov=True needs momentum > 0; set nesterov = False before momentum = 0")
        self._momentum = value
        slots = ("velocity",) if value > 0 else ()
        if slots != self.slots:
            self.slots = slots
            if self.params:  # bound: give or take the velocity, keeping the step count
                iterations = self.iterations
                self.build(self.params)
                self.iterations = iterations

    def _set_nesterov(self, value) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"nesterov must be True or False, got {value!r}")
        if value and self.momentum == 0:
            raise ConfigError("nesterov=True needs momentum > 0, e.g. SGD(lr, momentum=0.9, nesterov=True)")
        self._nesterov = value

    # read by every step: C getters, no Python call (see _setting)
    momentum = property(operator.attrgetter("_momentum"), _set_momentum, doc="""μ; set between steps as PyTorch's
        param_groups allow: switched on, the velocity starts at 0 (the first step is −αg, as PyTorch's buffer
        starts at g); switched off, the velocity is dropped.""")
    nesterov = property(operator.attrgetter("_nesterov"), _set_nesterov)

    def config(self):
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, w, g, state, scratch, lr):
        v = state.get("velocity")
        if kernels.sgd(w, g, v, lr, self.momentum, self.nesterov) or vector_blas.sgd(
                w, g, v, lr, self.momentum, self.nesterov):
            return
        if not self.slots:
            np.multiply(g, lr, out=scratch)
            w -= scratch
            return
        v = state["velocity"]
        v *= self.momentum
        np.multiply(g, lr, out=scratch)
        v -= scratch
        if self.nesterov:
            w -= scratch
            np.multiply(v, self.momentum, out=scratch)
            w += scratch
        else:
            w += v


class AdaGrad(Optimizer):
    """Duchi et al. (2011): ``G := G + g²;  W := W − α g / (√G + ε)``.
    Defaults are PyTorch's: α = 0.01, ε = 1e-10, G starts at 0."""

    type_name = "AdaGrad"
    slots = ("sum_sq",)
    eps = _setting("eps", _checks.positive_number)

    def __init__(self, lr: float = 0.01, *, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay=weight_decay)
        self.eps = eps

    def config(self):
        return {**super().config(), "eps": self.eps}

    def _update(self, w, g, state, scratch, lr):
        G = state["sum_sq"]
        np.multiply(g, g, out=scratch)
        G += scratch
        _step_by_root_mean_square(w, g, G, scratch, lr, self.eps)


class RMSprop(Optimizer):
    """Hinton's RMSprop: ``S := ρS + (1 − ρ) g²;  W := W − α g / (√S + ε)``.
    Defaults are PyTorch's: α = 0.01, ρ = 0.99, ε = 1e-8 (Keras: 0.001, 0.9, 1e-7)."""

    type_name = "RMSprop"
    slots = ("mean_sq",)
    rho = _setting("rho", _checks.fraction)
    eps = _setting("eps", _checks.positive_number)

    def __init__(self, lr: float = 0.01, rho: float = 0.99, *, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay=weight_decay)
        self.rho = rho
        self.eps = eps

    def config(self):
        return {**super().config(), "rho": self.rho, "eps": self.eps}

    def _update(self, w, g, state, scratch, lr):
        S = state["mean_sq"]
        _decay_mean_square(S, g, scratch, self.rho)
        _step_by_root_mean_square(w, g, S, scratch, lr, self.eps)


class AdaDelta(Optimizer):
    """Zeiler (2012), with a learning rate as in PyTorch:
    ``E[g²] := ρE[g²] + (1 − ρ) g²;  Δ := −√(E[Δ²] + ε) / √(E[g²] + ε) · g;
    E[Δ²] := ρE[Δ²] + (1 − ρ) Δ²;  W := W + α Δ``.
    Defaults are PyTorch's: α = 1.0 (the paper's rule), ρ = 0.9, ε = 1e-6."""

    type_name = "AdaDelta"
    slots = ("mean_sq_grad", "mean_sq_delta")
    rho = _setting("rho", _checks.fraction)
    eps = _setting("eps", _checks.positive_number)

    def __init__(self, lr: float = 1.0, rho: float = 0.9, *, eps: float = 1e-6, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay=weight_decay)
        self.rho = rho
        self.eps = eps

    def config(self):
        return {**super().config(), "rho": self.rho, "eps": self.eps}

    def _update(self, w, g, state, scratch, lr):
        Eg, Ed = state["mean_sq_grad"], state["mean_sq_delta"]
        rho, eps = self.rho, self.eps
        _decay_mean_square(Eg, g, scratch, rho)
        # scratch := −Δ = √(E[Δ²] + ε) / √(E[g²] + ε) · g   (E[Δ²] is the old one)
        np.add(Eg, eps, out=scratch)
        np.sqrt(scratch, out=scratch)
        np.divide(g, scratch, out=scratch)
        Ed += eps
        np.sqrt(Ed, out=Ed)
        scratch *= Ed
        np.multiply(Ed, Ed, out=Ed)  # back to E[Δ²] + ε
        scratch *= lr  # W := W + αΔ
        w -= scratch
        # Δ² = (E[Δ²] + ε) g² / (E[g²] + ε), from g and E[g²] again: α never enters E[Δ²]
        # (no division by α, which a schedule may take to 0).
        np.add(Eg, eps, out=scratch)
        np.divide(g, scratch, out=scratch)
        scratch *= g
        scratch *= Ed
        Ed -= eps
        Ed *= rho
        scratch *= 1.0 - rho
        Ed += scratch


class Adam(Optimizer):
    """Algorithm 1 of Kingma and Ba (2015), as PyTorch and optax implement it:
    ``m := β₁m + (1 − β₁) g;  v := β₂v + (1 − β₂) g²;
    m̂ = m / (1 − β₁ᵗ);  v̂ = v / (1 − β₂ᵗ);  W := W − α m̂ / (√v̂ + ε)``.
    ε is added after the bias correction of v (scikit-learn folds the corrections into α
    and adds ε to √v, which differs for tiny gradients or a large ε; the estimators'
    ``solver="adam"`` steps as scikit-learn's). Defaults: α = 0.001, β₁ = 0.9,
    β₂ = 0.999, ε = 1e-8 (the paper's)."""

    type_name = "Adam"
    slots = ("m", "v")
    beta1 = _setting("beta1", _checks.fraction)
    beta2 = _setting("beta2", _checks.fraction)
    eps = _setting("eps", _checks.positive_number)

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        *,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(lr, weight_decay=weight_decay)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def config(self):
        return {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def _eps_hat(self, correction2: float) -> float:
        """The ε added to ``√v̂`` at step ``t`` (``correction2 = 1 − β₂ᵗ``): ε itself."""
        return self.eps

    def _update(self, w, g, state, scratch, lr):
        m, v = state["m"], state["v"]
        b1, b2, t = self.beta1, self.beta2, self.iterations
        correction1 = 1.0 - b1**t
        correction2 = 1.0 - b2**t
        eps = self._eps_hat(correction2)
        settings = {"beta1": b1, "beta2": b2, "inv_sqrt_c2": 1.0 / math.sqrt(correction2), "eps": eps,
                    "step": lr / correction1}
        if kernels.adam(w, g, m, v, **settings) or vector_blas.adam(w, g, m, v, scratch, **settings):
            return
        m *= b1
        np.multiply(g, 1.0 - b1, out=scratch)
        m += scratch
        v *= b2
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - b2
        v += scratch
        np.sqrt(v, out=scratch)
        scratch *= 1.0 / math.sqrt(correction2)
        scratch += eps
        np.divide(m, scratch, out=scratch)
        scratch *= lr / correction1
        w -= scratch


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as PyTorch:
    ``W := W − α λ W`` first, then the Adam update; λ never enters ``m`` or ``v``.
    Default λ = 0.01 (PyTorch's)."""

    type_name = "AdamW"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, *, eps: float = 1e-8,
                 weight_decay: float = 0.01):
        super().__init__(lr, beta1, beta2, eps=eps, weight_decay=weight_decay)

    def _l2_in_gradient(self) -> bool:
        return False

    def _update(self, w, g, state, scratch, lr):
        if self.weight_decay:
            w *= 1.0 - lr * self.weight_decay
        super()._update(w, g, state, scratch, lr)


class ScikitLearnSGD(SGD):
    """:class:`SGD` whose momentum may also be 1, as scikit-learn's ``momentum`` in [0, 1]:
    ``V := μV − α g`` with ``μ = 1`` keeps every past step at full weight. deltaprop's own
    SGD keeps ``μ < 1``; this one is the scikit-learn estimators' (``solver="sgd"``)."""

    _momentum_may_be_one = True


class ScikitLearnAdam(Adam):
    """Adam as scikit-learn steps (the estimators' ``solver="adam"``): ``W := W − α
    √(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε)``, ε added to ``√v`` before the bias correction. That is
    :class:`Adam`'s ``m̂/(√v̂ + ε̂)`` with ``ε̂ = ε/√(1−β₂ᵗ)``: 31.6 ε at the first step with
    β₂ = 0.999, ε as ``t`` grows. Its config says so (``"scikit_learn": true``), so that
    :func:`optimizer_from_config` rebuilds this variant, not :class:`Adam`."""

    def _eps_hat(self, correction2: float) -> float:
        return self.eps / math.sqrt(correction2)

    def config(self):
        return {**super().config(), "scikit_learn": True}


#: Optimizer names for configs and the command line (class names match them, whatever the case).
OPTIMIZERS: Registry[type[Optimizer]] = Registry(
    "optimizer",
    {"sgd": SGD, "adagrad": AdaGrad, "rmsprop": RMSprop, "adadelta": AdaDelta, "adam": Adam, "adamw": AdamW},
)
#: The scikit-learn estimators' variant of an optimizer type, which a config marks ``"scikit_learn": true``.
_SCIKIT_LEARN_VARIANTS: dict[type[Optimizer], type[Optimizer]] = {SGD: ScikitLearnSGD, Adam: ScikitLearnAdam}

#: An optimizer from a name in :data:`OPTIMIZERS` and its settings, or from its config mapping.
optimizer_from_name = OPTIMIZERS.create


def optimizer_from_config(config: str | Mapping[str, Any]) -> Optimizer:
    """An optimizer from its :meth:`Optimizer.config` mapping (or a name). The mapping's
    ``lr`` may be 0, unlike a new optimizer's: it is the rate of the moment it was written,
    and a checkpoint written after a cosine schedule reached its ``min_lr`` of 0 holds 0.
    The configs the scikit-learn estimators' optimizers write come back as those
    (:class:`ScikitLearnAdam` for ``"scikit_learn": true``, :class:`ScikitLearnSGD` for a
    momentum of 1), so a checkpoint of an estimator's run resumes with its own update rule."""
    if not isinstance(config, Mapping):
        return OPTIMIZERS.create(config)
    variant, config = _scikit_learn_variant(config)
    lr = config.get("lr")
    zero = isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr == 0
    settings = {**config, "lr": 1.0} if zero else dict(config)
    if variant is None:
        optimizer = OPTIMIZERS.create(settings)
    else:
        try:
            optimizer = variant(**{k: v for k, v in settings.items() if k != "type"})
        except TypeError as exc:
            raise ConfigError(f"bad settings for optimizer {config['type']!r}: {exc}") from None
    if zero:
        optimizer.lr = 0.0
    return optimizer


def _scikit_learn_variant(config: Mapping[str, Any]) -> tuple[type[Optimizer] | None, dict[str, Any]]:
    """The scikit-learn variant a config names (None for the plain type), and the config
    without its ``scikit_learn`` mark. An SGD config of momentum 1 is the variant's: the
    plain SGD refuses μ = 1, and the estimators wrote it unmarked."""
    config = dict(config)
    marked = config.pop("scikit_learn", False)
    if not isinstance(marked, bool):
        raise ConfigError(f"an optimizer config's 'scikit_learn' must be true or false, got {marked!r}")
    if not isinstance(config.get("type"), str):
        return None, config  # the registry names what a config without a type name lacks
    cls = OPTIMIZERS.lookup(config["type"])
    if not marked:
        momentum = config.get("momentum")
        one = cls is SGD and isinstance(momentum, (int, float)) and not isinstance(momentum, bool) and momentum == 1
        return (ScikitLearnSGD if one else None), config
    if cls not in _SCIKIT_LEARN_VARIANTS:
        raise ConfigError(f"'scikit_learn': true marks the scikit-learn estimators' SGD or Adam, but the config's "
                          f"type is {config['type']!r}; remove the mark")
    return _SCIKIT_LEARN_VARIANTS[cls], config
