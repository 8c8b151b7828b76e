"""The README's Python runs as written and prints what it promises: seed 001's parity
network reaches test accuracy 1.0."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_readme_has_the_parity_example():
    assert any("dp.fit(" in block and "Dense(10, 3)" in block for block in python_blocks())


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs_and_prints_accuracy_1(index, tmp_path, monkeypatch):
    block = python_blocks()[index]
    monkeypatch.chdir(tmp_path)  # anything the example writes stays out of the checkout
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
    printed = out.getvalue()
    accuracies = [float(v) for v in re.findall(r"accuracy:?\s*([0-9.]+)", printed)]
    if "Dense(10, 3)" in block:  # seed 001's parity network
        assert accuracies, printed
        assert all(a == 1.0 for a in accuracies), printed
    for value in re.findall(r"max relative error ([0-9.e+-]+)", printed):
        assert float(value) < 1e-6, printed
