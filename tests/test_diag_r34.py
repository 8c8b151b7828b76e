"""Diagnostics and alerts: statistics as documented, under sample weights and mismatched losses."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


def _weighted_blobs(n=300, seed=0):
    """Two overlapping classes in 2 features (about 80% separable) and whole-number row
    weights (class 1 counts 4 times)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    y = ((X[:, 0] + 0.8 * rng.normal(size=n)) > 0).astype(int)
    return X, y, np.where(y == 1, 4, 1)


def _duplicated(X, y, w):
    """Each row repeated by its whole-number weight: its plain mean loss is the weighted one."""
    return np.repeat(X, w, axis=0), np.repeat(y, w)


def test_recorded_gradients_are_of_the_weighted_loss_the_run_minimises():
    X, y, w = _weighted_blobs()
    net = dp.mlp([2, 4, 2], activation="tanh", seed=0, dtype="float64")
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.5), epochs=2, batch_size=50,
                     seed=0, sample_weight=w)
    recorded = history.diagnostics[-1]
    Xd, yd = _duplicated(X, y, w)  # 300 rows: the probe is every row
    direct = dp.diagnose(net, Xd, yd, dp.CrossEntropy())
    for got, want in zip(recorded.parameters, direct.parameters):
        assert got.grad_norm == pytest.approx(want.grad_norm, rel=1e-9), got.name


def test_diagnose_takes_sample_weight_as_fit_does():
    X, y, w = _weighted_blobs()
    net = dp.mlp([2, 4, 2], activation="relu", seed=1, dtype="float64")
    weighted = dp.diagnose(net, X, y, dp.CrossEntropy(), sample_weight=w)
    Xd, yd = _duplicated(X, y, w)
    direct = dp.diagnose(net, Xd, yd, dp.CrossEntropy())
    for got, want in zip(weighted.parameters, direct.parameters):
        assert got.grad_norm == pytest.approx(want.grad_norm, rel=1e-9), got.name
    plain = dp.diagnose(net, X, y, dp.CrossEntropy())
    assert plain.parameters[0].grad_norm != pytest.approx(weighted.parameters[0].grad_norm, rel=1e-3)
    with pytest.raises(dp.ShapeError):
        dp.diagnose(net, X, y, dp.CrossEntropy(), sample_weight=w[:10])


def test_a_converged_weighted_fit_is_not_called_flat():
    """Logistic regression with class weights, full batch, at its (weighted) optimum: the
    gradient of the unweighted loss is not 0 there, and flat_loss called the run stuck."""
    X, y, w = _weighted_blobs()
    net = dp.Network([dp.Dense(2, 2), dp.Softmax()], seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=1.0), epochs=300, batch_size=None,
                     seed=0, sample_weight=w)
    losses = [r["loss"] for r in history.records[-4:]]
    assert max(losses) - min(losses) < 1e-4 * losses[-1]  # the loss is flat: at the minimum
    assert [a.rule for a in history.alerts] == []
