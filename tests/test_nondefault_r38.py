"""Non-default choices: what a run given them says and computes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cli_in_process import run_cli
from sklearn.exceptions import ConvergenceWarning

import deltaprop as dp
from deltaprop.errors import ConfigError
from deltaprop.sklearn import NeuralNetClassifier

PARITY = ("--dataset", "parity", "--layers", "10,8,2", "--batch-size", "100", "--quiet")


@pytest.mark.slow
@pytest.mark.parametrize(("schedule", "noted"), [("step:step_size=1", False), ("step", True)])
def test_the_step_note_on_an_extended_run_only_names_a_step_size_filled_in(tmp_path, schedule, noted):
    """A step_size given with the run (1, as 2 epochs' default happens to be) is the run's own:
    a new run of 6 epochs from its configuration keeps it too, so no note may say it would take 2."""
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--schedule", schedule, "--epochs", "2", "--out", run).returncode == 0
    res = run_cli("train", "--resume", run, "--epochs", "6", "--quiet")
    assert res.returncode == 0, res.stderr
    said = "keeps its step schedule's step_size=1" in res.stderr
    assert said is noted, res.stderr
    if noted:
        assert "a new run of 6 epochs would take step_size=2" in res.stderr


# -- the scikit-learn classifier: a loss its output cannot give probabilities to ------------------
_rng = np.random.default_rng(0)
_X = _rng.standard_normal((60, 4))
_TWO = (_X[:, 0] > 0).astype(int)
_THREE = np.argmax(_X[:, :3], axis=1)


@pytest.mark.parametrize(("settings", "y", "said"), [
    # categorical cross-entropy on logistic units falls to 0 as every unit goes to 1: it trained to
    # a loss_ of 0.002 that scored at chance, with no error (two classes: output="auto" is one unit)
    ({"loss": "cross_entropy"}, _TWO, "needs a softmax output, but output='auto' gives one logistic unit for 2 classes"),
    ({"loss": "cross_entropy", "output": "sigmoid"}, _THREE, "gives 3 logistic units for 3 classes"),
    ({"loss": "cross_entropy", "solver": "lbfgs"}, _TWO, "needs a softmax output"),
    ({"loss": "binary_cross_entropy", "output": "softmax"}, _THREE, "needs a logistic output"),
    ({"loss": dp.CrossEntropy(from_logits=True)}, _THREE, "takes logits, but the classifier's outputs are probabilities"),
])
def test_a_classifier_loss_that_does_not_go_with_its_output_is_refused_naming_the_fix(settings, y, said):
    est = NeuralNetClassifier((6,), max_iter=3, random_state=0, **settings)
    with pytest.raises(ConfigError, match="use loss=None") as caught:
        est.fit(_X, y)
    assert said in str(caught.value)
    assert not hasattr(est, "net_")


def test_a_multilabel_classifier_is_not_told_to_use_a_softmax():
    Y = (_rng.random((60, 3)) > 0.5).astype(int)
    with pytest.raises(ConfigError, match="3 logistic units for 3 labels") as caught:
        NeuralNetClassifier((6,), loss="cross_entropy", max_iter=3, random_state=0).fit(_X, Y)
    assert "output='softmax'" not in str(caught.value)


@pytest.mark.parametrize(("settings", "y"), [({"loss": "cross_entropy"}, _THREE), ({"loss": "binary_cross_entropy"}, _TWO),
                                             ({"loss": "squared_error", "output": "softmax"}, _TWO)])
def test_a_loss_that_goes_with_its_output_still_trains(settings, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = NeuralNetClassifier((6,), max_iter=3, random_state=0, **settings).fit(_X, y)
    assert est.predict(_X).shape == (60,)
