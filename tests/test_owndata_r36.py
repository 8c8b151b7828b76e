"""A newcomer's own files through `train`, `evaluate` and `predict`: what each command
makes of a header, a label column and the rows, and that a file it cannot read the way
the model needs is refused in one line, never scored or shown wrong."""

from __future__ import annotations

import numpy as np
import pytest

from cli_in_process import run_cli
from deltaprop.data import read_table
from deltaprop.errors import DataError


def _table(n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([np.round(rng.normal(size=(n, 3)), 4), np.arange(n) % 3])


def _csv(path, header: list[str], rows: np.ndarray):
    lines = [",".join(header)] + [",".join(f"{v:g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_header_naming_a_column_twice_in_another_order_is_refused_in_one_line(tmp_path):
    """Trained under ``a,a,b,label``; another file whose two ``a`` columns come elsewhere
    (``b,a,a`` would be read by name, but which ``a`` is which cannot be told)."""
    rows = _table()
    with pytest.raises(DataError, match=r"same columns in another order, and the 2 columns named 'a' cannot be told "
                                        r"apart by name .*give a file with the columns in the trained order"):
        read_table(_csv(tmp_path / "other.csv", ["a", "b", "a", "label"], rows), feature_names=["a", "a", "b"])
    train = _csv(tmp_path / "train.csv", ["a", "a", "b", "label"], rows)
    assert run_cli("train", "--dataset", train, "--epochs", "1", "--quiet", "--out", tmp_path / "run").returncode == 0
    result = run_cli("evaluate", tmp_path / "run", "--dataset", _csv(tmp_path / "other.csv", ["b", "a", "a", "label"],
                                                                      rows[:, [2, 0, 1, 3]]))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("deltaprop: error: ") and result.stderr.count("\n") == 1
    assert "'a' cannot be told apart by name" in result.stderr
