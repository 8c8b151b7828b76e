"""`deltaprop plot samples --model`: the rows and labels evaluate scores, and the model's
own predictions (its label column, its dataset, its decision rule)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop import plots
from deltaprop.data import train_validation_split


@pytest.fixture
def drawn(monkeypatch):
    """The titles of every tile of each figure drawn, as ``(label, prediction or None, red)``."""
    figures = []
    save = plots._save

    def keep_titles(fig, path):
        tiles = []
        for ax in fig.axes:
            label, _, predicted = ax.get_title().partition(" → ")
            tiles.append((label, predicted or None, ax.title.get_color() == "red"))
        figures.append(tiles)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep_titles)
    return figures


def _accuracy(result) -> tuple[float, int]:
    found = re.search(r"\((?:test, )?(\d+) examples\): accuracy (\d\.\d+)", result.stdout)
    assert found, result.stdout
    return float(found.group(2)), int(found.group(1))


def _class_and_survived_csv(path):
    """A feature column named ``class`` (1..3, what the label finder would take) and the
    label in ``survived``; 16 features, a table's row: drawn as 4x4 images only with --as-images."""
    rng = np.random.default_rng(2)
    n = 150
    cls, pix = rng.integers(1, 4, n), rng.random((n, 15))
    label = (pix[:, :5].sum(1) > 2.5).astype(int)
    lines = [",".join(["class"] + [f"p{i}" for i in range(15)] + ["survived"])]
    lines += [",".join([str(c)] + [f"{v:.4f}" for v in row] + [str(k)]) for c, row, k in zip(cls, pix, label)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_samples_of_a_model_use_its_dataset_and_label_column(tmp_path, drawn):
    csv = _class_and_survived_csv(tmp_path / "people.csv")
    run = tmp_path / "run"
    trained = run_cli("train", "--dataset", csv, "--label-column", "survived", "--epochs", "3", "--out", run, "--quiet")
    assert trained.returncode == 0, trained.stderr
    evaluated = run_cli("evaluate", run)
    accuracy, n_test = _accuracy(evaluated)
    # no --dataset: the model's own file, read with its own label column, its held-out rows
    result = run_cli("plot", "samples", "--model", run, "-n", n_test, "--as-images", "-o", tmp_path / "s.png")
    assert result.returncode == 0, result.stderr
    tiles = drawn[-1]
    assert len(tiles) == n_test
    assert {label for label, _, _ in tiles} <= {"0", "1"}  # survived, not class (1..3)
    assert sum(not red for _, _, red in tiles) == round(accuracy * n_test)
    # the label column the error text for an ambiguous file names is an option here too
    named = run_cli("plot", "samples", "--dataset", csv, "--label-column", "survived", "-n", "9", "--as-images",
                    "-o", tmp_path / "t.png")
    assert named.returncode == 0, named.stderr
    assert {label for label, predicted, _ in drawn[-1]} <= {"0", "1"} and len(drawn[-1]) == 9
    assert all(predicted is None for _, predicted, _ in drawn[-1])


@pytest.mark.slow
def test_samples_of_a_single_logit_model_use_its_decision_threshold(tmp_path, drawn):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 16))
    y = (X[:, :8].sum(1) > 0).astype(int)
    data = tmp_path / "bin16.npz"
    np.savez(data, x=X, y=y)
    net = dp.mlp([16, 1], output="identity", seed=0)
    writer = dp.CheckpointWriter(tmp_path / "run", {"extra": {"dataset": str(data)}}, interval=0)
    dp.fit(net, X, y, loss=dp.BinaryCrossEntropy(from_logits=True), optimizer=dp.SGD(lr=0.1), epochs=5,
           batch_size=20, seed=0, callbacks=[writer])
    model = tmp_path / "run" / "checkpoint.safetensors"
    accuracy, n_test = _accuracy(run_cli("evaluate", model, "--split", "test"))
    result = run_cli("plot", "samples", "--model", model, "--dataset", data, "-n", n_test, "--as-images",
                     "-o", tmp_path / "s.png")
    assert result.returncode == 0, result.stderr
    tiles = drawn[-1]
    assert sum(not red for _, _, red in tiles) == round(accuracy * n_test)
    # a logit is class 1 from 0 on: rows with a logit in [0, 0.5) tell that rule from a probability's 0.5
    _, _, x_test, y_test = train_validation_split(X, y, 0.2, seed=0)  # the file's held-out rows
    logits = net.predict_proba(x_test)[:, 0]
    assert ((logits >= 0) & (logits < 0.5)).any()
    assert [label for label, _, _ in tiles] == [str(k) for k in y_test]
    assert [predicted for _, predicted, _ in tiles] == [str(int(z >= 0)) for z in logits]


def test_plot_history_of_a_model_file_or_an_empty_folder_says_where_the_history_is(tmp_path):
    # "is a model file, not a checkpoint; resume from ..." and "FOLDER/checkpoint.safetensors: no such file"
    dp.save(dp.mlp([4, 3, 2], seed=0), tmp_path / "model.safetensors")
    res = run_cli("plot", "history", tmp_path / "model.safetensors")
    assert res.returncode == 1 and "is a model file, which keeps no history; give its run folder" in res.stderr
    (tmp_path / "empty").mkdir()
    res = run_cli("plot", "history", tmp_path / "empty")
    assert res.returncode == 1 and "holds neither a history.csv nor a checkpoint.safetensors" in res.stderr
