"""Training math checked against references written here: metric watches fed NumPy values,
a loss of one's own returning NumPy scalars, the plateau rule as PyTorch's
ReduceLROnPlateau counts it, optimizers under a changing rate, and sample weights."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.callbacks import EarlyStopping
from deltaprop.schedules import ReduceOnPlateau


def _plateau_reference(values, *, base, factor, patience, min_lr, min_delta):
    """The rate of every epoch, as PyTorch's ReduceLROnPlateau (mode "min", threshold_mode
    "abs") sets it: after an epoch, ``bad`` counts epochs without ``v < best − min_delta``;
    once ``bad > patience`` the rate becomes ``max(rate·factor, min_lr)`` and ``bad`` 0."""
    rate, best, bad, rates = base, math.inf, 0, []
    for v in values:
        rates.append(rate)
        if v < best - min_delta:
            best, bad = v, 0
        else:
            bad += 1
        if bad > patience:
            rate, bad = max(rate * factor, min_lr), 0
    return rates


@pytest.mark.parametrize("kind", [float, np.float64, np.float32])
@pytest.mark.parametrize("patience", [0, 2])
def test_plateau_reduces_for_numpy_metric_values_as_for_python_floats(kind, patience):
    values = [0.94, 0.85, 0.82, 0.8223, 0.86, 0.845, 0.797, 0.80, 0.81, 0.83, 0.84, 0.70, 0.71]
    plateau = ReduceOnPlateau(factor=0.5, patience=patience, min_lr=0.02, min_delta=0.0)
    rates = []
    for epoch, v in enumerate(values):
        rates.append(plateau.lr_at(epoch, 0.5))
        plateau.observe(epoch, {"val_loss": kind(v)})
    expected = _plateau_reference([float(kind(v)) for v in values], base=0.5, factor=0.5, patience=patience,
                                  min_lr=0.02, min_delta=0.0)
    assert rates == pytest.approx(expected, rel=1e-15)
    assert min(rates) < 0.5  # the sequence has plateaus long enough to reduce


@pytest.mark.parametrize("kind", [np.float64, np.float32])
def test_metric_watch_answers_true_or_false_for_numpy_values(kind):
    watch = dp.callbacks.EarlyStopping("val_loss").watch
    assert watch.update({"val_loss": kind(1.0)}) is True
    assert watch.update({"val_loss": kind(2.0)}) is False
    assert watch.update({"val_loss": kind(0.5)}) is True


class _NumpyMSE(dp.MeanSquaredError):
    """A loss of one's own whose value is a NumPy scalar of the outputs' dtype (np.mean of float32)."""

    def value(self, a, y, weights=None):
        d = (a - y) ** 2
        rows = d.sum(axis=1)
        return np.mean(rows) if weights is None else np.mean(rows * weights)


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((48, 3))
    return X, X @ rng.standard_normal((3, 1)) + 0.1 * rng.standard_normal((48, 1))


def test_early_stopping_and_plateau_act_when_a_loss_of_ones_own_returns_numpy_scalars():
    X, y = _regression()
    histories = []
    for loss in (dp.MeanSquaredError(classification=False), _NumpyMSE(classification=False)):
        net = dp.mlp([3, 4, 1], output="identity", seed=0)
        # no epoch improves by 10: the plateau halves the rate after every epoch (patience 0),
        # early stopping stops after two epochs that do not improve (patience 1)
        stop = EarlyStopping("loss", patience=1, min_delta=10.0, restore_best_weights=False)
        plateau = ReduceOnPlateau(factor=0.5, patience=0, monitor="loss", min_delta=10.0)
        histories.append(dp.fit(net, X, y, loss=loss, optimizer=dp.SGD(0.01), epochs=8, batch_size=16, seed=1,
                                callbacks=[stop], schedule=plateau, diagnostics=False))
    builtin, own = histories
    for history in (builtin, own):
        assert len(history) == 3  # epoch 1 sets the best; epochs 2 and 3 wait: 2 > patience
        assert history["lr"] == pytest.approx(_plateau_reference(history["loss"], base=0.01, factor=0.5, patience=0,
                                                                 min_lr=0.0, min_delta=10.0), rel=1e-15)
    assert own["lr"] == builtin["lr"] and min(own["lr"]) < 0.01


def test_a_loss_of_ones_own_returning_float32_gives_float_records_that_resume_and_save():
    X, y = _regression(1)
    Xv, yv = _regression(2)
    net = dp.mlp([3, 4, 1], output="identity", seed=0)
    states = []
    grab = dp.callbacks.LambdaCallback(on_train_end=states.append)
    dp.fit(net, X, y, loss=_NumpyMSE(classification=False), optimizer=dp.Adam(0.01), steps=5, batch_size=16, seed=1,
           validation=(Xv, yv), callbacks=[grab], diagnostics=False)
    state = states[0]
    record = state.history.records[-1]
    for key in ("loss", "val_loss"):
        assert type(record[key]) is float
    json.dumps(state.to_dict())  # a checkpoint's training state is JSON
    rebuilt = dp.TrainingState.from_dict(json.loads(json.dumps(state.to_dict())), net=net, optimizer=state.optimizer)
    assert rebuilt.progress.loss_sum == state.progress.loss_sum


def test_sgd_momentum_and_nesterov_follow_seed_002_when_the_rate_changes_every_step():
    rng = np.random.default_rng(3)
    grads, w0 = rng.standard_normal((30, 4)), rng.standard_normal(4)
    rates = 0.1 * 0.9 ** np.arange(30)
    for nesterov in (False, True):
        p = dp.Parameter("w", w0.copy())
        opt = dp.SGD(lr=0.1, momentum=0.8, nesterov=nesterov, weight_decay=0.05)
        opt.build([p])
        w, v = w0.copy(), np.zeros(4)
        for g, lr in zip(grads, rates):
            opt.lr = float(lr)
            p.grad = g
            opt.step()
            g = g + 0.05 * w  # L2 decay in the gradient
            v = 0.8 * v - lr * g
            w = w + (0.8 * v - lr * g if nesterov else v)
        np.testing.assert_allclose(p.value, w, rtol=1e-13, atol=1e-15)


def test_a_sample_weight_of_k_counts_a_row_k_times_for_every_optimizer():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    k = rng.integers(0, 4, 20)
    k[0] = 3
    for make in (lambda: dp.SGD(0.1, momentum=0.9), lambda: dp.AdamW(0.01), lambda: dp.AdaDelta(weight_decay=0.01),
                 lambda: dp.RMSprop(), lambda: dp.AdaGrad()):
        nets = [dp.Network([dp.Dense(4, 6), dp.Tanh(), dp.Dense(6, 3), dp.Softmax()], seed=0, dtype="float64")
                for _ in range(2)]
        weighted = dp.fit(nets[0], X, y, loss=dp.CrossEntropy(), optimizer=make(), epochs=10, batch_size=None,
                          sample_weight=k, diagnostics=False)
        repeated = dp.fit(nets[1], np.repeat(X, k, axis=0), np.repeat(y, k), loss=dp.CrossEntropy(),
                          optimizer=make(), epochs=10, batch_size=None, diagnostics=False)
        for a, b in zip(nets[0].parameters(), nets[1].parameters()):
            np.testing.assert_allclose(a.value, b.value, rtol=1e-12, atol=1e-13)
        assert weighted["loss"] == pytest.approx(repeated["loss"], rel=1e-12)


def _lr_history(schedule, **limits):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    return dp.fit(dp.mlp([3, 4, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(0.4), batch_size=16,
                  seed=0, schedule=schedule, diagnostics=False, **limits)["lr"]


@pytest.mark.parametrize(("schedule", "limits", "length"), [
    ("cosine", {"epochs": 4}, 4), ({"type": "cosine", "min_lr": 0.01}, {"epochs": 5}, 5),
    ("cosine", {"steps": 10}, 4),  # 3 batches an epoch: 10 steps take 4 epochs
    ("step", {"epochs": 9}, 3), ({"type": "step", "gamma": 0.3}, {"epochs": 7, "steps": 15}, 1),
])
def test_a_schedule_named_without_its_length_takes_the_runs(schedule, limits, length):
    # as the command line and the scikit-learn estimators: cosine T = epochs, step s = epochs // 3
    # (with the defaults T = 50 and s = 10 a 9-epoch "step" run never decayed)
    spec = {"type": schedule} if isinstance(schedule, str) else dict(schedule)
    key = "t_max" if spec["type"] == "cosine" else "step_size"
    reference = dp.schedules.schedule_from_config({**spec, key: length})
    rates = _lr_history(schedule, **limits)
    assert rates == pytest.approx([reference.lr_at(t, 0.4) for t in range(len(rates))], rel=1e-15)
    assert rates[-1] < 0.4 * (0.7 if key == "t_max" else 1.0)


def test_a_schedule_given_with_its_length_or_as_an_instance_keeps_it():
    rates = _lr_history({"type": "cosine", "t_max": 2}, epochs=4)
    assert rates == pytest.approx([0.4, 0.2, 0.0, 0.0], abs=1e-15)
    rates = _lr_history(dp.StepDecay(), epochs=4)  # step_size 10: no decay within 4 epochs
    assert rates == [0.4] * 4


def test_a_resume_passing_the_runs_schedule_name_again_is_taken_as_the_same():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    net, opt, states = dp.mlp([3, 4, 2], seed=0), dp.SGD(0.4), []
    kw = dict(loss=dp.CrossEntropy(), batch_size=16, seed=0, diagnostics=False)

    def stop_at_step_7(state, rows, loss):
        state.stop_training = state.step >= 7  # an interruption, mid-epoch 3 of 6

    dp.fit(net, X, y, optimizer=opt, epochs=6, schedule="cosine",
           callbacks=[dp.callbacks.LambdaCallback(on_batch_end=stop_at_step_7, on_train_end=states.append)], **kw)
    assert states[0].step == 7
    history = dp.fit(net, X, y, optimizer=opt, epochs=6, resume=states[0], schedule="cosine", **kw)
    assert history["lr"] == pytest.approx([dp.CosineAnnealing(t_max=6).lr_at(t, 0.4) for t in range(6)], rel=1e-15)
    with pytest.raises(dp.ConfigError, match="schedule"):
        dp.fit(net, X, y, optimizer=opt, epochs=8, resume=states[0], schedule={"type": "cosine", "t_max": 8}, **kw)


class _Warmup(dp.Schedule):
    """A schedule of one's own computed in float32: ``α_t = α₀ min(1, (t + 1)/3)``."""

    type_name = "warmup"

    def lr_at(self, epoch, base_lr):
        return np.float32(base_lr) * np.minimum(np.float32(1), np.float32(epoch + 1) / np.float32(3))


def test_a_schedule_of_ones_own_giving_float32_rates_leaves_json_records():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    states = []
    history = dp.fit(dp.mlp([3, 4, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(0.4), epochs=4,
                     batch_size=16, seed=0, schedule=_Warmup(), diagnostics=False,
                     callbacks=[dp.callbacks.LambdaCallback(on_train_end=states.append)])
    assert [type(r) for r in history["lr"]] == [float] * 4
    assert history["lr"] == [float(_Warmup().lr_at(t, 0.4)) for t in range(4)]
    assert json.loads(json.dumps(states[0].to_dict()))["history"][-1]["lr"] == history["lr"][-1]
