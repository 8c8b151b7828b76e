"""What REPRODUCTION.md's commands do where the MNIST files are not."""

from __future__ import annotations

from reproduce_script import load_reproduce


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
