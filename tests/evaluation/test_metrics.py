"""Metrics against examples worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from townsquare.evaluation.metrics import accuracy, exposure, gini, hit_matrix, intra_list_diversity, novelty


def relevant_matrix(sets: list[set[int]], n_items: int = 10) -> sp.csr_matrix:
    rows = [u for u, items in enumerate(sets) for _ in items]
    cols = [i for items in sets for i in sorted(items)]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), n_items))


RELEVANT = relevant_matrix([{1, 3, 5}, {0}, set(), {9}])
TOP = np.array([[3, 2, 1, 7, 8], [4, 5, 6, 0, 9], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]])


def test_hits_mark_relevant_positions_and_ignore_padding():
    top = TOP.copy()
    top[0, 4] = -1
    hits = hit_matrix(top, RELEVANT, np.arange(4))
    assert hits[0].tolist() == [True, False, True, False, False]
    assert hits[1].tolist() == [False, False, False, True, False]
    assert not hits[2:].any()


def test_accuracy_by_hand():
    got = accuracy(TOP, RELEVANT, np.arange(4), 5)  # user 2 has nothing to find: left out
    ndcg0 = 1.5 / (1 + 1 / math.log2(3) + 0.5)
    ndcg1 = (1 / math.log2(5)) / 1.0
    expected = {
        "precision@5": (0.4 + 0.2 + 0.0) / 3,
        "recall@5": (2 / 3 + 1.0 + 0.0) / 3,
        "ndcg@5": (ndcg0 + ndcg1) / 3,
        "map@5": ((1 + 2 / 3) / 3 + 0.25) / 3,
        "mrr@5": (1.0 + 0.25) / 3,
        "hit@5": 2 / 3,
    }
    assert got == pytest.approx(expected)


def test_cutoff_and_ideal_dcg_use_min_of_relevant_and_k():
    relevant = relevant_matrix([{0, 1, 2, 3}])
    got = accuracy(np.array([[0, 1, 9]]), relevant, np.array([0]), 2)
    assert got["ndcg@2"] == pytest.approx(1.0)
    assert got["map@2"] == pytest.approx(1.0)
    assert got["recall@2"] == pytest.approx(0.5)


def test_gini():
    assert gini(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)
    assert gini(np.array([0, 0])) == 0.0


def test_exposure_coverage_and_author_gini():
    top = np.array([[0, 1], [0, 2]])
    authors = np.array([0, 0, 1, 1])
    got = exposure(top, 4, authors, 2)
    assert got["coverage@2"] == pytest.approx(3 / 4)
    assert got["gini_items@2"] == pytest.approx(gini(np.array([2, 1, 1, 0])))
    assert got["gini_authors@2"] == pytest.approx(gini(np.array([3, 1])))


def test_intra_list_diversity():
    vectors = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    assert intra_list_diversity(np.array([[0, 1]]), vectors, 2) == pytest.approx(1.0)
    assert intra_list_diversity(np.array([[0, 2]]), vectors, 2) == pytest.approx(0.0)
    assert intra_list_diversity(np.array([[0, 1], [0, 2]]), vectors, 2) == pytest.approx(0.5)


def test_novelty_is_self_information_of_training_popularity():
    train = relevant_matrix([{0}, {0}, {0}, set()], n_items=2)  # item 0: 3 of 4 users, item 1: none
    assert novelty(np.array([[0]]), train, 1) == pytest.approx(-math.log2(4 / 5))
    assert novelty(np.array([[0, 1]]), train, 2) == pytest.approx((-math.log2(4 / 5) - math.log2(1 / 5)) / 2)
