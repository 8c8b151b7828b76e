"""Run a worker script of this folder on two MPI ranks and read what each rank wrote."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def ranks_lines(worker: str, folder: Path, n: int = 2) -> list[list[str]]:
    """``mpiexec -n n python tests/<worker> folder``; the lines of each rank's ``folder/rank{r}.txt``.
    Skips where mpi4py or mpiexec is missing (``uv sync --extra mpi``)."""
    pytest.importorskip("mpi4py")
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpiexec not installed (uv sync --extra mpi)")
    subprocess.run([mpiexec, "-n", str(n), sys.executable, str(Path(__file__).with_name(worker)), str(folder)],
                   check=True, timeout=240, capture_output=True)
    return [(folder / f"rank{r}.txt").read_text().splitlines() for r in range(n)]
