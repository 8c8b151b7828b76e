"""The run report, metrics, plots and schedules against what they claim to show."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from cli_in_process import run_cli


def _header(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page[page.index("<header>"):page.index("</header>")])


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_the_report_says_a_first_epoch_cut_short_by_steps_is_partial(tmp_path):
    """--steps 5 on a file of 11 batches an epoch: history.png's title and the 'model weights'
    row said 'epoch 1 is partial: 5 of its 11', while the page's header read 'last epoch (1):'
    as if the epoch were whole (the records hold no full epoch to compare it with)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 250)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((250, 3)) + y[:, None], y=y)
    out = tmp_path / "run"
    result = run_cli("train", "--dataset", tmp_path / "d.npz", "--steps", 5, "--out", out, "-q")
    assert result.returncode == 0, result.stderr
    kept = json.loads((out / "run.json").read_text())["model_weights"]
    assert kept["batches"] == 5 < kept["epoch_batches"]
    header = _header((out / "report.html").read_text())
    assert f"last epoch (1, partial: 5 of its {kept['epoch_batches']} steps)" in header


def test_the_report_header_reads_run_json_partial_only_for_its_last_epoch():
    from deltaprop.report_html import render

    records = [{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "lr": 0.1, "seconds": 0.1, "steps": 5}]
    facts = {"status": "done", "config": {"dataset": "d.npz", "layers": [3, 50, 2]}}
    kept = {"epoch": 1, "last_epoch": 1, "why": "last_epoch", "batches": 5, "epoch_batches": 11}
    assert "last epoch (1, partial: 5 of its 11 steps)" in _header(render(records, {**facts, "model_weights": kept}))
    whole = {"epoch": 1, "last_epoch": 1, "why": "last_epoch"}
    assert "last epoch (1):" in _header(render(records, {**facts, "model_weights": whole}))
    other = {**kept, "epoch": 3, "last_epoch": 3}  # another epoch's: not this page's last
    assert "last epoch (1):" in _header(render(records, {**facts, "model_weights": other}))


def _binary_file(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    np.savez(tmp_path / "b.npz", x=rng.standard_normal((200, 3)) + 0.5 * y[:, None], y=y)
    return tmp_path / "b.npz"


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_the_reports_wrong_examples_of_a_score_model_show_its_outputs(tmp_path):
    """Squared error on one linear output: its outputs are scores, not probabilities (deltaprop
    predict says 'scores 1: -0.1777'), and the page captioned a wrong example '(1.18)', which is
    1 − output, as if it were a confidence of 118%."""
    import deltaprop as dp

    out = tmp_path / "run"
    result = run_cli("train", "--dataset", _binary_file(tmp_path), "--layers", "3,4,1", "--output-activation",
                     "identity", "--loss", "mse", "--epochs", 2, "--out", out, "-q")
    assert result.returncode == 0, result.stderr
    wrong = json.loads((out / "evaluation.json").read_text())["wrong"]
    assert wrong
    x = np.load(tmp_path / "b.npz")["x"]
    outputs = dp.load(out / "model.safetensors").predict_proba(x)[:, 0]
    page = (out / "report.html").read_text()
    assert "scores, not probabilities" in page
    for ex in wrong:
        assert ex["score"] == pytest.approx(float(outputs[ex["row"]]), rel=1e-5, abs=1e-6)
        assert f"predicted {ex['predicted']} (output {ex['score']:.4g})" in page


@pytest.mark.slow  # about 0.8 s in the quick suite on 2 cores
def test_a_probability_models_wrong_examples_keep_their_confidence(tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "--dataset", _binary_file(tmp_path), "--epochs", 2, "--out", out, "-q")
    assert result.returncode == 0, result.stderr
    wrong = json.loads((out / "evaluation.json").read_text())["wrong"]
    assert wrong and all("score" not in ex and 0.5 <= ex["confidence"] <= 1 for ex in wrong)
    page = (out / "report.html").read_text()
    assert "scores, not probabilities" not in page
    assert all(f"predicted {ex['predicted']} ({ex['confidence']:.2f})" in page for ex in wrong)


def test_a_rebuild_refuses_an_evaluation_json_score_that_is_no_number(tmp_path):
    from deltaprop.errors import DataError
    from deltaprop.report import checked_evaluation

    ex = {"index": 0, "label": 1, "predicted": 0, "confidence": 0.9, "score": "high"}
    with pytest.raises(DataError, match=r"wrong\[0\]\.score"):
        checked_evaluation({"wrong": [ex]}, tmp_path / "evaluation.json")


@pytest.mark.parametrize("epochs", [300, 301, 302, 600, 1000])
def test_a_long_runs_curves_can_be_read_at_their_last_epoch(epochs):
    """Past MAX_POINTS epochs the hover points are thinned: every other one from the first,
    so a run of 302 epochs had no point (no value on hover, no title) at its last epoch."""
    from deltaprop.report import MAX_POINTS
    from deltaprop.report_html import line_chart

    x = list(range(1, epochs + 1))
    chart = line_chart("loss", x, [("train", [1.0 / e for e in x], "#000")])
    tips = re.findall(r'data-tip="train, epoch (\d+): ', chart)
    assert tips[0] == "1" and tips[-1] == str(epochs)
    assert len(tips) <= MAX_POINTS


def _at_chance(alerts):
    """A page of a run that ends at chance (every test row predicted as class 0 of a 50/50 split)."""
    from deltaprop.report_html import render

    records = [{"epoch": 1, "loss": 0.69, "accuracy": 0.5, "lr": 0.1, "seconds": 0.1, "steps": 1, "alerts": alerts}]
    evaluation = {"accuracy": 0.5, "examples": 20, "class_names": ["0", "1"], "confusion": [[10, 0], [10, 0]],
                  "wrong": []}
    facts = {"status": "done", "config": {"dataset": "d.npz", "layers": [3, 50, 2]}}
    return _header(render(records, facts, evaluation=evaluation))


def test_the_reports_chance_warning_sends_to_the_alerts_only_when_one_fired():
    """A run too short for any rule to judge: the CLI says 'no alert rule named a cause ... try
    more --epochs or another --lr', while the page said 'see the alerts' above an alerts
    section that reads 'No alerts'."""
    alone = _at_chance([])
    assert "ends at chance accuracy" in alone
    assert "see the" not in alone and "no alert rule named a cause" in alone
    alert = {"rule": "chance_accuracy", "epoch": 1, "layer": None, "evidence": "e", "fix": "f"}
    assert "see the alerts" in _at_chance([alert])


def _x_ticks(chart: str) -> list[str]:
    return re.findall(r'text-anchor="middle">(\d+)</text>', chart)


def test_a_one_epoch_runs_curves_have_no_axis_to_an_epoch_it_did_not_train():
    """A run of one epoch drew its point at the left end of an axis ticked 1 and 2, as if a
    second epoch were on it (history.png centres the one epoch)."""
    from deltaprop.report_html import line_chart

    one = line_chart("loss", [1], [("train", [0.5], "#000")])
    assert _x_ticks(one) == ["1"]
    cx = float(re.search(r'<circle class="pt" cx="([\d.]+)"', one).group(1))
    left, right = 54, 360 - 10  # the plot area of a chart 360 wide
    assert cx == pytest.approx((left + right) / 2, abs=0.1)
    many = line_chart("loss", [1, 2, 3], [("train", [0.5, 0.4, 0.3], "#000")])
    assert _x_ticks(many) == ["1", "2", "3"]
