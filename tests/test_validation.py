"""Input validation: every bad input is a typed deltaprop error whose message names the
problem (and, where there is one, the fix), raised before any training happens."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp

rng = np.random.default_rng(0)
X = rng.standard_normal((12, 4))
Y = rng.integers(0, 3, 12)


def fit(net=None, X=X, y=Y, **kw):
    net = net or dp.mlp([4, 5, 3], seed=0)
    kw.setdefault("loss", dp.CrossEntropy())
    kw.setdefault("optimizer", dp.SGD(lr=0.1))
    kw.setdefault("epochs", 1)
    return dp.fit(net, X, y, **kw)


def with_value(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


CASES = {
    # X
    "feature count": (lambda: fit(X=X[:, :3]), dp.ShapeError,
                      r"X has 3 features but the network's first layer takes 4.*Dense\(3"),
    "1-D X": (lambda: fit(X=X[:, 0]), dp.ShapeError, r"2-D \(examples, features\)"),
    "scalar X": (lambda: fit(X=3.0), dp.ShapeError, r"2-D"),
    "3-D X of the wrong size": (lambda: fit(X=np.zeros((12, 2, 3))), dp.ShapeError, r"6 features"),
    "no rows": (lambda: fit(X=np.zeros((0, 4)), y=[]), dp.ShapeError, r"no rows"),
    "NaN in X": (lambda: fit(X=with_value(X, (5, 2), np.nan)), dp.DataError, r"NaN or infinity \(first in row 5\)"),
    "inf in X": (lambda: fit(X=with_value(X, (7, 0), -np.inf)), dp.DataError, r"NaN or infinity \(first in row 7\)"),
    "X beyond float32": (lambda: fit(X=with_value(X, (4, 1), 1e300)), dp.DataError,
                         r"too large for float32 \(first in row 4\).*scale"),
    "strings in X": (lambda: fit(X=np.array([["a"] * 4] * 12)), dp.DataError, r"must hold numbers"),
    "ragged X": (lambda: fit(X=[[1, 2, 3, 4], [1, 2]], y=[0, 1]), dp.DataError, r"cannot be read|must hold numbers"),
    # labels
    "label too large": (lambda: fit(y=with_value(Y, 3, 3).astype(int)), dp.DataError, r"class label 3 is out of range.*0\.\.2"),
    "negative label": (lambda: fit(y=with_value(Y, 0, -1).astype(int)), dp.DataError, r"class label -1 is out of range"),
    "string labels": (lambda: fit(y=np.array(["cat"] * 12)), dp.DataError, r"targets must be numbers"),
    "fractional labels": (lambda: fit(y=with_value(Y, 2, 0.5)), dp.DataError, r"whole numbers"),
    "NaN label": (lambda: fit(y=with_value(Y, 2, np.nan)), dp.DataError, r"whole numbers"),
    "fractional labels, MSE": (lambda: fit(y=with_value(Y, 2, 1.5), loss=dp.MeanSquaredError()), dp.DataError, r"whole numbers"),
    "one-hot of the wrong width": (lambda: fit(y=np.eye(4)[Y]), dp.ShapeError, r"4 columns but the network has 3 outputs"),
    "3-D labels": (lambda: fit(y=np.zeros((12, 3, 1))), dp.ShapeError, r"1-D class ids or 2-D rows"),
    "one-hot above 1": (lambda: fit(y=np.eye(3)[Y] * 2), dp.DataError, r"\[0, 1\]|sum to 1"),
    "NaN in one-hot rows": (lambda: fit(y=with_value(np.eye(3)[Y], (0, 0), np.nan)), dp.DataError, r"NaN"),
    "X and y lengths": (lambda: fit(y=Y[:10]), dp.ShapeError, r"X has 12 rows but y has 10"),
    # hyperparameters
    "lr zero": (lambda: fit(optimizer=dp.SGD(lr=0)), dp.ConfigError, r"lr must be > 0, got 0"),
    "lr negative": (lambda: fit(optimizer=dp.Adam(lr=-0.01)), dp.ConfigError, r"lr must be > 0"),
    "lr nan": (lambda: fit(optimizer=dp.SGD(lr=float("nan"))), dp.ConfigError, r"lr must be a finite number, got nan"),
    "lr inf": (lambda: fit(optimizer=dp.RMSprop(lr=float("inf"))), dp.ConfigError, r"lr must be a finite number, got inf"),
    "batch_size zero": (lambda: fit(batch_size=0), dp.ConfigError, r"batch_size must be >= 1, got 0"),
    "batch_size negative": (lambda: fit(batch_size=-8), dp.ConfigError, r"batch_size must be >= 1"),
    "batch_size fractional": (lambda: fit(batch_size=2.5), dp.ConfigError, r"batch_size must be a whole number"),
    "epochs zero": (lambda: fit(epochs=0), dp.ConfigError, r"epochs must be >= 1, got 0"),
    "epochs negative": (lambda: fit(epochs=-3), dp.ConfigError, r"epochs must be >= 1, got -3"),
    "steps zero": (lambda: fit(epochs=None, steps=0), dp.ConfigError, r"steps must be >= 1"),
    # the other arguments
    "validation not a pair": (lambda: fit(validation=X), dp.ConfigError, r"validation must be a pair"),
    "validation features": (lambda: fit(validation=(X[:, :2], Y)), dp.ShapeError, r"X_val has 2 features"),
    "validation lengths": (lambda: fit(validation=(X, Y[:5])), dp.ShapeError, r"X_val has 12 rows but y_val has 5"),
    "loss by name": (lambda: fit(loss="mse"), dp.ConfigError, r"loss must be a deltaprop loss"),
    "optimizer by name": (lambda: fit(optimizer="sgd"), dp.ConfigError, r"optimizer must be a deltaprop optimizer"),
    "not a network": (lambda: dp.fit([1, 2], X, Y, loss=dp.CrossEntropy(), optimizer=dp.SGD()), dp.ConfigError, r"Network"),
    "predict feature count": (lambda: dp.mlp([4, 3]).predict(X[:, :2]), dp.ShapeError, r"2 features.*takes 4"),
    "predict NaN": (lambda: dp.mlp([4, 3]).predict(with_value(X, (1, 1), np.nan)), dp.DataError, r"NaN"),
    "gradcheck lengths": (lambda: dp.gradcheck(dp.mlp([4, 3]), dp.CrossEntropy(), X, Y[:3]), dp.ShapeError, r"12 rows.*3"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_a_typed_error_that_names_the_problem(case):
    call, error, message = CASES[case]
    with pytest.raises(error, match=message) as info:
        call()
    assert isinstance(info.value, dp.Error)
    assert isinstance(info.value, ValueError)  # code written against the standard hierarchy still works


def test_nothing_is_trained_when_the_input_is_bad():
    net = dp.mlp([4, 5, 3], seed=0)
    before = [p.value.copy() for p in net.parameters()]
    with pytest.raises(dp.DataError):
        fit(net, y=with_value(Y, 11, 7).astype(int))  # the bad label is the last one
    for p, w in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.value, w)


def test_acceptable_variants_are_accepted():
    def trained(net=None, **kw):
        net = net or dp.mlp([4, 3], seed=0)
        history = fit(net, seed=0, **kw)
        assert len(history) == 1 and np.isfinite(history["loss"][0])
        return [p.value.tobytes() for p in net.parameters()]

    # each variant trains exactly as its plain form does
    plain = trained()
    assert trained(X=X.tolist(), y=Y.tolist()) == plain  # lists
    assert trained(y=Y.astype(float)) == plain  # whole-number floats
    assert trained(y=np.eye(3)[Y]) == plain  # one-hot rows
    assert trained(X=X.astype(np.float32), batch_size=np.int64(4), epochs=np.int64(1)) == trained(batch_size=4)
    binary = dict(loss=dp.BinaryCrossEntropy())
    assert (trained(dp.mlp([4, 1], output="sigmoid", seed=0), y=Y > 0, **binary)  # booleans
            == trained(dp.mlp([4, 1], output="sigmoid", seed=0), y=(Y > 0).astype(int), **binary))
    images = np.random.default_rng(1).random((12, 2, 3))
    assert trained(dp.mlp([6, 3], seed=0), X=images) == trained(dp.mlp([6, 3], seed=0), X=images.reshape(12, 6))
