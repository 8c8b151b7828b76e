"""What REPRODUCTION.md's commands do where the MNIST files are not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from reproduce_script import load_reproduce

ROOT = Path(__file__).resolve().parents[1]


def test_reproduce_without_mnist_refuses_in_one_line_and_exits_1(tmp_path, monkeypatch, capsys):
    """`reproduce.py --data-dir DIR --seeds S` with DIR not holding MNIST trained nothing,
    printed a line per skipped run on stdout, rewrote the tables and exited 0."""
    reproduce = load_reproduce()
    monkeypatch.setenv("DELTAPROP_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))

    def trained(*args, **kwargs):
        raise AssertionError("a run was trained without MNIST")

    monkeypatch.setattr(reproduce, "train_once", trained)
    runs, output = tmp_path / "runs.jsonl", tmp_path / "out.md"
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--data-dir", str(empty), "--seeds", "5-6", "--only", "seed000_sgd", "--runs", str(runs), "--output", str(output)]
    assert reproduce.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "2 runs (seed000_sgd seed 5, ...) need MNIST" in captured.err and "--data-dir" in captured.err
    assert not output.exists() and not runs.exists()


@pytest.mark.parametrize("name", ["seed000_reference", "seed001_reference"])
def test_reference_script_without_mnist_is_one_line_and_exit_1(name, tmp_path, monkeypatch, capsys):
    """REPRODUCTION.md's reference commands, where DIR holds no MNIST: the library's refusal in
    one line on stderr, exit 1, not a traceback."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    monkeypatch.setenv("DELTAPROP_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert module.main(["--data-dir", str(empty), "--seeds", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{name}.py: mnist: missing ") and err.count("\n") == 1, err
