"""Vector storage and search behind one interface.

- PostgreSQL: vectors live in pgvector columns and are searched in SQL through one HNSW index
  per text model (a partial expression index, since models differ in dimension).
- SQLite: vectors live in the table as float32 bytes and are searched in an in-process index
  (``vector_index.py``). Each process keeps its index in step with the table by sequence
  numbers: new rows have a higher ``seq``, deletes leave a tombstone (written by a trigger, so
  cascaded deletes count too). Every search first applies what changed since the last one, so
  a post embedded by one API worker is searchable in every other at once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Sequence

import numpy as np
from sqlalchemy import Connection, bindparam, delete, func, select, text

from townsquare.errors import InputError, NotFoundError
from townsquare.storage.schema import post_vector_tombstones, post_vectors, text_models, user_vectors

_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.:/\-]{1,128}$")


def _as_matrix(vectors: np.ndarray | Sequence, dim: int | None = None) -> np.ndarray:
    matrix = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    if dim is not None and matrix.shape[1] != dim:
        raise InputError(f"vectors have dimension {matrix.shape[1]}, the model's is {dim}", field="vector")
    if not np.isfinite(matrix).all():
        raise InputError("vectors contain NaN or infinity", field="vector")
    return matrix


class VectorSearch:
    """Stores post and user vectors per text model and finds nearest posts."""

    def __init__(self, store) -> None:
        self.store = store
        self._dims: dict[str, int] = {}

    # -- models ---------------------------------------------------------------------------
    def register_model(self, conn: Connection, model: str, dim: int) -> None:
        if not _MODEL_NAME.match(model):
            raise InputError(f"model name {model!r} may only use letters, digits and _.:/-", field="model")
        known = self.dim(model, conn, required=False)
        if known is None:
            self.store.insert_ignore(conn, text_models, [{"name": model, "dim": dim}])
            self._dims[model] = dim
            self._on_new_model(conn, model, dim)
        elif known != dim:
            raise InputError(f"model {model!r} has dimension {known}, not {dim}", field="vector")

    def dim(self, model: str, conn: Connection | None = None, required: bool = True) -> int | None:
        if model not in self._dims:
            with self.store._conn(conn) as c:
                found = c.execute(select(text_models.c.dim).where(text_models.c.name == model)).scalar()
            if found is None:
                if required:
                    raise NotFoundError(f"no vectors for model {model!r}: run `townsquare embed` first")
                return None
            self._dims[model] = found
        return self._dims[model]

    def _on_new_model(self, conn: Connection, model: str, dim: int) -> None:
        """Backend hook: create per-model indexes."""

    # -- writes ---------------------------------------------------------------------------
    def put_posts(self, conn: Connection, model: str, post_ids: Sequence[int], vectors) -> None:
        """Store (replace) the vectors of ``post_ids`` under ``model``."""
        matrix = _as_matrix(vectors)
        if len(post_ids) != len(matrix):
            raise InputError(f"{len(post_ids)} ids but {len(matrix)} vectors", field="vector")
        if not len(post_ids):
            return
        self.register_model(conn, model, matrix.shape[1])
        ids = [int(i) for i in post_ids]
        for start in range(0, len(ids), 5000):
            chunk = ids[start:start + 5000]
            conn.execute(delete(post_vectors).where(post_vectors.c.model == model,
                                                    post_vectors.c.post_id.in_(chunk)))
        conn.execute(post_vectors.insert(),
                     [{"model": model, "post_id": i, "vector": v} for i, v in zip(ids, matrix)])

    def put_user(self, conn: Connection, model: str, user_id: int, vectors) -> None:
        """Replace a user's interest vectors (one row per slot) under ``model``."""
        matrix = _as_matrix(vectors)
        self.register_model(conn, model, matrix.shape[1])
        conn.execute(delete(user_vectors).where(user_vectors.c.model == model,
                                                user_vectors.c.user_id == user_id))
        conn.execute(user_vectors.insert(), [{"model": model, "user_id": user_id, "slot": slot,
                                              "vector": v} for slot, v in enumerate(matrix)])

    # -- reads ----------------------------------------------------------------------------
    def post_vectors(self, model: str, post_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, their vectors), in the order asked."""
        dim = self.dim(model)
        found: dict[int, np.ndarray] = {}
        with self.store.read() as conn:
            for start in range(0, len(post_ids), 5000):
                chunk = [int(i) for i in post_ids[start:start + 5000]]
                query = select(post_vectors.c.post_id, post_vectors.c.vector).where(
                    post_vectors.c.model == model, post_vectors.c.post_id.in_(chunk))
                found.update({pid: vec for pid, vec in conn.execute(query)})
        ids = [int(i) for i in post_ids if int(i) in found]
        matrix = np.stack([found[i] for i in ids]) if ids else np.zeros((0, dim), np.float32)
        return np.asarray(ids, dtype=np.int64), matrix

    def user_vectors(self, model: str, user_id: int) -> np.ndarray:
        """A user's interest vectors, one row per slot (zero rows if none)."""
        dim = self.dim(model, required=False) or 0
        with self.store.read() as conn:
            rows = conn.execute(select(user_vectors.c.vector).where(
                user_vectors.c.model == model, user_vectors.c.user_id == user_id
            ).order_by(user_vectors.c.slot)).scalars().all()
        return np.stack(rows) if rows else np.zeros((0, dim), np.float32)

    def count(self, model: str) -> int:
        with self.store.read() as conn:
            return conn.execute(select(func.count()).select_from(post_vectors).where(
                post_vectors.c.model == model)).scalar_one()

    def search_posts(self, model: str, query, k: int,
                     exclude: Collection[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` posts whose vectors are nearest to ``query`` (inner product), best first."""
        raise NotImplementedError


class InProcessVectorSearch(VectorSearch):
    """SQLite: search an in-process index kept in step with the table."""

    def __init__(self, store) -> None:
        super().__init__(store)
        self._indexes: dict[str, tuple[object, int, int]] = {}  # model -> (index, seq, tomb seq)
        self._lock = threading.Lock()

    def index(self, model: str):
        """The up-to-date in-process index for ``model``."""
        from townsquare.storage.vector_index import AutoIndex

        dim = self.dim(model)
        with self._lock:
            index, seq, tomb = self._indexes.get(model) or (None, 0, 0)
            with self.store.read() as conn:
                latest = conn.execute(select(func.max(post_vectors.c.seq)).where(
                    post_vectors.c.model == model)).scalar() or 0
                latest_tomb = conn.execute(select(func.max(post_vector_tombstones.c.seq))).scalar() or 0
                if index is None:  # a fresh load reads the table as it is now: no tombstones due
                    index = AutoIndex(dim)
                elif latest_tomb > tomb:
                    gone = conn.execute(select(post_vector_tombstones.c.post_id).where(
                        post_vector_tombstones.c.seq > tomb,
                        post_vector_tombstones.c.model == model)).scalars().all()
                    index.remove(np.asarray(gone, dtype=np.int64))
                if latest > seq:
                    self._load_rows(conn, index, model, seq, dim)
            self._indexes[model] = (index, latest, latest_tomb)
            return index

    @staticmethod
    def _load_rows(conn: Connection, index, model: str, after: int, dim: int) -> None:
        query = select(post_vectors.c.post_id, post_vectors.c.vector).where(
            post_vectors.c.model == model, post_vectors.c.seq > after).execution_options(yield_per=50_000)
        for partition in conn.execute(query).partitions():
            ids = np.fromiter((row[0] for row in partition), dtype=np.int64, count=len(partition))
            index.add(ids, np.stack([row[1] for row in partition]).reshape(-1, dim))

    def search_posts(self, model, query, k, exclude=None):
        index = self.index(model)
        ids, scores = index.search(_as_matrix(query, index.dim)[0], k, exclude=exclude)
        return np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32)


class PgVectorSearch(VectorSearch):
    """PostgreSQL: pgvector with one HNSW index per model."""

    def _on_new_model(self, conn: Connection, model: str, dim: int) -> None:
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {self._index_name(model)} ON post_vectors "
            f"USING hnsw ((vector::vector({dim})) vector_ip_ops) WHERE model = '{model}'")

    @staticmethod
    def _index_name(model: str) -> str:
        return "ix_post_vectors_hnsw_" + re.sub(r"[^a-z0-9]", "_", model.lower())[:40]

    def search_posts(self, model, query, k, exclude=None):
        dim = self.dim(model)
        vector = _as_matrix(query, dim)[0]
        exclude = set(exclude or ())
        want = k + len(exclude)
        # The model name is validated (register_model) and inlined so that the planner can use
        # the partial index; the vector and limit are bound.
        statement = text(
            f"SELECT post_id, -((vector::vector({dim})) <#> :q) AS score FROM post_vectors "
            f"WHERE model = '{model}' ORDER BY (vector::vector({dim})) <#> :q LIMIT :n"
        ).bindparams(bindparam("q", type_=post_vectors.c.vector.type))
        with self.store.read() as conn:
            conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {min(max(want * 2, 100), 1000)}")
            rows = [(pid, score) for pid, score in conn.execute(statement, {"q": vector, "n": want})
                    if pid not in exclude][:k]
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        return ids, np.asarray([r[1] for r in rows], dtype=np.float32)


def make_vector_search(store) -> VectorSearch:
    return PgVectorSearch(store) if store.dialect == "postgresql" else InProcessVectorSearch(store)
