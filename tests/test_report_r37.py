"""report.html of a long run: axis labels drawn whole (not cut at the chart's edges), the page
rendered once when a run ends, history.png without checking what it does not draw, and the
long series' lines thinned to the pixel as before."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from deltaprop import diagnostics, plots
from deltaprop import report_html as html
from deltaprop.cli import main
from deltaprop.errors import DataError

#: A digit's width in px at the charts' 11 px font in DejaVu Sans (the browser's sans-serif
#: here, and the widest of the usual ones); '.' and '-' are narrower, which this overstates.
DIGIT_PX = 7.0


def _long_records(n: int = 20_000) -> list[dict]:
    """A history of ``n`` epochs whose loss ends near 1.4e-4: y labels such as 0.000145."""
    epochs = np.arange(1, n + 1)
    loss = 1.4e-4 + 1e-4 * np.exp(-epochs / 3000)
    return [{"epoch": int(e), "loss": float(v), "accuracy": 1.0, "lr": 0.3, "steps": int(e)}
            for e, v in zip(epochs, loss)]


def _texts(svg: str) -> list[tuple[float, str, str]]:
    """(x, text-anchor, text) of each label of an SVG chart."""
    return [(float(x), anchor, text) for x, anchor, text in
            re.findall(r'<text x="([-0-9.]+)" y="[-0-9.]+" text-anchor="(\w+)">([^<]*)</text>', svg)]


@pytest.mark.parametrize("width", [360, 250])  # the curves', the diagnostics' small multiples'
def test_a_long_runs_axis_labels_stay_inside_the_chart_and_apart(width):
    """A 20,000-epoch run's last x tick ("20000", centred on the chart's right end) and a y
    label like "0.000145" (ending 4 px from a fixed 54 px margin) ran past the SVG's edges."""
    records = _long_records()
    svg = html.line_chart("loss", [r["epoch"] for r in records], [("train", [r["loss"] for r in records], "#000")],
                          width=width)
    labels = _texts(svg)
    spans = []
    for x, anchor, text in labels:
        extent = DIGIT_PX * len(text)
        left, right = {"end": (x - extent, x), "middle": (x - extent / 2, x + extent / 2), "start": (x, x + extent)}[anchor]
        assert 0 <= left and right <= width, (text, anchor, x)
        if anchor == "middle" and text != "epoch":
            spans.append((left, right, text))
    assert spans[-1][2] == "20000" and spans[0][2] == "1"
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), spans  # the epochs' labels do not run together
    ys = [text for _, anchor, text in labels if anchor == "end"]
    assert 3 <= len(ys) <= 6 and all(len(t) <= 7 for t in ys), ys  # short: 1.45e-4, not 0.000145


@pytest.mark.parametrize(("value", "digits", "text"), [
    (0.000145, 3, "1.45e-4"), (-0.000145, 3, "-1.45e-4"), (3e37, 3, "3e+37"), (2.5e37, 3, "2.5e+37"),
    (0.5, 3, "0.5"), (0.1 + 0.2, 3, "0.3"), (0.00123, 3, "0.00123"), (12345, 3, "12300"), (-0.0, 3, "0"),
    (3.16e-5, 2, "3.2e-5"), (316.2, 2, "320"),
])
def test_tick_labels_are_short(value, digits, text):
    assert html._tick_text(value, digits) == text


def test_a_long_y_label_widens_the_margin_that_holds_it():
    svg = html.line_chart("x", [1, 2, 3], [("a", [-1.23e37, 0.0, 1.5e37], "#000")], width=250)
    ys = [(x, text) for x, anchor, text in _texts(svg) if anchor == "end"]
    assert ys and all(x - DIGIT_PX * len(text) >= 0 for x, text in ys), ys


@pytest.mark.slow  # a browser start
def test_a_long_runs_report_draws_every_label_whole_in_a_real_browser(tmp_path):
    """In Chromium, every label of every chart of a 20,000-epoch run's report lies within its SVG."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no browser at /usr/bin/chromium (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
    page_file = tmp_path / "report.html"
    page_file.write_text(html.render(_long_records(), {"status": "done", "config": {"dataset": "parity"}}),
                         encoding="utf-8")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--headless", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(page_file.resolve().as_uri(), wait_until="load")
            out = page.evaluate("""() => [...document.querySelectorAll('svg.chart')].flatMap(svg => {
                const w = svg.width.baseVal.value;
                return [...svg.querySelectorAll('text')].map(t => {
                    const b = t.getBBox(); return [t.textContent, b.x, b.x + b.width, w, b.y];
                });
            })""")
        finally:
            browser.close()
    assert any(text == "20000" for text, *_ in out)
    cut = [(text, round(lo, 1), round(hi, 1), w) for text, lo, hi, w, _ in out if lo < -0.5 or hi > w + 0.5]
    assert cut == []
    ticks = [(lo, hi) for text, lo, hi, _, y in out if text.isdigit() and y == max(o[4] for o in out if o[0] == "20000")]
    assert len(ticks) >= 3 * 3 and all(a[1] < b[0] for a, b in zip(ticks, ticks[1:]) if b[0] > a[0])  # apart


def _parity(out, *more) -> list[str]:
    return ["--dataset", "parity", "--layers", "10,3,2", "--activation", "sigmoid", "--output-activation", "sigmoid",
            "--loss", "mse", "--batch-size", "full", "--out", str(out), "--quiet", *more]


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
def test_a_run_ending_renders_its_report_once(tmp_path, monkeypatch, capsys):
    """The epoch that ends a run wrote report.html, and the run's end at once again: a
    resume of a 20,000-epoch run rendered its page twice (5 s where once does)."""
    renders = []
    real = html.render
    monkeypatch.setattr(html, "render", lambda *a, **k: renders.append(k.get("refresh")) or real(*a, **k))
    out = tmp_path / "run"
    assert main(["train", *_parity(out, "--epochs", "1")]) == 0
    assert renders == [None]  # the final page alone (no refresh: the run is over)
    assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert renders == [None, None]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "2 epoch(s)" in page and 'http-equiv="refresh"' not in page


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_plot_history_checks_only_what_it_draws(tmp_path, monkeypatch):
    """history.png draws the loss and accuracy; each record's diagnostics were checked too
    (1 s of the 2 a 20,000-epoch run's plot took)."""
    records = [{**r, "diagnostics": {"probe_size": 1, "layers": [], "parameters": []}} for r in _long_records(50)]
    checked = []
    real = diagnostics.checked_diagnostics
    monkeypatch.setattr(diagnostics, "checked_diagnostics", lambda d: checked.append(d) or real(d))
    plots.plot_history(records, tmp_path / "with.png")
    assert checked == []
    plots.plot_history([{k: v for k, v in r.items() if k != "diagnostics"} for r in records], tmp_path / "without.png")
    assert (tmp_path / "with.png").read_bytes() == (tmp_path / "without.png").read_bytes()
    with pytest.raises(DataError, match="loss"):  # the columns drawn are still checked
        plots.plot_history([{**records[0], "loss": "x"}], tmp_path / "bad.png")


def _columns_reference(points, sx, fy):
    """The pixel thinning as it was written point by point (the first, lowest, highest and
    last point of each pixel column where a run holds more than 4 a column)."""
    groups: list[list] = []
    for point in points:
        if groups and int(sx(groups[-1][0][0])) == int(sx(point[0])):
            groups[-1].append(point)
        else:
            groups.append([point])
    if len(points) <= 4 * len(groups):
        return points
    out = []
    for group in groups:
        low = min(range(len(group)), key=lambda i: fy(group[i][1]))
        high = max(range(len(group)), key=lambda i: fy(group[i][1]))
        out += [group[i] for i in sorted({0, low, high, len(group) - 1})]
    return out


@pytest.mark.parametrize("n", [3, 300, 5000])
def test_long_lines_keep_each_pixel_columns_first_lowest_highest_and_last_point(n):
    rng = np.random.default_rng(n)
    values = np.round(rng.standard_normal(n), 1).tolist()  # ties within a column
    values[n // 2] = 40.0  # a spike
    x = list(range(1, n + 1))
    sx = lambda v: 54 + (v - 1) / max(n - 1, 1) * 296  # noqa: E731
    points = list(zip(x, values))
    column = np.array([int(sx(v)) for v in x])
    kept = html._columns(column, values)
    assert [points[i] for i in kept.tolist()] == _columns_reference(points, sx, float)
    assert math.isclose(max(values[i] for i in kept.tolist()), 40.0)
