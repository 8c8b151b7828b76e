"""What `deltaprop predict` says it does to an image for a model of small square images
(scikit-learn's 8x8 digits) is what it does: digits are framed as those digits are
(images.to_digit_frame: the ink's longer edge filling a 4·side frame, 4x4 blocks), not
MNIST's 20x20 box reduced from 28x28, the framing that misread such digits. And README's
digits.csv transcript can be followed: it says how the file is made."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

import deltaprop as dp
from deltaprop.cli import main


def _model_and_png(tmp_path):
    net = dp.mlp([64, 16, 10], seed=0)
    model = tmp_path / "model.safetensors"
    dp.save(net, model, input_range=(0, 16), extra={"config": {"dataset": "digits.csv"}})
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).ellipse((50, 25, 150, 175), outline=0, width=18)
    img.save(tmp_path / "zero.png")
    return model, tmp_path / "zero.png"


def test_predict_says_small_digits_are_framed_as_scikit_learns_digits(tmp_path, capsys):
    model, png = _model_and_png(tmp_path)
    assert main(["predict", str(model), str(png)]) == 0
    err = capsys.readouterr().err
    assert "32x32 frame" in err and "4x4 block" in err, err
    assert "20x20" not in err and "reduced to this model" not in err, err


def test_predict_says_other_styles_are_reduced_from_28x28(tmp_path, capsys):
    model, png = _model_and_png(tmp_path)
    assert main(["predict", str(model), str(png), "--images", "fashion"]) == 0
    err = capsys.readouterr().err
    assert "reduced to this model's 8x8" in err and "32x32 frame" not in err, err


@pytest.mark.slow  # scikit-learn's import and a training run, as test_readme's transcripts
def test_the_readmes_digits_csv_transcript_is_what_its_commands_print(tmp_path, monkeypatch, capsys):
    """README's "Your own data" transcript: its first command writes digits.csv (the file is
    in no checkout), and training on it prints the lines shown (times and speeds aside)."""
    import re
    import shlex

    from test_readme import _without_timing, transcript

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    command = re.search(r"^\$ (uv run python -c .*digits\.csv.*)$", readme, flags=re.M).group(1)
    code = shlex.split(command)[-1]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README digits.csv command", "exec"), {})
    assert (tmp_path / "digits.csv").read_bytes()[:60].decode() == transcript("head -c 60 digits.csv")[0]
    assert main(["train", "--dataset", "digits.csv", "--out", "runs/digits"]) == 0
    printed = [_without_timing(line) for line in capsys.readouterr().out.splitlines() if not line.startswith("epoch")]
    shown = transcript('uv run deltaprop train --dataset digits.csv --out runs/digits | grep -v "^epoch"')
    assert printed == [_without_timing(line) for line in shown]
