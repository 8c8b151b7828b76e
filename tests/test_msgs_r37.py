"""Messages a user acts on: install advice that installs something, refusals made before
anything is written, and notes that say the right thing about the right rows."""

from __future__ import annotations

import dataclasses
import json
import re
import sys

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop.data import load_arrays, train_validation_split
from deltaprop.errors import ConfigError, FileFormatError


def _installs_something(message: str, packages: str, extra: str) -> None:
    """deltaprop is on no package index (README): advice names the packages themselves, and
    the extra as installed from a checkout, never pip install "deltaprop[extra]"."""
    assert "deltaprop[" not in message, message
    assert f"pip install {packages}" in message and f"uv sync --extra {extra}" in message, message
    assert f'pip install ".[{extra}]"' in message, message


# -- 1. install advice ---------------------------------------------------------------------------
def test_numba_kernels_asked_for_without_numba_name_numba(monkeypatch):
    from deltaprop import kernels

    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_import_failed", False)
    with pytest.raises(ConfigError) as caught, kernels.use("numba"):
        kernels._kernels()
    _installs_something(str(caught.value), "numba", "numba")


def test_onnx_export_without_onnx_names_onnx_and_onnxruntime(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    net = dp.mlp([3, 4, 2], seed=0)
    with pytest.raises(dp.MissingDependencyError) as caught:
        dp.export_onnx(net, tmp_path / "m.onnx")
    _installs_something(str(caught.value), "onnx onnxruntime", "onnx")


def test_onnx_export_without_onnxruntime_says_how_to_get_the_check(monkeypatch, tmp_path):
    pytest.importorskip("onnx", reason="onnx is not installed (the dev group has it)")
    dp.save(dp.mlp([3, 4, 2], seed=0), tmp_path / "model.safetensors", class_names=["a", "b"])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    res = run_cli("export", tmp_path / "model.safetensors", "--format", "onnx")
    assert res.returncode == 0, res.stderr
    assert "not checked: onnxruntime is not installed (pip install onnxruntime, or uv sync --extra onnx" in res.stdout
    assert "deltaprop[" not in res.stdout


def test_mpiexec_without_mpi4py_names_mpi4py(monkeypatch):
    from deltaprop import distributed

    monkeypatch.setattr(distributed, "launched_size", lambda: 2)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ConfigError) as caught:
        distributed.world()
    _installs_something(str(caught.value), "mpi4py", "mpi")


# -- 2. a sweep without Dask: refused before it is announced or its folder made ------------------
def test_sweep_without_dask_is_refused_before_any_folder_or_announcement(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    res = run_cli("sweep", "--grid", "lr=0.1,0.2", cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == "", res.stdout
    line, = res.stderr.splitlines()
    assert line.startswith("deltaprop: error: deltaprop sweep needs Dask distributed")
    _installs_something(line, '"dask[distributed]"', "sweep")
    assert list(tmp_path.iterdir()) == []  # no runs/sweep-DATE folder left behind
    out = tmp_path / "mine"
    assert run_cli("sweep", "--grid", "lr=0.1,0.2", "--out", out, cwd=tmp_path).returncode == 2
    assert not out.exists()


# -- 3. --data-dir without the files names the copy that leaving it out would use ----------------
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def test_an_empty_data_dir_names_the_system_copy_that_would_be_used(monkeypatch, tmp_path, private_data_env):
    from deltaprop import cli
    from deltaprop.data import mnist

    system = tmp_path / "usr-share-datasets" / "fashion-mnist"  # as Debian's dataset-fashion-mnist installs it
    system.mkdir(parents=True)
    for name in IDX_NAMES:
        (system / name).write_bytes(b"")
    monkeypatch.setattr(cli, "FASHION_MNIST", dataclasses.replace(mnist.FASHION_MNIST, system_dirs=(str(system),)))
    (tmp_path / "empty").mkdir()
    res = run_cli("train", "--dataset", "fashion-mnist", "--data-dir", tmp_path / "empty", "--out", tmp_path / "r")
    assert res.returncode == 1, res.stderr
    line, = res.stderr.splitlines()
    assert f"--data-dir {tmp_path / 'empty'} does not hold the fashion-mnist files" in line
    assert line.endswith(f"leave out --data-dir to use the system's copy in {system}"), line
    assert "cache" not in line


def test_an_empty_data_dir_names_the_deltaprop_data_copy(tmp_path, private_data_env):
    elsewhere = tmp_path / "elsewhere" / "mnist"
    elsewhere.mkdir(parents=True)
    for name in IDX_NAMES:
        (elsewhere / name).write_bytes(b"")
    (tmp_path / "empty").mkdir()
    res = run_cli("train", "--dataset", "mnist", "--data-dir", tmp_path / "empty", "--out", tmp_path / "r",
                  env={"DELTAPROP_DATA": str(tmp_path / "elsewhere")})
    assert res.returncode == 1
    assert res.stderr.rstrip().endswith(f"leave out --data-dir to use the copy in {elsewhere}"), res.stderr


# -- 4. evaluate on another file: one note, about the rows the model trained on -----------------
def _write(path, table: np.ndarray) -> str:
    lines = ["a,b,c,label"] + [",".join(f"{v:.4g}" for v in row[:-1]) + f",{int(row[-1])}" for row in table]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _rows_in(rows: np.ndarray, seen: np.ndarray) -> int:
    return sum(any(np.array_equal(r, s) for s in seen) for r in rows)


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_evaluate_split_test_of_another_file_says_only_which_rows_the_model_trained_on(tmp_path):
    rng = np.random.default_rng(5)
    y = np.arange(40) % 2
    x = np.round(rng.normal(size=(40, 3)) + y[:, None], 2)
    table = np.column_stack([np.r_[x, x], np.r_[y, y]])  # every row twice: duplicates, as a user's file may hold
    train = _write(tmp_path / "train.csv", table)
    assert run_cli("train", "--dataset", train, "--out", tmp_path / "run", "--epochs", "1", "-q",
                   "--seed", "0").returncode == 0
    shuffled = table[np.random.default_rng(7).permutation(len(table))]
    copy = _write(tmp_path / "copy.csv", shuffled)
    own_x, own_y = train_validation_split(shuffled[:, :3], shuffled[:, 3].astype(int), 0.2, seed=0)[:2]
    test_x = train_validation_split(shuffled[:, :3], shuffled[:, 3].astype(int), 0.2, seed=0)[2]
    assert _rows_in(test_x, own_x) > 0  # the copy's own test rows repeat its own train rows: the note the old code gave
    x_tr, y_tr = train_validation_split(table[:, :3], table[:, 3].astype(int), 0.2, seed=0)[:2]
    fit_x = train_validation_split(x_tr, y_tr, 0.1, seed=0)[0]

    res = run_cli("evaluate", tmp_path / "run", "--dataset", copy, "--split", "test")
    assert res.returncode == 0, res.stderr
    assert "repeat a training row's features" not in res.stderr, res.stderr  # that split was never trained on
    notes = [line for line in res.stderr.splitlines() if line.startswith("note: ") and "repeat" in line]
    assert len(notes) == 1, res.stderr
    said = re.match(r"note: (\d+) of the (\d+) test rows of \S+ repeat the features of a row the model trained on",
                    notes[0])
    assert said is not None and (int(said[1]), int(said[2])) == (_rows_in(test_x, fit_x), len(test_x)), notes[0]


# -- 5. plot weights of a checkpoint taken inside an epoch -----------------------------------------
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_plot_weights_of_a_mid_epoch_checkpoint_says_how_far_into_the_epoch(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "--dataset", "parity", "--epochs", "3", "--steps", "5", "--out", run, "-q").returncode == 0
    kept = json.loads((run / "run.json").read_text())["model_weights"]  # what info says of the run's model
    assert kept["batches"] < kept["epoch_batches"]
    res = run_cli("plot", "weights", run / "checkpoint.safetensors", "-o", tmp_path / "w.png")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith(
        f"; weights: epoch {kept['epoch']}, partial: {kept['batches']} of its {kept['epoch_batches']} batches "
        f"(the checkpoint, step {kept['batches']})"), res.stdout
    assert "unfinished of" not in res.stdout


# -- 6. .npz archives and the learning rate --------------------------------------------------------
def test_an_archive_of_a_test_set_alone_is_read(tmp_path):
    x, y = np.arange(24.0).reshape(12, 2), np.arange(12) % 3
    np.savez(tmp_path / "test.npz", x_test=x, y_test=y)
    got_x, got_y = load_arrays(tmp_path / "test.npz")
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    np.savez(tmp_path / "keras.npz", x_train=x, y_train=y, x_test=x[:3] + 100, y_test=y[:3])
    with pytest.warns(UserWarning, match="the arrays 'x_test', 'y_test' are not read"):
        np.testing.assert_array_equal(load_arrays(tmp_path / "keras.npz")[0], x)  # the training pair, as before


def test_npz_refusals_name_the_option_a_command_line_user_gives(tmp_path):
    np.savez(tmp_path / "three.npz", a=np.zeros((4, 2)), b=np.zeros(4), c=np.zeros(4))
    with pytest.raises(FileFormatError, match=r"name the labels array with --label-column NAME \(label_column= in"):
        load_arrays(tmp_path / "three.npz")
    with pytest.raises(ConfigError, match=r"--label-column for an \.npz names its labels array \(label_column= in"):
        load_arrays(tmp_path / "three.npz", label_column="labels")
    res = run_cli("train", "--dataset", tmp_path / "three.npz", "--label-column", "labels", "--out", tmp_path / "r")
    assert res.returncode != 0 and "--label-column for an .npz" in res.stderr, res.stderr


@pytest.mark.parametrize("make, example", [(lambda: dp.SGD(lr=0), "SGD(lr=0.01)"), (lambda: dp.Adam(lr=-1), "Adam(lr=0.001)")])
def test_a_learning_rate_that_is_not_positive_says_what_to_give(make, example):
    with pytest.raises(ConfigError) as caught:
        make()
    message = str(caught.value)
    assert message.startswith("lr must be > 0, got ") and "positive number" in message and f"e.g. {example}" in message
