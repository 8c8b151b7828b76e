"""Binary cross-entropy on a dataset of more than two classes, without --layers."""

import pytest

from cli_in_process import run_cli


@pytest.mark.slow  # trains one epoch on the bundled sample
def test_sigmoid_bce_without_layers_trains_one_sigmoid_a_class(tmp_path):
    """The default layers end in the classes, yet the run was refused and told to give
    --layers ending in 10: now each class gets its own sigmoid unit, as --layers would give."""
    out = tmp_path / "run"
    res = run_cli("train", "--output-activation", "sigmoid", "--loss", "binary_cross_entropy",
                  "--epochs", "1", "--out", out, "-q")
    assert res.returncode == 0, res.stderr
    assert "layers = [784, 50, 10]" in (out / "config.toml").read_text()
    info = run_cli("info", out / "model.safetensors")
    assert info.returncode == 0, info.stderr
    assert "Dense(n_in=50, n_out=10" in info.stdout


@pytest.mark.slow  # trains one epoch
def test_sigmoid_bce_on_two_classes_without_layers_keeps_one_unit(tmp_path):
    """Without --layers, two classes stay one sigmoid unit (and are told to relabel when
    their ids are not 0 and 1): the new default covers more than two classes only."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    np.savez(tmp_path / "two.npz", x=x, y=np.where(np.arange(40) % 2 == 0, 0, 1))
    res = run_cli("train", "--dataset", tmp_path / "two.npz", "--output-activation", "sigmoid",
                  "--loss", "binary_cross_entropy", "--epochs", "1", "--out", tmp_path / "r", "-q")
    assert res.returncode == 0, res.stderr
    assert "layers = [3, 50, 1]" in (tmp_path / "r" / "config.toml").read_text()
