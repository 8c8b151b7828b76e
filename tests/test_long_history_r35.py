"""A long run's checkpoint keeps its history in a tensor, not in the header it would outgrow."""

import json
import time
import struct

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import serialization
from deltaprop.errors import ModelFileError
from deltaprop.serialization import HISTORY_TENSOR, load_checkpoint


def _run(folder, epochs, resume=None):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    state = None if resume is None else resume.training_state()
    if state is None:
        net = dp.Network([dp.Dense(4, 3), dp.Sigmoid(), dp.Dense(3, 2), dp.Softmax()], seed=0, dtype="float64")
        optimizer = dp.SGD(lr=0.1, momentum=0.9)
    else:
        net, optimizer = state.net, state.optimizer
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=optimizer, epochs=epochs, batch_size=16, seed=0,
                     callbacks=[dp.CheckpointWriter(folder, interval=0.0)], resume=state)
    return net, history


def _header(path):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return n, json.loads(data[8 : 8 + n])


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_a_history_too_long_for_the_header_goes_in_a_tensor_and_resumes_exactly(tmp_path, monkeypatch):
    """The header held the whole history (about 1.6 KB an epoch with diagnostics) and a
    run passed its 64 MiB cap after some 40,000 epochs: the checkpoint could not be
    written and train ended with an error that blamed 'extra'."""
    monkeypatch.setattr(serialization, "HISTORY_INLINE_BYTES", 4_000)  # a few epochs stand for 40,000
    _run(tmp_path / "a", 12)
    path = tmp_path / "a" / "checkpoint.safetensors"
    size, header = _header(path)
    assert header[HISTORY_TENSOR]["dtype"] == "U8" and size < 4_000
    ck = load_checkpoint(path)
    assert len(ck.training["history"]) == 12 and "history_in" not in ck.training
    net, history = _run(tmp_path / "a", 20, resume=ck)
    whole_net, whole = _run(tmp_path / "b", 20)
    assert history["loss"] == whole["loss"]
    assert all(np.array_equal(p.value, q.value) for p, q in zip(net.parameters(), whole_net.parameters()))


def test_a_short_runs_history_stays_in_the_header(tmp_path):
    _run(tmp_path, 3)
    _, header = _header(tmp_path / "checkpoint.safetensors")
    assert HISTORY_TENSOR not in header and len(json.loads(header["__metadata__"]["training"])["history"]) == 3


def _rewrite(path, edit):
    """The checkpoint with its header edited and its metadata digest made right again."""
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    edit(header)
    meta = header["__metadata__"]
    meta["metadata_sha256"] = serialization._metadata_digest(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def test_a_history_tensor_the_training_state_does_not_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "HISTORY_INLINE_BYTES", 4_000)
    _run(tmp_path, 12)
    path = tmp_path / "checkpoint.safetensors"

    def unnamed(header):
        training = json.loads(header["__metadata__"]["training"])
        del training["history_in"]
        training["history"] = []
        header["__metadata__"]["training"] = json.dumps(training)

    _rewrite(path, unnamed)
    with pytest.raises(ModelFileError, match="disagree on where the history is"):
        load_checkpoint(path)


def test_checkpoint_writes_that_take_long_are_spaced_to_a_small_share_of_the_run(tmp_path, monkeypatch):
    """The writer wrote every 5 s whatever a write cost: with a history of 45,000 epochs,
    encoding and writing it took a large part of each interval, and the run's epochs got
    three times slower than at its start."""
    from deltaprop import callbacks

    writes = []
    write = callbacks.write_checkpoint_parts

    def slow_write(path, parts):
        writes.append(1)
        time.sleep(0.05)  # a long history's encoding
        return write(path, parts)

    monkeypatch.setattr(callbacks, "write_checkpoint_parts", slow_write)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((256, 4)), rng.integers(0, 2, 256)
    net = dp.Network([dp.Dense(4, 2), dp.Softmax()], seed=0, dtype="float64")
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=30, batch_size=8, seed=0,
           callbacks=[dp.CheckpointWriter(tmp_path, interval=0.001)], diagnostics=False)
    assert 1 <= len(writes) <= 4  # about 1 s between writes of 0.05 s; one every epoch before
    assert len(load_checkpoint(tmp_path / "checkpoint.safetensors").training["history"]) == 30
