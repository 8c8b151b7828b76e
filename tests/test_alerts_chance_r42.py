"""A healthy run on classes of unequal size was told it guesses: where 94% of the rows are
one class, Adam at its usual rate ends epoch 3 at running accuracy 0.944 (chance 0.944) while
its loss falls 0.29, 0.20, under the 0.21 of predicting the class frequencies, and the alert
advised raising the rate 10-100×. A loss below guessing that still falls is learning; the
run's last epoch is judged as before."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.alerts import Context, check

_CTX = {"chance": 0.944, "frequencies_loss": 0.214, "uniform_loss": 0.693}


def _records(losses, accuracies):
    return [
        {"epoch": k, "loss": loss, "accuracy": acc, "steps": 50 * k}
        for k, (loss, acc) in enumerate(zip(losses, accuracies), start=1)
    ]


def _chance(records, **kw):
    return [a for a in check(records, Context(**{**_CTX, **kw})) if a.rule == "chance_accuracy"]


def test_a_loss_below_guessing_that_still_falls_is_no_chance_alert():
    assert _chance(_records([1.07, 0.29, 0.20], [0.53, 0.885, 0.944])) == []


def test_a_guessing_network_is_still_told():
    accuracy = [0.93, 0.94, 0.944]
    assert len(_chance(_records([0.22, 0.215, 0.2145], accuracy))) == 1  # at the frequencies' loss: flat
    assert len(_chance(_records([0.50, 0.40, 0.30], accuracy))) == 1  # falling, but above guessing
    assert len(_chance(_records([1.07, 0.29, 0.20], accuracy), run_epochs=3)) == 1  # the run ends at chance


@pytest.mark.slow  # scikit-learn's import and six epochs
def test_fit_on_unequal_classes_at_adams_usual_rate_raises_no_alert():
    sklearn = pytest.importorskip("sklearn.datasets", reason="make_classification comes with scikit-learn")
    X, y = sklearn.make_classification(2000, 10, n_informative=5, weights=[0.95, 0.05], random_state=0)
    net = dp.mlp([10, 32, 2], activation="relu", seed=0)
    history = dp.fit(
        net, X[:1600].astype(np.float32), y[:1600], loss=dp.CrossEntropy(), optimizer=dp.Adam(), epochs=6, batch_size=32, seed=0
    )
    assert history.loss[-1] < history.loss[2] < history.loss[1]
    assert "chance_accuracy" not in [a.rule for a in history.alerts]
