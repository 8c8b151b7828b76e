"""Run by tests/test_mpi2_r37.py under ``mpiexec -n 2`` as ``mpi_download_r37_worker.py FILES URL
N_TRAIN N_TEST ARGS...``: ``deltaprop train ARGS`` with MNIST's spec made for the small files in
FILES, downloaded from URL only (a server on 127.0.0.1)."""

import dataclasses
import gzip
import hashlib
import sys
from pathlib import Path

from deltaprop import cli
from deltaprop.data import mnist


def main(files: str, url: str, n_train: str, n_test: str, args: list[str]) -> int:
    specs = {}
    for role, rf in mnist.MNIST.files.items():
        blob = (Path(files) / rf.name).read_bytes()
        specs[role] = dataclasses.replace(rf, digests=(("sha256", hashlib.sha256(blob).hexdigest()),),
                                          content_sha256=hashlib.sha256(gzip.decompress(blob)).hexdigest())
    mnist.MNIST = cli.MNIST = dataclasses.replace(mnist.MNIST, files=specs, n_train=int(n_train), n_test=int(n_test),
                                                  mirrors=[url], system_dirs=())
    return cli.main(["train", *args])


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5], sys.argv[5:]))
