"""The run report, metrics, plots and schedules against what they claim to show."""

from __future__ import annotations

import json
import re

import numpy as np

from cli_in_process import run_cli


def _header(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page[page.index("<header>"):page.index("</header>")])


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
