"""Long runs' curves: the report and the served page draw every point of a line (to the
pixel) but hover a bounded number of points, always the first, last, lowest, highest and
marked epochs."""

from __future__ import annotations

import math
import re

import pytest

from deltaprop.report import MAX_POINTS
from deltaprop.report_html import render


def _records(epochs, *, spike=None, alert=None):
    """Records of a two-layer network; ``spike``: an epoch whose loss jumps to 9;
    ``alert``: an epoch with an alert."""
    out = []
    for e in range(1, epochs + 1):
        loss = 9.0 if e == spike else 1.0 + 0.5 * math.sin(e / 7.0) / math.sqrt(e)
        layer = {"mean": 0.1 + 1e-5 * e, "std": 0.2, "saturated": None, "stuck": None, "dead": None,
                 "identical_units": False, "off_target": None}
        record = {"epoch": e, "loss": loss, "accuracy": 0.5 + 0.4 * e / epochs, "lr": 0.1, "diagnostics": {
            "probe_size": 8,
            "layers": [{"index": 0, "layer": "Dense", **layer, "delta_norm": 1.0 / e}],
            "parameters": [{"name": "layers.0.W", "layer": 0, "grad_norm": 1.0 / e, "norm": 1.0 + e,
                            "update_ratio": 1e-3}]}}
        if e == alert:
            record["alerts"] = [{"rule": "r", "epoch": e, "evidence": "m", "fix": "f"}]
        out.append(record)
    return out


def _loss_chart(page):
    start = page.index('aria-label="loss"')
    return page[start:page.index("</svg>", start)]


def _tips(chart, label="train"):
    return [int(m) for m in re.findall(rf'data-tip="{label}, epoch (\d+):', chart)]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_long_run_hovers_a_bounded_number_of_points_and_keeps_its_spike():
    """A 20,000-epoch run's report.html was 8.2 MB: every chart's line held every epoch's
    point. Its lines now hold at most four points a pixel column (the spike kept), and the
    hovered points are bounded yet hold the first, last, lowest, highest, kept and alert epochs."""
    n = 6000
    records = _records(n, spike=4321, alert=2345)
    facts = {"status": "done", "config": {}, "model_weights": {"why": "early_stopping", "epoch": 1234,
                                                                  "monitor": "val_loss"}}
    page = render(records, facts)
    assert len(page) < 1_000_000
    chart = _loss_chart(page)
    tips = _tips(chart)
    assert len(tips) <= MAX_POINTS + 10
    assert {1, n, 4321, 2345, 1234} <= set(tips)  # first, last, highest (the spike), alert, kept
    lowest = min(records, key=lambda r: r["loss"])["epoch"]
    assert lowest in tips
    line = re.search(r'<polyline[^>]*points="([^"]*)"', chart).group(1).split()
    assert len(line) <= 4 * 360
    top = min(float(p.split(",")[1]) for p in line)  # the spike is the highest point drawn
    spike_tip = re.search(r'cy="([\d.]+)"[^>]*data-tip="train, epoch 4321:', chart).group(1)
    assert top == float(spike_tip)
    for svg in re.findall(r"<svg.*?</svg>", page):
        assert svg.count("<circle") <= 2 * (MAX_POINTS + 10)


def test_a_short_run_draws_every_point_and_hovers_every_epoch():
    """Up to a few hundred epochs nothing is thinned: every point is on the line and hovered."""
    n = 250
    page = render(_records(n, spike=100), {"status": "done", "config": {}})
    chart = _loss_chart(page)
    assert _tips(chart) == list(range(1, n + 1))
    line = re.search(r'<polyline[^>]*points="([^"]*)"', chart).group(1).split()
    assert len(line) == n


def _page_points(tmp_path, epochs, *, spike, alert):
    """The epochs of the loss chart's hovered points and the epochs on its line, as the
    served page draws a run folder of ``epochs`` epochs."""
    import json
    import os
    import shutil

    from test_serve_http import running_server, save_model, write_history

    playwright_api = pytest.importorskip("playwright.sync_api")
    chromium = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is missing")
    run = tmp_path / "run"
    run.mkdir()
    save_model(run / "checkpoint.safetensors")
    write_history(run / "history.csv", [{"epoch": e, "loss": r["loss"], "accuracy": 0.5, "lr": 0.1}
                                        for e, r in enumerate(_records(epochs, spike=spike), start=1)])
    (run / "alerts.json").write_text(json.dumps([{"rule": "r", "epoch": alert, "evidence": "e", "fix": "f"}]))
    with running_server(run) as server, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--headless", "--disable-gpu"])
        page = browser.new_page()
        page.goto(server.url)
        page.click("nav .tab[data-view='run']")
        page.wait_for_function(f"() => document.querySelector('#run-epochs').textContent === '{epochs}'")
        page.wait_for_selector(".chart[data-title='loss'] circle")
        tips = page.eval_on_selector_all(".chart[data-title='loss'] circle[data-series='loss'] title",
                                         "els => els.map((e) => e.textContent)")
        segments = page.eval_on_selector(".chart[data-title='loss'] path", "e => e.getAttribute('d').split(/[ML]/).length - 1")
        browser.close()
    return [int(re.search(r"epoch (\d+):", t).group(1)) for t in tips], segments


@pytest.mark.slow
def test_the_page_hovers_a_bounded_number_of_points_of_a_long_run(tmp_path):
    """The served page drew a circle and tooltip for every epoch of every series (1.2 million
    elements for 20,000 epochs, rebuilt at every update). It now hovers at most 1000 a series,
    among them the first, last, lowest, highest and alert epochs; the line is drawn through
    the records the server sends (a long series thinned: see tests/test_serve_r37.py)."""
    n = 5000
    tips, segments = _page_points(tmp_path, n, spike=4321, alert=2345)
    assert len(tips) <= 1000 and len(tips) <= segments <= n
    lowest = min(_records(n), key=lambda r: r["loss"])["epoch"]
    assert {1, n, 4321, 2345, lowest} <= set(tips)


@pytest.mark.slow
def test_the_page_hovers_every_epoch_of_a_short_run(tmp_path):
    tips, segments = _page_points(tmp_path, 300, spike=100, alert=20)
    assert tips == list(range(1, 301)) and segments == 300
