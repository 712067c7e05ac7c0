"""The recommender interface: ``fit`` a users x items matrix, ``score`` users, ``recommend`` the top n.

Shaped like benfred/implicit's: rows of the interaction matrix are users, columns items, values
how strongly a user engaged (1 for a plain positive). A subclass implements ``_fit`` and
``score``; ``recommend``, ``similar_items``, ``save`` and ``load`` are derived here. Side
information comes as keyword arguments to ``fit``: ``item_vectors`` (items x dim, unit rows,
e.g. text embeddings) and ``social`` (users x users, who follows whom). A model that does not
use a piece of side information ignores it; a model that needs one raises InputError without it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from townsquare.errors import InputError, NotFoundError

_REGISTRY: dict[str, type[Recommender]] = {}


class Recommender(ABC):
    """Scores every item for a user; higher is better. Fitted state lives in numpy arrays."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.user_items: sp.csr_matrix | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _REGISTRY[cls.name] = cls

    # -- what a subclass writes ------------------------------------------------------------
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The constructor arguments (JSON-able): ``type(self)(**self.params())`` is an unfitted twin."""

    @abstractmethod
    def _fit(self, interactions: sp.csr_matrix, **side: Any) -> None:
        """Learn from ``interactions`` (already CSR float32); store arrays on ``self``."""

    @abstractmethod
    def _score(self, user_rows: np.ndarray, user_items: sp.csr_matrix, fresh: bool) -> np.ndarray:
        """Dense float32 scores (len(user_rows) x n_items) given those users' histories.

        ``fresh``: ``user_items`` came from the caller, not from training, so per-user state
        (factors) must be recomputed from it. A row of -1 is a user the model has never seen.
        """

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays ``save`` writes (the training matrix is added by the base class)."""

    @abstractmethod
    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``state`` returned."""

    # -- derived ---------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return self._fitted().shape[1]

    def fit(self, interactions: sp.spmatrix, **side: Any) -> Self:
        """Learn from a users x items matrix; side information by keyword (see the module doc)."""
        matrix = as_interactions(interactions)
        self.user_items = matrix
        self._fit(matrix, **side)
        return self

    def score(self, user_rows: np.ndarray | list[int], user_items: sp.spmatrix | None = None) -> np.ndarray:
        """Scores of every item for ``user_rows``; ``user_items`` (a row per user) replaces their history."""
        rows = np.asarray(user_rows, dtype=np.int64).reshape(-1)
        history = self._history(rows, user_items)
        return np.asarray(self._score(rows, history, user_items is not None), dtype=np.float32)

    def recommend(
        self,
        user_rows: np.ndarray | list[int],
        n: int = 10,
        *,
        exclude_seen: bool = True,
        user_items: sp.spmatrix | None = None,
        items: np.ndarray | None = None,
        batch_size: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` (item ids, scores) per user, best first; ``items`` restricts the candidates.

        Returns two arrays of shape (len(user_rows), n); where a user has fewer than ``n``
        candidates the missing places hold id -1 and score -inf.
        """
        rows = np.asarray(user_rows, dtype=np.int64).reshape(-1)
        history = self._history(rows, user_items)
        ids = np.full((len(rows), n), -1, dtype=np.int64)
        scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
        for start in range(0, len(rows), batch_size):
            part = slice(start, start + batch_size)
            block = np.asarray(
                self._score(rows[part], history[part], user_items is not None), dtype=np.float32
            )
            block = mask_scores(block, history[part] if exclude_seen else None, items)
            ids[part], scores[part] = top_n(block, n)
        return ids, scores

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items that users who engage with ``item`` engage with too: score of a one-item history."""
        one = sp.csr_matrix((np.ones(1, np.float32), ([0], [item])), shape=(1, self.n_items))
        scores = np.asarray(self._score(np.array([-1]), one, True), dtype=np.float32)
        scores[0, item] = -np.inf
        ids, values = top_n(scores, n)
        return ids[0], values[0]

    def save(self, path: str | Path) -> Path:
        """Write the model to one ``.npz`` file (numpy only, no pickle) and return its path."""
        path = Path(path)
        meta = {"name": self.name, "params": self.params()}
        arrays = {f"state/{k}": v for k, v in self.state().items()}
        arrays.update(_matrix_arrays("user_items", self._fitted()))
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """A fitted model from ``save``'s file (any registered kind when called on the base class)."""
        with np.load(Path(path), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
        model = get_recommender(meta["name"], **meta["params"])
        if cls is not Recommender and not isinstance(model, cls):
            raise InputError(f"{path} holds a {meta['name']} model, not a {cls.name}", source=str(path))
        model.user_items = _matrix_from_arrays("user_items", arrays)
        model.set_state({k.removeprefix("state/"): v for k, v in arrays.items() if k.startswith("state/")})
        return model

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    # -- helpers ---------------------------------------------------------------------------
    def _fitted(self) -> sp.csr_matrix:
        if self.user_items is None:
            raise InputError(f"{type(self).__name__} is not fitted yet: call fit(interactions) first")
        return self.user_items

    def _history(self, rows: np.ndarray, user_items: sp.spmatrix | None) -> sp.csr_matrix:
        train = self._fitted()
        if user_items is not None:
            history = as_interactions(user_items)
            if history.shape != (len(rows), train.shape[1]):
                raise InputError(
                    f"user_items has shape {history.shape}; it needs one row per user and "
                    f"{train.shape[1]} item columns"
                )
            return history
        if len(rows) and (rows.min() < 0 or rows.max() >= train.shape[0]):
            raise InputError(f"user rows must be in [0, {train.shape[0]}); pass user_items for new users")
        return train[rows]


def as_interactions(matrix: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
    """A float32 CSR copy with sorted indices and no explicit zeros."""
    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def binarize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = matrix.copy()
    out.data[:] = 1.0
    return out


def mask_scores(scores: np.ndarray, seen: sp.csr_matrix | None, items: np.ndarray | None) -> np.ndarray:
    """-inf where an item was seen (``seen`` rows align with ``scores``) or is not among ``items``."""
    scores = scores.copy()
    if items is not None:
        keep = np.zeros(scores.shape[1], dtype=bool)
        keep[np.asarray(items, dtype=np.int64)] = True
        scores[:, ~keep] = -np.inf
    if seen is not None and seen.nnz:
        coo = seen.tocoo()
        scores[coo.row, coo.col] = -np.inf
    return scores


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Column ids and values of each row's ``n`` highest finite scores, best first (ties: lower id)."""
    rows, cols = scores.shape
    k = min(n, cols)
    ids = np.full((rows, n), -1, dtype=np.int64)
    values = np.full((rows, n), -np.inf, dtype=np.float32)
    if k == 0 or rows == 0:
        return ids, values
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < cols else np.tile(np.arange(cols), (rows, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    finite = np.isfinite(best_scores)
    ids[:, :k] = np.where(finite, best, -1)
    values[:, :k] = np.where(finite, best_scores, -np.inf)
    return ids, values


def get_recommender(name: str, **params: Any) -> Recommender:
    """A new, unfitted recommender of kind ``name``; NotFoundError lists the kinds that exist."""
    import townsquare.recommenders  # noqa: F401  (registers the built-in kinds)

    if name not in _REGISTRY:
        raise NotFoundError(f"No recommender called {name!r}. Recommenders: {', '.join(sorted(_REGISTRY))}.")
    return _REGISTRY[name](**params)


def recommender_names() -> list[str]:
    import townsquare.recommenders  # noqa: F401

    return sorted(_REGISTRY)


def _matrix_arrays(prefix: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/data": matrix.data,
        f"{prefix}/indices": matrix.indices,
        f"{prefix}/indptr": matrix.indptr,
        f"{prefix}/shape": np.array(matrix.shape, dtype=np.int64),
    }


def _matrix_from_arrays(prefix: str, arrays: dict[str, np.ndarray]) -> sp.csr_matrix:
    parts = [arrays.pop(f"{prefix}/{k}") for k in ("data", "indices", "indptr", "shape")]
    return sp.csr_matrix(tuple(parts[:3]), shape=tuple(parts[3]))
