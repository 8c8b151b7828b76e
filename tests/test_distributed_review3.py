"""Data-parallel training refusing what cannot be shared among its processes with a fix
that works."""

from __future__ import annotations

import pytest

import deltaprop as dp
from deltaprop.distributed import check_shares


@pytest.mark.parametrize("batch_size, batching", [(20, "shuffled"), (2, "shuffled"), (20, "sliding"), (None, "shuffled")])
def test_fewer_training_rows_than_processes_is_told_as_such_not_as_a_batch_size_to_raise(batch_size, batching):
    # 3 rows on 4 processes with --batch-size 20 said "use a batch size of at least 4": no
    # batch size can help, every batch holds at most the 3 rows.
    with pytest.raises(dp.ConfigError) as raised:
        check_shares(3, batch_size, 4, batching=batching)
    text = str(raised.value)
    assert "3 rows of training data cannot be shared among 4 processes" in text
    assert "train on at least 4 rows, or on at most 3 processes" in text and "batch size of at least" not in text


def test_a_batch_size_that_can_fix_it_is_still_named():
    with pytest.raises(dp.ConfigError, match="a global batch of 3 rows .* use a batch size of at least 4"):
        check_shares(10, 3, 4)
    check_shares(4, 20, 4)  # one row each
