"""A sweep that no trial started (its cluster could not be reached) leaves no empty folder
of its own making; a folder the user named stays, for the corrected command."""

import pytest
from cli_in_process import run_cli

pytest.importorskip("distributed")

from deltaprop import sweep  # noqa: E402
from deltaprop.errors import ConfigError  # noqa: E402


@pytest.fixture
def unreachable(monkeypatch):
    def refuse(*args, **kwargs):
        raise ConfigError("could not reach the Dask scheduler at tcp://127.0.0.1:9")

    monkeypatch.setattr(sweep, "run_sweep", refuse)
    monkeypatch.setattr(sweep, "answer_from_scheduler", lambda address, timeout: None)  # as if it had answered


def test_a_sweep_folder_it_made_is_removed_when_no_trial_started(tmp_path, unreachable):
    res = run_cli("sweep", "--grid", "lr=0.1,0.2", "--scheduler", "tcp://127.0.0.1:9",
                  cwd=tmp_path)
    assert res.returncode != 0 and "could not reach" in res.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_a_named_empty_folder_is_kept(tmp_path, unreachable):
    (tmp_path / "mine").mkdir()
    res = run_cli("sweep", "--grid", "lr=0.1,0.2", "--scheduler", "tcp://127.0.0.1:9",
                  "--out", "mine", cwd=tmp_path)
    assert res.returncode != 0 and (tmp_path / "mine").is_dir()


def test_a_named_folder_it_made_is_removed(tmp_path, unreachable):
    res = run_cli("sweep", "--grid", "lr=0.1,0.2", "--scheduler", "tcp://127.0.0.1:9",
                  "--out", "new/sweep", cwd=tmp_path)
    assert res.returncode != 0 and not (tmp_path / "new" / "sweep").exists()
