"""CheckpointWriter: what reaches the disk, and what each epoch costs."""

from __future__ import annotations

import numpy as np

import deltaprop as dp
from deltaprop import serialization
from deltaprop.callbacks import CheckpointWriter


def _fit(folder, epochs, interval):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 4)), np.arange(32) % 2
    writer = CheckpointWriter(folder, interval=interval)
    net, opt = dp.mlp([4, 3, 2], seed=0), dp.SGD(lr=0.1)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=epochs, batch_size=8, seed=0, callbacks=[writer])
    return writer, net


def test_epochs_between_writes_are_not_encoded(tmp_path, monkeypatch):
    """Encoding a checkpoint JSON-encodes the whole history, which grows with the epochs:
    doing it at every epoch end made a 1000-epoch command-line run take 63 s instead of 12.
    Only the writes encode."""
    encoded = []
    encode = serialization._layout
    monkeypatch.setattr(serialization, "_layout", lambda *a: encoded.append(1) or encode(*a))
    writer, net = _fit(tmp_path, epochs=20, interval=3600)
    assert writer.written_epoch == 20
    assert len(encoded) == 1


def test_the_checkpoint_written_is_the_last_epoch_ends_state(tmp_path):
    """Kept parts are copies: the weights on disk are those of the epoch that ended, and
    the run resumes from them exactly."""
    writer, net = _fit(tmp_path, epochs=3, interval=3600)
    ckpt = serialization.load_checkpoint(tmp_path / "checkpoint.safetensors")
    for (name, p), q in zip(net.named_parameters(), ckpt.net.parameters()):
        np.testing.assert_array_equal(p.value, q.value, err_msg=name)
    assert len(ckpt.training["history"]) == 3
