"""Review of the changes of one day: the cases they left out."""

from __future__ import annotations

import pytest

from test_cli_r36 import _files, overwrite_a_run_with


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# -- train --overwrite: Ctrl-C before training begins keeps the previous run --------------------
@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_ctrl_c_before_training_begins_keeps_the_overwritten_run(tmp_path, monkeypatch):
    """--help promises the previous run's files are removed when the new run's training
    begins; a Ctrl-C (or SIGTERM) before then removed them all the same."""
    res, before = overwrite_a_run_with(tmp_path, monkeypatch, "fit", _interrupt)
    assert res.returncode == 130 and res.stderr.count("\n") == 1, res.stderr
    assert "kept" in res.stderr and "Start over" not in res.stderr, res.stderr
    assert _files(tmp_path / "run") == before


# -- CSV: a header read by the csv module ------------------------------------------------------
def test_a_quoted_header_name_over_the_csv_field_limit_is_no_traceback(tmp_path):
    """The header is split by the csv module where its quotes pair up; a quoted name longer
    than that module's field limit raised _csv.Error through the command."""
    from deltaprop.data import read_table

    path = tmp_path / "long.csv"
    rows = "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(20))
    path.write_text('a,"' + "b" * 140_000 + '",label\n' + rows)
    table = read_table(path)
    assert table.x.shape == (20, 2) and list(table.y) == [i % 2 for i in range(20)]
