"""MNIST-like datasets: search order, verified downloads from a local server, the bundled
sample and the Debian Fashion-MNIST folder. The only network used is a server on 127.0.0.1
that each test starts and stops."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import deltaprop.data as d
from deltaprop.data import mnist
from deltaprop.data.download import ContentDigest, cache_dir, content_digest, fetch
from deltaprop.data.idx import write_idx
from deltaprop.errors import (
    ConfigError,
    DatasetNotFoundError,
    DataError,
    DownloadError,
    Error,
    FileFormatError,
)

N_TRAIN, N_TEST = 20, 10
#: The original MNIST files, next to the repository (development and CI only).
REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "mnist"
if not REAL_MNIST.is_dir() and os.environ.get("DELTAPROP_DATA"):
    REAL_MNIST = Path(os.environ["DELTAPROP_DATA"]) / "mnist"


@pytest.fixture(autouse=True)
def isolated(private_data_env):
    """Every test here sees a private, empty cache and no DELTAPROP_DATA or proxies."""


class Server:
    """A bounded HTTP server on 127.0.0.1; ``routes[path] = (behaviour, payload)``."""

    def __init__(self):
        self.routes: dict[str, tuple[str, object]] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.hits.append(self.path)
                kind, payload = server.routes.get(self.path, ("status", 404))
                if kind == "status":
                    self.send_error(payload)
                    return
                if kind == "stall":
                    time.sleep(payload)
                    return
                body = payload if isinstance(payload, bytes) else b""
                ctype = "text/html" if kind == "html" else "application/octet-stream"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if kind == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if kind == "stall-body":
                    self.wfile.write(body[:10])
                    self.wfile.flush()
                    time.sleep(1.5)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{prefix}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def _closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone/"


@pytest.fixture(scope="module")
def fake_files(tmp_path_factory):
    """Four small MNIST-format .gz files with their digests."""
    folder = tmp_path_factory.mktemp("fake")
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train_labels": np.arange(N_TRAIN, dtype=np.uint8) % 10,
        "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "test_labels": np.arange(N_TEST, dtype=np.uint8) % 10,
    }
    blobs = {}
    for role, array in arrays.items():
        path = write_idx(folder / mnist.MNIST.files[role].name, array)
        blobs[role] = path.read_bytes()
    return folder, arrays, blobs


def _spec(blobs, *, algorithm="sha256", mirrors=(), content=True, **changes):
    """MNIST's spec for the fake files: their .gz digests and (unless ``content`` is
    False) the SHA-256 of their decompressed content."""
    def digest(b):
        return hashlib.new(algorithm, b).hexdigest()

    files = {role: dataclasses.replace(rf, digests=((algorithm, digest(blobs[role])),),
                                       content_sha256=hashlib.sha256(gzip.decompress(blobs[role])).hexdigest()
                                       if content else None)
             for role, rf in mnist.MNIST.files.items()}
    return dataclasses.replace(mnist.MNIST, name="mnist-test", files=files, n_train=N_TRAIN,
                               n_test=N_TEST, mirrors=list(mirrors), **changes)


def _serve(server, prefix, blobs, kind="ok"):
    for role, rf in mnist.MNIST.files.items():
        server.routes[f"/{prefix}/{rf.name}"] = (kind, blobs[role])


NAME = "train-labels-idx1-ubyte.gz"
ROLE = "train_labels"


def _digest(blob, algorithm="sha256"):
    return ((algorithm, hashlib.new(algorithm, blob).hexdigest()),)


# ---------------------------------------------------------------- fetch
@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_good_download_lands_in_cache(server, fake_files, tmp_path, algorithm):
    _, _, blobs = fake_files
    _serve(server, "a", blobs)
    dest = tmp_path / "cache"
    path = fetch(NAME, dest, _digest(blobs[ROLE], algorithm), [server.url("a")], timeout=5)
    assert path == dest / NAME and path.read_bytes() == blobs[ROLE]
    assert [p.name for p in dest.iterdir()] == [NAME]


def test_wrong_checksum_is_rejected_and_leaves_nothing(server, fake_files, tmp_path):
    _, _, blobs = fake_files
    blob = bytearray(blobs[ROLE])
    blob[len(blob) // 2] ^= 0x01
    server.routes[f"/a/{NAME}"] = ("ok", bytes(blob))
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(NAME, dest, _digest(blobs[ROLE]), [server.url("a")], timeout=5)
    assert not dest.exists() or list(dest.iterdir()) == []


@pytest.mark.parametrize("failure", [("status", 404), ("status", 403), ("html", b"<html>moved</html>"),
                                     ("stall", 1.5), ("stall-body", None), ("truncate", None),
                                     ("corrupt", None), ("closed", None)])
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_dead_first_mirror_falls_over_to_second(server, fake_files, tmp_path, failure):
    _, _, blobs = fake_files
    kind, payload = failure
    first = server.url("dead")
    if kind == "closed":
        first = _closed_port_url()
    elif kind == "corrupt":
        server.routes[f"/dead/{NAME}"] = ("ok", b"\x1f\x8b not the file")
    else:
        server.routes[f"/dead/{NAME}"] = (kind, payload if payload is not None else blobs[ROLE])
    server.routes[f"/good/{NAME}"] = ("ok", blobs[ROLE])
    dest = tmp_path / "cache"
    started = time.monotonic()
    path = fetch(NAME, dest, _digest(blobs[ROLE]), [first, server.url("good")], timeout=0.4)
    assert time.monotonic() - started < 5
    assert path.read_bytes() == blobs[ROLE]
    assert [p.name for p in dest.iterdir()] == [NAME]
    if kind != "closed":
        assert server.hits[0] == f"/dead/{NAME}" and server.hits[-1] == f"/good/{NAME}"


def test_interrupted_transfer_leaves_no_partial_file(server, fake_files, tmp_path):
    _, _, blobs = fake_files
    server.routes[f"/a/{NAME}"] = ("truncate", blobs[ROLE])
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        fetch(NAME, dest, _digest(blobs[ROLE]), [server.url("a")], timeout=2)
    assert "127.0.0.1" in str(info.value)
    assert not dest.exists() or list(dest.iterdir()) == []


def test_all_mirrors_fail_lists_each(server, tmp_path):
    with pytest.raises(DownloadError) as info:
        fetch(NAME, tmp_path, _digest(b"x"), [server.url("a"), server.url("b")], timeout=2)
    assert str(info.value).count("HTTP 404") == 2  # not "404": the server's random port may hold it


def test_fetch_validates_arguments(tmp_path):
    with pytest.raises(ConfigError):
        fetch(NAME, tmp_path, _digest(b"x"), [], timeout=0)
    with pytest.raises(ConfigError):
        fetch(NAME, tmp_path, (("crc32", "00"),), [])


# ---------------------------------------------------------------- load with downloads
def test_load_downloads_verifies_then_works_offline(server, fake_files):
    _, arrays, blobs = fake_files
    _serve(server, "a", blobs)
    spec = _spec(blobs, mirrors=[_closed_port_url(), server.url("a")])
    ds = mnist.load_idx_dataset(spec, timeout=2)
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.y_train.dtype == np.int64
    cached = sorted(p.name for p in (cache_dir() / "mnist-test").iterdir())
    assert cached == sorted(rf.name for rf in spec.files.values())
    hits = len(server.hits)
    again = mnist.load_idx_dataset(spec, download=False, flatten=True)
    assert again.x_train.shape == (N_TRAIN, 784)
    assert len(server.hits) == hits


def test_corrupt_cached_file_is_fetched_again(server, fake_files):
    _, arrays, blobs = fake_files
    _serve(server, "a", blobs)
    spec = _spec(blobs, mirrors=[server.url("a")])
    folder = cache_dir() / "mnist-test"
    folder.mkdir(parents=True)
    bad = folder / spec.files["train_images"].name
    bad.write_bytes(blobs["train_images"][:100])  # a half download from some other tool
    ds = mnist.load_idx_dataset(spec, timeout=2)
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"])
    assert bad.read_bytes() == blobs["train_images"]
    assert f"/a/{bad.name}" in server.hits


def test_corrupt_cached_file_offline_is_reported_missing(fake_files):
    _, _, blobs = fake_files
    spec = _spec(blobs)
    folder = cache_dir() / "mnist-test"
    folder.mkdir(parents=True)
    (folder / spec.files["train_images"].name).write_bytes(b"junk")
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte.gz"):
        mnist.load_idx_dataset(spec, download=False)
    assert not (folder / spec.files["train_images"].name).exists()


def test_offline_message_names_missing_files_and_fix(fake_files):
    _, _, blobs = fake_files
    spec = _spec(blobs, mirrors=[_closed_port_url()])
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_idx_dataset(spec, timeout=1)
    message = str(info.value)
    for rf in spec.files.values():
        assert rf.name in message
    assert "data_dir" in message and "DELTAPROP_DATA" in message and "mnist-sample" in message
    assert "cannot connect" in message
    assert not (cache_dir() / "mnist-test").exists() or not any((cache_dir() / "mnist-test").iterdir())


def test_download_false_message():
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        d.load("mnist", download=False)


def test_fashion_message_mentions_debian_package(monkeypatch):
    monkeypatch.setattr(mnist, "FASHION_MNIST", dataclasses.replace(mnist.FASHION_MNIST, system_dirs=()))
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        d.load("fashion-mnist", download=False)


# ---------------------------------------------------------------- search order, user files
def test_data_dir_flat_raw_files_and_env(fake_files, tmp_path, monkeypatch):
    folder, arrays, blobs = fake_files
    spec = _spec(blobs)
    user = tmp_path / "user"
    user.mkdir()
    import gzip

    for role, rf in spec.files.items():  # raw (decompressed) files are accepted too
        (user / rf.raw_name).write_bytes(gzip.decompress(blobs[role]))
    ds = mnist.load_idx_dataset(spec, data_dir=user, download=False)
    np.testing.assert_array_equal(ds.x_test, arrays["test_images"])

    env = tmp_path / "env"
    shutil.copytree(folder, env / "mnist-test")
    monkeypatch.setenv("DELTAPROP_DATA", str(env))
    ds = mnist.load_idx_dataset(spec, download=False)
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])


def test_data_dir_wins_over_cache(fake_files, tmp_path):
    folder, arrays, blobs = fake_files
    spec = _spec(blobs, content=False)  # other content is refused where the content digest is known
    shutil.copytree(folder, cache_dir() / "mnist-test")
    other = tmp_path / "other"
    other.mkdir()
    flipped = {k: (255 - v if "images" in k else v) for k, v in arrays.items()}
    for role, rf in spec.files.items():
        write_idx(other / rf.name, flipped[role])
    ds = mnist.load_idx_dataset(spec, data_dir=other, download=False)
    np.testing.assert_array_equal(ds.x_train, flipped["train_images"])


def test_labels_outside_range_are_refused(fake_files, tmp_path):
    folder, arrays, blobs = fake_files
    spec = _spec(blobs, content=False)  # the content check would refuse first
    user = tmp_path / "user"
    shutil.copytree(folder, user)
    bad = arrays["train_labels"].copy()
    bad[3] = 10
    write_idx(user / spec.files["train_labels"].name, bad)
    with pytest.raises(DataError, match="outside 0..9"):
        mnist.load_idx_dataset(spec, data_dir=user, download=False)


def test_wrong_shapes_are_refused(fake_files, tmp_path):
    folder, _, blobs = fake_files
    spec = _spec(blobs, content=False)  # the content check would refuse first
    user = tmp_path / "user"
    shutil.copytree(folder, user)
    write_idx(user / spec.files["test_images"].name, np.zeros((N_TEST, 28, 27), np.uint8))
    with pytest.raises(FileFormatError, match="expected uint8 images"):
        mnist.load_idx_dataset(spec, data_dir=user, download=False)
    write_idx(user / spec.files["test_images"].name, np.zeros((N_TEST, 28, 28), np.uint8))
    write_idx(user / spec.files["test_labels"].name, np.zeros((N_TEST + 1,), np.uint8))
    with pytest.raises(FileFormatError, match="expected integer labels"):
        mnist.load_idx_dataset(spec, data_dir=user, download=False)


def test_content_hash_mismatch_is_refused(fake_files, tmp_path):
    folder, _, blobs = fake_files
    spec = _spec(blobs)
    files = dict(spec.files)
    files["test_labels"] = dataclasses.replace(files["test_labels"], content_sha256="0" * 64)
    spec = dataclasses.replace(spec, files=files)
    with pytest.raises(FileFormatError, match="SHA-256 mismatch"):
        mnist.load_idx_dataset(spec, data_dir=folder, download=False)


def test_read_labels_and_images_directly(tmp_path):
    path = write_idx(tmp_path / "l", np.array([0, 9, 12], np.uint8))
    with pytest.raises(DataError, match="1 labels outside 0..9"):
        mnist.read_labels(path)
    assert mnist.read_labels(path, n_classes=13).dtype == np.int64
    path = write_idx(tmp_path / "i", np.zeros((2, 28, 28), np.float32))
    with pytest.raises(FileFormatError):
        mnist.read_images(path)


# ---------------------------------------------------------------- bundled sample, Debian, names
@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_mnist_sample_offline(no_network):
    ds = d.load("mnist-sample")
    assert ds.x_train.shape == (4000, 28, 28) and ds.x_test.shape == (1000, 28, 28)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert np.bincount(ds.y_train).tolist() == [400] * 10
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    assert ds.class_names == tuple("0123456789")
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0
    assert ds.x_train.mean() > 20  # real digits, not blank images
    assert d.load("mnist_sample", flatten=True).x_train.shape == (4000, 784)
    text = repr(ds)
    assert "mnist-sample" in text and "(4000, 28, 28)" in text and "uint8" in text
    assert len(text) < 300


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_mnist_sample_has_no_duplicates_across_split():
    ds = d.load("mnist-sample", flatten=True)
    rows = np.concatenate([ds.x_train, ds.x_test])
    assert len(np.unique(rows, axis=0)) == 5000


def test_mnist_sample_checksum_is_enforced(tmp_path, monkeypatch):
    copy = tmp_path / "sample"
    shutil.copytree(mnist.MNIST_SAMPLE.bundled_dir, copy)
    spec = dataclasses.replace(mnist.MNIST_SAMPLE, bundled_dir=copy)
    assert mnist.load_idx_dataset(spec).x_test.shape == (1000, 28, 28)
    path = copy / "t10k-labels-idx1-ubyte.gz"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(FileFormatError, match="SHA256SUMS"):
        mnist.load_idx_dataset(spec)


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist is not installed "
                           "(apt-get install dataset-fashion-mnist)")
@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_fashion_mnist_from_debian_folder(no_network):
    ds = d.load("fashion-mnist", download=False)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.x_train.dtype == np.uint8
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_unknown_name():
    with pytest.raises(ConfigError, match="mnist-sample"):
        d.load("cifar")
    assert issubclass(ConfigError, Error)


def test_offline_gives_up_after_first_file(server, fake_files):
    _, _, blobs = fake_files
    spec = _spec(blobs, mirrors=[server.url("none")])
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_idx_dataset(spec, timeout=1)
    assert len(server.hits) == 1
    for rf in spec.files.values():
        assert rf.name in str(info.value)


def test_load_passes_mirrors_and_timeout(server):
    with pytest.raises(DatasetNotFoundError, match="127.0.0.1"):
        d.load("mnist", mirrors=[server.url("m")], timeout=1)
    assert server.hits == ["/m/train-images-idx3-ubyte.gz"]


# ---------------------------------------------------------------- content digests
def test_content_digest_is_the_same_however_the_file_is_compressed(tmp_path):
    raw = bytes(range(256)) * 400
    want = hashlib.sha256(raw).hexdigest()
    variants = {"raw": raw, "fast": gzip.compress(raw, 1), "best": gzip.compress(raw, 9, mtime=0),
                "two-members": gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]),
                "zero-padded": gzip.compress(raw) + bytes(512)}
    for name, blob in variants.items():
        path = tmp_path / name
        path.write_bytes(blob)
        assert content_digest(path) == want, name
        fed = ContentDigest()
        for start in range(0, len(blob), 7):  # chunks that split the gzip header and members
            fed.update(blob[start:start + 7])
        assert fed.hexdigest() == want, name
    assert ContentDigest().hexdigest() == hashlib.sha256(b"").hexdigest()


def test_content_digest_refuses_a_broken_or_oversized_gzip_stream():
    blob = gzip.compress(bytes(range(256)) * 40)
    cut = ContentDigest()
    cut.update(blob[:-4])  # the stream without its length field
    assert cut.hexdigest() is None
    flipped = bytearray(blob)
    flipped[len(flipped) // 2] ^= 0x01
    bad = ContentDigest()
    bad.update(bytes(flipped))
    assert bad.hexdigest() is None
    small = ContentDigest(max_bytes=1000)
    small.update(blob)
    assert small.hexdigest() is None


def _recompressed(blob: bytes, *, change_byte: int | None = None) -> bytes:
    content = bytearray(gzip.decompress(blob))
    if change_byte is not None:
        content[change_byte] = (content[change_byte] + 1) % 10  # still a valid label
    return gzip.compress(bytes(content), compresslevel=1, mtime=0)


def test_recompressed_download_is_accepted_by_its_content(server, fake_files, tmp_path):
    _, arrays, blobs = fake_files
    other = {role: _recompressed(blob) for role, blob in blobs.items()}
    assert other[ROLE] != blobs[ROLE]
    _serve(server, "a", other)
    spec = _spec(blobs, mirrors=[server.url("a")])
    ds = mnist.load_idx_dataset(spec, timeout=2)
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])
    cached = cache_dir() / "mnist-test" / NAME
    assert cached.read_bytes() == other[ROLE]  # kept as served
    hits = len(server.hits)
    mnist.load_idx_dataset(spec, timeout=2)  # and accepted from the cache next time
    assert cached.read_bytes() == other[ROLE] and len(server.hits) == hits


def test_download_with_other_content_is_refused(server, fake_files, tmp_path):
    _, _, blobs = fake_files
    server.routes[f"/a/{NAME}"] = ("ok", _recompressed(blobs[ROLE], change_byte=8))
    content = hashlib.sha256(gzip.decompress(blobs[ROLE])).hexdigest()
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="checksum mismatch.*content's SHA-256 differs"):
        fetch(NAME, dest, _digest(blobs[ROLE]), [server.url("a")], timeout=5, content_sha256=content)
    assert not dest.exists() or list(dest.iterdir()) == []
    server.routes[f"/b/{NAME}"] = ("ok", _recompressed(blobs[ROLE]))  # digest unknown: content alone
    assert fetch(NAME, dest, (), [server.url("b")], timeout=5, content_sha256=content).is_file()


@pytest.mark.slow
@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"the original MNIST files are not at {REAL_MNIST}")
def test_real_mnist_download_is_verified_by_content(server):
    """The four original files, served from 127.0.0.1: as they are (compressed unlike the
    usual mirrors, so only their content can vouch for them), recompressed, and with one
    byte of one file's content changed."""
    served = {rf.name: (REAL_MNIST / rf.name).read_bytes() for rf in mnist.MNIST.files.values()}
    for name, blob in served.items():
        server.routes[f"/as-is/{name}"] = ("ok", blob)
        server.routes[f"/recompressed/{name}"] = ("ok", _recompressed(blob))
        server.routes[f"/changed/{name}"] = ("ok", blob)
    labels = "t10k-labels-idx1-ubyte.gz"
    server.routes[f"/changed/{labels}"] = ("ok", _recompressed(served[labels], change_byte=5000))
    cache = cache_dir() / "mnist"

    ds = d.load("mnist", mirrors=[server.url("as-is")], timeout=10)
    assert np.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == served

    shutil.rmtree(cache)
    again = d.load("mnist", mirrors=[server.url("recompressed")], timeout=10)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    np.testing.assert_array_equal(again.y_test, ds.y_test)

    shutil.rmtree(cache)
    with pytest.raises(DatasetNotFoundError, match="content's SHA-256 differs"):
        d.load("mnist", mirrors=[server.url("changed")], timeout=10)
    assert not (cache / labels).exists()


# ---------------------------------------------------------------- names that say what a file holds
def _raw(blobs):
    return {role: gzip.decompress(blob) for role, blob in blobs.items()}


def test_a_file_served_uncompressed_is_stored_without_gz(server, fake_files, tmp_path):
    _, _, blobs = fake_files
    server.routes[f"/raw/{NAME}"] = ("ok", _raw(blobs)[ROLE])
    content = hashlib.sha256(gzip.decompress(blobs[ROLE])).hexdigest()
    path = fetch(NAME, tmp_path / "d", _digest(blobs[ROLE]), [server.url("raw")], timeout=5, content_sha256=content)
    assert path == tmp_path / "d" / NAME.removesuffix(".gz")
    assert path.read_bytes() == _raw(blobs)[ROLE] and not (tmp_path / "d" / NAME).exists()
    np.testing.assert_array_equal(mnist.read_labels(path, N_TRAIN), np.arange(N_TRAIN) % 10)


def test_a_mirror_serving_uncompressed_bytes_leaves_a_cache_that_loads(server, fake_files):
    _, arrays, blobs = fake_files
    _serve(server, "raw", _raw(blobs))
    spec = _spec(blobs, mirrors=[server.url("raw")])
    ds = mnist.load_idx_dataset(spec, timeout=2)
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"])
    cached = sorted(p.name for p in (cache_dir() / "mnist-test").iterdir())
    assert cached == sorted(rf.raw_name for rf in spec.files.values())
    hits = len(server.hits)
    again = mnist.load_idx_dataset(spec, download=False)  # offline, from the cache
    np.testing.assert_array_equal(again.y_test, arrays["test_labels"])
    assert len(server.hits) == hits


@pytest.mark.parametrize("stored_as", ["gz name", "raw name"])
def test_a_cached_raw_file_loads_under_either_name(fake_files, stored_as):
    """A raw file under its .gz name (how an older version stored what such a mirror sent)
    is renamed without .gz; one renamed so by hand is found."""
    _, arrays, blobs = fake_files
    spec = _spec(blobs)
    folder = cache_dir() / "mnist-test"
    folder.mkdir(parents=True)
    for role, rf in spec.files.items():
        (folder / (rf.name if stored_as == "gz name" else rf.raw_name)).write_bytes(_raw(blobs)[role])
    ds = mnist.load_idx_dataset(spec, download=False)
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(rf.raw_name for rf in spec.files.values())


def test_a_corrupt_cached_file_deleted_offline_is_named_in_the_error(fake_files):
    _, _, blobs = fake_files
    spec = _spec(blobs)
    folder = cache_dir() / "mnist-test"
    folder.mkdir(parents=True)
    bad = folder / spec.files["train_images"].name
    bad.write_bytes(b"junk")
    with pytest.raises(DatasetNotFoundError, match=f"Deleted {bad}: it failed its checksum"):
        mnist.load_idx_dataset(spec, download=False)


def test_downloads_go_into_data_dir(server, fake_files, tmp_path):
    _, arrays, blobs = fake_files
    _serve(server, "a", blobs)
    spec = _spec(blobs, mirrors=[server.url("a")])
    mine = tmp_path / "mine"
    ds = mnist.load_idx_dataset(spec, data_dir=mine, timeout=2)
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])
    assert sorted(p.name for p in mine.iterdir()) == sorted(rf.name for rf in spec.files.values())
    assert not (cache_dir() / "mnist-test").exists()
    again = mnist.load_idx_dataset(spec, data_dir=mine, download=False)
    np.testing.assert_array_equal(again.x_test, arrays["test_images"])
