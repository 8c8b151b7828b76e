"""A data-parallel run that diverges: every rank raises the same diagnosis, read as one
process reads it (not from the NaN mark the step's gradient reduction carries)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_distributed import MPIEXEC, needs_mpi

WORKER = Path(__file__).with_name("mpi_divergence_worker.py")
CASES = ("lr", "targets", "val")


@pytest.fixture(scope="module")
def diverged(tmp_path_factory) -> dict[str, list[dict]]:
    """Each CASE of ``tests/mpi_divergence_worker.py`` on two ranks, in one job: what each
    rank's ``TrainingDivergedError`` said."""
    out = tmp_path_factory.mktemp("diverged") / "d"
    res = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(WORKER), str(out), *CASES],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return {case: [json.loads(Path(f"{out}_{case}_rank{r}.json").read_text()) for r in (0, 1)] for case in CASES}


@needs_mpi
@pytest.mark.parametrize("case", CASES)
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_every_rank_raises_the_same_divergence(diverged, case):
    # each rank named what it saw from its own view: "the loss is inf on process 0" on one,
    # "... on process 1" or "... on another process" on the other
    first, second = diverged[case]
    assert first["message"] is not None
    assert first == second


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
@needs_mpi
def test_a_loss_that_overflows_on_one_rank_names_the_layer_one_process_names(diverged):
    from mpi_divergence_worker import train

    # every rank named "layer 0 (Dense) has NaN or infinite gradients": the NaN that marks the
    # overflow in the gradient reduction, not the network
    one = train("targets")["layer"]
    for rank in diverged["targets"]:
        assert "the loss is inf on process 1" in rank["message"]
        assert rank["layer"].split(" are at most")[0] == one.split(" are at most")[0] == "layer 2 (Dense)'s outputs"
        assert "so the targets (or sample weights) overflowed the loss" in rank["layer"]


@pytest.mark.slow  # about 0.7 s in the quick suite on 2 cores
@needs_mpi
def test_validation_rows_that_overflow_on_one_rank_are_named_on_every_rank(diverged):
    for rank in diverged["val"]:
        assert "scoring the validation rows of process 1" in rank["message"]
