"""The README's command-line transcripts are what the commands print, and every option of
`deltaprop COMMAND --help` is named in README.md or docs/*.md, while every option the pages
name exists: a renamed or new option cannot leave the pages stale."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from cli_in_process import run_cli
from test_readme import _without_timing, transcript

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Options the pages name for other programs than deltaprop: uv, pytest, a bench script.
OTHER_PROGRAMS = {"--extra": "uv", "--inexact": "uv", "--pyargs": "pytest", "--rounds": "bench/mpi_scaling.py",
                  "--help": "every command"}


def command_options() -> dict[str, set[str]]:
    """Every ``--option`` of every ``deltaprop`` command, by command (``plot history`` ...)."""
    from deltaprop.cli import build_parser

    found: dict[str, set[str]] = {}

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        found[name] = set()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    walk(subparser, f"{name} {sub}".strip())
            else:
                found[name] |= {o for o in action.option_strings if o.startswith("--") and o not in ("--help", "--version")}

    walk(build_parser(), "")
    return found


def pages_text() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in PAGES)


def test_every_command_line_option_is_documented():
    text = pages_text()
    missing = {f"{command} {option}" for command, options in command_options().items() for option in options
               if not re.search(rf"{re.escape(option)}(?![\w-])", text)}
    assert not missing, f"options no page names: {sorted(missing)}"


def test_every_option_the_pages_name_exists():
    known = set().union(*command_options().values()) | set(OTHER_PROGRAMS)
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", pages_text()))
    assert not named - known, f"the pages name options no command has: {sorted(named - known)}"


def test_readme_gradcheck_and_refused_lr_lines_are_what_they_print():
    res = run_cli("gradcheck", "--layers", "6,5,3", "--activation", "tanh", "--loss", "cross_entropy")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1:] == transcript(
        "uv run deltaprop gradcheck --layers 6,5,3 --activation tanh --loss cross_entropy | tail -1")
    res = run_cli("train", "--lr", "nan")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.splitlines() == transcript("uv run deltaprop train --lr nan")


@pytest.mark.slow  # about a second
def test_readme_adam_run_says_adam_and_its_own_rate(tmp_path):
    command = "uv run deltaprop train --optimizer adam --epochs 1 --out runs/adam"
    shown = transcript(command)
    res = run_cli(*command.split()[3:], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert shown[1:] == ["..."] and res.stdout.splitlines()[:1] == shown[:1]


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_readme_digits_csv_transcript_is_what_it_prints(tmp_path):
    """scikit-learn's 8x8 digits written as the README shows them (`head -c 60 digits.csv`),
    then `deltaprop train --dataset digits.csv`: the lines the README shows, epochs and times aside."""
    spec = importlib.util.find_spec("sklearn")  # its data file, read without importing scikit-learn (a second)
    if spec is None or spec.origin is None:
        pytest.skip("scikit-learn, whose digits the README trains on, is not installed")
    digits = np.loadtxt(Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz", delimiter=",", dtype=np.int64)
    header = ",".join(["label", *(f"p{i}" for i in range(64))])
    rows = np.column_stack([digits[:, -1], digits[:, :-1]])  # load_digits(): 64 pixels, then the target
    np.savetxt(tmp_path / "digits.csv", rows, fmt="%d", delimiter=",", header=header, comments="")
    assert (tmp_path / "digits.csv").read_text()[:60] == transcript("head -c 60 digits.csv")[0]
    command = 'uv run deltaprop train --dataset digits.csv --out runs/digits | grep -v "^epoch"'
    res = run_cli("train", "--dataset", "digits.csv", "--out", "runs/digits", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    printed = [_without_timing(line) for line in res.stdout.splitlines() if not line.startswith("epoch")]
    assert printed == [_without_timing(line) for line in transcript(command)]


def _defined_names(module: str) -> set[str]:
    """The names ``deltaprop.X`` defines or imports at its top level, read from its source
    (importing it would import the optional packages some modules wrap)."""
    package = ROOT / "src" / Path(*module.split("."))
    path = package / "__init__.py" if package.is_dir() else package.with_suffix(".py")
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_readme_module_table_names_what_the_modules_hold():
    """Each module of the README's "What is inside" table exists, and each class it lists
    there (a capitalised name in backticks) is one of that row's modules'."""
    rows = re.findall(r"^\| ((?:`deltaprop\.[\w.]+`(?:, )?)+) \| (.*) \|$", (ROOT / "README.md").read_text(encoding="utf-8"),
                      flags=re.M)
    assert len(rows) > 10
    for modules_cell, holds in rows:
        names = set().union(*(_defined_names(name) for name in re.findall(r"`(deltaprop\.[\w.]+)`", modules_cell)))
        for name in re.findall(r"`([A-Z][A-Za-z0-9]*)`", holds):
            assert name in names, f"{modules_cell} holds no {name}"
