"""Review of the latest fixes: `deltaprop sweep` checks DELTAPROP_BLAS_UPDATES and
DELTAPROP_KERNELS before any trial (as train does), and a train start refused before
training leaves no empty runs/<date-time> folder behind."""

from __future__ import annotations

import socket

import pytest

import deltaprop.cli as cli
import deltaprop.kernels as kernels
import deltaprop.sweep as sweep
from cli_in_process import run_cli


def _no_trials(*args, **kwargs):
    raise AssertionError("the sweep started its trials")


@pytest.mark.parametrize("name", ["DELTAPROP_BLAS_UPDATES", "DELTAPROP_KERNELS"])
def test_sweep_refuses_a_bad_environment_variable_before_any_trial_or_folder(tmp_path, monkeypatch, name):
    monkeypatch.setattr(kernels, "_env_choice", None)  # read again, as in a new process
    monkeypatch.setattr(sweep, "run_sweep", _no_trials)
    res = run_cli("sweep", "--grid", "lr=0.1,0.3", "--workers", "1", "--out", "s", cwd=tmp_path, env={name: "bogus"})
    assert res.returncode == 2, res.stderr  # as train refuses it
    assert res.stderr.count("\n") == 1 and f"{name}='bogus'" in res.stderr, res.stderr
    assert not (tmp_path / "s").exists()  # the corrected command may use --out s


def test_train_serve_on_a_taken_port_leaves_no_empty_run_folder(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run_cli("train", "--dataset", "parity", "--layers", "10,6,2", "--epochs", "1", "-q", "--serve", port,
                      cwd=tmp_path)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and f"port {port}" in res.stderr, res.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "16"]


def _files(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _read_error(*args, **kwargs):
    raise OSError(5, "Input/output error")


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_a_read_error_after_config_toml_before_training_keeps_the_overwritten_run(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "1", "-q", "--out", out).returncode == 0
    before = _files(out)
    with monkeypatch.context() as m:
        m.setattr(cli, "_model_meta", _read_error)  # it reads every training row on disk, after config.toml
        res = run_cli("train", *PARITY, "--epochs", "2", "-q", "--out", out, "--overwrite")
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert "the run it was to overwrite is kept" in res.stderr and "run the same command again" in res.stderr
    assert _files(out) == before
