"""A sweep's trial runs as a deltaprop train process of its own: its output is its own under
threads, a folder of the sweep that holds no finished run is started over, a finished one is
not trained again, a folder another training holds is left alone, and a stop ends it as
Ctrl-C ends train."""

import json
import runpy
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_in_process import run_cli

from deltaprop import sweep_trial
from deltaprop.runlock import RunLock, is_held
from deltaprop.sweep_trial import TRIAL_PROCESS, run_trial


def _config(tmp_path: Path, epochs: int = 1, batch_size: int = 16) -> str:
    path = tmp_path / "parity.toml"
    path.write_text(f'dataset = "parity"\nlayers = [10, 3, 2]\nepochs = {epochs}\nbatch_size = {batch_size}\n')
    return str(path)


@pytest.mark.slow
def test_trials_run_at_once_in_threads_keep_their_own_errors(tmp_path):
    # a worker with several threads ran them at once; redirected process-wide streams gave
    # each failed trial another's message
    config = _config(tmp_path)
    values = ["abc", "-1", "xyz", "-2"]
    results = {}

    def run(value):
        results[value] = run_trial(config, {"lr": value}, str(tmp_path / f"t{value}"))

    threads = [threading.Thread(target=run, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for value in values:
        assert results[value]["exit"] == 2
        shown = value if value.isalpha() else f"{float(value)}"
        assert f"got {shown!r}" in results[value]["error"] or f"got {shown}" in results[value]["error"], results


def test_train_flags_are_sent_by_their_names(tmp_path):
    # the grid's key output is train's --output-activation
    argv = sweep_trial._argv(None, {"output": "sigmoid", "data_dir": "/d", "lr": "0.1"}, str(tmp_path))
    assert argv[argv.index("--output-activation") + 1] == "sigmoid"
    assert argv[argv.index("--data-dir") + 1] == "/d" and "--overwrite" in argv


@pytest.mark.slow
def test_a_folder_of_the_sweep_without_a_finished_run_is_started_over(tmp_path):
    # a worker killed mid-trial left config.toml, history and a checkpoint; Dask's retry of
    # the trial failed with "start it over with --overwrite", an option sweep does not have
    config = _config(tmp_path, epochs=2)
    folder = tmp_path / "trial-000"
    # the first try: the command line the trial's process runs, run in this process
    first = run_cli(*sweep_trial._argv(config, {"lr": "0.5"}, str(folder)))
    assert first.returncode == 0, first.stderr
    (folder / "model.safetensors").unlink()
    (folder / "run.json").write_text(json.dumps({"status": "training"}))
    again = run_trial(config, {"lr": "0.5"}, str(folder))
    assert again["exit"] == 0, again["error"]
    assert json.loads((folder / "run.json").read_text())["status"] == "done"


def test_a_folder_that_holds_a_finished_run_is_not_trained_again(tmp_path):
    folder = tmp_path / "trial-000"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"kept")
    (folder / "run.json").write_text(json.dumps({"status": "done"}))
    result = run_trial(_config(tmp_path), {"lr": "0.5"}, str(folder))
    assert result["exit"] == 0
    assert (folder / "model.safetensors").read_bytes() == b"kept"


@pytest.mark.slow
def test_a_folder_another_training_holds_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_trial, "LOCK_WAIT", 0.3)
    folder = tmp_path / "trial-000"
    folder.mkdir()
    (folder / "history.csv").write_text("epoch\n1\n")
    with RunLock(folder):
        result = run_trial(_config(tmp_path), {"lr": "0.5"}, str(folder))
    assert result["exit"] != 0 and "is in use by process" in result["error"], result
    assert (folder / "history.csv").read_text() == "epoch\n1\n"


@pytest.mark.slow
def test_a_stopped_trial_ends_as_train_ends_on_ctrl_c(tmp_path):
    config = _config(tmp_path, epochs=200, batch_size=1)
    folder = tmp_path / "trial-000"
    argv = sweep_trial._argv(config, {"lr": "0.3"}, str(folder))
    # started with SIGINT ignored, as a worker of the local cluster has it
    proc = subprocess.Popen([sys.executable, "-c", TRIAL_PROCESS, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    # diagnostics.csv is written at the first epoch's end (the checkpoint only every few
    # seconds): the stop comes after a finished epoch, whose checkpoint Ctrl-C keeps
    deadline = time.monotonic() + 60
    while not (folder / "diagnostics.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    _, err = sweep_trial._communicate(proc, lambda: True)
    assert proc.returncode == 130, err
    assert "interrupted; the checkpoint of epoch" in err
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"
    assert not is_held(folder)


@pytest.mark.slow
def test_the_trial_process_benchmark_prints_both_forms_and_the_cost(monkeypatch, capsys):
    # run as its own script in this process: its own-process form starts trial processes itself
    bench = Path(__file__).resolve().parent.parent / "bench" / "sweep_trial_cost.py"
    monkeypatch.setattr(sys, "argv", [str(bench), "--rounds", "1"])
    runpy.run_path(str(bench), run_name="__main__")
    out = capsys.readouterr().out
    assert "in process   median" in out and "own process  median" in out
    assert "a trial's own process costs" in out


@pytest.mark.slow  # about a second
def test_stopping_a_sweep_off_the_main_thread_cancels_without_touching_signals(tmp_path):
    # run_sweep may run in a thread of a program; signal.signal works in the main thread only
    from deltaprop.sweep import _stop, plan_trials

    class Cancelled:
        status = "pending"
        cancelled = False

        def cancel(self):
            self.cancelled = True

    trials = plan_trials({"lr": ["1", "2"]}, tmp_path)
    futures = {Cancelled(): t for t in trials}
    errors = []

    def stop():
        try:
            _stop(futures)
        except Exception as exc:  # whatever it raised is the failure
            errors.append(exc)

    thread = threading.Thread(target=stop)
    thread.start()
    thread.join()
    assert errors == []
    assert all(f.cancelled for f in futures)
    assert all(not t.result for t in trials)  # none was running: they stay "not run"
