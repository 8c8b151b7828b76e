"""The report of a resumed run whose last session wrote no model (it diverged, was
interrupted or failed) says whose the folder's model.safetensors is (the session that wrote
it, and its epoch), not that no model was written; ``deltaprop report`` says the same, and
neither claims a model the folder no longer holds."""

from __future__ import annotations

import json
import os
import signal

import pytest
from cli_in_process import run_cli as cli

import deltaprop as dp
import deltaprop.cli as cli_module
from deltaprop.report_html import render

DIVERGES = ("--dataset", "parity", "--activation", "sigmoid", "--output-activation", "identity", "--loss", "mse",
            "--momentum", "0.9", "--lr", "2", "--quiet")
EARLIER = "the folder's model.safetensors (and its evaluation.json) is session 1's, with the weights of epoch 2"


def _resumed_and_diverged(out):
    assert cli("train", *DIVERGES, "--epochs", "2", "--out", out).returncode == 0
    assert cli("train", "--resume", out, "--epochs", "30", "--quiet").returncode == 1
    return json.loads((out / "run.json").read_text())


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_resumed_run_that_diverged_names_the_earlier_sessions_model(tmp_path):
    out = tmp_path / "run"
    facts = _resumed_and_diverged(out)
    assert facts["status"] == "diverged" and len(facts["sessions"]) == 2 and (out / "model.safetensors").is_file()
    assert facts["earlier_model"]["session"] == 1 and facts["earlier_model"]["epoch"] == 2
    for page in ((out / "report.html").read_text(), None):
        if page is None:  # the page rebuilt from the files says the same
            (out / "report.html").unlink()
            assert cli("report", out).returncode == 0
            page = (out / "report.html").read_text()
        assert "no model was written" not in page and "it wrote no model and scored none" not in page
        assert f"this session wrote no model: {EARLIER}" in page
        assert f"None for the last session: it diverged and wrote no model, so it scored none; {EARLIER}" in page


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_rebuilt_page_claims_no_model_the_folder_no_longer_holds(tmp_path):
    out = tmp_path / "run"
    _resumed_and_diverged(out)
    (out / "model.safetensors").unlink()
    assert cli("report", out).returncode == 0
    page = (out / "report.html").read_text()
    assert "session 1's" not in page and "no model was written" in page


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_resume_that_finishes_drops_the_earlier_model(tmp_path):
    out = tmp_path / "run"
    assert cli("train", "--dataset", "parity", "--epochs", "1", "--quiet", "--out", out).returncode == 0
    assert cli("train", "--resume", out, "--epochs", "2", "--quiet").returncode == 0
    facts = json.loads((out / "run.json").read_text())
    assert facts["status"] == "done" and "earlier_model" not in facts and facts["model_weights"]["epoch"] == 2
    assert "session 1's" not in (out / "report.html").read_text()


def test_an_interrupted_resume_names_the_earlier_model():
    record = {"epoch": 3, "loss": 0.5, "accuracy": 0.7}
    facts = {"status": "interrupted", "config": {"dataset": "parity", "layers": [10, 2]},
             "sessions": [{"command": "a"}, {"command": "b"}],
             "earlier_model": {"session": 1, "epoch": 2, "why": "last_epoch", "sha256": "0" * 64}}
    page = render([record], facts)
    assert f"The last session wrote no model: {EARLIER}" in page
    assert f"None for the last session: it stopped (interrupted) and wrote no model, so it scored none; {EARLIER}" in page


def _terminated_at(epoch: int):
    real = cli_module.fit

    class Terminate(dp.Callback):
        def on_epoch_end(self, state):
            if state.epoch == epoch:
                os.kill(os.getpid(), signal.SIGTERM)

    def fit(*args, callbacks=(), **kwargs):
        return real(*args, callbacks=[*callbacks, Terminate()], **kwargs)

    return fit


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["training", "model", "plot"])
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_resume_stopped_says_whose_model_the_folder_holds(tmp_path, monkeypatch, where):
    # stopped while training or before its model was written: session 1's model is the folder's;
    # stopped after writing its own (the plot comes after the model): no page names session 1's
    out = tmp_path / "run"
    assert cli("train", "--dataset", "parity", "--epochs", "2", "--quiet", "--out", out).returncode == 0
    with monkeypatch.context() as m:
        if where == "training":
            m.setattr(cli_module, "fit", _terminated_at(3))
        else:
            m.setattr(cli_module, "save" if where == "model" else "plot_history", _interrupt)
        assert cli("train", "--resume", out, "--epochs", "4", "--quiet").returncode in (130, 143)
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    ours = "session 1's, with the weights of epoch 2"
    page = (out / "report.html").read_text()
    assert cli("report", out).returncode == 0
    for page in (page, (out / "report.html").read_text()):
        if where == "plot":
            assert ours not in page
        else:
            assert f"The last session wrote no model: {EARLIER}" in page
            assert "it stopped (interrupted) and wrote no model, so it scored none" in page


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_an_older_run_json_of_a_resume_that_diverged_still_names_an_earlier_model(tmp_path):
    # a run.json written before earlier_model was recorded: a diverged session writes no model,
    # so the folder's is an earlier session's
    out = tmp_path / "run"
    facts = _resumed_and_diverged(out)
    del facts["earlier_model"]
    (out / "run.json").write_text(json.dumps(facts))
    assert cli("report", out).returncode == 0
    page = (out / "report.html").read_text()
    assert "no model was written" not in page
    assert "this session wrote no model: the folder's model.safetensors (and its evaluation.json) is an earlier " \
           "session's, written when that session finished" in page
