"""Regressions found reviewing the day's changes to the library's core."""

import numpy as np
import pytest

from deltaprop import fit, mlp
from deltaprop.callbacks import CheckpointWriter
from deltaprop.errors import ConfigError
from deltaprop.losses import CrossEntropy, MeanSquaredError
from deltaprop.optimizers import SGD
from deltaprop.schedules import ReduceOnPlateau
from deltaprop.serialization import load_checkpoint


def _plateau_checkpoint(tmp_path):
    """A 3-epoch run whose plateau schedule halves the rate after every epoch but the first
    (patience 0, no improvement can reach min_delta), checkpointed every epoch."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
    net = mlp([4, 8, 3], output="softmax", seed=0)
    schedule = ReduceOnPlateau(factor=0.5, patience=0, min_delta=1e9, monitor="loss")
    fit(net, X, y, loss=CrossEntropy(), optimizer=SGD(0.1), epochs=3, batch_size=16, schedule=schedule, seed=1,
        callbacks=[CheckpointWriter(tmp_path, interval=0)], diagnostics=False)
    return X, y, load_checkpoint(tmp_path / "checkpoint.safetensors")


def test_resume_of_a_plateau_run_from_its_checkpoint_is_accepted(tmp_path):
    X, y, ck = _plateau_checkpoint(tmp_path)
    state = ck.training_state()
    # the epoch's rate, from before the schedule lowered it again at that epoch's end
    assert ck.optimizer.lr != state.schedule.lr_at(state.epoch, state.base_lr)
    history = fit(ck.net, X, y, loss=CrossEntropy(), optimizer=ck.optimizer, epochs=5, batch_size=16,
                  resume=state, diagnostics=False)
    assert len(history) == 5


def test_resume_of_a_plateau_run_still_refuses_a_rate_set_since(tmp_path):
    X, y, ck = _plateau_checkpoint(tmp_path)
    state = ck.training_state()
    ck.optimizer.lr = 0.3
    with pytest.raises(ConfigError, match="state.base_lr"):
        fit(ck.net, X, y, loss=CrossEntropy(), optimizer=ck.optimizer, epochs=5, batch_size=16, resume=state,
            diagnostics=False)


def test_float16_class_ids_give_no_overflow_warning():
    import warnings

    from deltaprop.metrics import accuracy, confusion_matrix

    y = np.array([0, 1, 2, 1], dtype=np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert accuracy(y, y) == 1.0
        assert confusion_matrix(y, y).trace() == 4


def test_confusion_matrix_names_n_classes_when_it_is_too_large():
    from deltaprop.metrics import confusion_matrix

    with pytest.raises(ConfigError, match="n_classes=200,000") as info:
        confusion_matrix(np.array([0, 1]), np.array([1, 1]), n_classes=200_000)
    assert "class ids reach" not in str(info.value)


def test_a_loss_overflowed_by_its_targets_does_not_blame_small_outputs():
    from deltaprop.errors import TrainingDivergedError

    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 4))
    y = X[:, 0] * 1e20  # finite in float32, but (a - y)² is not
    net = mlp([4, 8, 1], output="identity", seed=0)
    with pytest.raises(TrainingDivergedError) as info, np.errstate(over="ignore", invalid="ignore"):
        fit(net, X, y, loss=MeanSquaredError(classification=False), optimizer=SGD(0.01), epochs=1, batch_size=16,
            seed=0, diagnostics=False)
    assert "targets" in info.value.layer
    assert "too large for the loss" not in str(info.value)


def test_a_loss_overflowed_by_huge_outputs_still_names_them():
    from deltaprop.errors import TrainingDivergedError
    from deltaprop.training import _unstable_layer

    net = mlp([4, 8, 1], output="identity", seed=0)
    net._outputs[-1] = np.full((16, 1), 1e30, dtype=np.float32)
    where = _unstable_layer(net, [p.value.copy() for p in net.parameters()], loss_overflowed=True)
    assert where == "layer 3 (Identity)'s outputs reach 1e+30, too large for the loss"
    assert issubclass(TrainingDivergedError, FloatingPointError)


def test_standardization_beyond_float32_builds_a_float64_network_without_warning():
    import warnings

    import deltaprop as dp
    from deltaprop.layers import Dense
    from deltaprop.preprocessing import Standardization

    X = np.random.default_rng(0).standard_normal((50, 3)) * 1e40 + 1e41
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = dp.Network([Standardization.fit(X), Dense(3, 2)], dtype="float64", seed=0)
        out = net.predict_proba(X)
    assert np.all(np.isfinite(out))
    assert np.allclose(net.layers[0].forward(X).mean(axis=0), 0, atol=1e-9)


@pytest.mark.parametrize("x", [np.array([[1 + 2j, 0.5]]), np.array([["a", "b"]]), [[1.0, 2.0], [3.0]]])
@pytest.mark.parametrize("layer", ["Identity", "Sigmoid", "ReLU", "Softmax", "Dropout"])
def test_a_layer_on_its_own_refuses_what_is_not_real_numbers(layer, x):
    import warnings

    from deltaprop import layers
    from deltaprop.errors import DataError

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complex cast warns and keeps the real part only
        with pytest.raises(DataError, match="takes"):
            getattr(layers, layer)(**({"rate": 0.5} if layer == "Dropout" else {})).forward(x)


def test_a_layer_on_its_own_still_computes_integers_and_booleans():
    from deltaprop.layers import Identity, Sigmoid

    assert Sigmoid().forward(np.array([[0, 1]])).dtype == np.float32
    assert Identity().forward(np.array([[True, False]])).tolist() == [[1.0, 0.0]]
