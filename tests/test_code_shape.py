"""The shape the code keeps: no function in src/ longer than 60 lines (docstring excluded)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "deltaprop"
MAX_LINES = 60


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str) and len(body) > 1:
        body = body[1:]
    return fn.end_lineno - body[0].lineno + 1 + (body[0].lineno - fn.lineno > 0)


@pytest.mark.slow  # about 1.1 s in the quick suite on 2 cores
def test_no_function_in_src_is_longer_than_60_lines():
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > MAX_LINES:
                long.append(f"{path.relative_to(SRC.parent)}:{node.lineno} {node.name} ({_body_lines(node)} lines)")
    assert not long, "functions over 60 lines (split them):\n" + "\n".join(long)
