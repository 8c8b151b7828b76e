"""Non-default choices: what a run given them says and computes."""

from __future__ import annotations

import pytest
from cli_in_process import run_cli

PARITY = ("--dataset", "parity", "--layers", "10,8,2", "--batch-size", "100", "--quiet")


@pytest.mark.slow
@pytest.mark.parametrize(("schedule", "noted"), [("step:step_size=1", False), ("step", True)])
def test_the_step_note_on_an_extended_run_only_names_a_step_size_filled_in(tmp_path, schedule, noted):
    """A step_size given with the run (1, as 2 epochs' default happens to be) is the run's own:
    a new run of 6 epochs from its configuration keeps it too, so no note may say it would take 2."""
    run = tmp_path / "run"
    assert run_cli("train", *PARITY, "--schedule", schedule, "--epochs", "2", "--out", run).returncode == 0
    res = run_cli("train", "--resume", run, "--epochs", "6", "--quiet")
    assert res.returncode == 0, res.stderr
    said = "keeps its step schedule's step_size=1" in res.stderr
    assert said is noted, res.stderr
    if noted:
        assert "a new run of 6 epochs would take step_size=2" in res.stderr
