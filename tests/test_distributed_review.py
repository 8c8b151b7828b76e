"""Data-parallel training whose batches split unevenly among the ranks, with row weights and
dropout: the gradient average (1/m) Σ_r m_r g_r must weigh each rank by its own rows."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("mpi_uneven_worker.py")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
pytest.importorskip("mpi4py", reason="mpi4py is not installed (uv sync --extra mpi)")
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec is not installed (uv sync --extra mpi)")


@needs_mpi
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_uneven_shares_with_weights_and_dropout_train_as_one_process(tmp_path):
    from mpi_uneven_worker import train

    subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(WORKER), str(tmp_path / "n2")], check=True, timeout=120,
                   capture_output=True)
    ranks = [dict(np.load(tmp_path / f"n2_rank{r}.npz")) for r in range(2)]
    one = train()
    for key, value in one.items():
        assert np.array_equal(ranks[0][key], ranks[1][key]), key  # identical on every rank
        np.testing.assert_allclose(ranks[0][key], value, rtol=1e-9, atol=1e-12, err_msg=key)
