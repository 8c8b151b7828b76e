"""An image given where a data set is wanted points to predict and to an .npz of images."""

import numpy as np

import deltaprop as dp
from cli_in_process import run_cli


def _image(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "seven.png")
    return tmp_path / "seven.png"


def test_an_image_to_train_on_is_told_to_go_to_predict(tmp_path):
    res = run_cli("train", "--dataset", _image(tmp_path), "--out", tmp_path / "r", "-q")
    assert res.returncode == 2
    assert "deltaprop predict MODEL seven.png" in res.stderr and "np.savez('data.npz', x=images" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_an_image_to_evaluate_on_is_told_to_go_to_predict(tmp_path):
    model = dp.save(dp.mlp([784, 5, 10], seed=0), tmp_path / "m.safetensors")
    res = run_cli("evaluate", model, "--dataset", _image(tmp_path))
    assert res.returncode != 0 and "deltaprop predict MODEL seven.png" in res.stderr, res.stderr
