"""``TextRecommender``: item text only. A user is the items they engaged with, in text-vector space.

Item vectors are an input (``fit(..., item_vectors=V)``, items x dim, unit rows): MiniLM
embeddings from ``townsquare.models``, or :func:`tfidf_item_vectors` where no model is installed.
Two ways to score, chosen by ``neighbours``:

- 0: one profile per user, the normalised sum of their items' vectors; score = cosine to it.
- k > 0: text nearest neighbours; each history item votes for its k most similar items with
  ``similarity ** power`` (a high power trusts only close neighbours), so a user with several
  unrelated tastes keeps all of them.

Because it needs no interactions on an item, it scores brand-new (cold-start) items. The
neighbour lists depend only on the vectors: pass ``item_neighbours=text_neighbours(V, K)``
(K >= ``neighbours``) to ``fit`` to compute them once for many fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from townsquare.errors import InputError
from townsquare.recommenders.base import Recommender, binarize
from townsquare.recommenders.neighbours import top_k_per_row


def tfidf_item_vectors(texts: Sequence[str], dim: int = 128, seed: int = 0) -> np.ndarray:
    """Unit vectors from TF-IDF reduced to ``dim`` by truncated SVD: a model-free text embedder.

    Words found in a single text are dropped (they cannot make two items alike) unless that
    leaves no words at all.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = list(texts)
    try:
        tfidf = TfidfVectorizer(min_df=2, sublinear_tf=True).fit_transform(texts)
    except ValueError:  # too few texts, or no word in two of them
        try:
            tfidf = TfidfVectorizer(min_df=1, sublinear_tf=True).fit_transform(texts)
        except ValueError:
            raise InputError(
                f"the {len(texts)} item texts have no words to compare; text-based models need "
                "item texts (leave out text and townsquare, e.g. --models popularity,als,ease)"
            ) from None
    if tfidf.shape[1] <= dim:  # few words: the TF-IDF rows are small enough as they are
        vectors = tfidf.toarray()
    else:
        vectors = TruncatedSVD(n_components=dim, random_state=seed).fit_transform(tfidf)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def text_neighbours(vectors: np.ndarray, k: int, power: float, batch: int = 2048) -> sp.csr_matrix:
    """Each item's ``k`` most cosine-similar items, similarity clipped at 0 and raised to ``power``."""
    n = len(vectors)
    blocks = []
    for start in range(0, n, batch):
        sims = vectors[start : start + batch] @ vectors.T
        rows = np.arange(start, min(start + batch, n))
        sims[rows - start, rows] = -np.inf
        kk = min(k, n - 1)
        if kk <= 0:
            blocks.append(sp.csr_matrix((len(rows), n), dtype=np.float32))
            continue
        idx = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        vals = np.maximum(np.take_along_axis(sims, idx, axis=1), 0.0) ** power
        blocks.append(
            sp.csr_matrix(
                (vals.ravel(), (np.repeat(np.arange(len(rows)), kk), idx.ravel())),
                shape=(len(rows), n),
                dtype=np.float32,
            )
        )
    out = sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, 0), dtype=np.float32)
    out.eliminate_zeros()
    return out


class TextRecommender(Recommender):
    """Content-based: similarity between the texts of a user's items and every item's text."""

    name = "text"

    def __init__(self, neighbours: int = 0, power: float = 1.0) -> None:
        super().__init__()
        self.neighbours, self.power = neighbours, power
        self.item_vectors = np.zeros((0, 0), dtype=np.float32)
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {"neighbours": self.neighbours, "power": self.power}

    def _fit(
        self,
        interactions: sp.csr_matrix,
        *,
        item_vectors: np.ndarray | None = None,
        item_neighbours: sp.csr_matrix | None = None,
        **side: Any,
    ) -> None:
        if item_vectors is None:
            raise InputError(
                "TextRecommender needs item_vectors=(items x dim array): embed the item texts first"
            )
        vectors = np.asarray(item_vectors, dtype=np.float32)
        if vectors.shape[0] != interactions.shape[1]:
            raise InputError(f"item_vectors has {vectors.shape[0]} rows for {interactions.shape[1]} items")
        self.item_vectors = vectors
        if self.neighbours <= 0:
            return
        widest = np.diff(item_neighbours.indptr).max(initial=0) if item_neighbours is not None else 0
        if item_neighbours is not None and widest >= min(self.neighbours, len(vectors) - 1):
            self.similarity = top_k_per_row(item_neighbours, self.neighbours)
            self.similarity.data **= self.power
        else:
            self.similarity = text_neighbours(vectors, self.neighbours, self.power)

    def _score(self, user_rows: np.ndarray, user_items: sp.csr_matrix, fresh: bool) -> np.ndarray:
        history = binarize(user_items)
        if self.neighbours > 0:
            return np.asarray((history @ self.similarity).toarray(), dtype=np.float32)
        profiles = np.asarray(history @ self.item_vectors)
        profiles /= np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)
        return profiles @ self.item_vectors.T

    def state(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {
            "item_vectors": self.item_vectors,
            "sim_data": s.data,
            "sim_indices": s.indices,
            "sim_indptr": s.indptr,
            "sim_shape": np.array(s.shape),
        }

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_vectors = arrays["item_vectors"]
        self.similarity = sp.csr_matrix(
            (arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]),
            shape=tuple(arrays["sim_shape"]),
        )
