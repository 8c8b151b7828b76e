"""The saturated alert speaks of the run it watches: an output saturated at its targets' end
(a one-hot row's zeros) is fitted, not slow; its fix names what the run does not already do
(no input scaling where the inputs are scaled, no cross-entropy for a hidden layer, no ReLU
hidden units for the output, the sigmoid before a softmax as the cause where there is one)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.alerts import Context, check, context_of
from deltaprop.diagnostics import off_target_share


def _saturated(records, ctx):
    return [a for a in check(records, ctx) if a.rule == "saturated"]


def _record(layers, *, accuracy=0.94, ratio=5.7e-4):
    """One epoch's record: ``layers`` (index, type, saturated, off_target) and each Dense W
    moving by ``ratio`` of its size a step."""
    stats, params = [], []
    for index, kind, sat, off in layers:
        stats.append({"index": index, "layer": kind, "mean": 0.1, "std": 0.2, "saturated": sat, "stuck": 0.0 if sat is not
                      None else None, "dead": None, "delta_norm": 0.03, "identical_units": False if kind == "Dense" else None,
                      "off_target": off})
        if kind == "Dense":
            params.append({"name": f"layers.{index}.W", "layer": index, "grad_norm": 0.02, "norm": 15.0,
                           "update_ratio": ratio})
    return {"epoch": 169, "loss": 0.1185, "accuracy": accuracy, "steps": 2704,
            "diagnostics": {"probe_size": 512, "layers": stats, "parameters": params}}


#: seed001_mnist_mse_unit.toml's network: pixels / 255, glorot_uniform, sigmoid units, squared error
_UNIT = ("Rescaling", "Dense(glorot_uniform)", "Sigmoid", "Dense(glorot_uniform)", "Sigmoid")


def test_off_target_share_counts_the_saturated_among_outputs_off_their_targets_end():
    a = np.array([[0.001, 0.999, 0.5, 0.999]])
    assert off_target_share(dp.Sigmoid(), a, np.array([[0.0, 1.0, 0.0, 1.0]])) == 0.0  # saturated at their targets
    # off their target's end: entries 0 (0.001 for 1), 2 (0.5 for 1) and 3 (0.999 for 0.5); 0 and 3 saturated
    assert off_target_share(dp.Sigmoid(), a, np.array([[1.0, 1.0, 1.0, 0.5]])) == 2 / 3
    # a tanh output at −1 whose target is 0 sits on a flat end its target is not on
    assert off_target_share(dp.Tanh(), np.array([[-0.999, 0.999]]), np.array([[0.0, 1.0]])) == 1.0
    assert off_target_share(dp.ReLU(), a, a) is None


def test_diagnose_records_the_off_target_share_of_the_output_only():
    net = dp.mlp([2, 3, 2], activation="sigmoid", output="sigmoid", seed=0)
    for p in net.parameters():
        p.value[...] = 40.0 * np.sign(np.arange(p.value.size).reshape(p.value.shape) % 2 - 0.5)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    diag = dp.diagnose(net, X, np.array([0, 1, 1]), dp.MeanSquaredError())
    assert diag.layers[-1].off_target is not None and 0.0 < diag.layers[-1].off_target <= diag.layers[-1].saturated
    assert all(s.off_target is None for s in diag.layers[:-1])


def test_an_output_saturated_at_its_targets_raises_no_saturated_alert():
    # the unit run at epoch 169: 50% of its sigmoid outputs saturated, all of them at their one-hot targets
    ctx = Context(chance=0.1, output_slope_cancelled=False, layers=_UNIT, scaled_inputs=True)
    layers = [(0, "Rescaling", None, None), (1, "Dense", None, None), (2, "Sigmoid", 0.11, None),
              (3, "Dense", None, None), (4, "Sigmoid", 0.50, 0.001)]
    assert _saturated([_record(layers)], ctx) == []
    far = [*layers[:4], (4, "Sigmoid", 0.70, 0.60)]
    found = _saturated([_record(far)], ctx)
    assert len(found) == 1 and "60% of its outputs on the wrong side of their targets are saturated" in found[0].evidence
    fix = found[0].fix
    assert "cross-entropy" in fix and "ReLU hidden units" not in fix  # the output's fix, not a hidden layer's
    assert "scale the inputs" not in fix and "smaller weights than glorot_uniform" not in fix
    assert "lower the learning rate" in fix  # glorot_uniform on scaled inputs starts off the flat ends


def test_a_hidden_layer_fix_fits_the_run():
    layers = [(0, "Rescaling", None, None), (1, "Dense", None, None), (2, "Sigmoid", 0.80, None),
              (3, "Dense", None, None), (4, "Sigmoid", 0.10, 0.0)]
    scaled = Context(chance=0.1, output_slope_cancelled=False, layers=_UNIT, scaled_inputs=True)
    (alert,) = _saturated([_record(layers, accuracy=0.3)], scaled)
    assert "scale the inputs" not in alert.fix and "--scaling" not in alert.fix
    assert "cross-entropy" not in alert.fix  # no loss removes a hidden unit's σ'
    assert "lower the learning rate (--lr): from glorot_uniform on scaled inputs" in alert.fix
    assert "smaller weights" not in alert.fix and "ReLU hidden units" in alert.fix
    raw = Context(chance=0.1, output_slope_cancelled=False, scaled_inputs=False,
                  layers=("Dense(scaled_normal(1))", "Sigmoid", "Dense(scaled_normal(1))", "Sigmoid"))
    shifted = [(i - 1, kind, sat, off) for i, kind, sat, off in layers[1:]]
    (alert,) = _saturated([_record(shifted, accuracy=0.3)], raw)
    assert "scale the inputs to [0, 1]" in alert.fix and "smaller weights than scaled_normal(1)" in alert.fix


def test_a_sigmoid_before_a_softmax_is_named_as_the_cause():
    ctx = Context(chance=0.1, layers=("Dense(scaled_normal(0.1))", "Sigmoid", "Dense(scaled_normal(0.1))", "Sigmoid",
                                      "Softmax"), scaled_inputs=True)
    layers = [(0, "Dense", None, None), (1, "Sigmoid", 0.2, None), (2, "Dense", None, None), (3, "Sigmoid", 0.72, None),
              (4, "Softmax", None, None)]
    (alert,) = _saturated([_record(layers, accuracy=0.9)], ctx)
    assert "not sigmoid+softmax" in alert.fix and "scale the inputs" not in alert.fix


def test_context_knows_whether_the_inputs_are_scaled():
    y = np.arange(64) % 2
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(64, 4)).astype(np.float64)
    net = dp.mlp([4, 3, 2], seed=0)
    assert context_of(net, dp.CrossEntropy(), y, X=pixels / 255).scaled_inputs is True
    assert context_of(net, dp.CrossEntropy(), y, X=(pixels - pixels.mean(0)) / pixels.std(0)).scaled_inputs is True
    assert context_of(net, dp.CrossEntropy(), y, X=pixels).scaled_inputs is False
    own = dp.Network([dp.Rescaling(1 / 255), dp.Dense(4, 2), dp.Softmax()], seed=0)
    assert context_of(own, dp.CrossEntropy(), y).scaled_inputs is True


def test_fit_on_scaled_inputs_never_advises_scaling_them():
    rng = np.random.default_rng(0)
    X = rng.random((200, 6))  # already in [0, 1]
    y = (X[:, 0] > 0.5).astype(int)
    net = dp.mlp([6, 8, 2], activation="sigmoid", output="sigmoid", init="scaled_normal(8)", seed=0)
    history = dp.fit(net, X, y, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.01), epochs=4, batch_size=50, seed=0)
    sat = [a for a in history.alerts if a.rule == "saturated"]
    assert sat, [str(a) for a in history.alerts]
    assert all("scale the inputs" not in a.fix for a in sat)


def _rule(rule, records, ctx):
    return [a for a in check(records, ctx) if a.rule == rule]


def test_a_loss_above_guessing_from_the_start_advises_the_start_alone():
    # seed000_softmax_regression.toml: standardised inputs, 0.1 · randn weights, ln 10 = 2.303
    ctx = Context(chance=0.1, frequencies_loss=2.303, uniform_loss=2.303, start_loss=4.993, scaled_inputs=True,
                  layers=("Standardization", "Dense(scaled_normal)", "Softmax"))
    (alert,) = _rule("loss_above_guess", [{"epoch": 1, "loss": 5.04, "accuracy": 0.6}], ctx)
    assert "the initial weights are too large, not the steps" in alert.evidence
    assert alert.fix.startswith("keep the learning rate") and "lower the learning rate" not in alert.fix
    assert "smaller weights than scaled_normal(0.1) (glorot_uniform)" in alert.fix and "--scaling" not in alert.fix
    raw = Context(chance=0.1, frequencies_loss=2.303, uniform_loss=2.303, start_loss=14.6, scaled_inputs=False,
                  layers=("Dense(he_normal)", "ReLU", "Dense(he_normal)", "Softmax"))
    (alert,) = _rule("loss_above_guess", [{"epoch": 1, "loss": 14.5, "accuracy": 0.3}], raw)
    assert "or the inputs are too large" in alert.evidence and "--scaling" in alert.fix
    # the steps' loss: the learning rate alone
    (alert,) = _rule("loss_above_guess", [{"epoch": 1, "loss": 14.5, "accuracy": 0.1}], Context(
        chance=0.1, frequencies_loss=2.303, uniform_loss=2.303, start_loss=2.3, scaled_inputs=True))
    assert alert.fix.startswith("lower the learning rate") and "start from smaller weights" not in alert.fix


def _gradients(norms, loss):
    return {"epoch": len(norms), "loss": loss, "diagnostics": {"probe_size": 64, "layers": [], "parameters": [
        {"name": f"layers.{i}.W", "layer": i, "grad_norm": g, "norm": 5.0, "update_ratio": 1e-2}
        for i, g in zip((0, 2), norms)]}}


def test_the_exploding_gradient_fix_leaves_out_what_the_run_does():
    records = [{**_gradients((1.0, 2.0), 1.0), "epoch": 1}, {**_gradients((300.0, 2.0), 3.0), "epoch": 2}]
    usual = Context(layers=("Rescaling", "Dense(he_normal)", "ReLU", "Dense(he_normal)", "Softmax"), scaled_inputs=True)
    (alert,) = _rule("exploding_gradients", records, usual)
    assert "lower the learning rate" in alert.fix and "usual size" not in alert.fix and "--scaling" not in alert.fix
    raw = Context(layers=("Dense(scaled_normal(1))", "ReLU", "Dense(scaled_normal(1))", "Softmax"), scaled_inputs=False)
    (alert,) = _rule("exploding_gradients", records, raw)
    assert "usual size (he_normal)" in alert.fix and "--scaling" in alert.fix


def test_the_flat_loss_fix_scales_inputs_only_where_they_are_not_scaled():
    records = [{"epoch": k, "loss": 1.0, "accuracy": 0.5} for k in range(1, 6)]
    (scaled,) = _rule("flat_loss", records, Context(scaled_inputs=True))
    (raw,) = _rule("flat_loss", records, Context(scaled_inputs=False))
    assert "scale inputs" not in scaled.fix and "scale inputs to [0, 1]" in raw.fix


def test_chance_accuracy_with_steps_too_small_advises_a_higher_rate_alone():
    params = [{"name": f"layers.{i}.W", "layer": i, "grad_norm": 0.5, "norm": 10.0, "update_ratio": 2e-7} for i in (0, 2)]
    records = [{"epoch": k, "loss": 2.46, "accuracy": 0.1, "steps": 180 * k,
                "diagnostics": {"probe_size": 64, "layers": [], "parameters": params}} for k in (1, 2, 3)]
    (alert,) = _rule("chance_accuracy", records, Context(chance=0.1))
    assert "the steps are too small to learn" in alert.evidence
    assert alert.fix.startswith("raise the learning rate") and "lower" not in alert.fix
    for record in records:
        record["diagnostics"] = None
    (alert,) = _rule("chance_accuracy", records, Context(chance=0.1))
    assert "lower learning rate" in alert.fix  # no evidence of tiny steps: the rule's own fix


def test_the_vanishing_gradient_fix_speaks_of_the_run_s_units():
    params = [{"name": f"layers.{i}.W", "layer": i, "grad_norm": g, "norm": 1.0, "update_ratio": 1e-3}
              for i, g in ((0, 1e-8), (2, 1e-2), (4, 1e-1))]
    records = [{"epoch": 1, "loss": 2.3, "diagnostics": {"probe_size": 64, "layers": [], "parameters": params}}]
    sigmoid = Context(layers=("Dense(glorot_uniform)", "Sigmoid", "Dense(glorot_uniform)", "Sigmoid",
                              "Dense(glorot_uniform)", "Softmax"))
    (alert,) = _rule("vanishing_gradients", records, sigmoid)
    assert "sigmoid layer" in alert.fix
    tanh = Context(layers=tuple(n.replace("Sigmoid", "Tanh") for n in sigmoid.layers))
    (alert,) = _rule("vanishing_gradients", records, tanh)
    assert "sigmoid" not in alert.fix and "tanh'" in alert.fix
    relu = Context(layers=("Dense(he_normal)", "ReLU", "Dense(he_normal)", "ReLU", "Dense(he_normal)", "Softmax"))
    (alert,) = _rule("vanishing_gradients", records, relu)
    assert "sigmoid" not in alert.fix and "use ReLU" not in alert.fix and "start from He" not in alert.fix


def test_a_softmax_of_sigmoid_outputs_has_a_loss_floor():
    from deltaprop.alerts import loss_floor

    y = np.arange(40) % 10
    nolinear = dp.mlp([6, 5, 10], output="sigmoid+softmax", seed=0)  # seed 000's derivation: no linear layer
    assert context_of(nolinear, dp.CrossEntropy(), y).loss_floor == pytest.approx(np.log(np.e + 9) - 1)
    tanh_logits = dp.Network([dp.Dense(6, 10), dp.Tanh()], seed=0)
    assert loss_floor(tanh_logits, dp.CrossEntropy(from_logits=True)) == pytest.approx(np.log1p(9 * np.exp(-2)))
    assert context_of(dp.mlp([6, 5, 10], seed=0), dp.CrossEntropy(), y).loss_floor == 0.0


def test_a_loss_falling_towards_its_floor_is_not_flat():
    # seed000_nolinear_sgd.toml on the MNIST sample, epochs 58-61: training accuracy 0.983 and rising
    losses = [1.48505, 1.48476, 1.48448, 1.48421]
    records = [{"epoch": 58 + k, "loss": v, "accuracy": 0.983} for k, v in enumerate(losses)]
    assert _rule("flat_loss", records, Context(chance=0.1, loss_floor=np.log(np.e + 9) - 1)) == []
    (alert,) = _rule("flat_loss", records, Context(chance=0.1))  # without the floor: flat
    # at its floor's distance unchanged, it is flat, and the evidence says against what
    still = [{"epoch": 58 + k, "loss": 1.5, "accuracy": 0.9} for k in range(4)]
    (alert,) = _rule("flat_loss", still, Context(chance=0.1, loss_floor=1.4612))
    assert "its excess over 1.461" in alert.evidence


def test_the_overfitting_fix_knows_the_run_has_dropout():
    records = [{"epoch": k, "loss": 0.1, "accuracy": 1.0, "val_accuracy": 0.8} for k in (1, 2)]
    (plain,) = _rule("overfitting", records, Context(layers=("Dense(he_normal)", "ReLU", "Dense(he_normal)", "Softmax")))
    (dropped,) = _rule("overfitting", records, Context(layers=("Dense(he_normal)", "ReLU", "Dropout", "Dense(he_normal)",
                                                               "Softmax")))
    assert "dropout (--dropout)" in plain.fix and "a higher dropout rate (--dropout)" in dropped.fix


def test_the_chance_fix_without_evidence_of_tiny_steps_does_not_say_raise():
    records = [{"epoch": k, "loss": 2.3, "accuracy": 0.1, "steps": 500 * k} for k in (1, 2, 3)]
    (alert,) = _rule("chance_accuracy", records, Context(chance=0.1))
    assert "lower learning rate" in alert.fix and "higher" not in alert.fix


def test_tiny_steps_on_saturated_units_advise_those_units_first():
    # seed001_mnist_mse.toml at epoch 7: raw pixels, every hidden unit saturated, steps of 8.9e-4
    params = [{"name": f"layers.{i}.W", "layer": i, "grad_norm": 0.02, "norm": 10.0, "update_ratio": 8.9e-4}
              for i in (0, 2)]
    layers = [{"index": 1, "layer": "Sigmoid", "saturated": 1.0, "stuck": 0.9}]
    records = [{"epoch": k, "loss": 1.0, "accuracy": 0.15, "steps": 16 * k,
                "diagnostics": {"probe_size": 64, "layers": layers, "parameters": params}} for k in range(1, 8)]
    (alert,) = _rule("chance_accuracy", records, Context(chance=0.1))
    assert alert.fix.startswith("fix the saturated or dead units first")
