"""Targets and optimizers as users hand them to the Python API: class names, pandas
columns, labels numbered from 1, missing labels, and the configs of the scikit-learn
estimators' optimizers."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.optimizers import ScikitLearnAdam, ScikitLearnSGD, optimizer_from_config
from deltaprop.serialization import load_checkpoint, save_checkpoint

rng = np.random.default_rng(0)
X = rng.normal(size=(40, 4)).astype(np.float32)
Y = rng.integers(0, 3, 40)
NAMES = np.array(["cat", "dog", "emu"])[Y]


def fit(net=None, X=X, y=Y, loss=None, **kw):
    net = net or dp.mlp([4, 6, 3], seed=0)
    return dp.fit(net, X, y, loss=loss or dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, seed=0,
                  diagnostics=False, **kw)


# -- the scikit-learn estimators' optimizers, from their configs ---------------------------------
def _one_step(opt, seed=1):
    w = dp.Parameter("w", np.ones((3, 2), dtype=np.float32))
    opt.build([w])
    for _ in range(2):
        w.grad[...] = np.random.default_rng(seed).normal(size=(3, 2)).astype(np.float32) * 1e-6
        opt.step()
    return w.value.copy()


def test_the_config_of_the_estimators_adam_rebuilds_that_adam():
    theirs = ScikitLearnAdam(lr=0.01, eps=1e-4)
    rebuilt = optimizer_from_config(theirs.config())
    assert type(rebuilt) is ScikitLearnAdam and rebuilt.config() == theirs.config()
    # its ε before the bias correction: on tiny gradients it steps unlike deltaprop's own Adam
    assert np.array_equal(_one_step(rebuilt), _one_step(ScikitLearnAdam(lr=0.01, eps=1e-4)))
    assert not np.allclose(_one_step(rebuilt), _one_step(dp.Adam(lr=0.01, eps=1e-4)))


def test_the_config_of_the_estimators_sgd_of_momentum_one_and_a_zero_rate_rebuild():
    sgd = optimizer_from_config(ScikitLearnSGD(lr=0.1, momentum=1.0).config())
    assert type(sgd) is ScikitLearnSGD and sgd.momentum == 1.0
    adam = optimizer_from_config({**ScikitLearnAdam().config(), "lr": 0})  # a checkpoint after a cosine to 0
    assert type(adam) is ScikitLearnAdam and adam.lr == 0.0


def test_a_scikit_learn_mark_on_another_optimizer_or_not_a_bool_is_refused():
    with pytest.raises(dp.ConfigError, match=r"'scikit_learn': true marks .* SGD or Adam.*'RMSprop'"):
        optimizer_from_config({**dp.RMSprop().config(), "scikit_learn": True})
    with pytest.raises(dp.ConfigError, match=r"'scikit_learn' must be true or false, got 'yes'"):
        optimizer_from_config({**dp.Adam().config(), "scikit_learn": "yes"})


@pytest.mark.slow  # imports scikit-learn and fits an estimator
def test_a_checkpoint_of_an_estimators_adam_run_loads_and_resumes(tmp_path):
    sklearn = pytest.importorskip("deltaprop.sklearn")
    est = sklearn.NeuralNetClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0, alpha=0.0)
    with pytest.warns(Warning):  # two iterations do not converge
        est.fit(X, NAMES)
    path = save_checkpoint(tmp_path / "run.safetensors", est._state, class_names=list(est.classes_))
    ckpt = load_checkpoint(path)
    assert type(ckpt.optimizer) is ScikitLearnAdam and ckpt.class_names == ("cat", "dog", "emu")
    state = ckpt.training_state()
    assert state.optimizer.iterations == est._state.optimizer.iterations
    ids = np.searchsorted(ckpt.class_names, NAMES)
    history = dp.fit(ckpt.net, X, ids, loss=ckpt.loss, optimizer=state.optimizer, resume=state, epochs=3,
                     diagnostics=False)
    assert [r["epoch"] for r in history.records] == [1, 2, 3]
