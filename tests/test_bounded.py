"""Bounded reading: only regular files of a bounded size are read, and text is checked for
nesting, key length and digits before a parser sees it, so hostile files end in one
clear deltaprop.Error, in the library and through the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import bounded
from deltaprop import serialization as S
from deltaprop.config import load_toml

from test_cli_errors import cli, fails, process


def _model_bytes(net=None, **meta_changes) -> bytes:
    """A model file whose metadata entries are replaced, digests recomputed (so only the
    change itself can be refused)."""
    net = net or dp.mlp([6, 5, 3], seed=0)
    tensors, meta, order = S._model_parts(net, None, None, None)
    meta.update(meta_changes)
    return S._encode(tensors, meta, order)


def _refused(tmp_path, data: bytes, match: str):
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    with pytest.raises(dp.ModelFileError, match=match):
        dp.load(path)
    return path


# -- files that are not regular -----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "device via symlink"])
def test_only_regular_files_are_opened(tmp_path, kind):
    path = tmp_path / "x.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        path = "/dev/zero"
    else:
        path.symlink_to("/dev/zero")
    what = {"fifo": "named pipe", "device": "character device", "device via symlink": "character device",
            "folder": "folder"}[kind]
    with pytest.raises(dp.ConfigError, match=what):
        load_toml(path)
    with pytest.raises(dp.ModelFileError, match=what):
        dp.load(path)


def test_size_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.toml"
    with open(path, "wb") as f:
        f.truncate(2 << 30)  # sparse: 2 GB on paper, nothing on disk
    with pytest.raises(dp.ConfigError, match="2,147,483,648 bytes, more than"):
        load_toml(path)


def test_an_empty_config_is_the_defaults(tmp_path):
    (tmp_path / "e.toml").write_text("")
    assert load_toml(tmp_path / "e.toml") == {}


# -- JSON -----------------------------------------------------------------------------------------
def test_json_depth_scan_ignores_brackets_in_strings():
    text = json.dumps({"a": "[" * 500 + '\\"{{{', "b": [[1, 2], {"c": "]]]"}]})
    assert bounded.parse_json(text, what="t", error=dp.ModelFileError)["b"][1]["c"] == "]]]"
    with pytest.raises(dp.ModelFileError, match="nested 65 levels"):
        bounded.parse_json("[" * 65 + "]" * 65, what="t", error=dp.ModelFileError)
    with pytest.raises(dp.ModelFileError, match="not valid JSON"):
        bounded.parse_json('{"a": [}', what="t", error=dp.ModelFileError)


def test_json_integers_have_a_digit_cap():
    assert bounded.parse_json("[%d]" % (2**128), what="t", error=dp.ModelFileError) == [2**128]
    with pytest.raises(dp.ModelFileError, match="5,000 digits"):
        bounded.parse_json("[" + "7" * 5000 + "]", what="t", error=dp.ModelFileError)


@pytest.mark.parametrize("key", ["architecture", "extra", "class_names", "input_scaling"])
def test_deeply_nested_metadata_is_refused(tmp_path, key):
    deep = "[" * 5000 + "]" * 5000
    _refused(tmp_path, _model_bytes(**{key: deep}), f"metadata '{key}' is nested 5,000 levels")


def test_deeply_nested_outer_header_is_refused(tmp_path):
    header = b'{"x":' + b"[" * 3000 + b"]" * 3000 + b"}"
    _refused(tmp_path, len(header).to_bytes(8, "little") + header, "header is nested 3,001 levels")


def _checkpoint(path):
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    dp.fit(dp.mlp([4, 3, 2], seed=0), x, np.arange(20) % 2, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
           epochs=1, batch_size=10, callbacks=[dp.LambdaCallback(on_epoch_end=lambda s: S.save_checkpoint(path, s))])
    return path


def test_checkpoint_training_state_goes_through_the_bounded_parser(tmp_path):
    path = _checkpoint(tmp_path / "c.safetensors")
    tensors, meta = _split(path)
    meta["training"] = "{" + '"a":[' * 2000 + "]}" * 2000
    _rewrite(path, tensors, meta)
    with pytest.raises(dp.ModelFileError, match="'training' is nested"):
        S.load_checkpoint(path)


def _split(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def _rewrite(path, tensors, meta):
    from safetensors.numpy import save

    meta["metadata_sha256"] = S._metadata_digest(meta)
    path.write_bytes(save(tensors, metadata=meta))


def test_format_version_of_5000_digits(tmp_path):
    _refused(tmp_path, _model_bytes(format_version="9" * 5000), "format version has 5,000 digits")


def test_layer_count_is_capped(tmp_path):
    arch = {"dtype": "float32", "layers": [{"type": "Sigmoid"}] * (S.MAX_LAYERS + 1)}
    _refused(tmp_path, _model_bytes(architecture=json.dumps(arch)), "declares 1,025 layers")


def test_declared_parameters_are_capped(tmp_path):
    arch = {"dtype": "float32", "layers": [{"type": "Dense", "n_in": 100_000, "n_out": 100_000}]}
    _refused(tmp_path, _model_bytes(architecture=json.dumps(arch)), "more than 1,073,741,824 parameters")


# -- reading the header before anything else ------------------------------------------------------
_PEAK = """
import resource, sys
import deltaprop as dp
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    dp.load(sys.argv[1])
except dp.ModelFileError as exc:
    print(str(exc))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow  # about 0.6 s in the quick suite on 2 cores
@pytest.mark.parametrize("case", ["bad length", "trailing gigabytes"])
def test_sparse_multi_gigabyte_file_costs_no_memory(tmp_path, case):
    path = tmp_path / "sparse.safetensors"
    good = _model_bytes()
    with open(path, "wb") as f:
        f.write((1 << 40).to_bytes(8, "little") + b"{}" if case == "bad length" else good)
        f.truncate(3_500_000_000)
    res = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, timeout=120)
    message, grown_mb = res.stdout.strip().splitlines()
    assert ("truncated" in message) and ("trailing" in message or case == "bad length"), message
    assert int(grown_mb) < 100, grown_mb


def test_a_changed_tensor_is_still_caught_after_mapping(tmp_path):
    data = bytearray(_model_bytes())
    data[-3] ^= 0x10
    _refused(tmp_path, bytes(data), "SHA-256")


# -- TOML -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, match", [
    ("a" + ".a" * 200_000 + " = 1\n", "dotted key of 200,001 parts"),
    ("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested 100,000 levels"),
    ("x = " + "{a = " * 100 + "1" + "}" * 100 + "\n", "nested 100 levels"),
    ("seed = " + "9" * 5000 + "\n", "5,000 digits"),
    ("lr = = 3\n", "TOML syntax error"),
])
def test_hostile_toml_is_refused_before_parsing(tmp_path, text, match):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(dp.ConfigError, match=match):
        load_toml(path)


def test_toml_strings_and_comments_do_not_count():
    text = 'a = "[[[[.....]"\nb = \'{{{{\'\n# [[[[ . . . .\nc = """\n[[[[[\n"""\nd.e.f = 1.5\n'
    out = bounded.parse_toml(text * 1, what="t", max_depth=3)
    assert out["d"] == {"e": {"f": 1.5}} and out["c"] == "[[[[[\n"


# -- through the command --------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_refuses_dev_zero_and_a_fifo_as_config(tmp_path):
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    link = tmp_path / "z.toml"
    link.symlink_to("/dev/zero")
    for config, what in (("/dev/zero", "character device"), (fifo, "named pipe"), (link, "character device")):
        # processes of their own, under a time limit: a read that never ended would hang this one
        fails(process("train", "--config", config, "--out", tmp_path / "run"), 2, str(config), what)
    assert not (tmp_path / "run").exists()


def test_cli_refuses_a_dotted_key_bomb(tmp_path):
    (tmp_path / "c.toml").write_text("a" + ".a" * 200_000 + " = 1\n")
    fails(cli("train", "--config", tmp_path / "c.toml", "--out", tmp_path / "run"), 2, "dotted key")


@pytest.mark.slow
def test_cli_predict_on_a_fifo_is_refused_not_blocked(tmp_path):
    model = tmp_path / "m.safetensors"
    dp.save(dp.mlp([784, 8, 10], seed=0), model)
    for name in ("digit.png", "rows.npy"):
        os.mkfifo(tmp_path / name)
        # a process of its own, under a time limit: a read that blocked would hang this one
        fails(process("predict", model, tmp_path / name), 1, name, "named pipe")


def test_cli_info_on_deep_or_huge_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(_model_bytes(extra="[" * 5000 + "]" * 5000))
    fails(cli("info", path), 1, "nested 5,000 levels")
    path.write_bytes(_model_bytes(format_version="1" * 5000))
    fails(cli("info", path), 1, "5,000 digits")
    before = path.read_bytes()
    assert path.read_bytes() == before


# -- every reader of a named file refuses a FIFO at once --------------------------------------------
@pytest.fixture
def fifo(tmp_path):
    """A FIFO with no writer, and an alarm: a reader that waits on it fails instead of hanging."""
    import signal

    def hung(*args):
        raise AssertionError("blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield tmp_path
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_data_readers_refuse_a_fifo(fifo):
    from deltaprop.data import open_mapped, read_idx
    from deltaprop.data.download import verify_file

    for name in ("x.idx", "x.npy", "x.csv", "cached.gz"):
        os.mkfifo(fifo / name)
    with pytest.raises(dp.FileFormatError, match="named pipe"):
        read_idx(fifo / "x.idx")
    with pytest.raises(dp.FileFormatError, match="named pipe"):
        open_mapped(fifo / "x.npy")
    with pytest.raises(dp.FileFormatError, match="x.csv is a named pipe"):
        dp.data.load_arrays(fifo / "x.csv")
    assert verify_file(fifo / "cached.gz", [("sha256", "0" * 64)]) is False


def test_the_live_view_skips_a_fifo(fifo):
    from deltaprop.serve.run import read_table

    os.mkfifo(fifo / "history.csv")
    assert read_table(fifo / "history.csv") is None


def test_a_file_replaced_between_header_and_mapping_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    path.write_bytes(_model_bytes(dp.mlp([6, 5, 3], seed=0)))
    other = _model_bytes(dp.mlp([6, 5, 3], seed=1))  # same shapes, other weights and digests
    read_header = S._read_header

    def then_replaced(*args):
        out = read_header(*args)
        path.write_bytes(other)
        return out

    monkeypatch.setattr(S, "_read_header", then_replaced)
    with pytest.raises(dp.ModelFileError, match="changed while being read"):
        dp.load(path)
