"""`deltaprop plot weights CHECKPOINT` names the epoch whose weights it draws, on the
figure and in its line, as it does for a run folder's model."""

from __future__ import annotations

import pytest

from cli_in_process import run_cli
from deltaprop import plots


@pytest.fixture
def titles(monkeypatch):
    """The figure title of each figure drawn."""
    seen = []
    save = plots._save

    def keep(fig, path):
        seen.append(fig._suptitle.get_text() if fig._suptitle is not None else "")
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return seen


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_plot_weights_of_a_checkpoint_names_its_epoch(tmp_path, titles):
    run = tmp_path / "run"
    done = run_cli("train", "--dataset", "parity", "--layers", "10,4,2", "--epochs", "2", "--batch-size", "full",
                   "--out", run, "--quiet")
    assert done.returncode == 0, done.stderr
    drawn = run_cli("plot", "weights", run / "checkpoint.safetensors", "--out", tmp_path / "w.png")
    assert drawn.returncode == 0, drawn.stderr
    assert "epoch 2 (the checkpoint, step " in drawn.stdout
    assert titles and "epoch 2 (the checkpoint, step " in titles[-1]
    model = run_cli("plot", "weights", run / "model.safetensors", "--out", tmp_path / "m.png")
    assert model.returncode == 0 and "epoch 2" in titles[-1] and "epoch 2" in model.stdout
