"""The demo community: ~100 members, ~1,800 posts over 20 topics, follows and ~30k interactions.

Everything is written for townsquare and composed from the phrase banks in ``banks/``; the same
seed gives the same community. Timestamps cover the 30 days before ``DEMO_END``, or before
any other ``end`` the records are asked for: ``townsquare demo load`` loads the community as of
the moment it first loads it, so that its posts are recent ("this week" finds some) whatever the
date. Moving the end moves every timestamp by the same amount and changes nothing else.

    for record in demo_records():        # users, posts (parents first), edges, interactions
        ...
    demo_records(end=datetime.now(UTC))   # the same community, ending now
    demo_labels()                         # {"p00123": "toxic" | "misleading" | "pii", ...}
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from townsquare.demo.activity import Edge, make_blocks_and_mutes, make_follows
from townsquare.demo.content import load_banks
from townsquare.demo.engagement import KINDS, EngagementModel, Interactions
from townsquare.demo.people import DemoUser, UserFactory
from townsquare.demo.threads import DemoPost, TimelineBuilder
from townsquare.ingest.records import EdgeRecord, InteractionKind, InteractionRecord, PostRecord, UserRecord

DEMO_END = datetime(2026, 11, 20, tzinfo=UTC)
DEMO_DAYS = 30

DemoRecord = UserRecord | PostRecord | EdgeRecord | InteractionRecord


@dataclass(frozen=True)
class DemoCommunity:
    """The generated community with what the records leave out (topics, voices, labels)."""

    users: list[DemoUser]
    posts: list[DemoPost]  # in time order
    follows: list[Edge]
    blocks: list[Edge]
    mutes: list[Edge]
    interactions: Interactions

    @property
    def labels(self) -> dict[str, str]:
        return {p.id: p.label for p in self.posts if p.label is not None}

    def records(self, end: datetime = DEMO_END) -> Iterator[DemoRecord]:
        """Users, then posts in time order, then follow/block/mute edges, then interactions; every
        timestamp moved by ``end - DEMO_END``."""
        shift = end - DEMO_END
        for user in self.users:
            yield UserRecord(id=user.id, handle=user.handle, display_name=user.display_name, bio=user.bio,
                             language=user.language, created_at=user.created_at + shift, interests=user.interests)
        for post in self.posts:
            yield PostRecord(
                id=post.id, author=post.author.id, text=post.text, created_at=post.created_at + shift,
                language=post.language,
                reply_to=post.parent.id if post.parent else None,
                quote_of=post.quoted.id if post.quoted and post.kind == "quote" else None,
                repost_of=post.quoted.id if post.quoted and post.kind == "repost" else None)
        for edge in self.follows + self.blocks + self.mutes:
            yield EdgeRecord(type=edge.type, source=self.users[edge.source].id, target=self.users[edge.target].id,
                             created_at=edge.created_at + shift)
        yield from self._interaction_records(shift.total_seconds())

    def _interaction_records(self, shift_s: float) -> Iterator[InteractionRecord]:
        kinds = [InteractionKind(k) for k in KINDS]
        history = self.interactions
        for u, p, k, at, value in zip(history.user.tolist(), history.post.tolist(), history.kind.tolist(),
                                      (history.at + shift_s).tolist(), history.value.tolist()):
            yield InteractionRecord(user=self.users[u].id, post=self.posts[p].id, kind=kinds[k],
                                    created_at=datetime.fromtimestamp(at, UTC),
                                    value=None if math.isnan(value) else value)


def build_community(seed: int = 0) -> DemoCommunity:
    """Generate the whole demo community for a seed (deterministic, about a second)."""
    banks = load_banks()
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    start = DEMO_END - timedelta(days=DEMO_DAYS)
    users = UserFactory(banks, rng, start).build()
    follows = make_follows(users, np_rng, start, DEMO_END)
    following: dict[int, list[int]] = {}
    for edge in follows:
        following.setdefault(edge.source, []).append(edge.target)
    posts = TimelineBuilder(banks, rng, users, following, start, DEMO_END).build()
    blocks, mutes = make_blocks_and_mutes(users, posts, follows, rng, DEMO_END)
    hidden = blocks + mutes + [Edge("block", e.target, e.source, e.created_at) for e in blocks]
    interactions = EngagementModel(users, posts, follows, hidden, DEMO_END).draw(np_rng)
    return DemoCommunity(users=users, posts=posts, follows=follows, blocks=blocks, mutes=mutes,
                         interactions=interactions)


def demo_records(seed: int = 0, end: datetime = DEMO_END) -> Iterator[DemoRecord]:
    """Every record of the demo community, in dependency order, its last moments just before ``end``;
    the same seed and end, the same records."""
    yield from build_community(seed).records(end)


def demo_labels(seed: int = 0) -> dict[str, str]:
    """External post id -> "toxic", "misleading" or "pii" for the posts moderation should find."""
    return build_community(seed).labels
