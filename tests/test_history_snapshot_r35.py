"""A checkpoint's copy of the history copies each finished epoch's record once."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.serialization import load_checkpoint
from deltaprop.training import History


def _record(epoch):
    return {"epoch": epoch, "loss": 1.0 / epoch, "accuracy": None, "val_loss": None, "val_accuracy": None,
            "lr": 0.1, "seconds": 0.01, "steps": 10 * epoch}


def test_snapshots_hold_the_records_and_later_changes_reach_none_of_them():
    history, taken = History(), []
    for epoch in range(1, 40):
        history.append(_record(epoch))
        history.records[-1]["diagnostics"] = {"epoch": epoch}  # a callback fills the epoch's record in
        snap = history.snapshot()
        assert snap == history.records
        assert all(a is not b for a, b in zip(snap, history.records))
        taken.append((epoch, snap))
        history.records[-1]["alerts"] = ["late"]  # still the last record: its snapshot keeps what it had
    for epoch, snap in taken:
        assert len(snap) == epoch and "alerts" not in snap[-1]
        assert [r["epoch"] for r in snap] == list(range(1, epoch + 1))


def test_a_finished_epochs_copy_is_made_once_and_shared_by_later_snapshots():
    history = History()
    for epoch in range(1, 6):
        history.append(_record(epoch))
    first = history.snapshot()
    history.append(_record(6))
    second = history.snapshot()
    assert all(a is b for a, b in zip(first[:4], second[:4]))  # finished epochs: copied once
    assert second[4] is not first[4]  # the record that was last then is copied again, now finished


def test_a_replaced_history_is_copied_afresh():
    history = History([_record(e) for e in range(1, 5)])
    history.snapshot()
    history.records = [_record(e) for e in range(10, 16)]
    assert [r["epoch"] for r in history.snapshot()] == list(range(10, 16))


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_checkpointed_runs_history_is_the_runs(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = dp.Network([dp.Dense(4, 3), dp.Sigmoid(), dp.Dense(3, 2), dp.Softmax()], seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=25, batch_size=16, seed=0,
                     callbacks=[dp.CheckpointWriter(tmp_path, interval=0.0)])
    saved = load_checkpoint(tmp_path / "checkpoint.safetensors").training["history"]
    assert [r["loss"] for r in saved] == history["loss"] and len(saved) == 25
