"""A file's feature columns matched to the names a model was trained on, by name.

A CSV file with a header names its columns; a model trained on one records the feature
names in their order. Scoring another file by position would read column ``d`` as ``a``
when the same names come in another order, and give a wrong answer without a word. Here
the same names in another order are put back in the trained order, and any other header
(a column missing, added or renamed) is refused, as scikit-learn refuses feature names
that differ from ``feature_names_in_``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from deltaprop.errors import DataError

__all__ = ["align_columns"]


def _listed(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _difference(found: Sequence[str], trained: Sequence[str]) -> str:
    """In words, the first column of ``found`` the model does not know and the first
    trained name the file lacks (either may be absent), or a name given twice."""
    known, present = set(trained), set(found)
    extra = next(((i, n) for i, n in enumerate(found) if n not in known), None)
    missing = next((n for n in trained if n not in present), None)
    parts = []
    if extra is not None:
        parts.append(f"its feature column {extra[0] + 1} of {len(found)}, {extra[1]!r}, is not one the model was "
                     "trained on")
    if missing is not None:
        parts.append(f"it has no column {missing!r}")
    if not parts:  # the same names, some given a different number of times, or as often in another order
        counts, trained_counts = Counter(found), Counter(trained)
        twice = next((n for n, k in counts.items() if k != trained_counts[n]), None)
        if twice is not None:
            parts.append(f"it names the column {twice!r} {counts[twice]} times, the model's data "
                         f"{trained_counts[twice]}")
        else:
            twice = next(n for n, k in counts.items() if k > 1)
            parts.append(f"it names the same columns in another order, and the {counts[twice]} columns named "
                         f"{twice!r} cannot be told apart by name")
    return ", and ".join(parts)


def align_columns(x: np.ndarray, found: Sequence[str], trained: Sequence[str],
                  where: str) -> tuple[np.ndarray, str | None]:
    """The columns of ``x`` (named ``found``, in order) put in the order of ``trained``.

    The same names in the same order: ``x`` as it is. The same names in another order,
    each once: ``x[:, p]`` with ``found[p[j]] == trained[j]``, and a note saying so. Any
    other header raises DataError naming the first column that differs and the fix;
    ``where`` names the file."""
    found, trained = [str(n) for n in found], [str(n) for n in trained]
    if found == trained:
        return x, None
    unique = len(set(found)) == len(found) and len(set(trained)) == len(trained)
    if unique and set(found) == set(trained):
        place = {name: i for i, name in enumerate(found)}
        order = np.array([place[name] for name in trained])
        note = (f"{where} names the model's {len(trained)} feature columns in another order ({_listed(found)}); "
                f"they are read by name, in the trained order ({_listed(trained)})")
        return x[:, order], note
    fix = ("give a file with the columns in the trained order" if Counter(found) == Counter(trained) else
           "give a file whose header names those columns, in any order (rename a column that holds one of them "
           "under another name)")
    raise DataError(f"{where}: the header does not name the feature columns the model was trained on: "
                    f"{_difference(found, trained)} (trained on {_listed(trained)}); {fix}")
