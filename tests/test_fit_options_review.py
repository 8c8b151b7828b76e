"""fit's own options: flags that are only True or False, a resume that is a TrainingState,
and, over MPI, a rank that refuses its options does not leave the others waiting."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import ConfigError

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _fit(**options):
    X, y = _data()
    net = dp.mlp([4, 6, 2], activation="relu", seed=0)
    return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, batch_size=16,
                  seed=0, **options)


@pytest.mark.parametrize("option", ["flush_subnormals", "diagnostics"])
@pytest.mark.parametrize("value", ["no", "off", 0, None])
def test_a_flag_that_is_not_true_or_false_is_refused_by_name(option, value):
    # "no" and "off" are truthy: they would have switched the option on
    with pytest.raises(ConfigError, match=f"{option} must be True or False"):
        _fit(**{option: value})


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_true_false_and_numpy_bools_are_taken(value):
    history = _fit(flush_subnormals=value, diagnostics=value)
    assert len(history.records) == 1


@pytest.mark.parametrize("resume", [3, "checkpoint.safetensors", {"epoch": 1}])
def test_resume_that_is_not_a_training_state_is_a_config_error_naming_what_to_pass(resume):
    with pytest.raises(ConfigError, match=r"resume= takes the TrainingState.*training_state\(\)"):
        _fit(resume=resume)


def _mpi_available() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return MPIEXEC is not None


@pytest.mark.skipif(not _mpi_available(), reason="mpi4py and mpiexec not installed (uv sync --extra mpi)")
@pytest.mark.parametrize("bad, said", [("threads=0", "threads must be >= 1"),
                                       ("flush_subnormals='yes'", "flush_subnormals must be True or False")])
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_one_rank_refusing_its_options_stops_every_rank_instead_of_hanging(tmp_path, bad, said):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import numpy as np
        from mpi4py import MPI
        import deltaprop as dp

        comm = MPI.COMM_WORLD
        rng = np.random.default_rng(0)
        X = rng.standard_normal((64, 4)).astype(np.float32)
        y = (X[:, 0] > 0).astype(np.int64)
        net = dp.mlp([4, 6, 2], activation="relu", seed=0)
        options = dict({bad}) if comm.Get_rank() == 1 else {{}}
        try:
            dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, batch_size=16,
                   seed=0, comm=comm, **options)
        except dp.ConfigError as exc:
            print(f"rank {{comm.Get_rank()}}: {{exc}}", flush=True)
            sys.exit(3)
        print(f"rank {{comm.Get_rank()}}: trained", flush=True)
    """))
    try:
        proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(script)], capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("rank 0 waited for rank 1, which had refused its options")
    assert proc.returncode != 0
    assert f"rank 1: {said}" in proc.stdout
    assert "rank 0: process 1 of 2 could not start data-parallel training" in proc.stdout
    assert "trained" not in proc.stdout
