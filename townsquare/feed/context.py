"""``FeedContext``: one feed request's user, computed at request time from the index and the tables.

Everything per user is derived here, now: whom they follow, block and mute (both ways, read from
the database so a block counts at once), what they have seen, their affinity with each author
(time-decayed engagement), their recent likes, what the people they follow engaged with, their
interest vectors and steering. Nothing is a precomputed per-user list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from townsquare.feed.config import FeedConfig
from townsquare.feed.index import AFFINITY, POSITIVE, PUBLIC_POSITIVE, FeedIndex
from townsquare.feed.state import InterestBook, InterestState
from townsquare.feed.steering import SteeringBook, SteeringPhrase
from townsquare.feed.store_io import epoch_sql, fetch_rows

AFFINITY_HALF_LIFE_DAYS = 30.0
SOCIAL_WINDOW_DAYS = 7.0


@dataclass
class FeedEnv:
    """What components reach at request time; built once per process by ``ForYouFeed``."""

    store: Any
    index: FeedIndex
    config: FeedConfig
    interests: InterestBook
    steering: SteeringBook
    rankers: Any  # RankerRegistry
    embedder: Any = None
    moderation: Any = None  # ModerationProvider


@dataclass
class Relations:
    follows: np.ndarray
    followers: frozenset[int]
    excluded: dict[int, str]  # author -> why (blocked / muted, either way)


@dataclass
class FeedContext:
    env: FeedEnv
    user: dict
    now: float
    relations: Relations
    interests: InterestState
    steering: list[SteeringPhrase]
    exclude_posts: frozenset[int] = frozenset()
    probe: int | None = None
    scratch: dict = field(default_factory=dict)

    @property
    def user_id(self) -> int:
        return int(self.user["id"])

    @property
    def index(self) -> FeedIndex:
        return self.env.index

    @property
    def config(self) -> FeedConfig:
        return self.env.config

    @cached_property
    def follow_set(self) -> frozenset[int]:
        return frozenset(self.relations.follows.tolist())

    def follows(self, users: np.ndarray) -> np.ndarray:
        """Which of ``users`` the user follows (-1 and unknown ids: no)."""
        return _member(self._follows_table, users)

    def followed_by(self, users: np.ndarray) -> np.ndarray:
        """Which of ``users`` follow the user."""
        return _member(self._followers_table, users)

    @cached_property
    def _follows_table(self) -> np.ndarray:
        return _table(self.relations.follows)

    @cached_property
    def _followers_table(self) -> np.ndarray:
        return _table(np.fromiter(self.relations.followers, np.int64, len(self.relations.followers)))

    @cached_property
    def history(self) -> dict[str, np.ndarray]:
        return self.index.history(self.user_id)

    @cached_property
    def seen(self) -> np.ndarray:
        """Posts the user has interacted with in any way (sorted)."""
        return np.unique(self.history["post"])

    @cached_property
    def user_factors(self) -> np.ndarray | None:
        """The user's factors in the collaborative models (fitted, or folded in from their likes); None without
        models, factors or likes they know. The factorisation source and the ``factor_score`` feature share it."""
        models = self.index.collaborative
        return None if models is None else models.user_vector(self.user_id, self.positives)

    @cached_property
    def positives(self) -> np.ndarray:
        """Posts the user engaged with positively, most recent first, each once."""
        h = self.history
        posts = h["post"][np.isin(h["kind"], POSITIVE)][::-1]
        _, first = np.unique(posts, return_index=True)
        return posts[np.sort(first)]

    @cached_property
    def affinity(self) -> tuple[np.ndarray, np.ndarray]:
        """(authors sorted, affinity of each): time-decayed weighted engagement, negative when hidden."""
        h = self.history
        weight = AFFINITY[h["kind"]] * np.exp(-np.maximum(self.now - h["time"], 0) / (AFFINITY_HALF_LIFE_DAYS * 86400
                                                                                      / math.log(2)))
        authors = self.index.authors_of(h["post"])
        keep = (weight != 0) & (authors >= 0)
        unique, inverse = np.unique(authors[keep], return_inverse=True)
        return unique, np.bincount(inverse, weights=weight[keep], minlength=len(unique))

    def affinity_of(self, authors: np.ndarray) -> np.ndarray:
        known, values = self.affinity
        if not len(known):
            return np.zeros(len(authors))
        at = np.clip(np.searchsorted(known, authors), 0, len(known) - 1)
        return np.where(known[at] == authors, values[at], 0.0)

    @cached_property
    def social_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(posts, people): each followed person's public engagements of the last week (likes, replies and
        reposts, their last 30; never a bookmark or share, which are theirs to know), every (post, person) pair
        once, in the order met: people by affinity, then by time."""
        follows, empty = self.relations.follows, np.zeros(0, np.int64)
        if not len(follows):
            return empty, empty
        ranked = follows[np.argsort(-self.affinity_of(follows), kind="stable")][:300]
        since = self.now - SOCIAL_WINDOW_DAYS * 86400
        person, rows = self.index.histories(ranked)
        mask = np.isin(rows["kind"], PUBLIC_POSITIVE) & (rows["time"] >= since)
        person, posts = person[mask], rows["post"][mask]
        ends = np.cumsum(np.bincount(person, minlength=len(ranked)))
        recent = ends[person] - np.arange(len(person)) <= 30  # each person's last 30
        person, posts = person[recent], posts[recent]
        if not len(posts):
            return empty, empty
        _, first = np.unique(posts * len(ranked) + person, return_index=True)
        first.sort()
        return posts[first], ranked[person[first]]

    def social_proof(self, posts: np.ndarray) -> np.ndarray:
        """How many followed people engaged with each of ``posts`` this week (``social_pairs``, counted)."""
        engaged, counts = self._social_counts
        if not len(engaged):
            return np.zeros(len(posts))
        at = np.minimum(np.searchsorted(engaged, posts), len(engaged) - 1)
        return np.where(engaged[at] == posts, counts[at], 0.0)

    @cached_property
    def _social_counts(self) -> tuple[np.ndarray, np.ndarray]:
        engaged, counts = np.unique(self.social_pairs[0], return_counts=True)
        return engaged, counts.astype(np.float64)

    @cached_property
    def languages(self) -> frozenset[int]:
        """Language codes (index's) the user reads: their own, and any they engaged with twice."""
        index = self.index
        codes = {index.languages.get(self.user.get("language") or "en", -1)}
        langs = index.post_lang[self.positives[self.positives < len(index.post_lang)]]
        values, counts = np.unique(langs, return_counts=True)
        codes.update(values[counts >= 2].tolist())
        return frozenset(codes)

    @property
    def cold(self) -> bool:
        return len(self.positives) < 5


def _table(ids: np.ndarray) -> np.ndarray:
    """A membership table for ids >= 0, shifted by one: cell 0 (id -1) and the last cell are False."""
    table = np.zeros(int(ids.max()) + 3 if len(ids) else 1, bool)
    table[ids + 1] = True
    return table


def _member(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``np.isin(ids, members)`` as one gather: a feed request asks it of the same few hundred
    people several times, and ``np.isin``'s own setup cost more than the lookups."""
    return table.take(np.asarray(ids, np.int64) + 1, mode="clip")


def read_relations(store, user_id: int, until=None) -> Relations:
    """Follows (out), followers (in), and the authors excluded: those the user blocks or mutes and those who
    block the user (who are then neither followed nor followers here). Someone who mutes the user is not
    excluded: a mute only quiets the muter's own feed, and is theirs alone to know (``storage.visibility``)."""
    when = f" AND {epoch_sql(store, 'created_at')} < :until" if until is not None else ""
    sql = (f"SELECT target_id, kind, 1 FROM edges WHERE source_id = :user{when} UNION ALL "
           f"SELECT source_id, kind, 0 FROM edges WHERE target_id = :user{when}")
    params = {"user": user_id, **({"until": until.timestamp()} if until is not None else {})}
    follows, followers, excluded = [], set(), {}
    with store.read() as conn:
        for other, kind, mine in fetch_rows(conn, sql, params):
            if kind == "follow":
                (follows.append(other) if mine else followers.add(other))
            elif kind == "mute" and not mine:
                continue
            else:
                verb = "blocked" if kind == "block" else "muted"
                excluded.setdefault(other, f"you {verb} them" if mine else f"they {verb} you")
    # A block or mute, either way, outweighs a follow: such a person's reposts and likes are not shown either.
    follows = [other for other in follows if other not in excluded]
    followers -= excluded.keys()
    return Relations(np.array(sorted(follows), np.int64), frozenset(followers), excluded)


def build_context(env: FeedEnv, user: dict, now: float, *, exclude_posts=frozenset(), probe: int | None = None,
                  until=None) -> FeedContext:
    return FeedContext(env=env, user=user, now=now, relations=read_relations(env.store, int(user["id"]), until),
                       interests=env.interests.get(user), steering=env.steering.list(int(user["id"])),
                       exclude_posts=frozenset(exclude_posts), probe=probe)

