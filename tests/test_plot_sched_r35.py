"""plot samples of images saved 3-D, a cosine schedule that ends before the run, gradcheck's
note for a tolerance below what finite differences resolve, and the report's numbers."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop import plots


# -- plot samples: images saved as (n, h, w) ------------------------------------------------------
@pytest.fixture
def drawn(monkeypatch):
    """The shape of every image tile in each figure drawn (its saving is kept)."""
    shapes = []
    save = plots._save

    def record(fig, path):
        shapes.append([ax.images[0].get_array().shape for ax in fig.axes if ax.images])
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", record)
    return shapes


@pytest.mark.parametrize("shape", [(8, 12), (8, 12, 1)])
def test_plot_samples_draws_images_saved_3d_as_the_file_holds_them(tmp_path, drawn, shape):
    # was refused: "examples have 96 features, not a square image of at least 4x4", the
    # images being flattened on reading though plot_samples draws (n, h, w) as given
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "img.npz", x=rng.random((30, *shape)), y=rng.integers(0, 3, 30))
    result = run_cli("plot", "samples", "--dataset", tmp_path / "img.npz", "-n", 4, "-o", tmp_path / "s.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s.png").is_file() and drawn == [[(8, 12)] * 4]


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_plot_samples_draws_a_models_predictions_on_its_3d_images(tmp_path, drawn):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    x = rng.random((40, 6, 10)) + y[:, None, None]
    np.savez(tmp_path / "img.npz", x=x, y=y)
    run = tmp_path / "run"
    trained = run_cli("train", "--dataset", tmp_path / "img.npz", "--epochs", 1, "--out", run, "-q")
    assert trained.returncode == 0, trained.stderr
    drawn.clear()  # history.png
    result = run_cli("plot", "samples", "--model", run, "-n", 3)
    assert result.returncode == 0, result.stderr
    assert (run / "samples.png").is_file() and drawn == [[(6, 10)] * 3]


def test_plot_samples_still_refuses_3d_rows_that_are_no_image(tmp_path, drawn):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "col.npz", x=rng.random((30, 96, 1)), y=rng.integers(0, 3, 30))
    result = run_cli("plot", "samples", "--dataset", tmp_path / "col.npz", "-o", tmp_path / "s.png")
    assert result.returncode == 1 and drawn == []
    assert result.stderr.strip() == (f"deltaprop: error: {tmp_path / 'col.npz'}: examples have 96 features, not a square "
                                     "image of at least 4x4; samples plots draw images")


# -- a cosine schedule that ends before the run ---------------------------------------------------
def _fit(schedule, epochs=5):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    net = dp.mlp([3, 4, 2], seed=0)
    return dp.fit(net, X, (X[:, 0] > 0).astype(int), loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
                  epochs=epochs, batch_size=20, seed=0, schedule=schedule)


def test_fit_warns_where_a_cosine_ends_at_rate_0_before_the_run_does():
    # epochs 3-5 trained at a learning rate of 0 without a word
    with pytest.warns(UserWarning, match=r"^the cosine schedule ends at epoch 2 \(t_max=2\), so epochs 3-5 of the 5 "
                                         r"would train at a learning rate of 0 .*t_max of at least 5") as said:
        history = _fit(dp.CosineAnnealing(t_max=2))
    assert history["lr"][2:] == [0.0, 0.0, 0.0]
    assert [w.filename for w in said] == [__file__]  # the caller's fit, not deltaprop's insides
    with pytest.warns(UserWarning, match=r"so epoch 5 of the 5 would"):
        _fit({"type": "cosine", "t_max": 4})


@pytest.mark.parametrize("schedule", ["cosine", dp.CosineAnnealing(t_max=5), dp.CosineAnnealing(t_max=2, min_lr=0.01),
                                      dp.StepDecay(step_size=1)])
def test_fit_says_nothing_of_a_schedule_that_trains_every_epoch(schedule):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(schedule)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_train_warns_once_in_its_own_words_and_goes_on(tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", "--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "full",
                     "--schedule", "cosine:t_max=1", "--epochs", "3", "--out", run, "--quiet")
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "cosine schedule ends" in line]
    assert said == ["warning: the cosine schedule ends at epoch 1 (t_max=1), so epochs 2-3 of the 3 would train at a "
                    "learning rate of 0 (its min_lr): the weights would stay as they are, but for momentum's last "
                    "velocity; give --schedule cosine:t_max=3 or more (cosine alone takes the run's epochs), or a "
                    "min_lr above 0 to train on at that rate"]
    assert "UserWarning" not in result.stderr
    again = run_cli("train", "--dataset", "parity", "--layers", "10,6,2", "--schedule", "cosine", "--epochs", "3",
                    "--out", tmp_path / "whole", "--quiet")
    assert again.returncode == 0 and "cosine schedule ends" not in again.stderr, again.stderr


# -- gradcheck: a tolerance below what central differences resolve ---------------------------------
def test_gradcheck_says_a_tolerance_below_the_differences_own_error_is_the_cause():
    # the note said "their gradients are tiny" and to use a larger h, for a healthy network
    result = run_cli("gradcheck", "--tolerance", "1e-12")
    assert result.returncode == 1
    note, = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert "the tolerance 1e-12 is below that, so a correct gradient fails it" in note
    assert "10·ε/h + h² = 2.2e-09 in float64" in note and "no h resolves 1e-12" in note
    assert "tiny" not in note and "larger h" not in note


def test_gradcheck_names_the_step_that_resolves_a_tolerance_within_reach():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    net = dp.mlp([4, 5, 3], activation="sigmoid", seed=0, dtype="float64")
    report = dp.gradcheck(net, dp.CrossEntropy(), X, y, tolerance=1e-9)
    assert not report.passed
    note, = report.notes
    assert "the tolerance 1e-09 is below that" in note and "use h near 1e-05, or a larger tolerance" in note
    assert dp.gradcheck(net, dp.CrossEntropy(), X, y, tolerance=1e-9, h=1e-5).passed  # as the note says
    coarse = dp.gradcheck(net, dp.CrossEntropy(), X, y, tolerance=1e-12, h=1e-3)  # truncation h², not rounding
    assert not coarse.passed and len(coarse.notes) == 1 and "h² = 1.0e-06" in coarse.notes[0]


# -- the report's numbers ----------------------------------------------------------------------------
def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_report_shows_a_huge_or_tiny_loss_in_significant_digits():
    from deltaprop.report_html import render

    records = [{"epoch": 1, "loss": 0.5, "accuracy": 0.75, "val_loss": 3.2e-7, "lr": 0.1},
               {"epoch": 2, "loss": 1.0526307236027554e19, "accuracy": 0.5, "val_loss": 65634162.14, "lr": 0.1}]
    kept = {"epoch": 1, "last_epoch": 2, "why": "early_stopping", "monitor": "val_loss", "best": 3.2e-7,
            "stopped_epoch": 2}
    text = _text(render(records, {"status": "done", "model_weights": kept}))
    assert "last epoch (2): loss 1.0526e+19, accuracy 0.5000, val loss 6.5634e+07" in text
    assert "epoch 1: loss 0.5000, accuracy 0.7500, val loss 3.2e-07" in text
    assert "the best val_loss (3.2e-07)" in text
    assert "10526307236027553792" not in text and "0.0000" not in text
