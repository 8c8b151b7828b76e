"""What a diverged run leaves behind lets the next fit train: the weights the diverged
epoch began with, or those fit began with where these had already exploded, and the
optimizer's state reset; the message says how large the weights are, and `deltaprop train`
says when its last checkpoint holds exploded weights."""

from __future__ import annotations

import numpy as np
import pytest
from cli_in_process import run_cli as cli

import deltaprop as dp

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4)).astype(np.float32)
Y = (X @ RNG.normal(size=(4, 1))).astype(np.float32) * 10


def _diverge(net, optimizer, epochs=20) -> dp.TrainingDivergedError:
    with np.errstate(all="ignore"), pytest.raises(dp.TrainingDivergedError) as info:
        dp.fit(net, X, Y, loss=dp.MeanSquaredError(), optimizer=optimizer, epochs=epochs, batch_size=16, seed=0,
               diagnostics=False)
    return info.value


def _largest(net) -> float:
    return max(float(np.abs(p.value).max()) for p in net.parameters())


def test_weights_that_exploded_over_epochs_are_not_kept_and_a_refit_at_a_lower_rate_trains():
    # the weights grow over six epochs (2e17 at the start of the seventh), then the loss overflows:
    # they used to be kept, and a refit at 1000 times lower a rate diverged again at step 1
    net = dp.mlp([4, 8, 1], activation="tanh", output="identity", seed=0)
    first = [p.value.copy() for p in net.parameters()]
    opt = dp.SGD(lr=1.0, momentum=0.9)
    exc = _diverge(net, opt)
    assert exc.epoch > 1 and exc.exploded and exc.largest_weight > 1e6
    for p, w in zip(net.parameters(), first):
        np.testing.assert_array_equal(p.value, w)
    message = str(exc)
    assert f"keeps the weights fit began with (largest |w| {_largest(net):.3g}; those at the start of epoch " in message
    assert f"had already grown to {exc.largest_weight:.3g}, too large to train on" in message
    opt.lr = 1e-3
    history = dp.fit(net, X, Y, loss=dp.MeanSquaredError(), optimizer=opt, epochs=3, batch_size=16, seed=0,
                     diagnostics=False)
    assert np.isfinite(history.records[-1]["loss"]) and _largest(net) < 100


def test_a_first_epoch_divergence_keeps_the_epochs_first_weights_and_resets_the_optimizer():
    # the loss overflowed on finite weights, which were kept (the last step's), with the momentum
    net = dp.mlp([4, 8, 1], activation="relu", output="identity", seed=0)
    first = [p.value.copy() for p in net.parameters()]
    opt = dp.SGD(lr=30.0, momentum=0.9)
    exc = _diverge(net, opt)
    assert exc.epoch == 1 and exc.step > 1 and not exc.exploded
    for p, w in zip(net.parameters(), first):
        np.testing.assert_array_equal(p.value, w)
    assert opt.iterations == 0
    state = opt.state()
    assert set(state) > {"iterations"} and all(not np.any(v) for v in state.values())
    assert f"keeps the weights from the start of epoch 1 (largest |w| {_largest(net):.3g})" in str(exc)
    assert "SGD optimizer's state (moments, step count) is reset" in str(exc)


def test_adam_moments_are_reset_after_a_divergence():
    net = dp.mlp([4, 8, 1], activation="relu", output="identity", seed=0)
    opt = dp.Adam(lr=1e30)  # steps of about lr: the outputs overflow float32
    _diverge(net, opt)
    state = opt.state()
    assert set(state) > {"iterations"} and all(not np.any(v) for v in state.values())


def test_train_says_its_last_checkpoint_holds_exploded_weights(tmp_path):
    out = tmp_path / "run"
    res = cli("train", "--dataset", "parity", "--activation", "sigmoid", "--output-activation", "identity",
              "--loss", "mse", "--momentum", "0.9", "--lr", "2", "--epochs", "30", "--quiet", "--out", out)
    assert res.returncode == 1
    lines = [line for line in res.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, res.stderr
    assert "last good checkpoint" not in lines[0]
    assert f"{out / 'checkpoint.safetensors'}, holds weights that had already grown to " in lines[0]
    assert f"train again from fresh weights: deltaprop train --config {out / 'config.toml'} --lr LOWER" in lines[0]
