"""Training on one's own data through the command line: CSV files with the label first,
last or without a header, .npz archives, small-integer features and floats with large
offsets. Each run either learns (accuracy far above chance) or stops with one clear
error; none exits 0 at chance. Every model predicts the same on raw rows from the
library, the command line and the scikit-learn wrapper."""

from __future__ import annotations

import re

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli as _cli

sklearn = pytest.importorskip("sklearn", reason="the scikit-learn wrapper and its digits data need scikit-learn")
from sklearn.datasets import load_digits  # noqa: E402

from deltaprop.sklearn import NeuralNetClassifier  # noqa: E402


def _digits():
    """scikit-learn's 8x8 digits: 1,797 rows of 64 integer features in 0..16, ten classes."""
    d = load_digits()
    return d.data.astype(np.int64), d.target.astype(np.int64)


def _write_csv(path, x, y, *, label_first: bool, header: list[str] | None):
    table = np.column_stack([y, x] if label_first else [x, y])
    is_int = np.issubdtype(table.dtype, np.integer) or np.all(table == np.round(table))
    lines = [",".join(header)] if header else []
    lines += [",".join(str(int(v)) if is_int else repr(float(v)) for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n")
    return path


def _train(tmp_path, dataset, *extra):
    out = tmp_path / "run"
    res = _cli("train", "--dataset", str(dataset), "--epochs", "20", "--out", str(out), *extra)
    return res, out


def _accuracy(res) -> float:
    return float(re.search(r"test accuracy (\d\.\d+)", res.stdout).group(1))


def _same_predictions_everywhere(tmp_path, model, raw):
    """dp.load(path).predict(raw) == deltaprop predict == NeuralNetClassifier.load(path).predict(raw)."""
    library = dp.load(model).predict(raw)
    np.save(tmp_path / "rows.npy", raw)
    res = _cli("predict", str(model), str(tmp_path / "rows.npy"), "--top", "1")
    assert res.returncode == 0, res.stderr
    names = dp.serialization.read_model(model).class_names
    cli = [names.index(m) for m in re.findall(r": class (\S+)", res.stdout)]
    wrapper = NeuralNetClassifier.load(model)
    assert list(library) == cli
    assert np.array_equal(wrapper.classes_[library], wrapper.predict(raw))
    return wrapper


@pytest.mark.slow
def test_csv_label_first_with_a_header_small_integer_features(tmp_path):
    x, y = _digits()
    path = _write_csv(tmp_path / "digits.csv", x, y, label_first=True, header=["label"] + [f"p{i}" for i in range(64)])
    res, out = _train(tmp_path, path)
    assert res.returncode == 0, res.stderr
    assert "labels: column 'label' (1 of 65, by its name)" in res.stdout
    assert "inputs standardised" in res.stdout  # 0..16 counts are not pixels: no division by 255
    assert _accuracy(res) > 0.9
    wrapper = _same_predictions_everywhere(tmp_path, out / "model.safetensors", x[:50])
    assert wrapper.classes_.tolist() == list(range(10))  # the real labels, as integers
    assert wrapper.get_params()["hidden_layer_sizes"] == (50,) and wrapper.get_params()["activation"] == "sigmoid"
    assert wrapper.score(x, y) > 0.9


@pytest.mark.slow
def test_csv_label_last_with_a_header(tmp_path):
    x, y = _digits()
    path = _write_csv(tmp_path / "digits.csv", x, y, label_first=False, header=[f"p{i}" for i in range(64)] + ["target"])
    res, out = _train(tmp_path, path)
    assert res.returncode == 0, res.stderr
    assert "labels: column 'target' (65 of 65, by its name)" in res.stdout
    assert _accuracy(res) > 0.9


@pytest.mark.slow
def test_csv_without_a_header_label_last(tmp_path):
    x, y = _digits()
    path = _write_csv(tmp_path / "digits.csv", x, y, label_first=False, header=None)
    res, out = _train(tmp_path, path)
    assert res.returncode == 0, res.stderr
    assert "labels: column (65 of 65, the last" in res.stdout
    assert _accuracy(res) > 0.9


@pytest.mark.slow
def test_csv_without_a_header_label_first_is_ambiguous_until_named(tmp_path):
    x, y = _digits()
    path = _write_csv(tmp_path / "digits.csv", x, y, label_first=True, header=None)
    res, out = _train(tmp_path, path)
    assert res.returncode == 2 and "--label-column 0" in res.stderr and res.stderr.count("\n") == 1
    assert not (out / "model.safetensors").exists()
    res, out = _train(tmp_path, path, "--label-column", "0")
    assert res.returncode == 0, res.stderr
    assert "labels: column (1 of 65, as named)" in res.stdout
    assert _accuracy(res) > 0.9


@pytest.mark.slow
def test_npz_with_float_features_far_from_zero(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 6))
    y = rng.integers(0, 3, 900)
    x = (1000.0 + centres[y] + rng.normal(0, 1, (900, 6))).astype(np.float32)
    np.savez(tmp_path / "blobs.npz", x=x, y=y)
    res, out = _train(tmp_path, tmp_path / "blobs.npz")
    assert res.returncode == 0, res.stderr
    assert "inputs standardised" in res.stdout
    assert _accuracy(res) > 0.85  # chance is 1/3
    _same_predictions_everywhere(tmp_path, out / "model.safetensors", x[:40])


@pytest.mark.slow
def test_npz_labels_named_by_the_flag(tmp_path):
    x, y = _digits()
    np.savez(tmp_path / "d.npz", features=x, digit=y)
    res, out = _train(tmp_path, tmp_path / "d.npz")
    assert res.returncode == 1 and "label_column" in res.stderr
    res, out = _train(tmp_path, tmp_path / "d.npz", "--label-column", "digit")
    assert res.returncode == 0, res.stderr
    assert "labels: array 'digit' (as named)" in res.stdout and _accuracy(res) > 0.9


@pytest.mark.parametrize("column, problem", [("float", "not a whole-number class id"), ("many", "distinct values")])
def test_a_label_column_that_looks_like_a_feature_stops_the_run(tmp_path, column, problem):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1500, 3))
    last = rng.normal(size=1500) if column == "float" else np.arange(1500)
    path = _write_csv(tmp_path / "d.csv", x, last, label_first=False, header=["a", "b", "c", "d"])
    res, out = _train(tmp_path, path)
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert problem in res.stderr and "column 'd' (4 of 4" in res.stderr and "--label-column" in res.stderr


@pytest.mark.slow
def test_mnist_like_pixels_are_divided_by_255(tmp_path):
    ds = dp.data.load("mnist-sample", flatten=True)
    path = _write_csv(tmp_path / "m.csv", ds.x_train[:1500], ds.y_train[:1500], label_first=True,
                      header=["label"] + [f"px{i}" for i in range(784)])
    res, out = _train(tmp_path, path, "--epochs", "5")
    assert res.returncode == 0, res.stderr
    assert "inputs x / 255" in res.stdout and _accuracy(res) > 0.8
    _same_predictions_everywhere(tmp_path, out / "model.safetensors", ds.x_test[:30])


@pytest.mark.slow
def test_tabular_features_are_standardised_each_by_its_own_deviation(tmp_path):
    """wine: 13 measurements from ~0.1 to ~1,700; one σ for all would leave the small ones
    near constant (test accuracy 0.58 where a σ per feature gives 0.97)."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    path = _write_csv(tmp_path / "wine.csv", wine.data, wine.target, label_first=False,
                      header=[f"f{i}" for i in range(13)] + ["label"])
    res, out = _train(tmp_path, path, "--epochs", "50")
    assert res.returncode == 0, res.stderr
    assert _accuracy(res) > 0.9
    first = dp.load(out / "model.safetensors").layers[0]
    assert first.std.shape == (13,)
    assert "inputs standardised ((x − μ) / σ, μ per feature and σ per feature" in res.stdout
