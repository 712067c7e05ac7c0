"""In-process vector search for the embedded (SQLite) store.

Three implementations of one small interface, :class:`VectorIndex`:

- :class:`ExactIndex`: a numpy matrix scanned with one BLAS matrix-vector product per query
  (8.6M vectors per CPU-second on 1M x 384, ``bench/vectors.py``).
- :class:`IvfIndex`: FAISS IVF-flat, the approximate index for large corpora. Chosen over
  hnswlib by measurement on 1M x 384 (2 busy cores): built in 169 s against 1,477 s, recall@100
  0.967 against 0.945, native deletes, exclusion inside the scan, and a binary wheel (hnswlib
  had to be compiled here); hnswlib answered faster (p50 1.4 ms against 11 ms), both far below
  the exact scan's 360 ms.
- :class:`AutoIndex`: exact below a measured crossover size, IVF above it; switches as it grows.

Vectors are L2-normalised on the way in, so scores are cosine similarities (inner products of
unit vectors), best first.

Thread safety: every index guards its state with a readers-writer lock. Any number of threads
may call ``search``/``get``/``ids``/``len``/``save`` at once. ``add``/``remove`` run one at a
time; each holds the write lock (no readers) only while it changes state, so a slow rebuild
(IVF retraining, the exact-to-IVF switch) runs while searches go on against the old state.
"""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from itertools import pairwise, repeat
from pathlib import Path

import numpy as np

from townsquare.errors import InputError, NotFoundError

__all__ = ["AUTO_CROSSOVER", "AutoIndex", "ExactIndex", "IvfIndex", "VectorIndex"]

# Measured with bench/vectors.py (crossover section, 384-d, one BLAS thread): p50 exact 0.9 ms
# vs IVF 0.8 ms at 10k, 2.0 vs 0.9 ms at 20k, 9.7 vs 1.2 ms at 30k, IVF recall@100 >= 0.965.
# Below this the exact scan is about as fast and needs no training.
AUTO_CROSSOVER = 20_000

_META_FILE = "index.json"


class ReadWriteLock:
    """Many readers or one writer; a waiting writer blocks new readers.

    Written by hand because the standard library has none and a dependency for 25 lines is
    not worth it.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class VectorIndex(ABC):
    """Nearest-neighbour search over (id, vector) pairs, ids being int64 (e.g. post ids).

    This class checks input and takes the locks. Subclasses implement the underscored methods:
    the read ones run under the read lock; ``_add``/``_remove`` run with the writer mutex held
    (one writer at a time, readers still running) and take ``self._lock.write()`` themselves
    around the part that changes state, so slow work such as training can happen outside it.
    """

    kind: str = ""

    def __init__(self, dim: int) -> None:
        if not isinstance(dim, int | np.integer) or dim < 1:
            raise InputError(f"vector dimension must be a positive integer, got {dim!r}", field="dim")
        self.dim = int(dim)
        self._lock = ReadWriteLock()
        self._writer = threading.Lock()

    # -- public API -------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock.read():
            return self._count()

    def add(self, ids: Collection[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors under ids; an id already present gets its vector replaced."""
        ids = _check_ids(ids)
        vectors = self._check_vectors(vectors, "vectors")
        if len(ids) != len(vectors):
            raise InputError(f"got {len(ids)} ids but {len(vectors)} vectors; pass one id per row",
                             field="ids")
        if len(np.unique(ids)) != len(ids):
            raise InputError("ids repeat within one add() call; pass each id once", field="ids")
        if len(ids):
            with self._writer:
                self._add(ids, _normalise(vectors))

    def remove(self, ids: Collection[int] | np.ndarray) -> int:
        """Delete ids; ids not in the index are ignored. Returns how many were removed."""
        ids = np.unique(_check_ids(ids))
        if not len(ids):
            return 0
        with self._writer:
            return self._remove(ids)

    def search(self, query: np.ndarray, k: int,
               exclude: Collection[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k stored vectors most similar to query, best first, as (ids, scores).

        query is (dim,) or (q, dim); a batch gives (q, k') arrays. k' < k only when the index
        holds fewer than k vectors outside exclude. Ids in exclude are never returned.
        """
        if not isinstance(k, int | np.integer) or k < 0:
            raise InputError(f"k must be a non-negative integer, got {k!r}", field="k")
        single = np.ndim(query) == 1
        queries = self._check_vectors(np.atleast_2d(query), "query")
        excluded = _NO_IDS if exclude is None else _check_ids(exclude)
        if not len(queries):  # a batch of none (a user with no interest vectors yet)
            return np.empty((0, 0), np.int64), np.empty((0, 0), np.float32)
        with self._lock.read():
            ids, scores = self._search(_normalise(queries), int(k), excluded)
        return (ids[0], scores[0]) if single else (ids, scores)

    def get(self, ids: Collection[int] | np.ndarray) -> np.ndarray:
        """The stored (normalised) vectors for ids, one row each, in the order asked."""
        ids = _check_ids(ids)
        with self._lock.read():
            return self._get(ids) if len(ids) else np.empty((0, self.dim), np.float32)

    def ids(self) -> np.ndarray:
        """Every id in the index (no particular order)."""
        with self._lock.read():
            return self._ids()

    def save(self, path: str | Path) -> None:
        """Write the index into the folder path (created if needed); read it with load()."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with self._lock.read():
            meta = self._save(path)
        (path / _META_FILE).write_text(json.dumps({"kind": self.kind, "dim": self.dim, **meta}))

    @classmethod
    def load(cls, path: str | Path) -> VectorIndex:
        """Read an index written by save(); VectorIndex.load reads any kind."""
        path = Path(path)
        if not (path / _META_FILE).is_file():
            raise NotFoundError(f"no vector index in {path} ({_META_FILE} is missing); "
                                "build it again or point to the folder given to save()")
        meta = json.loads((path / _META_FILE).read_text())
        kinds = {c.kind: c for c in (ExactIndex, IvfIndex, AutoIndex)}
        if meta.get("kind") not in kinds or not issubclass(kinds[meta["kind"]], cls):
            raise InputError(f"{path} holds a {meta.get('kind')!r} index, not {cls.kind or 'any'!r}; "
                             "load it with VectorIndex.load", source=str(path / _META_FILE))
        return kinds[meta["kind"]]._load(path, meta)

    # -- for subclasses -----------------------------------------------------------------------

    @abstractmethod
    def _count(self) -> int: ...

    @abstractmethod
    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    @abstractmethod
    def _remove(self, ids: np.ndarray) -> int: ...

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int,
                exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def _get(self, ids: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _ids(self) -> np.ndarray: ...

    @abstractmethod
    def _save(self, path: Path) -> dict: ...

    @classmethod
    @abstractmethod
    def _load(cls, path: Path, meta: dict) -> VectorIndex: ...

    def _check_vectors(self, vectors: np.ndarray, field: str) -> np.ndarray:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            got = f"{vectors.shape[1]} dimensions" if vectors.ndim == 2 else f"shape {vectors.shape}"
            raise InputError(
                f"{field} has {got} but this index holds {self.dim}-dimensional vectors. Embed "
                "with the model the index was built with, or build a new index.", field=field)
        if not np.issubdtype(vectors.dtype, np.number):
            raise InputError(f"{field} must be numeric, got dtype {vectors.dtype}", field=field)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not np.isfinite(vectors).all():
            raise InputError(f"{field} contains NaN or infinite values", field=field)
        return vectors


_NO_IDS = np.empty(0, dtype=np.int64)


def _check_ids(ids: Collection[int] | np.ndarray | None) -> np.ndarray:
    arr = np.asarray(list(ids) if isinstance(ids, set | frozenset) else ids)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"ids must be a 1-D sequence of integers, got shape {arr.shape} "
                         f"dtype {arr.dtype}", field="ids")
    return arr.astype(np.int64, copy=False)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


def _missing(ids: np.ndarray, found: np.ndarray) -> NotFoundError:
    missing = ids[~found][:5].tolist()
    return NotFoundError(f"{int((~found).sum())} id(s) are not in the vector index, e.g. "
                         f"{missing}; add them first or drop them from the request")


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the k best scores per row, best first (argpartition, then sort k)."""
    n = scores.shape[1]
    part = np.argpartition(scores, n - k, axis=1)[:, n - k:] if k < n else \
        np.broadcast_to(np.arange(n), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


class ExactIndex(VectorIndex):
    """Exact search: one contiguous float32 matrix, scanned with BLAS on every query.

    Rows grow by doubling; a removed row is filled with the last row (swap-remove), so the
    live rows stay contiguous and the scan never reads holes.
    """

    kind = "exact"
    _SCORE_BUDGET = 64 * 2**20  # scores buffer per query chunk, in float32 cells

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        super().__init__(dim)
        self._matrix = np.empty((max(1, capacity), self.dim), dtype=np.float32)
        self._row_ids = np.empty(max(1, capacity), dtype=np.int64)
        self._n = 0
        self._row: dict[int, int] = {}

    def _count(self) -> int:
        return self._n

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        with self._lock.write():
            rows = np.fromiter((self._row.get(i, -1) for i in ids.tolist()), np.int64, len(ids))
            old = rows >= 0
            self._matrix[rows[old]] = vectors[old]
            new_ids, new_vectors = ids[~old], vectors[~old]
            end = self._n + len(new_ids)
            if end > len(self._matrix):
                self._resize(max(end, 2 * len(self._matrix)))
            self._matrix[self._n:end] = new_vectors
            self._row_ids[self._n:end] = new_ids
            self._row.update(zip(new_ids.tolist(), range(self._n, end)))
            self._n = end

    def _remove(self, ids: np.ndarray) -> int:
        with self._lock.write():
            rows = [row for row in map(self._row.pop, ids.tolist(), repeat(None)) if row is not None]
            for row in sorted(rows, reverse=True):  # bottom-up: the last row is always live
                last = self._n = self._n - 1
                if row != last:
                    self._matrix[row], self._row_ids[row] = self._matrix[last], self._row_ids[last]
                    self._row[int(self._row_ids[row])] = row
            if len(self._matrix) > 1024 and self._n < len(self._matrix) // 4:
                self._resize(max(1024, 2 * self._n))
            return len(rows)

    def _resize(self, capacity: int) -> None:
        matrix = np.empty((capacity, self.dim), dtype=np.float32)
        matrix[:self._n] = self._matrix[:self._n]
        row_ids = np.empty(capacity, dtype=np.int64)
        row_ids[:self._n] = self._row_ids[:self._n]
        self._matrix, self._row_ids = matrix, row_ids

    def _search(self, queries: np.ndarray, k: int,
                exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        excluded_rows = np.fromiter(
            (r for r in (self._row.get(i) for i in exclude.tolist()) if r is not None), np.int64)
        k = min(k, self._n - len(excluded_rows))
        if k <= 0:
            return np.empty((len(queries), 0), np.int64), np.empty((len(queries), 0), np.float32)
        matrix = self._matrix[:self._n]
        step = max(1, self._SCORE_BUDGET // self._n)
        ids, scores = [], []
        for start in range(0, len(queries), step):
            chunk = queries[start:start + step]
            # A single query is a BLAS matrix-vector product; a batch is one matrix product. For a
            # few queries (a feed's interest slots), the matrix on the left is about twice as fast:
            # OpenBLAS packs its left operand, and a transposed view packs slowly (4 queries on
            # 1,827 rows: 0.30 against 0.57 ms with the top k). For a big batch it is slower, since
            # the scores come back as a strided view (512 queries on 20,000 rows: 181 against 131 ms).
            if len(chunk) == 1:
                s = (matrix @ chunk[0])[None, :]
            else:
                s = (matrix @ chunk.T).T if len(chunk) <= 16 else chunk @ matrix.T
            s[:, excluded_rows] = -np.inf
            cols, best = _top_k(s, k)
            ids.append(self._row_ids[cols])
            scores.append(best)
        return np.concatenate(ids), np.concatenate(scores)

    def _get(self, ids: np.ndarray) -> np.ndarray:
        rows = np.fromiter((self._row.get(i, -1) for i in ids.tolist()), np.int64, len(ids))
        if (rows < 0).any():
            raise _missing(ids, rows >= 0)
        return self._matrix[rows]

    def _ids(self) -> np.ndarray:
        return self._row_ids[:self._n].copy()

    def _save(self, path: Path) -> dict:
        np.save(path / "ids.npy", self._row_ids[:self._n])
        np.save(path / "vectors.npy", self._matrix[:self._n])
        return {}

    @classmethod
    def _load(cls, path: Path, meta: dict) -> ExactIndex:
        ids, vectors = np.load(path / "ids.npy"), np.load(path / "vectors.npy")
        index = cls(meta["dim"], capacity=len(ids))
        if len(ids):
            index._add(ids, vectors)
        return index

    def _snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        return self._row_ids[:self._n].copy(), self._matrix[:self._n].copy()


# IVF settings. Cells = 2*sqrt(n), each with >= 39 vectors (FAISS's minimum for k-means).
# nprobe is not a fixed guess: every (re)build measures it (see _calibrate), because the share of
# cells needed for recall@100 >= 0.95 depends on the data and its size: on bench/vectors.py's
# embeddings 32 of 2,000 cells at 1M but 128 of 200 at 10k.
IVF_TARGET_RECALL = 0.97
IVF_RETRAIN_GROWTH = 4.0
_TRAIN_PER_CELL = 64
_CALIBRATION_QUERIES = 64
_CALIBRATION_K = 100
_PROBE_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def _import_faiss():  # -> the faiss module
    try:
        import faiss
    except ImportError as error:
        from townsquare.errors import MissingDependencyError
        raise MissingDependencyError("faiss-cpu (approximate vector search)",
                                     "pip install faiss-cpu") from error
    return faiss


class IvfIndex(VectorIndex):
    """Approximate search: FAISS IVF-flat (k-means cells; exact scores inside probed cells).

    Cells are trained at the first add and again, by a rebuild that runs while searches go on,
    each time the index has grown ``retrain_growth`` times. Each build measures how many cells
    to probe for recall@100 >= ``target_recall`` on a sample of stored vectors used as queries;
    searches for k > 100 probe proportionally more. Removal and upsert are native (ids go
    through a hash table); ``exclude`` is a FAISS id selector, skipped during the scan.

    FAISS runs OpenMP teams; on a busy 2-core machine a team waiting for a descheduled thread
    made single inserts 2,000x slower (measured: 34/s against 75,000/s). So one-query searches
    and small writes run on one thread, and only builds and batches use ``threads``.
    """

    kind = "ivf"

    def __init__(self, dim: int, *, target_recall: float = IVF_TARGET_RECALL,
                 retrain_growth: float = IVF_RETRAIN_GROWTH, seed: int = 0,
                 threads: int | None = None) -> None:
        super().__init__(dim)
        self._faiss = _import_faiss()
        self.target_recall, self.retrain_growth, self.seed = target_recall, retrain_growth, seed
        self.threads = threads or os.cpu_count() or 1
        self.nprobe = 1  # measured at each build
        self._index = None  # faiss.IndexIVFFlat once something was added
        self._trained_at = 0

    def _count(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if self._index is None or self._count() + len(ids) > self.retrain_growth * self._trained_at:
            chunks = [_without(chunk, ids) for chunk in self._chunks()]
            with self._threads(self.threads if self._count() + len(ids) > 20_000 else 1):
                index, nprobe = self._build([*chunks, (ids, vectors)])
            with self._lock.write():
                self._index, self.nprobe, self._trained_at = index, nprobe, int(index.ntotal)
            return
        with self._lock.write(), self._threads(1 if len(ids) < 64 else self.threads):
            self._index.remove_ids(ids)
            self._index.add_with_ids(vectors, ids)

    @contextmanager
    def _threads(self, count: int) -> Iterator[None]:
        """OpenMP threads for FAISS calls made by this thread (the setting is per thread)."""
        before = self._faiss.omp_get_max_threads()
        self._faiss.omp_set_num_threads(count)
        try:
            yield
        finally:
            self._faiss.omp_set_num_threads(before)

    def _build(self, chunks: list[tuple[np.ndarray, np.ndarray]]) -> tuple[object, int]:
        """A trained IndexIVFFlat holding every chunk, and its measured nprobe."""
        faiss, n = self._faiss, sum(len(i) for i, _ in chunks)
        nlist = max(1, min(int(2 * np.sqrt(n)), n // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist,
                                   faiss.METRIC_INNER_PRODUCT)
        index.cp.niter, index.cp.seed = 10, self.seed
        index.train(_sample(chunks, _TRAIN_PER_CELL * nlist, self.seed)[1])
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        for chunk_ids, chunk_vectors in chunks:
            if len(chunk_ids):
                index.add_with_ids(chunk_vectors, chunk_ids)
        return index, self._calibrate(index, chunks)

    def _calibrate(self, index, chunks: list[tuple[np.ndarray, np.ndarray]]) -> int:
        """Fewest probes reaching target recall@100: stored vectors as queries, each excluded
        from its own answer (so it acts like a new vector), truth from probing every cell."""
        if index.nlist == 1:
            return 1
        ids, queries = _sample(chunks, _CALIBRATION_QUERIES, self.seed + 1)
        k = min(_CALIBRATION_K, int(index.ntotal) - 1)
        params = self._faiss.SearchParametersIVF()
        params.sel = selector = self._faiss.IDSelectorNot(self._faiss.IDSelectorBatch(ids))  # noqa: F841
        params.nprobe = index.nlist
        _, truth = index.search(queries, k, params=params)
        for nprobe in [p for p in _PROBE_STEPS if p < index.nlist]:
            params.nprobe = nprobe
            _, found = index.search(queries, k, params=params)
            hits = sum(len(np.intersect1d(t[t >= 0], f)) for t, f in zip(truth, found))
            if hits >= self.target_recall * (truth >= 0).sum():
                return nprobe
        return index.nlist

    def _chunks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of every cell, as views into FAISS memory (valid until the next write)."""
        if self._index is None:
            return []
        faiss, lists, out = self._faiss, self._index.invlists, []
        for cell in range(self._index.nlist):
            size = lists.list_size(cell)
            if size:
                ids = faiss.rev_swig_ptr(lists.get_ids(cell), size)
                codes = faiss.rev_swig_ptr(lists.get_codes(cell), size * lists.code_size)
                out.append((ids, codes.view(np.float32).reshape(size, self.dim)))
        return out

    def _remove(self, ids: np.ndarray) -> int:
        if self._index is None:
            return 0
        with self._lock.write(), self._threads(1):
            return int(self._index.remove_ids(ids))

    def _search(self, queries: np.ndarray, k: int,
                exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._count())
        if k == 0:
            return np.empty((len(queries), 0), np.int64), np.empty((len(queries), 0), np.float32)
        index, faiss = self._index, self._faiss
        params = faiss.SearchParametersIVF()
        params.nprobe = min(index.nlist, int(np.ceil(self.nprobe * max(1.0, k / _CALIBRATION_K))))
        if len(exclude):
            params.sel = selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(exclude))  # noqa: F841
        while True:  # probe more cells until every query has k results or all cells were seen
            with self._threads(1 if len(queries) == 1 else self.threads):
                scores, ids = index.search(queries, k, params=params)
            found = int((ids >= 0).sum(axis=1).min())
            if found >= k or params.nprobe >= index.nlist:
                return ids[:, :found], scores[:, :found]
            params.nprobe = min(index.nlist, params.nprobe * 4)

    def _get(self, ids: np.ndarray) -> np.ndarray:
        try:
            if self._index is None:
                raise RuntimeError("empty index")
            return self._index.reconstruct_batch(ids)
        except RuntimeError:
            raise _missing(ids, np.isin(ids, self._ids())) from None

    def _ids(self) -> np.ndarray:
        chunks = self._chunks()
        return np.concatenate([i for i, _ in chunks]) if chunks else _NO_IDS.copy()

    def _save(self, path: Path) -> dict:
        if self._index is not None:
            self._faiss.write_index(self._index, str(path / "ivf.faiss"))
        return {"trained_at": self._trained_at, "nprobe": self.nprobe, "seed": self.seed,
                "target_recall": self.target_recall, "retrain_growth": self.retrain_growth}

    @classmethod
    def _load(cls, path: Path, meta: dict) -> IvfIndex:
        index = cls(meta["dim"], target_recall=meta["target_recall"],
                    retrain_growth=meta["retrain_growth"], seed=meta["seed"])
        if (path / "ivf.faiss").is_file():
            index._index = index._faiss.read_index(str(path / "ivf.faiss"))
            index._trained_at, index.nprobe = meta["trained_at"], meta["nprobe"]
        return index


def _without(chunk: tuple[np.ndarray, np.ndarray], ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    drop = np.isin(chunk[0], ids)
    return (chunk[0][~drop], chunk[1][~drop]) if drop.any() else chunk


def _sample(chunks: list[tuple[np.ndarray, np.ndarray]], size: int,
            seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to size (ids, vectors) rows drawn at random from the chunks."""
    sizes = np.array([len(i) for i, _ in chunks])
    picks = np.sort(np.random.default_rng(seed).choice(sizes.sum(), min(size, sizes.sum()),
                                                       replace=False))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    rows = [picks[(picks >= lo) & (picks < hi)] - lo for lo, hi in pairwise(starts)]
    return (np.concatenate([i[r] for (i, _), r in zip(chunks, rows)]),
            np.concatenate([v[r] for (_, v), r in zip(chunks, rows)]))


class AutoIndex(VectorIndex):
    """Exact scan while small; FAISS IVF once it holds more than ``crossover`` vectors.

    The switch happens inside the add() that crosses the line (the IVF index is built while
    searches keep using the exact one) and is one-way: IVF stays accurate when it shrinks.
    """

    kind = "auto"

    def __init__(self, dim: int, *, crossover: int = AUTO_CROSSOVER, **ivf_options: float) -> None:
        super().__init__(dim)
        self.crossover, self._ivf_options = int(crossover), ivf_options
        self._inner: VectorIndex = self._adopt(ExactIndex(self.dim))

    @property
    def active(self) -> str:
        """Which index answers now: "exact" or "ivf"."""
        return self._inner.kind

    def _adopt(self, inner: VectorIndex) -> VectorIndex:
        inner._lock = self._lock  # one lock, so our readers see the inner index's writes
        return inner

    def _count(self) -> int:
        return self._inner._count()

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        inner = self._inner
        if not isinstance(inner, ExactIndex) or inner._count() + len(ids) <= self.crossover:
            inner._add(ids, vectors)
            return
        old_ids, old_vectors = inner._snapshot()
        keep = ~np.isin(old_ids, ids)
        ivf = self._adopt(IvfIndex(self.dim, **self._ivf_options))
        ivf._add(np.concatenate([old_ids[keep], ids]), np.concatenate([old_vectors[keep], vectors]))
        with self._lock.write():
            self._inner = ivf

    def _remove(self, ids: np.ndarray) -> int:
        return self._inner._remove(ids)

    def _search(self, queries: np.ndarray, k: int,
                exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._inner._search(queries, k, exclude)

    def _get(self, ids: np.ndarray) -> np.ndarray:
        return self._inner._get(ids)

    def _ids(self) -> np.ndarray:
        return self._inner._ids()

    def _save(self, path: Path) -> dict:
        return {"crossover": self.crossover, "ivf_options": self._ivf_options,
                "inner": self._inner.kind, "inner_meta": self._inner._save(path)}

    @classmethod
    def _load(cls, path: Path, meta: dict) -> AutoIndex:
        index = cls(meta["dim"], crossover=meta["crossover"], **meta["ivf_options"])
        inner_cls = ExactIndex if meta["inner"] == ExactIndex.kind else IvfIndex
        index._inner = index._adopt(inner_cls._load(path, {"dim": meta["dim"], **meta["inner_meta"]}))
        return index
