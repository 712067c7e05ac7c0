"""Synthetic users as numpy columns: interests, power-law popularity, activity, voice bits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np

from townsquare.demo.phrasebook import Phrasebook

LANGUAGES = ("en", "es", "de")


class SyntheticUsers:
    """``count`` users; ``topics`` holds up to 3 topic indices per user, -1 where unused."""

    def __init__(self, count: int, n_topics: int, rng: np.random.Generator, start: float):
        self.count = count
        self.ids = [f"u{i}" for i in range(count)]
        self.ids_array = np.array(self.ids, dtype=object)
        # Topic shares follow a mild Zipf law so some topics are busier than others.
        share = 1.0 / (np.arange(n_topics) + 2.0) ** 0.6
        self.topic_share = share[rng.permutation(n_topics)] / share.sum()
        keys = np.log(self.topic_share)[None, :] + rng.gumbel(size=(count, n_topics))  # Gumbel top-k
        self.n_topics = rng.choice([1, 2, 3], size=count, p=[0.3, 0.5, 0.2])
        self.topics = np.argsort(-keys, axis=1)[:, :3]
        self.topics[np.arange(3)[None, :] >= self.n_topics[:, None]] = -1
        self.popularity = rng.pareto(1.2, count) + 1.0
        self.activity = rng.lognormal(0.0, 1.0, count)
        self.language = np.array(LANGUAGES, dtype=object)[rng.choice(3, size=count, p=[0.97, 0.015, 0.015])].tolist()
        # Voice bits: 1 lowercase, 2 emoji, 4 exclamation.
        self.style = ((rng.random(count) < 0.15) * 1 + (rng.random(count) < 0.25) * 2
                      + (rng.random(count) < 0.12) * 4).astype(np.int8)
        self.style_list = self.style.tolist()
        self.joined = start - rng.uniform(86400.0, 7 * 365 * 86400.0, count)
        self.handle: list[str] = []
        self._cum_activity = np.cumsum(self.activity)
        self._cum_popularity = np.cumsum(self.popularity)
        self._members = self._by_topic(n_topics)

    def _by_topic(self, n_topics: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        members = []
        for t in range(n_topics):
            users = np.nonzero((self.topics == t).any(axis=1))[0]
            if len(users) == 0:  # tiny worlds: anyone may speak for an empty topic
                users = np.arange(self.count)
            members.append((users, np.cumsum(self.activity[users]), np.cumsum(self.popularity[users])))
        return members

    @staticmethod
    def _draw(rng: np.random.Generator, cum: np.ndarray, k: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cum, rng.random(k) * cum[-1], side="right"), len(cum) - 1)

    def sample_active(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """Users in proportion to how active they are."""
        return self._draw(rng, self._cum_activity, k)

    def sample_popular(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """Users in proportion to their (power-law) popularity."""
        return self._draw(rng, self._cum_popularity, k)

    def sample_topic(self, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
        """One of each user's interests, the first most often (0.6 / 0.3 / 0.1)."""
        weights = np.array([0.6, 0.3, 0.1])[None, :] * (self.topics[users] >= 0)
        cum = np.cumsum(weights, axis=1)
        slot = (rng.random(len(users))[:, None] * cum[:, -1:] >= cum).sum(axis=1)
        return self.topics[users, np.minimum(slot, 2)]

    def sample_by_topic(self, rng: np.random.Generator, topics: np.ndarray, weight: str = "activity") -> np.ndarray:
        """For each topic, a user interested in it, by activity or popularity."""
        out = np.empty(len(topics), np.int64)
        for t, (users, cum_activity, cum_popularity) in enumerate(self._members):
            where = np.nonzero(topics == t)[0]
            if len(where):
                cum = cum_activity if weight == "activity" else cum_popularity
                out[where] = users[self._draw(rng, cum, len(where))]
        return out

    def interested(self, users: np.ndarray, topics: np.ndarray) -> np.ndarray:
        return (self.topics[users] == topics[:, None]).any(axis=1)

    def batches(self, book: Phrasebook, rng: np.random.Generator, size: int) -> Iterator[list[tuple]]:
        """User rows; also fills ``handle`` (replies need the handles of their parents' authors)."""
        for lo in range(0, self.count, size):
            hi = min(self.count, lo + size)
            draws = rng.random((hi - lo, 4)).tolist()
            rows = []
            for offset, i in enumerate(range(lo, hi)):
                d, topics = draws[offset], [int(t) for t in self.topics[i] if t >= 0]
                first = book.first_names[int(d[0] * len(book.first_names))]
                last = book.last_names[int(d[1] * len(book.last_names))]
                handle = f"{first.lower()}_{book.phrases[topics[0]].hashtags[0]}{i}"
                self.handle.append(handle)
                rows.append((self.ids[i], handle, f"{first} {last}", book.bio(topics[0], d[2], d[3]),
                             self.language[i], datetime.fromtimestamp(float(self.joined[i]), UTC),
                             [book.names[t] for t in topics]))
            yield rows
