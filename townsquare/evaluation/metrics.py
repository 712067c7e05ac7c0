"""Ranking metrics in numpy, on top-k id lists and a sparse matrix of what each user really engaged with.

Definitions (binary relevance; a user with nothing to find is left out of every average):

- precision@k = hits in the top k / k; recall@k = hits / relevant; hit@k = 1 if any hit.
- ndcg@k = sum over hits of 1/log2(rank + 1), divided by the same sum for min(relevant, k) hits at the top.
- map@k = sum over hit ranks r of precision@r, divided by min(relevant, k) (RecBole, Spark ``map_at_k``).
- mrr@k = 1 / rank of the first hit (0 without one).
- coverage@k: share of the catalogue in at least one top-k list; gini@k: Gini coefficient of how
  often each item (or author) is recommended, over all of them (0 = even exposure, 1 = one takes all).
- ild@k (intra-list diversity): mean over lists of the mean pairwise cosine distance of the items'
  vectors; novelty@k: mean self-information -log2((users who engaged + 1) / (users + 1)) of the items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

ACCURACY = ("precision", "recall", "ndcg", "map", "mrr", "hit")


def hit_matrix(top_ids: np.ndarray, relevant: sp.csr_matrix, user_rows: np.ndarray) -> np.ndarray:
    """Boolean (users x k): whether ``top_ids[u, r]`` is among user ``user_rows[u]``'s relevant items."""
    relevant = sp.csr_matrix(relevant)
    n_items = relevant.shape[1]
    coo = relevant.tocoo()
    keys = np.sort(coo.row.astype(np.int64) * n_items + coo.col)
    query = user_rows[:, None].astype(np.int64) * n_items + np.where(top_ids >= 0, top_ids, 0)
    pos = np.clip(np.searchsorted(keys, query), 0, max(len(keys) - 1, 0))
    found = (keys[pos] == query) if len(keys) else np.zeros(query.shape, dtype=bool)
    return found & (top_ids >= 0)


def accuracy_per_user(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Each accuracy metric per user, from ``hits`` (users x >= k) and how many items each must find."""
    hits = hits[:, :k].astype(np.float64)
    ranks = np.arange(1, k + 1)
    discounts = 1.0 / np.log2(ranks + 1)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_relevant, k)]
    n_hits = hits.sum(axis=1)
    precision_at = np.cumsum(hits, axis=1) / ranks
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    denominator = np.maximum(n_relevant, 1)
    return {
        "precision": n_hits / k,
        "recall": n_hits / denominator,
        "ndcg": (hits * discounts).sum(axis=1) / np.maximum(ideal, 1e-12),
        "map": (precision_at * hits).sum(axis=1) / np.maximum(np.minimum(n_relevant, k), 1),
        "mrr": np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0),
        "hit": (n_hits > 0).astype(np.float64),
    }


def accuracy(top_ids: np.ndarray, relevant: sp.csr_matrix, user_rows: np.ndarray, k: int) -> dict[str, float]:
    """Mean of each accuracy metric over users with at least one relevant item, keys like ``ndcg@10``."""
    n_relevant = np.diff(sp.csr_matrix(relevant).indptr)[user_rows]
    keep = n_relevant > 0
    if not keep.any():
        return {f"{m}@{k}": 0.0 for m in ACCURACY}
    per_user = accuracy_per_user(hit_matrix(top_ids[keep], relevant, user_rows[keep]), n_relevant[keep], k)
    return {f"{m}@{k}": float(v.mean()) for m, v in per_user.items()}


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0: all equal; near 1: one holds everything)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    return float((2.0 * np.sum(np.arange(1, n + 1) * x)) / (n * total) - (n + 1.0) / n)


def exposure(top_ids: np.ndarray, n_items: int, item_authors: np.ndarray | None, k: int) -> dict[str, float]:
    """Catalogue coverage and Gini of exposure over items (and over authors when given)."""
    ids = top_ids[:, :k]
    ids = ids[ids >= 0]
    counts = np.bincount(ids, minlength=n_items)
    out = {f"coverage@{k}": float((counts > 0).mean()) if n_items else 0.0, f"gini_items@{k}": gini(counts)}
    if item_authors is not None:
        n_authors = int(item_authors.max()) + 1 if len(item_authors) else 0
        out[f"gini_authors@{k}"] = gini(np.bincount(item_authors[ids], minlength=n_authors))
    return out


def intra_list_diversity(top_ids: np.ndarray, item_vectors: np.ndarray, k: int, batch: int = 4096) -> float:
    """Mean over lists of the mean pairwise cosine distance between the listed items' (unit) vectors."""
    values = []
    for start in range(0, len(top_ids), batch):
        ids = top_ids[start : start + batch, :k]
        valid = ids >= 0
        vectors = item_vectors[np.where(valid, ids, 0)] * valid[..., None]
        sims = np.einsum("ukd,uld->ukl", vectors, vectors)
        n = valid.sum(axis=1)
        pairs = n * (n - 1)
        off_diagonal = sims.sum(axis=(1, 2)) - np.einsum("ukk->u", sims)
        ok = pairs > 0
        values.append(1.0 - off_diagonal[ok] / pairs[ok])
    joined = np.concatenate(values) if values else np.zeros(0)
    return float(joined.mean()) if len(joined) else 0.0


def novelty(top_ids: np.ndarray, train: sp.csr_matrix, k: int) -> float:
    """Mean self-information of recommended items, from how many training users engaged with each."""
    ids = top_ids[:, :k]
    ids = ids[ids >= 0]
    if len(ids) == 0:
        return 0.0
    users = np.bincount(sp.csr_matrix(train).indices, minlength=train.shape[1])
    information = -np.log2((users + 1.0) / (train.shape[0] + 1.0))
    return float(information[ids].mean())


def beyond_accuracy(
    top_ids: np.ndarray,
    train: sp.csr_matrix,
    item_vectors: np.ndarray | None,
    item_authors: np.ndarray | None,
    k: int,
) -> dict[str, float]:
    """Coverage, Gini (items, authors), intra-list diversity and novelty of the top-k lists."""
    out = exposure(top_ids, train.shape[1], item_authors, k)
    if item_vectors is not None:
        out[f"ild@{k}"] = intra_list_diversity(top_ids, item_vectors, k)
    out[f"novelty@{k}"] = novelty(top_ids, train, k)
    return out
