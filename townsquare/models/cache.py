"""``CachedEmbedder``: embed each distinct text once, keyed by (model id, sha256 of the text).

The cache is any object with ``get_many(model_id, keys) -> {key: vector}`` and
``put_many(model_id, {key: vector})``; the SQL store implements the same two methods.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from townsquare.models.base import Embedder


class EmbeddingCache(Protocol):
    def get_many(self, model_id: str, keys: list[str]) -> dict[str, np.ndarray]: ...

    def put_many(self, model_id: str, items: dict[str, np.ndarray]) -> None: ...


def text_key(text: str) -> str:
    """Cache key of a text: sha256 hex of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class MemoryEmbeddingCache:
    """A dict-backed cache for tests and short-lived processes; thread-safe."""

    def __init__(self) -> None:
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def get_many(self, model_id: str, keys: list[str]) -> dict[str, np.ndarray]:
        with self._lock:
            return {k: self._vectors[(model_id, k)] for k in keys if (model_id, k) in self._vectors}

    def put_many(self, model_id: str, items: dict[str, np.ndarray]) -> None:
        with self._lock:
            for key, vector in items.items():
                self._vectors[(model_id, key)] = np.asarray(vector, dtype=np.float32)

    def __len__(self) -> int:
        return len(self._vectors)


class CachedEmbedder(Embedder):
    """Wraps an embedder; only texts missing from ``cache`` reach it, each distinct text once."""

    def __init__(self, embedder: Embedder, cache: EmbeddingCache) -> None:
        self.inner, self.cache = embedder, cache
        self.model_id, self.dim = embedder.model_id, embedder.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        keys = [text_key(t) for t in texts]
        found = self.cache.get_many(self.model_id, list(dict.fromkeys(keys)))
        missing = {k: t for k, t in zip(keys, texts) if k not in found}  # dedupes repeated texts
        if missing:
            fresh = self.inner.embed(list(missing.values()))
            computed = dict(zip(missing.keys(), fresh))
            self.cache.put_many(self.model_id, computed)
            found.update(computed)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([np.asarray(found[k], dtype=np.float32) for k in keys])
