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


def _y_labels(chart: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]+)</text>', chart)


@pytest.mark.parametrize("values, expected", [
    ([1.81e-8, 0.6, 1.92], ["0.5", "1", "1.5"]),  # was 1.81e-8, 0.479, 0.959, 1.44, 1.92
    ([0.87, 0.93, 1.0], ["0.875", "0.9", "0.925", "0.95", "0.975", "1"]),  # was 0.87, 0.902, 0.935, 0.967, 1
    ([3.0, 0.03], ["0.5", "1", "1.5", "2", "2.5", "3"]),  # was 0.03, 0.773, 1.52, 2.26, 3
])
def test_value_axes_are_labelled_at_round_values(values, expected):
    """The report's y axes were labelled at five evenly spaced points from the lowest to the
    highest value (0.479, 0.959, 1.44): hard to read off. Now at round values inside the range."""
    x = list(range(1, len(values) + 1))
    assert _y_labels(line_chart("loss", x, [("train", values, "#000")])) == expected


def test_close_values_get_labels_that_tell_them_apart():
    x = [1, 2, 3]
    labels = _y_labels(line_chart("loss", x, [("train", [0.4169, 0.41695, 0.4170], "#000")]))
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    assert [float(t) for t in labels] == sorted(float(t) for t in labels)


def test_a_log_axis_is_labelled_at_decades_or_1_2_5():
    x = list(range(1, 5))
    wide = _y_labels(line_chart("loss", x, [("train", [1e-8, 1e-5, 1e-2, 10.0], "#000")], log=True))
    assert wide == ["1e-8", "1e-6", "1e-4", "0.01", "1"]
    narrow = _y_labels(line_chart("loss", x, [("train", [0.05, 0.2, 0.6, 1.2], "#000")], log=True))
    assert narrow == ["0.05", "0.1", "0.2", "0.5", "1"]
