"""plot samples of images saved 3-D."""

from __future__ import annotations

import numpy as np
import pytest

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
