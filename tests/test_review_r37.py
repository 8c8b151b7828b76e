"""Review of the changes since b0c0c35: an MPI rank other than 0 resuming a run reads the run
folder only once rank 0 has put back what a killed ``train --overwrite`` set aside."""

from __future__ import annotations

import os
import shutil
import zlib

import pytest
from cli_in_process import run_cli

from deltaprop import cli, distributed

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--quiet"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "run"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", folder).returncode == 0
    return folder


class _Rank1:
    """Rank 1 of 2; rank 0, before its one broadcast, puts back the run set aside in
    ``folder/.overwritten`` (as its ``_resume`` does under the lock), then is not ready."""

    def __init__(self, folder):
        self.folder, self.calls = folder, []

    def Get_rank(self):
        return 1

    def Get_size(self):
        return 2

    def Bcast(self, buf, root=0):
        self.calls.append("Bcast")
        if len(self.calls) == 1:
            cli._restore_overwritten(self.folder)
        buf[...] = 1

    def Allgather(self, mine, table):
        self.calls.append("Allgather")
        table[...] = [0, 1, zlib.crc32(b"rank 0's error"), 1]  # rank 0: not ready
        table[1] = mine


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_resuming_rank_reads_the_run_after_rank_0_puts_back_a_killed_overwrite(finished_run, tmp_path,
                                                                                   monkeypatch):
    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    (folder / ".overwritten").mkdir()
    for name in sorted(os.listdir(folder)):
        if not name.startswith("."):
            os.replace(folder / name, folder / ".overwritten" / name)
    (folder / "config.toml").write_text((finished_run / "config.toml").read_text())  # the killed start's
    comm = _Rank1(folder)
    monkeypatch.setattr(distributed, "world", lambda: comm)
    res = run_cli("train", "--resume", folder, "--epochs", "3", "-q")
    assert comm.calls[0] == "Bcast", comm.calls  # it waited for rank 0 before it read the folder
    errors = [line for line in res.stderr.splitlines() if not line.startswith("note: ")]  # the note: rank 0's
    assert res.returncode == 1 and errors == [], res.stderr  # rank 0 stopped (it says why); no error of its own
