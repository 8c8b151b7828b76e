"""Data-parallel training: a rank that fails, and what the ranks sum, as a user scaling out meets them."""

import numpy as np
import pytest

import deltaprop as dp


class _Rank:
    """Rank ``rank`` of ``size`` processes whose collectives copy this rank's part into every
    slot (the other ranks agree); each ``Allgather`` input is kept."""

    def __init__(self, rank: int = 1, size: int = 2):
        self.rank, self.size, self.gathered = rank, size, []

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Allgather(self, mine, table):
        self.gathered.append(np.array(mine, copy=True))
        table[...] = mine


class _Unreadable:
    """A lazy array (``shape``, ``len``, ``X[rows]``) whose rows cannot be read on this process."""

    def __init__(self, a):
        self.a, self.shape = a, a.shape

    def __len__(self):
        return len(self.a)

    def __getitem__(self, rows):
        raise OSError("the node's copy of the data is missing")


def test_a_rank_that_cannot_read_its_data_for_the_agreement_tells_the_others_before_raising():
    # The fingerprint read some rows of a lazy X; an error there on one rank left the other
    # ranks waiting in the agreement's Allgather for ever (mpiexec hung, no message).
    X = np.random.default_rng(0).normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    comm = _Rank()
    with pytest.raises(OSError, match="node's copy"):
        dp.fit(dp.mlp([4, 8, 2], seed=0), _Unreadable(X), y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
               epochs=1, batch_size=10, seed=0, comm=comm, diagnostics=False)
    assert len(comm.gathered) == 1 and not comm.gathered[0].any()  # "not ready": the others raise ConfigError
