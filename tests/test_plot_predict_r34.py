"""`deltaprop plot history`: a run stopped inside its first epoch is said to be partial
(the records alone cannot tell it), and a history file named ``.CSV`` is read as one."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop import plots


def _train(out, *options):
    res = run_cli("train", "-q", "--epochs", "1", "--layers", "784,8,10", "--out", out, *options)
    assert res.returncode == 0, res.stderr


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_run_stopped_inside_its_first_epoch_is_said_to_be_partial(tmp_path, figures):
    _train(tmp_path / "run", "--steps", "50")
    assert "(epoch 1 is partial: 50 of its 180 steps)" in figures[-1].get_suptitle()  # train's history.png
    for source in ("run", "run/history.csv", "run/checkpoint.safetensors"):
        res = run_cli("plot", "history", tmp_path / source, "-o", tmp_path / "h.png")
        assert res.returncode == 0, res.stderr
        assert "(epoch 1 is partial: 50 of its 180 steps)" in figures[-1].get_suptitle(), source


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_a_whole_first_epoch_is_not_said_to_be_partial(tmp_path, figures):
    _train(tmp_path / "run")
    res = run_cli("plot", "history", tmp_path / "run", "-o", tmp_path / "h.png")
    assert res.returncode == 0, res.stderr
    assert "partial" not in figures[-2].get_suptitle() and "partial" not in figures[-1].get_suptitle()


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_the_partial_steps_given_are_said_and_checked(tmp_path, figures):
    records = [{"epoch": 1, "loss": 1.0, "steps": 30}]
    plots.plot_history(records, tmp_path / "h.png", title="run", partial=(30, 180))
    assert figures[-1].get_suptitle() == "run\n(epoch 1 is partial: 30 of its 180 steps)"
    plots.plot_history(records, tmp_path / "h.png", title="run", partial=(180, 180))  # a whole epoch
    assert figures[-1].get_suptitle() == "run"
    with pytest.raises(dp.ConfigError):
        plots.plot_history(records, tmp_path / "h.png", title="run", partial=(0, 180))


def test_a_history_file_named_in_capitals_is_plotted(tmp_path):
    dp.History([{"epoch": 1, "loss": 0.5, "accuracy": 0.8}, {"epoch": 2, "loss": 0.4, "accuracy": 0.9}]).write_csv(
        tmp_path / "HISTORY.CSV")
    res = run_cli("plot", "history", tmp_path / "HISTORY.CSV", "-o", tmp_path / "h.png")
    assert res.returncode == 0 and "not a model" not in res.stderr, res.stderr
    assert (tmp_path / "h.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("sizes", [[4, 50, 2], [3, 2], [64, 5, 10]])
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_the_weight_heatmaps_tick_whole_inputs_and_units(tmp_path, figures, sizes):
    # a 4-input layer was ticked at input -0.5, 0.5, 1.5, ...: the edges between rows, read as inputs
    plots.plot_weights(dp.mlp(sizes, seed=0), tmp_path / "w.png", images=False)
    heatmaps = [ax for ax in figures[-1].axes if ax.get_ylabel() == "input"]
    assert len(heatmaps) == len(sizes) - 1
    for ax, (n_in, n_out) in zip(heatmaps, zip(sizes, sizes[1:])):
        for ticks, n in ((ax.get_xticks(), n_out), (ax.get_yticks(), n_in)):
            shown = [t for t in ticks if -0.5 <= t <= n - 0.5]
            assert shown and all(float(t).is_integer() for t in shown), (sizes, list(ticks))


@pytest.mark.parametrize("command", [("plot", "history", "{run}"), ("plot", "weights", "{run}"),
                                     ("evaluate", "{run}", "--plot")])
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_an_output_name_ending_in_a_slash_is_refused_not_written_as_a_file(tmp_path, command):
    # "-o figures/" wrote a PNG file named "figures" and said "wrote figures"
    _train(tmp_path / "run")
    args = [a.format(run=tmp_path / "run") for a in command]
    target = f"{tmp_path / 'figures'}/"
    res = run_cli(*args, target) if command[0] == "evaluate" else run_cli(*args, "-o", target)
    assert res.returncode != 0 and res.stderr.count("\n") == 1, res.stderr
    assert "names a folder; give a file name inside it" in res.stderr
    assert not (tmp_path / "figures").exists()


def _zero_png(path):
    from PIL import Image, ImageDraw

    im = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(im).ellipse((50, 25, 150, 175), outline=0, width=18)
    im.save(path)
    return path


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_levels_that_contradict_the_model_files_record_are_said_to(tmp_path):
    # --levels 1 for a model of 0..255 inputs was said to be "this model's training inputs ran from 0 to 1"
    _train(tmp_path / "run")
    image = _zero_png(tmp_path / "zero.png")
    res = run_cli("predict", tmp_path / "run", image, "--levels", "1")
    assert res.returncode == 0, res.stderr
    assert "this model's training inputs ran from 0 to 1" not in res.stderr
    assert "--levels 1 puts the images on 0..1, but this model's file records its raw training inputs as running " \
           "to 255" in res.stderr
    assert "note: --levels 1: its training inputs are taken to have run from 0 to 1, so" in res.stderr
    res = run_cli("predict", tmp_path / "run", image, "--levels", "255")  # what the file records: nothing to say
    assert res.returncode == 0 and "--levels" not in res.stderr, res.stderr


@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_a_decision_threshold_off_even_odds_is_said_when_predicting(tmp_path, threshold):
    # "class pos  (probabilities neg: 0.5385, pos: 0.4615)" came without a word on why
    net = dp.mlp([3, 4, 1], output="sigmoid", seed=0)
    net.decision_threshold = threshold
    dp.save(net, tmp_path / "m.safetensors", class_names=["neg", "pos"])
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(2, 3)))
    res = run_cli("predict", tmp_path / "m.safetensors", tmp_path / "x.npy")
    assert res.returncode == 0, res.stderr
    said = "note: this model decides class pos where its probability is at least 0.3 (its decision threshold)"
    assert (said in res.stderr) == (threshold == 0.3), res.stderr
    assert len(res.stdout.splitlines()) == 2
