"""Protocol splits: sizes per user, no overlap, nothing lost, same seed same split."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from townsquare.errors import NotFoundError
from townsquare.evaluation.protocols import (
    cold_item_split,
    protocol_splits,
    recbole_counts,
    stratified_counts,
)


def random_matrix(users: int = 40, items: int = 60, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.random((users, items)) < 0.3
    dense[:, 0] = True  # every user has at least one item
    return sp.csr_matrix(dense.astype(np.float32) * 3.0)  # values other than 1: splits are binary anyway


def per_user(matrix: sp.csr_matrix) -> np.ndarray:
    return np.diff(matrix.indptr)


def test_recbole_sizes_follow_recbole():
    counts = recbole_counts()
    assert counts(50) == [40, 5, 5]
    assert counts(10) == [8, 1, 1]
    assert counts(5) == [3, 1, 1]  # 0.1 * 5 rounds down to 0: one item each while train keeps more than one
    assert counts(2) == [1, 0, 1]


def test_msr_sizes_round_the_train_share():
    assert stratified_counts(0.75)(20) == [15, 5]
    assert stratified_counts(0.75)(3) == [2, 1]


@pytest.mark.parametrize("protocol", ["msr", "recbole"])
def test_splits_partition_each_users_items(protocol):
    values = random_matrix()
    splits = protocol_splits(protocol, values, seed=1)
    final, tune = splits.final, splits.tune
    seen = final.exclude
    assert (seen.multiply(final.test)).nnz == 0
    assert ((seen + final.test) != (values > 0)).nnz == 0
    assert (tune.train.multiply(tune.test)).nnz == 0
    assert (tune.train + tune.test).multiply(final.test).nnz == 0  # tuning never sees test
    assert set(np.unique(final.train.data)) == {1.0}


def test_msr_test_is_a_quarter_of_each_user():
    values = random_matrix()
    final = protocol_splits("msr", values, seed=0).final
    expected = [stratified_counts(0.75)(n)[1] for n in per_user(values)]
    assert per_user(final.test).tolist() == expected


def test_recbole_refit_chooses_what_the_final_model_sees():
    values = random_matrix()
    with_valid = protocol_splits("recbole", values, seed=0, refit=True)
    train_only = protocol_splits("recbole", values, seed=0, refit=False)
    assert (with_valid.final.train != with_valid.final.exclude).nnz == 0
    assert train_only.final.train.nnz < with_valid.final.train.nnz
    assert (train_only.final.exclude != with_valid.final.exclude).nnz == 0


def test_same_seed_same_split_other_seed_other_split():
    values = random_matrix()
    a, b, c = (protocol_splits("msr", values, seed=s).final.test for s in (3, 3, 4))
    assert (a != b).nnz == 0 and (a != c).nnz > 0


def test_cold_items_are_never_trained_on_and_are_the_only_candidates():
    values = random_matrix()
    final = protocol_splits("msr", values, seed=0).final
    cold = cold_item_split(values, final.train, seed=0, share=0.2)
    assert len(cold.candidates) == 12
    assert np.asarray(cold.train[:, cold.candidates].sum()) == 0
    assert set(np.unique(cold.test.indices)) <= set(cold.candidates)
    assert cold.test.nnz == (values[:, cold.candidates] > 0).sum()


def test_unknown_protocol_lists_the_known_ones():
    with pytest.raises(NotFoundError, match="msr"):
        protocol_splits("leave-one-out", random_matrix(), seed=0)
