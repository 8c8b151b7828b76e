"""Where the MNIST loader looks: a ``~`` in ``data_dir``/``--data-dir=~/...``/``$DELTAPROP_DATA``
is the home folder (no shell expands it there), and of a gzip and a raw copy that differ the one
holding the dataset is read. The only network used is a server on 127.0.0.1 that a test starts."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from cli_in_process import run_cli
from mnist_files import write_mnist_files
from deltaprop import cli
from deltaprop.data import mnist
from deltaprop.data.idx import write_idx
from deltaprop.errors import FileFormatError

N_TRAIN, N_TEST = 20, 10
_GONE = "http://127.0.0.1:9/gone/"  # a closed port: nothing is downloaded


@pytest.fixture(autouse=True)
def isolated(private_data_env, tmp_path, monkeypatch):
    """A private cache, no DELTAPROP_DATA, HOME in tmp_path and the working folder apart."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")


@pytest.fixture
def small(tmp_path, monkeypatch):
    """MNIST's spec for four small files of its format, written (gzip) into ``tmp_path/files``;
    yields (spec, folder, arrays)."""
    folder = tmp_path / "files"
    arrays, files = write_mnist_files(folder, N_TRAIN, N_TEST)
    spec = dataclasses.replace(mnist.MNIST, files=files, n_train=N_TRAIN, n_test=N_TEST, mirrors=[_GONE],
                               system_dirs=())
    monkeypatch.setattr(mnist, "MNIST", spec)
    monkeypatch.setattr(cli, "MNIST", spec)
    return spec, folder, arrays


def _copy(src, dest):
    dest.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        (dest / path.name).write_bytes(path.read_bytes())


# ---------------------------------------------------------------- ~ is the home folder
def test_data_dir_with_a_tilde_is_the_home_folder(small, tmp_path):
    spec, folder, arrays = small
    _copy(folder, tmp_path / "home" / "data")
    ds = mnist.load_idx_dataset(spec, data_dir="~/data", download=False)
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])


def test_deltaprop_data_with_a_tilde_is_the_home_folder(small, tmp_path, monkeypatch):
    spec, folder, arrays = small
    _copy(folder, tmp_path / "home" / "datasets" / spec.name)
    monkeypatch.setenv("DELTAPROP_DATA", "~/datasets")
    ds = mnist.load_idx_dataset(spec, download=False)
    np.testing.assert_array_equal(ds.x_test, arrays["test_images"])


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_download_into_a_tilde_data_dir_lands_in_the_home_folder(small, tmp_path):
    spec, folder, arrays = small
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        ds = mnist.load_idx_dataset(spec, data_dir="~/data", mirrors=[f"http://127.0.0.1:{httpd.server_port}/"],
                                    timeout=5)
    finally:
        httpd.shutdown()
        httpd.server_close()
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert sorted(p.name for p in (tmp_path / "home" / "data").iterdir()) == sorted(
        rf.name for rf in spec.files.values())
    assert list((tmp_path / "cwd").iterdir()) == []  # no folder named "~" where the command ran


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_the_command_reads_data_dir_equals_tilde_from_the_home_folder(small, tmp_path):
    _, folder, _ = small
    _copy(folder, tmp_path / "home" / "data")
    res = run_cli("plot", "samples", "--dataset", "mnist", "--data-dir=~/data", "--out", tmp_path / "s.png")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "s.png").is_file()
    assert list((tmp_path / "cwd").iterdir()) == []


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_data_dir_equals_tilde_is_not_refused_for_a_cached_copy(small, tmp_path):
    """With a copy in the cache too, a --data-dir read literally (./~/data) was refused as a
    folder without the files, though they were in the home folder."""
    _, folder, _ = small
    _copy(folder, tmp_path / "home" / "data")
    _copy(folder, tmp_path / "xdg" / "deltaprop" / "mnist")
    res = run_cli("plot", "samples", "--dataset", "mnist", "--data-dir=~/data", "--out", tmp_path / "s.png")
    assert res.returncode == 0, res.stderr


# ---------------------------------------------------------------- gzip and raw copies that differ
def _raw(path, array):
    write_idx(path.with_name(path.name.removesuffix(".gz")), array)


def test_a_gzip_copy_of_other_labels_gives_way_to_the_raw_copy_beside_it(small, tmp_path):
    spec, folder, arrays = small
    data = tmp_path / "data"
    _copy(folder, data)
    name = spec.files["train_labels"].name
    _raw(data / name, arrays["train_labels"])  # the right labels, uncompressed
    write_idx(data / name, (arrays["train_labels"] + 1) % 10)  # other labels under the .gz name
    ds = mnist.load_idx_dataset(spec, data_dir=data, download=False)
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])


def test_a_cut_off_gzip_copy_gives_way_to_the_whole_raw_copy_beside_it(small, tmp_path):
    spec, folder, arrays = small
    data = tmp_path / "data"
    _copy(folder, data)
    gz = data / spec.files["train_images"].name
    _raw(gz, arrays["train_images"])
    gz.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])  # a download cut off half-way
    ds = mnist.load_idx_dataset(spec, data_dir=data, download=False)
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"])


def test_when_neither_copy_holds_the_dataset_the_gzip_one_is_named(small, tmp_path):
    spec, folder, arrays = small
    data = tmp_path / "data"
    _copy(folder, data)
    gz = data / spec.files["test_labels"].name
    _raw(gz, (arrays["test_labels"] + 2) % 10)
    write_idx(gz, (arrays["test_labels"] + 1) % 10)
    with pytest.raises(FileFormatError, match=r"t10k-labels-idx1-ubyte\.gz: its content differs"):
        mnist.load_idx_dataset(spec, data_dir=data, download=False)


# ---------------------------------------------------------------- a transfer cut off half-way
def test_a_transfer_cut_off_without_a_length_is_called_cut_short(small, tmp_path):
    """A mirror that announces no length and closes half-way was reported as a checksum
    mismatch (a wrong file), not as the cut-off transfer it is."""
    from http.server import BaseHTTPRequestHandler

    from deltaprop.data.download import fetch
    from deltaprop.errors import DownloadError

    spec, folder, _ = small
    rf = spec.files["train_images"]
    blob = (folder / rf.name).read_bytes()

    class Half(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(blob[: len(blob) // 2])
            self.close_connection = True

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Half)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with pytest.raises(DownloadError, match=rf"transfer cut short: the gzip data ends early, after {len(blob) // 2:,}"):
            fetch(rf.name, tmp_path / "dest", rf.digests, [f"http://127.0.0.1:{httpd.server_port}/"], timeout=5,
                  content_sha256=rf.content_sha256)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert not (tmp_path / "dest").exists() or list((tmp_path / "dest").iterdir()) == []


# ---------------------------------------------------------------- a folder downloads cannot be stored in
def test_a_download_that_cannot_be_stored_says_it_was_a_download(small, tmp_path, monkeypatch):
    """A read-only --data-dir was told as 'DIR/t10k-labels-idx1-ubyte.gz: Permission denied',
    naming a file that does not exist without saying that it was being downloaded."""
    import contextlib
    import errno

    from deltaprop.data import download as dl

    _, folder, _ = small
    data = tmp_path / "data"
    _copy(folder, data)
    (data / "t10k-labels-idx1-ubyte.gz").unlink()

    @contextlib.contextmanager
    def read_only(path):  # what a folder without write permission does (the superuser is not refused)
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
        yield

    monkeypatch.setattr(dl, "atomic_write", read_only)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    cli.MNIST.mirrors[:] = [f"http://127.0.0.1:{httpd.server_port}/"]
    try:
        res = run_cli("plot", "samples", "--dataset", "mnist", "--data-dir", data, "--out", tmp_path / "s.png")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert (f"{data / 't10k-labels-idx1-ubyte.gz'}: Permission denied (the file is missing, so it was being "
            f"downloaded into {data}: make that folder writable, or copy mnist's files into it)") in res.stderr
    assert not (data / "t10k-labels-idx1-ubyte.gz").exists()


# ---------------------------------------------------------------- one data folder for both datasets
@pytest.fixture
def two(tmp_path, monkeypatch):
    """Small MNIST and Fashion-MNIST specs (files named alike, content apart), each served
    from its own folder on 127.0.0.1; yields {name: (spec, folder, arrays)}."""
    out = {}
    servers = []
    for seed, spec in enumerate((mnist.MNIST, mnist.FASHION_MNIST)):
        folder = tmp_path / "served" / spec.name
        rng = np.random.default_rng(seed)
        arrays = {"train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
                  "train_labels": (np.arange(N_TRAIN, dtype=np.uint8) + seed) % 10,
                  "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
                  "test_labels": (np.arange(N_TEST, dtype=np.uint8) + seed) % 10}
        files = {}
        for role, rf in spec.files.items():
            blob = write_idx(folder / rf.name, arrays[role]).read_bytes()
            files[role] = dataclasses.replace(rf, digests=(("sha256", hashlib.sha256(blob).hexdigest()),),
                                              content_sha256=hashlib.sha256(gzip.decompress(blob)).hexdigest())
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        small = dataclasses.replace(spec, files=files, n_train=N_TRAIN, n_test=N_TEST, system_dirs=(),
                                    mirrors=[f"http://127.0.0.1:{httpd.server_port}/"])
        monkeypatch.setattr(mnist, "MNIST" if spec is mnist.MNIST else "FASHION_MNIST", small)
        out[spec.name] = (small, folder, arrays)
    monkeypatch.setattr(cli, "MNIST", mnist.MNIST)
    monkeypatch.setattr(cli, "FASHION_MNIST", mnist.FASHION_MNIST)
    yield out
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_a_data_folder_holding_the_other_datasets_download_gets_this_ones_in_its_folder(two, tmp_path):
    """MNIST downloaded into DIR, then Fashion-MNIST asked of the same DIR: its files were
    refused as MNIST's (the two name their files alike) and never downloaded."""
    data = tmp_path / "data"
    (mnist_spec, _, mnist_arrays), (fashion_spec, _, fashion_arrays) = two["mnist"], two["fashion-mnist"]
    mnist.load_idx_dataset(mnist_spec, data_dir=data, timeout=5)  # downloads into data/
    ds = mnist.load_idx_dataset(fashion_spec, data_dir=data, timeout=5)
    np.testing.assert_array_equal(ds.y_train, fashion_arrays["train_labels"])
    names = sorted(rf.name for rf in fashion_spec.files.values())
    assert sorted(p.name for p in (data / "fashion-mnist").iterdir()) == names
    for spec, arrays in ((mnist_spec, mnist_arrays), (fashion_spec, fashion_arrays)):  # both found offline now
        again = mnist.load_idx_dataset(spec, data_dir=data, download=False)
        np.testing.assert_array_equal(again.x_test, arrays["test_images"])


@pytest.mark.slow  # about a second
def test_the_command_gets_fashion_mnist_beside_mnist_in_one_data_dir(two, tmp_path):
    data = tmp_path / "data"
    for name in ("mnist", "fashion-mnist"):
        res = run_cli("plot", "samples", "--dataset", name, "--data-dir", data, "--out", tmp_path / f"{name}.png")
        assert res.returncode == 0, res.stderr
    assert (data / "fashion-mnist" / "train-labels-idx1-ubyte.gz").is_file()


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
@pytest.mark.parametrize("why", ["download off", "copy in the cache"])
def test_the_other_datasets_files_are_still_refused_where_nothing_is_downloaded(two, tmp_path, why):
    data = tmp_path / "data"
    mnist_spec, fashion_spec = two["mnist"][0], two["fashion-mnist"][0]
    mnist.load_idx_dataset(mnist_spec, data_dir=data, timeout=5)
    if why == "copy in the cache":
        _copy(two["fashion-mnist"][1], tmp_path / "xdg" / "deltaprop" / "fashion-mnist")
    with pytest.raises(FileFormatError, match="this is mnist's .*put fashion-mnist's in fashion-mnist/"):
        mnist.load_idx_dataset(fashion_spec, data_dir=data, timeout=5, download=why != "download off")
    assert not (data / "fashion-mnist").exists()
