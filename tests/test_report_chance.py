"""One chance level, of the rows scored: the CLI's warning and report.html give the same
number for the same sentence, and say which labels it is of."""

from __future__ import annotations

import re

import numpy as np
import pytest

from deltaprop.alerts import chance_level
from deltaprop.cli import main
from deltaprop.report_html import render


def test_the_report_chance_is_chance_level_of_the_confusion_rows():
    evaluation = {"accuracy": 0.9, "examples": 20, "confusion": [[18, 0], [2, 0]], "class_names": ["a", "b"]}
    page = re.sub(r"<[^>]+>", " ", render([], {"status": "done"}, evaluation=evaluation))
    assert chance_level([0] * 18 + [1] * 2, 2) == 0.9
    assert "0.9000 against 0.9000 for always answering the most common class of the test labels" in page


@pytest.mark.slow  # a CLI train: about 2 s
def test_cli_and_report_give_the_same_chance(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = (rng.random(400) < 0.05).astype(int)  # noise labels, 95/5: the split's shares differ
    data = tmp_path / "imb.csv"
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,e,label", comments="", fmt="%.5f")
    assert main(["train", "--dataset", str(data), "--epochs", "3", "--out", str(tmp_path / "run"), "-q"]) == 0
    said = re.search(r"most common class of the test labels scores (0\.\d{4})", capsys.readouterr().err)
    page = re.sub(r"<[^>]+>", " ", (tmp_path / "run" / "report.html").read_text(encoding="utf-8"))
    shown = re.search(r"against (0\.\d{4}) for always answering the most common class of the test labels", page)
    assert said and shown and said.group(1) == shown.group(1)
