"""Readers of untrusted structured data check types and ranges: history records (from a
history.csv or a checkpoint) and a scikit-learn estimator's metadata end in one
deltaprop.Error, never an AttributeError, ValueError or a plotting traceback."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import _checks
from deltaprop import serialization as S
from deltaprop.plots import plot_history

from test_bounded import _checkpoint, _rewrite, _split
from test_cli_errors import cli, fails, process

HEADER = "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n"


@pytest.mark.parametrize("records, match", [
    ([{"epoch": 1, "loss": 1e308}], "loss is 1e\\+308, beyond"),
    ([{"epoch": 1, "loss": "0.5"}], "loss is '0.5', not a number"),
    ([{"epoch": 1, "loss": float("inf")}], "loss is inf"),
    ([{"epoch": -1, "loss": 0.5}], "epoch must be a whole number"),
    ([["epoch", 1]], "record 1 is list"),
    ({"epoch": 1}, "must be a list of records"),
])
def test_plot_history_checks_its_records(tmp_path, records, match):
    with pytest.raises(dp.DataError, match=match):
        plot_history(records, tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()


def test_nan_means_not_recorded(tmp_path):
    records = _checks.history_records([{"epoch": 1, "loss": 0.5, "val_loss": float("nan")}])
    assert plot_history(records, tmp_path / "h.png").stat().st_size > 0


def test_cli_plot_history_of_a_one_row_history_with_loss_1e308(tmp_path):
    (tmp_path / "history.csv").write_text(HEADER + "1,1e308,0.5,,,0.1,1,10\n")
    fails(cli("plot", "history", tmp_path / "history.csv", "-o", tmp_path / "h.png"), 1, "loss is 1e+308")
    assert not (tmp_path / "h.png").exists()


def test_cli_plot_history_of_a_checkpoint_whose_records_hold_strings(tmp_path):
    path = _checkpoint(tmp_path / "checkpoint.safetensors")
    tensors, meta = _split(path)
    training = json.loads(meta["training"])
    training["history"][0]["loss"] = "lots"
    meta["training"] = json.dumps(training)
    _rewrite(path, tensors, meta)
    before = path.read_bytes()
    with pytest.raises(dp.ModelFileError, match="history record 1: loss is 'lots', not a number"):
        S.load_checkpoint(path)
    fails(cli("plot", "history", path, "-o", tmp_path / "h.png"), 1, "loss is 'lots'")
    assert path.read_bytes() == before and not (tmp_path / "h.png").exists()


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_cli_history_file_that_is_a_fifo(tmp_path):
    import os

    os.mkfifo(tmp_path / "history.csv")
    # a process of its own, under a time limit: a read that blocked would hang this one
    fails(process("plot", "history", tmp_path / "history.csv", "-o", tmp_path / "h.png"), 1, "named pipe")


# -- scikit-learn metadata ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory):
    pytest.importorskip("sklearn", reason="the scikit-learn wrapper needs scikit-learn")
    from deltaprop.sklearn import NeuralNetClassifier

    X = np.random.default_rng(0).normal(size=(40, 3))
    path = tmp_path_factory.mktemp("sk") / "clf.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs do not converge, and need not
        NeuralNetClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, (X[:, 0] > 0).astype(int)).save(path)
    return path


@pytest.mark.parametrize("change, match", [
    ({"params": [1, 2]}, "'params' must be a mapping"),
    ({"fitted": "yes"}, "'fitted' must be a mapping"),
    ({"fitted": {"n_iter_": "3"}}, "'n_iter_' must be a whole number"),
    ({"fitted": {"loss_curve_": [0.5, "x"]}}, "'loss_curve_' must be a list of numbers"),
    ({"feature_names_in": [1, 2, 3]}, "'feature_names_in' must be a list of names"),
    ({"estimator": 7}, "'estimator' must be a name"),
])
def test_classifier_load_checks_its_metadata(classifier_file, tmp_path, change, match):
    from deltaprop.sklearn import NeuralNetClassifier

    mf = S.read_model(classifier_file)
    extra = {**mf.extra, **change}
    path = dp.save(mf.net, tmp_path / "bad.safetensors", class_names=mf.class_names, input_scaling=mf.input_scaling,
                   extra=extra)
    with pytest.raises(dp.ModelFileError, match=match):
        NeuralNetClassifier.load(path)
    assert NeuralNetClassifier.load(classifier_file).n_iter_ == 2
