"""Fuzzing the text deltaprop parses: model and checkpoint metadata JSON and TOML configs,
with deep nesting, huge numbers and wrong types. Whatever hypothesis generates, reading
either works or raises a deltaprop.Error, never anything else (no RecursionError,
ValueError, TypeError, OverflowError, KeyError, AttributeError, MemoryError)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import serialization as S
from deltaprop.config import TrainConfig, load_toml

from test_bounded import _checkpoint, _rewrite, _split

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30), st.integers().map(lambda i: i * 10**150),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 1, 2**31, 2**63, 10**9, 1e308, -0.0]),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=20)


def _deep(depth: int, opener: str) -> str:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return opener * depth + "1" + closer * depth


_json_texts = st.one_of(
    _values.map(json.dumps),
    st.builds(_deep, st.integers(1, 5000), st.sampled_from(["[", '{"a":'])),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.text(max_size=40),
)


def _loads_or_refuses(read, path):
    try:
        read(path)
    except dp.Error:
        pass


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    model = dp.save(dp.mlp([5, 4, 3], seed=0), folder / "model.safetensors", class_names=list("abc"),
                    input_scaling={"kind": "unit", "max": 255}, extra={"note": "x"})
    checkpoint = _checkpoint(folder / "checkpoint.safetensors")
    return folder, _split(model), _split(checkpoint)


_MODEL_KEYS = ["architecture", "class_names", "input_scaling", "extra", "format_version", "dtype", "kind", "format"]
_CHECKPOINT_KEYS = ["training", "optimizer", "architecture", "kind"]


@pytest.mark.slow
@FUZZ
@given(key=st.sampled_from(_MODEL_KEYS), text=_json_texts)
def test_model_metadata_entries(files, key, text):
    folder, (tensors, meta), _ = files
    path = folder / "m.safetensors"
    _rewrite(path, tensors, {**meta, key: text})
    _loads_or_refuses(dp.load, path)


@pytest.mark.slow
@FUZZ
@given(key=st.sampled_from(_CHECKPOINT_KEYS), text=_json_texts)
def test_checkpoint_metadata_entries(files, key, text):
    folder, _, (tensors, meta) = files
    path = folder / "c.safetensors"
    _rewrite(path, tensors, {**meta, key: text})
    _loads_or_refuses(S.load_checkpoint, path)


def _replace_at(value, route: list[int], new):
    """``value`` with the item reached by following ``route`` (indices modulo each
    container's size) replaced by ``new``."""
    if not route or not isinstance(value, (list, dict)) or not value:
        return new
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[route[0] % len(keys)]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = _replace_at(value[key], route[1:], new)
    return copy


@FUZZ
@given(key=st.sampled_from(["architecture", "training", "optimizer", "input_scaling"]),
       route=st.lists(st.integers(0, 50), max_size=5), new=_values)
@pytest.mark.slow
def test_values_inside_checkpoint_metadata(files, key, route, new):
    folder, _, (tensors, meta) = files
    path = folder / "c.safetensors"
    _rewrite(path, tensors, {**meta, key: json.dumps(_replace_at(json.loads(meta[key]), route, new))})
    _loads_or_refuses(S.load_checkpoint, path)


@pytest.mark.slow
@FUZZ
@given(header=st.one_of(_json_texts, _values.map(lambda v: json.dumps({"__metadata__": v}))))
def test_outer_header(files, header):
    folder = files[0]
    raw = header.encode("utf-8", "surrogatepass")
    path = folder / "h.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)
    _loads_or_refuses(dp.load, path)


# -- TOML -----------------------------------------------------------------------------------------
def _toml_literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str) or value is None:
        return json.dumps(value or "")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_literal(v)}" for k, v in value.items()) + "}"


_toml_texts = st.one_of(
    st.dictionaries(st.sampled_from(list(TrainConfig.keys()) + ["x", "schedule"]), _values, max_size=5).map(
        lambda d: "".join(f"{k} = {_toml_literal(v)}\n" for k, v in d.items())),
    st.integers(1, 100_000).map(lambda n: "x = " + "[" * n + "]" * n),
    st.integers(1, 5000).map(lambda n: "x = " + "{a = " * n + "1" + "}" * n),
    st.integers(1, 200_000).map(lambda n: "a" + ".a" * n + " = 1\n"),
    st.integers(1, 6000).map(lambda n: "seed = " + "9" * n + "\n"),
    st.lists(st.sampled_from(["[", "]", "{", "}", "a", ".", " = ", "1", '"', "'", "\n", "#", ",", "1e999", "inf",
                              "[t]", "[[t]]", '"""', "9" * 60]), max_size=60).map("".join),
)


@pytest.mark.slow
@FUZZ
@given(text=_toml_texts)
def test_toml_configs(files, text):
    path = files[0] / "c.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        TrainConfig.from_mapping(load_toml(path), origin=str(path))
    except dp.Error:
        pass


def test_the_fuzzed_files_load_untouched(files):
    """The starting points are valid, so the fuzz explores changes, not broken files."""
    folder, (tensors, meta), (c_tensors, c_meta) = files
    _rewrite(folder / "m.safetensors", tensors, dict(meta))
    assert dp.load(folder / "m.safetensors").n_features == 5
    _rewrite(folder / "c.safetensors", c_tensors, dict(c_meta))
    assert S.load_checkpoint(folder / "c.safetensors").epoch == 1
    assert np.isfinite(next(iter(c_tensors.values()))).all()
