"""`predict` on image files for a model whose file records no shape of its inputs says,
once, that the square grey image it reads them as is a guess and how to record the shape;
a model that records it (given to `save`, or an older `train` file's named dataset) gets
no such note, nor do rows of a .npy file."""

import numpy as np
import pytest
from cli_in_process import run_cli
from PIL import Image, ImageDraw

import deltaprop as dp

GUESS = "records no shape of its inputs"


def _model(tmp_path, n: int, **kw):
    return dp.save(dp.mlp([n, 3, 10], seed=0), tmp_path / "model.safetensors", loss=dp.CrossEntropy(), **kw)


def _images(tmp_path, count: int = 2) -> list:
    paths = []
    for i in range(count):
        img = Image.new("L", (28, 28), 0)
        ImageDraw.Draw(img).ellipse((8 + i, 5, 18 + i, 22), outline=255, width=2)  # a zero
        paths.append(tmp_path / f"digit{i}.png")
        img.save(paths[-1])
    return paths


def _ok(result):
    assert result.returncode == 0, result.stderr
    return result


def test_images_for_a_model_of_no_recorded_shape_get_one_note(tmp_path):
    model = _model(tmp_path, 784)
    result = _ok(run_cli("predict", model, *_images(tmp_path, 3)))
    notes = [line for line in result.stderr.splitlines() if GUESS in line]
    assert len(notes) == 1, result.stderr
    note = notes[0]
    assert note.startswith("note: ") and "784 inputs" in note and "28x28 grey image" in note and "a guess" in note
    assert "deltaprop train --input-shape H,W[,C]" in note and "dp.save(..., input_shape=" in note
    assert GUESS not in result.stdout and len(result.stdout.strip().splitlines()) == 3


def test_a_smaller_square_model_names_its_own_side(tmp_path):
    model = _model(tmp_path, 64)
    result = _ok(run_cli("predict", model, *_images(tmp_path, 1)))
    notes = [line for line in result.stderr.splitlines() if GUESS in line]
    assert len(notes) == 1 and "64 inputs" in notes[0] and "8x8 grey image" in notes[0], result.stderr


@pytest.mark.parametrize(
    "kw",
    [{"input_shape": (28, 28)}, {"extra": {"config": {"dataset": "mnist"}}}],
    ids=["saved-with-shape", "older-train-file-of-mnist"],
)
def test_a_model_that_records_its_shape_gets_no_note(tmp_path, kw):
    model = _model(tmp_path, 784, **kw)
    result = _ok(run_cli("predict", model, *_images(tmp_path, 2)))
    assert GUESS not in result.stderr


def test_npy_rows_get_no_note(tmp_path):
    model = _model(tmp_path, 784)
    np.save(tmp_path / "rows.npy", np.zeros((2, 784)))
    result = _ok(run_cli("predict", model, tmp_path / "rows.npy"))
    assert GUESS not in result.stderr


def _write_data(tmp_path, kind: str):
    """40 rows of 28x28 levels 0..255 of two classes: a CSV file's rows of pixels or an .npz file's images."""
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = rng.integers(0, 60, size=(40, 28, 28))
    x[y == 1, 8:20, 8:20] = 255
    if kind == "npz":
        np.savez(tmp_path / "data.npz", x=x.astype(np.uint8), y=y)
        return tmp_path / "data.npz"
    lines = [",".join(map(str, [label, *row])) for label, row in zip(y, x.reshape(40, 784))]
    header = ",".join(["label", *(f"p{i}" for i in range(784))])
    (tmp_path / "data.csv").write_text("\n".join([header, *lines]) + "\n")
    return tmp_path / "data.csv"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "options", "noted"),
    [("csv", [], True), ("csv", ["--input-shape", "28,28"], False), ("npz", [], False)],
    ids=["csv-rows", "csv-rows-with-input-shape", "npz-images"],
)
def test_trained_models_note_only_a_guessed_shape(tmp_path, kind, options, noted):
    data = _write_data(tmp_path, kind)
    trained = run_cli(
        "train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run", "--quiet", "--threads", "1", *options
    )
    assert trained.returncode == 0, trained.stderr
    result = _ok(run_cli("predict", tmp_path / "run", *_images(tmp_path, 2), "--images", "digit"))
    assert (result.stderr.count(GUESS) == 1) if noted else (GUESS not in result.stderr), result.stderr
