"""Loading a long history: its records are checked in bulk and in place, and the bulk check
refuses exactly what the one-by-one check refuses, with the same message."""

import copy
import json
import math
import tracemalloc

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import _checks, serialization
from deltaprop.bounded import parse_json
from deltaprop.errors import DataError, ModelFileError
from deltaprop.serialization import load_checkpoint


def _fit(folder, epochs):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.Network([dp.Dense(4, 3), dp.Sigmoid(), dp.Dense(3, 2), dp.Softmax()], seed=0, dtype="float64")
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=epochs, batch_size=16, seed=0,
           callbacks=[dp.CheckpointWriter(folder, interval=0.0)])


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """One epoch's record with diagnostics, as a file holds it (keys sorted)."""
    folder = tmp_path_factory.mktemp("run")
    _fit(folder, 2)
    record = load_checkpoint(folder / "checkpoint.safetensors").training["history"][-1]
    assert record["diagnostics"] is not None
    return json.loads(json.dumps(record, sort_keys=True))


def _records(record, n):
    records = []
    for i in range(1, n + 1):
        r = copy.deepcopy(record)
        r["epoch"], r["steps"] = i, 3 * i
        records.append(r)
    return json.loads(json.dumps(records, sort_keys=True))


def _one_by_one(records, monkeypatch, **kw):
    """``history_records`` with the bulk check declining: every record checked on its own."""
    with monkeypatch.context() as m:
        m.setattr(_checks, "_history_passes", lambda records, limit: False)
        return _checks.history_records(records, **kw)


def _text(value):
    return json.dumps(value, allow_nan=True)  # the order of every mapping's keys too


def _variants(record):
    """Well-formed records of every shape a file may hold."""
    plain = copy.deepcopy(record)
    no_columns = {k: v for k, v in record.items() if k not in ("lr", "val_loss", "seconds")}
    old_layers = copy.deepcopy(record)  # written before off_target and stuck were recorded
    for layer in old_layers["diagnostics"]["layers"]:
        del layer["off_target"], layer["stuck"]
    weighted = copy.deepcopy(record)
    weighted["diagnostics"]["weighted_accuracy"] = 1
    extra = copy.deepcopy(record)
    extra["diagnostics"]["comment"] = "kept out"
    extra["note"] = "kept"
    gaps = copy.deepcopy(record)
    gaps.update(val_loss=float("nan"), accuracy=None, lr=1, seconds=3)
    gaps["diagnostics"]["layers"][0]["mean"] = 2  # a whole number is a number
    with_alerts = copy.deepcopy(record)
    with_alerts["alerts"] = [{"rule": "dead_relu", "epoch": 2, "layer": 1, "evidence": "e", "fix": "f"}]
    no_diagnostics = {k: v for k, v in record.items() if k not in ("diagnostics", "alerts")}
    return [plain, no_columns, old_layers, weighted, extra, gaps, with_alerts, no_diagnostics]


def test_the_bulk_check_passes_well_formed_records_and_gives_the_one_by_one_result(record, monkeypatch):
    records = []
    for i, r in enumerate(_variants(record) * 5, start=1):
        records.append({**copy.deepcopy(r), "epoch": i, "steps": i})
    records = json.loads(json.dumps(records))
    assert _checks._history_passes(records, math.inf)  # the bulk path is the one taken
    expected = _one_by_one(copy.deepcopy(records), monkeypatch)
    assert _text(_checks.history_records(copy.deepcopy(records))) == _text(expected)
    given = copy.deepcopy(records)
    out = _checks.history_records(given, in_place=True)
    assert out is given and _text(out) == _text(expected)
    assert "comment" not in out[4]["diagnostics"] and out[4]["note"] == "kept"
    assert out[2]["diagnostics"]["layers"][0]["off_target"] is None and "diagnostics" not in out[7]


def _layer(r):
    return r["diagnostics"]["layers"][1]


def _parameter(r):
    return r["diagnostics"]["parameters"][0]


#: (what, edit of a record, a piece of the message refusing it)
MALFORMED = [
    ("a layer mean as text", lambda r: _layer(r).update(mean="x"), "mean = 'x', not a finite number"),
    ("an infinite std", lambda r: _layer(r).update(std=float("inf")), "std = inf, not a finite number"),
    ("a NaN gradient norm", lambda r: _parameter(r).update(grad_norm=float("nan")), "grad_norm = nan"),
    ("a huge whole norm", lambda r: _parameter(r).update(norm=10**400), None),
    ("identical_units as 1", lambda r: _layer(r).update(identical_units=1), "identical_units = 1, not true or false"),
    ("a fractional index", lambda r: _layer(r).update(index=1.0), "index = 1.0, not a whole number"),
    ("a layer named by a number", lambda r: _layer(r).update(layer=3), "layer = 3, not a name"),
    ("a parameter's layer as text", lambda r: _parameter(r).update(layer="0"), "layer = '0', not a whole number"),
    ("an unknown layer field", lambda r: _layer(r).update(colour=1), "malformed (TypeError"),
    ("a layer without its mean", lambda r: _layer(r).pop("mean"), "malformed (TypeError"),
    ("a layer that is a list", lambda r: r["diagnostics"]["layers"].append([1, 2]), "malformed (TypeError"),
    ("layers as a mapping", lambda r: r["diagnostics"].update(layers={"0": {}}), "malformed (TypeError"),
    ("no parameters", lambda r: r["diagnostics"].pop("parameters"), "malformed (KeyError"),
    ("parameters as null", lambda r: r["diagnostics"].update(parameters=None), "malformed (TypeError"),
    ("diagnostics as a list", lambda r: r.update(diagnostics=[1]), "malformed (TypeError"),
    ("a fractional probe size", lambda r: r["diagnostics"].update(probe_size=512.5), "probe_size = 512.5"),
    ("a probe size of true", lambda r: r["diagnostics"].update(probe_size=True), "probe_size = True"),
    ("a probe size as text", lambda r: r["diagnostics"].update(probe_size="x"), "malformed (ValueError"),
    ("a weighted accuracy over 1", lambda r: r["diagnostics"].update(weighted_accuracy=1.5), "weighted_accuracy = 1.5"),
    ("a NaN weighted accuracy", lambda r: r["diagnostics"].update(weighted_accuracy=float("nan")), "weighted_accuracy"),
    ("a loss as text", lambda r: r.update(loss="low"), "loss is 'low', not a number"),
    ("an infinite rate", lambda r: r.update(lr=float("-inf")), "lr is -inf, beyond"),
    ("a loss of true", lambda r: r.update(loss=True), "loss is True, not a number"),
    ("negative steps", lambda r: r.update(steps=-1), "steps must be a whole number >= 0"),
    ("fractional steps", lambda r: r.update(steps=2.5), "steps must be a whole number >= 0"),
    ("an epoch out of range", lambda r: r.update(epoch=2**63), "epoch is 9.22e+18, out of range"),
    ("a huge whole accuracy", lambda r: r.update(accuracy=2**62 + 1), "out of range"),
    ("an alert of an unknown rule", lambda r: r.update(alerts=[{"rule": "x", "epoch": 1, "layer": None,
                                                                  "evidence": "", "fix": ""}]), "names rule 'x'"),
    ("alerts as a mapping", lambda r: r.update(alerts={"a": 1}), "its alerts must be a list"),
]


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
@pytest.mark.parametrize("what, edit, message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_record_in_a_long_history_is_refused_as_one_by_one(record, monkeypatch, what, edit, message):
    records = _records(record, 40)
    edit(records[17])
    try:
        _one_by_one(copy.deepcopy(records), monkeypatch)
    except DataError as exc:
        expected = str(exc)
    except OverflowError:  # a whole number past float64: the one-by-one check's own (a file's have 100 digits)
        with pytest.raises(OverflowError):
            _checks.history_records(copy.deepcopy(records))
        return
    else:
        pytest.fail(f"{what} was accepted")
    assert expected.startswith("history record 18: ") and (message is None or message in expected), expected
    for in_place in (False, True):
        with pytest.raises(DataError) as caught:
            _checks.history_records(copy.deepcopy(records), in_place=in_place)
        assert str(caught.value) == expected


def test_the_first_problem_is_named_when_several_records_are_malformed(record, monkeypatch):
    records = _records(record, 30)
    records[20]["loss"] = "x"
    records[9]["alerts"] = [{"rule": "nope", "epoch": 10, "layer": None, "evidence": "", "fix": ""}]
    records[14]["diagnostics"]["layers"][0]["mean"] = None  # fine: a gap
    records[25]["diagnostics"]["parameters"][1]["norm"] = "x"
    with pytest.raises(DataError, match="history record 10: an alert names rule 'nope'"):
        _checks.history_records(records)
    records[9]["alerts"] = []
    with pytest.raises(DataError, match="history record 21: loss is 'x'"):
        _checks.history_records(records, in_place=True)


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_checking_in_place_does_not_hold_the_history_twice(record):
    """The records checked were all built anew while the parsed ones were still held: a
    20,000-epoch history was held twice at the peak of loading its checkpoint."""
    text = json.dumps(_records(record, 1500))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        records = json.loads(text)
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        out = _checks.history_records(records, in_place=True)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert out is records and len(out) == 1500
    assert peak < held / 4, (peak, held)


def test_a_long_history_checkpoint_loads_the_same_state_and_refuses_a_bad_record(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "HISTORY_INLINE_BYTES", 4_000)  # a few epochs stand for 20,000
    _fit(tmp_path, 8)
    path = tmp_path / "checkpoint.safetensors"
    ck = load_checkpoint(path)
    assert serialization.HISTORY_TENSOR not in ck.training and len(ck.training["history"]) == 8
    with monkeypatch.context() as m:
        m.setattr(_checks, "_history_passes", lambda records, limit: False)
        slow = load_checkpoint(path)
    assert _text(ck.training["history"]) == _text(slow.training["history"])
    state = ck.training_state()
    assert state.history.records == ck.training["history"]
    state.history.records[4]["diagnostics"]["parameters"][0]["norm"] = float("inf")
    serialization.save_checkpoint(path, state)
    with pytest.raises(ModelFileError, match="history record 5: its diagnostics hold norm = inf, not a finite number"):
        load_checkpoint(path)


def test_parse_json_reads_a_memoryview_with_the_same_checks():
    assert parse_json(memoryview(b'[1, -25, 2.5, {"a": "\\u00e9"}]'), what="x", error=DataError) == [1, -25, 2.5,
                                                                                                   {"a": "é"}]
    assert parse_json(memoryview(np.frombuffer(b"[" + b"9" * 100 + b"]", np.uint8)), what="x",
                      error=DataError) == [int("9" * 100)]
    with pytest.raises(DataError, match="a number in x holds|more than the 100 allowed"):
        parse_json(memoryview(b"[-" + b"9" * 101 + b"]"), what="x", error=DataError)
    with pytest.raises(DataError, match="nested"):
        parse_json(memoryview(b"[" * 200 + b"]" * 200), what="x", error=DataError)
    with pytest.raises(DataError, match="x is not valid JSON"):
        parse_json(memoryview(b'["\xff"]'), what="x", error=DataError)


def _nesting(value):
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    return 0


def test_the_depth_scan_carries_strings_and_depth_across_its_pieces(monkeypatch):
    from deltaprop import bounded

    texts = [json.dumps(v) for v in (
        [[["a]]", {"b": "\\\"[[["}], "\\\\"], [[[[[]]]]]],
        {"k": ["\"" * 9, "\\" * 7 + "]", [["{{"], {"x": [[[1]]]}]]},
        ["]" * 5, "[" * 5, [[[[[[["\\\\\\\""]]]]]]]],
    )]
    for text in texts:
        expected = _nesting(json.loads(text))
        for chunk in (1, 2, 3, 5, 8, 1 << 20):
            monkeypatch.setattr(bounded, "_DEPTH_CHUNK", chunk)
            assert bounded._json_depth(text.encode()) == expected, (text, chunk)


@pytest.mark.slow  # about a second
def test_the_depth_scan_of_a_long_text_takes_little_memory_beyond_it():
    """The scan made arrays of every quote's and bracket's position at once: 83 MB over
    the 29 MB history of a 20,000-epoch checkpoint, the peak of reading it."""
    from deltaprop.bounded import check_json_depth

    raw = json.dumps([{"name": f"layers.{i}", "values": [i, [0.5, None]]} for i in range(120_000)]).encode()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        check_json_depth(raw, what="x", error=DataError)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert peak < len(raw) / 4, (peak, len(raw))
