"""``PopularityRecommender``: the same list for everyone, most engaged-with items first.

An item nobody has engaged with yet scores 0, or, with ``cold_neighbours`` > 0 and
``item_vectors`` given to ``fit``, the mean count of its most text-similar items that have
engagement: a popularity guess for brand-new items.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from townsquare.recommenders.base import Recommender


class PopularityRecommender(Recommender):
    """Scores an item by how many users engaged with it in training."""

    name = "popularity"

    def __init__(self, cold_neighbours: int = 0) -> None:
        super().__init__()
        self.cold_neighbours = cold_neighbours
        self.counts = np.zeros(0, dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {"cold_neighbours": self.cold_neighbours}

    def _fit(
        self, interactions: sp.csr_matrix, *, item_vectors: np.ndarray | None = None, **side: Any
    ) -> None:
        counts = np.bincount(interactions.indices, minlength=interactions.shape[1]).astype(np.float32)
        if self.cold_neighbours > 0 and item_vectors is not None:
            counts = _with_cold_guesses(
                counts, np.asarray(item_vectors, dtype=np.float32), self.cold_neighbours
            )
        self.counts = counts

    def _score(self, user_rows: np.ndarray, user_items: sp.csr_matrix, fresh: bool) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(user_rows), len(self.counts))).copy()

    def state(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.counts = arrays["counts"]


def _with_cold_guesses(counts: np.ndarray, vectors: np.ndarray, k: int, batch: int = 2048) -> np.ndarray:
    """Zero counts replaced by the mean count of the ``k`` most similar items that have a count."""
    warm, cold = np.flatnonzero(counts > 0), np.flatnonzero(counts == 0)
    out = counts.copy()
    if len(warm) == 0 or len(cold) == 0:
        return out
    kk = min(k, len(warm))
    for start in range(0, len(cold), batch):
        rows = cold[start : start + batch]
        sims = vectors[rows] @ vectors[warm].T
        nearest = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        out[rows] = counts[warm][nearest].mean(axis=1)
    return out
