"""A model file records the range of its raw training inputs (``input_range``), so `deltaprop
serve` and `predict` feed an image on the model's own levels: a run trained with `--scaling
none` on 8x8 digits of 0..16 got drawings on 0..255 (a drawn 7 came out as 1). Files without
the field keep their behaviour; a malformed one is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_in_process import run_cli
from model_file_edits import edit_metadata
from test_predict_images_r33 import _seven, _shown
from test_serve_http import request, running_server

import deltaprop as dp
from deltaprop.errors import ConfigError, ModelFileError
from deltaprop.images import levels_recorded, load_image, model_levels_top
from deltaprop.serialization import read_model


def _digits_csv(path, rows=120):
    """Rows of 64 whole-number levels in 0..16 (scikit-learn's 8x8 digits' levels) and a label
    of 10 classes: bright pixels in a place of their own for each class."""
    rng = np.random.default_rng(0)
    y = np.arange(rows) % 10
    x = rng.integers(0, 4, size=(rows, 64))
    for c in range(10):
        x[y == c, 3 * c: 3 * c + 6] = 16
    np.savetxt(path, np.column_stack([y, x]), fmt="%d", delimiter=",",
               header=",".join(["label", *(f"p{i}" for i in range(64))]), comments="")
    return path


@pytest.fixture(scope="module")
def raw_run(tmp_path_factory):
    """`deltaprop train --scaling none` on a file of 0..16 levels: no input layer."""
    folder = tmp_path_factory.mktemp("raw")
    data = _digits_csv(folder / "digits.csv")
    out = folder / "run"
    r = run_cli("train", "--dataset", data, "--scaling", "none", "--layers", "64,12,10", "--epochs", "2",
                "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def test_train_records_the_range_of_its_raw_inputs_in_the_model_and_checkpoint(raw_run):
    model, checkpoint = read_model(raw_run / "model.safetensors"), read_model(raw_run / "checkpoint.safetensors")
    assert model.net.layers[0].type_name == "Dense"  # --scaling none: the network takes the 0..16 levels
    assert model.input_range == (0.0, 16.0) and checkpoint.input_range == (0.0, 16.0)
    assert json.loads(model.metadata["input_range"]) == {"min": 0.0, "max": 16.0}
    assert levels_recorded(model) and model_levels_top(model, 8) == 16.0


def test_predict_feeds_an_image_on_the_levels_the_model_was_trained_on(raw_run, tmp_path):
    """The note that the file records no range (and --levels 16) was needed; now the 0..255
    levels are scaled to 0..16 as for a model that standardises them."""
    model = raw_run / "model.safetensors"
    image = _seven(tmp_path / "seven.png")
    r = run_cli("predict", model, image, "--top", "10")
    assert r.returncode == 0, r.stderr
    assert "does not record" not in r.stderr and "0 to 16" in r.stderr
    reduced = load_image(image, "digit", side=8).reshape(1, 64)
    want = dp.load(model).predict_proba(reduced * (16 / 255))[0]
    assert _shown(r.stdout.strip()) == pytest.approx({str(c): float(p) for c, p in enumerate(want)}, abs=6e-5)
    flagged = run_cli("predict", model, image, "--top", "10", "--levels", "16")
    assert flagged.returncode == 0 and flagged.stdout == r.stdout


def test_serve_feeds_a_drawing_on_the_levels_the_model_was_trained_on(raw_run):
    model = raw_run / "model.safetensors"
    pixels = np.zeros((8, 8))
    pixels[1:7, 3:5] = 255
    with running_server(model) as server:
        described = request(server, "GET", "/api/model")[1]
        status, out, _ = request(server, "POST", "/api/predict", {"pixels": pixels.tolist()})
    assert described["image_side"] == 8 and described["levels_top"] == 16 and described["levels_known"] is True
    assert status == 200, out
    want = dp.load(model).predict_proba(pixels.reshape(1, 64) * (16 / 255))[0]
    assert out["probabilities"] == pytest.approx(want.tolist(), abs=1e-6)


def test_info_shows_the_recorded_range(raw_run):
    r = run_cli("info", raw_run / "model.safetensors")
    assert r.returncode == 0, r.stderr
    assert "training inputs: 0 to 16 (raw, before any scaling)" in r.stdout


def _raw_digits_model(path, **save_kwargs):
    """An 8x8 model as `train --scaling none` on a file records it (config, no input layer)."""
    net = dp.mlp([64, 12, 10], seed=0, dtype="float64")
    dp.save(net, path, class_names=[str(i) for i in range(10)],
            extra={"config": {"dataset": "digits.csv", "scaling": "none"}, "dataset": "digits.csv"}, **save_kwargs)
    return path


def test_a_file_without_the_range_keeps_the_old_behaviour(tmp_path):
    """dp.save without input_range writes no such entry (the network keeps no record of its
    data, so nothing is guessed), and such a file, as any older one, still says its levels
    are assumed 0..255."""
    path = _raw_digits_model(tmp_path / "m.safetensors")
    mf = read_model(path)
    assert "input_range" not in mf.metadata and mf.input_range is None
    assert not levels_recorded(mf) and model_levels_top(mf, 8) == 255.0
    r = run_cli("predict", path, _seven(tmp_path / "seven.png"))
    assert r.returncode == 0 and "does not record the range" in r.stderr


def test_save_records_a_range_it_is_given(tmp_path):
    path = _raw_digits_model(tmp_path / "m.safetensors", input_range=(np.int64(0), np.float32(16)))
    mf = read_model(path)
    assert mf.input_range == (0.0, 16.0) and levels_recorded(mf) and model_levels_top(mf, 8) == 16.0
    assert dp.serialization.input_range_of(np.array([[3, 0], [16, 5]], dtype=np.uint8)) == (0.0, 16.0)


def test_a_range_below_zero_says_no_image_levels(tmp_path):
    """Inputs that ran over [-1, 1] give no top an image's 0 (black) stays 0 under: the levels
    are not taken as known, as before."""
    mf = read_model(_raw_digits_model(tmp_path / "m.safetensors", input_range=(-1.0, 1.0)))
    assert mf.input_range == (-1.0, 1.0) and not levels_recorded(mf) and model_levels_top(mf, 8) == 255.0


def test_a_scaling_layer_s_full_scale_wins_over_the_range(tmp_path):
    """÷255 says what a white pixel is, even where no training pixel reached 255."""
    net = dp.mlp([784, 8, 10], seed=0)
    dp.save(net, tmp_path / "m.safetensors", input_scaling={"kind": "unit", "max": 255}, input_range=(0, 250))
    mf = read_model(tmp_path / "m.safetensors")
    assert mf.input_range == (0.0, 250.0) and model_levels_top(mf, 28) == 255.0


@pytest.mark.parametrize("bad", [(16, 0), (0, float("nan")), (0, float("inf")), (0,), "ab", 16, (True, 1),
                                 (0, 10 ** 400)])
def test_save_refuses_a_range_that_is_no_pair_of_finite_numbers(tmp_path, bad):
    with pytest.raises(ConfigError, match="input_range"):
        _raw_digits_model(tmp_path / "m.safetensors", input_range=bad)
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("value, problem", [
    ('{"min": 0}', "exactly min and max"),
    ("[0, 16]", "exactly min and max"),
    ('{"min": 0, "max": 16, "top": 16}', "exactly min and max"),
    ('{"min": 0, "max": "16"}', "max must be a finite number"),
    ('{"min": true, "max": 16}', "min must be a finite number"),
    ('{"min": 0, "max": NaN}', "max must be a finite number"),
    ('{"min": 0, "max": 1e999}', "max must be a finite number"),
    ('{"min": 16, "max": 0}', "min 16 is above max 0"),
    ("null", "exactly min and max"),
])
def test_a_malformed_range_in_a_file_is_refused(tmp_path, value, problem):
    good = _raw_digits_model(tmp_path / "m.safetensors", input_range=(0, 16))
    bad = edit_metadata(good, tmp_path / "bad.safetensors", lambda meta: meta.__setitem__("input_range", value))
    with pytest.raises(ModelFileError, match="metadata 'input_range'") as caught:
        read_model(bad)
    assert problem in str(caught.value) and str(bad) in str(caught.value)
    r = run_cli("predict", bad, _seven(tmp_path / "seven.png"))
    assert r.returncode != 0 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "input_range" in lines[0] and problem in lines[0], r.stderr


def test_a_range_that_is_no_json_is_refused(tmp_path):
    good = _raw_digits_model(tmp_path / "m.safetensors", input_range=(0, 16))
    bad = edit_metadata(good, tmp_path / "bad.safetensors", lambda meta: meta.__setitem__("input_range", "{min: 0"))
    with pytest.raises(ModelFileError, match="input_range"):
        read_model(bad)
