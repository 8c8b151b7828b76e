"""Every gradient verified: each layer type with each loss (and sample weights) against
central differences in float64, ∂L/∂x as well as ∂L/∂W and ∂L/∂b; wrong backwards the
check must catch, naming the row and failing the command; what a pass cannot vouch for
(gradients exactly 0, one row) said in a note; weight decay's gradient as the optimizer
adds it."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop import layers as L
from deltaprop import losses as losses_module
from deltaprop import preprocessing as P

TOLERANCE = 1e-6
N_IN, HIDDEN = 3, 4

#: Every layer type of ``LAYERS``, placed between two Dense layers (the preprocessing ones too:
#: a network may scale mid-stack, and their backward carries ∂L/∂x to the raw inputs).
HIDDEN_LAYERS = {
    "Sigmoid": dp.Sigmoid,
    "Tanh": dp.Tanh,
    "ReLU": dp.ReLU,
    "LeakyReLU": lambda: dp.LeakyReLU(0.2),
    "Identity": dp.Identity,
    "Softmax": dp.Softmax,
    "Dropout": lambda: dp.Dropout(0.4),
    "Rescaling": lambda: dp.Rescaling(0.5),
    "Standardization": lambda: dp.Standardization(np.linspace(-0.3, 0.3, HIDDEN), np.linspace(0.5, 2.0, HIDDEN)),
}

#: Each loss with its output layer and width: (make the loss, output layer or None, outputs, targets kind).
LOSSES = {
    "cross_entropy_softmax": (dp.CrossEntropy, dp.Softmax, 3, "classes"),
    "cross_entropy_logits": (lambda: dp.CrossEntropy(from_logits=True), None, 3, "classes"),
    "bce_one_output": (dp.BinaryCrossEntropy, dp.Sigmoid, 1, "binary"),
    "bce_multi_label": (dp.BinaryCrossEntropy, dp.Sigmoid, 3, "binary"),
    "bce_logits_one_output": (lambda: dp.BinaryCrossEntropy(from_logits=True), None, 1, "binary"),
    "bce_logits_multi_label": (lambda: dp.BinaryCrossEntropy(from_logits=True), None, 3, "binary"),
    "squared_error": (dp.MeanSquaredError, None, 2, "values"),
}


def _targets(kind: str, k: int, rng, n: int):
    if kind == "classes":
        return rng.integers(0, k, n)
    if kind == "binary":
        return rng.integers(0, 2, n) if k == 1 else rng.integers(0, 2, (n, k))
    return rng.standard_normal((n, k))


def _inputs(rng, n: int) -> np.ndarray:
    """Rows away from 0 (so no hidden ReLU sits at its kink) and of moderate size."""
    X = rng.standard_normal((n, N_IN))
    return np.sign(X) * (0.3 + np.abs(X))


def _network(hidden: str, loss_name: str, *, scaled_input: bool = True) -> dp.Network:
    _, output, k, _ = LOSSES[loss_name]
    layers = [dp.Standardization(np.full(N_IN, 0.1), np.array([0.8, 1.0, 1.5]))] if scaled_input else []
    layers += [dp.Dense(N_IN, HIDDEN), HIDDEN_LAYERS[hidden](), dp.Dense(HIDDEN, k)]
    if output is not None:
        layers.append(output())
    return dp.Network(layers, seed=3, dtype="float64")


# -- the matrix -----------------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("loss_name", LOSSES)
def test_every_layer_with_every_loss_matches_central_differences(loss_name, weighted):
    make_loss, _, k, kind = LOSSES[loss_name]
    for hidden in HIDDEN_LAYERS:
        rng = np.random.default_rng(len(hidden))
        X, y = _inputs(rng, 5), _targets(kind, k, rng, 5)
        w = rng.uniform(0.2, 2.0, 5) if weighted else None
        report = dp.gradcheck(_network(hidden, loss_name), make_loss(), X, y, sample_weight=w, max_entries=None)
        assert report.passed and report.max_relative_error < TOLERANCE, f"{hidden}\n{report.table()}"
        assert report.notes == [], f"{hidden}: {report.notes}"  # no kink, nothing clipped, nothing vacuous
        assert report.input is not None and report.input.name == "input x" and report.input.checked == X.size
        assert report.input.gradient_norm > 0 and all(p.gradient_norm > 0 for p in report.parameters)


def test_the_input_row_is_in_the_table_and_can_be_left_out():
    rng = np.random.default_rng(0)
    X, y = _inputs(rng, 4), rng.integers(0, 3, 4)
    report = dp.gradcheck(_network("Tanh", "cross_entropy_softmax"), dp.CrossEntropy(), X, y)
    rows = report.table().splitlines()
    assert rows[len(report.parameters) + 1].startswith("input x") and rows[len(report.parameters) + 1].endswith("ok")
    assert rows[-1].endswith("passed")
    without = dp.gradcheck(_network("Tanh", "cross_entropy_softmax"), dp.CrossEntropy(), X, y, check_input=False)
    assert without.input is None and without.checks == without.parameters
    assert "input x" not in without.table()
    with pytest.raises(dp.ConfigError, match="check_input"):
        dp.gradcheck(_network("Tanh", "cross_entropy_softmax"), dp.CrossEntropy(), X, y, check_input="no")


@pytest.mark.parametrize(
    ("scaling", "size"),
    [
        (lambda: dp.Rescaling(1 / 255), 255.0),
        (lambda: dp.Rescaling(1e-4), 1e4),
        (lambda: dp.Standardization(np.full(N_IN, 5e-4), np.full(N_IN, 1e-4)), 1e-4),
    ],
    ids=["pixels", "large-raw-values", "tiny-sigma"],
)
def test_the_input_step_follows_the_raw_inputs_units(scaling, size):
    """A step of h in raw units is far too small for 0..255 pixels (rounding noise) and far too
    large for a feature of σ = 1e-4 (truncation error): each fails a correct ∂L/∂x. The step is
    h at the first trained layer's input instead, as a parameter's is."""
    rng = np.random.default_rng(7)
    X, y = np.abs(rng.standard_normal((5, N_IN))) * size, rng.integers(0, 3, 5)
    net = dp.Network([scaling(), dp.Dense(N_IN, 4), dp.Tanh(), dp.Dense(4, 3), dp.Softmax()], seed=0, dtype="float64")
    report = dp.gradcheck(net, dp.CrossEntropy(), X, y)
    assert report.passed and report.input.relative_error < 1e-8 and report.notes == [], report.table()


def test_the_callers_rows_are_left_as_they_were():
    rng = np.random.default_rng(1)
    X, y = _inputs(rng, 4), rng.integers(0, 3, 4)
    before = X.copy()
    dp.gradcheck(_network("Sigmoid", "cross_entropy_softmax"), dp.CrossEntropy(), X, y)
    np.testing.assert_array_equal(X, before)


# -- wrong gradients are caught -----------------------------------------------------------------
def _scaled(cls, factor):
    backward = cls.backward

    def wrong(self, g, *, need_input_grad=True):
        out = backward(self, g, need_input_grad=need_input_grad)
        return None if out is None else out * factor

    return wrong


@pytest.mark.parametrize(
    ("cls", "layers"),
    [
        (L.Dense, [dp.Dense(N_IN, 2), dp.Sigmoid()]),  # the only Dense: its ∂L/∂x feeds nothing in training
        (P.Standardization, [dp.Standardization(np.zeros(N_IN), np.full(N_IN, 2.0)), dp.Dense(N_IN, 2), dp.Sigmoid()]),
        (P.Rescaling, [dp.Rescaling(0.25), dp.Dense(N_IN, 2), dp.Sigmoid()]),
    ],
    ids=["first-dense", "standardization", "rescaling"],
)
def test_a_wrong_input_gradient_fails_the_check_on_its_row(monkeypatch, cls, layers):
    """Training never asks these backwards for ∂L/∂x, so the parameters' rows cannot see a
    sign flipped there; the ``input x`` row does (the served page's input gradient uses them)."""
    rng = np.random.default_rng(2)
    X, y = _inputs(rng, 5), rng.random((5, 2))
    monkeypatch.setattr(cls, "backward", _scaled(cls, -1.0))
    report = dp.gradcheck(dp.Network(layers, seed=0, dtype="float64"), dp.MeanSquaredError(), X, y)
    assert all(p.relative_error < TOLERANCE for p in report.parameters)
    assert not report.passed and report.input.relative_error == pytest.approx(1.0)
    assert [r for r in report.table().splitlines() if r.endswith("FAIL")][0].startswith("input x")


def test_the_command_fails_a_wrong_input_gradient(monkeypatch):
    """``deltaprop gradcheck --layers 4,3``: one Dense layer, whose ∂L/∂x is wrong."""
    assert run_cli("gradcheck", "--layers", "4,3").returncode == 0
    monkeypatch.setattr(L.Dense, "backward", _scaled(L.Dense, 1.5))
    res = run_cli("gradcheck", "--layers", "4,3")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "input x" in res.stdout and "FAIL" in res.stdout and res.stdout.splitlines()[-1].endswith("FAILED")


def _transposed_W(backward):
    def wrong(self, g, *, need_input_grad=True):
        out = backward(self, g, need_input_grad=need_input_grad)
        if self.n_in == self.n_out:  # a transpose that fits: the square layers
            self.W.grad[...] = self.W.grad.T.copy()
        return out

    return wrong


def _bias_over_n(backward):
    def wrong(self, g, *, need_input_grad=True):
        out = backward(self, g, need_input_grad=need_input_grad)
        self.b.grad /= g.shape[0]
        return out

    return wrong


def _sign(backward):
    return lambda self, g, *, need_input_grad=True: -backward(self, g, need_input_grad=need_input_grad)


def _no_rescale(backward):
    return lambda self, g, *, need_input_grad=True: g * self._mask if self._active else g


def _loss_twice(gradient):
    return lambda self, a, y, *w: 2 * gradient(self, a, y, *w)


BUGS = {  # name: (class, method, make the wrong method, the first row that must fail)
    "dense-W-transposed": (L.Dense, "backward", _transposed_W, "layers.3.W"),
    "dense-bias-over-n": (L.Dense, "backward", _bias_over_n, "layers.0.b"),
    "tanh-sign": (L.Tanh, "backward", _sign, "layers.3.W"),  # layers.0 sees two flips, which cancel
    "dropout-without-1/(1-p)": (L.Dropout, "backward", _no_rescale, "layers.0.W"),
    "squared-error-gradient-twice": (losses_module.MeanSquaredError, "gradient", _loss_twice, "layers.0.W"),
}


@pytest.mark.parametrize("bug", BUGS)
def test_injected_bugs_fail_naming_the_parameter(monkeypatch, bug):
    cls, method, make, first_failing = BUGS[bug]
    rng = np.random.default_rng(4)
    X, y = _inputs(rng, 6), rng.random((6, 4))
    layers = [dp.Dense(N_IN, 4), dp.Tanh(), dp.Dropout(0.3), dp.Dense(4, 4), dp.Tanh(), dp.Dense(4, 4)]
    assert dp.gradcheck(dp.Network(layers, seed=1, dtype="float64"), dp.MeanSquaredError(), X, y).passed
    monkeypatch.setattr(cls, method, make(getattr(cls, method)))
    layers = [dp.Dense(N_IN, 4), dp.Tanh(), dp.Dropout(0.3), dp.Dense(4, 4), dp.Tanh(), dp.Dense(4, 4)]
    report = dp.gradcheck(dp.Network(layers, seed=1, dtype="float64"), dp.MeanSquaredError(), X, y)
    assert not report.passed
    failing = [p.name for p in report.checks if p.relative_error >= TOLERANCE]
    assert failing and failing[0] == first_failing, report.table()
    assert f"{first_failing}" in [r.split()[0] for r in report.table().splitlines() if r.endswith("FAIL")]


# -- what a pass cannot vouch for ------------------------------------------------------------------
def test_a_gradient_exactly_zero_everywhere_is_named_as_unchecked(monkeypatch):
    """Inputs of 1e6 saturate a tanh layer: its gradient is 0 in backprop and the differences
    alike, so a wrong tanh backward passes there; the note says so."""
    X, y = np.full((4, 3), 1e6), np.array([0, 1, 0, 2])
    net = dp.mlp([3, 4, 3], activation="tanh", seed=0, dtype="float64")
    report = dp.gradcheck(net, dp.CrossEntropy(), X, y)
    zero = [n for n in report.notes if "exactly 0" in n]
    assert len(zero) == 1 and zero[0].startswith("layers.0.W, layers.0.b, input x:"), report.notes
    assert f"note: {zero[0]}" in report.table()
    monkeypatch.setattr(L.Tanh, "backward", _scaled(L.Tanh, 1.1))
    wrong = dp.gradcheck(net, dp.CrossEntropy(), X, y)
    assert wrong.passed and [n for n in wrong.notes if "exactly 0" in n] == zero  # what the note warns of


def test_a_check_on_one_row_says_a_missing_mean_would_pass(monkeypatch):
    rng = np.random.default_rng(5)
    X, y = _inputs(rng, 1), np.array([2])
    net = dp.mlp([3, 4, 3], activation="tanh", seed=0, dtype="float64")
    report = dp.gradcheck(net, dp.CrossEntropy(), X, y)
    assert report.passed and any(n.startswith("one row:") for n in report.notes), report.notes
    assert not any(n.startswith("one row:") for n in dp.gradcheck(net, dp.CrossEntropy(), _inputs(rng, 2), [0, 1]).notes)


def test_nan_inputs_are_refused_before_any_check():
    X = np.ones((3, 3))
    X[1, 2] = np.nan
    with pytest.raises(dp.DataError, match="NaN"):
        dp.gradcheck(dp.mlp([3, 4, 2], seed=0, dtype="float64"), dp.CrossEntropy(), X, [0, 1, 0])


# -- weight decay ------------------------------------------------------------------------------------
def test_the_optimizers_decayed_gradient_is_that_of_the_loss_plus_half_lambda_theta_squared():
    """gradcheck checks ∂L/∂θ; SGD with ``weight_decay=λ`` steps along ``∂L/∂θ + λθ``, the
    gradient of ``L + ½λ‖θ‖²`` (checked here by central differences of that sum)."""
    rng = np.random.default_rng(6)
    X, y = _inputs(rng, 5), rng.integers(0, 3, 5)
    lam, h = 0.3, 1e-6
    net = dp.mlp([3, 4, 3], activation="tanh", seed=0, dtype="float64")
    loss = dp.CrossEntropy()

    def objective() -> float:
        value = net.loss_and_gradients(loss, X, y)
        return value + 0.5 * lam * sum(float(np.sum(p.value**2)) for p in net.parameters())

    numeric = []
    for p in net.parameters():
        flat = p.value.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + h
            plus = objective()
            flat[j] = old - h
            minus = objective()
            flat[j] = old
            numeric.append((plus - minus) / (2 * h))
    before = np.concatenate([p.value.ravel() for p in net.parameters()])
    net.loss_and_gradients(loss, X, y)
    opt = dp.SGD(lr=1.0, weight_decay=lam)
    opt.build(net.parameters())
    opt.step()
    stepped = before - np.concatenate([p.value.ravel() for p in net.parameters()])  # lr 1: the gradient used
    err = np.linalg.norm(stepped - numeric) / (np.linalg.norm(stepped) + np.linalg.norm(numeric))
    assert err < TOLERANCE
