"""deltaprop serve in a real browser (headless Chromium driven by Playwright): draw a digit
with the mouse and check what the page shows against `deltaprop predict`; change the target
class; follow a training run that is still writing its history."""

from __future__ import annotations

import base64
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deltaprop import cli
from test_serve_http import running_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
    pytest.skip("chromium is missing (apt-get install -y chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"), args=ARGS)
        yield b
        b.close()


class Watched:
    """A page with its console errors and every URL it asked for."""

    def __init__(self, browser, origin):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors, self.urls, self.sent = [], [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", self._request)
        self.origin = origin

    def _request(self, req):
        self.urls.append(req.url)
        if req.url.endswith("/api/backward"):
            self.sent.append(req.post_data_json)

    def check_clean(self):
        assert self.errors == []
        foreign = [u for u in self.urls if not (u.startswith(self.origin) or u.startswith("data:"))]
        assert foreign == []


def draw_zero(page):
    box = page.locator("#pad").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx + 55, cy)
    page.mouse.down()
    for k in range(1, 41):
        t = 2 * math.pi * k / 40
        page.mouse.move(cx + 55 * math.cos(t), cy + 85 * math.sin(t), steps=2)
    page.mouse.up()


def wait_idle(page):
    page.wait_for_function("() => document.body.dataset.state === 'idle'", timeout=20_000)


def canvas_png(page, selector):
    return page.eval_on_selector(selector, "c => c.toDataURL()")


def drawn_page(browser, server, sizes: str):
    """The served page, watched, once it shows the model ``sizes`` and answered a drawn zero."""
    w = Watched(browser, server.url.rstrip("/"))
    page = w.page
    page.goto(server.url)
    page.wait_for_function(f"() => document.querySelector('#model-info').textContent.includes('{sizes}')")
    draw_zero(page)
    wait_idle(page)
    return w, page


@pytest.mark.slow
def test_draw_predict_and_change_the_target(browser, main_job, tmp_path):
    with running_server(main_job) as server:
        w, page = drawn_page(browser, server, "784 → 50 → 10")

        # the request the page sent is the drawing as it is now, and the page shows its answer
        assert w.sent and w.sent[-1]["png"] == canvas_png(page, "#pad")
        preview_ink = page.eval_on_selector(
            "#preview", "c => c.getContext('2d').getImageData(0, 0, 28, 28).data.reduce((s, v, i) => s + (i % 4 ? 0 : v), 0)")
        assert page.eval_on_selector("#preview", "c => c.width") == 28 and preview_ink > 0

        png = base64.b64decode(w.sent[-1]["png"].split(",", 1)[1])
        (tmp_path / "drawn.png").write_bytes(png)
        rows = page.eval_on_selector_all("#probabilities li",
                                         "els => els.map(e => [e.dataset.class, e.querySelector('.p').textContent])")
        predicted = page.inner_text("#predicted")
        shown = ", ".join(f"{c}: {p}" for c, p in rows)
        model = main_job / "model.safetensors"
        import io
        from contextlib import redirect_stdout

        buf = io.StringIO()
        with redirect_stdout(buf):
            assert cli.main(["predict", str(model), str(tmp_path / "drawn.png"), "--top", "10"]) == 0
        assert buf.getvalue().strip() == f"class {predicted}  (probabilities {shown})"
        assert len(rows) == 10

        # hovering a hidden unit of the first layer shows its weights as an image
        assert not page.is_visible("#weights-box")
        page.hover("#forward .strip.hoverable canvas", position={"x": 5, "y": 5})
        page.wait_for_selector("#weights-box", state="visible")
        assert "hidden unit 0 of the first layer" in page.inner_text("#weights-label")
        page.screenshot(path=str(tmp_path / "draw.png"), full_page=True)

        # another target class: the loss, δ and ∂L/∂x change; the prediction does not
        before = {"grad": canvas_png(page, "#input-grad"), "loss": page.inner_text("#loss"),
                  "deltas": page.eval_on_selector_all("#deltas canvas", "cs => cs.map(c => c.toDataURL())")}
        other = (int(predicted) + 3) % 10
        page.click(f"#targets button[data-target='{other}']")
        wait_idle(page)
        assert w.sent[-1]["target"] == other
        assert page.get_attribute(f"#targets button[data-target='{other}']", "class") == "active"
        assert canvas_png(page, "#input-grad") != before["grad"]
        assert page.inner_text("#loss") != before["loss"]
        deltas = page.eval_on_selector_all("#deltas canvas", "cs => cs.map(c => c.toDataURL())")
        assert len(deltas) == len(before["deltas"]) == 3 and all(a != b for a, b in zip(deltas, before["deltas"]))
        assert page.inner_text("#predicted") == predicted
        page.screenshot(path=str(tmp_path / "target.png"), full_page=True)

        # a second stroke changes the drawing; undo brings back the first one exactly
        drawn = canvas_png(page, "#pad")
        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 30, box["y"] + 30)
        page.mouse.down()
        page.mouse.move(box["x"] + 250, box["y"] + 250, steps=10)
        page.mouse.up()
        wait_idle(page)
        assert w.sent[-1]["png"] != drawn
        page.click("#undo")
        wait_idle(page)
        assert w.sent[-1]["png"] == drawn == canvas_png(page, "#pad")
        assert page.inner_text("#predicted") == predicted

        # clear goes back to the empty page
        page.click("#clear")
        page.wait_for_function("() => document.querySelector('#predicted').textContent === '–'")
        w.check_clean()
    assert (tmp_path / "draw.png").stat().st_size > 10_000


def _history_rows(path: Path) -> int | None:
    try:
        with open(path, newline="") as f:
            return max(0, sum(1 for row in csv.reader(f) if row) - 1)
    except OSError:
        return None


#: `deltaprop train` with its run folder written at most every 2 s instead of 5 s: the page
#: (which reads the folder every second) meets two states of a running training in about
#: 5 s of training rather than 11.
_TRAIN_WRITING_EVERY_1_S = (
    "import sys; from deltaprop import callbacks, cli; "
    "callbacks.CheckpointWriter.__init__.__kwdefaults__['interval'] = 1.0; sys.exit(cli.main())"
)


@pytest.mark.slow
def test_live_view_follows_a_training_run(browser, tmp_path):
    """A real `deltaprop train` in another process writes history.csv every second (here); the
    page shows as many epochs as the file has each time, then stops with the run (Ctrl-C)."""
    out = tmp_path / "live"
    cmd = [sys.executable, "-c", _TRAIN_WRITING_EVERY_1_S, "train", "--out", str(out), "--quiet", "--epochs", "500",
           "--batch-size", "5", "--layers", "784,100,10"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.toml").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "no run folder"
            time.sleep(0.1)
        with running_server(out) as server:
            w = Watched(browser, server.url.rstrip("/"))
            page = w.page
            page.goto(server.url)
            page.wait_for_selector("#tabs:not([hidden])")
            page.click("nav .tab[data-view='run']")
            seen_while_training = set()
            while len(seen_while_training) < 2 and time.monotonic() < deadline + 120:
                assert proc.poll() is None, proc.stderr.read()
                n = _history_rows(out / "history.csv")
                if n:
                    try:
                        page.wait_for_function(f"() => document.querySelector('#run-epochs').textContent === '{n}'",
                                               timeout=4000)
                    except playwright_api.TimeoutError:
                        if _history_rows(out / "history.csv") == n:
                            raise  # the file did not move, yet the page does not show it
                        continue
                    if proc.poll() is None:
                        seen_while_training.add(n)
                time.sleep(0.2)
            assert len(seen_while_training) == 2, "the page did not follow the history while the run wrote it"
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the run writes its last epoch and stops
            assert proc.wait(60) == 130, proc.stderr.read()
            n = _history_rows(out / "history.csv")
            assert n >= max(seen_while_training) > 0
            page.wait_for_function(f"() => document.querySelector('#run-epochs').textContent === '{n}'", timeout=10_000)
            page.wait_for_function("() => !document.querySelector('#run-status').textContent.includes('training')",
                                   timeout=10_000)
            points = page.eval_on_selector_all(".chart[data-title='loss'] circle[data-series='loss']", "els => els.length")
            assert points == n
            page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
            w.check_clean()
    finally:
        proc.kill()
        proc.wait()


def _write_csv(path: Path, columns, rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r[c] for c in columns])


def test_run_view_shows_diagnostics_and_alerts_when_the_run_has_them(browser, tmp_path):
    """A run folder with per-layer diagnostics (one row per epoch and layer or parameter)
    and alerts: a chart per statistic with a line per layer, and each alert's evidence and fix."""
    from test_serve_http import save_model, write_history

    run = tmp_path / "diag"
    run.mkdir()
    save_model(run / "model.safetensors")
    write_history(run / "history.csv", [{"epoch": e, "loss": 2.3 - 0.01 * e, "accuracy": 0.1, "lr": 0.3} for e in (1, 2, 3, 4)])
    rows = []
    for e in (1, 2, 3, 4):
        for i, kind in enumerate(("Dense", "ReLU", "Dense", "Softmax")):
            rows.append({"epoch": e, "probe_size": 512, "name": f"layers.{i}", "layer": i, "type": kind, "mean": 0.1 * i,
                         "std": 1.0, "dead": 0.9 if kind == "ReLU" else None,
                         "delta_norm": 10.0 ** -(4 - i) if kind != "Softmax" else None})
        for i in (0, 2):
            rows.append({"epoch": e, "probe_size": 512, "name": f"layers.{i}.W", "layer": i, "type": "parameter",
                         "grad_norm": 1e-5 * (i + 1), "norm": 3.0, "update_ratio": 1e-6 * e})
    _write_csv(run / "diagnostics.csv", ("epoch", "probe_size", "name", "layer", "type", "mean", "std", "saturated", "dead",
                                         "delta_norm", "identical_units", "grad_norm", "norm", "update_ratio"), rows)
    _write_csv(run / "alerts.csv", ("epoch", "rule", "layer", "evidence", "fix"),
               [{"epoch": 2, "rule": "dead_relu", "layer": 1, "evidence": "90% of layer 1's ReLU units are dead",
                 "fix": "lower the learning rate, use He initialisation or leaky ReLU"}])
    (run / "run.json").write_text(json.dumps({"status": "done", "alerts_at_end": {
        "last_epoch": 4, "alerts": [{"rule": "dead_relu", "layer": 1, "epoch": 2, "cleared_by": None}]}}))
    with running_server(run) as server:
        w = Watched(browser, server.url.rstrip("/"))
        page = w.page
        page.goto(server.url)
        page.click("nav .tab[data-view='run']")
        page.wait_for_selector("#diagnostics-card:not([hidden])")
        titles = page.eval_on_selector_all("#diagnostics .chart", "els => els.map(e => e.dataset.title)")
        assert {"mean", "dead", "delta norm", "grad norm", "update ratio"} <= set(titles)
        lines = page.eval_on_selector_all("#diagnostics .chart[data-title='mean'] path", "els => els.length")
        assert lines == 4  # one per layer
        alert = page.inner_text("#alerts li")
        assert "dead_relu (layer 1), epoch 2" in alert and "90% of layer 1" in alert and "He initialisation" in alert
        assert "(still holds at the last epoch (4))" in alert
        assert page.inner_text("#run-epochs") == "4"
        page.screenshot(path=str(tmp_path / "diagnostics.png"), full_page=True)
        w.check_clean()


def test_a_model_file_has_no_training_tab(browser, main_job):
    with running_server(main_job / "model.safetensors") as server:
        w = Watched(browser, server.url.rstrip("/"))
        w.page.goto(server.url)
        w.page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784 → 50 → 10')")
        assert w.page.is_visible("#draw-view") and not w.page.is_visible("#tabs") and not w.page.is_visible("#run-view")
        w.check_clean()


def test_a_model_whose_outputs_are_scores_shows_scores_not_probabilities(browser, tmp_path):
    """Squared error on a linear output: the page shows the raw scores `deltaprop predict`
    prints, says they are scores, claims no certainty, and draws negative scores' bars
    left of zero rather than with negative widths."""
    import io
    from contextlib import redirect_stdout

    import deltaprop as dp

    path = tmp_path / "scores.safetensors"
    dp.save(dp.mlp([784, 16, 10], output="identity", seed=3), path, class_names=[str(i) for i in range(10)],
            input_scaling={"kind": "unit", "max": 255}, loss=dp.MeanSquaredError())
    with running_server(path) as server:
        w, page = drawn_page(browser, server, "784 → 16 → 10")
        assert "%" not in page.inner_text("#confidence") and "score" in page.inner_text("#confidence")
        assert "scores" in page.inner_text("#outputs-kind") and "not probabilities" in page.inner_text("#outputs-kind")
        assert page.get_attribute("#probabilities", "data-kind") == "scores"
        # the bars are measured once laid out (a bar of width 0 is one not drawn yet), in the same
        # frame as the check: a list redrawn between two calls measured its new, unlaid bars
        rows = page.wait_for_function("""() => {
            const rows = [...document.querySelectorAll('#probabilities li')].map(e => {
                const bar = e.querySelector('.bar').getBoundingClientRect(), fill = e.querySelector('i').getBoundingClientRect();
                return [e.dataset.class, e.querySelector('.p').textContent, fill.left - bar.left, fill.right - bar.left,
                        bar.width, e.querySelector('i').classList.contains('neg')];
            });
            return rows.length && rows.every(r => r[4] > 0) ? rows : null;
        }""").json_value()
        png = base64.b64decode(w.sent[-1]["png"].split(",", 1)[1])
        (tmp_path / "drawn.png").write_bytes(png)
        buf = io.StringIO()
        with redirect_stdout(buf):
            assert cli.main(["predict", str(path), str(tmp_path / "drawn.png"), "--top", "10"]) == 0
        shown = ", ".join(f"{c}: {p}" for c, p, *_ in rows)
        assert buf.getvalue().strip() == f"class {page.inner_text('#predicted')}  (scores {shown})"
        assert any(float(p) < 0 for _, p, *_ in rows)  # the drawing gets negative scores: the bars below are tested
        for _, p, left, right, width, neg in rows:
            middle = width / 2
            assert -0.5 <= left <= right <= width + 0.5 and neg == (float(p) < 0)
            if float(p) < 0:
                assert right == pytest.approx(middle, abs=1.5) and left < middle - 1
            elif float(p) > 0:
                assert left == pytest.approx(middle, abs=1.5)
        assert "error" not in (page.get_attribute("#status", "class") or "")
        assert page.eval_on_selector_all("#deltas canvas", "cs => cs.length") == 4  # Dense, Sigmoid, Dense, Identity: all drawn
        page.screenshot(path=str(tmp_path / "scores.png"), full_page=True)
        w.check_clean()
