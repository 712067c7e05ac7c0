"""The feed's collaborative models: item-item co-engagement and matrix factorisation (``implicit`` ALS).

Both come from ``townsquare.recommenders`` and are trained on the positive engagements the
``FeedIndex`` holds; this module adds the maps between matrix rows/columns and user/post ids,
the fold-in of a user's newest likes, and saving a versioned folder that every worker loads.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sqlalchemy.engine import make_url

from townsquare.errors import NotFoundError
from townsquare.feed.index import POSITIVE, FeedIndex
from townsquare.recommenders import ALSRecommender, ItemKNNRecommender, Recommender

KEEP_VERSIONS = 2  # the newest versions kept in a folder: the one served, and the one before it


def models_folder(settings) -> Path:
    """Where the collaborative models of ``settings``' database live: ``DATA_DIR/feed/collaborative/<database>``,
    named by the database's file or server and name (never its password), so that databases that share a
    data folder never serve each other's models (their post ids mean different posts)."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        where = str(Path(url.database or "").resolve())
    else:
        where = f"{url.host}:{url.port}/{url.database}"
    digest = hashlib.sha1(where.encode(), usedforsecurity=False).hexdigest()[:12]
    return Path(settings.data_dir) / "feed" / "collaborative" / f"{url.get_backend_name()}-{digest}"


def forget_users(folder: Path, user_ids: Sequence[int]) -> int:
    """Take ``user_ids`` out of every version in ``folder`` that holds them (their rows of likes and their
    factors), each saved as a new version that running workers load within ``MODELS_CHECK_S``, the old
    one removed. Their likes still count, with everyone's, in the item similarities and item factors
    until the next ``train collaborative``. Returns how many versions changed."""
    changed = 0
    for version in _versions(folder):
        models = CollaborativeModels.load(Path(folder) / version)
        forgotten = models.without_users(user_ids)
        if forgotten is not None:
            forgotten.save(folder, keep=None)
            shutil.rmtree(Path(folder) / version, ignore_errors=True)
            changed += 1
    for version in _versions(Path(folder).parent):  # saved before models had a folder per database: unused
        shutil.rmtree(Path(folder).parent / version, ignore_errors=True)
        changed += 1
    return changed


def _versions(folder: Path) -> list[str]:
    """Complete versions under ``folder``, oldest first."""
    return sorted(p.parent.name for p in Path(folder).glob("*/done.json"))


def _lookup(ids: np.ndarray, size: int) -> np.ndarray:
    out = np.full(max(size, int(ids.max(initial=-1)) + 1), -1, np.int64)
    out[ids] = np.arange(len(ids))
    return out


class CollaborativeModels:
    """Fitted item-item and ALS models over one users x posts matrix, with id maps."""

    def __init__(self, user_ids: np.ndarray, post_ids: np.ndarray, neighbours: Recommender | None,
                 factors: ALSRecommender | None, post_time: np.ndarray, version: str = "") -> None:
        self.user_ids, self.post_ids, self.version = user_ids, post_ids, version
        self.neighbours, self.factors = neighbours, factors
        self.row_of, self.col_of = _lookup(user_ids, 0), _lookup(post_ids, 0)
        self.post_time = post_time  # creation time of each column's post, for "recent columns"
        self._gram = None
        self._recent: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def train(cls, index: FeedIndex, *, min_support: int = 2, neighbours: int = 50, factors: int = 64,
              iterations: int = 15, threads: int = 0) -> CollaborativeModels:
        user, post, _ = index.engagements(POSITIVE)
        posts, counts = np.unique(post, return_counts=True)
        keep_posts = posts[counts >= min_support]
        keep = np.isin(post, keep_posts)
        user, post = user[keep], post[keep]
        users = np.unique(user)
        if not len(users) or not len(keep_posts):
            raise NotFoundError("no post has enough positive engagements to train collaborative models; "
                                f"need posts liked, replied to or reposted by at least {min_support} users")
        rows, cols = np.searchsorted(users, user), np.searchsorted(keep_posts, post)
        matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(users), len(keep_posts)))
        matrix.sum_duplicates()
        from threadpoolctl import threadpool_limits

        knn = ItemKNNRecommender(k=neighbours).fit(matrix)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit parallelises itself and warns about BLAS threads, which are limited right here
            warnings.filterwarnings("ignore", "OpenBLAS is configured", RuntimeWarning)
            als = ALSRecommender(factors=factors, iterations=iterations, threads=threads).fit(matrix)
        return cls(users, keep_posts, knn, als, index.post_time[keep_posts], time.strftime("%Y%m%dT%H%M%S"))

    # -- serving ----------------------------------------------------------------------------
    def neighbours_of(self, post: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Posts most co-engaged with ``post`` and their similarity."""
        col = self.col_of[post] if 0 <= post < len(self.col_of) else -1
        if self.neighbours is None or col < 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        sim = self.neighbours.similarity
        lo, hi = sim.indptr[col], sim.indptr[col + 1]
        data, idx = sim.data[lo:hi], sim.indices[lo:hi]
        best = np.argsort(-data, kind="stable")[:n]
        return self.post_ids[idx[best]], data[best]

    def user_vector(self, user: int, liked: np.ndarray) -> np.ndarray | None:
        """The user's factors: fitted ones, or a least-squares fold-in of ``liked`` (as ALS solves a user)."""
        if self.factors is None:
            return None
        row = self.row_of[user] if 0 <= user < len(self.row_of) else -1
        cols = self.col_of[liked[(liked >= 0) & (liked < len(self.col_of))]]
        cols = cols[cols >= 0]
        if row >= 0 and len(cols) <= self.factors.user_items[row].nnz:
            return self.factors.user_factors[row]
        if not len(cols):
            return None
        y = self.factors.item_factors.astype(np.float64)
        if self._gram is None:
            self._gram = y.T @ y + self.factors.regularization * np.eye(y.shape[1])
        yi, c = y[cols], self.factors.alpha  # confidence alpha * 1 per like, as implicit trains it
        return np.linalg.solve(self._gram + (c - 1.0) * yi.T @ yi, c * yi.sum(axis=0)).astype(np.float32)

    def recent_items(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(post ids, item factors) of the ``n`` newest posts the model knows, as one contiguous matrix."""
        if n not in self._recent:
            cols = np.arange(len(self.post_time)) if len(self.post_time) <= n else \
                np.argpartition(-self.post_time, n - 1)[:n]
            self._recent = {n: (self.post_ids[cols], np.ascontiguousarray(self.factors.item_factors[cols]))}
        return self._recent[n]

    def without_users(self, user_ids: Sequence[int]) -> CollaborativeModels | None:
        """These models less the rows of ``user_ids``, as a new version; None when they hold none of them."""
        ids = np.asarray(list(user_ids), np.int64)
        rows = self.row_of[ids[(ids >= 0) & (ids < len(self.row_of))]]
        rows = rows[rows >= 0]
        if not len(rows):
            return None
        keep = np.ones(len(self.user_ids), bool)
        keep[rows] = False
        for model in (self.neighbours, self.factors):
            if model is not None and model.user_items is not None:
                model.user_items = model.user_items[keep]
        if self.factors is not None:
            self.factors.user_factors = np.ascontiguousarray(self.factors.user_factors[keep])
        return CollaborativeModels(self.user_ids[keep], self.post_ids, self.neighbours, self.factors, self.post_time,
                                   f"{self.version}-f{time.strftime('%Y%m%dT%H%M%S')}")

    # -- files ------------------------------------------------------------------------------
    def save(self, folder: Path, keep: int | None = KEEP_VERSIONS) -> Path:
        """Write a new version folder under ``folder``; the newest one is what workers load. All but the newest
        ``keep`` versions are then removed (each holds its users' likes: none lingers in old copies)."""
        target = Path(folder) / self.version
        target.mkdir(parents=True, exist_ok=True)
        np.savez(target / "ids.npz", user_ids=self.user_ids, post_ids=self.post_ids, post_time=self.post_time)
        self.neighbours.save(target / "neighbours.npz")
        self.factors.save(target / "factors.npz")
        (target / "done.json").write_text(json.dumps({"version": self.version, "users": len(self.user_ids),
                                                      "posts": len(self.post_ids)}))
        if keep is not None:
            for old in _versions(folder)[:-keep]:
                shutil.rmtree(Path(folder) / old, ignore_errors=True)
            if Path(folder).parent.name == "collaborative":  # versions saved before the folder per database
                for old in _versions(Path(folder).parent):
                    shutil.rmtree(Path(folder).parent / old, ignore_errors=True)
        return target

    @staticmethod
    def latest_version(folder: Path) -> str | None:
        """The newest complete version's name under ``folder`` (None: none trained)."""
        versions = _versions(folder)
        return versions[-1] if versions else None

    @classmethod
    def load_latest(cls, folder: Path) -> CollaborativeModels | None:
        version = cls.latest_version(folder)
        return None if version is None else cls.load(Path(folder) / version)

    @classmethod
    def load(cls, path: Path) -> CollaborativeModels:
        with np.load(path / "ids.npz") as ids:
            user_ids, post_ids, post_time = ids["user_ids"], ids["post_ids"], ids["post_time"]
        return cls(user_ids, post_ids, Recommender.load(path / "neighbours.npz"),
                   Recommender.load(path / "factors.npz"), post_time, path.name)
