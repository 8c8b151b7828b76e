"""`evaluate` and `plot samples --model` show a dataset's rows by class names that are
theirs: a named dataset whose classes are not the model's (MNIST digits for a
Fashion-MNIST model) is refused in one line naming both, never drawn or scored under the
other classes' names."""

from __future__ import annotations

import pytest

import deltaprop as dp
from cli_in_process import run_cli
from deltaprop.data.mnist import FASHION_MNIST, MNIST
from deltaprop.data.parity import PARITY_CLASS_NAMES

FASHION = FASHION_MNIST.class_names


def _model(path, inputs, class_names, dataset):
    """An untrained model of ``inputs`` features over ``class_names``, as a run on ``dataset`` saves it."""
    net = dp.mlp([inputs, len(class_names)], output="softmax", seed=0)
    return dp.save(net, path, class_names=list(class_names), extra={"dataset": dataset},
                   input_scaling={"kind": "unit", "max": 255} if inputs == 784 else None)


@pytest.fixture
def fashion_model(tmp_path):
    return _model(tmp_path / "fashion.safetensors", 784, FASHION, "fashion-mnist")


@pytest.mark.parametrize("command", [["evaluate", "{model}", "--dataset", "mnist-sample"],
                                     ["plot", "samples", "--model", "{model}", "--dataset", "mnist-sample",
                                      "-n", "4", "-o", "{out}"]], ids=["evaluate", "plot-samples"])
def test_a_fashion_model_on_mnist_digits_is_refused_naming_both_sets_of_classes(tmp_path, fashion_model, command):
    out = tmp_path / "samples.png"
    done = run_cli(*(a.format(model=fashion_model, out=out) for a in command))
    assert done.returncode != 0 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "mnist-sample's classes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)" in lines[0]
    assert f"trained on ({', '.join(FASHION)})" in lines[0]
    assert "its own dataset (fashion-mnist)" in lines[0]
    assert not out.exists()


def test_a_model_with_names_of_its_own_on_another_named_dataset_is_refused(tmp_path):
    model = _model(tmp_path / "words.safetensors", 10, ("no", "yes"), "mine.csv")  # names of its own, not ids
    done = run_cli("evaluate", model, "--dataset", "parity")
    assert done.returncode != 0
    assert "parity's classes (odd, even) are not the ones" in done.stderr
    assert "(no, yes)" in done.stderr and "the data it was trained on" not in done.stderr


def test_a_model_trained_on_a_named_dataset_refuses_another_even_with_id_names(tmp_path):
    model = _model(tmp_path / "ids.safetensors", 10, ("0", "1"), "mnist-sample")  # MNIST's names are its ids
    done = run_cli("evaluate", model, "--dataset", "parity")
    assert done.returncode != 0 and "parity's classes (odd, even)" in done.stderr


def test_a_model_of_a_files_bare_ids_shows_the_named_datasets_classes(tmp_path):
    model = _model(tmp_path / "ids.safetensors", 10, ("0", "1"), "bits.csv")
    done = run_cli("evaluate", model, "--dataset", "parity")
    assert done.returncode == 0, done.stderr
    rows = [line.split()[0] for line in done.stdout.splitlines()[2:4]]
    assert rows == list(PARITY_CLASS_NAMES)


def test_the_models_own_names_are_shown_on_its_own_dataset(tmp_path):
    model = _model(tmp_path / "digits.safetensors", 784, MNIST.class_names, "mnist-sample")
    evaluated = run_cli("evaluate", model)
    assert evaluated.returncode == 0, evaluated.stderr
    assert [line.split()[0] for line in evaluated.stdout.splitlines()[2:12]] == list(MNIST.class_names)
