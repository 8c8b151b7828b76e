"""The run report's numbers against the run folder's files."""

from __future__ import annotations

import re

import pytest


def _diagnostics_records(delta_norms):
    """Records of a 2-layer network whose first layer's ‖δ‖ is ``delta_norms[e]`` at epoch e + 1."""
    records = []
    for epoch, delta in enumerate(delta_norms, start=1):
        layer = {"mean": 0.1, "std": 0.2, "saturated": None, "stuck": None, "dead": None,
                 "identical_units": False, "off_target": None}
        records.append({"epoch": epoch, "loss": 1.0, "accuracy": 0.5, "lr": 0.1, "diagnostics": {
            "probe_size": 8,
            "layers": [{"index": 0, "layer": "Dense", **layer, "delta_norm": delta},
                       {"index": 1, "layer": "Softmax", **layer, "delta_norm": None}],
            "parameters": [{"name": "layers.0.W", "layer": 0, "grad_norm": delta, "norm": 1.0,
                            "update_ratio": delta}]}})
    return records


def _chart(page: str, title: str, name: str) -> str:
    """The SVG chart named ``name`` under the heading ``title``."""
    section = page[page.index(f"<h3>{title}</h3>"):]
    start = section.index(f'aria-label="{name}"')
    return section[start:section.index("</svg>", start)]


def test_a_layer_whose_gradient_is_zero_is_drawn_at_zero_not_said_to_have_no_data():
    """A dead ReLU network's first Dense layer gets ‖δ‖ = 0 and ‖∇W‖ = 0 at every epoch
    (diagnostics.csv holds 0.0): the report's log-scale charts dropped every 0 and said
    "layer 1 (Dense): no data yet", hiding the very sign that no gradient reached it."""
    from deltaprop.report_html import render

    page = render(_diagnostics_records([0.0, 0.0, 0.0]), {"status": "done", "config": {}})
    for title, name in (("‖δ‖ reaching the layer", "layer 0 (Dense)"), ("‖∇θ‖ (loss gradient)", "layers.0.W"),
                        ("update ratio ‖Δθ‖/‖θ‖ of the epoch&#x27;s last step", "layers.0.W")):
        chart = _chart(page, title, name)
        assert "no data yet" not in chart
        tips = re.findall(r'data-tip="([^"]*)"', chart)
        assert len(tips) == 3 and all(t.endswith(": 0") for t in tips), tips


def test_a_zero_among_positive_gradients_is_drawn_too():
    from deltaprop.report_html import render

    chart = _chart(render(_diagnostics_records([0.5, 0.0, 0.25]), {"status": "done", "config": {}}),
                   "‖δ‖ reaching the layer", "layer 0 (Dense)")
    assert re.findall(r'data-tip="[^"]*epoch (\d+): ([^"]*)"', chart) == [("1", "0.5"), ("2", "0"), ("3", "0.25")]


def test_positive_gradients_keep_their_log_scale():
    from deltaprop.report_html import render

    chart = _chart(render(_diagnostics_records([1.0, 0.1, 0.01]), {"status": "done", "config": {}}),
                   "‖δ‖ reaching the layer", "layer 0 (Dense)")
    assert ">0.01<" in chart and ">0.1<" in chart and ">1<" in chart  # log ticks: whole decades


def _run_folder(folder, facts) -> None:
    import json

    folder.mkdir()
    (folder / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n"
                                        "1,0.5,0.8,,,0.3,0.1,10\n")
    (folder / "run.json").write_text(json.dumps(facts))


@pytest.mark.parametrize("facts, field", [
    ([1, 2], "the content"),
    ({"status": "done", "config": []}, "config"),
    ({"status": "done", "config": {"dataset": "d.npz", "layers": 5}}, "config.layers"),
    ({"status": "done", "versions": ["numpy"]}, "versions"),
    ({"status": "done", "data": "mnist"}, "data"),
])
def test_a_damaged_run_json_is_a_one_line_error_naming_its_field(tmp_path, facts, field):
    """deltaprop report on a run.json of the wrong shape (hand-edited, or damaged) ended in
    an AttributeError traceback ('list' object has no attribute 'get')."""
    from cli_in_process import run_cli

    _run_folder(tmp_path / "run", facts)
    result = run_cli("report", tmp_path / "run")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and f"run.json: {field} is " in result.stderr, result.stderr


def test_a_run_json_of_the_right_shape_is_rendered(tmp_path):
    from cli_in_process import run_cli

    _run_folder(tmp_path / "run", {"status": "done", "config": {"dataset": "d.npz", "layers": [3, 5, 2]},
                                   "versions": {"numpy": "2"}, "data": {"source": "d.npz"}})
    result = run_cli("report", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "d.npz, 3 → 5 → 2" in (tmp_path / "run" / "report.html").read_text()


_RECORDS = [{"epoch": 1, "loss": 0.7, "accuracy": 0.6, "val_loss": None, "val_accuracy": None, "lr": 0.1}]


@pytest.mark.parametrize("status, records, said", [
    ("diverged", [], "None: the run diverged"),
    ("diverged", _RECORDS, "None: the run diverged"),
    ("interrupted", _RECORDS, "None: the run stopped (interrupted) before its end"),
    ("interrupted", [], "None: the run stopped (interrupted) before its first epoch ended"),
    ("failed", _RECORDS, "None: the run stopped (failed) before its end"),
])
def test_a_run_that_ended_unscored_is_not_said_to_be_scored_when_training_ends(status, records, said):
    """A diverged or interrupted run's report said its confusion matrix and wrong examples
    were 'Computed on the test set when training ends', and its empty charts 'no data yet',
    of a run whose training had ended: none will come."""
    from deltaprop.report_html import render

    page = render(records, {"status": status, "config": {}})
    assert "when training ends" not in page and "no data yet" not in page and "recorded yet" not in page
    assert page.count(said) == 2  # the confusion matrix and the wrong examples


def test_a_training_run_still_waits_for_its_results():
    from deltaprop.report_html import render

    page = render([], {"status": "training", "config": {}})
    assert page.count("Computed on the test set when training ends") == 2 and "loss: no data yet" in page
