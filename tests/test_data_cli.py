"""Where the command line reads and downloads its data, and in what order training sees it:
--data-dir is the folder downloads go to, evaluate finds a run's --data-dir again, and
sequential or sliding batches keep the stored order of the rows a split leaves. The only
network used is a server on 127.0.0.1 that each test starts and stops."""

from __future__ import annotations

import dataclasses
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from cli_in_process import run_cli
from mnist_files import write_mnist_files
from deltaprop import cli
from deltaprop.config import TrainConfig
from deltaprop.data import mnist

N_TRAIN, N_TEST = 40, 20


@pytest.fixture(autouse=True)
def isolated(private_data_env):
    """Every test here sees a private, empty cache and no DELTAPROP_DATA or proxies."""


@pytest.fixture
def small_mnist(tmp_path, monkeypatch):
    """MNIST's spec, for four small files of its format, served from a folder on 127.0.0.1
    (the only mirror); yields the folder the files are served from."""
    served = tmp_path / "served"
    arrays, files = write_mnist_files(served, N_TRAIN, N_TEST)
    handler = functools.partial(_QuietHandler, directory=str(served))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    spec = dataclasses.replace(mnist.MNIST, files=files, n_train=N_TRAIN, n_test=N_TEST,
                               mirrors=[f"http://127.0.0.1:{httpd.server_port}/"])
    monkeypatch.setattr(mnist, "MNIST", spec)
    monkeypatch.setattr(cli, "MNIST", spec)
    yield served
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _train(out, *extra):
    return run_cli("train", "--dataset", "mnist", "--layers", "784,4,10", "--steps", "2", "--quiet", "--validation-split", "0",
                   "--out", out, *extra)


@pytest.mark.slow
def test_data_dir_is_where_downloads_go_and_a_second_run_finds_them(small_mnist, tmp_path):
    mine = tmp_path / "mine"
    names = sorted(p.name for p in small_mnist.iterdir())
    for run in ("run1", "run2"):
        res = _train(tmp_path / run, "--data-dir", mine)
        assert res.returncode == 0, res.stderr
        assert sorted(p.name for p in mine.iterdir()) == names, run
    assert not (tmp_path / "xdg" / "deltaprop").exists()  # nothing went to the cache
    res = run_cli("train", "--config", tmp_path / "run1" / "config.toml", "--quiet", "--out", tmp_path / "run3")
    assert res.returncode == 0, res.stderr


@pytest.mark.slow
def test_evaluate_reads_the_data_dir_the_run_recorded(small_mnist, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    for path in small_mnist.iterdir():
        (mine / path.name).write_bytes(path.read_bytes())
    assert _train(tmp_path / "run", "--data-dir", mine).returncode == 0
    cli.MNIST.mirrors[:] = ["http://127.0.0.1:9/gone/"]  # nothing to download: the run's folder must be used
    res = run_cli("evaluate", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    assert f"mnist (test, {N_TEST} examples): accuracy" in res.stdout
    assert not (tmp_path / "xdg" / "deltaprop").exists()


@pytest.mark.slow
def test_evaluate_falls_back_to_the_search_when_the_recorded_folder_is_gone(small_mnist, tmp_path):
    mine = tmp_path / "mine"
    assert _train(tmp_path / "run", "--data-dir", mine).returncode == 0
    for path in mine.iterdir():
        path.unlink()
    res = run_cli("evaluate", tmp_path / "run")  # downloaded again, into the cache
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "xdg" / "deltaprop" / "mnist").is_dir()


def _numbers(x: np.ndarray) -> list[int]:
    """Parity rows (bits, most significant first) as the numbers they spell."""
    return (x.astype(np.int64) @ (1 << np.arange(x.shape[1])[::-1])).tolist()


@pytest.mark.parametrize("batching", ["sequential", "sliding"])
def test_in_order_batching_keeps_the_stored_order_after_a_validation_split(batching):
    cfg = TrainConfig.from_mapping({"dataset": "parity", "batching": batching, "batch_size": 8,
                                    "output": "sigmoid", "loss": "mse", "validation_split": 0.1})
    data = cli._training_data(cfg)
    train, held = _numbers(data.x_train), _numbers(data.validation[0])
    assert train == sorted(train) and held == sorted(held)
    assert sorted(train + held) == list(range(700))  # the parity set's 700 training numbers, split
    shuffled = cli._training_data(dataclasses.replace(cfg, batching="shuffled"))
    assert sorted(_numbers(shuffled.validation[0])) == held  # the same rows held out either way
    assert _numbers(shuffled.x_train) != train


def test_in_order_batching_keeps_a_files_order_after_its_test_split(tmp_path):
    x = np.arange(200, dtype=np.float32).reshape(100, 2)
    y = np.arange(100) % 2
    path = tmp_path / "rows.npz"
    np.savez(path, x=x, y=y)
    cfg = TrainConfig.from_mapping({"dataset": str(path), "batching": "sequential", "batch_size": 4,
                                    "validation_split": 0.1})
    data = cli._training_data(cfg)
    first = data.x_train[:, 0].tolist()
    assert first == sorted(first) and len(first) == 72
    assert data.x_test[:, 0].tolist() == sorted(data.x_test[:, 0].tolist())


def test_a_cached_file_deleted_as_corrupt_is_named_by_the_command(small_mnist, tmp_path):
    cache = tmp_path / "xdg" / "deltaprop" / "mnist"
    cache.mkdir(parents=True)
    junk = cache / "train-images-idx3-ubyte.gz"
    junk.write_bytes(b"junk")
    cli.MNIST.mirrors[:] = ["http://127.0.0.1:9/gone/"]  # offline
    res = _train(tmp_path / "run")
    assert res.returncode != 0
    assert f"Deleted {junk}: it failed its checksum (corrupt or partial)" in res.stderr
    assert "could not be downloaded" in res.stderr and "Traceback" not in res.stderr


def test_a_sweep_over_a_dataset_that_cannot_be_found_stops_before_any_trial(small_mnist, tmp_path):
    cli.MNIST.mirrors[:] = ["http://127.0.0.1:9/gone/"]  # offline
    config = tmp_path / "sweep.toml"
    config.write_text('dataset = "mnist"\nepochs = 1\n')
    res = run_cli("sweep", config, "--grid", "lr=0.1,0.2", "--out", tmp_path / "s")
    assert res.returncode == 1
    assert "the mnist dataset is not on this machine" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "s").exists()  # no trial started, no folder left to clear


def test_a_sweep_finds_its_dataset_once_before_the_trials_start(small_mnist, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "_named_dataset", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setattr("deltaprop.sweep.run_sweep", lambda trials, **kwargs: trials)
    config = tmp_path / "sweep.toml"
    config.write_text('dataset = "mnist"\nepochs = 1\n')
    res = run_cli("sweep", config, "--grid", "lr=0.1,0.2,0.3", "--grid", "dataset=mnist,parity,mnist-sample",
                  "--out", tmp_path / "s")
    assert "Traceback" not in res.stderr
    assert calls == [("mnist", None)]  # nine trials, one dataset to fetch


@pytest.mark.parametrize("dataset, what", [("parity", "generated"), ("mnist-sample", "bundled with deltaprop")])
def test_a_data_dir_that_the_dataset_does_not_read_is_named(tmp_path, dataset, what):
    notes = cli._load_data(dataset, str(tmp_path / "mine")).notes
    assert notes == (f"--data-dir {tmp_path / 'mine'} is not read: it says where the MNIST and Fashion-MNIST files "
                     f"are, and {dataset} is {what}",)
    assert cli._load_data(dataset, None).notes == ()


@pytest.mark.slow
def test_train_says_the_data_dir_it_does_not_read(tmp_path):
    res = run_cli("train", "--dataset", "parity", "--layers", "10,4,2", "--data-dir", tmp_path / "mine", "--epochs", "1",
                  "--quiet", "--out", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    assert f"note: --data-dir {tmp_path / 'mine'} is not read" in res.stderr


def test_the_data_dir_help_says_when_files_are_downloaded_into_it_and_when_it_is_refused(capsys):
    # it said "looked for / downloaded to", but an empty --data-dir is refused where a copy exists elsewhere
    assert cli.main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert ("downloaded into it only when no copy is found elsewhere (the cache, $DELTAPROP_DATA, a system folder): "
            "where one is, a folder without them is refused, never passed over") in text
    for command in (["evaluate", "--help"], ["plot", "samples", "--help"]):
        assert cli.main(command) == 0
        assert "as for train" in " ".join(capsys.readouterr().out.split())
