"""A newcomer's own files through `train`, `evaluate` and `predict`: what each command
makes of a header, a label column and the rows, and that a file it cannot read the way
the model needs is refused in one line, never scored or shown wrong."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.data import read_table
from deltaprop.errors import DataError


def _table(n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([np.round(rng.normal(size=(n, 3)), 4), np.arange(n) % 3])


def _csv(path, header: list[str], rows: np.ndarray):
    lines = [",".join(header)] + [",".join(f"{v:g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_header_naming_a_column_twice_in_another_order_is_refused_not_a_traceback(tmp_path):
    """Trained under ``a,a,b,label``; another file whose two ``a`` columns come elsewhere
    (which ``a`` is which cannot be told by name). ``evaluate`` reads it through
    ``read_table``: a DataError is its one line, where a StopIteration was a traceback."""
    rows = _table()
    with pytest.raises(DataError, match=r"same columns in another order, and the 2 columns named 'a' cannot be told "
                                        r"apart by name .*give a file with the columns in the trained order"):
        read_table(_csv(tmp_path / "other.csv", ["a", "b", "a", "label"], rows), feature_names=["a", "a", "b"])
