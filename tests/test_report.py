"""The run report: written in every CLI run folder (refreshing while training, final when
done), self-contained, rebuilt identically from the folder's files; the CLI prints alerts
once, summarises them, and says loudly when a run ends at chance accuracy."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import report
from deltaprop.callbacks import LambdaCallback
from deltaprop.cli import main
from deltaprop.report_html import render

SECTIONS = ("alerts", "curves", "diagnostics", "confusion", "weights", "wrong", "run")


def _external_references(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#)[^"']*["']|url\(|https?://|@import""", page)


@pytest.mark.slow  # the main job: about 5 s of training and plotting
def test_main_job_writes_a_complete_final_report(main_job):
    page = (main_job / "report.html").read_text(encoding="utf-8")
    assert len(page.encode()) < 2_000_000
    for ident in SECTIONS:
        assert f'<section id="{ident}">' in page
    assert 'http-equiv="refresh"' not in page  # the run is over
    assert _external_references(page) == []
    assert page.count('class="pt"') >= 4 * 10  # loss and accuracy, train and validation, 10 epochs
    assert "No alerts" in page
    assert page.count("<img ") == 50 + 16  # 50 first-layer units, 16 wrong test examples
    facts = json.loads((main_job / "run.json").read_text())
    assert facts["status"] == "done" and facts["command"] == ["deltaprop", "train", "--out", str(main_job), "--quiet"]
    assert facts["versions"]["numpy"] == np.__version__ and re.fullmatch(r"[0-9a-f]{64}", facts["data"]["arrays_sha256"])
    assert "file_sha256" not in facts["data"]  # a named dataset is no one file
    assert facts["data"]["source"] == "mnist-sample" and facts["seed"] == 0
    # the thread count fit chose (the main job's steps are small: one) and the kernels, for a bit-identical rerun
    ck = dp.serialization.load_checkpoint(main_job / "checkpoint.safetensors")
    assert facts["threads"] == ck.training_state().threads == 1
    assert facts["kernels"] == dp.kernels.backend()
    for value in (facts["data"]["arrays_sha256"], "deltaprop train --out", "mnist-sample"):
        assert value in page


@pytest.mark.slow  # the main job: about 5 s of training and plotting
def test_the_main_job_raises_no_alert(main_job):
    ck = dp.serialization.load_checkpoint(main_job / "checkpoint.safetensors")
    history = ck.training_state().history
    assert history.alerts == []
    assert len(history.diagnostics) == 10 and all(d is not None for d in history.diagnostics)
    assert (main_job / "alerts.csv").read_text().strip() == ",".join(report.ALERT_COLUMNS)


@pytest.mark.slow  # the main job: about 5 s of training and plotting
def test_report_command_rebuilds_the_same_page(main_job, capsys):
    written = (main_job / "report.html").read_bytes()
    (main_job / "report.html").unlink()
    assert main(["report", str(main_job)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert (main_job / "report.html").read_bytes() == written


@pytest.mark.slow  # the main job: about 5 s of training and plotting
def test_diagnostics_csv_round_trips(main_job):
    ck = dp.serialization.load_checkpoint(main_job / "checkpoint.safetensors")
    saved = report.read_diagnostics_csv(main_job / "diagnostics.csv")
    assert [saved[r["epoch"]] for r in ck.training["history"]] == [r["diagnostics"] for r in ck.training["history"]]


def test_report_command_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run folder" in err
    (tmp_path / "history.csv").write_text("nonsense\n")
    assert main(["report", str(tmp_path)]) == 1
    assert "history.csv" in capsys.readouterr().err


@pytest.mark.slow
def test_broken_run_prints_alerts_once_and_ends_with_a_chance_warning(tmp_path, capsys):
    out = tmp_path / "broken"
    assert main(["train", "--activation", "relu", "--lr", "5", "--epochs", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out.count("alert [dead_relu] epoch 1: layer 2 (ReLU)") == 1  # beside the epoch lines
    assert "alerts during training:\n  [dead_relu] epoch 1: layer 2 (ReLU)" in printed.out
    assert re.search(r"^WARNING: test accuracy 0\.\d+ is at chance", printed.err)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "dead_relu" in page and "ends at chance accuracy" in page
    rows = (out / "alerts.csv").read_text().splitlines()
    assert rows[1].startswith("1,dead_relu,2,")  # layer 0 scales the pixels


def test_report_refreshes_while_training(tmp_path):
    X = np.random.default_rng(0).standard_normal((64, 4))
    y = np.arange(64) % 2
    writer = report.ReportWriter(tmp_path, report.run_facts(["x"], {"seed": 0}, data_source="s", data_sha="0"), interval=0)
    pages = []
    read = LambdaCallback(on_epoch_end=lambda s: pages.append((tmp_path / "report.html").read_text()))
    dp.fit(dp.mlp([4, 5, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2,
           callbacks=[writer, read])
    assert len(pages) == 2 and all('http-equiv="refresh"' in p for p in pages)
    assert "2 epoch(s)" in pages[1]
    writer.finish("done")
    final = (tmp_path / "report.html").read_text()
    assert 'http-equiv="refresh"' not in final and "not square images" in final
    assert "Computed on the test set when training ends" in final


def test_render_escapes_text_and_draws_gaps():
    records = [{"epoch": 1, "loss": 1.0, "val_loss": None, "lr": 0.1,
                "alerts": [{"rule": "flat_loss", "epoch": 1, "layer": None, "evidence": "<b>x</b>", "fix": "a & b"}]},
               {"epoch": 2, "loss": float("nan"), "val_loss": 0.5, "lr": 0.1, "alerts": []}]
    page = render(records, {"status": "done", "config": {"dataset": "<script>"}})
    assert page.count("<script>") == 1  # only the page's own script: the name is escaped
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "a &amp; b" in page
    assert "validation, epoch 2: 0.5" in page


def test_line_chart_hover_values_and_log_scale():
    svg = report_html_line_chart("‖δ‖", [1, 2, 3], [("d", [1e-6, 1e-3, None], "#000")], log=True)
    assert svg.count('class="pt"') == 2
    assert 'data-tip="d, epoch 2: 0.001"' in svg and "<title>d, epoch 2: 0.001</title>" in svg
    assert "no data yet" in report_html_line_chart("x", [1], [("d", [None], "#000")])


def report_html_line_chart(*args, **kwargs):
    from deltaprop.report_html import line_chart

    return line_chart(*args, **kwargs)


def test_evaluation_lists_the_most_confidently_wrong():
    net = dp.Network([dp.Dense(4, 2), dp.Softmax()], seed=0, dtype="float64")
    net.layers[0].W.value[...] = 0
    net.layers[0].b.value[...] = [2.0, 0.0]  # always class 0, with confidence e²/(1 + e²)
    images = np.arange(10 * 16, dtype=np.uint8).reshape(10, 16)
    X = np.zeros((10, 4))
    y = np.array([0, 1, 1, 0, 1, 0, 0, 0, 1, 1])
    ev = report.evaluation(net, X, y, ("a", "b"), images=images)
    assert ev["accuracy"] == 0.5 and ev["confusion"] == [[5, 0], [5, 0]]
    assert [w["index"] for w in ev["wrong"]] == [1, 2, 4, 8, 9]
    assert ev["wrong"][0]["pixels"] == images[1].tolist()
    assert ev["wrong"][0]["confidence"] == pytest.approx(np.exp(2) / (1 + np.exp(2)))


def test_data_sha256_depends_on_every_array():
    a, b = np.arange(6, dtype=np.uint8), np.zeros(3)
    assert report.data_sha256(a, b) == report.data_sha256(a.copy(), b.copy())
    assert report.data_sha256(a, b) != report.data_sha256(a.reshape(2, 3), b)
    assert report.data_sha256(a, b) != report.data_sha256(b, a)


# -- in a real browser ----------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture
def browser_page():
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no browser at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1200, "height": 900})
        finally:
            browser.close()


@pytest.mark.slow  # the main job, then a browser start
def test_main_job_report_in_a_real_browser(main_job, browser_page, tmp_path):
    page = browser_page
    errors, requests = [], []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: requests.append(req.url))
    url = (main_job / "report.html").resolve().as_uri()
    page.goto(url, wait_until="load")
    assert errors == []
    assert requests == [url]  # the page itself; nothing from any host
    for selector in ("#curves svg", "#confusion table.cm", "#diagnostics svg", "#weights img", "#wrong img", "#run table"):
        assert page.locator(selector).first.is_visible(), selector
    assert page.locator("#diagnostics svg").count() >= 10
    loss = report.read_run(main_job)["records"][3]["loss"]
    tip = page.locator("#tip")
    assert not tip.is_visible()
    page.locator("#curves svg").first.locator("circle.pt").nth(3).hover()  # train loss, epoch 4
    assert tip.is_visible()
    assert tip.inner_text() == f"train, epoch 4: {loss:.5g}"
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert errors == []


@pytest.mark.slow
def test_a_resumed_run_keeps_its_diagnostics_and_alerts(tmp_path, capsys):
    out = tmp_path / "r"
    parity = ["--dataset", "parity", "--layers", "10,4,2", "--batch-size", "16", "--quiet"]
    assert main(["train", *parity, "--epochs", "2", "--out", str(out)]) == 0
    first = report.read_diagnostics_csv(out / "diagnostics.csv")
    assert main(["train", "--resume", str(out), "--epochs", "3", "--quiet"]) == 0
    capsys.readouterr()
    again = report.read_diagnostics_csv(out / "diagnostics.csv")
    assert sorted(again) == [1, 2, 3] and again[1] == first[1] and again[2] == first[2]
    ck = dp.serialization.load_checkpoint(out / "checkpoint.safetensors")
    assert [r["epoch"] for r in ck.training["history"] if r.get("diagnostics")] == [1, 2, 3]
    assert "3 epoch(s)" in (out / "report.html").read_text(encoding="utf-8")


def test_a_long_run_spends_at_most_a_twentieth_of_its_time_on_the_report(tmp_path, monkeypatch):
    """The report's charts hold every epoch, so a write grows with the run: after a write
    of w seconds the next waits 19 w (REPORT_TIME_SHARE), not just the interval. A fake
    clock: epochs of 0.1 s, writes of 1 s, 400 epochs."""
    clock = [0.0]
    monkeypatch.setattr(report.time, "perf_counter", lambda: clock[0])
    writes = []

    def slow_write(*args, **kwargs):
        writes.append(clock[0])
        clock[0] += 1.0

    monkeypatch.setattr(report, "write_run_files", lambda *a, **k: None)
    monkeypatch.setattr(report, "write_report", slow_write)
    writer = report.ReportWriter(tmp_path, {}, interval=2.0)
    for _ in range(400):
        clock[0] += 0.1
        writer.on_epoch_end(None)
    spent = len(writes) * 1.0
    assert spent <= 0.05 * clock[0] + 1.0, (len(writes), clock[0])
    assert len(writes) >= 2  # it still refreshes
