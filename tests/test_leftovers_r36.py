"""What users met in CSV files with quoted names or trailing separators, predict's notes and
refusals, MNIST missing offline, --serve on a taken port, a bad DELTAPROP_BLAS_UPDATES, and
full batches or one sigmoid a class where their equivalents were accepted."""

from __future__ import annotations

import socket

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop.config import TrainConfig
from deltaprop.errors import ConfigError, DataError, FileFormatError


def _write(path, text: str):
    path.write_text(text)
    return path


def _one_line_error(res) -> str:
    assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


# -- CSV: quoted names, trailing separators ---------------------------------------------------------
def test_a_semicolon_header_with_a_quoted_name_holding_a_comma_is_read_as_semicolon_separated(tmp_path):
    rows = "".join(f"{1.5 + i};{20 + i};{i % 2}\n" for i in range(6))
    path = _write(tmp_path / "d.csv", '"income, USD";age;label\n' + rows)
    x, y = dp.data.load_arrays(path)
    assert x.shape == (6, 2) and y.tolist() == [0, 1, 0, 1, 0, 1]
    np.testing.assert_allclose(x[:, 0], 1.5 + np.arange(6))


@pytest.mark.parametrize("text, where", [
    ("a,b,label,\n1,2,0,\n3,4,1,\n5,6,0,\n", "the header ends with a comma"),  # every line
    ("a,b,label,\n1,2,0\n3,4,1\n5,6,0\n", "the header ends with a comma"),  # the header only
    ("a,b,label\n1,2,0,\n3,4,1,\n5,6,0,\n", "line 2 ends with a comma"),  # the rows only
    ("1.5,2,0,\n3.5,4,1,\n5.5,6,0,\n", "line 1 ends with a comma"),  # no header
    ("a;b;label;\n1;2;0;\n3;4;1;\n", "the header ends with a semicolon"),
])
def test_a_trailing_separator_is_named_with_its_fix(tmp_path, text, where):
    path = _write(tmp_path / "d.csv", text)
    with pytest.raises((DataError, FileFormatError)) as caught:
        dp.data.load_arrays(path)
    message = str(caught.value)
    sep = "semicolon" if ";" in text else "comma"
    assert where in message and f"remove the {sep} at the end of every line" in message, message
    fixed = _write(tmp_path / "fixed.csv", "".join(line.rstrip(",;") + "\n" for line in text.splitlines()))
    x, y = dp.data.load_arrays(fixed)  # the fix given works
    assert x.shape[1] == 2 and len(y) == len(x)


def test_an_empty_label_at_a_lines_end_is_still_a_missing_label(tmp_path):
    path = _write(tmp_path / "d.csv", "a,b,label\n1,2,\n3,4,1\n")
    with pytest.raises(FileFormatError, match="a missing label"):
        dp.data.load_arrays(path)


# -- predict ------------------------------------------------------------------------------------------
def _png(path, side=40):
    from PIL import Image

    pixels = np.zeros((side, side), dtype=np.uint8)
    pixels[10:30, 12:28] = 200
    Image.fromarray(pixels).save(path)
    return path


def test_predict_says_images_are_enlarged_for_a_model_larger_than_28x28(tmp_path):
    model = dp.save(dp.mlp([32 * 32, 3], seed=0), tmp_path / "m.safetensors", input_range=(0.0, 255.0))
    res = run_cli("predict", model, _png(tmp_path / "a.png"), "--images", "fashion")
    assert res.returncode == 0, res.stderr
    assert "then enlarged to this model's 32x32" in res.stderr and "reduced" not in res.stderr, res.stderr


def test_predict_on_a_csv_suggests_evaluate_with_the_model_given(tmp_path):
    model = dp.save(dp.mlp([2, 2], seed=0), tmp_path / "my model.safetensors")
    data = _write(tmp_path / "d.csv", "a,b,label\n1,2,0\n3,4,1\n")
    result = run_cli("predict", model, data)  # its rows are classified, the label column left out
    assert result.returncode == 0, result.stderr
    assert f"deltaprop evaluate '{model}' --dataset {data}" in result.stderr and "MODEL" not in result.stderr


# -- MNIST missing offline ----------------------------------------------------------------------------
def test_mnist_missing_offline_is_one_line_keeping_the_download_failure(tmp_path, monkeypatch):
    from deltaprop.data import MNIST_MIRRORS

    monkeypatch.delenv("DELTAPROP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("deltaprop.data.mnist.MNIST_MIRRORS", MNIST_MIRRORS)  # restored after the test
    kept = list(MNIST_MIRRORS)
    MNIST_MIRRORS[:] = ["http://127.0.0.1:9/a/"]  # a closed port: the download fails at once
    try:
        res = run_cli("train", "--dataset", "mnist", "--out", tmp_path / "run")
    finally:
        MNIST_MIRRORS[:] = kept
    if res.returncode == 0:
        pytest.skip("MNIST is installed on this machine, so nothing is missing")
    line = _one_line_error(res)
    assert "could not be downloaded" in line and "127.0.0.1:9/a/" in line, line
    assert "--data-dir FOLDER" in line and "--dataset mnist-sample" in line, line


# -- train --serve on a taken port ----------------------------------------------------------------------
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_serve_on_a_taken_port_leaves_the_new_folder_as_it_found_it(tmp_path):
    out = tmp_path / "run"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run_cli("train", "--dataset", "parity", "--epochs", "1", "-q", "--serve", port, "--out", out)
    line = _one_line_error(res)
    assert f"port {port} is in use" in line and "--overwrite" not in line, line
    assert not (out / "config.toml").exists()
    again = run_cli("train", "--dataset", "parity", "--epochs", "1", "-q", "--out", out)  # no --overwrite needed
    assert again.returncode == 0, again.stderr


# -- DELTAPROP_BLAS_UPDATES -------------------------------------------------------------------------------
def test_a_bad_blas_updates_value_is_refused_before_training_starts(tmp_path):
    res = run_cli("train", "--dataset", "parity", "--epochs", "1", "--out", tmp_path / "run",
                  env={"DELTAPROP_BLAS_UPDATES": "bogus"})
    line = _one_line_error(res)
    assert "DELTAPROP_BLAS_UPDATES='bogus'" in line and "training on" not in res.stdout, res.stdout
    assert not (tmp_path / "run").exists()


def test_a_bad_blas_updates_value_is_refused_when_compiled_kernels_make_the_updates(monkeypatch):
    def compiled_sgd(w, g, v, lr, momentum, nesterov):  # as numba's kernels: the update done, BLAS never asked
        w -= lr * g
        return v is None

    monkeypatch.setattr(dp.kernels, "sgd", compiled_sgd)
    monkeypatch.setenv("DELTAPROP_BLAS_UPDATES", "bogus")
    X, y = np.random.default_rng(0).standard_normal((8, 3)), np.arange(8) % 2
    with pytest.raises(ConfigError, match="DELTAPROP_BLAS_UPDATES"):
        dp.fit(dp.mlp([3, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1)


# -- full batch with ordered batchings; one sigmoid a class ---------------------------------------------
@pytest.mark.parametrize("batching", ["sequential", "sliding"])
def test_full_batch_trains_as_a_batch_of_every_row_in_any_batching(batching):
    assert TrainConfig.from_mapping({"batching": batching, "batch_size": "full"}).batch_size == "full"
    X, y = np.random.default_rng(0).standard_normal((12, 3)), np.arange(12) % 2
    nets = [dp.mlp([3, 4, 2], seed=0) for _ in range(2)]
    for net, size in zip(nets, (None, 1000)):
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=3, batch_size=size,
               batching=batching, seed=1)
    for full, large in zip(*(net.parameters() for net in nets)):
        np.testing.assert_array_equal(full.value, large.value)


@pytest.mark.slow  # about a second
def test_cli_full_batch_with_sequential_batching_trains_as_a_larger_batch_does(tmp_path):
    models = []
    for name, size in (("full", "full"), ("large", "100000")):
        res = run_cli("train", "--dataset", "parity", "--epochs", "2", "-q", "--batching", "sequential",
                      "--batch-size", size, "--out", tmp_path / name)
        assert res.returncode == 0, res.stderr
        models.append(dp.load(tmp_path / name / "model.safetensors"))
    for full, large in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_array_equal(full.value, large.value)


def _three_classes(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    x = rng.standard_normal((60, 2)) + 3 * y[:, None]
    return _write(tmp_path / "three.csv", "a,b,label\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(x, y)))


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_binary_cross_entropy_with_one_sigmoid_a_class_trains_for_three_classes_as_for_two(tmp_path):
    data = _three_classes(tmp_path)
    common = ("--loss", "binary_cross_entropy", "--output-activation", "sigmoid", "--epochs", "2", "-q")
    two = run_cli("train", "--dataset", "parity", "--layers", "10,8,2", *common, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    default = run_cli("train", "--dataset", data, *common, "--out", tmp_path / "default")
    assert default.returncode == 0, default.stderr  # without --layers: one sigmoid a class, as the layers below
    assert dp.load(tmp_path / "default" / "model.safetensors").n_outputs == 3
    res = run_cli("train", "--dataset", data, "--layers", "2,50,3", *common, "--out", tmp_path / "three")
    assert res.returncode == 0, res.stderr
    assert dp.load(tmp_path / "three" / "model.safetensors").n_outputs == 3
