"""The learning rate's chart, in the report and on the served page: a rate that falls over
more than two decades (an exponential decay to 1e-5) is drawn on a log axis, where its last
epochs are seen falling, not lying on 0."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deltaprop import serve
from deltaprop.report_html import render

APP_JS = Path(serve.__file__).parent / "static" / "app.js"


def _rate_chart(rates: list) -> str:
    records = [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.5, "lr": lr} for e, lr in enumerate(rates, start=1)]
    page = render(records, {"status": "done"})
    return next(svg for svg in re.findall(r"<svg .*?</svg>", page) if 'aria-label="learning rate' in svg)


def _y_labels(chart: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]+)</text>', chart)


def test_a_rate_falling_over_four_decades_is_drawn_on_a_log_axis():
    """0.1 · 0.5^e down to 1e-5: on a linear axis from 0 to 0.1 the last 10 epochs lay within
    a pixel of 0; on a log axis each decade has its own label and height."""
    rates = [0.1 * 0.5**e for e in range(14)]  # 0.1 to 1.2e-5
    chart = _rate_chart(rates)
    assert "learning rate (log scale)" in chart
    assert {"1e-4", "0.001", "0.01", "0.1"} <= set(_y_labels(chart))
    heights = [float(y) for y in re.findall(r'<circle class="pt" cx="[^"]+" cy="([^"]+)"', chart)]
    assert len(heights) == len(rates)
    assert all(b - a > 5 for a, b in zip(heights, heights[1:]))  # each halving drawn lower, visibly
    for within in ([0.1] * 5, [0.1, 0.05, 0.02, 0.01, 0.002], [0.1, 0.01, 0.0, 0.0]):  # two decades, or a 0
        chart = _rate_chart(within)
        assert "log scale" not in chart and 'aria-label="learning rate"' in chart, within


def test_the_served_page_draws_the_rate_on_a_log_axis_by_the_same_rule():
    """The page's chart of the rate was linear whatever its span."""
    script = APP_JS.read_text()
    assert 'log: rateOnLogAxis(column(h, "lr"))' in script
    node = shutil.which("node")
    if node is None:
        pytest.skip("no JavaScript engine to run the page's rule")
    rule = re.search(r"const RATE_LOG_SPAN = .*?\nfunction rateOnLogAxis\(points\) \{.*?\n\}\n", script, re.S).group(0)
    cases = {"decay": [[e, 0.1 * 0.5**e] for e in range(14)], "flat": [[1, 0.1], [2, 0.1]],
             "one decade": [[1, 0.1], [2, 0.002]], "to zero": [[1, 0.1], [2, 1e-6], [3, 0.0]],
             "gaps": [[1, 0.1], [2, None], [3, 1e-4]], "none": [[1, None]]}
    out = subprocess.run([node, "-e", rule + f"const cases = {json.dumps(cases)};\n"
                          "console.log(JSON.stringify(Object.fromEntries(Object.entries(cases)"
                          ".map(([k, v]) => [k, rateOnLogAxis(v)]))));"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert json.loads(out) == {"decay": True, "flat": False, "one decade": False, "to zero": False, "gaps": True,
                               "none": False}
