"""How the library's per-epoch work grows with long runs: small inputs, counted work."""
from __future__ import annotations

import pytest

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


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
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


def _repeats_by_sorting(x: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Whether each row of ``x`` equals a row of ``seen`` exactly, the plain way."""
    def rows(a):
        a = np.ascontiguousarray(a.reshape(len(a), -1), dtype=np.float64) + 0.0
        return a.view(np.dtype((np.void, 8 * a.shape[1]))).ravel()
    return np.isin(rows(x), rows(seen))


def test_repeated_rows_are_found_exactly_whatever_their_hash(monkeypatch):
    from deltaprop import cli

    monkeypatch.setattr(cli, "_REPEAT_CHUNK", 7)  # rows hashed a few at a time
    rng = np.random.default_rng(1)
    seen = rng.integers(0, 3, size=(300, 4)).astype(np.float32)  # few distinct rows: many repeats
    x = np.concatenate([rng.integers(0, 3, size=(200, 4)), rng.integers(3, 6, size=(50, 4))]).astype(np.float32)
    x[0], seen[0] = [-0.0, 1, 2, 0], [0.0, 1, 2, 0]  # -0.0 equals 0.0
    found = cli._repeats(x, seen)
    assert found.dtype == bool and found[0] and not found[200:].any()
    assert (found == _repeats_by_sorting(x, seen)).all()
    images = rng.integers(0, 2, size=(40, 2, 3)).astype(np.float64)  # rows of more than one axis
    assert (cli._repeats(images, images[::2]) == _repeats_by_sorting(images, images[::2])).all()


def test_finding_repeated_rows_takes_far_less_memory_than_the_rows():
    import tracemalloc

    from deltaprop import cli

    rng = np.random.default_rng(2)
    seen = rng.standard_normal((80_000, 20)).astype(np.float32)
    x = np.concatenate([seen[:100], rng.standard_normal((19_900, 20)).astype(np.float32)])
    tracemalloc.start()
    try:
        found = cli._repeats(x, seen)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found[:100].all() and not found[100:].any()
    assert peak < (x.nbytes + seen.nbytes) / 2  # not a float64 copy of both tables, sorted


def _peak_bytes(call) -> tuple[object, int]:
    """``call()``'s result and the most memory it held at once beyond what was held before."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        result = call()
        return result, tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def test_counting_a_wide_layers_distinct_units_takes_far_less_memory_than_its_weights():
    import deltaprop as dp
    from deltaprop import diagnostics

    layer = dp.Network([dp.Dense(4000, 512)], seed=0).layers[0]
    count, peak = _peak_bytes(lambda: diagnostics.distinct_units(layer))
    assert count == 512
    assert peak < layer.W.value.nbytes / 2  # no float64 copy of the layer (nor of its absolute values)


def test_a_wide_layers_update_norm_takes_far_less_memory_than_its_weights():
    from deltaprop import diagnostics

    rng = np.random.default_rng(3)
    before = rng.standard_normal(2_000_000).astype(np.float32)
    after = before + np.float32(0.5)
    norm, peak = _peak_bytes(lambda: diagnostics._norm(after, minus=before))
    assert np.isclose(norm, np.sqrt(np.sum((after.astype(np.float64) - before) ** 2)), rtol=1e-12)
    assert np.isclose(diagnostics._norm(after), np.linalg.norm(after.astype(np.float64)), rtol=1e-12)
    assert peak < after.nbytes / 2


def test_distinct_units_read_in_small_blocks_still_finds_the_copies(monkeypatch):
    import deltaprop as dp
    from deltaprop import diagnostics

    monkeypatch.setattr(diagnostics, "UNIT_BLOCK", 7)  # a row or so of weights at a time
    rng = np.random.default_rng(4)
    layer = dp.Network([dp.Dense(30, 40)], seed=0).layers[0]
    base = rng.standard_normal((31, 5)).astype(np.float32)
    units = base[:, np.arange(40) % 5] * (1 + 1e-8 * rng.standard_normal((31, 40)))
    layer.W.value[...], layer.b.value[...] = units[:-1], units[-1]
    assert diagnostics.distinct_units(layer) == 5
    assert diagnostics.distinct_units(dp.Network([dp.Dense(30, 40)], seed=0).layers[0]) == 40


def _csv(path, rows: int, label_at: int, scale: float = 1.0):
    """A CSV file of ``rows`` rows of 20 features and a class label (column ``label_at``)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((rows, 20)) * scale
    y = (x[:, 0] > 0).astype(int)
    table = np.insert(x, label_at, y, axis=1)
    names = [f"f{i}" for i in range(20)]
    names.insert(label_at, "label")
    np.savetxt(path, table, fmt="%.17g", delimiter=",", header=",".join(names), comments="")
    return x, y


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_reading_a_csv_holds_the_table_once_not_three_float64_copies(tmp_path):
    from deltaprop.data.arrays import load_arrays

    path = tmp_path / "big.csv"
    x, _ = _csv(path, 40_000, 20)
    (got, *_), peak = _peak_bytes(lambda: load_arrays(path, label_column="label"))
    assert got.dtype == np.float32 and np.array_equal(got, x.astype(np.float32))
    table = x.size * 8 * 21 / 20  # the file's numbers as float64
    assert peak < 2.5 * table  # the table, the float32 features and the parser's own buffers


def test_features_read_beside_the_label_in_any_column_are_the_files(tmp_path):
    from deltaprop.data.arrays import load_arrays

    for at in (0, 7, 20):
        x, y = _csv(tmp_path / f"at{at}.csv", 50, at)
        got, labels, *_ = load_arrays(tmp_path / f"at{at}.csv", label_column="label")
        assert np.array_equal(got, x.astype(np.float32)) and np.array_equal(labels, y)
        assert got.flags["C_CONTIGUOUS"]
    x, _ = _csv(tmp_path / "wide_range.csv", 50, 20, scale=1e9)
    x[:, 3] = 1e9 + np.arange(50) / 7  # float32 cannot hold these: the features stay float64
    np.savetxt(tmp_path / "t.csv", np.column_stack([x, (x[:, 0] > 0)]), fmt="%.17g", delimiter=",",
               header=",".join([f"f{i}" for i in range(20)] + ["label"]), comments="")
    got, *_ = load_arrays(tmp_path / "t.csv", label_column="label")
    assert got.dtype == np.float64 and got.flags["C_CONTIGUOUS"] and np.array_equal(got, x)
