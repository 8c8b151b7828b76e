"""The run folder's diagnostics.csv and report.html show the share of stuck sigmoid/tanh
units (``stuck``: on one flat end for every probe row) beside the other per-layer
statistics, as gaps where it does not apply; older files without the column still read."""

from __future__ import annotations

import csv
import io

import numpy as np

import deltaprop as dp
from deltaprop import report
from deltaprop.report_html import render


def _stuck_records():
    """Two epochs of a sigmoid network whose first Dense layer is scaled up (most hidden
    units saturate at one end on every row), with their diagnostics."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6))
    y = np.arange(64) % 3
    net = dp.mlp([6, 8, 3], activation="sigmoid", seed=0, dtype="float64")
    records = []
    for epoch, scale in ((1, 1.0), (2, 200.0)):
        net.layers[0].W.value[...] *= scale
        net.layers[0].b.value[...] = 50.0 * scale * (np.arange(8) % 2 - 0.5)
        d = dp.diagnose(net, X, y, dp.CrossEntropy()).as_dict()
        records.append({"epoch": epoch, "loss": 1.0 / epoch, "lr": 0.1, "diagnostics": d, "alerts": []})
    return records


def test_diagnostics_csv_has_the_stuck_share_of_sigmoid_layers(tmp_path):
    records = _stuck_records()
    stuck = {r["epoch"]: {s["index"]: s["stuck"] for s in r["diagnostics"]["layers"]} for r in records}
    assert stuck[2][1] > 0.5 and stuck[2][0] is None  # the sigmoid layer has stuck units; Dense has none
    report.write_run_files(tmp_path, records, {"status": "done"})
    rows = list(csv.DictReader(io.StringIO((tmp_path / "diagnostics.csv").read_text())))
    assert "stuck" in rows[0]
    for row in rows:
        if row["type"] == "parameter":
            assert row["stuck"] == ""
        else:
            want = stuck[int(row["epoch"])][int(row["layer"])]
            assert row["stuck"] == ("" if want is None else str(want))
    back = report.read_diagnostics_csv(tmp_path / "diagnostics.csv")
    assert [back[r["epoch"]] for r in records] == [r["diagnostics"] for r in records]


def test_report_draws_the_stuck_share_per_sigmoid_layer(tmp_path):
    records = _stuck_records()
    value = records[1]["diagnostics"]["layers"][1]["stuck"]
    page = render(records, {"status": "done"})
    assert "stuck share" in page
    assert f"stuck, epoch 2: {value:.5g}" in page  # the hover value of the sigmoid layer's chart
    section = page[page.index('<section id="diagnostics">'):page.index('<section id="confusion">')]
    stuck_charts = section[section.index("stuck share"):].split("<h3>")[0]
    assert stuck_charts.count("<svg") == 1  # only layer 1 (Sigmoid); Dense and Softmax have no stuck share
    assert "layer 1 (Sigmoid)" in stuck_charts


def test_a_run_folder_written_before_the_stuck_column_still_reads(tmp_path):
    records = _stuck_records()
    old = tuple(c for c in report.DIAGNOSTICS_COLUMNS if c != "stuck")
    (tmp_path / "diagnostics.csv").write_bytes(report._csv_bytes(old, report.diagnostics_rows(records)))
    back = report.read_diagnostics_csv(tmp_path / "diagnostics.csv")
    assert all(s["stuck"] is None for d in back.values() for s in d["layers"])
    assert back[2]["layers"][1]["saturated"] == records[1]["diagnostics"]["layers"][1]["saturated"]
    page = render([{**r, "diagnostics": back[r["epoch"]]} for r in records], {"status": "done"})
    assert "saturated share" in page and "stuck share" not in page  # no empty chart for the absent column
