"""How the library's per-epoch work grows with long runs: small inputs, counted work."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deltaprop import alerts


class _Counted(Sequence):
    """A list of records that counts how many of them were read."""

    def __init__(self, records):
        self.records, self.reads = records, 0

    def __len__(self):
        return len(self.records)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return self.records[k]
        self.reads += 1
        return self.records[k]


def _full_batch(epochs: int, first_steps=None) -> list[dict]:
    """Records of a full-batch run: one step an epoch (``None`` steps for the first ``first_steps``)."""
    return [{"epoch": e, "loss": 1.0, "steps": None if first_steps and e <= first_steps else e, "layers": []}
            for e in range(1, epochs + 1)]


def _scan_back(records) -> int | None:
    """The flat-loss window as the rule defines it: the fewest epochs back (at least
    FLAT_EPOCHS) that reach a record without a step count or FLAT_STEPS steps back."""
    last = records[-1]["steps"]
    for back in range(alerts.FLAT_EPOCHS, len(records)):
        start = records[-1 - back]["steps"]
        if start is None or last - start >= alerts.FLAT_STEPS:
            return back
    return None


def test_the_flat_window_of_a_long_full_batch_run_reads_few_records_an_epoch():
    records = _Counted(_full_batch(20 * alerts.FLAT_STEPS))
    assert alerts._flat_window(records) == alerts.FLAT_STEPS
    assert records.reads < 64  # a bisect, not a scan back over FLAT_STEPS epochs' records


def test_the_flat_window_bisect_matches_the_scan_back():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        steps = np.cumsum(rng.integers(0, 400, size=n)).tolist()
        unknown = int(rng.integers(0, n)) if rng.random() < 0.3 else 0  # an older history's records first
        records = [{"epoch": k + 1, "loss": 1.0, "steps": None if k < unknown else s, "layers": []}
                   for k, s in enumerate(steps)]
        expected = None if len(records) <= alerts.FLAT_EPOCHS else _scan_back(records)
        assert alerts._flat_window(records) == expected, (steps, unknown)


def test_the_flat_window_reaches_back_to_records_without_step_counts():
    records = _full_batch(50, first_steps=10)  # 40 steps: too few, but an older record has no count
    assert alerts._flat_window(records) == 40
    assert alerts._flat_window(_full_batch(50)) is None
