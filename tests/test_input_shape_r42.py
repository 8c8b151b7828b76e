"""The shape of one example (``(h, w)``, ``(h, w, c)``) is recorded with the model and used
wherever its inputs are drawn or made from an image: the report's first-layer weights and
wrong examples, the served page and ``deltaprop predict``. 14x14 RGBA images hold 784
values, as 28x28 grey ones do: they were drawn and served as if they were those."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.errors import ConfigError
from deltaprop.images import model_image_side
from deltaprop.plots import plot_weights
from deltaprop.report_html import render
from deltaprop.serialization import read_model
from deltaprop.serve.model import ModelSource


def _net(n_features: int, seed: int = 0):
    return dp.Network([dp.Dense(n_features, 3), dp.Softmax()], seed=seed)


def _images(shape, n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, 3, size=n)


def _fitted(shape, seed=0):
    x, y = _images(shape, seed=seed)
    net = _net(int(np.prod(shape)), seed)
    dp.fit(net, x.astype(np.float32) / 255, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, seed=seed)
    return net


# -- the Python API: fit records the shape, save keeps it, load gives it back ------------------
def test_fit_on_images_given_as_such_records_their_shape_and_save_keeps_it(tmp_path):
    net = _fitted((14, 14, 4))
    assert net.input_shape == (14, 14, 4)
    dp.save(net, tmp_path / "m.safetensors")
    mf = read_model(tmp_path / "m.safetensors")
    assert mf.input_shape == (14, 14, 4) and mf.net.input_shape == (14, 14, 4)
    assert model_image_side(mf) is None  # 784 values, but no 28x28 grey image


def test_save_takes_the_shape_and_refuses_one_of_another_count(tmp_path):
    net = _net(64)
    dp.save(net, tmp_path / "m.safetensors", input_shape=(8, 8))
    assert read_model(tmp_path / "m.safetensors").input_shape == (8, 8)
    with pytest.raises(ConfigError, match="holds 63 values, but the network takes 64"):
        dp.save(net, tmp_path / "n.safetensors", input_shape=(7, 9))


def test_a_model_without_a_recorded_shape_is_read_as_before(tmp_path):
    dp.save(_net(784), tmp_path / "m.safetensors")
    mf = read_model(tmp_path / "m.safetensors")
    assert mf.input_shape is None and model_image_side(mf) == 28


@pytest.mark.parametrize(
    ("shape", "side"), [((28, 28, 1), 28), ((20, 30), None), ((32, 32, 3), None), ((3, 32, 32), None), ((10, 10), 10)]
)
def test_only_a_recorded_square_grey_image_is_served_as_one(tmp_path, shape, side):
    dp.save(_net(int(np.prod(shape))), tmp_path / "m.safetensors", input_shape=shape)
    assert model_image_side(read_model(tmp_path / "m.safetensors")) == side


# -- deltaprop train on an .npz of images ---------------------------------------------------
@pytest.fixture(scope="module")
def rgba_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rgba")
    x, y = _images((14, 14, 4), n=60)
    np.savez(folder / "rgba.npz", x=x, y=y)
    assert main(["train", "--dataset", str(folder / "rgba.npz"), "--epochs", "1", "--out", str(folder / "run"), "--quiet"]) == 0
    return folder


@pytest.mark.slow
def test_a_run_on_rgba_images_records_their_shape_and_draws_them_so(rgba_run):
    run = rgba_run / "run"
    assert read_model(run / "model.safetensors").input_shape == (14, 14, 4)
    page = (run / "report.html").read_text()
    weights = page.split('id="weights"')[1].split("</section>")[0]
    assert "14x14 images of 4 channels" in weights and "28×28" not in weights
    assert 'alt="unit 0, channel 3"' in weights
    wrong = json.loads((run / "evaluation.json").read_text())["wrong"]
    assert wrong and all(ex["shape"] == [14, 14, 4] for ex in wrong)
    main(["report", str(run)])  # rebuilt from the files: the same drawing
    assert 'alt="unit 0, channel 3"' in (run / "report.html").read_text()


@pytest.mark.slow
def test_predict_reads_an_image_file_in_the_shape_the_model_records(rgba_run, tmp_path, capsys):
    """An RGBA PNG was read as a 28x28 grey image (or refused for want of --images); now its
    four channels reach the model as a .npy row of the same image does."""
    from PIL import Image

    model = str(rgba_run / "run" / "model.safetensors")
    image = _images((14, 14, 4), n=1, seed=3)[0][0]
    Image.fromarray(image, "RGBA").save(tmp_path / "a.png")
    np.save(tmp_path / "row.npy", image[None])
    capsys.readouterr()
    assert main(["predict", model, str(tmp_path / "a.png")]) == 0
    from_png = capsys.readouterr()
    assert main(["predict", model, str(tmp_path / "row.npy")]) == 0
    assert from_png.out == capsys.readouterr().out
    assert "14x14 images of 4 channels" in from_png.err and "28x28" not in from_png.err


def test_predict_reads_a_non_square_grey_image_in_its_shape(tmp_path, capsys):
    from PIL import Image

    net = _net(600)
    dp.save(net, tmp_path / "m.safetensors", input_shape=(20, 30), input_range=(0, 255))
    image = _images((20, 30), n=1, seed=4)[0][0]
    Image.fromarray(image, "L").save(tmp_path / "a.png")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "m.safetensors"), str(tmp_path / "a.png")]) == 0
    expected = net.predict_proba(image.reshape(1, -1).astype(np.float32))[0]
    assert f"{expected.max():.4f}" in capsys.readouterr().out


@pytest.mark.slow
def test_a_run_on_a_named_image_dataset_records_28x28(tmp_path):
    assert (
        main(
            [
                "train",
                "--dataset",
                "mnist-sample",
                "--epochs",
                "1",
                "--layers",
                "784,8,10",
                "--out",
                str(tmp_path / "run"),
                "--quiet",
            ]
        )
        == 0
    )
    assert read_model(tmp_path / "run" / "model.safetensors").input_shape == (28, 28)


# -- the report page --------------------------------------------------------------------------
def _weights_section(**kw) -> str:
    W = np.random.default_rng(0).normal(size=(kw.pop("n"), 4))
    page = render([{"epoch": 1, "loss": 1.0}], {"status": "done"}, weights=W, **kw)
    return page.split('id="weights"')[1].split("</section>")[0]


def test_report_draws_non_square_grey_weights_in_their_shape():
    section = _weights_section(n=600, weights_shape=(20, 30))
    assert "20x30 grey images" in section and section.count("<img") == 4
    assert "not square images" not in section


def test_report_says_a_square_guess_is_a_guess_where_no_shape_is_recorded():
    section = _weights_section(n=784)
    assert section.count("<img") == 4 and "does not record the shape of its inputs" in section
    assert "input_shape=(h, w, c)" in section


def test_report_does_not_draw_rows_recorded_as_rows():
    section = _weights_section(n=100, weights_shape=(100,))
    assert "<img" not in section and "rows of 100 values" in section


def test_report_draws_colour_wrong_examples_in_colour():
    from base64 import b64decode
    from io import BytesIO

    from PIL import Image

    ex = {
        "index": 0,
        "label": 0,
        "predicted": 1,
        "confidence": 0.9,
        "pixels": [v % 256 for v in range(32 * 32 * 3)],
        "shape": [3, 32, 32],
    }
    evaluation = {"accuracy": 0.5, "examples": 2, "class_names": ["a", "b"], "confusion": [[1, 1], [0, 0]], "wrong": [ex]}
    page = render([{"epoch": 1, "loss": 1.0, "accuracy": 0.5}], {"status": "done"}, evaluation=evaluation)
    uri = re.search(r'alt="test example 0" src="data:image/png;base64,([^"]+)"', page).group(1)
    image = Image.open(BytesIO(b64decode(uri)))
    assert image.mode == "RGB" and image.size == (32, 32)


# -- the served page --------------------------------------------------------------------------
def test_served_model_of_rgba_images_is_no_drawing_pad_and_says_what_it_takes(tmp_path):
    dp.save(_net(784), tmp_path / "m.safetensors", input_shape=(14, 14, 4))
    described = ModelSource(tmp_path / "m.safetensors").describe()
    assert described["image_input"] is False and described["image_side"] is None
    assert described["input_shape"] == [14, 14, 4]
    assert described["input_words"].startswith("14x14 images of 4 channels")


def test_served_model_without_a_recorded_shape_says_none_is_recorded(tmp_path):
    dp.save(_net(784), tmp_path / "m.safetensors")
    described = ModelSource(tmp_path / "m.safetensors").describe()
    assert described["image_input"] is True and described["input_shape"] is None


def test_the_page_script_says_the_shape_or_that_it_is_a_guess():
    from importlib.resources import files

    script = files("deltaprop.serve").joinpath("static/app.js").read_text()
    assert "m.input_words" in script and "does not record the shape of its inputs" in script


# -- plot weights -----------------------------------------------------------------------------
@pytest.mark.slow
def test_plot_weights_draws_recorded_grey_shapes_and_no_colour_images_as_grey(tmp_path, figures):
    net = _net(600)
    net.input_shape = (20, 30)
    plot_weights(net, tmp_path / "w.png")
    assert "as 20x30 images" in figures[-1]._suptitle.get_text()
    assert figures[-1].axes[0].images[0].get_array().shape == (20, 30)
    rgba = _net(784)
    rgba.input_shape = (14, 14, 4)
    with pytest.raises(dp.ShapeError, match="14x14 images of 4 channels"):
        plot_weights(rgba, tmp_path / "r.png", images=True)
    plot_weights(rgba, tmp_path / "r.png")
    assert figures[-1]._suptitle is None  # no weight images, only the heatmap


@pytest.mark.slow
def test_plot_samples_draws_colour_images_in_colour(tmp_path, figures):
    from deltaprop.plots import plot_samples

    x, y = _images((14, 14, 4), n=4)
    plot_samples(x, y, tmp_path / "s.png")
    assert figures[-1].axes[0].images[0].get_array().shape == (14, 14, 4)
    chw, y = _images((3, 8, 8), n=4)
    plot_samples(chw, y, tmp_path / "c.png")
    drawn = figures[-1].axes[0].images[0].get_array()
    np.testing.assert_allclose(drawn, chw[0].transpose(1, 2, 0) / 255)


# -- deltaprop train --input-shape: a CSV file's rows of pixels -----------------------------
def _csv(path, n_features, n=40):
    x, y = _images((n_features,), n=n)
    header = ",".join([f"p{i}" for i in range(n_features)] + ["label"])
    np.savetxt(path, np.column_stack([x, y]), fmt="%d", delimiter=",", header=header, comments="")
    return path


@pytest.mark.slow
def test_train_input_shape_records_the_shape_of_a_csv_files_rows(tmp_path):
    data = _csv(tmp_path / "t.csv", 100)
    args = ["train", "--dataset", str(data), "--epochs", "1", "--quiet", "--input-shape", "5,5,4"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert read_model(tmp_path / "run" / "model.safetensors").input_shape == (5, 5, 4)
    page = (tmp_path / "run" / "report.html").read_text()
    assert "5x5 images of 4 channels" in page and "does not record the shape" not in page
    assert "input_shape = [5, 5, 4]" in (tmp_path / "run" / "config.toml").read_text()


def test_train_refuses_an_input_shape_of_another_count(tmp_path, capsys):
    data = _csv(tmp_path / "t.csv", 100, n=12)
    args = ["train", "--dataset", str(data), "--epochs", "1", "--quiet", "--input-shape", "9,9"]
    assert main([*args, "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert "--input-shape 9,9 holds 81 values a row" in err and "100 features" in err
