"""An argument no parser took is refused naming the command whose --help lists its options:
`deltaprop plot samples RUN extra` said "see deltaprop --help", which lists only commands."""

from __future__ import annotations

import pytest

from deltaprop import cli


@pytest.mark.parametrize("argv, where", [
    (["train", "--bogus"], "deltaprop train --help"),
    (["plot", "samples", "a", "b", "c"], "deltaprop plot samples --help"),
    (["evaluate", "a", "b"], "deltaprop evaluate --help"),
    (["--bogus"], "deltaprop --help"),
])
def test_an_unknown_argument_names_the_commands_help(argv, where, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unrecognized arguments" in err[0] and err[0].endswith(f"(see {where})")
