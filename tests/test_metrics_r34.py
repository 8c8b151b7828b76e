"""What a user reads after training: the numbers and figures of metrics, evaluate, the run
report and the plots, checked against what they claim to show."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop import plots


@pytest.fixture
def drawn(monkeypatch):
    """The pixel arrays of each image tile of every figure drawn (its saving is kept)."""
    tiles: list[list[np.ndarray]] = []
    save = plots._save

    def keep(fig, path):
        tiles.append([np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images])
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return tiles


@pytest.mark.parametrize("shape", [(32, 8), (18, 8), (28, 20)])
def test_samples_of_3d_images_that_are_not_square_are_drawn_in_their_own_shape(tmp_path, drawn, shape):
    """(n, h, w) images with h != w were refolded into a square when h·w is one (a 32x8
    image drawn as 16x16 stripes) and refused as 'not a square image' otherwise."""
    x = np.random.default_rng(0).random((3, *shape))
    plots.plot_samples(x, [0, 1, 2], tmp_path / "s.png")
    assert len(drawn[0]) == 3
    for tile, image in zip(drawn[0], x):
        assert tile.shape == shape and np.array_equal(tile, image)


def test_samples_of_images_with_a_channel_axis_of_one_are_drawn_as_given(tmp_path, drawn):
    x = np.random.default_rng(1).random((2, 1, 12, 6))  # channels first, as a PyTorch batch
    plots.plot_samples(x, [0, 1], tmp_path / "s.png")
    assert [t.shape for t in drawn[0]] == [(12, 6), (12, 6)]
    assert np.array_equal(drawn[0][1], x[1, 0])
