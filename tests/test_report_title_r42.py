"""The report's title and heading name the dataset and layers a run's configuration records,
and no empty parts: a folder a CheckpointWriter of `fit` wrote (no config.toml, no run.json)
was headed "deltaprop run: ," with nothing after the colon."""

import re

import numpy as np
from cli_in_process import run_cli

import deltaprop as dp


def test_the_title_names_what_the_configuration_records():
    from deltaprop.report_html import _run_title

    cfg = {"dataset": "mnist-sample", "layers": [784, 50, 10]}
    assert _run_title(cfg) == "deltaprop run: mnist-sample, 784 → 50 → 10"
    assert _run_title(cfg, layers=False) == "deltaprop run: mnist-sample"
    assert _run_title({"layers": [4, 3, 2]}) == "deltaprop run: 4 → 3 → 2"
    assert _run_title({}) == "deltaprop run"


def test_report_of_a_checkpoint_writer_folder_has_no_empty_heading(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    out = tmp_path / "cw"
    dp.fit(
        dp.mlp([4, 3, 2], seed=0),
        X,
        y,
        loss=dp.CrossEntropy(),
        optimizer=dp.SGD(lr=0.3),
        epochs=1,
        batch_size=20,
        seed=0,
        threads=1,
        callbacks=[dp.CheckpointWriter(out)],
    )
    result = run_cli("report", out)
    assert result.returncode == 0, result.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert re.search(r"<h1>deltaprop run</h1>", page)
    assert "<title>deltaprop run</title>" in page
    assert "deltaprop run: ," not in page and "deltaprop run: <" not in page
