"""Bad input through the real command: one line on stderr, exit 2 for usage and
configuration, 1 otherwise, no traceback, nothing lost."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli as cli
from file_size_limit import limited
from deltaprop import serialization as S

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--batch-size", "16"]


def process(*args, **popen):
    """`python -m deltaprop.cli ARGS` in a process of its own (the other tests run it in this one)."""
    return subprocess.run([sys.executable, "-m", "deltaprop.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, **popen)


def fails(res, code: int, *fragments: str) -> str:
    err = res.stderr
    assert res.returncode == code, (res.returncode, err, res.stdout)
    assert "Traceback" not in err and "Traceback" not in res.stdout
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("deltaprop"), err
    for f in fragments:
        assert f in err, (f, err)
    return err


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "model.safetensors"
    dp.save(dp.mlp([784, 8, 10], seed=0), path, class_names=[str(i) for i in range(10)],
            input_scaling={"kind": "unit", "max": 255})
    return path


def _bad_model(tmp_path, content: bytes, name="bad.safetensors"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


# -- files ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_missing_file(tmp_path):
    fails(process("info", tmp_path / "nope.safetensors"), 1, "no such file")


@pytest.mark.slow
def test_folder_where_a_file_is_expected(tmp_path, model):
    fails(cli("info", tmp_path), 1, "is a folder")
    fails(cli("predict", model, tmp_path), 1, "folder")


def test_empty_file(tmp_path):
    fails(cli("info", _bad_model(tmp_path, b"")), 1, "empty")


def test_truncated_model(tmp_path, model):
    fails(cli("info", _bad_model(tmp_path, model.read_bytes()[:-100])), 1, "truncated")


def test_bit_flipped_model(tmp_path, model):
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x04
    fails(cli("evaluate", _bad_model(tmp_path, bytes(data)), "--dataset", "mnist-sample"), 1, "SHA-256")


def test_pickle_renamed(tmp_path):
    fails(cli("info", _bad_model(tmp_path, pickle.dumps({"w": np.zeros(3)}))), 1, "pickle")


def test_npy_renamed(tmp_path):
    with open(tmp_path / "x.npy", "wb") as f:
        np.save(f, np.zeros((784, 8), np.float32))
    os.replace(tmp_path / "x.npy", tmp_path / "x.safetensors")
    fails(cli("info", tmp_path / "x.safetensors"), 1, ".npy")


def test_shapes_that_do_not_match_the_architecture(tmp_path):
    net = dp.mlp([784, 8, 10], seed=0)
    t = {n: p.value for n, p in net.named_parameters()}
    t["layers.2.W"] = np.zeros((10, 8), np.float32)
    _, meta, _ = S._model_parts(net, None, None, None)
    fails(cli("info", _bad_model(tmp_path, S._encode(t, meta, list(t)))), 1, "shape [10, 8]")


def test_unknown_layer_type(tmp_path):
    net = dp.mlp([784, 8, 10], seed=0)
    t = {n: p.value for n, p in net.named_parameters()}
    _, meta, _ = S._model_parts(net, None, None, None)
    arch = net.config()
    arch["layers"][1]["type"] = "Swish"
    meta["architecture"] = json.dumps(arch)
    fails(cli("info", _bad_model(tmp_path, S._encode(t, meta, list(t)))), 1, "unknown type 'Swish'")


def test_image_that_cannot_be_decoded(tmp_path, model):
    (tmp_path / "digit.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    fails(cli("predict", model, tmp_path / "digit.png"), 1, "cannot decode")


def test_input_with_the_wrong_number_of_features(tmp_path, model):
    np.save(tmp_path / "row.npy", np.zeros(783, np.uint8))
    fails(cli("predict", model, tmp_path / "row.npy"), 1, "783 features", "784")


def test_pickled_object_array_is_not_loaded(tmp_path, model):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    fails(cli("predict", model, tmp_path / "obj.npy"), 1, "obj.npy", "pickle, which is never used")


def test_missing_dataset_file(tmp_path):
    fails(cli("train", "--dataset", tmp_path / "nope.npz", "--out", tmp_path / "r"), 1, "no such file")


# -- options --------------------------------------------------------------------------------------
def test_layers_that_do_not_match_the_dataset(tmp_path):
    fails(cli("train", "--dataset", "parity", "--layers", "784,10,2", "--out", tmp_path / "r"), 1, "784", "10 features")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--lr", "0"], "lr must be > 0"), (["--lr", "-0.1"], "lr must be > 0"), (["--batch-size", "0"], "batch_size must be >= 1"),
    (["--epochs", "-3"], "epochs must be >= 1"), (["--optimizer", "sgdd"], "unknown optimizer 'sgdd'"),
    (["--activation", "swish"], "unknown activation 'swish'"), (["--bogus"], "unrecognized arguments"),
])
def test_bad_options(tmp_path, args, fragment):
    fails(cli("train", *PARITY, *args, "--out", tmp_path / "r"), 2, fragment)
    assert not (tmp_path / "r").exists()


# every option x value pair is checked in-process in test_config.py; here each option once
@pytest.mark.parametrize("option, value", [("--lr", "nan"), ("--momentum", "inf"), ("--weight-decay", "1e999"),
                                           ("--dropout", "nan"), ("--validation-split", "inf"), ("--epochs", "1e999")])
def test_non_finite_numbers(tmp_path, option, value):
    fails(cli("train", *PARITY, option, value, "--out", tmp_path / "r"), 2, "finite")


@pytest.mark.parametrize("option", ["--tolerance", "--examples"])
def test_non_finite_numbers_in_other_commands(option):
    fails(cli("gradcheck", option, "nan"), 2, "finite")


def test_toml_syntax_error(tmp_path):
    (tmp_path / "c.toml").write_text("lr = 0.1\nepochs = [\n")
    fails(cli("train", "--config", tmp_path / "c.toml", "--out", tmp_path / "r"), 2, "TOML syntax error", "c.toml")


def test_toml_unknown_key(tmp_path):
    (tmp_path / "c.toml").write_text("lr = 0.1\nbatchsize = 20\n")
    fails(cli("train", "--config", tmp_path / "c.toml", "--out", tmp_path / "r"), 2, "unknown key 'batchsize'", "batch_size")


@pytest.mark.parametrize("value", ["nan", "inf", "1e999"])
def test_toml_non_finite(tmp_path, value):
    (tmp_path / "c.toml").write_text(f"lr = {value}\n")
    fails(cli("train", "--config", tmp_path / "c.toml", "--out", tmp_path / "r"), 2, "lr must be a finite number")


def test_resume_refuses_changed_options(tmp_path):
    fails(cli("train", "--resume", tmp_path, "--lr", "0.1"), 2, "--lr")


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_unknown_command():
    fails(process("fly"), 2, "invalid choice")


# -- training and the disk -----------------------------------------------------------------------
def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "r"
    res = cli("train", "--dataset", "parity", "--layers", "10,8,2", "--activation", "relu", "--output-activation", "identity",
              "--loss", "mse", "--lr", "2", "--epochs", "30", "--out", out)
    err = fails(res, 1, "diverged at epoch 2, step", "last checkpoint (epoch 1)", "train again from fresh weights")
    assert "lower --lr" in err
    ck = S.load_checkpoint(out / "checkpoint.safetensors")
    assert ck.epoch == 1 and all(np.isfinite(p.value).all() for p in ck.net.parameters())
    assert not (out / "model.safetensors").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="permission bits do not bind the superuser; see the next test")
def test_read_only_output_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    folder.chmod(0o555)
    try:
        fails(cli("train", *PARITY, "--epochs", "1", "--out", folder / "run"), 1, "ro")
        assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    finally:
        folder.chmod(0o755)


def test_output_folder_that_cannot_be_created(tmp_path):
    # A path whose parent is a regular file cannot be created by any user, the superuser
    # included, for whom a read-only folder is still writable.
    (tmp_path / "file").write_text("x")
    fails(cli("train", *PARITY, "--epochs", "1", "--out", tmp_path / "file" / "run"), 1, "file")
    assert (tmp_path / "file").read_text() == "x"


def test_output_path_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    fails(cli("train", *PARITY, "--epochs", "1", "--out", tmp_path / "file"), 1, "not a folder")


@pytest.mark.slow
def test_disk_full_mid_write_keeps_the_previous_checkpoint(tmp_path):
    out = tmp_path / "r"
    assert cli("train", *PARITY, "--epochs", "2", "--quiet", "--out", out).returncode == 0
    ckpt = out / "checkpoint.safetensors"
    before = ckpt.read_bytes()
    # resuming writes config.toml (small) and then a bigger checkpoint, which hits the limit
    res = process("train", "--resume", out, "--epochs", "4", **limited(len(before) - 1))
    fails(res, 1, "File too large")
    assert ckpt.read_bytes() == before
    assert S.load_checkpoint(ckpt).epoch == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(["checkpoint.safetensors", "config.toml", "history.csv",
                                                            "history.png", "model.safetensors", "diagnostics.csv",
                                                            "alerts.csv", "run.json", "evaluation.json", "report.html"])


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_disk_full_when_saving_the_model(tmp_path, model):
    target = tmp_path / "model.safetensors"
    target.write_bytes(model.read_bytes())
    code = ("import deltaprop as dp, sys; dp.save(dp.mlp([784, 64, 10], seed=1), sys.argv[1])")
    res = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                         **limited(model.stat().st_size))
    assert res.returncode == 1 and "File too large" in res.stderr
    assert target.read_bytes() == model.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.slow
def test_a_closed_pipe_is_not_an_error(tmp_path):
    run = tmp_path / "run"
    assert cli("train", "--dataset", "parity", "--epochs", "1", "--quiet", "--out", run).returncode == 0
    rows = tmp_path / "rows.npy"
    np.save(rows, np.random.default_rng(0).integers(0, 2, (20000, 10)).astype(np.float32))
    # 20,000 lines of predictions: far more than a pipe holds, so writes fail once the reader is gone
    proc = subprocess.Popen([sys.executable, "-m", "deltaprop.cli", "predict", str(run / "model.safetensors"), str(rows)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()  # the reader goes away, like `| head -c1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err  # as if killed by SIGPIPE, like other tools
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.slow
def test_npy_input_declaring_a_huge_shape_is_refused_before_loading(tmp_path):
    run = tmp_path / "run"
    assert cli("train", "--dataset", "parity", "--epochs", "1", "--quiet", "--out", run).returncode == 0
    bad = tmp_path / "huge.npy"
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 10), }"
    header += " " * (118 - len(header)) + "\n"
    bad.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 40)
    res = cli("predict", run / "model.safetensors", bad)
    fails(res, 1, "huge.npy")
    assert "memory" not in res.stderr.lower()


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_missing_mnist_offline_is_short_and_in_command_line_terms(tmp_path):
    # A fresh process (no test logging installed) whose MNIST mirrors are closed ports on
    # this machine: every download fails at once, as offline.
    script = (
        "import sys\n"
        "from deltaprop.data import MNIST_MIRRORS\n"
        "MNIST_MIRRORS[:] = ['http://127.0.0.1:9/a/', 'http://127.0.0.1:9/b/']\n"
        "from deltaprop.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DELTAPROP_DATA"}
    res = subprocess.run([sys.executable, "-c", script, "train", "--dataset", "mnist",
                          "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120,
                         env={**env, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    if res.returncode == 0:
        pytest.skip("MNIST is installed on this machine, so nothing is missing")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr  # one line, as every error: the download's failure in it
    assert "train-images-idx3-ubyte" in lines[0] and "--data-dir FOLDER" in res.stderr and "--dataset mnist-sample" in res.stderr
    assert "data_dir=" not in res.stderr and "load(" not in res.stderr


def test_divergence_in_an_epochs_last_update_is_reported_as_divergence(tmp_path):
    # full batch: each epoch is one update, so the overflow shows in the weights, not a loss
    res = cli("train", "--dataset", "parity", "--batch-size", "full", "--lr", "1e39", "--out", tmp_path / "run")
    fails(res, 1, "diverged at epoch 1")
    assert "refusing to save" not in res.stderr


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_unknown_kernel_backend_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DELTAPROP_KERNELS", "gpu")
    fails(process("train", *PARITY, "--epochs", "1", "--out", tmp_path / "run"), 2, "DELTAPROP_KERNELS", "numpy")
    assert not (tmp_path / "run" / "model.safetensors").exists()
