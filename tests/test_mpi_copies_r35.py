"""Under mpiexec, commands that work in one process are refused once, not run N times over."""

import pytest

from cli_in_process import run_cli


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    assert run_cli("train", "--dataset", "parity", "--epochs", "2", "--out", out, "-q").returncode == 0
    return out


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
@pytest.mark.parametrize("command", [["evaluate"], ["info"], ["plot", "history"]])
def test_rank_0_of_two_refuses_in_one_line(run, tmp_path, command):
    """mpiexec -n 2 deltaprop evaluate printed the evaluation twice and both processes wrote
    evaluation.json at once."""
    res = run_cli(*command, run, cwd=tmp_path, env={"PMI_SIZE": "2", "PMI_RANK": "0"})
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "mpiexec started 2 copies" in res.stderr
    assert f"run deltaprop {command[0]} without mpiexec" in res.stderr


def test_the_other_ranks_end_with_the_same_status_and_say_nothing(run, tmp_path):
    res = run_cli("evaluate", run, cwd=tmp_path, env={"PMI_SIZE": "2", "PMI_RANK": "1"})
    assert (res.returncode, res.stdout, res.stderr) == (2, "", "")


def test_one_process_started_by_mpiexec_runs_the_command(run, tmp_path):
    res = run_cli("info", run, cwd=tmp_path, env={"PMI_SIZE": "1", "PMI_RANK": "0"})
    assert res.returncode == 0 and "epoch" in res.stdout
