"""``plot samples`` draws rows as images by plot_weights' rule: a square of at least 8x8
inputs that the model does not standardise as a table's columns, or any square of at least
4x4 when asked (``images=True``, ``--as-images``). 16 columns of a table were drawn as 4x4
pictures, which mean nothing; they are refused in one line naming the fix."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop import plots
from deltaprop.preprocessing import standardization_for


@pytest.fixture
def tiles(monkeypatch):
    """How many image tiles each figure drawn holds (its saving is kept)."""
    counts = []
    save = plots._save

    def count(fig, path):
        counts.append(sum(1 for ax in fig.axes if ax.images))
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", count)
    return counts


@pytest.mark.slow  # about 1.0 s in the quick suite on 2 cores
@pytest.mark.parametrize("features", [16, 25, 49])
def test_a_table_of_a_small_square_width_is_refused_unless_asked_for(tmp_path, tiles, features):
    x = np.random.default_rng(0).standard_normal((6, features))
    side = int(features ** 0.5)
    with pytest.raises(dp.ShapeError, match=rf"{features} features .*8x8.*images=True .*{side}x{side}"):
        plots.plot_samples(x, np.zeros(6, int), tmp_path / "s.png")
    assert not (tmp_path / "s.png").exists() and tiles == []
    plots.plot_samples(x, np.zeros(6, int), tmp_path / "s.png", images=True)  # asked for: drawn
    assert (tmp_path / "s.png").is_file() and tiles == [6]


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_images_of_at_least_8x8_are_drawn_and_images_true_needs_a_square(tmp_path, tiles):
    rng = np.random.default_rng(0)
    plots.plot_samples(rng.integers(0, 17, (4, 64)), [0, 1, 2, 3], tmp_path / "digits.png")  # scikit-learn's 8x8 digits
    plots.plot_samples(rng.random((3, 4, 4)), [0, 1, 2], tmp_path / "given.png")  # 3-D: images by their shape
    assert tiles == [4, 3]
    with pytest.raises(dp.ShapeError, match="10 features, not a square image of at least 4x4"):
        plots.plot_samples(rng.random((3, 10)), [0, 1, 0], tmp_path / "bad.png", images=True)
    with pytest.raises(dp.ShapeError, match="images=True"):
        plots.plot_samples(rng.random((3, 784)), [0, 1, 0], tmp_path / "none.png", images=False)


def _table_csv(path, n_features=16):
    rng = np.random.default_rng(2)
    x = rng.random((40, n_features))
    y = (x[:, 0] > 0.5).astype(int)
    lines = [",".join([f"f{i}" for i in range(n_features)] + ["label"])]
    lines += [",".join([f"{v:.4f}" for v in row] + [str(k)]) for row, k in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_cli_refuses_a_table_in_one_line_and_draws_it_with_as_images(tmp_path, tiles):
    csv = _table_csv(tmp_path / "table.csv")
    refused = run_cli("plot", "samples", "--dataset", csv, "-n", "9", "-o", tmp_path / "s.png")
    assert refused.returncode != 0 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert "16 features" in refused.stderr and "--as-images" in refused.stderr and "4x4" in refused.stderr
    assert not (tmp_path / "s.png").exists()
    drawn = run_cli("plot", "samples", "--dataset", csv, "-n", "9", "--as-images", "-o", tmp_path / "s.png")
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "s.png").is_file() and tiles == [9]


def test_cli_refuses_64_columns_a_model_standardises_one_by_one(tmp_path, tiles):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 64)) * rng.uniform(1, 100, 64)  # columns in their own units
    y = np.arange(30) % 3
    np.savez(tmp_path / "wide.npz", x=x, y=y)
    net = dp.Network([standardization_for(x, per_feature=True), dp.Dense(64, 3), dp.Softmax()], seed=0)
    model = dp.save(net, tmp_path / "m.safetensors", loss=dp.CrossEntropy())
    args = ("plot", "samples", "--model", model, "--dataset", tmp_path / "wide.npz", "--split", "all", "-n", "4")
    refused = run_cli(*args, "-o", tmp_path / "s.png")
    assert refused.returncode != 0 and "table's columns" in refused.stderr and "--as-images" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "s.png").exists()
    drawn = run_cli(*args, "--as-images", "-o", tmp_path / "s.png")
    assert drawn.returncode == 0, drawn.stderr
    assert tiles == [4]
