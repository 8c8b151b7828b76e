"""report.html and the served page for runs that are not the usual: values near float64's
largest (a diverging run's), NaN or infinite epochs, a single epoch; and models that are not
the usual: thousands of hidden units, class names that start alike, outputs of zero."""

from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import report_html as html
from chromium_session import fresh_page, launched_chromium
from test_serve_http import running_server

BIG = 1.7e308
LARGEST = float(np.finfo(np.float64).max)
#: report.html's line chart: top and bottom margins, default height.
TOP, BOTTOM, HEIGHT = 34, 28, 220


def _points(svg: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r'<circle class="pt" cx="([-0-9.a-z]+)" cy="([-0-9.a-z]+)"', svg)]


def test_a_chart_of_values_either_side_of_float64s_largest_puts_each_point_at_its_value():
    """-1.7e308, 0, 1.7e308: y1 − y0 overflowed to inf, so every point's height was NaN or
    0 (the line not drawn, 0 drawn at the bottom with -1.7e308, 1.7e308 above the chart)."""
    svg = html.line_chart("loss", [1, 2, 3], [("train", [-BIG, 0.0, BIG], "#000")])
    (_, low), (_, middle), (_, high) = _points(svg)
    assert high == pytest.approx(TOP) and low == pytest.approx(HEIGHT - BOTTOM)
    assert middle == pytest.approx((TOP + HEIGHT - BOTTOM) / 2)
    line = re.search(r'<polyline[^>]* points="([^"]*)"', svg).group(1)
    assert "nan" not in line and len(line.split()) == 3


@pytest.mark.parametrize("value", [BIG, -BIG, LARGEST])
def test_a_constant_near_float64s_largest_is_drawn_not_a_crash(value):
    """A loss of 1.7e308 every epoch padded its axis past float64's largest (inf), and the
    tick labels' rounding of 1.797e308 gave inf: ValueError, and ``deltaprop report`` (and
    the run's own report) ended in a traceback."""
    svg = html.line_chart("loss", [1, 2], [("train", [value, value], "#000")])
    points = _points(svg)
    assert len(points) == 2 and all(TOP <= y <= HEIGHT - BOTTOM for _, y in points)
    labels = re.findall(r'text-anchor="end">([^<]*)<', svg)
    assert len(labels) >= 3 and all(math.isfinite(float(t)) or t.endswith("e+308") for t in labels)


def test_float64s_largest_is_labelled_as_rounded():
    assert html._tick_text(LARGEST, 3) == "1.8e+308"
    assert html._tick_text(-LARGEST, 3) == "-1.8e+308"


def test_a_share_that_stays_0_is_on_an_axis_from_0():
    """A share of dead or stuck units at 0 every epoch was drawn on an axis labelled down to
    -0.04, a share no layer can have."""
    svg = html.line_chart("stuck", [1, 2, 3], [("stuck", [0.0, 0.0, 0.0], "#000")], width=250, height=150)
    labels = re.findall(r'text-anchor="end">([^<]*)<', svg)
    assert labels[0] == "0" and not any(t.startswith("-") for t in labels), labels
    negative = html.line_chart("r2", [1, 2], [("r2", [-0.3, -0.3], "#000")])
    assert any(t.startswith("-") for t in re.findall(r'text-anchor="end">([^<]*)<', negative))


def test_first_layer_weights_of_no_square_are_not_called_a_tables_columns():
    """An .npz of 28x20 images (560 inputs, standardised one by one as any count of no
    square is) had its report say its inputs were "a table's 560 columns"."""
    words = html._weights(np.zeros((560, 4)), table=True)
    assert "table" not in words and "not square images" in words and "560 features" in words
    assert "table's 64 columns" in html._weights(np.zeros((64, 4)), table=True)


def test_the_report_says_which_epochs_are_not_finite():
    """A NaN or infinite value is left out of its curve, which broke with no word of why:
    the page now names the curve and the epochs."""
    records = [{"epoch": e, "loss": 1.0 / e, "val_loss": v, "lr": 0.1}
               for e, v in zip(range(1, 6), [0.9, math.nan, math.inf, 0.5, 0.45])]
    page = html._curves(records, ended=True)
    assert "Not finite (NaN or infinite): the validation loss at epochs 2, 3." in page
    assert "train loss" not in page.split("Not finite")[1].split("</p>")[0]
    assert "Not finite" not in html._curves([{**r, "val_loss": 0.5} for r in records], ended=True)


# -- the served page, in a browser --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module's browser tests, each on pages of its own."""
    with launched_chromium() as launched:
        yield launched


@contextlib.contextmanager
def _pages(browser):
    """A function opening a path's served page in ``browser``, in a context of its own."""
    with contextlib.ExitStack() as stack:

        def open_page(path: Path, init_script: str | None = None):
            server = stack.enter_context(running_server(path))
            page = stack.enter_context(fresh_page(browser, viewport={"width": 1300, "height": 900}))
            if init_script:
                page.add_init_script(init_script)
            page.goto(server.url)
            return page

        yield open_page


def _run(folder: Path, history: list[str], diagnostics: list[str] | None = None) -> Path:
    folder.mkdir()
    dp.save(dp.mlp([784, 4, 10], seed=0), folder / "model.safetensors", class_names=[str(i) for i in range(10)],
            input_scaling={"kind": "unit", "max": 255.0})
    (folder / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr\n" + "\n".join(history) + "\n")
    if diagnostics is not None:
        head = "epoch,probe_size,name,layer,type,mean,std,stuck,delta_norm,probe_accuracy,probe_loss"
        (folder / "diagnostics.csv").write_text(head + "\n" + "\n".join(diagnostics) + "\n")
    return folder


def _chart(page, title: str) -> dict:
    """A run-view chart's paths, circles (by series) and y and x labels."""
    return page.evaluate("""(title) => {
      const c = document.querySelector(`#run-view .chart[data-title="${title}"] svg`);
      const circles = {};
      for (const e of c.querySelectorAll('circle')) {
        (circles[e.dataset.series] = circles[e.dataset.series] || []).push([+e.getAttribute('cx'), +e.getAttribute('cy')]);
      }
      const texts = [...c.querySelectorAll('text')];
      return {paths: [...c.querySelectorAll('path')].map((p) => p.getAttribute('d')), circles,
              y: texts.filter((t) => t.getAttribute('text-anchor') === 'end').map((t) => t.textContent),
              x: texts.filter((t) => t.getAttribute('text-anchor') !== 'end').map((t) => t.textContent),
              height: +c.getAttribute('height'), width: +c.getAttribute('width')};
    }""", title)


@pytest.mark.slow  # a browser start
def test_the_served_curves_of_odd_runs_are_drawn_where_their_values_are(tmp_path, browser):
    """The served page's run view: (1) a validation loss NaN and infinite at epochs 2 and 3
    was drawn as one straight line from epoch 1 to 4, as if it had values there; (2) a loss
    from -1.7e308 to 1.7e308 had no axis labels and every point at the top; (3) one epoch was
    drawn at the left end of an axis running to an epoch 2 that does not exist; (4) the
    probe's accuracy, the whole network's, was drawn once a layer, with a legend of layers;
    (5) a log axis within a decade labelled 10^-1.8 (0.016) "2e-2"; (6) a share of stuck units
    at 0 every epoch was on an axis from -1."""
    diverged = _run(tmp_path / "diverged", [
        f"{e},{v!r},0.5,{vl},0.5,0.1" for e, v, vl in
        zip(range(1, 6), [-BIG, -BIG / 2, 0.0, BIG / 2, BIG], ["0.9", "nan", "inf", "0.5", "0.45"])
    ], [f"{e},64,layers.{i},{i},{kind},0.1,0.2,{'0.0' if kind == 'Sigmoid' else ''},{0.01 * e!r},{0.5 + e / 100!r},0.7"
        for e in range(1, 6) for i, kind in enumerate(["Dense", "Sigmoid", "Dense"])])
    single = _run(tmp_path / "single", ["1,0.7,0.5,0.6,0.7,0.1"])
    with _pages(browser) as open_page:
        page = open_page(diverged)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784')")
        assert page.text_content("#drawing h2") == "Draw a digit"  # a model of the digits 0 to 9
        page.click("nav .tab[data-view='run']")
        page.wait_for_selector("#run-view .chart[data-title='loss'] circle")
        loss = _chart(page, "loss")
        val = next(d for d in loss["paths"] if d.count("M") > 1)  # the validation loss: broken at the gap
        assert val.count("M") == 2 and val.count("L") == 1, val
        assert len(loss["circles"]["val loss"]) == 3
        ys = [y for _, y in loss["circles"]["loss"]]
        assert all(0 < y < loss["height"] for y in ys)
        steps = np.diff(ys)
        assert np.all(steps < 0) and np.allclose(steps, steps[0], rtol=1e-3), ys  # evenly up, as the values go
        assert "1.7e+308" in loss["y"] and "-1.7e+308" in loss["y"] and "0" in loss["y"]
        page.wait_for_selector("#diagnostics .chart")
        probe = page.evaluate("""() => [...document.querySelectorAll('#diagnostics .chart')]
          .filter((c) => c.dataset.title.startsWith('probe accuracy'))
          .map((c) => ({paths: c.querySelectorAll('path').length, legend: c.querySelectorAll('.legend span').length}))""")
        assert probe == [{"paths": 1, "legend": 0}]
        _assert_log_labels_read_their_heights(page)
        stuck = page.evaluate("""() => [...document.querySelector('#diagnostics .chart[data-title="stuck"]')
          .querySelectorAll('text[text-anchor="end"]')].map((t) => t.textContent)""")
        assert stuck[0] == "0" and not any(t.startswith("-") for t in stuck), stuck

        page = open_page(single)
        page.click("nav .tab[data-view='run']")
        page.wait_for_selector("#run-view .chart[data-title='loss'] circle")
        loss = _chart(page, "loss")
        assert [t for t in loss["x"] if t.isdigit()] == ["1"]
        xs = {x for points in loss["circles"].values() for x, _ in points}
        assert len(xs) == 1 and abs(xs.pop() - loss["width"] / 2) < 0.2 * loss["width"]


def _assert_log_labels_read_their_heights(page) -> None:
    """The delta norm chart (log scale) of 0.01·epoch (one layer): each y label's value is
    the value at its height, within 5%, as the points' heights place values."""
    chart = page.evaluate("""() => {
      const c = document.querySelector('#diagnostics .chart[data-title="delta norm"] svg');
      const own = [...c.querySelectorAll('circle')].filter((e) => e.dataset.series.startsWith('layers.0'));
      return {points: own.map((e) => [e.querySelector('title').textContent, +e.getAttribute('cy')]),
              labels: [...c.querySelectorAll('text[text-anchor="end"]')].map((t) => [t.textContent, +t.getAttribute('y')])};
    }""")
    (first, y_first), (last, y_last) = chart["points"][0], chart["points"][-1]
    assert first.endswith("0.0100") and last.endswith("0.0500"), chart
    slope = (math.log10(0.05) - math.log10(0.01)) / (y_last - y_first)
    assert len(chart["labels"]) >= 3
    for text, y in chart["labels"]:
        at = 10 ** (math.log10(0.01) + slope * (y - 3.5 - y_first))
        assert float(text) == pytest.approx(at, rel=0.05), chart["labels"]


#: Records every label written on a canvas (window.__labels), before the page's script runs.
_RECORD_LABELS = """
window.__labels = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  window.__labels.push(String(text)); return fillText.call(this, text, ...rest);
};
"""


@pytest.mark.slow  # a browser start
def test_a_wide_layer_alike_class_names_and_zero_outputs_read_right(tmp_path, browser):
    """A model of 4096 hidden units and 20 classes named class_0 ... class_19, whose first
    layer's z is 0 for every unit (zero weights): each of its 4096-unit strips was a column
    about 1800 px high (32 cells a row); every output cell was labelled "cla"; and a strip of
    zeros was white cells on the white card, which read as nothing drawn."""
    net = dp.mlp([784, 4096, 20], seed=0)
    net.layers[0].W.value[...] = 0.0
    path = tmp_path / "wide.safetensors"
    dp.save(net, path, class_names=[f"class_{i}" for i in range(20)], input_scaling={"kind": "unit", "max": 255.0})
    with _pages(browser) as open_page:
        page = open_page(path, _RECORD_LABELS)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('4096')")
        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 140, box["y"] + 40)
        page.mouse.down()
        for k in range(20):
            page.mouse.move(box["x"] + 140, box["y"] + 40 + 10 * k)
        page.mouse.up()
        page.wait_for_selector("#forward .strip canvas")
        page.wait_for_function("() => document.querySelectorAll('#forward .strip canvas').length === 4")
        strips = page.evaluate("""() => [...document.querySelectorAll('#forward .strip canvas')].map((c) => {
          const cell = +c.dataset.cell, ctx = c.getContext('2d');
          return {height: c.height, gap: [...ctx.getImageData(cell - 1, 0, 1, 1).data],
                  label: c.parentElement.querySelector('.label span').textContent};
        })""")
        labels = page.evaluate("() => window.__labels")
    dense, sigmoid, _, softmax = strips
    assert dense["label"].startswith("4096 units, 0.0000") and dense["label"].endswith("0.0000")
    assert dense["height"] <= 400 and sigmoid["height"] <= 400, strips
    assert dense["gap"][3] == 255 and dense["gap"][:3] != [255, 255, 255], dense  # the cells' outline shows
    output_labels = labels[-20:]
    assert len(set(output_labels)) == 20, labels[-40:]


@pytest.mark.slow  # a browser start
def test_a_single_output_is_named_after_its_class_and_the_pad_asks_for_an_image(tmp_path, browser):
    """A cat/dog model of one sigmoid output: its output cells (the probability of dog)
    bore no name, and the pad asked to "Draw a digit" of a model that knows no digit."""
    path = tmp_path / "pets.safetensors"
    dp.save(dp.mlp([784, 4, 1], output="sigmoid", seed=0), path, loss=dp.BinaryCrossEntropy(),
            class_names=["cat", "dog"], input_scaling={"kind": "unit", "max": 255.0})
    with _pages(browser) as open_page:
        page = open_page(path, _RECORD_LABELS)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784')")
        title = page.inner_text("#drawing h2")
        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 140, box["y"] + 40)
        page.mouse.down()
        for k in range(20):
            page.mouse.move(box["x"] + 140, box["y"] + 40 + 10 * k)
        page.mouse.up()
        page.wait_for_function("() => document.querySelectorAll('#deltas .strip canvas').length === 3")
        labels = page.evaluate("() => window.__labels")
    assert title == "Draw an image"
    assert labels.count("dog") >= 3 and "cat" not in labels  # z and a of the forward pass, δ of the backward
