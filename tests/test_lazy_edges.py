"""Lazy data at its edges: copies of a mapped file, rows named by their number in the
file whatever view reads them, seeds as NumPy takes them, a .npy file that is broken,
and the advice given for a sparse X."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import _checks
from deltaprop.data import RowView, iter_batches, open_mapped
from deltaprop.distributed import ShardedBatches, _LazyRows
from deltaprop.preprocessing import split_input_layer, with_input_layer
from deltaprop.training import batch_source


def test_a_copy_of_a_mapped_file_reads_after_the_original_is_gone(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    mapped = open_mapped(tmp_path / "x.npy")
    twin = copy.deepcopy(mapped)
    del mapped  # the copy held the original's file descriptor number: Bad file descriptor
    np.testing.assert_array_equal(twin[np.arange(4)], x)
    np.save(tmp_path / "x.npy", x[:2])
    with pytest.raises(dp.DataError, match="changed during training"):
        twin[np.arange(2)]


def test_a_bad_row_seen_through_a_view_is_named_by_its_number_in_the_file(tmp_path):
    x = np.ones((10, 3))
    x[7, 1] = np.nan
    view = RowView(x, np.arange(4, 10))  # rows 4..9 of the file
    with pytest.raises(dp.DataError, match=r"first in row 7\)"):
        _checks.feature_rows(view, np.arange(6), 3, np.float32, name="X_val")
    share = _LazyRows(view, 2, 6)  # one process's share of the view: its rows 2..5, the file's 6..9
    with pytest.raises(dp.DataError, match=r"X_val contains NaN or infinity \(first in row 7\)"):
        _checks.feature_rows(share, np.arange(4), 3, np.float32, name="X_val")


def test_a_process_share_of_a_lazy_batch_is_checked_as_in_memory():
    import scipy.sparse

    x = np.zeros((16, 3))
    x[5, 0] = 1e40  # no NaN: too large for float32 (it said NaN or infinity, naming no row)
    net = dp.mlp([3, 2], seed=0)
    inner = batch_source(net, _checks.lazy_features(scipy.sparse.csr_matrix(x), 3), np.zeros((16, 2)), None, None,
                         16, shuffle=False)
    inner.start_epoch(np.random.default_rng(0))
    with pytest.raises(dp.DataError, match=r"too large for float32 \(first in row 5\)"):
        ShardedBatches(inner, 0, 2).batch(0)


def test_removing_or_adding_an_input_layer_keeps_the_decision_threshold():
    net = dp.mlp([3, 4, 1], output="identity", seed=0)
    net.decision_threshold = 0.0  # a single logit, as fit sets it
    scaled = with_input_layer(net, dp.Rescaling(1 / 255))
    assert scaled.decision_threshold == 0.0  # 0.5: evaluate and predict read the logit as a probability
    rest, _ = split_input_layer(scaled)
    assert rest.decision_threshold == 0.0


@pytest.mark.parametrize("seed", [[7, 1], np.random.PCG64(7), np.random.SeedSequence(7), np.array([3, 4])])
def test_every_seed_numpy_takes_is_a_seed(seed):
    dp.mlp([2, 3, 2], seed=seed)  # [seed, rank] was refused as no whole number


@pytest.mark.parametrize("seed", [-1, 1.5, [1, -2], "a", [[1, 2]]])
def test_iter_batches_refuses_a_bad_seed_in_one_typed_error(seed):
    with pytest.raises(dp.ConfigError, match="seed must be a whole number >= 0"):
        next(iter_batches(np.zeros((4, 2)), np.zeros(4), 2, seed=seed, epoch=1))


def test_iter_batches_draws_another_order_each_epoch_from_a_seed_sequence():
    orders = [np.concatenate([y for _, y in iter_batches(np.zeros((64, 1)), np.arange(64), 8,
                                                         seed=np.random.SeedSequence(3), epoch=e)]) for e in (0, 1, 1)]
    assert not np.array_equal(orders[0], orders[1]) and np.array_equal(orders[1], orders[2])


@pytest.mark.parametrize("content, said", [(b"", "is empty"), (b"\x93NUM", "not a valid .npy array"),
                                           (b"hello world", "not a valid .npy array")])
def test_a_broken_npy_file_gets_the_npy_message(tmp_path, content, said):
    (tmp_path / "x.npy").write_bytes(content)
    with pytest.raises(dp.FileFormatError, match=said):  # it was read as an IDX file
        open_mapped(tmp_path / "x.npy")


def test_sliding_batches_over_a_sparse_x_say_how_to_make_it_dense():
    import scipy.sparse

    net = dp.mlp([3, 2], seed=0)
    with pytest.raises(dp.ConfigError, match=r"load it with X\.toarray\(\)"):
        dp.fit(net, scipy.sparse.csr_matrix(np.eye(3)), [0, 1, 0], loss=dp.CrossEntropy(), optimizer=dp.SGD(0.1),
               epochs=1, batch_size=2, batching="sliding")


def test_a_file_replaced_under_its_name_leaves_the_mapped_rows_readable(tmp_path):
    # under mpiexec each rank may refresh the cached copy of a dataset by an atomic replace
    # while another has it mapped: the mapped file is intact, so reading on is no error
    import os

    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    mapped = open_mapped(tmp_path / "x.npy")
    np.save(tmp_path / "new.npy", x + 1)
    os.replace(tmp_path / "new.npy", tmp_path / "x.npy")
    np.testing.assert_array_equal(mapped[np.arange(4)], x)
