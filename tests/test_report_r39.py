"""The report's epoch axes: labels at evenly spaced whole epochs."""

import re

import pytest

from deltaprop.report_html import line_chart


def _x_ticks(chart: str) -> list[int]:
    return [int(t) for t in re.findall(r'text-anchor="middle">(\d+)</text>', chart)]


@pytest.mark.parametrize("width", [176, 360])
@pytest.mark.parametrize("epochs", [7, 10, 13, 37, 100, 137, 1000, 20000])
def test_epoch_labels_are_evenly_spaced_round_numbers(epochs, width):
    """A 10-epoch run's axis read 1, 3, 5, 6, 8, 10: the gap of one between 5 and 6 looked
    like a broken axis. Between the first and the last label the epochs are now multiples of
    one step of 1, 2 or 5 × 10^k (the first and last epoch may be added at the ends)."""
    x = list(range(1, epochs + 1))
    ticks = _x_ticks(line_chart("loss", x, [("train", [1.0 / e for e in x], "#000")], width=width))
    assert 3 <= len(ticks) <= 6 and ticks == sorted(set(ticks))
    assert 1 <= ticks[0] and ticks[-1] <= epochs
    inner = [t for t in ticks if t not in (1, epochs)]
    steps = {b - a for a, b in zip(inner, inner[1:])}
    assert len(steps) <= 1, ticks
    step = steps.pop() if steps else inner[0]
    assert step in {m * 10**k for k in range(5) for m in (1, 2, 5)}, ticks
    assert all(t % step == 0 for t in inner), ticks


def test_short_runs_label_every_epoch():
    for epochs in (2, 3, 5, 6):
        x = list(range(1, epochs + 1))
        assert _x_ticks(line_chart("loss", x, [("train", [1.0] * epochs, "#000")])) == x
