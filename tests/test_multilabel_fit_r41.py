"""A network fitted by ``dp.fit`` with binary cross-entropy on multi-hot target rows (several
independent 0/1 labels a row, or none) is a multi-label classifier: its predictions are each
row's labels, not the argmax, and its model file says so."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.serialization import load_checkpoint, read_model

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 4)).astype(np.float32)
Y = (X[:, :3] > 0).astype(np.float32)  # three independent labels: rows of none, one, two or three 1s


def _fitted(y=Y, net=None, epochs=30, **kw):
    net = net or dp.mlp([4, 6, y.shape[1] if np.ndim(y) == 2 else 3], activation="tanh", output="sigmoid", seed=0)
    dp.fit(net, X, y, loss=kw.pop("loss", dp.BinaryCrossEntropy()), optimizer=dp.SGD(lr=0.5), epochs=epochs,
           batch_size=20, seed=0, diagnostics=False, **kw)
    return net


@pytest.fixture(scope="module")
def net():
    return _fitted()


def test_predict_gives_each_rows_labels_not_the_argmax(net):
    """predict gave one class id a row (the argmax): a row's other labels were lost, and a
    row with no label got one."""
    labels = net.predict(X)
    assert labels.shape == Y.shape and labels.dtype == np.int64 and net.multilabel
    np.testing.assert_array_equal(labels, (net.predict_proba(X) >= 0.5).astype(np.int64))
    assert (labels.sum(axis=1) == 0).any() and (labels.sum(axis=1) >= 2).any()  # rows of none and of several
    assert np.mean(labels == Y) > 0.85  # it learned the labels, label by label


def test_a_threshold_is_compared_with_every_label(net):
    """A threshold for several outputs was refused (the argmax would ignore it); each label
    of a multi-label classifier is decided by it."""
    np.testing.assert_array_equal(net.predict(X, threshold=0.8), (net.predict_proba(X) >= 0.8).astype(np.int64))


def test_one_hot_rows_stay_one_class_a_row_while_multi_hot_rows_are_labels():
    """One sigmoid a class (one-vs-rest one-hot rows, or class ids) and fractional targets
    keep the argmax; only 0/1 rows not all one-hot make a multi-label classifier (of logits too)."""
    assert _fitted(Y, epochs=2).predict(X).shape == Y.shape
    one_hot = np.eye(3, dtype=np.float32)[np.argmax(X[:, :3], axis=1)]
    for y in (one_hot, np.argmax(X[:, :3], axis=1), 0.1 + 0.8 * Y):
        kept = _fitted(y, epochs=2)
        assert not kept.multilabel and kept.predict(X).shape == (len(X),)
    logits = dp.Network([dp.Dense(4, 3)], seed=0)
    _fitted(Y, net=logits, epochs=2, loss=dp.BinaryCrossEntropy(from_logits=True))
    assert logits.multilabel  # labels of logits, z ≥ 0


def test_a_second_fit_on_one_hot_rows_is_one_class_a_row_again(net):
    """fit decides from its own targets, as it does for a regressor's values."""
    again = net.copy()
    assert again.predict(X).shape == Y.shape and again.multilabel  # copy keeps it
    _fitted(np.eye(3, dtype=np.float32)[np.argmax(X[:, :3], axis=1)], net=again, epochs=1)
    assert not again.multilabel and again.predict(X).shape == (len(X),)


def test_save_records_it_and_load_restores_it(net, tmp_path):
    """save wrote no multi-label record: the file's outputs were argmax 'scores', and the
    loaded network predicted one class a row."""
    mf = read_model(dp.save(net, tmp_path / "m.safetensors", extra={"dataset": "mine"}))
    assert mf.outputs == "labels" and mf.extra == {"dataset": "mine", "multilabel": True}
    assert mf.net.multilabel and not mf.net.gives_values
    np.testing.assert_array_equal(mf.net.predict(X), net.predict(X))
    assert dp.load(tmp_path / "m.safetensors").predict(X).shape == Y.shape


def test_save_refuses_an_extra_that_says_it_is_not_multilabel(net, tmp_path):
    with pytest.raises(dp.ConfigError, match=r"extra\['multilabel'\] is False.*net.multilabel = False"):
        dp.save(net, tmp_path / "m.safetensors", extra={"multilabel": False})


def test_a_checkpoint_and_its_resume_keep_it(tmp_path):
    writer = dp.CheckpointWriter(tmp_path / "run", interval=0)
    _fitted(epochs=2, callbacks=[writer])
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert ck.outputs == "labels" and ck.net.multilabel
    state = ck.training_state()
    dp.fit(state.net, X, Y, loss=dp.BinaryCrossEntropy(), optimizer=state.optimizer, epochs=4, batch_size=20,
           seed=0, resume=state, diagnostics=False)
    assert state.net.multilabel and state.net.predict(X).shape == Y.shape


def test_evaluate_gives_no_argmax_accuracy_but_its_own_loss(net):
    """Validation or test rows that happen to be one-hot were scored by the argmax, an
    accuracy of one class a row the model does not predict; with no loss, evaluate gave none."""
    one_hot = np.eye(3, dtype=np.float32)[np.argmax(X[:, :3], axis=1)]
    scores = dp.evaluate(net, X, one_hot)
    assert scores["accuracy"] is None
    assert scores["loss"] == pytest.approx(dp.BinaryCrossEntropy().value(net.predict_proba(X), one_hot), rel=1e-6)
    assert dp.evaluate(net, X, Y)["loss"] == pytest.approx(dp.BinaryCrossEntropy().value(net.predict_proba(X), Y),
                                                           rel=1e-6)


def test_validation_rows_that_are_one_hot_give_no_accuracy(net):
    history = dp.fit(net.copy(), X, Y, loss=dp.BinaryCrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1,
                     batch_size=20, seed=0, diagnostics=False,
                     validation=(X, np.eye(3, dtype=np.float32)[np.argmax(X[:, :3], axis=1)]))
    assert history["val_accuracy"] == [None] and history["accuracy"] == [None]


@pytest.mark.slow  # the CLI in process, and an ONNX export checked by onnxruntime
def test_the_cli_and_the_export_take_the_saved_file_for_a_multi_label_model(net, tmp_path):
    """deltaprop predict printed one class a row and the ONNX label was the argmax."""
    from cli_in_process import run_cli

    model = dp.save(net, tmp_path / "m.safetensors")
    np.save(tmp_path / "rows.npy", X[:4])
    res = run_cli("predict", model, tmp_path / "rows.npy")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 4 and all(": labels " in line for line in lines)
    assert "outputs: labels" in run_cli("info", model).stdout
    res = run_cli("evaluate", model, "--dataset", tmp_path / "rows.npy")
    assert res.returncode != 0 and "is a multi-label classifier" in res.stderr and "predict(X)" in res.stderr
    onnx = pytest.importorskip("onnx")
    graph = onnx.load(str(dp.export_onnx(net, tmp_path / "m.onnx"))).graph
    label = next(o for o in graph.output if o.name == "label")
    assert len(label.type.tensor_type.shape.dim) == 2  # (batch, 3): a 0/1 a label
