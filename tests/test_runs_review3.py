"""Run folders of runs that did not end with their model written (a resume of a finished
run interrupted, or diverged): the report and the commands that read the folder speak of
the run's last checkpoint, never of a model an earlier session wrote, and say what to do."""

from __future__ import annotations

import pytest

import json

import numpy as np

import deltaprop as dp
import deltaprop.cli as cli
from cli_in_process import run_cli
from test_resume_config_rerun import _interrupted_after
from deltaprop import report

PARITY = ["--dataset", "parity", "--layers", "10,6,2", "--lr", "0.5", "--batch-size", "16"]


def _finished_then_interrupted(tmp_path, monkeypatch):
    """A run finished at epoch 2 (model.safetensors, evaluation.json), then resumed for 4
    epochs and stopped by Ctrl-C at epoch 3: the folder's model and results are epoch 2's."""
    out = tmp_path / "run"
    assert run_cli("train", *PARITY, "--epochs", "2", "--out", out, "-q").returncode == 0
    with monkeypatch.context() as m:
        _interrupted_after(m, 3)
        res = run_cli("train", "--resume", out, "--epochs", "4", "-q")
    assert res.returncode == 130, res.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert (out / "model.safetensors").is_file() and (out / "evaluation.json").is_file()  # of epoch 2
    return out


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_report_of_an_interrupted_resume_shows_no_results_of_the_earlier_model(tmp_path, monkeypatch):
    out = _finished_then_interrupted(tmp_path, monkeypatch)
    written = (out / "report.html").read_text(encoding="utf-8")
    assert "3 epoch(s)" in written and "test accuracy" not in written  # the run's own report
    assert run_cli("report", out).returncode == 0
    rebuilt = (out / "report.html").read_text(encoding="utf-8")
    # the test accuracy, confusion matrix and wrong examples of epoch 2's model beside curves that
    # end at epoch 3 read as the results of the run: the rebuilt page is the run's own
    assert "test accuracy" not in rebuilt and "None for the last session: it stopped (interrupted)" in rebuilt
    assert rebuilt == written


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_an_interrupted_resume_draws_its_checkpoints_weights(tmp_path, monkeypatch):
    out = _finished_then_interrupted(tmp_path, monkeypatch)
    weights = report.read_run(out)["weights"]
    checkpoint = dp.serialization.load_checkpoint(out / "checkpoint.safetensors")
    model = dp.load(out / "model.safetensors")
    assert np.array_equal(weights, checkpoint.net.layers[0].W.value)
    assert not np.array_equal(weights, model.layers[0].W.value)


DIVERGES = ["--dataset", "parity", "--layers", "10,8,2", "--activation", "relu", "--output-activation", "identity",
            "--loss", "mse", "--lr", "2", "--epochs", "30"]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_evaluate_on_a_diverged_run_does_not_send_the_user_to_resume(tmp_path):
    out = tmp_path / "r"
    assert run_cli("train", *DIVERGES, "--out", out, "-q").returncode == 1
    assert json.loads((out / "run.json").read_text())["status"] == "diverged"
    for command in ("evaluate", "info"):
        res = run_cli(command, out)
        assert res.returncode == 1 and res.stderr.count("\n") == 1
        # `train --resume` repeats the same steps at the same rate: it diverges again
        assert "train --resume" not in res.stderr and "diverged" in res.stderr, res.stderr
        assert f"{out / 'checkpoint.safetensors'}" in res.stderr and "(it was 2)" in res.stderr
        assert f"train --config {out / 'config.toml'} --lr LOWER" in res.stderr
    again = run_cli("train", "--resume", out, "-q")  # what the old line advised: it diverged again
    assert again.returncode == 2 and "holds weights that had already exploded" in again.stderr, again.stderr
    assert run_cli("train", "--config", out / "config.toml", "--lr", "0.05", "--out", tmp_path / "new", "-q").returncode == 0


def test_evaluate_on_a_run_that_diverged_in_its_first_epoch(tmp_path):
    out = tmp_path / "r"
    assert run_cli("train", *DIVERGES[:-4], "--lr", "1e30", "--epochs", "2", "--out", out, "-q").returncode == 1
    assert not (out / "checkpoint.safetensors").exists()
    res = run_cli("evaluate", out)
    assert res.returncode == 1 and "diverged before its first epoch ended" in res.stderr, res.stderr
    assert "--overwrite" not in res.stderr and "--lr LOWER" in res.stderr


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_evaluate_says_when_the_folders_model_is_of_an_earlier_session(tmp_path, monkeypatch):
    out = _finished_then_interrupted(tmp_path, monkeypatch)
    for command in ("evaluate", "info"):
        res = run_cli(command, out)
        assert res.returncode == 0, res.stderr
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("note: ")  # not silently epoch 2's model
        assert "earlier session" in res.stderr and "last checkpoint (epoch 3)" in res.stderr
        assert f"give {out / 'checkpoint.safetensors'}" in res.stderr and f"train --resume {out}" in res.stderr
    assert run_cli("train", "--resume", out, "-q").returncode == 0  # the run finishes: its model is its own
    assert run_cli("evaluate", out).stderr == ""


def test_no_note_when_the_model_is_of_the_runs_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"  # stopped while its results were written: the model is of its last epoch
    with monkeypatch.context() as m:
        m.setattr(cli, "plot_history", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
        assert run_cli("train", *PARITY, "--epochs", "2", "--out", out, "-q").returncode == 130
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    res = run_cli("evaluate", out)
    assert res.returncode == 0 and res.stderr == ""


def test_report_of_a_run_stopped_before_its_first_checkpoint_says_start_over(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(cli, "fit", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))  # Ctrl-C in epoch 1
        res = run_cli("train", *PARITY, "--epochs", "3", "--out", out, "-q")
    assert res.returncode == 130 and "nothing was saved to resume from" in res.stderr
    assert not (out / "checkpoint.safetensors").exists()
    pages = [(out / "report.html").read_text(encoding="utf-8")]  # the run's own, then rebuilt
    assert run_cli("report", out).returncode == 0
    pages.append((out / "report.html").read_text(encoding="utf-8"))
    for page in pages:
        assert 'class="status interrupted"' in page
        assert "--resume" not in page  # a resume refuses the folder: it holds no checkpoint
        assert "nothing to resume" in page and "--config FOLDER/config.toml --out FOLDER --overwrite" in page
    refused = run_cli("train", "--resume", out, "-q")
    assert refused.returncode != 0 and "no checkpoint" in refused.stderr


def test_report_of_a_failed_run_without_a_checkpoint_says_start_over():
    from deltaprop.report_html import render

    page = render([], {"status": "failed"})
    assert "--resume" not in page and "nothing to resume" in page and "once the cause is fixed" in page
    page = render([{"epoch": 1, "loss": 0.5, "lr": 0.1}], {"status": "failed"})
    assert "deltaprop train --resume</code> with its folder continues it from its last checkpoint" in page


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_info_says_which_epochs_weights_an_early_stopped_model_holds(tmp_path):
    out = tmp_path / "run"  # lr 20 on parity: val_loss is best at epoch 1, and early stopping ends at epoch 3
    res = run_cli("train", *PARITY[:-4], "--batch-size", "16", "--lr", "20", "--early-stopping", "1", "--epochs", "30",
                  "--out", out, "-q")
    assert res.returncode == 0, res.stderr
    kept = json.loads((out / "run.json").read_text())["model_weights"]
    assert kept["why"] == "early_stopping" and kept["epoch"] < kept["last_epoch"]
    for given in (out, out / "model.safetensors"):
        info = run_cli("info", given)
        assert info.returncode == 0 and info.stderr == ""
        line = next(x for x in info.stdout.splitlines() if x.startswith("weights: "))
        assert line.startswith(f"weights: epoch {kept['epoch']} (early stopping kept the weights of epoch {kept['epoch']}")
        assert f"stopped the run at epoch {kept['last_epoch']}" in line  # not the configured 30 epochs
    assert "weights:" not in run_cli("info", out / "checkpoint.safetensors").stdout  # its own epoch line says it
