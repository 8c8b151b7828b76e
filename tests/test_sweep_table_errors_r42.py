"""The sweep's summary table says which trials failed and why, in short; sweep.csv keeps
its columns and the whole message."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from cli_in_process import run_cli

from deltaprop import sweep


def _trial(index, status, error="", acc=None, tmp=Path("s")):
    trial = sweep.Trial(index, {"lr": str(index)}, tmp / f"trial-{index}")
    trial.result = {
        "status": status,
        "best_val_accuracy": acc,
        "best_epoch": None if acc is None else 2,
        "epochs": None,
        "seconds": 1.0,
        "folder": str(trial.folder),
        "error": error,
    }
    return trial


def test_the_table_names_each_failed_trials_error_in_short():
    """The table had no error column: a failed trial showed only 'failed'."""
    long = (
        "deltaprop: error: unknown optimizer 'nonsense'; choose one of sgd, momentum, adam, adamw, rmsprop, "
        "adagrad, adadelta. Fix: --optimizer sgd"
    )
    trials = [_trial(0, "ok", acc=0.91), _trial(1, "failed", long), _trial(2, "interrupted", "stopped by Ctrl-C")]
    lines = sweep.table(trials, ["lr"]).splitlines()
    assert lines[0].split()[-1] == "error"
    column = lines[0].index("error")
    assert lines[1][column:] == ""
    assert lines[2][column:] == "unknown optimizer 'nonsense'"
    assert lines[3][column:] == "stopped by Ctrl-C"


def test_a_long_error_is_cut_at_a_word_and_marked():
    text = "deltaprop: error: " + " ".join(["word"] * 40)
    short = sweep.short_error(text)
    assert len(short) <= sweep.TABLE_ERROR_WIDTH and short.endswith("word...")
    diverged = (
        "deltaprop: error: training diverged at epoch 4, step 3 (the loss became NaN or infinite; layer 0 "
        "(Dense)'s largest weight grew from 0.651 to 2.13e+32 since the epoch began); lower --lr (it was 1e+08)"
    )
    assert sweep.short_error(diverged) == "training diverged at epoch 4, step 3 (the loss became NaN..."
    assert sweep.short_error("deltaprop: error: bad value (see x; y). Fix: z") == "bad value (see x; y)"
    assert sweep.short_error("x" * 100) == "x" * (sweep.TABLE_ERROR_WIDTH - 3) + "..."
    assert sweep.short_error("its deltaprop train process exited with status 3, without an error message") == (
        "its deltaprop train process exited with status 3, without..."
    )


def test_a_table_without_errors_has_no_error_column_and_the_csv_keeps_its_columns(tmp_path):
    trials = [_trial(0, "ok", acc=0.9, tmp=tmp_path), _trial(1, "ok", acc=0.8, tmp=tmp_path)]
    assert "error" not in sweep.table(trials, ["lr"])
    failed = [_trial(0, "ok", acc=0.9, tmp=tmp_path), _trial(1, "failed", "deltaprop: error: bad. Fix: good", tmp=tmp_path)]
    lines = sweep.table(failed, ["lr"]).splitlines()
    assert lines[0].split()[-1] == "error" and lines[2].split()[-1] == "bad"
    with sweep.write_results(failed, tmp_path, ["lr"]).open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["trial", "lr", *(sweep.RESULT_COLUMNS.get(k, k) for k in sweep.RESULT_KEYS)]
    assert rows[2][-1] == "deltaprop: error: bad. Fix: good"


@pytest.mark.slow
def test_a_sweeps_printed_table_names_the_failed_trials_error(tmp_path):
    pytest.importorskip("distributed", reason="Dask distributed is not installed (uv sync --extra sweep)")
    config = tmp_path / "parity.toml"
    config.write_text('dataset = "parity"\nlayers = [10, 4, 2]\nepochs = 1\nbatch_size = 16\n')
    result = run_cli("sweep", str(config), "--grid", "optimizer=sgd,nonsense", "--workers", "1", "--out", "s", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("trial  "))
    assert lines[head].split()[-1] == "error"
    failed = next(line for line in lines[head + 1 : head + 3] if " failed " in line)
    assert "unknown optimizer 'nonsense'" in failed
