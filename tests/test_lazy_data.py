"""Lazy X (a memory-mapped file, a sparse matrix) trains, evaluates and predicts as the
same rows in memory do: same scaling, same checks and messages, same batches."""

from __future__ import annotations

import os

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data import open_mapped, write_idx
from deltaprop.preprocessing import unit_scaling


def _pixels(n=60, width=6, top=255, seed=0):
    return np.random.default_rng(seed).integers(0, top + 1, (n, width))


# -- scale="unit" means what the CLI's unit scaling means -----------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64, np.uint16, np.uint32])
def test_unit_scaling_divides_8_bit_levels_by_255_in_any_integer_type(tmp_path, dtype):
    x = _pixels().astype(dtype)
    np.save(tmp_path / "x.npy", x)
    rows = open_mapped(tmp_path / "x.npy", scale="unit")[np.arange(60)]
    assert rows.max() == pytest.approx(1.0) and rows.min() == 0
    cli = dp.Network([unit_scaling(x), dp.Dense(6, 2)], seed=0).layers[0]
    np.testing.assert_array_equal(rows, cli.forward(x.astype(np.float32)))  # the CLI's layer, bit for bit


def test_unit_scaling_divides_16_bit_levels_by_65535(tmp_path):
    x = _pixels(top=4000).astype(np.int32)
    path = write_idx(tmp_path / "x-idx2", x)
    rows = open_mapped(path, scale="unit")[np.arange(60)]
    np.testing.assert_allclose(rows, x / 65535, rtol=1e-6)
    assert unit_scaling(x).scale == pytest.approx(1 / 65535)


@pytest.mark.parametrize("values, said", [
    (_pixels().astype(np.float64), "float64 values"),
    (_pixels().astype(np.float32) / 255, "float32 values"),
    (_pixels().astype(np.int64) - 3, "values from -3"),
    (np.array([[0, 70000], [5, 9]]), "values from 0 to 70000"),
])
def test_unit_scaling_refuses_what_the_cli_refuses(tmp_path, values, said):
    np.save(tmp_path / "x.npy", values)
    with pytest.raises(dp.ConfigError, match="scaling 'unit'"):
        unit_scaling(values)
    with pytest.raises(dp.ConfigError, match=f"x.npy: scale='unit' .* holds {said}.*scale=None"):
        open_mapped(tmp_path / "x.npy", scale="unit")


def test_unit_scaling_reads_a_file_bigger_than_one_scan_chunk(tmp_path, monkeypatch):
    from deltaprop.data import streaming

    monkeypatch.setattr(streaming, "SCAN_BYTES", 64)  # 10 rows of 6 int64 values a chunk
    x = _pixels(top=200).astype(np.int64)
    x[57, 2] = 300  # 16-bit levels, seen only in the last chunk
    np.save(tmp_path / "x.npy", x)
    assert open_mapped(tmp_path / "x.npy", scale="unit")[57][2] == pytest.approx(300 / 65535)


# -- the file: found by its bytes, watched while open ---------------------------------------------
@pytest.mark.parametrize("name", ["X.NPY", "x.dat", "features"])
def test_a_npy_file_is_known_by_its_bytes_not_its_name(tmp_path, name):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    os.replace(tmp_path / "x.npy", tmp_path / name)
    np.testing.assert_array_equal(open_mapped(tmp_path / name)[np.arange(4)], x)
    idx = write_idx(tmp_path / "rows.npy", x)  # an IDX file named .npy is read as IDX
    np.testing.assert_array_equal(open_mapped(idx)[np.arange(4)], x)


def test_a_file_shrunk_while_open_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((100_000, 10), np.float32))
    arr = open_mapped(path)
    assert arr[np.array([99_999])].sum() == 10
    np.save(path, np.ones((10, 10), np.float32))  # the file rewritten, smaller, while mapped (SIGBUS before)
    with pytest.raises(dp.DataError, match=r"x\.npy changed during training.*4,000,128 bytes when opened and is 528"):
        arr[np.array([99_999])]
    with pytest.raises(dp.DataError, match="changed during training"):
        arr[0:1]


def test_a_row_view_of_a_mapped_file_shrunk_while_open_is_an_error_not_a_crash(tmp_path):
    from deltaprop.data import RowView, mapped_idx

    path = write_idx(tmp_path / "x-idx2", np.ones((100_000, 10), np.uint8))
    view = RowView(mapped_idx(path), np.arange(50_000, 100_000))  # what an MPI run of the CLI trains on
    assert view[np.array([49_999])].sum() == 10
    with open(path, "r+b") as f:  # cut short in place (a new file renamed over it leaves the mapped one whole)
        f.truncate(1000)
    with pytest.raises(dp.DataError, match=r"x-idx2 changed during training"):
        view[np.array([49_999])]
    assert RowView(np.ones((4, 2)), np.arange(4))[np.arange(2)].shape == (2, 2)  # in memory: nothing to watch


def test_a_file_rewritten_in_place_while_open_is_an_error(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((20, 3), np.float32))
    arr = open_mapped(path)
    np.save(path, np.ones((20, 3), np.float32))  # same size, other rows
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later write on a coarse clock
    with pytest.raises(dp.DataError, match="rewritten after it was opened"):
        arr[np.arange(3)]


# -- a MappedArray is a sequence of rows ------------------------------------------------------------
def test_a_row_out_of_range_is_an_index_error_so_the_sequence_protocol_works(tmp_path):
    x = np.arange(15, dtype=np.uint8).reshape(5, 3)
    np.save(tmp_path / "x.npy", x)
    arr = open_mapped(tmp_path / "x.npy")
    for index in (5, -6, np.array([0, 5])):
        with pytest.raises(dp.RowIndexError, match="out of range|must be in"):
            arr[index]
        with pytest.raises(IndexError):
            arr[index]
    assert issubclass(dp.RowIndexError, dp.ShapeError)
    np.testing.assert_array_equal(np.stack(list(arr)), x)
    np.testing.assert_array_equal(np.asarray(arr), x.astype(np.float32))
    assert np.asarray(arr, dtype=np.float64).dtype == np.float64


def test_a_float64_value_too_large_for_float32_is_named_not_made_infinite(tmp_path):
    x = np.random.default_rng(0).random((40, 4))
    x[23, 1] = 1e40
    np.save(tmp_path / "x.npy", x)
    arr = open_mapped(tmp_path / "x.npy")
    with pytest.raises(dp.DataError, match=r"too large for float32 \(first in row 23\).*dtype=np.float64"):
        arr[np.array([3, 23, 30])]
    assert arr[np.array([3, 30])].dtype == np.float32  # other rows read as before
    assert open_mapped(tmp_path / "x.npy", dtype=np.float64)[23][1] == 1e40


# -- lazy X is checked as X in memory is ------------------------------------------------------------
def _net(width=8, dropout=False):
    hidden = [dp.Dropout(0.5)] if dropout else []
    return dp.Network([dp.Dense(width, 6), dp.Tanh(), *hidden, dp.Dense(6, 3), dp.Softmax()], seed=0)


def _fit(X, y, dropout=False, **kw):
    net = _net(dropout=dropout)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, seed=7, diagnostics=False,
           threads=1, **{"batch_size": 32, **kw})
    return np.concatenate([p.value.ravel() for p in net.parameters()])


def _saved(tmp_path, x, name="x.npy"):
    np.save(tmp_path / name, x)
    return open_mapped(tmp_path / name)


def _message(f) -> tuple[type, str]:
    with pytest.raises(dp.Error) as info:
        f()
    return type(info.value), str(info.value)


def test_mapped_and_in_memory_rows_train_to_the_same_weights_with_dropout(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((203, 8)).astype(np.float32)  # 203: a last, partial batch
    y = rng.integers(0, 3, 203)
    mapped = _saved(tmp_path, x)
    for dropout in (False, True):  # dropout's masks fall on a batch's rows by position
        np.testing.assert_array_equal(_fit(mapped, y, dropout), _fit(x, y, dropout))


@pytest.mark.parametrize("where", ["X", "X_val"])
def test_a_lazy_nan_row_is_refused_as_in_memory(tmp_path, where):
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 8)).astype(np.float32), rng.integers(0, 3, 100)
    bad = x.copy()
    bad[57, 2] = np.nan
    if where == "X":
        run = [lambda data: dp.evaluate(_net(), data, y, loss=dp.CrossEntropy()),
               lambda data: _net().predict(data), lambda data: _fit(data, y)]
    else:
        run = [lambda data: _fit(x, y, validation=(data, y))]
    for f in run:
        lazy = _message(lambda: f(_saved(tmp_path, bad)))
        assert lazy == _message(lambda: f(bad))
        assert lazy == (dp.DataError, f"{where} contains NaN or infinity (first in row 57); clean, impute or drop those rows")


def test_a_lazy_value_too_large_for_float32_is_refused_as_in_memory(tmp_path):
    from deltaprop.data import RowView

    x = np.random.default_rng(0).random((50, 8))
    x[31, 0] = -1e300
    y = np.zeros(50, int)
    lazy = RowView(x, np.arange(50))  # a lazy array of float64 rows, cast when checked
    for f in (lambda d: dp.evaluate(_net(), d, y), lambda d: _net().predict_proba(d), lambda d: _fit(d, y)):
        assert _message(lambda: f(lazy)) == _message(lambda: f(x))
        assert "too large for float32 (first in row 31)" in _message(lambda: f(lazy))[1]
    assert "x.npy holds values too large for float32 (first in row 31)" in _message(lambda: _fit(_saved(tmp_path, x), y))[1]


def test_a_lazy_validation_set_of_the_wrong_width_is_refused_before_training(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 8)).astype(np.float32), rng.integers(0, 3, 100)
    narrow = rng.random((20, 5)).astype(np.float32)
    net = _net()
    before = [p.value.copy() for p in net.parameters()]
    with pytest.raises(dp.ShapeError) as lazy:
        dp.fit(net, x, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=2, batch_size=32,
               validation=(_saved(tmp_path, narrow), y[:20]), diagnostics=False)
    assert all(np.array_equal(p.value, b) for p, b in zip(net.parameters(), before))  # not one step taken
    assert _message(lambda: _fit(x, y, validation=(narrow, y[:20]))) == (dp.ShapeError, str(lazy.value))
    assert str(lazy.value).startswith("X_val has 5 features but the network's first layer takes 8")
    assert _message(lambda: dp.evaluate(_net(), _saved(tmp_path, narrow), y[:20]))[1].startswith("X has 5 features")


def test_evaluate_and_predict_read_a_mapped_file_in_chunks_as_its_rows_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (300, 2, 4), dtype=np.uint8)
    y = rng.integers(0, 3, 300)
    np.save(tmp_path / "x.npy", x)
    net = _net()
    rows = unit_scaling(x).forward(x.reshape(300, -1).astype(np.float32))
    for flatten in (True, False):
        mapped = open_mapped(tmp_path / "x.npy", scale="unit", flatten=flatten)
        np.testing.assert_array_equal(net.predict_proba(mapped, batch_size=64), net.predict_proba(rows))
        np.testing.assert_array_equal(net.predict(mapped), net.predict(rows))
        assert dp.evaluate(net, mapped, y, loss=dp.CrossEntropy()) == dp.evaluate(net, rows, y, loss=dp.CrossEntropy())


def test_labels_in_a_mapped_file_train_as_the_same_labels_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 8)).astype(np.float32), rng.integers(0, 3, 100).astype(np.uint8)
    labels = open_mapped(write_idx(tmp_path / "y-idx1", y))
    assert labels.shape == (100,)  # a 1-D file stays 1-D
    np.testing.assert_array_equal(_fit(x, labels), _fit(x, y))


# -- a sparse X is densified a batch at a time ------------------------------------------------------
@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array", "coo_matrix", "csc_array"])
def test_a_sparse_x_trains_evaluates_and_predicts_as_its_dense_rows(kind):
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 8)).astype(np.float32), rng.integers(0, 3, 100)
    x[x < 0.6] = 0
    s = getattr(sparse, kind)(x)
    np.testing.assert_array_equal(_fit(s, y), _fit(x, y))
    np.testing.assert_array_equal(_net().predict_proba(s, batch_size=30), _net().predict_proba(x))
    assert dp.evaluate(_net(), s, y, loss=dp.CrossEntropy()) == dp.evaluate(_net(), x, y, loss=dp.CrossEntropy())
    np.testing.assert_array_equal(_fit(s, y, batch_size=None), _fit(x, y, batch_size=None))  # full batch: dense
    assert _message(lambda: _fit(getattr(sparse, kind)(x[:, :5]), y))[1].startswith("X has 5 features")
