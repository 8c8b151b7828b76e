"""What the pages and `--help` say against what the commands do: the README's broken-ReLU
transcript (the alerts' wording, which no other test held against the page), docs/sklearn.md's
count of the parameters deltaprop adds, and the help of `plot` and `train --quiet`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest
from cli_in_process import run_cli
from test_readme import transcript

ROOT = Path(__file__).resolve().parent.parent


def _subparser(*names: str) -> argparse.ArgumentParser:
    from deltaprop.cli import build_parser

    parser = build_parser()
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _shown_matches(shown: str, printed: str) -> bool:
    """A transcript line cut at ``…`` matches a printed line that starts with what it shows."""
    return printed.startswith(shown[:-1].rstrip()) if shown.endswith("…") else printed == shown


@pytest.mark.slow  # about 0.4 s in the quick suite on 2 cores
def test_readme_broken_relu_run_prints_the_alerts_and_warning_it_shows(tmp_path):
    """README's 'learning rate far too large' transcript: its alert lines (cut at …) and the
    chance warning are what `train` prints, in that order."""
    command = "uv run deltaprop train --activation relu --lr 5 --epochs 4 --out runs/broken"
    shown = transcript(command)
    res = run_cli(*command.split()[3:], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    printed = [line for line in res.stdout.splitlines() if line.startswith("alert [")]
    printed += [line for line in res.stderr.splitlines() if line.startswith("WARNING")]
    assert len(printed) == len(shown), (shown, printed)
    assert all(_shown_matches(s, p) for s, p in zip(shown, printed)), (shown, printed)


def test_sklearn_page_counts_the_parameters_deltaprop_adds():
    """docs/sklearn.md: 'add parameters where it is new (four to MLPRegressor's, five to
    MLPClassifier's ...)', each marked (new) in the table that follows."""
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor

    text = (ROOT / "docs/sklearn.md").read_text(encoding="utf-8")
    words = {"three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
    claim = re.search(r"\((\w+) to `MLPRegressor`'s, (\w+) to `MLPClassifier`'s", text)
    assert claim, "docs/sklearn.md no longer says how many parameters each estimator adds"
    marked = set(re.findall(r"^\| `(\w+)` (?:\(classifier, )?(?:\()?new\)", text, re.M))
    for ours, theirs, said in ((NeuralNetRegressor, MLPRegressor, claim.group(1)),
                               (NeuralNetClassifier, MLPClassifier, claim.group(2))):
        added = set(ours().get_params()) - set(theirs().get_params())
        assert words[said] == len(added), (ours.__name__, sorted(added))
        assert added <= marked, sorted(added - marked)


def test_plot_help_names_every_format_plot_writes():
    from deltaprop.plots import _FORMATS

    from deltaprop.cli import build_parser

    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    summary = next(c.help for c in action._choices_actions if c.dest == "plot")
    assert all(fmt.upper() in summary for fmt in set(_FORMATS.values())), summary


def test_quiet_help_says_notes_and_warnings_still_print(tmp_path):
    """`train -q` leaves out the header and epoch lines, not a note on the data or a warning."""
    rows = np.column_stack([np.arange(8) % 3 * 1.5 + np.linspace(0, 1, 8), np.linspace(2, 3, 8), np.arange(8) % 2])
    np.savetxt(tmp_path / "tiny.csv", rows, fmt="%g", delimiter=",", header="a,b,label", comments="")
    res = run_cli("train", "--dataset", "tiny.csv", "--epochs", "1", "-q", "--out", "run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    printed = res.stdout + res.stderr
    assert "training on" not in printed and not re.search(r"^epoch ", printed, re.M)
    assert re.search(r"^note: ", printed, re.M) and re.search(r"^WARNING: ", printed, re.M), printed
    quiet = next(a.help for a in _subparser("train")._actions if "--quiet" in a.option_strings)
    assert "notes" in quiet and "warnings" in quiet, quiet


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_predict_levels_help_does_not_say_a_scaling_none_run_records_no_levels(tmp_path):
    """`predict --help` said the model file records nothing, so 255 is assumed, '(trained with
    --scaling none)'; train records the range of such a run's raw inputs (0 to 16 here), which
    predict then uses. Only an older deltaprop's run, or a dp.save without input_range, records none."""
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.integers(0, 17, (40, 64)), np.arange(40) % 4])
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    np.savetxt(tmp_path / "digits.csv", rows, fmt="%d", delimiter=",", header=header, comments="")
    res = run_cli("train", "--dataset", "digits.csv", "--scaling", "none", "--epochs", "1", "-q", "--out", "run",
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    info = run_cli("info", "run", cwd=tmp_path)
    assert "training inputs: 0 to 16 (raw, before any scaling)" in info.stdout.splitlines()
    levels = " ".join(next(a.help for a in _subparser("predict")._actions if "--levels" in a.option_strings).split())
    nothing = re.search(r"records nothing \(([^)]*)\)", levels)
    assert nothing, levels
    assert "--scaling none" not in nothing.group(1) or "older" in nothing.group(1), levels


@pytest.mark.parametrize("line, said", [
    ("lr = -1", "lr must be > 0, got -1.0"),
    ('activation = "foo"', "unknown activation 'foo'"),
    ("early_stopping = 3\nvalidation_split = 0.0", "early_stopping watches the validation loss"),
])
def test_a_refused_value_of_a_config_file_names_its_line(tmp_path, line, said):
    """README: with --config, 'an error or note about a value the file set names its line in the
    file, not an option'. A value the checks refused said only 'lr must be > 0, got -1.0'."""
    config = tmp_path / "run.toml"
    config.write_text(f'dataset = "parity"\n\n{line}\n', encoding="utf-8")
    res = run_cli("train", "--config", config, "--out", tmp_path / "run")
    assert res.returncode == 2 and res.stdout == ""
    first = line.splitlines()[0]
    assert len(res.stderr.splitlines()) == 1, res.stderr
    assert res.stderr.startswith(f"deltaprop: error: {first} in {config}: ") and said in res.stderr, res.stderr
    flag = run_cli("train", "--config", config, "--lr", "-2", "--out", tmp_path / "run2") if first == "lr = -1" else None
    if flag is not None:  # a flag over the file's value is named as it was given, not as the file's line
        assert flag.returncode == 2 and flag.stderr.strip().startswith(
            "deltaprop: error: lr must be > 0, got -2.0: give a positive learning rate")


def test_log_json_help_says_what_its_lines_are(tmp_path):
    """`--log-json` said 'one JSON object per epoch on stdout'; the last object is the run's result."""
    import json

    res = run_cli("train", "--dataset", "parity", "--layers", "10,3,2", "--epochs", "2", "--log-json", "--out", "run",
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    objects = [json.loads(line) for line in res.stdout.splitlines()]  # every stdout line is one object
    assert [o.get("epoch") for o in objects[:-1]] == [1, 2] and "epoch" not in objects[-1]
    help_text = " ".join(next(a.help for a in _subparser("train")._actions if "--log-json" in a.option_strings).split())
    assert all(key in help_text for key in objects[-1]), (help_text, sorted(objects[-1]))


def test_overwrite_help_says_a_refused_start_keeps_the_previous_run(tmp_path):
    """`--overwrite` said the old run's files 'are deleted first'; a start refused before
    training (here a data file that is not there) leaves them as they were."""
    assert run_cli("train", "--dataset", "parity", "--layers", "10,3,2", "--epochs", "1", "-q", "--out", "run",
                   cwd=tmp_path).returncode == 0
    model = (tmp_path / "run" / "model.safetensors").read_bytes()
    res = run_cli("train", "--dataset", "missing.csv", "--out", "run", "--overwrite", cwd=tmp_path)
    assert res.returncode == 1 and "missing.csv" in res.stderr
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == model
    help_text = " ".join(next(a.help for a in _subparser("train")._actions if "--overwrite" in a.option_strings).split())
    assert "deleted first" not in help_text and "refused" in help_text, help_text
