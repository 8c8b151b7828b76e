"""Writing model files and checkpoints without a copy of the whole file in memory.

Saving built the file's bytes in memory several times over (safetensors' buffer, the bytes
object made from it, then the same again with the header's keys sorted): a checkpoint of a
25M-parameter network under Adam (300 MB in float32) took 570 MB more memory while it was
written. The files must stay byte for byte what they were, and atomic."""

from __future__ import annotations

import errno
import json
import os
import tracemalloc

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import callbacks
from deltaprop import serialization as S


def _net(dtype="float32"):
    """About 1 MB of float32 weights, in 6 Dense layers (names layers.10.W sort before layers.2.W)."""
    return dp.mlp([64, 256, 256, 256, 256, 256, 10], seed=0, dtype=dtype)


def _data(n=32):
    rng = np.random.default_rng(0)
    return rng.random((n, 64)), rng.integers(0, 10, n)


def _traced_peak(fn):
    """Peak bytes that NumPy and Python allocated while ``fn`` ran (tracemalloc sees both)."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if not tracing:
            tracemalloc.stop()


def _reference_bytes(tensors, meta, order) -> bytes:
    """What deltaprop wrote before: ``safetensors.numpy.save``, then the header's keys sorted."""
    from safetensors.numpy import save

    meta = dict(meta)
    meta["tensors_sha256"] = S._tensors_digest(order, tensors)
    meta["metadata_sha256"] = S._metadata_digest(meta)
    data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=meta)
    n = int.from_bytes(data[:8], "little")
    text = json.dumps(json.loads(data[8:8 + n]), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + n:]


def test_save_holds_no_copy_of_the_file_in_memory(tmp_path):
    net = _net()
    path = tmp_path / "m.safetensors"
    peak = _traced_peak(lambda: dp.save(net, path, class_names=[str(i) for i in range(10)]))
    size = path.stat().st_size
    assert size > net.n_parameters * 4
    assert peak < size / 2, f"saving a {size:,}-byte model allocated {peak:,} bytes"
    loaded = dp.load(path)
    x = _data()[0]
    assert np.array_equal(loaded.predict_proba(x), net.predict_proba(x))


def test_the_checkpoint_writer_holds_no_copy_of_the_file_in_memory(tmp_path, monkeypatch):
    """The parts an epoch end keeps are copies (training goes on); writing them makes no more."""
    peaks = []
    flush = callbacks.CheckpointWriter.flush

    def measured(self):
        if self._pending is None:
            return flush(self)
        peaks.append(_traced_peak(lambda: flush(self)))

    monkeypatch.setattr(callbacks.CheckpointWriter, "flush", measured)
    net, (x, y) = _net(), _data()
    dp.fit(net, x, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=1e-3), epochs=2, batch_size=16, seed=0,
           callbacks=[dp.CheckpointWriter(tmp_path, interval=3600)], diagnostics=False)
    size = (tmp_path / "checkpoint.safetensors").stat().st_size
    assert size > 3 * net.n_parameters * 4  # weights, m and v
    assert len(peaks) == 1 and peaks[0] < size / 4, f"writing a {size:,}-byte checkpoint allocated {peaks[0]:,} bytes"
    ckpt = S.load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert ckpt.epoch == 2
    for (name, p), q in zip(net.named_parameters(), ckpt.net.parameters()):
        assert np.array_equal(p.value, q.value), name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_files_are_byte_for_byte_what_safetensors_writes_sorted(tmp_path, dtype):
    net = _net(dtype)
    t, meta, order = S._model_parts(net, ["a", "ü"] + [str(i) for i in range(8)], {"kind": "unit", "max": 255},
                                    {"note": "é"}, input_range=(0, 255))
    assert S._encode(t, meta, order) == _reference_bytes(t, meta, order)
    path = dp.save(net, tmp_path / "m.safetensors", class_names=["a", "ü"] + [str(i) for i in range(8)],
                   input_scaling={"kind": "unit", "max": 255}, extra={"note": "é"}, input_range=(0, 255))
    assert path.read_bytes() == _reference_bytes(t, meta, order)
    # a checkpoint's tensors: optimizer slots, saved weights, and a long run's history bytes (laid out last)
    t = {**t, "optimizer.3.m": t["layers.2.W"] * 2, "saved.best.layers.10.W": t["layers.10.W"] + 1,
         S.HISTORY_TENSOR: np.frombuffer(b'[{"epoch": 1}]', dtype=np.uint8)}
    order = [*order, "optimizer.3.m", "saved.best.layers.10.W", S.HISTORY_TENSOR]
    assert S._encode(t, meta, order) == _reference_bytes(t, meta, order)


def test_a_long_runs_checkpoint_written_in_parts_loads_and_resumes(tmp_path, monkeypatch):
    """The history in its own uint8 tensor, after the float ones: the file reads back whole."""
    monkeypatch.setattr(S, "HISTORY_INLINE_BYTES", 64)
    net, (x, y) = _net(), _data()
    dp.fit(net, x, y, loss=dp.CrossEntropy(), optimizer=dp.Adam(lr=1e-3), epochs=3, batch_size=16, seed=0,
           callbacks=[dp.CheckpointWriter(tmp_path, interval=0)], diagnostics=False)
    path = tmp_path / "checkpoint.safetensors"
    assert S.HISTORY_TENSOR in S._read_header(path, S.MAX_FILE_BYTES)[0]
    ckpt = S.load_checkpoint(path)
    assert ckpt.epoch == 3 and len(ckpt.training["history"]) == 3
    assert np.array_equal(ckpt.net.predict_proba(x), net.predict_proba(x))
    assert path.read_bytes() == S.encode_checkpoint_parts(S.checkpoint_parts(ckpt.training_state()))


def test_a_write_that_fails_half_way_keeps_the_previous_file(tmp_path, monkeypatch):
    net = _net()
    path = dp.save(net, tmp_path / "m.safetensors")
    before = path.read_bytes()
    other = _net()
    for p in other.parameters():
        p.value += 1
    real = os.fdopen
    written = []

    class FillsUp:
        """A file whose disk fills half-way through the model's bytes."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            if sum(written) + memoryview(data).nbytes > len(before) // 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(memoryview(data).nbytes)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    monkeypatch.setattr(os, "fdopen", lambda *a, **kw: FillsUp(real(*a, **kw)))
    with pytest.raises(OSError, match="the disk is full"):
        dp.save(other, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary file left
