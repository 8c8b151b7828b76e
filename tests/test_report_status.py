"""The report of a run that did not end well says so: a diverged run says where and why it
diverged and what to change, never that its curves are as expected."""

from __future__ import annotations

import json
import re

from deltaprop.cli import main
from deltaprop.report_html import render


def _text(page: str) -> str:
    page = re.sub(r"<style>.*?</style>|<script>.*?</script>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_a_diverged_report_says_where_why_and_the_fix():
    facts = {"status": "diverged", "diverged": {"epoch": 2, "step": 31, "lr": 5.0,
                                                "message": "training diverged at epoch 2, step 31: the loss is nan"}}
    text = _text(render([], facts))
    assert "Training diverged at epoch 2, step 31: the loss became NaN or infinite" in text
    assert "--lr" in text and "(it was 5)" in text
    assert "curves as expected" not in text
    assert "No alert fired before the run diverged" in text


def test_a_diverged_report_of_an_older_run_json_still_explains():
    text = _text(render([], {"status": "diverged"}))
    assert "Training diverged: the loss became NaN or infinite" in text and "--lr" in text
    assert "curves as expected" not in text


def test_the_cli_records_where_the_run_diverged(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--activation", "relu", "--output-activation", "identity",
                 "--loss", "mse", "--lr", "5", "--epochs", "3", "-q"]) == 1
    facts = json.loads((out / "run.json").read_text())
    assert facts["status"] == "diverged" and facts["diverged"]["lr"] == 5
    epoch, step = facts["diverged"]["epoch"], facts["diverged"]["step"]
    text = _text((out / "report.html").read_text(encoding="utf-8"))
    assert f"Training diverged at epoch {epoch}, step {step}" in text and "curves as expected" not in text


def test_a_run_without_validation_says_so_and_draws_no_empty_legend():
    records = [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.5 + 0.1 * e, "lr": 0.1} for e in (1, 2, 3)]
    page = render(records, {"status": "done"})
    assert "no validation set" in _text(page)
    assert "— validation" not in page and "— train" in page
    with_validation = [{**r, "val_loss": 1.1 / r["epoch"], "val_accuracy": 0.5} for r in records]
    page = render(with_validation, {"status": "done"})
    assert "— validation" in page and "no validation set" not in _text(page)
