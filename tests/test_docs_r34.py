"""What the pages promise about a run's files and commands, where the code said otherwise."""

from __future__ import annotations

import json

import pytest
from cli_in_process import run_cli

from deltaprop.report_html import model_weights_words


def _parity_run(tmp_path, *limit):
    run = tmp_path / "run"
    res = run_cli("train", "--dataset", "parity", "--layers", "10,3,2", "--batch-size", "8", *limit,
                  "--quiet", "--out", run)
    assert res.returncode == 0, res.stderr
    return run


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_info_and_report_say_a_model_stopped_inside_an_epoch_holds_part_of_it(tmp_path):
    # `--steps 100` on 79 batches an epoch stops 21 batches into epoch 2: info and the report's
    # 'model weights' row said 'epoch 2 (the last epoch trained)', as if epoch 2 were whole,
    # while the report's header and history.png said it was partial
    run = _parity_run(tmp_path, "--steps", "100")
    kept = json.loads((run / "run.json").read_text())["model_weights"]
    assert kept["epoch"] == 2 and kept["batches"] + kept["epoch_batches"] == 100
    info = run_cli("info", run)
    assert info.returncode == 0, info.stderr
    line, = [line for line in info.stdout.splitlines() if line.startswith("weights:")]
    assert f"partial: {kept['batches']} of its {kept['epoch_batches']} batches" in line
    assert f"partial: {kept['batches']} of its {kept['epoch_batches']} batches" in (run / "report.html").read_text()


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_a_model_of_whole_epochs_is_still_the_last_epoch_trained(tmp_path):
    run = _parity_run(tmp_path, "--epochs", "2")
    assert "batches" not in json.loads((run / "run.json").read_text())["model_weights"]
    assert "weights: epoch 2 (the last epoch trained)" in run_cli("info", run).stdout.splitlines()


def test_model_weights_words_reads_only_counts_of_a_partial_epoch():
    # run.json is read back from disk: a count that is no whole number in range is left out
    base = {"epoch": 3, "last_epoch": 3, "why": "last_epoch"}
    assert model_weights_words({**base, "batches": 5, "epoch_batches": 9}).startswith("epoch 3, partial: 5 of its 9")
    for batches, total in [(True, 9), (9, 9), ("5", 9), (0, 9), (5, None)]:
        assert model_weights_words({**base, "batches": batches, "epoch_batches": total}) == \
            "epoch 3 (the last epoch trained)"


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_gradcheck_takes_the_larger_h_its_note_names():
    # the note said 'check them with a larger h (h=1e-04 ...)', and the command had no option for h
    # (`--h 1e-04` printed the help): docs/backprop.md names --h among gradcheck's options
    deep = ("gradcheck", "--layers", "4,16,16,16,16,16,16,3", "--activation", "sigmoid", "--loss", "mse",
            "--output-activation", "sigmoid")
    failed = run_cli(*deep)
    assert failed.returncode == 1 and "check them with a larger h (h=1e-04" in failed.stdout
    passed = run_cli(*deep, "--h", "1e-04")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.splitlines()[-1].endswith("(tolerance 1e-06): passed")
    refused = run_cli("gradcheck", "--h", "0")
    assert refused.returncode == 2 and refused.stderr.splitlines() == ["deltaprop: error: --h must be > 0, got 0.0"]
