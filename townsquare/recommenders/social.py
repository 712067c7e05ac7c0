"""``SocialRecommender``: what the people you follow engaged with.

``fit(interactions, social=S)`` with S users x users (S[u, f] > 0: u follows f). A user's score
for an item is the weighted share of their followees who engaged with it; a followee's weight
is ``(eps + cosine of the two histories) ** power`` (power 0: every followee counts the same),
so friends with similar taste count more.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from townsquare.errors import InputError
from townsquare.recommenders.base import Recommender, binarize


def history_cosine(x: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray, batch: int = 65536) -> np.ndarray:
    """Cosine between the histories of users ``rows[i]`` and ``cols[i]``, for each pair."""
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    out = np.zeros(len(rows), dtype=np.float64)
    for start in range(0, len(rows), batch):
        r, c = rows[start : start + batch], cols[start : start + batch]
        out[start : start + batch] = np.asarray(x[r].multiply(x[c]).sum(axis=1)).ravel()
    return out / np.maximum(norms[rows] * norms[cols], 1e-12)


class SocialRecommender(Recommender):
    """Friends' items, weighted by how alike the friend's history is."""

    name = "social"

    def __init__(self, power: float = 1.0, eps: float = 0.05) -> None:
        super().__init__()
        self.power, self.eps = power, eps
        self.trust = sp.csr_matrix((0, 0), dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {"power": self.power, "eps": self.eps}

    def _fit(self, interactions: sp.csr_matrix, *, social: sp.spmatrix | None = None, **side: Any) -> None:
        if social is None:
            raise InputError(
                "SocialRecommender needs social=(users x users follow matrix); the dataset has none"
            )
        n = interactions.shape[0]
        if social.shape != (n, n):
            raise InputError(f"social has shape {social.shape}; it needs ({n}, {n}) to match the users")
        graph = sp.coo_matrix(social)
        keep = graph.row != graph.col
        rows, cols = graph.row[keep], graph.col[keep]
        weights = (self.eps + history_cosine(binarize(interactions), rows, cols)) ** self.power
        trust = sp.csr_matrix((weights.astype(np.float32), (rows, cols)), shape=(n, n))
        totals = np.asarray(trust.sum(axis=1)).ravel()
        self.trust = (sp.diags(1.0 / np.maximum(totals, 1e-12)) @ trust).tocsr().astype(np.float32)

    def _score(self, user_rows: np.ndarray, user_items: sp.csr_matrix, fresh: bool) -> np.ndarray:
        known = user_rows >= 0
        out = np.zeros((len(user_rows), self.n_items), dtype=np.float32)
        if known.any():
            friends = self.trust[user_rows[known]]
            out[known] = np.asarray((friends @ binarize(self._fitted())).toarray(), dtype=np.float32)
        return out

    def state(self) -> dict[str, np.ndarray]:
        t = self.trust
        return {"data": t.data, "indices": t.indices, "indptr": t.indptr, "shape": np.array(t.shape)}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.trust = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"])
        )
