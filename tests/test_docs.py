"""Every Python block in docs/*.md runs, in order, one namespace per page, and a top-level
`print(...)` line that ends in a `# ...` comment prints what the comment says (spaces and
line breaks aside; `...` in the comment stands for anything): the docs cannot rot."""

import ast
import contextlib
import io
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
COMMENT = re.compile(r"^\s*#\s?(.*)$")


def printed_claim(statement: ast.stmt, lines: list[str]) -> str | None:
    """The comment after a one-line top-level ``print(...)``: what the page says it prints."""
    call = statement.value if isinstance(statement, ast.Expr) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print"):
        return None
    if statement.lineno != statement.end_lineno:
        return None
    comment = COMMENT.match(lines[statement.lineno - 1][statement.end_col_offset:])
    return comment.group(1).strip() if comment else None


def same_output(claim: str, printed: str) -> bool:
    """``printed`` is ``claim`` with runs of white space as one space and ``...`` as anything."""
    words = " ".join(claim.split())
    pattern = ".*?".join(re.escape(part) for part in words.split("..."))
    return re.fullmatch(pattern, " ".join(printed.split())) is not None


def run_block(block: str, name: str, namespace: dict) -> list[tuple[str, str]]:
    """Run ``block``; every (claim, printed) of its commented print lines that differ."""
    tree, lines = ast.parse(block, name), block.splitlines()
    wrong = []
    for statement in tree.body:
        code = compile(ast.Module(body=[statement], type_ignores=[]), name, "exec")
        claim = printed_claim(statement, lines)
        if claim is None:
            exec(code, namespace)
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
        if not same_output(claim, out.getvalue()):
            wrong.append((claim, out.getvalue().rstrip("\n")))
    return wrong


def test_docs_have_python_blocks():
    assert any(BLOCK.search(p.read_text()) for p in PAGES)


def test_a_print_comment_is_compared_with_what_is_printed():
    namespace: dict = {}
    block = "x = [1.0, 0.0]\nprint(x)   # [1.0, 0.0]\nprint(x)   # [1, 0]\nprint('a long line', x)  # a long ... 0.0]\n"
    assert run_block(block, "example", namespace) == [("[1, 0]", "[1.0, 0.0]")]
    assert same_output("[[1.000000e+00 5.703072e-30]]", "[[1.000000e+00\n  5.703072e-30]]\n")
    assert not same_output("[[1. 0.]]", "[[1.000000e+00 5.703072e-30]]\n")


@pytest.mark.slow  # about 1.2 s in the quick suite on 2 cores
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_python_block_runs_and_prints_what_it_says(page, capsys):
    text = page.read_text()
    for match in REQUIRES.finditer(text):
        for module in match.group(1).split():
            pytest.importorskip(module, reason=f"{page.name} needs {module}, which is not installed")
    namespace = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(BLOCK.findall(text)):
        try:
            wrong = run_block(block, f"{page.name}[block {i}]", namespace)
        except Exception as exc:  # the block's own number makes the failure easy to find
            pytest.fail(f"{page.name}, python block {i} failed: {exc!r}\n{block}")
        for claim, printed in wrong:
            pytest.fail(f"{page.name}, python block {i}: the page says it prints {claim!r}, it prints {printed!r}")


def _architecture_rows() -> list[set[str]]:
    """docs/architecture.md's module table, bottom row first: the modules of each row."""
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    return [{name.strip("` /") for name in cell.split(",")}
            for cell in re.findall(r"^\| [a-z ]+ \| (`.*?) \|", text, flags=re.M)]


def _module_level_imports(path: Path) -> set[str]:
    """The deltaprop modules ``path`` imports when it is imported (not inside functions and
    not under ``if TYPE_CHECKING``), by their top-level name."""
    package = Path(__file__).resolve().parent.parent / "src" / "deltaprop"
    depth = len(path.relative_to(package).parts) - 1  # 1 inside data/ or serve/
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level > depth:  # from . / from .. : deltaprop's own
            found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
    return found


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_architecture_table_names_every_module_and_imports_point_down():
    """Every module is in the table, and a module imports (when it is imported) only modules
    of its own row or the rows above it, as the page says."""
    package = Path(__file__).resolve().parent.parent / "src" / "deltaprop"
    rows = _architecture_rows()
    row_of = {name: i for i, row in enumerate(rows) for name in row}
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"} | {
        p.parent.name for p in package.glob("*/__init__.py")}
    assert not modules - set(row_of), f"docs/architecture.md's table leaves out {sorted(modules - set(row_of))}"
    upward = sorted(f"{path.relative_to(package)} imports {name}"
                    for path in package.rglob("*.py") if path.relative_to(package).parts[0].removesuffix(".py") in row_of
                    for name in _module_level_imports(path)
                    if row_of.get(name, -1) > row_of[path.relative_to(package).parts[0].removesuffix(".py")])
    said = {"callbacks.py imports serialization"}  # the page names it
    assert set(upward) <= said, f"imports that point up docs/architecture.md's table: {sorted(set(upward) - said)}"
