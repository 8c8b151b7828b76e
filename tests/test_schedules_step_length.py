"""How often the step schedule decays when its step comes from the run's length: what the
code does for many lengths, and that `train --help`, docs/sklearn.md and the estimator say so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deltaprop.cli import build_parser
from deltaprop.config import TrainConfig
from deltaprop.schedules import schedule_from_config
from deltaprop.sklearn import NeuralNetClassifier

DOCS = Path(__file__).resolve().parents[1] / "docs" / "sklearn.md"


def _stated_decays(epochs: int) -> int:
    """The rule the help and the docs state: from 6 epochs on two decays when the epochs
    are a multiple of 3, else three; under 6, a decay every epoch."""
    if epochs < 6:
        return epochs - 1
    return 2 if epochs % 3 == 0 else 3


def _decays(schedule, epochs: int) -> int:
    rates = [schedule.lr_at(t, 1.0) for t in range(epochs)]
    return sum(later < earlier for earlier, later in zip(rates, rates[1:]))


@pytest.mark.parametrize("epochs", range(1, 31))
def test_the_run_length_step_schedule_decays_as_stated(epochs):
    cli = schedule_from_config(TrainConfig.from_mapping({"schedule": "step", "epochs": epochs}).schedule_for_run(1))
    fitted = NeuralNetClassifier(learning_rate="step", max_iter=epochs)._make_schedule()
    assert _decays(cli, epochs) == _decays(fitted, epochs) == _stated_decays(epochs)


def test_help_and_docs_state_the_number_of_decays():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    text = " ".join(next(a.help for a in train._actions if a.dest == "schedule").split())
    assert "two decays in the run" not in text
    assert ("step_size to a third of them, rounded down: from 6 epochs on two decays when the epochs are a multiple "
            "of 3, else three (10 epochs: 0.3, 0.15, 0.075, 0.0375); under 6 epochs a decay every epoch") in text
    rates = [float(r) for r in re.search(r"10 epochs: ([\d., ]+)\)", text).group(1).split(", ")]
    cli = schedule_from_config(TrainConfig.from_mapping({"schedule": "step", "epochs": 10}).schedule_for_run(1))
    assert rates == pytest.approx([cli.lr_at(t, 0.3) for t in (0, 3, 6, 9)])
    docs = " ".join(DOCS.read_text().split())
    assert "three times in a `fit`)" not in docs
    assert ("from 6 epochs on that is twice in a `fit` of a multiple of 3 epochs and three times otherwise "
            "(`max_iter=10`: 0.001, 0.0005, 0.00025, 0.000125, the last for the 10th epoch alone), and under 6 epochs "
            "every epoch") in docs
    doc = " ".join(NeuralNetClassifier._make_schedule.__doc__.split())
    assert "decays three times" not in doc and "two when ``max_iter`` ≥ 6 is a multiple of 3, else three" in doc
