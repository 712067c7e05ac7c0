"""Tiny synthetic worlds for the feed, where the right answer is obvious.

``TopicEmbedder`` maps a text to a one-hot vector of its topic (by keyword), with a little
deterministic noise: posts about cooking are close to each other and far from chess.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from townsquare.feed import FeedConfig, ForYouFeed
from townsquare.ingest.loader import Loader
from townsquare.ingest.records import EdgeRecord, InteractionRecord, PostRecord, UserRecord

TOPICS = {
    "cooking": ("cooking", "recipe", "pasta", "bread", "soup", "oven"),
    "chess": ("chess", "opening", "gambit", "endgame", "rook", "checkmate"),
    "politics": ("politics", "election", "vote", "senate", "policy", "minister"),
    "football": ("football", "goal", "match", "league", "striker", "keeper"),
    "music": ("music", "album", "guitar", "concert", "song", "band"),
}
NAMES = list(TOPICS)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MODEL = "test-topics"


class TopicEmbedder:
    """One dimension per topic, found by keyword; unknown texts get the last dimension."""

    model_id, dim = MODEL, 8

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            words = text.lower()
            hits = [t for t, keys in TOPICS.items() if any(k in words for k in keys)]
            for t in hits or []:
                out[i, NAMES.index(t)] = 1.0
            if not hits:
                out[i, self.dim - 1] = 1.0
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
            out[i] += np.random.default_rng(seed).normal(0, 0.05, self.dim).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_one(self, text):
        return self.embed([text])[0]


def topic_text(topic: str, n: int) -> str:
    keys = TOPICS[topic]
    return f"{keys[n % len(keys)]} thoughts number {n}: more about {keys[(n + 1) % len(keys)]}"


class World:
    """Build records, load them, embed every post with the topic embedder."""

    def __init__(self, store) -> None:
        self.store, self.records, self.embedder = store, [], TopicEmbedder()
        self._n = 0

    def user(self, handle: str, **fields) -> str:
        self.records.append(UserRecord(id=handle, handle=handle, created_at=NOW - timedelta(days=60), **fields))
        return handle

    def post(self, author: str, topic: str, *, hours_ago: float = 5.0, pid: str | None = None, **fields) -> str:
        self._n += 1
        pid = pid or f"{author}-{topic}-{self._n}"
        self.records.append(PostRecord(id=pid, author=author, text=fields.pop("text", topic_text(topic, self._n)),
                                       created_at=NOW - timedelta(hours=hours_ago), **fields))
        return pid

    def follow(self, source: str, target: str, kind: str = "follow") -> None:
        self.records.append(EdgeRecord(type=kind, source=source, target=target, created_at=NOW - timedelta(days=30)))

    def act(self, user: str, post: str, kind: str = "like", hours_ago: float = 2.0) -> None:
        self.records.append(InteractionRecord(user=user, post=post, kind=kind,
                                              created_at=NOW - timedelta(hours=hours_ago)))

    def load(self) -> None:
        Loader(self.store).load(self.records)
        self.records = []
        self.embed_all()

    def embed_all(self) -> None:
        from sqlalchemy import select

        from townsquare.storage.schema import posts

        with self.store.begin() as conn:
            rows = conn.execute(select(posts.c.id, posts.c.text)).all()
            self.store.vectors.put_posts(conn, self.embedder.model_id, [r[0] for r in rows],
                                         self.embedder.embed([r[1] for r in rows]))

    def feed(self, **config) -> ForYouFeed:
        return ForYouFeed(self.store, FeedConfig(**config), embedder=self.embedder)


def pid(store, external: str) -> int:
    return store.find_post(external)["id"]


@pytest.fixture
def world(sqlite_store) -> World:
    return World(sqlite_store)


@pytest.fixture
def any_world(store) -> World:
    """A world on every storage backend (SQLite and PostgreSQL)."""
    return World(store)


@pytest.fixture
def now() -> float:
    return NOW.timestamp()
