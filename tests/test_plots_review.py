"""What the figures show agrees with what they are given: a history's epochs (also one
``fit`` returns, or records without an epoch column), whole-number epoch ticks, and first-
layer weights drawn as images only for images."""

from __future__ import annotations

import re

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop import plots
from deltaprop.preprocessing import Standardization, with_input_layer


def _curves(fig) -> dict[str, list[tuple[float, float]]]:
    """The loss panel's lines by label, as (x, y) points."""
    loss_axes = fig.axes[0]
    return {line.get_label(): list(zip(line.get_xdata(), line.get_ydata())) for line in loss_axes.lines}


def test_the_history_fit_returns_is_plotted_with_its_epochs(tmp_path, figures):
    net = dp.mlp([4, 5, 3], seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 4)), rng.integers(0, 3, 40)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(0.1), epochs=3, seed=0, diagnostics=False)
    plots.plot_history(history, tmp_path / "h.png")
    assert _curves(figures[0]) == {"train": list(zip([1, 2, 3], history.loss))}


def test_records_without_an_epoch_are_numbered_in_order_not_a_type_error(tmp_path, figures):
    records = [{"loss": 1.0, "val_loss": 1.5}, {"loss": 0.5, "val_loss": 0.9}, {"loss": 0.25, "val_loss": 0.8}]
    plots.plot_history(records, tmp_path / "h.png")
    assert _curves(figures[0]) == {"train": [(1, 1.0), (2, 0.5), (3, 0.25)],
                                   "validation": [(1, 1.5), (2, 0.9), (3, 0.8)]}


def test_plot_history_of_a_csv_with_empty_epoch_cells_draws_it(tmp_path):
    csv = tmp_path / "history.csv"
    csv.write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n"
                   ",1.0,0.5,,,0.1,1,10\n,0.5,0.7,,,0.1,1,20\n")
    res = run_cli("plot", "history", csv, "-o", tmp_path / "h.png")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and (tmp_path / "h.png").is_file()


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_epoch_ticks_are_whole_numbers(tmp_path, figures):
    plots.plot_history([{"epoch": 1, "loss": 2.0, "val_loss": 1.7}], tmp_path / "one.png")
    plots.plot_history([{"epoch": e, "loss": 1 / e} for e in (1, 2, 3)], tmp_path / "three.png")
    for fig in figures:
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks


def _image_tiles(fig) -> int:
    """First-layer weight images: axes without a title, drawn with their axis off."""
    return sum(1 for ax in fig.axes if not ax.axison)


@pytest.mark.slow  # about a second
def test_weights_of_a_table_standardised_per_feature_are_no_images(tmp_path, figures):
    # 64 columns of a CSV file (each in its own units): an 8x8 "image" of them means nothing
    x = np.random.default_rng(0).standard_normal((80, 64)) * np.arange(1, 65)
    table = with_input_layer(dp.mlp([64, 5, 3], seed=0), Standardization.fit(x, per_feature=True))
    plots.plot_weights(table, tmp_path / "t.png")
    assert _image_tiles(figures[-1]) == 0
    assert "image" not in figures[-1].get_suptitle()
    # the same width of pixels (one σ for all of them) is drawn as images, and images= decides
    pixels = with_input_layer(dp.mlp([64, 5, 3], seed=0), Standardization.fit(x, per_feature=False))
    plots.plot_weights(pixels, tmp_path / "p.png")
    assert _image_tiles(figures[-1]) == 5 and "8x8 images" in figures[-1].get_suptitle()
    plots.plot_weights(table, tmp_path / "forced.png", images=True)
    assert _image_tiles(figures[-1]) == 5
    plots.plot_weights(pixels, tmp_path / "none.png", images=False)
    assert _image_tiles(figures[-1]) == 0


@pytest.mark.parametrize("inputs", [16, 25, 49])
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_few_square_inputs_are_no_image_unless_asked(tmp_path, figures, inputs):
    # 16 bits of parity or a 25-column table in [0, 1] (no scaling layer) were drawn as 4x4, 5x5 images
    net = dp.mlp([inputs, 3, 2], seed=0)
    plots.plot_weights(net, tmp_path / "w.png")
    assert _image_tiles(figures[-1]) == 0
    plots.plot_weights(net, tmp_path / "i.png", images=True)
    assert _image_tiles(figures[-1]) == 3


def test_images_of_inputs_that_are_no_square_are_refused(tmp_path):
    with pytest.raises(dp.ShapeError, match="10 inputs, not a square image"):
        plots.plot_weights(dp.mlp([10, 4, 2], seed=0), tmp_path / "w.png", images=True)


# -- metrics -------------------------------------------------------------------------------------
def test_a_column_of_logits_is_refused_not_thresholded_at_one_half():
    # a single-logit model's outputs: 0.4 is class 1 (p = 0.6), which a 0.5 threshold calls class 0
    logits = np.array([[0.4], [2.3], [-1.2], [-0.1]])
    for metric in (dp.accuracy, dp.confusion_matrix):
        with pytest.raises(dp.DataError, match=r"outside \[0, 1\].*net.predict\(X\)"):
            metric([1, 1, 0, 0], logits)
    # probabilities and class ids in one column are read as before
    assert dp.accuracy([1, 1, 0, 0], 1 / (1 + np.exp(-logits))) == 1.0
    assert dp.accuracy([1, 1, 0, 0], np.array([[1], [1], [0], [0]])) == 1.0


# -- file formats --------------------------------------------------------------------------------
@pytest.mark.slow  # about a second
def test_a_figure_is_written_in_the_format_its_name_says(tmp_path):
    records = [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}]
    assert plots.plot_history(records, tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    assert plots.plot_history(records, tmp_path / "h.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in plots.plot_history(records, tmp_path / "h.svg").read_bytes()[:1000]
    with pytest.raises(dp.ConfigError, match=r"PNG, SVG or PDF, not \.jpg; name the file h\.png"):
        plots.plot_history(records, tmp_path / "h.jpg")
    assert not (tmp_path / "h.jpg").exists()


def test_plot_history_to_a_jpg_is_one_line_and_writes_nothing(tmp_path):
    csv = tmp_path / "history.csv"
    csv.write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n1,1.0,0.5,,,0.1,1,10\n")
    res = run_cli("plot", "history", csv, "-o", tmp_path / "h.jpg")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "not .jpg" in res.stderr, res.stderr
    assert not (tmp_path / "h.jpg").exists()


# -- early stopping: the epoch the model holds ---------------------------------------------------
def _marks(fig) -> list[list[str]]:
    return [[line.get_label() for line in ax.lines if line.get_label().startswith("model's")] for ax in fig.axes]


@pytest.mark.slow  # about 0.8 s in the quick suite on 2 cores
def test_the_epoch_early_stopping_kept_is_marked_on_both_panels(tmp_path, figures):
    records = [{"epoch": e, "loss": 1 / e, "accuracy": 0.5, "val_loss": [0.9, 0.5, 0.6, 0.7][e - 1]} for e in (1, 2, 3, 4)]
    plots.plot_history(records, tmp_path / "kept.png", model_epoch=2)
    assert _marks(figures[-1]) == [["model's weights (epoch 2)"]] * 2
    plots.plot_history(records, tmp_path / "last.png", model_epoch=4)  # the last epoch's weights: nothing to mark
    assert _marks(figures[-1]) == [[], []]
    plots.plot_history([{**r, "accuracy": None} for r in records], tmp_path / "reg.png", model_epoch=2)
    assert _marks(figures[-1]) == [["model's weights (epoch 2)"], []]  # no accuracy: no panel of a lone mark
    assert figures[-1].axes[1].texts[0].get_text() == "no accuracy recorded"


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_plot_history_of_a_run_folder_marks_the_epoch_its_model_holds(tmp_path, figures):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n" + "".join(
        f"{e},{1 / e},0.5,{[0.9, 0.5, 0.6][e - 1]},0.5,0.1,1,{10 * e}\n" for e in (1, 2, 3)))
    (run / "run.json").write_text('{"status": "done", "model_weights": {"epoch": 2, "last_epoch": 3, '
                                  '"why": "early_stopping"}}')
    res = run_cli("plot", "history", run)
    assert res.returncode == 0, res.stderr
    assert _marks(figures[-1]) == [["model's weights (epoch 2)"]] * 2


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_train_marks_the_epoch_early_stopping_kept_on_history_png(tmp_path, figures):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 3))
    y = np.digitize(x[:, 0], [-0.5, 0.5])
    np.savetxt(tmp_path / "three.csv", np.c_[y, x], delimiter=",", header="label,a,b,c", comments="", fmt="%.5g")
    res = run_cli("train", "--dataset", tmp_path / "three.csv", "--layers", "3,4,3", "--epochs", "40",
                  "--early-stopping", "1", "--lr", "3", "--out", tmp_path / "run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    kept = re.search(r"kept the weights of epoch (\d+), the best", res.stdout + res.stderr)
    assert kept, res.stdout + res.stderr
    assert _marks(figures[0]) == [[f"model's weights (epoch {kept.group(1)})"]] * 2


# -- evaluate: classes the model never saw -------------------------------------------------------
def test_evaluate_refuses_a_named_datasets_classes_beyond_the_models(tmp_path):
    # a model of a file's three classes (bare ids) takes MNIST's names, but not its digits 3..9:
    # scored, they were its "errors" (accuracy 0.29, recall 0 for seven classes it never saw)
    net = dp.mlp([784, 3], output="softmax", seed=0)
    model = dp.save(net, tmp_path / "three.safetensors", class_names=["0", "1", "2"],
                    extra={"dataset": "digits012.csv"}, input_scaling={"kind": "unit", "max": 255})
    done = run_cli("evaluate", model, "--dataset", "mnist-sample")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "holds class 9, which the model never saw (it knows 3 classes, 0..2)" \
        in done.stderr, done.stderr


# -- a run that ended mid-epoch ------------------------------------------------------------------
def _history(steps):
    return [{"epoch": e, "loss": 1 / e, "steps": s} for e, s in enumerate(steps, start=1)]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_last_epoch_cut_short_by_a_step_limit_is_said_to_be_partial(tmp_path, figures):
    plots.plot_history(_history([180, 360, 400]), tmp_path / "cut.png", title="run")
    assert figures[-1].get_suptitle() == "run\n(epoch 3 is partial: 40 of its 180 steps)"
    plots.plot_history(_history([180, 220]), tmp_path / "two.png", title="run")
    assert figures[-1].get_suptitle() == "run\n(epoch 2 is partial: 40 of its 180 steps)"
    # full epochs, epochs of unequal lengths, or no steps recorded: nothing to say
    for steps in ([180, 360, 540], [180, 300, 340], [None, None, None]):
        plots.plot_history(_history(steps), tmp_path / "full.png", title="run")
        assert figures[-1].get_suptitle() == "run", steps


def test_a_count_of_units_below_one_is_a_typed_error(tmp_path):
    with pytest.raises(dp.ConfigError, match="max_units must be >= 1, got -1"):
        plots.plot_weights(dp.mlp([16, 3, 2], seed=0), tmp_path / "w.png", max_units=-1)
    assert not (tmp_path / "w.png").exists()


def test_evaluate_refuses_a_plot_name_it_cannot_write_before_scoring(tmp_path):
    net = dp.mlp([10, 2], seed=0)
    model = dp.save(net, tmp_path / "m.safetensors", class_names=["odd", "even"], extra={"dataset": "parity"})
    done = run_cli("evaluate", model, "--plot", tmp_path / "cm.jpg")
    assert done.returncode == 2 and done.stdout == "", done.stdout  # no report printed, then refused
    assert "not .jpg; name the file cm.png" in done.stderr and done.stderr.count("\n") == 1
    assert run_cli("evaluate", model, "--plot", tmp_path / "cm.svg").returncode == 0
    assert b"<svg" in (tmp_path / "cm.svg").read_bytes()[:1000]


def test_the_report_draws_first_layer_weights_as_images_only_from_8x8_inputs():
    """As plot weights: 16 bits or a 16-column table are no 4x4 picture."""
    from deltaprop.report_html import _weights

    rng = np.random.default_rng(0)
    small = _weights(rng.standard_normal((16, 3)))
    assert "<img" not in small and "not square images of at least 8×8 (16 features)" in small
    assert _weights(rng.standard_normal((64, 3))).count("<img") == 3
