"""The command line end to end: the default run, evaluate, predict, plot, info, gradcheck,
JSON logs, config files, exact resume and Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.serialization import load_checkpoint, read_model

RUN_FILES = {"model.safetensors", "checkpoint.safetensors", "history.csv", "history.png", "config.toml"}
PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "16"]


def _cli(*args, cwd=None, **kw):
    return subprocess.run([sys.executable, "-m", "deltaprop.cli", *args], cwd=cwd, capture_output=True, text=True, **kw)


def _is_png(path) -> bool:
    return Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The real default: `deltaprop train` with no arguments, in a fresh folder."""
    cwd = tmp_path_factory.mktemp("default")
    res = _cli("train", cwd=cwd, timeout=120)  # a guard against a hang, not a speed test (bench/ is)
    assert res.returncode == 0, res.stderr
    runs = list((cwd / "runs").iterdir())
    assert len(runs) == 1
    out = runs[0]
    assert f"wrote runs/{out.name}/" in res.stdout
    acc = float(re.search(r"test accuracy (\d\.\d+)", res.stdout).group(1))
    assert acc > 0.85
    return out


@pytest.mark.slow
def test_default_run_writes_the_five_files(run_dir):
    assert RUN_FILES <= {p.name for p in run_dir.iterdir()}
    assert _is_png(run_dir / "history.png")
    mf = read_model(run_dir / "model.safetensors")
    # the model owns its input scaling: raw pixels / 255 in its first layer
    assert [type(layer).__name__ for layer in mf.net.layers] == ["Rescaling", "Dense", "Sigmoid", "Dense", "Softmax"]
    assert mf.net.layers[0].scale == 1 / 255 and mf.input_scaling is None
    assert mf.net.n_features == 784 and mf.net.n_outputs == 10
    text = (run_dir / "config.toml").read_text()
    assert "layers = [784, 50, 10]" in text and "lr = 0.3" in text and "batch_size = 20" in text
    ck = load_checkpoint(run_dir / "checkpoint.safetensors")
    assert ck.epoch == 10 and len((run_dir / "history.csv").read_text().splitlines()) == 11


@pytest.mark.slow
def test_evaluate(run_dir, tmp_path, capsys):
    png = tmp_path / "cm.png"
    assert main(["evaluate", str(run_dir / "model.safetensors"), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    acc = float(re.search(r"accuracy (\d\.\d+)", out).group(1))
    assert acc > 0.85 and "precision" in out and "true\\pred" in out
    assert _is_png(png)


@pytest.mark.slow  # about a second
def test_predict_a_drawn_digit(run_dir, tmp_path, capsys):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (90, 120), "white")  # dark ink on light paper, any size
    ImageDraw.Draw(img).line([(47, 12), (43, 108)], fill="black", width=9)
    img.save(tmp_path / "one.png")
    assert main(["predict", str(run_dir / "model.safetensors"), str(tmp_path / "one.png")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("class 1 ")
    probs = [float(v) for v in re.findall(r": (\d\.\d+)", out)]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_predict_reads_images_in_the_style_of_the_models_data(run_dir, tmp_path, capsys):
    from types import SimpleNamespace

    from PIL import Image

    from deltaprop.cli import _image_style
    from deltaprop.data import load
    from deltaprop.images import load_image

    assert _image_style(SimpleNamespace(extra={"config": {"dataset": "fashion-mnist"}}), "auto") == "fashion"
    assert _image_style(SimpleNamespace(extra={"config": {"dataset": "mnist"}}), "auto") == "digit"
    assert _image_style(SimpleNamespace(extra={}), "auto") == "digit"  # a library file: MNIST's shape
    assert _image_style(SimpleNamespace(extra={"config": {"dataset": "a.csv"}}), "as-is") == "as-is"
    digit = load("mnist-sample").x_test[0]
    Image.fromarray(digit).save(tmp_path / "d.png")
    net = dp.load(run_dir / "model.safetensors")
    for style in ("digit", "as-is"):
        assert main(["predict", str(run_dir / "model.safetensors"), str(tmp_path / "d.png"), "--images", style]) == 0
        p = net.predict_proba(load_image(tmp_path / "d.png", style).reshape(1, 784).astype(np.float32))[0]
        assert f"{p.max():.4f}" in capsys.readouterr().out


@pytest.mark.slow
def test_predict_an_image_with_a_model_of_other_data_asks_how_it_was_made(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 784))
    rows = np.column_stack([x, np.arange(40) % 2])
    header = ",".join([f"p{i}" for i in range(784)] + ["label"])
    np.savetxt(tmp_path / "pix.csv", rows, fmt="%d", delimiter=",", header=header, comments="")
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(tmp_path / "pix.csv"), "--layers", "784,4,2", "--epochs", "1",
                 "--quiet", "--out", str(run)]) == 0
    Image.fromarray(x[0].reshape(28, 28).astype(np.uint8)).save(tmp_path / "x.png")
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "not on MNIST or Fashion-MNIST" in err and "--images as-is" in err
    assert main(["predict", str(run), str(tmp_path / "x.png"), "--images", "as-is"]) == 0
    assert capsys.readouterr().out.startswith("class ")


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_predict_npy_rows_apply_the_stored_scaling(run_dir, tmp_path, capsys):
    from deltaprop.data import load

    x = load("mnist-sample", flatten=True).x_test[:4]
    np.save(tmp_path / "rows.npy", x)
    assert main(["predict", str(run_dir / "model.safetensors"), str(tmp_path / "rows.npy"), "--top", "1"]) == 0
    got = [int(m) for m in re.findall(r"class (\d)", capsys.readouterr().out)]
    mf = read_model(run_dir / "model.safetensors")
    assert got == list(mf.net.predict(x))  # raw pixels: the model scales them itself
    assert got == list(dp.load(run_dir / "model.safetensors").predict(x))


@pytest.mark.slow
def test_info_and_plots(run_dir, tmp_path, capsys):
    assert main(["info", str(run_dir / "checkpoint.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "39,760 parameters" in out and "checkpoint: epoch 10, step 1800" in out and "x / 255" in out
    for args in (["history", str(run_dir)], ["weights", str(run_dir / "model.safetensors")],
                 ["samples", "--model", str(run_dir / "model.safetensors"), "-n", "9"]):
        png = tmp_path / f"{args[0]}.png"
        assert main(["plot", *args, "-o", str(png)]) == 0
        assert _is_png(png)


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
def test_no_subcommand_prints_help(capsys):
    assert main([]) == 0
    assert "train" in capsys.readouterr().out
    res = _cli()
    assert res.returncode == 0 and "usage: deltaprop" in res.stdout and not res.stderr


def test_gradcheck_table_and_exit_status(capsys):
    assert main(["gradcheck", "--layers", "3,4,2", "--activation", "tanh"]) == 0
    assert "layers.0.W" in capsys.readouterr().out
    assert main(["gradcheck", "--layers", "3,4,2", "--tolerance", "1e-300"]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.slow
def test_log_json_is_one_object_per_epoch(tmp_path, capsys):
    assert main(["train", *PARITY, "--epochs", "3", "--log-json", "--out", str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r.get("epoch") for r in records[:3]] == [1, 2, 3]
    assert all(r["loss"] > 0 and r["examples_per_second"] > 0 for r in records[:3])
    assert "test_accuracy" in records[3] and len(records) == 4


@pytest.mark.slow
def test_quiet_prints_only_the_summary(tmp_path, capsys):
    assert main(["train", *PARITY, "--epochs", "2", "--quiet", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("test accuracy")


@pytest.mark.slow
def test_config_file_with_flags_overriding(tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text('dataset = "parity"\nlayers = [10, 6, 2]\nepochs = 2\nlr = 0.9\n[schedule]\ntype = "step"\nstep_size = 1\n')
    out = tmp_path / "r"
    assert main(["train", "--config", str(toml), "--lr", "0.2", "--quiet", "--out", str(out)]) == 0
    import tomllib

    written = tomllib.loads((out / "config.toml").read_text())
    assert ((written["lr"], written["epochs"], written["layers"], written["schedule"])
            == (0.2, 2, [10, 6, 2], {"type": "step", "step_size": 1}))
    assert [r["lr"] for r in load_checkpoint(out / "checkpoint.safetensors").training["history"]] == [0.2, 0.1]
    # the written config reruns the same training
    assert main(["train", "--config", str(out / "config.toml"), "--quiet", "--out", str(tmp_path / "again")]) == 0
    _same_weights(out, tmp_path / "again")


def _same_weights(a: Path, b: Path, name="model.safetensors"):
    na, nb = dp.load(a / name), dp.load(b / name)
    for (ka, pa), (kb, pb) in zip(na.named_parameters(), nb.named_parameters()):
        assert ka == kb and np.array_equal(pa.value, pb.value)


def _history(path: Path):
    return [{k: v for k, v in r.items() if k != "seconds"}
            for r in load_checkpoint(path / "checkpoint.safetensors").training["history"]]


@pytest.mark.slow
def test_resume_is_exact(tmp_path):
    opts = [*PARITY, "--dropout", "0.2", "--momentum", "0.9", "--quiet"]
    assert main(["train", *opts, "--epochs", "5", "--out", str(tmp_path / "full")]) == 0
    assert main(["train", *opts, "--epochs", "2", "--out", str(tmp_path / "part")]) == 0
    assert main(["train", "--resume", str(tmp_path / "part"), "--epochs", "5", "--quiet"]) == 0
    _same_weights(tmp_path / "full", tmp_path / "part")
    _same_weights(tmp_path / "full", tmp_path / "part", "checkpoint.safetensors")
    assert _history(tmp_path / "full") == _history(tmp_path / "part")
    ck = load_checkpoint(tmp_path / "part" / "checkpoint.safetensors")
    assert ck.optimizer.state()["0.velocity"].any() and ck.epoch == 5


@pytest.mark.slow
def test_ctrl_c_keeps_the_last_epoch_and_resumes_exactly(tmp_path):
    run = tmp_path / "int"
    child = subprocess.Popen([sys.executable, "-m", "deltaprop.cli", "train", *PARITY, "--dropout", "0.1",
                              "--epochs", "100000", "--log-json", "--out", str(run)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        # The first epoch's line, then Ctrl-C: a few epochs in, before the checkpoint's first
        # timed write (every 5 s), so the interrupt itself must write it.
        assert child.stdout.readline().startswith("{")
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:  # a run of 100,000 epochs must not outlive a failed test
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130
    assert f"deltaprop train --resume {run}" in err and "Traceback" not in err
    k = load_checkpoint(run / "checkpoint.safetensors").epoch
    assert k >= 1
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert main(["train", "--resume", str(run), "--epochs", str(k + 2), "--quiet"]) == 0
    assert main(["train", *PARITY, "--dropout", "0.1", "--epochs", str(k + 2), "--quiet", "--out", str(tmp_path / "ref")]) == 0
    _same_weights(run, tmp_path / "ref")
    assert _history(run) == _history(tmp_path / "ref")


@pytest.mark.slow
def test_train_from_an_npz_file_and_evaluate_it(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(200, 16), dtype=np.uint8)
    y = (x[:, 0] > 127).astype(np.int64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = tmp_path / "r"
    assert main(["train", "--dataset", str(tmp_path / "d.npz"), "--epochs", "20", "--lr", "0.5", "--quiet",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.safetensors")]) == 0
    assert float(re.search(r"accuracy (\d\.\d+)", capsys.readouterr().out).group(1)) > 0.8


@pytest.mark.slow
def test_full_batch_steps_and_early_stopping(tmp_path):
    assert main(["train", *PARITY, "--batch-size", "full", "--steps", "7", "--quiet", "--out", str(tmp_path / "a")]) == 0
    assert load_checkpoint(tmp_path / "a" / "checkpoint.safetensors").step == 7
    rng = np.random.default_rng(1)  # random labels: the validation loss soon rises
    np.savez(tmp_path / "noise.npz", x=rng.integers(0, 256, (300, 8), dtype=np.uint8), y=rng.integers(0, 3, 300))
    assert main(["train", "--dataset", str(tmp_path / "noise.npz"), "--epochs", "200", "--early-stopping", "2",
                 "--validation-split", "0.3", "--optimizer", "adam", "--lr", "0.05", "--quiet",
                 "--out", str(tmp_path / "b")]) == 0
    assert load_checkpoint(tmp_path / "b" / "checkpoint.safetensors").epoch < 50


@pytest.mark.slow
def test_output_folder_of_another_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", *PARITY, "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    before = (out / "model.safetensors").read_bytes()
    assert main(["train", *PARITY, "--epochs", "2", "--quiet", "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == before


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_threads_option_limits_blas_during_training(tmp_path, capsys, monkeypatch):
    seen = []

    class Probe(dp.Callback):
        def on_epoch_end(self, state):
            from threadpoolctl import threadpool_info

            seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    import deltaprop.cli

    real_fit = dp.fit
    monkeypatch.setattr(deltaprop.cli, "fit", lambda *a, **kw: real_fit(*a, **{**kw, "callbacks": [*kw["callbacks"], Probe()]}))
    assert main(["train", "--dataset", "parity", "--epochs", "2", "--threads", "1", "--quiet", "--out", str(tmp_path / "r")]) == 0
    assert seen and set(seen) == {1}
    assert main(["train", "--dataset", "parity", "--threads", "0", "--quiet", "--out", str(tmp_path / "s")]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_a_model_trained_on_a_file_uses_its_own_test_rows(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 50)).astype(np.float32)
    y = rng.integers(0, 2, 200)  # random labels: memorised on the training rows, chance elsewhere
    path = tmp_path / "data.npz"
    np.savez(path, x=x, y=y)
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(path), "--seed", "3", "--layers", "50,2", "--epochs", "200",
                 "--lr", "0.5", "--validation-split", "0", "--quiet", "--out", str(out)]) == 0
    trained = capsys.readouterr().out
    assert main(["evaluate", str(out / "model.safetensors")]) == 0
    evaluated = capsys.readouterr().out
    acc_train_run = re.search(r"test accuracy ([0-9.]+) on (\d+)", trained)
    acc_evaluate = re.search(r"accuracy ([0-9.]+)", evaluated)
    assert acc_train_run.group(2) == "40"
    assert float(acc_train_run.group(1)) < 0.8  # the run's test rows were not memorised...
    assert float(acc_train_run.group(1)) == pytest.approx(float(acc_evaluate.group(1)), abs=1e-4)  # ...nor evaluate's
