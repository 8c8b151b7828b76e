"""Every form an initialiser may be named by, in the words that list them: ``train --help``
left out ``zeros`` (accepted, with a warning), and the "unknown init" errors of a config, the
command line and ``Dense(init=...)`` left out ``scaled_normal(S)``. Both now list
:func:`deltaprop.initializers.forms`, built from the registry."""

from __future__ import annotations

import re

import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.config import TrainConfig
from deltaprop.initializers import INITIALIZERS, forms, resolve


def _named(text: str) -> list[str]:
    """The forms of :func:`forms` that ``text`` names, as words of their own."""
    return [form for form in forms() if re.search(rf"(?<![\w(]){re.escape(form)}(?![\w(])", text)]


def test_the_forms_are_every_registry_name_and_the_scaled_form():
    assert forms() == ["he_normal", "glorot_uniform", "scaled_normal", "scaled_normal(S)", "zeros"]
    assert [form for form in forms() if "(" not in form] == list(INITIALIZERS)
    for form in forms():  # each is accepted as written (S a scale)
        name, _ = resolve(form.replace("(S)", "(0.5)"))
        assert TrainConfig.from_mapping({"init": form.replace("(S)", "(0.5)")}).init == name


def test_train_help_names_every_form_and_that_zeros_warns():
    res = run_cli("train", "--help")
    assert res.returncode == 0
    words = " ".join(res.stdout.split())
    init = words[words.index("--init INIT ") :].split(" --batch-size")[0]
    assert _named(init) == forms()
    assert "zeros, accepted with a warning" in init and "scaled_normal(0.01)" in init


@pytest.mark.parametrize("where", ["config", "library"])
def test_an_unknown_init_is_told_every_form(where):
    with pytest.raises(dp.ConfigError) as caught:
        if where == "config":
            TrainConfig.from_mapping({"init": "he_uniform"})
        else:
            dp.Dense(3, 2, init="he_uniform")
    message = str(caught.value)
    assert "'he_uniform'" in message and _named(message) == forms()
    assert "S: a scale > 0, e.g. scaled_normal(0.01)" in message


def test_the_command_line_refuses_an_unknown_init_naming_every_form(tmp_path):
    res = run_cli("train", "--init", "he_uniform", "--out", tmp_path / "run")
    assert res.returncode == 2
    (line,) = res.stderr.splitlines()
    assert line.startswith("deltaprop: error: unknown init 'he_uniform'; choose one of ")
    assert _named(line) == forms()
