"""Who follows, blocks and mutes whom in the demo community.

Follows come mostly from shared interests and popularity; blocks answer abuse, mutes answer
misleading posts, plus a few personal frictions.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from townsquare.demo.people import DemoUser
from townsquare.demo.threads import DemoPost


@dataclass(frozen=True)
class Edge:
    type: str  # follow | block | mute
    source: int  # user index
    target: int
    created_at: datetime


def make_follows(users: Sequence[DemoUser], rng: np.random.Generator, start: datetime, end: datetime) -> list[Edge]:
    """About 16 follows per member, mostly towards popular members who share an interest."""
    topics = sorted({t for u in users for t in u.topics + u.secondary})
    main = np.array([[1.0 if t in u.topics else 0.0 for t in topics] for u in users])
    extra = np.array([[1.0 if t in u.secondary else 0.0 for t in topics] for u in users])
    shared = main @ main.T + 0.3 * (main @ extra.T + extra @ main.T)
    popularity = np.array([u.popularity for u in users])
    weights = (0.04 + shared) * popularity[None, :] ** 0.8
    roles = np.array([u.role for u in users])
    weights[:, roles == "troll"] *= 0.05
    weights[:, roles == "misinformer"] *= 0.3
    english = np.array([u.language == "en" for u in users])
    weights[np.ix_(english, ~english)] *= 0.4
    np.fill_diagonal(weights, 0.0)
    counts = np.clip(np.round(rng.lognormal(math.log(14), 0.5, len(users))), 3, 45).astype(int)
    edges = []
    for source, user in enumerate(users):
        p = weights[source] / weights[source].sum()
        for target in sorted(rng.choice(len(users), size=counts[source], replace=False, p=p).tolist()):
            edges.append(Edge("follow", source, target, _edge_time(rng, user, users[target], start, end)))
    return edges


def _edge_time(rng: np.random.Generator, a: DemoUser, b: DemoUser, start: datetime, end: datetime) -> datetime:
    lo = max(a.created_at, b.created_at)
    hi = start if lo < start and rng.random() < 0.85 else end
    return (lo + timedelta(seconds=float(rng.uniform(0, (hi - lo).total_seconds())))).replace(microsecond=0)


def make_blocks_and_mutes(users: Sequence[DemoUser], posts: Sequence[DemoPost], follows: list[Edge],
                          rng: random.Random, end: datetime) -> tuple[list[Edge], list[Edge]]:
    """Targets of abuse block their abusers; readers mute the spreaders of misleading posts."""
    blocks: dict[tuple[int, int], Edge] = {}
    mutes: dict[tuple[int, int], Edge] = {}

    def edge(kind: str, source: DemoUser, target: DemoUser, after: datetime) -> Edge:
        moment = max(after, source.created_at, target.created_at) + timedelta(minutes=rng.uniform(5, 600))
        return Edge(kind, source.index, target.index, min(end - timedelta(seconds=1), moment).replace(microsecond=0))

    for post in posts:
        if post.label == "toxic" and post.parent is not None and rng.random() < 0.75:
            key = (post.parent.author.index, post.author.index)
            blocks.setdefault(key, edge("block", post.parent.author, post.author, post.created_at))
        if post.label == "misleading":
            readers = [u for u in users if post.topic in u.topics and u.role == "regular" and u is not post.author]
            for reader in rng.sample(readers, min(len(readers), rng.choice([0, 1, 1, 2]))):
                mutes.setdefault((reader.index, post.author.index), edge("mute", reader, post.author, post.created_at))
    regulars = [u for u in users if u.role == "regular"]
    for kind, table in (("block", blocks), ("mute", mutes)):
        for _ in range(3):  # a few personal frictions that have nothing to do with moderation
            a, b = rng.sample(regulars, 2)
            table.setdefault((a.index, b.index), edge(kind, a, b, end - timedelta(days=20)))
    blocked = set(blocks)
    follows[:] = [e for e in follows if (e.source, e.target) not in blocked and (e.target, e.source) not in blocked]
    by_time = lambda e: (e.created_at, e.source, e.target)
    return sorted(blocks.values(), key=by_time), sorted(mutes.values(), key=by_time)
