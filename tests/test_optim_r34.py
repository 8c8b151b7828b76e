"""Optimizer settings changed between steps, schedules and their rates: edge values."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((64, 4)), rng.integers(0, 2, 64)


# -- settings are checked whenever they are set ------------------------------------------------
@pytest.mark.parametrize(("make", "name", "bad"), [
    (dp.SGD, "lr", -0.1),
    (dp.SGD, "lr", math.nan),
    (dp.Adam, "lr", "0.001"),
    (dp.SGD, "weight_decay", -1e-4),
    (dp.AdamW, "weight_decay", math.inf),
    (dp.Adam, "beta1", 1.0),
    (dp.Adam, "beta2", 1.0),
    (dp.AdamW, "beta1", -0.1),
    (dp.Adam, "eps", 0.0),
    (dp.AdaGrad, "eps", -1e-10),
    (dp.RMSprop, "rho", 1.0),
    (dp.AdaDelta, "rho", 1.5),
    (dp.AdaDelta, "eps", 0.0),
])
def test_a_bad_setting_assigned_after_construction_is_refused_and_the_old_value_kept(make, name, bad):
    # Adam's beta1 = 1 was a ZeroDivisionError at the first step (1 − β₁ᵗ = 0), lr = -0.1 a
    # silent gradient ascent: the constructor refused them, an assignment did not.
    opt = make()
    before = getattr(opt, name)
    with pytest.raises(ConfigError, match=name):
        setattr(opt, name, bad)
    assert getattr(opt, name) == before


def test_a_setting_assigned_between_steps_takes_effect_as_a_python_float():
    # Adam's rule written out, with β₁ changed after the first step (as PyTorch's param_groups allow)
    p = dp.Parameter("w", np.array([1.0], dtype=np.float32))
    opt = dp.Adam(lr=0.1)
    opt.build([p])
    w, m, v, b1 = 1.0, 0.0, 0.0, 0.9
    for t, g in enumerate([0.5, -0.2, 0.3], start=1):
        if t == 2:
            opt.beta1 = np.float64(0.5)
            b1 = 0.5
        p.grad = np.array([g], dtype=np.float32)
        opt.step()
        m = b1 * m + (1 - b1) * g
        v = 0.999 * v + 0.001 * g * g
        w -= 0.1 * (m / (1 - b1**t)) / (math.sqrt(v / (1 - 0.999**t)) + 1e-8)
        assert p.value[0] == pytest.approx(w, rel=1e-6)
    assert type(opt.beta1) is float and p.value.dtype == np.float32
    opt.lr = 0.0  # a schedule's end (cosine to min_lr 0) is a rate
    assert opt.lr == 0.0


def test_fit_refuses_an_optimizer_whose_rate_was_set_to_zero():
    # It trained every epoch at α = 0, returned normally and left the weights as they were.
    X, y = _data()
    net = dp.mlp([4, 8, 2], activation="relu", seed=0)
    opt = dp.SGD(lr=0.4)
    opt.lr = 0
    before = [p.value.copy() for p in net.parameters()]
    with pytest.raises(ConfigError, match=r"optimizer.lr is 0.*rate > 0"):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=16, seed=0)
    for p, w in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.value, w)


# -- a cosine schedule anneals: its min_lr below the rate, its end not extended past ---------------
def _cosine(t: int, t_max: int, base: float, low: float = 0.0) -> float:
    return low + 0.5 * (base - low) * (1 + math.cos(math.pi * min(t, t_max) / t_max))


def test_fit_refuses_a_cosine_whose_min_lr_is_above_the_rate():
    # Adam's 0.001 with a min_lr meant for SGD: the rate rose tenfold over the run, without a word
    X, y = _data()
    for schedule in ({"type": "cosine", "min_lr": 0.01}, dp.CosineAnnealing(t_max=5, min_lr=0.01)):
        net = dp.mlp([4, 8, 2], activation="relu", seed=0)
        with pytest.raises(ConfigError, match=r"min_lr 0\.01 is above optimizer\.lr 0\.001.*rise"):
            dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(), epochs=5, batch_size=16, seed=0,
                   schedule=schedule)
    history = dp.fit(dp.mlp([4, 8, 2], activation="relu", seed=0), X, y, loss=dp.CrossEntropy(),
                     optimizer=dp.Adam(lr=0.02), epochs=5, batch_size=16, seed=0,
                     schedule={"type": "cosine", "min_lr": 0.01})
    assert history["lr"] == pytest.approx([_cosine(t, 5, 0.02, 0.01) for t in range(5)])


def test_the_configuration_refuses_a_cosine_min_lr_above_lr():
    from deltaprop.config import TrainConfig

    with pytest.raises(ConfigError, match=r"min_lr 0\.01 is above lr 0\.001"):
        TrainConfig.from_mapping({"optimizer": "adam", "schedule": "cosine:min_lr=0.01"})
    assert TrainConfig.from_mapping({"optimizer": "sgd", "schedule": "cosine:min_lr=0.01"}).lr == 0.3


def _first_run(schedule, epochs):
    X, y = _data()
    net, opt, box = dp.mlp([4, 8, 2], activation="relu", seed=0), dp.SGD(lr=0.4), {}
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=epochs, batch_size=16, seed=0, schedule=schedule,
           callbacks=[dp.LambdaCallback(on_train_end=lambda s: box.update(state=s))])
    return net, opt, box["state"], X, y


def test_fit_refuses_to_resume_a_run_past_the_end_of_its_cosine():
    # epochs 4-6 trained at α = 0 (no training at all) and fit returned normally; the
    # command line refused the same resume
    net, opt, state, X, y = _first_run("cosine", 3)
    before = [p.value.copy() for p in net.parameters()]
    with pytest.raises(ConfigError, match=r"ends at epoch 3 \(t_max=3\), so epochs 4-6 would all train at its min_lr 0"):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=6, batch_size=16, resume=state)
    for p, w in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.value, w)
    assert len(state.history.records) == 3


def test_a_run_resumes_within_its_cosine_and_past_it_where_set_up_so():
    net, opt, state, X, y = _first_run(dp.CosineAnnealing(t_max=6), 3)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=6, batch_size=16, resume=state)
    assert history["lr"] == pytest.approx([_cosine(t, 6, 0.4) for t in range(6)])
    net, opt, state, X, y = _first_run(dp.CosineAnnealing(t_max=2, min_lr=0.01), 3)  # set up to go on at min_lr
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=5, batch_size=16, resume=state)
    assert history["lr"] == pytest.approx([_cosine(t, 2, 0.4, 0.01) for t in range(5)])


def test_train_refuses_a_cosine_min_lr_above_the_rate_in_one_line_before_writing_anything(tmp_path):
    from cli_in_process import run_cli

    run = tmp_path / "run"
    result = run_cli("train", "--dataset", "parity", "--optimizer", "adam", "--schedule", "cosine:min_lr=0.01",
                     "--epochs", "2", "--out", run)
    assert result.returncode == 2 and not result.stdout
    line, = result.stderr.splitlines()
    assert "min_lr 0.01 is above lr 0.001" in line
    assert not run.exists()


# -- a checkpoint written at a rate of 0 (past a cosine's t_max) ----------------------------------
def test_a_checkpoint_written_after_a_cosine_reached_zero_is_written_and_resumes_exactly(tmp_path):
    # The writer refused it ("load_checkpoint rebuilds only deltaprop's own optimizer, not
    # 'SGD' (lr must be > 0, got 0.0)") and the run stopped: the optimizer's config held the
    # epoch's rate, 0, which a new SGD refuses. Momentum keeps moving the weights at α = 0,
    # so the resumed run must restore the velocity to end where the whole run does.
    from deltaprop.serialization import load_checkpoint

    X, y = _data()

    def run(epochs, **kw):
        net = dp.mlp([4, 8, 2], activation="relu", seed=0, dtype="float64")
        opt = dp.SGD(lr=0.4, momentum=0.9)
        history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=epochs, batch_size=16, seed=0,
                         schedule=dp.CosineAnnealing(t_max=1), **kw)
        return net, history

    whole, history = run(3)
    assert history["lr"] == [0.4, 0.0, 0.0]
    run(2, callbacks=[dp.CheckpointWriter(tmp_path, interval=0)])
    ck = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert ck.optimizer.lr == 0.0 and ck.optimizer.momentum == 0.9
    resumed = dp.fit(ck.net, X, y, loss=ck.loss, optimizer=ck.optimizer, epochs=3, batch_size=16,
                     resume=ck.training_state())
    assert resumed["lr"] == [0.4, 0.0, 0.0]
    for a, b in zip(ck.net.parameters(), whole.parameters()):
        np.testing.assert_array_equal(a.value, b.value)


def test_a_config_may_hold_a_rate_of_zero_but_a_new_optimizer_may_not():
    from deltaprop.optimizers import optimizer_from_config, optimizer_from_name

    opt = optimizer_from_config({"type": "Adam", "lr": 0.0, "weight_decay": 0.0, "beta1": 0.5, "beta2": 0.9,
                                 "eps": 1e-7})
    assert opt.config() == {"type": "Adam", "lr": 0.0, "weight_decay": 0.0, "beta1": 0.5, "beta2": 0.9, "eps": 1e-7}
    with pytest.raises(ConfigError, match="lr must be > 0"):
        optimizer_from_name("adam", lr=0)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        optimizer_from_config({"type": "SGD", "lr": -1.0})


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_train_runs_on_past_an_explicit_cosine_t_max(tmp_path):
    from cli_in_process import run_cli

    from deltaprop.training import History

    run = tmp_path / "run"
    result = run_cli("train", "--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "full",
                     "--schedule", "cosine:t_max=1", "--epochs", "3", "--out", run, "--quiet")
    assert result.returncode == 0, result.stderr
    assert [r["lr"] for r in History.read_csv(run / "history.csv").records] == [0.5, 0.0, 0.0]


# -- dropout --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [1.0, 1.5, -0.5, math.nan, "0.2"])
def test_a_dropout_rate_changed_between_fits_is_checked(bad):
    # -0.5 kept every unit and scaled it by 1/1.5 in training only, 1.5 negated the outputs,
    # 1.0 was a ZeroDivisionError traceback at the next forward
    net = dp.mlp([4, 8, 2], activation="relu", dropout=0.5, seed=0)
    layer = next(layer for layer in net.layers if isinstance(layer, dp.Dropout))
    with pytest.raises(ConfigError, match=r"Dropout rate must be a number"):
        layer.rate = bad
    assert layer.rate == 0.5


def test_a_changed_dropout_rate_scales_the_kept_units_by_its_own_factor():
    net = dp.mlp([4, 8, 2], activation="relu", dropout=0.5, seed=0)
    layer = next(layer for layer in net.layers if isinstance(layer, dp.Dropout))
    layer.rate = np.float32(0.25)
    x = np.ones((200, 8), dtype=np.float32)
    a = layer.forward(x, train=True)
    kept = a != 0
    assert type(layer.rate) is float and layer.config() == {"type": "Dropout", "rate": 0.25}
    np.testing.assert_allclose(a[kept], 1 / (1 - 0.25), rtol=1e-6)
    assert 0.65 < kept.mean() < 0.85  # 1 − p of 1,600 units, kept
    np.testing.assert_array_equal(layer.forward(x), x)  # inference: the identity
