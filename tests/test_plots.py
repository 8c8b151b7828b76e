"""PNG figures: written atomically, valid PNGs, drawn from what they are given."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import plots


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_history_plot(tmp_path):
    records = [{"epoch": i + 1, "loss": 1 / (i + 1), "accuracy": 0.5 + i / 20, "val_loss": None, "val_accuracy": None}
               for i in range(5)]
    path = plots.plot_history(records, tmp_path / "h.png")
    assert _png_size(path) == (1000, 400)
    assert [p.name for p in tmp_path.iterdir()] == ["h.png"]
    with pytest.raises(dp.ConfigError, match="empty"):
        plots.plot_history([], tmp_path / "e.png")


@pytest.mark.slow
def test_weights_plot_square_and_not(tmp_path):
    small = plots.plot_weights(dp.mlp([784, 9, 10], seed=0), tmp_path / "w.png")
    flat = plots.plot_weights(dp.mlp([10, 6, 2], seed=0), tmp_path / "p.png")
    assert _png_size(small)[1] > _png_size(flat)[1]  # the 28x28 weight images add a panel


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_samples_plot_marks_predictions(tmp_path, monkeypatch):
    drawn = []
    save = plots._save

    def keep_titles(fig, path):
        drawn.append([(ax.get_title(), ax.title.get_color()) for ax in fig.axes])
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep_titles)
    x = np.random.default_rng(0).integers(0, 255, (6, 784), dtype=np.uint8)
    path = plots.plot_samples(x, [0, 1, 2, 3, 4, 5], tmp_path / "s.png", predictions=[0, 1, 2, 3, 4, 0],
                              class_names=list("abcdef"))
    assert _png_size(path)[0] > 0
    # each image is titled "label → prediction", in red where the prediction is wrong
    assert drawn == [[("a → a", "black"), ("b → b", "black"), ("c → c", "black"), ("d → d", "black"),
                      ("e → e", "black"), ("f → a", "red")]]
    plots.plot_samples(x[:2], [0, 1], tmp_path / "t.png")
    assert drawn[1] == [("0", "black"), ("1", "black")]  # no predictions: labels alone
    with pytest.raises(dp.ShapeError, match="square"):
        plots.plot_samples(np.zeros((3, 10)), [0, 1, 0], tmp_path / "bad.png")


def test_confusion_plot(tmp_path):
    cm = dp.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], 3)
    assert _png_size(plots.plot_confusion(cm, tmp_path / "c.png", class_names=["a", "b", "c"]))[0] >= 400


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_import_deltaprop_does_not_import_matplotlib():
    code = "import sys, deltaprop, deltaprop.cli; print('matplotlib' in sys.modules, 'PIL' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_samples_plot_refuses_wrong_labels_and_predictions_with_typed_errors(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((10, 784)), rng.integers(0, 10, 10)
    net = dp.mlp([784, 20, 10], seed=0)
    with pytest.raises(dp.ShapeError, match=r"class ids, one per example .*\(10, 10\).*net\.predict\(x\)"):
        plots.plot_samples(x, y, tmp_path / "a.png", predictions=net.predict_proba(x))
    with pytest.raises(dp.ShapeError, match="x has 10 rows but labels has 3"):
        plots.plot_samples(x, y[:3], tmp_path / "b.png", n=10)
    with pytest.raises(dp.ShapeError, match="x has 10 rows but predictions has 3"):
        plots.plot_samples(x, y, tmp_path / "c.png", predictions=y[:3], n=10)
    with pytest.raises(dp.ShapeError, match="argmax"):
        plots.plot_samples(x, np.eye(10)[y], tmp_path / "d.png")
    with pytest.raises(dp.DataError, match="whole-number class ids"):
        plots.plot_samples(x, y + 0.5, tmp_path / "e.png")
    with pytest.raises(dp.ShapeError, match="one example a row"):
        plots.plot_samples(x[0], y[:1], tmp_path / "f.png")
    assert not any(tmp_path.iterdir())


def test_confusion_plot_refuses_what_is_no_confusion_matrix(tmp_path):
    with pytest.raises(dp.ShapeError, match=r"square \(k, k\); got shape \(3,\).*confusion_matrix"):
        plots.plot_confusion(np.arange(3), tmp_path / "a.png")
    with pytest.raises(dp.ShapeError, match="square"):
        plots.plot_confusion(np.ones((2, 3)), tmp_path / "b.png")
    with pytest.raises(dp.DataError, match="counts"):
        plots.plot_confusion(np.array([[1.0, np.nan], [0.0, 2.0]]), tmp_path / "c.png")
    with pytest.raises(dp.DataError, match="counts"):
        plots.plot_confusion(np.array([[1, -1], [0, 2]]), tmp_path / "d.png")
    with pytest.raises(dp.ShapeError, match="2 class names for a 3x3"):
        plots.plot_confusion(np.eye(3, dtype=int), tmp_path / "e.png", class_names=["a", "b"])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("features", [4, 9, 10])
def test_samples_of_a_table_are_refused_not_drawn_as_tiny_images(tmp_path, features):
    # 4 CSV columns were drawn as 2x2 gray images, columns on different scales
    x = np.random.default_rng(0).standard_normal((6, features))
    with pytest.raises(dp.ShapeError, match="not a square image of at least 4x4"):
        plots.plot_samples(x, np.zeros(6, int), tmp_path / "s.png")
