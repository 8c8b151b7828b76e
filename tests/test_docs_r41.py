"""What README.md says of the output layer and the loss is what `deltaprop train` does: the
output stacks `--output-activation` takes, and the sigmoid units binary cross-entropy gets
without `--layers`."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme() -> str:
    return " ".join(README.read_text(encoding="utf-8").split())


def _output_activation_entry() -> str:
    """The README's description of ``--output-activation`` in its list of train's options."""
    found = re.search(r"`--output-activation` \((.*?); checked with the loss\)", _readme())
    assert found, "the README's option list describes no --output-activation"
    return found.group(1)


def _bce_pairing() -> str:
    """The README's words on a sigmoid output with binary cross-entropy."""
    found = re.search(r"sigmoid with binary cross-entropy \((.*?)\), or any output with squared error", _readme())
    assert found, "the README pairs no sigmoid output with binary cross-entropy"
    return found.group(1)


def test_readme_names_the_output_stacks_that_output_activation_takes():
    """The option list gave three names; `train --help` and `mlp(output=)` take several
    joined by `+` too (seed 000's sigmoid+softmax, which examples/ trains)."""
    entry = _output_activation_entry()
    stacks = re.findall(r"`([a-z_]+(?:\+[a-z_]+)+)`", entry)
    assert stacks, f"the README's --output-activation names no stack: {entry!r}"
    for name in stacks:
        net = dp.mlp([4, 3, 2], output=name, seed=0)
        assert [layer.type_name for layer in net.layers[-len(name.split("+")):]] == \
            [dp.ACTIVATIONS[part].__name__ for part in name.split("+")]


def _train_sigmoid_bce(tmp_path: Path, classes: int, *layers: str) -> str:
    """Train one epoch of a sigmoid output with binary cross-entropy on ``classes`` classes;
    the run's last Dense layer as `info` prints it."""
    rng = np.random.default_rng(0)
    data = tmp_path / f"classes{classes}.npz"
    np.savez(data, x=rng.normal(size=(30, 3)).astype(np.float32), y=np.arange(30) % classes)
    out = tmp_path / f"run{classes}{len(layers)}"
    res = run_cli("train", "--dataset", data, "--output-activation", "sigmoid", "--loss", "binary_cross_entropy",
                  *layers, "--epochs", "1", "--out", out, "-q")
    assert res.returncode == 0, res.stderr
    info = run_cli("info", out / "model.safetensors")
    assert info.returncode == 0, info.stderr
    return re.findall(r"Dense\(n_in=\d+, n_out=\d+", info.stdout)[-1]


@pytest.mark.slow  # three one-epoch runs
def test_readme_says_what_sigmoid_bce_gets_without_layers(tmp_path):
    """The README said more than two classes needed --layers ending in the classes; the
    default layers give one sigmoid unit a class, and two classes one unit unless --layers
    ends in 2."""
    words = _bce_pairing()
    assert "default `--layers`" in words and "ending in 2" in words, words
    assert _train_sigmoid_bce(tmp_path, 3) == "Dense(n_in=50, n_out=3"
    assert _train_sigmoid_bce(tmp_path, 2) == "Dense(n_in=50, n_out=1"
    assert _train_sigmoid_bce(tmp_path, 2, "--layers", "3,4,2") == "Dense(n_in=4, n_out=2"
