"""Today's features met together: the recorded input_shape through a resumed run's model,
checkpoint and ONNX export, and through a fit on a Dask array; the History's alerts_at_end of
an early-stopped run; an estimator's warm start under early stopping, interrupted, then fitted
again as if the interrupted call never ran."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.serialization import load_checkpoint


def _images(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 4, 4)).astype(np.float32)
    return X, (X.reshape(n, -1).sum(1) > 8).astype(np.int64)


@pytest.mark.slow
def test_a_resumed_run_keeps_the_input_shape_in_model_checkpoint_and_export(tmp_path):
    X, y = _images()
    np.savez(tmp_path / "img.npz", x=X, y=y)
    out = tmp_path / "run"
    assert run_cli("train", "--dataset", tmp_path / "img.npz", "--epochs", "2", "--out", out, "--quiet").returncode == 0
    assert run_cli("train", "--resume", out, "--epochs", "3", "--quiet").returncode == 0
    assert dp.load(out / "model.safetensors").input_shape == (4, 4)
    assert load_checkpoint(out / "checkpoint.safetensors").net.input_shape == (4, 4)
    facts = json.loads((out / "run.json").read_text())
    assert facts["alerts_at_end"]["last_epoch"] == 3 and len(facts["sessions"]) == 2
    onnx = pytest.importorskip("onnx")
    assert run_cli("export", out / "model.safetensors", "--format", "onnx", "--out", tmp_path / "m.onnx").returncode == 0
    meta = {p.key: p.value for p in onnx.load(tmp_path / "m.onnx").metadata_props}
    assert json.loads(meta["input_shape"]) == [4, 4]


@pytest.mark.slow
def test_fit_on_a_dask_array_of_images_records_their_shape_and_the_alerts_at_the_end():
    da = pytest.importorskip("dask.array")
    X, y = _images()
    net = dp.mlp([16, 8, 2], seed=0)
    history = dp.fit(
        net, da.from_array(X, chunks=(40, 4, 4)), y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, seed=0
    )
    assert net.input_shape == (4, 4)
    assert history.alerts_at_end["last_epoch"] == 2
    held = {(a["rule"], a["epoch"]) for a in history.alerts_at_end["alerts"] if a["cleared_by"] is None}
    assert {(a.rule, a.epoch) for a in history.standing_alerts} == held


def test_an_early_stopped_run_judges_its_alerts_at_the_epoch_it_stopped():
    X, y = _images()
    net = dp.mlp([16, 8, 2], seed=0)
    history = dp.fit(
        net,
        X[:100],
        y[:100],
        loss=dp.CrossEntropy(),
        optimizer=dp.SGD(lr=0.1),
        epochs=30,
        seed=0,
        validation=(X[100:], y[100:]),
        callbacks=[dp.EarlyStopping(patience=1)],
    )
    assert len(history.records) < 30
    assert history.alerts_at_end["last_epoch"] == len(history.records)


@pytest.mark.slow
def test_an_interrupted_warm_start_under_early_stopping_leaves_the_next_fit_as_a_twins(monkeypatch):
    pytest.importorskip("sklearn")
    import warnings

    from sklearn.base import clone

    from deltaprop import sklearn as dsk

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = dsk.NeuralNetClassifier(
            hidden_layer_sizes=(8,),
            max_iter=5,
            random_state=0,
            warm_start=True,
            early_stopping=True,
            n_iter_no_change=50,
            learning_rate_init=0.01,
        ).fit(X, y)
        twin = clone(est).fit(X, y)
        original, seen = dsk._ScikitLearnRule.on_epoch_end, []

        def on_epoch_end(rule, state):
            original(rule, state)
            seen.append(1)
            if len(seen) == 3:
                raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(dsk._ScikitLearnRule, "on_epoch_end", on_epoch_end)
            with pytest.raises(KeyboardInterrupt):
                est.fit(X[::-1], y[::-1])
        est.fit(X, y)
        twin.fit(X, y)
    assert np.array_equal(est.predict_proba(X), twin.predict_proba(X))
    assert est.validation_scores_ == twin.validation_scores_ and est.t_ == twin.t_


@pytest.mark.slow
def test_a_multilabel_estimators_network_saved_by_itself_is_a_multilabel_model(tmp_path):
    """A fitted multi-label classifier's ``net_`` was not marked multi-label: ``net_.predict``
    gave one class a row (the argmax), and ``dp.save(est.net_)`` wrote a model of classes, which
    ``deltaprop predict`` and ``NeuralNetClassifier.load`` read as a two-class classifier."""
    pytest.importorskip("sklearn")
    import warnings

    from deltaprop.serialization import read_model
    from deltaprop.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralNetClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, y)
    assert est.net_.multilabel
    assert np.array_equal(est.net_.predict(X), est.predict(X))
    path = dp.save(est.net_, tmp_path / "net.safetensors")
    assert read_model(path).outputs == "labels"
    assert np.array_equal(dp.load(path).predict(X), est.predict(X))
    assert np.array_equal(NeuralNetClassifier.load(path).predict(X), est.predict(X))


def test_a_resume_without_diagnostics_judges_no_alerts_at_its_end():
    """fit resumed from the state object of a run with diagnostics, now with
    ``diagnostics=False``, judged the end in the earlier call's context (its validation rows,
    its optimizer) over epochs no rule looked at, where History says None: no check judged them."""
    rng = np.random.default_rng(0)
    X = rng.random((120, 16))
    y = (X.sum(1) > 8).astype(int)
    net, opt, states = dp.mlp([16, 8, 2], seed=0), dp.SGD(lr=0.1), []
    keep = dp.LambdaCallback(on_train_end=states.append)
    first = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, seed=0, callbacks=[keep])
    assert first.alerts_at_end is not None
    again = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=4, resume=states[0], diagnostics=False)
    assert len(again.records) == 4
    assert again.alerts_at_end is None and again.standing_alerts is None


def test_a_trained_network_given_an_input_layer_keeps_what_it_records():
    """``with_input_layer`` of a network ``fit`` on images of values dropped its flags: the
    new network's predict gave class ids for a regressor's values, and save recorded no image shape."""
    from deltaprop.preprocessing import with_input_layer

    rng = np.random.default_rng(0)
    X = rng.random((60, 4, 4))
    targets = X.reshape(60, -1)[:, :2]
    net = dp.mlp([16, 8, 2], seed=0, output="identity")
    dp.fit(net, X, targets, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.1), epochs=2, seed=0, diagnostics=False)
    scaled = with_input_layer(net, dp.Rescaling(1.0))
    rows = X[:3].reshape(3, -1)
    assert scaled.gives_values and scaled.input_shape == (4, 4) and not scaled.multilabel
    np.testing.assert_allclose(scaled.predict(rows), net.predict(rows), rtol=1e-6)


@pytest.mark.slow  # an mpiexec job of two ranks: about 2 s
def test_every_rank_of_a_data_parallel_fit_records_the_same_shape_and_alerts_over_all_validation_rows(tmp_path):
    from mpi_ranks import ranks_lines

    first, second = ranks_lines("mpi_integrate_r42_worker.py", tmp_path)
    assert first == second
    shape, at_end, (rows, threads) = json.loads(first[0]), json.loads(first[1]), json.loads(first[2])
    assert shape == [4, 4] and at_end["last_epoch"] == 4
    assert rows == 40 and threads >= 1  # the validation rows of all ranks, as val_accuracy is scored on
