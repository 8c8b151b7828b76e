"""Network.copy binds the weights it copies (no draw), and resume decodes its checkpoint once."""

import numpy as np
import pytest

import deltaprop as dp


def _net(dtype="float32"):
    return dp.Network([dp.Dense(5, 4), dp.Tanh(), dp.Dropout(0.2), dp.Dense(4, 3), dp.Softmax()], seed=3, dtype=dtype)


def test_copy_draws_no_weights(monkeypatch):
    net = _net()
    calls = []
    real = dp.Dense.build

    def counting(self, n_in, dtype, rng):
        calls.append(self)
        return real(self, n_in, dtype, rng)

    monkeypatch.setattr(dp.Dense, "build", counting)
    other = net.copy()
    assert calls == []
    for mine, theirs in zip(net.parameters(), other.parameters()):
        assert theirs.value.dtype == mine.value.dtype
        np.testing.assert_array_equal(theirs.value, mine.value)
        assert not np.shares_memory(theirs.value, mine.value)
    assert all(np.shares_memory(p.value, other._flat_values) for p in other.parameters())


def test_copy_is_independent_and_casts():
    net = _net("float64")
    other = net.copy(dtype="float32")
    assert other.dtype == np.float32
    for mine, theirs in zip(net.parameters(), other.parameters()):
        assert theirs.value.dtype == np.float32
        np.testing.assert_array_equal(theirs.value, mine.value.astype(np.float32))
    before = [p.value.copy() for p in net.parameters()]
    for p in other.parameters():
        p.value = p.value + 1
    for p, b in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.value, b)
    assert other.copy(dtype="float64").dtype == np.float64


def test_copy_cast_overflow_still_refused():
    net = _net("float64")
    net.layers[0].W.value[0, 0] = 1e300
    with pytest.raises(dp.errors.ConfigError, match="beyond float32's range"):
        net.copy(dtype="float32")


def test_kept_weights_of_wrong_shape_still_refused():
    net = _net()
    layer = net.layers[0]
    layer.W = dp.layers.Parameter("W", np.zeros((5, 2), np.float32))
    with pytest.raises(dp.errors.ShapeError, match="parameter 'W'"):
        dp.Network([layer, dp.Tanh()])


def _checkpoint(tmp_path):
    from deltaprop.callbacks import DiagnosticsRecorder
    from deltaprop.serialization import save_checkpoint

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    net = dp.mlp([4, 5, 3], seed=0, dtype="float64")
    states = []
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=3, batch_size=20,
           callbacks=[DiagnosticsRecorder(X, y), dp.LambdaCallback(on_epoch_end=states.append)])
    save_checkpoint(tmp_path / "c.safetensors", states[-1])
    return tmp_path / "c.safetensors"


def _count_history_checks(monkeypatch):
    from deltaprop import _checks

    calls = []
    real = _checks.history_records

    def counting(records, **kw):
        calls.append(len(records))
        return real(records, **kw)

    monkeypatch.setattr(_checks, "history_records", counting)
    return calls


def test_checkpoint_history_checked_once_from_load_to_state(tmp_path, monkeypatch):
    from deltaprop.serialization import load_checkpoint

    path = _checkpoint(tmp_path)
    calls = _count_history_checks(monkeypatch)
    ck = load_checkpoint(path)
    state = ck.training_state()
    assert calls == [3]
    assert len(state.history.records) == 3 and state.history.diagnostics


def test_replaced_checkpoint_history_still_checked(tmp_path):
    from deltaprop.serialization import load_checkpoint

    ck = load_checkpoint(_checkpoint(tmp_path))
    history = [dict(r) for r in ck.training["history"]]
    history[1]["diagnostics"] = {"probe_size": "many", "layers": [], "parameters": []}
    ck.training["history"] = history
    with pytest.raises(dp.errors.StateError, match="history record 2"):
        ck.training_state()


def test_from_dict_checks_history_columns_by_default(tmp_path):
    from deltaprop.serialization import load_checkpoint
    from deltaprop.training import TrainingState

    ck = load_checkpoint(_checkpoint(tmp_path))
    data = {**ck.training, "history": [dict(r) for r in ck.training["history"]]}
    data["history"][0]["val_loss"] = float("inf")
    with pytest.raises(dp.errors.StateError, match="val_loss"):
        TrainingState.from_dict(data, net=ck.net, optimizer=ck.optimizer, saved_weights=ck.saved_weights)
