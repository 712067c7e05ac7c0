"""A tiny synthetic world whose right answer is obvious.

Two taste groups of 30 users and 8 items each. Every user engaged with 5 of their group's 8
items and nothing else, and follows 3 users of their own group. Item vectors say which group
an item is in. So for every user the 3 items to recommend first are the rest of their group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

GROUPS, USERS_PER_GROUP, ITEMS_PER_GROUP, SEEN = 2, 30, 8, 5


@dataclass
class World:
    interactions: sp.csr_matrix
    item_vectors: np.ndarray
    social: sp.csr_matrix
    user_group: np.ndarray
    item_group: np.ndarray

    @property
    def missing(self) -> int:
        """How many items of their own group each user has not seen yet."""
        return ITEMS_PER_GROUP - SEEN

    @property
    def side(self) -> dict:
        return {"item_vectors": self.item_vectors, "social": self.social}


def make_world(seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    n_users, n_items = GROUPS * USERS_PER_GROUP, GROUPS * ITEMS_PER_GROUP
    user_group = np.repeat(np.arange(GROUPS), USERS_PER_GROUP)
    item_group = np.repeat(np.arange(GROUPS), ITEMS_PER_GROUP)
    rows, cols, follow_rows, follow_cols = [], [], [], []
    for user in range(n_users):
        group_items = np.flatnonzero(item_group == user_group[user])
        seen = rng.choice(group_items, SEEN, replace=False)
        rows += [user] * SEEN
        cols += list(seen)
        peers = np.flatnonzero((user_group == user_group[user]) & (np.arange(n_users) != user))
        followed = rng.choice(peers, 3, replace=False)
        follow_rows += [user] * 3
        follow_cols += list(followed)
    interactions = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    social = sp.csr_matrix(
        (np.ones(len(follow_rows), np.float32), (follow_rows, follow_cols)), shape=(n_users, n_users)
    )
    vectors = np.eye(GROUPS, dtype=np.float32)[item_group] + 0.05 * rng.standard_normal((n_items, GROUPS))
    vectors = np.hstack([vectors, 0.05 * rng.standard_normal((n_items, 3))]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return World(interactions, vectors, social, user_group, item_group)


@pytest.fixture(scope="session")
def world() -> World:
    return make_world()
