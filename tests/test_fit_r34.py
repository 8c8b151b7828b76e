"""fit's arguments and callbacks as a library user calls them."""

import numpy as np
import pytest

import deltaprop as dp


def _data(n=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] > 0).astype(int)


def _net():
    return dp.Network([dp.Dense(4, 6), dp.ReLU(), dp.Dense(6, 2), dp.Softmax()], seed=0)


@pytest.mark.parametrize("batch_size", [16.0, np.float64(16.0)])
def test_whole_float_batch_size_trains_as_the_int(batch_size):
    # the check accepted 16.0 as 16, but the batches were built from the float: a TypeError
    X, y = _data()
    kwargs = dict(loss=dp.CrossEntropy(), epochs=2, seed=0, diagnostics=False)
    got = dp.fit(net := _net(), X, y, optimizer=dp.SGD(lr=0.1), batch_size=batch_size, **kwargs)
    want = dp.fit(ref := _net(), X, y, optimizer=dp.SGD(lr=0.1), batch_size=16, **kwargs)
    assert got.steps == want.steps == [3, 6]
    for a, b in zip(net.parameters(), ref.parameters()):
        np.testing.assert_array_equal(a.value, b.value)


def test_fractional_batch_size_is_a_config_error():
    X, y = _data()
    with pytest.raises(dp.ConfigError, match="batch_size"):
        dp.fit(_net(), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, batch_size=16.5,
               diagnostics=False)


class _Log(dp.Callback):
    def __init__(self, calls, name):
        self.calls, self.name = calls, name

    def on_train_begin(self, state):
        self.calls.append((self.name, "begin"))

    def on_train_end(self, state):
        self.calls.append((self.name, "end"))


def test_the_error_that_ended_training_is_not_replaced_by_an_on_train_end_error():
    # a callback's error mid-run used to reach the caller as the on_train_end error after it
    class Mid(dp.Callback):
        def on_epoch_end(self, state):
            raise ValueError("mid-run")

    class End(dp.Callback):
        def on_train_end(self, state):
            raise RuntimeError("at the end")

    X, y = _data()
    with pytest.raises(ValueError, match="mid-run") as info:
        dp.fit(_net(), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, callbacks=[Mid(), End()],
               diagnostics=False)
    assert any("End.on_train_end raised RuntimeError('at the end')" in note for note in info.value.__notes__)


def test_an_on_train_end_error_after_a_normal_run_is_raised():
    class End(dp.Callback):
        def on_train_end(self, state):
            raise RuntimeError("at the end")

    X, y = _data()
    calls = []
    with pytest.raises(RuntimeError, match="at the end"):
        dp.fit(_net(), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1,
               callbacks=[End(), _Log(calls, "log")], diagnostics=False)
    assert calls == [("log", "begin"), ("log", "end")]


def test_callbacks_begun_before_an_on_train_begin_error_are_ended_and_the_rest_not():
    class Bad(dp.Callback):
        def on_train_begin(self, state):
            raise ValueError("cannot start")

    X, y = _data()
    calls = []
    with pytest.raises(ValueError, match="cannot start"):
        dp.fit(_net(), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1,
               callbacks=[_Log(calls, "first"), Bad(), _Log(calls, "last")], diagnostics=False)
    assert calls == [("first", "begin"), ("first", "end")]



@pytest.mark.parametrize("kwargs, rows", [({"batching": "sliding"}, 5 * 11), ({}, 50), ({"batch_size": None}, 50)])
def test_progress_bar_total_is_the_rows_the_epoch_trains_on(kwargs, rows):
    # sliding windows of 11 rows every 10 ran the bar to 55 of 50
    import io

    seen = []

    class Spy(dp.ProgressBar):
        def on_epoch_end(self, state):
            seen.append((self._bar.n, self._bar.total))
            super().on_epoch_end(state)

    X, y = _data(50)
    dp.fit(_net(), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2,
           callbacks=[Spy(file=io.StringIO(), ncols=120)], diagnostics=False, **{"batch_size": 10, **kwargs})
    assert seen == [(rows, rows), (rows, rows)]
