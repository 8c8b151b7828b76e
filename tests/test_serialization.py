"""Model files and checkpoints: exact round trips, every tampering caught, atomic writes."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import serialization as S
from deltaprop.atomic import atomic_write_bytes


def _net(**kw):
    return dp.mlp([6, 5, 3], seed=1, **kw)


def _x(n=7, d=6, seed=0):
    return np.random.default_rng(seed).random((n, d))


@pytest.fixture
def model_path(tmp_path):
    path = tmp_path / "m.safetensors"
    dp.save(_net(), path, class_names=["a", "b", "c"], input_scaling={"kind": "unit", "max": 255})
    return path


def _craft(path, net, *, tensors=None, meta_patch=None, arch=None):
    """A file whose digests are consistent, so only the check under test can fire."""
    t = {name: p.value for name, p in net.named_parameters()} if tensors is None else tensors
    _, meta, _ = S._model_parts(net, None, None, None)
    if arch is not None:
        meta["architecture"] = json.dumps(arch)
    meta.update(meta_patch or {})
    path.write_bytes(S._encode(t, meta, list(t)))
    return path


# -- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_predicts_bit_identically(tmp_path, dtype):
    net = dp.Network([dp.Dense(6, 5), dp.LeakyReLU(0.1), dp.Dropout(0.3), dp.Dense(5, 4), dp.Tanh(),
                      dp.Dense(4, 3), dp.Softmax()], seed=3, dtype=dtype)
    dp.fit(net, _x(40), np.arange(40) % 3, loss=dp.CrossEntropy(), optimizer=dp.Adam(), epochs=2, batch_size=8, seed=0)
    path = dp.save(net, tmp_path / "m.safetensors")
    loaded = dp.load(path)
    assert loaded.config() == net.config()
    assert loaded.dtype == net.dtype
    for (n1, p1), (n2, p2) in zip(net.named_parameters(), loaded.named_parameters()):
        assert n1 == n2 and p1.value.dtype == p2.value.dtype and np.array_equal(p1.value, p2.value)
    assert np.array_equal(net.predict_proba(_x()), loaded.predict_proba(_x()))


def test_metadata_round_trip(model_path):
    mf = S.read_model(model_path)
    assert mf.kind == "model"
    assert mf.class_names == ("a", "b", "c")
    # the stored input scaling becomes the loaded network's first layer: it takes raw inputs
    assert mf.input_scaling is None and type(mf.net.layers[0]).__name__ == "Rescaling"
    raw = np.array([[0, 255, 51, 0, 0, 255]], dtype=np.uint8)
    from deltaprop.data import scale_to_unit

    assert np.array_equal(S.apply_scaling({"kind": "unit", "max": 255}, raw, np.float32), scale_to_unit(raw))
    assert np.array_equal(mf.net.predict_proba(raw), _net().predict_proba(scale_to_unit(raw)))
    assert np.array_equal(dp.load(model_path).predict_proba(raw), mf.net.predict_proba(raw))


def test_tensor_names_follow_the_layers(model_path):
    from safetensors.numpy import load as st_load

    assert sorted(st_load(model_path.read_bytes())) == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]


def test_file_mode_is_the_usual_one(tmp_path):
    old = os.umask(0o022)
    try:
        path = dp.save(_net(), tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_refuses_to_save_nan_weights(tmp_path):
    net = _net()
    net.parameters()[0].value[0, 0] = np.nan
    with pytest.raises(dp.ModelFileError, match="NaN"):
        dp.save(net, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


# -- what load refuses --------------------------------------------------------------------------
def _refused(path, match):
    with pytest.raises(dp.ModelFileError, match=match):
        dp.load(path)


def test_missing_folder_and_empty(tmp_path):
    _refused(tmp_path / "nope.safetensors", "no such file")
    _refused(tmp_path, "folder")
    (tmp_path / "e.safetensors").write_bytes(b"")
    _refused(tmp_path / "e.safetensors", "empty")


def test_pickle_npy_and_zip_renamed(tmp_path):
    p = tmp_path / "p.safetensors"
    p.write_bytes(pickle.dumps({"layers.0.W": np.zeros((6, 5))}))
    _refused(p, "pickle")
    n = tmp_path / "n.safetensors"
    with open(n, "wb") as f:
        np.save(f, np.zeros((6, 5), np.float32))
    _refused(n, r"\.npy")
    z = tmp_path / "z.safetensors"
    np.savez(z.with_suffix(""), x=np.zeros(3))
    os.replace(z.with_suffix(".npz"), z)
    _refused(z, "zip")


def test_images_and_text_given_for_a_model_are_named(tmp_path):
    # a swapped `predict zero.png RUN` said "header of 727,905,341,920,923,785 bytes claimed"
    from PIL import Image

    Image.new("L", (28, 28)).save(tmp_path / "zero.png")
    _refused(tmp_path / "zero.png", r"is an image \(PNG\), not a model.*model first")
    Image.new("RGB", (28, 28)).save(tmp_path / "zero.jpg")
    _refused(tmp_path / "zero.jpg", r"is an image \(JPEG\)")
    (tmp_path / "history.csv").write_text("epoch,loss\n1,0.5\n")
    _refused(tmp_path / "history.csv", r"is a CSV file \(a run's history.csv\?\), not a model")


@pytest.mark.parametrize("keep", [0, 5, 8, 20, 200, -1, -17])
def test_truncated(model_path, keep):
    data = model_path.read_bytes()
    model_path.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    _refused(model_path, "truncated|not a safetensors|corrupt|JSON|empty")


def test_trailing_bytes(model_path):
    model_path.write_bytes(model_path.read_bytes() + b"\0\0\0\0")
    _refused(model_path, "trailing|truncated")


def test_huge_header_claim(tmp_path):
    p = tmp_path / "h.safetensors"
    p.write_bytes((1 << 60).to_bytes(8, "little") + b"{}")
    _refused(p, "truncated or not a safetensors")


def test_too_large(model_path):
    with pytest.raises(dp.ModelFileError, match="allowed"):
        dp.load(model_path, max_bytes=100)


def test_safetensors_without_our_metadata(tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "plain.safetensors"
    save_file({"layers.0.W": np.zeros((6, 5), np.float32)}, str(p))
    _refused(p, "without deltaprop metadata")


def test_flipped_bit_in_tensor_data(model_path):
    data = bytearray(model_path.read_bytes())
    data[-3] ^= 0x10
    model_path.write_bytes(bytes(data))
    _refused(model_path, "SHA-256")


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_single_bit_flip_is_caught(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("flip") / "m.safetensors"
    dp.save(_net(), path, class_names=["a", "b", "c"])
    raw = bytearray(path.read_bytes())
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= 1 << data.draw(st.integers(0, 7))
    path.write_bytes(bytes(raw))
    with pytest.raises(dp.ModelFileError):
        dp.load(path)


def test_int32_where_float32_belongs(tmp_path):
    net = _net()
    t = {n: p.value for n, p in net.named_parameters()}
    t["layers.0.W"] = t["layers.0.W"].astype(np.int32)
    _refused(_craft(tmp_path / "m.safetensors", net, tensors=t), "I32.*dtype mismatch")


def test_float64_in_a_float32_model(tmp_path):
    net = _net()
    t = {n: p.value.astype(np.float64) for n, p in net.named_parameters()}
    _refused(_craft(tmp_path / "m.safetensors", net, tensors=t), "F64")


def test_transposed_shape(tmp_path):
    net = _net()
    t = {n: p.value for n, p in net.named_parameters()}
    t["layers.0.W"] = np.ascontiguousarray(t["layers.0.W"].T)
    _refused(_craft(tmp_path / "m.safetensors", net, tensors=t), r"shape \[5, 6\].*needs \[6, 5\]")


def test_extra_and_missing_tensors(tmp_path):
    net = _net()
    t = {n: p.value for n, p in net.named_parameters()}
    _refused(_craft(tmp_path / "x.safetensors", net, tensors={**t, "layers.9.W": np.zeros(2, np.float32)}), "layers.9.W")
    del t["layers.2.b"]
    _refused(_craft(tmp_path / "y.safetensors", net, tensors=t), "lacks tensors.*layers.2.b")


def test_nan_and_inf_weights(tmp_path):
    net = _net()
    for bad in (np.nan, np.inf):
        t = {n: p.value.copy() for n, p in net.named_parameters()}
        t["layers.2.W"][1, 1] = bad
        _refused(_craft(tmp_path / "m.safetensors", net, tensors=t), "NaN or infinity")


def test_unknown_layer_type_is_never_resolved(tmp_path):
    net = _net()
    arch = net.config()
    arch["layers"][1] = {"type": "os.system", "command": "echo hi"}
    _refused(_craft(tmp_path / "m.safetensors", net, arch=arch), "unknown type 'os.system'")


def test_architecture_that_does_not_chain(tmp_path):
    net = _net()
    arch = net.config()
    arch["layers"][2]["n_in"] = 4  # Dense(6,5) -> Dense(4,3)
    t = {n: p.value for n, p in net.named_parameters()}
    t["layers.2.W"] = np.zeros((4, 3), np.float32)
    _refused(_craft(tmp_path / "m.safetensors", net, tensors=t, arch=arch), "architecture is invalid")


def test_newer_format_version(tmp_path):
    _refused(_craft(tmp_path / "m.safetensors", _net(), meta_patch={"format_version": "2"}), "newer deltaprop")


def test_not_our_format(tmp_path):
    _refused(_craft(tmp_path / "m.safetensors", _net(), meta_patch={"format": "other"}), "not a deltaprop model")


def test_edited_metadata_without_new_digest(model_path):
    from safetensors.numpy import load as st_load, save as st_save

    raw = model_path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    meta = json.loads(raw[8 : 8 + n])["__metadata__"]
    meta["class_names"] = json.dumps(["x", "y", "z"])
    model_path.write_bytes(st_save(st_load(raw), metadata=meta))
    _refused(model_path, "metadata does not match")


# -- checkpoints and exact resume ---------------------------------------------------------------
def _train(net, opt, epochs, *, resume=None, callbacks=()):
    X = _x(60, 6, seed=5)
    y = (X.sum(axis=1) * 2).astype(int) % 3
    return dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=epochs, batch_size=7, seed=11,
                  schedule={"type": "step", "step_size": 2, "gamma": 0.5}, callbacks=callbacks, resume=resume,
                  validation=(X[:10], y[:10]))


@pytest.mark.parametrize("make_opt", [lambda: dp.SGD(lr=0.2, momentum=0.9), lambda: dp.Adam(lr=0.01)])
def test_resume_is_bit_identical(tmp_path, make_opt):
    full_net = _net(dropout=0.3)
    full = _train(full_net, make_opt(), 5)

    path = tmp_path / "c.safetensors"
    part_net = _net(dropout=0.3)
    def save_and_stop(s):  # interrupted after epoch 2 of 5 (a run that ends at epoch 2 is judged as ended there)
        S.save_checkpoint(path, s)
        s.stop_training = s.epoch == 2

    _train(part_net, make_opt(), 5, callbacks=[dp.LambdaCallback(on_epoch_end=save_and_stop)])
    ck = S.load_checkpoint(path)
    assert (ck.epoch, ck.step) == (2, 18)
    rest = _train(ck.net, ck.optimizer, 5, resume=ck.training_state())
    for (_, a), (_, b) in zip(full_net.named_parameters(), ck.net.named_parameters()):
        assert np.array_equal(a.value, b.value)
    strip = lambda recs: [{k: v for k, v in r.items() if k != "seconds"} for r in recs]  # noqa: E731
    assert strip(rest.records) == strip(full.records)


def test_checkpoint_refuses_model_file(model_path):
    with pytest.raises(dp.ModelFileError, match="not a checkpoint"):
        S.load_checkpoint(model_path)


def test_checkpoint_optimizer_state_checked(tmp_path):
    net = _net()
    opt = dp.SGD(lr=0.1, momentum=0.5)
    path = tmp_path / "c.safetensors"
    _train(net, opt, 1, callbacks=[dp.LambdaCallback(on_epoch_end=lambda s: S.save_checkpoint(path, s))])
    ck = S.read_model(path)
    assert ck.kind == "checkpoint" and np.any(ck.optimizer.state()["0.velocity"] != 0)
    # a checkpoint that claims momentum 0 has an unexpected velocity tensor
    from safetensors.numpy import load as st_load

    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    meta = json.loads(raw[8 : 8 + n])["__metadata__"]
    meta["optimizer"] = json.dumps({"type": "SGD", "lr": 0.1, "weight_decay": 0.0, "momentum": 0.0, "nesterov": False})
    t = st_load(raw)
    path.write_bytes(S._encode(t, meta, list(t)))
    _refused(path, "optimizer.0.velocity")


# -- atomic writes ------------------------------------------------------------------------------
def test_target_that_is_not_a_regular_file(tmp_path):
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(IsADirectoryError):
        dp.save(_net(), tmp_path / "d.safetensors")
    fifo = tmp_path / "f.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        dp.save(_net(), fifo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.safetensors", "f.safetensors"]


def test_failed_replace_keeps_old_file_and_no_temp(model_path, monkeypatch):
    before = model_path.read_bytes()

    def boom(*a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space"):
        dp.save(dp.mlp([6, 9, 3], seed=9), model_path)
    monkeypatch.undo()
    assert model_path.read_bytes() == before
    assert [p.name for p in model_path.parent.iterdir()] == ["m.safetensors"]


def test_stale_temp_files_are_cleaned(model_path):
    dead = model_path.parent / f".m.safetensors.{2**22 + 12345}.abc.tmp"  # above pid_max: no such process
    alive = model_path.parent / ".m.safetensors.1.abc.tmp"  # pid 1 is running
    dead.write_bytes(b"x")
    alive.write_bytes(b"x")
    dp.save(_net(), model_path)
    assert not dead.exists() and alive.exists()


_WRITER = textwrap.dedent("""
    import sys, numpy as np, deltaprop as dp
    path = sys.argv[1]
    nets = [dp.mlp([1000, 1000, 10], seed=s) for s in (0, 1)]
    print("ready", flush=True)
    i = 0
    while True:
        dp.save(nets[i % 2], path)
        i += 1
""")


@pytest.mark.slow
def test_killed_mid_save_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "big.safetensors"
    expected = [dp.mlp([1000, 1000, 10], seed=s).parameters()[0].value for s in (0, 1)]
    dp.save(dp.mlp([1000, 1000, 10], seed=0), path)
    rnd = random.Random(0)
    for _ in range(4):
        child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rnd.uniform(0.05, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        W = dp.load(path).parameters()[0].value
        assert any(np.array_equal(W, e) for e in expected)
        visible = [p.name for p in tmp_path.iterdir() if not (p.name.startswith(".") and p.name.endswith(".tmp"))]
        assert visible == ["big.safetensors"]
    dp.save(_net(), path)  # the next save removes the dead writers' temp files
    assert [p.name for p in tmp_path.iterdir()] == ["big.safetensors"]


def test_atomic_write_bytes_replaces(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    atomic_write_bytes(p, b"one")
    atomic_write_bytes(p, memoryview(b"two"))
    assert p.read_bytes() == b"two"
    assert [x.name for x in p.parent.iterdir()] == ["a.txt"]
