"""``fit(resume=state)`` continues the state's run on its own training rows: a resume on
another X, another y or another number of rows is refused (the state keeps a fingerprint
of its rows: their counts and digests of every y and of rows of X spread over it,
checkpoints too), not silently trained with the old rows' shuffled order and place in the
epoch. A state written before it kept one resumes as before; ``partial_fit`` goes on with
each call's own rows. ``train --resume`` on a data file that changed says in one line how
to train the model further on the new rows."""

from __future__ import annotations

import numpy as np
import pytest
from cli_in_process import run_cli
from test_leftovers_r36 import _one_line_error

import deltaprop as dp
from deltaprop.serialization import load_checkpoint

rng = np.random.default_rng(11)
X = rng.normal(size=(96, 6)).astype(np.float32)
y = X[:, :3].argmax(1).astype(np.int64)
FIX = (r"Pass the X and y the run trained with; to train the network further on this data, start a new run from "
       r"its weights: fit without resume= .*deltaprop.load\(path\).*warm_start=True or partial_fit")


def _net(dtype="float32"):
    return dp.Network([dp.Dense(6, 8), dp.Tanh(), dp.Dense(8, 3), dp.Softmax()], seed=3, dtype=dtype)


def _fit(net, opt, steps, rows=X, labels=y, **kwargs):
    return dp.fit(net, rows, labels, loss=dp.CrossEntropy(), optimizer=opt, steps=steps, batch_size=16, seed=5,
                  threads=1, diagnostics=False, **kwargs)


def data_fingerprint(net, rows, targets):
    from deltaprop.training import data_fingerprint

    return data_fingerprint(net, rows, targets)


def _stopped(tmp_path, steps=9):
    """A checkpoint after ``steps`` steps (96 rows in batches of 16, 6 an epoch: 9 is 3 batches into epoch 2)."""
    _fit(_net(), dp.SGD(lr=0.1, momentum=0.9), steps, callbacks=[dp.CheckpointWriter(tmp_path, interval=0)])
    return load_checkpoint(tmp_path / "checkpoint.safetensors")


def _resume(cp, rows=X, labels=y, state=None):
    return _fit(cp.net, cp.optimizer, 14, rows, labels, resume=state or cp.training_state())


def test_a_mid_epoch_resume_on_other_x_is_refused_and_leaves_the_state_as_it_was(tmp_path):
    cp = _stopped(tmp_path)
    state = cp.training_state()
    other = X.copy()
    other[40, 2] += 0.5  # one value of one row
    with pytest.raises(dp.ConfigError, match=r"resume= continues the run on its training data, but this call's X "
                                             r"differs from the run's in the 96 of its 96 rows compared: the rest of "
                                             r"the run would train on other rows .*" + FIX):
        _resume(cp, other, state=state)
    assert _resume(cp, state=state).records[-1]["steps"] == 14  # refused before anything changed


def test_a_resume_on_other_labels_is_refused(tmp_path):
    cp = _stopped(tmp_path)
    labels = y.copy()
    labels[[3, 50]] = labels[[50, 3]] if labels[3] != labels[50] else (labels[[3, 50]] + 1) % 3
    with pytest.raises(dp.ConfigError, match=r"but this call's y \(labels or targets\) differs from the run's: "):
        _resume(cp, X, labels)


@pytest.mark.parametrize("steps", [9, 6])  # mid-epoch, and at the end of epoch 1
def test_a_resume_on_another_number_of_rows_is_refused(tmp_path, steps):
    cp = _stopped(tmp_path, steps)
    with pytest.raises(dp.ConfigError, match=r"but this call's X and y have 80 rows where the run's had 96: "):
        _resume(cp, X[:80], y[:80])


def test_a_resume_on_the_same_rows_is_the_uninterrupted_run_and_keeps_their_fingerprint(tmp_path):
    cp = _stopped(tmp_path)
    kept = cp.training_state().training_data
    assert kept == data_fingerprint(_net(), X, np.eye(3, dtype=np.float32)[y])
    assert kept["rows"] == 96 and kept["features"] == 6 and all(len(kept[k]) == 32 for k in ("X", "y"))
    # the same values in another container and dtype: the same rows to the network
    resumed = _resume(cp, X.astype(np.float64), y.tolist())
    net = _net()
    whole = _fit(net, dp.SGD(lr=0.1, momentum=0.9), 14)
    assert [r["loss"] for r in resumed.records] == [r["loss"] for r in whole.records]
    for a, b in zip(cp.net.parameters(), net.parameters()):
        assert np.array_equal(a.value, b.value)


def test_the_fingerprint_is_the_same_in_float32_and_float64_and_for_rows_on_disk(tmp_path):
    Y = np.eye(3)[y]
    np.save(tmp_path / "x.npy", X)
    mapped = dp.data.open_mapped(tmp_path / "x.npy")
    assert data_fingerprint(_net("float32"), X, Y) == data_fingerprint(_net("float64"), X.astype(np.float64), Y)
    assert data_fingerprint(_net(), mapped, Y) == data_fingerprint(_net(), X, Y)


def test_a_sparse_matrix_gives_the_fingerprint_of_its_dense_rows_without_densifying_them_all(monkeypatch):
    sparse = pytest.importorskip("scipy.sparse")
    from deltaprop import _checks
    from deltaprop.data.streaming import SparseRows

    dense = X * (np.abs(X) > 1)  # mostly zeros
    rows = _checks.lazy_features(sparse.csc_matrix(dense), 6)  # as fit takes a sparse X: lazy rows
    monkeypatch.setattr(SparseRows, "__getitem__", None)  # read from its matrix, not densified through them
    assert data_fingerprint(_net(), rows, np.eye(3)[y]) == data_fingerprint(_net("float64"), dense, np.eye(3)[y])


def test_large_data_is_compared_in_rows_spread_over_it_every_label_compared():
    big = np.random.default_rng(0).normal(size=(3000, 6))
    labels = np.eye(3)[np.arange(3000) % 3]
    net, first = _net("float64"), data_fingerprint(_net("float64"), big, labels)
    changed = big.copy()
    changed[2999] += 1  # the last row is one of those compared
    assert data_fingerprint(net, changed, labels)["X"] != first["X"]
    changed = big.copy()
    changed[1] += 1  # row 1 is not: the documented limit
    assert data_fingerprint(net, changed, labels) == first
    assert data_fingerprint(net, big, labels[::-1].copy())["y"] != first["y"]


def test_a_state_written_before_it_kept_its_rows_resumes_as_before(tmp_path):
    cp = _stopped(tmp_path)
    data = cp.training_state().to_dict()
    del data["training_data"]  # as a checkpoint written before the fingerprint was kept
    state = dp.TrainingState.from_dict(data, net=cp.net, optimizer=cp.optimizer)
    assert state.training_data is None
    assert _resume(cp, X * 2, y, state=state).records[-1]["steps"] == 14  # not checked: the state cannot tell
    assert state.training_data == data_fingerprint(cp.net, X * 2, np.eye(3)[y])  # known from now on


@pytest.mark.parametrize("bad", ["abc", {"rows": 96}, {"rows": 0, "features": 6, "y": "0" * 32, "X": "0" * 32},
                                 {"rows": 96, "features": 6, "y": "z" * 32, "X": "0" * 32}])
def test_a_malformed_fingerprint_is_refused_on_load(tmp_path, bad):
    cp = _stopped(tmp_path)
    data = cp.training_state().to_dict()
    data["training_data"] = bad
    with pytest.raises(dp.StateError, match="training_data"):
        dp.TrainingState.from_dict(data, net=cp.net, optimizer=cp.optimizer)


@pytest.mark.slow
def test_partial_fit_and_warm_start_go_on_with_each_calls_own_rows():
    pytest.importorskip("sklearn")
    from deltaprop.sklearn import NeuralNetClassifier

    clf = NeuralNetClassifier(hidden_layer_sizes=(8,), random_state=0, batch_size=16)
    clf.partial_fit(X[:48], y[:48], classes=[0, 1, 2])
    clf.partial_fit(X[48:], y[48:])  # other rows: scikit-learn's contract
    clf.partial_fit(X[48:90], y[48:90])
    assert clf._state.step == 9 and clf._state.training_data["rows"] == 42  # the last call's rows
    warm = NeuralNetClassifier(hidden_layer_sizes=(8,), random_state=0, batch_size=16, max_iter=2, warm_start=True)
    with pytest.warns(Warning):  # max_iter reached
        warm.fit(X[:48], y[:48]).fit(X[48:], y[48:])
    assert warm.n_iter_ == 2


@pytest.mark.slow
def test_train_resume_on_a_changed_data_file_says_how_to_train_the_model_on_it(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=X, y=y)
    out = tmp_path / "run"
    res = run_cli("train", "--dataset", path, "--layers", "6,8,3", "--epochs", "4", "--steps", "5", "--batch-size",
                  "16", "--out", out, "-q")
    assert res.returncode == 0, res.stderr
    np.savez(path, x=X[::-1], y=y[::-1])  # other rows in the run's file
    line = _one_line_error(run_cli("train", "--resume", out, "--steps", "12"))
    assert f"{path} has changed since the model was trained on it" in line
    assert (f"to train on this one, start a new run: deltaprop train --config {out / 'config.toml'} --out NEW_FOLDER "
            f"(fresh weights), or train this run's model further in Python: net = "
            f"deltaprop.load({str(out / 'checkpoint.safetensors')!r}); x, y = deltaprop.data.load_arrays("
            f"{str(path)!r}); deltaprop.fit(net, x, y, ...)") in line


@pytest.mark.slow
def test_over_mpi_every_rank_makes_the_same_fingerprint_and_refuses_alike(tmp_path):
    from mpi_ranks import ranks_lines

    ranks = ranks_lines('mpi_resume_data_r39_worker.py', tmp_path)
    assert ranks[0] == ranks[1]  # every rank holds the whole X and y: the same fingerprint, the same verdict
    other_x, other_y, same = ranks[0]
    assert "X: resume= continues the run on its training data, but this call's X differs" in other_x
    assert "y: resume= continues the run on its training data, but this call's y" in other_y
    assert same == "same: ok 14"
    # the two-process checkpoint (float64) resumes on one process on its rows, and refuses others
    cp = load_checkpoint(tmp_path / "checkpoint.safetensors")
    rows = np.random.default_rng(11).normal(size=(96, 6))
    labels = rows[:, :3].argmax(1)
    with pytest.raises(dp.ConfigError, match="this call's X differs"):
        _fit(cp.net, cp.optimizer, 14, rows + 1, labels, resume=cp.training_state())
    assert _fit(cp.net, cp.optimizer, 14, rows, labels, resume=cp.training_state()).records[-1]["steps"] == 14


@pytest.mark.slow
def test_the_python_lines_for_a_changed_csv_file_read_its_labels_from_the_runs_label_column(tmp_path):
    """The fix's load_arrays call left out the run's --label-column: the labels of a file whose
    label column is not the last would have been read from the wrong column."""
    path = tmp_path / "d.csv"

    def write(rows, labels):
        lines = ["kind," + ",".join(f"f{j}" for j in range(X.shape[1]))]
        lines += [f"{c}," + ",".join(f"{v:.6f}" for v in row) for row, c in zip(rows, labels)]
        path.write_text("\n".join(lines) + "\n")

    write(X, y)
    out = tmp_path / "run"
    res = run_cli("train", "--dataset", path, "--label-column", "kind", "--layers", "6,8,3", "--epochs", "4",
                  "--steps", "5", "--batch-size", "16", "--out", out, "-q")
    assert res.returncode == 0, res.stderr
    write(X[::-1], y[::-1])
    line = _one_line_error(run_cli("train", "--resume", out, "--steps", "12"))
    assert f"deltaprop.data.load_arrays({str(path)!r}, label_column='kind')" in line
