"""Gradient checking: backpropagation against central finite differences, in float64.

For every checked entry θ_j of a parameter,
``g_num = (L(θ_j + h) − L(θ_j − h)) / 2h`` (error O(h²)), and the parameter's relative
error is ``‖g_bp − g_num‖ / max(‖g_bp‖ + ‖g_num‖, tiny)`` over its checked entries.
The input gradient ``∂L/∂x`` is checked the same way (the row ``input x``): training never
computes it, but what shows it (the served model page) does, through the first trained
layer's ``backward`` and those of the input scaling layers before it.
Dropout masks are drawn once and held fixed, so the function being differentiated is the
one backprop saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _checks
from .errors import ConfigError
from .layers import Dropout, LeakyReLU, ReLU, Sigmoid, Softmax
from .losses import Loss, _eps
from .network import Network
from .preprocessing import Rescaling, Standardization
from .training import row_weights


@dataclass
class ParameterCheck:
    name: str
    shape: tuple[int, ...]
    checked: int
    relative_error: float
    max_abs_error: float
    #: ``‖g_bp‖`` over the checked entries (0 with ``max_abs_error`` 0: nothing was compared)
    gradient_norm: float = float("nan")


@dataclass
class GradCheckReport:
    """Per-parameter results; ``max_relative_error`` is the worst of them. ``notes`` name
    the points where the loss is not differentiable and a correct gradient can still fail
    the check (probabilities clipped at eps, inputs at a ReLU's kink), and what the check
    could not see (gradients that are 0 at these inputs, one row). A parameter of more than
    ``max_entries`` entries is checked at a random sample of them: its ``checked`` says how many.
    ``input`` is the check of ``∂L/∂x`` (None where it was not checked)."""

    parameters: list[ParameterCheck]
    tolerance: float
    notes: list[str] = field(default_factory=list)
    input: ParameterCheck | None = None

    @property
    def checks(self) -> list[ParameterCheck]:
        """Every row: the parameters, then ``∂L/∂x`` where it was checked."""
        return self.parameters + ([] if self.input is None else [self.input])

    @property
    def max_relative_error(self) -> float:
        """The worst relative error, ``∂L/∂x``'s included; NaN when any is NaN (a gradient or
        loss that holds NaN or infinity), which fails the check."""
        return float(np.max([p.relative_error for p in self.checks], initial=0.0))

    @property
    def passed(self) -> bool:
        return self.max_relative_error < self.tolerance

    def table(self) -> str:
        rows = [("parameter", "shape", "checked", "relative error", "max abs error", "")]
        for p in self.checks:
            ok = "ok" if p.relative_error < self.tolerance else "FAIL"
            rows.append((p.name, "x".join(map(str, p.shape)), str(p.checked), f"{p.relative_error:.2e}",
                         f"{p.max_abs_error:.2e}", ok))
        widths = [max(len(r[c]) for r in rows) for c in range(6)]
        lines = ["  ".join(r[c].ljust(widths[c]) for c in range(6)).rstrip() for r in rows]
        verdict = "passed" if self.passed else "FAILED"
        lines.append(f"max relative error {self.max_relative_error:.2e} (tolerance {self.tolerance:.3g}): {verdict}")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def gradcheck(
    net: Network,
    loss: Loss,
    X,
    y,
    *,
    h: float = 1e-6,
    tolerance: float = 1e-6,
    max_entries: int | None = 200,
    train: bool = True,
    seed: int = 0,
    sample_weight=None,
    check_input: bool = True,
) -> GradCheckReport:
    """Check ``net``'s backprop gradients of ``loss`` on ``(X, y)``.

    Works on a float64 copy (the network itself is not changed). ``max_entries`` caps the
    entries checked per parameter (a random sample; ``None`` checks all). ``train=True``
    checks the training-mode function with every dropout mask drawn once and frozen;
    ``train=False`` the inference function (dropout off). Where the loss has no derivative
    (probabilities clipped at eps, ReLU inputs at their kink) a correct gradient can fail:
    the report's ``notes`` say so, with how many such points the check met.
    ``sample_weight``: one weight ``≥ 0`` a row, scaled to mean 1 as ``fit`` scales them,
    so the weighted loss ``(1/n) Σ_i w_i ℓ_i`` and its gradient are checked.
    Weight decay is not part of it: ``Parameter.grad`` is ``∂L/∂θ`` of the loss alone, and
    an optimizer adds ``λθ`` (the gradient of ``½λ‖θ‖²``) to its own copy when it steps
    (AdamW shrinks the weights instead, outside any gradient).
    ``check_input=True`` checks ``∂L/∂x`` too (the report's ``input``, the row ``input x``),
    at up to ``max_entries`` of the batch's entries, two more forward passes each."""
    h = _checks.positive_number("h", h)
    tolerance = _checked_tolerance(tolerance)
    if max_entries is not None:
        max_entries = _checks.positive_int("max_entries", max_entries)
    train = _checks.flag("train", train)
    check_input = _checks.flag("check_input", check_input)
    seed = _checks.seed(seed)
    if not isinstance(net.layers[-1], (Softmax, Sigmoid)):  # probabilities: every likelihood is defined on them
        loss.check_output(net)  # as fit does: a likelihood of raw outputs is clipped, not differentiable
    work = net.copy(dtype=np.float64)
    x = _checks.features(X, work.n_features, np.float64).copy()  # its entries are stepped by h in place
    targets = loss.prepare_targets(y, work.n_outputs, np.float64)
    _checks.same_length(x.shape[0], targets.shape[0])
    weights = () if sample_weight is None else (row_weights(sample_weight, x.shape[0], np.float64),)
    dropouts = [layer for layer in work.layers if isinstance(layer, Dropout)]
    for layer in dropouts:
        layer.bypass = not train

    def loss_value() -> float:
        return loss.value(work._forward(x, True), targets, *weights)

    a = work._forward(x, True)  # draws the dropout masks once
    for layer in dropouts:
        layer.freeze_mask = True
    try:
        value = float(loss.value(a, targets, *weights))
        notes = _clipped_note(loss, a, targets)
        work._backward(loss, a, targets, *weights)
        grad_x = _input_gradient(work) if check_input else None
        notes += _kink_note(work, x, h)
        rng = np.random.default_rng(seed)
        results = [_check_parameter(name, p, loss_value, h, _entries(p.value.size, max_entries, rng))
                   for name, p in work.named_parameters()]
        idx = _entries(x.size, max_entries, rng)
        inputs = None if grad_x is None else _check_parameter(
            "input x", _Entries(x, grad_x), loss_value, h, idx, _input_steps(work, h)[idx % x.shape[1]])
    finally:
        for layer in dropouts:
            layer.freeze_mask = False
    checks = results + ([] if inputs is None else [inputs])
    notes += _rounding_note(checks, tolerance, value, h) + _unseen_notes(checks, x.shape[0])
    return GradCheckReport(results, tolerance, notes, inputs)


@dataclass
class _Entries:
    """An array and backprop's gradient of it, as :func:`_check_parameter` reads a parameter."""

    value: np.ndarray
    grad: np.ndarray


def _input_gradient(work: Network) -> np.ndarray | None:
    """``∂L/∂x`` for the batch just backpropagated: the δ the first trained layer received,
    through its own ``backward`` and those of the layers before it (input scaling), which
    training skips as no parameter needs them. None for a network without parameters."""
    first = work._first_trained
    g = work._deltas[first]
    if g is None or not work.layers[first].parameters():
        return None
    for layer in reversed(work.layers[: first + 1]):
        g = layer.backward(g, need_input_grad=True)
    return np.array(g, dtype=np.float64)  # a copy: the layers reuse their buffers


def _input_steps(work: Network, h: float) -> np.ndarray:
    """Each input feature's step: ``h`` over the slope of the input scaling before the first
    trained layer (``s`` of a Rescaling, ``1/σ`` of a Standardization), so that layer's input
    moves by ``h``, as a parameter does, whatever units the raw inputs are in (0..255 pixels,
    a feature of σ = 1e-4): a step of ``h`` in them would drown the difference in rounding
    error or truncation error, and a correct ``∂L/∂x`` would fail."""
    steps = np.full(work.n_features, h)
    for layer in work.layers[: work._first_trained]:
        if isinstance(layer, Rescaling):
            steps /= layer.scale
        elif isinstance(layer, Standardization):
            steps *= layer.std
    return steps


def _unseen_notes(checks: list[ParameterCheck], rows: int) -> list[str]:
    """What a pass cannot vouch for: rows whose gradients are exactly 0 in backprop and
    the differences alike (saturated or dead units: a wrong backward there passes too),
    and a single row (where a missing batch mean ``1/n`` changes nothing)."""
    notes = []
    zero = [p.name for p in checks if p.checked and p.gradient_norm == 0.0 and p.max_abs_error == 0.0]
    if zero:
        shown = ", ".join(zero[:4]) + (f" and {len(zero) - 4} more" if len(zero) > 4 else "")
        notes.append(f"{shown}: the gradient is exactly 0 at every checked entry, in backprop and in the finite "
                     "differences alike (saturated or dead units), so the check compared nothing there and a wrong "
                     "backward would pass; check at inputs where those units respond (smaller inputs or weights)")
    if rows == 1:
        notes.append("one row: the loss's mean over the batch divides by 1, so a backward that leaves out the 1/n "
                     "passes; check on 2 or more rows")
    return notes


def _checked_tolerance(tolerance) -> float:
    """A tolerance in (0, 1): ‖a − b‖ ≤ ‖a‖ + ‖b‖, so the relative error is never above 1."""
    tolerance = _checks.positive_number("tolerance", tolerance)
    if tolerance >= 1:
        raise ConfigError(f"tolerance must be below 1, got {tolerance:g}: the relative error "
                          "‖g_bp − g_num‖ / (‖g_bp‖ + ‖g_num‖) is at most 1, so a tolerance of 1 or more passes "
                          "wrong gradients (one 100 times too large has 0.98); the default is 1e-6")
    return tolerance


def _clipped_note(loss: Loss, a: np.ndarray, targets: np.ndarray) -> list[str]:
    """A likelihood on probabilities clips ``a`` at ``eps`` (and ``1 − eps``) before its
    ``log``: where a likelihood term sits there, ``L`` is flat in θ while backprop's
    ``δ = (a − y)/n`` is not, and a correct gradient fails the check."""
    from .losses import BinaryCrossEntropy, CrossEntropy

    if not isinstance(loss, (CrossEntropy, BinaryCrossEntropy)) or loss.from_logits:
        return []
    eps = _eps(a.dtype)
    if isinstance(loss, CrossEntropy):
        clipped = int(np.count_nonzero((a < eps) & (targets > 0)))
    else:
        clipped = int(np.count_nonzero(((a < eps) & (targets > 0)) | ((a > 1 - eps) & (targets < 1))))
    if not clipped:
        return []
    return [f"{clipped} output(s) are probabilities clipped at eps ({eps:.1e}) where the target needs them: "
            f"{type(loss).__name__} is flat there while backprop's δ = a − y is not, so a correct gradient fails; "
            "check with from_logits=True (an identity output layer) or smaller weights"]


def _kink_note(work: Network, x: np.ndarray, h: float) -> list[str]:
    """Inputs ``z`` of ReLU/LeakyReLU layers within ``10 h`` of their kink at 0: a step of
    ``h`` can cross it, where the central difference averages the two slopes and backprop
    takes one (the subgradient), so a correct gradient can fail there."""
    near, z = 0, x
    for layer in work.layers:  # the dropout masks are frozen: the same function backprop saw
        if isinstance(layer, (ReLU, LeakyReLU)):
            near += int(np.count_nonzero(np.abs(z) < 10 * h))
        z = layer.forward(z, train=True)
    if not near:
        return []
    return [f"{near} input(s) of ReLU/LeakyReLU layers lie within 10·h of the kink at 0, where the loss has no "
            "derivative: finite differences and backprop may rightly disagree there (check at another seed or input)"]


def _rounding_note(results: list[ParameterCheck], tolerance: float, value: float, h: float) -> list[str]:
    """Failing parameters whose errors are those of the central difference itself: every
    absolute error within its rounding error ``≈ 10·ε·|L|/h`` (``L`` rounded in float64,
    divided by ``2h``), or a relative error within what the differences resolve at ``h``,
    ``≈ 10·ε/h + h²`` (rounding and truncation; at least ``3·(5ε)^(2/3) ≈ 3e-10``, at
    ``h = (5ε)^(1/3)``). A tolerance below that resolution is the cause: a correct gradient
    fails it. Otherwise their gradients are so small (vanished through many layers) that the
    relative error measures the rounding noise, not backprop; a larger ``h`` shrinks the
    noise as ``1/h``."""
    eps = np.finfo(np.float64).eps
    noise = 10 * eps * max(abs(value), 1.0) / h
    resolved = 10 * eps / h + h * h
    names = [p.name for p in results
             if p.relative_error >= tolerance and (p.max_abs_error <= noise or p.relative_error <= resolved)]
    if not names:
        return []
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    if tolerance < resolved:
        best_h = (5 * eps) ** (1 / 3)  # where 10ε/h + h² is least: 3·best_h²
        floor = 3 * best_h**2
        fix = (f"no h resolves {tolerance:.3g}: use a tolerance above {resolved:.1e} (the default is 1e-6)"
               if tolerance < floor else f"use h near {best_h:.0e}, or a larger tolerance (the default is 1e-6)")
        return [f"{shown} fail only by the error of central differences themselves: at h={h:.3g} they resolve a "
                f"relative error of about 10·ε/h + h² = {resolved:.1e} in float64 (at best about {floor:.1e}, at h "
                f"near {best_h:.0e}), and the tolerance {tolerance:.3g} is below that, so a correct gradient fails "
                f"it; {fix}"]
    larger = f"a larger h (h={h * 100:.0e}; the noise falls as 1/h)" if h * 100 <= 1e-3 else "a shallower network"
    return [f"{shown} fail only by absolute errors within the finite differences' own rounding error (about "
            f"10·ε·|L|/h = {noise:.1e}): their gradients are tiny, so the relative error may measure that noise, "
            f"not backprop; check them with {larger}"]


def _entries(size: int, max_entries: int | None, rng: np.random.Generator) -> np.ndarray:
    """The flat indices of a parameter to check: all, or a sorted random sample of ``max_entries``."""
    if max_entries is None or size <= max_entries:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_entries, replace=False))


def _check_parameter(name: str, p, loss_value, h: float, idx: np.ndarray, steps=None) -> ParameterCheck:
    """Backprop's gradient of ``p`` (already in ``p.grad``) against central differences at
    ``idx``, each of step ``h`` or its own from ``steps`` (one per entry of ``idx``)."""
    analytic = p.grad.copy()
    flat = p.value.reshape(-1)
    numeric = np.empty(idx.size)
    for k, j in enumerate(idx):  # one parameter entry at a time: this is the slow method
        old, step = flat[j], h if steps is None else steps[k]
        flat[j] = old + step
        plus = loss_value()
        flat[j] = old - step
        minus = loss_value()
        flat[j] = old
        numeric[k] = (plus - minus) / (2 * step)
    bp = analytic.reshape(-1)[idx]
    diff = np.linalg.norm(bp - numeric)
    norm = np.linalg.norm(bp)
    scale = max(norm + np.linalg.norm(numeric), np.finfo(np.float64).tiny)
    max_abs = float(np.max(np.abs(bp - numeric), initial=0.0))
    return ParameterCheck(name, p.value.shape, int(idx.size), float(diff / scale), max_abs, float(norm))
