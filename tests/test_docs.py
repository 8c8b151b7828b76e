"""Every Python block in docs/*.md runs, in order, one namespace per page: the docs cannot rot."""

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
#: A page that needs optional packages says so: <!-- requires: onnx onnxruntime torch -->
REQUIRES = re.compile(r"^<!-- requires: ([\w ]+) -->$", re.M)


def test_docs_have_python_blocks():
    assert any(BLOCK.search(p.read_text()) for p in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_python_block_runs(page, capsys):
    text = page.read_text()
    for match in REQUIRES.finditer(text):
        for module in match.group(1).split():
            pytest.importorskip(module, reason=f"{page.name} needs {module}, which is not installed")
    namespace = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(BLOCK.findall(text)):
        try:
            exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as exc:  # the block's own number makes the failure easy to find
            pytest.fail(f"{page.name}, python block {i} failed: {exc!r}\n{block}")
