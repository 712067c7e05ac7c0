"""The demo community's shape at benchmark scale: 100k users, 1M posts, 10M interactions.

Same topics and phrase banks as the demo; users have 1-3 interests and power-law popularity,
follows go mostly to popular users who share an interest, 30% of posts are replies in threads,
5% quotes and reposts, and interactions come from interest-driven impressions of posts by
popular authors.

``synthetic_batches`` yields ``(table, rows)`` in dependency order (all users, all posts with
parents first, all edges, then interactions), each ``rows`` a list of plain tuples:

    users         (id, handle, display_name, bio, language, created_at, interests)
    posts         (id, author, text, created_at, reply_to, quote_of, repost_of, language, hashtags, mentions)
    edges         (type, source, target, created_at)              type: follow | block | mute
    interactions  (user, post, kind, created_at, value)          value: dwell ms, else None

Ids are external ids ("u123", "p456"); created_at is a timezone-aware UTC datetime; hashtags
and mentions are the sorted lowercase lists ``PostRecord`` would derive from the text.
Interactions are not in time order. ``synthetic_records`` wraps the same rows as records
(built without validation).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np

from townsquare.demo.community import DEMO_DAYS, DEMO_END
from townsquare.demo.content import load_banks
from townsquare.demo.phrasebook import Phrasebook
from townsquare.demo.synthetic_users import SyntheticUsers
from townsquare.demo.threads import HOUR_WEIGHTS
from townsquare.errors import InputError
from townsquare.ingest.records import EdgeRecord, InteractionKind, InteractionRecord, PostRecord, UserRecord

USER_FIELDS = ("id", "handle", "display_name", "bio", "language", "created_at", "interests")
POST_FIELDS = ("id", "author", "text", "created_at", "reply_to", "quote_of", "repost_of", "language",
               "hashtags", "mentions")
EDGE_FIELDS = ("type", "source", "target", "created_at")
INTERACTION_FIELDS = ("user", "post", "kind", "created_at", "value")

ORIGINAL, REPLY, QUOTE, REPOST = 0, 1, 2, 3
KINDS = np.array(["view", "dwell", "click", "like", "bookmark", "share", "hide", "not_interested", "report",
                  "reply", "repost"], dtype=object)
# Chance of each follow-up to an impression: (base, extra when the topic is one of the user's).
FOLLOW_UPS = {2: (0.06, 0.10), 3: (0.02, 0.13), 4: (0.004, 0.03), 5: (0.002, 0.012), 6: (0.022, -0.02),
              7: (0.027, -0.025), 8: (0.0008, 0.0)}
_fromts = datetime.fromtimestamp


def _dates(seconds: np.ndarray) -> list[datetime]:
    return [_fromts(s, UTC) for s in seconds.tolist()]


class SyntheticPosts:
    """Post columns (kind, author, topic, time, parent) drawn with numpy; texts composed per batch."""

    def __init__(self, users: SyntheticUsers, count: int, rng: np.random.Generator, start: float, end: float):
        self.users, self.rng, self.count = users, rng, count
        hours = rng.choice(24, size=count, p=np.array(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS))
        days = rng.integers(0, max(1, round((end - start) / 86400)), count)
        self.at = np.sort(np.minimum(start + days * 86400.0 + hours * 3600.0 + rng.random(count) * 3600.0, end - 1))
        self.kind = rng.choice(4, size=count, p=[0.65, 0.30, 0.02, 0.03]).astype(np.int8)
        self.kind[:100] = ORIGINAL  # the first posts have nothing to answer
        self.author = np.full(count, -1, np.int64)
        self.topic = np.full(count, -1, np.int64)
        self.parent = np.full(count, -1, np.int64)
        self._link()
        self.ids = np.array([f"p{i}" for i in range(count)], dtype=object)

    def _link(self) -> None:
        """Originals get authors and topics; derived posts answer an earlier post on its topic."""
        rng, users = self.rng, self.users
        originals = np.nonzero(self.kind == ORIGINAL)[0]
        self.author[originals] = users.sample_active(rng, len(originals))
        self.topic[originals] = users.sample_topic(rng, self.author[originals])
        derived = np.nonzero(self.kind != ORIGINAL)[0]
        if len(derived) == 0:
            return
        targets = np.nonzero(self.kind != REPOST)[0]
        before = np.searchsorted(targets, derived)  # earlier posts one may answer (>= 100)
        reach = np.minimum(before, max(50, self.count // 30))[:, None]  # about the last day
        picks = before[:, None] - 1 - np.floor(rng.random((len(derived), 3)) ** 2 * reach).astype(np.int64)
        candidates = targets[picks]
        # Three recent candidates; the one by the most popular author wins (replies rank low).
        is_original = self.kind[candidates] == ORIGINAL
        appeal = np.where(is_original, users.popularity[np.maximum(self.author[candidates], 0)],
                          rng.random(candidates.shape) * 1.5)
        self.parent[derived] = candidates[np.arange(len(derived)), appeal.argmax(axis=1)]
        while (missing := derived[self.topic[derived] < 0]).size:
            self.topic[missing] = self.topic[self.parent[missing]]
        self.author[derived] = users.sample_by_topic(rng, self.topic[derived])

    def batches(self, book: Phrasebook, size: int) -> Iterator[list[tuple]]:
        for lo in range(0, self.count, size):
            yield self._rows(book, lo, min(self.count, lo + size))

    def _rows(self, book: Phrasebook, lo: int, hi: int) -> list[tuple]:
        users, ids, authors_all = self.users, self.ids, self.author
        draws = self.rng.random((hi - lo, 8)).tolist()  # plain floats: numpy scalars are slow here
        dates = _dates(self.at[lo:hi])
        kinds, authors, styles = self.kind[lo:hi].tolist(), self.author[lo:hi].tolist(), users.style_list
        topics, parents = self.topic[lo:hi].tolist(), self.parent[lo:hi].tolist()
        rows = []
        for k in range(hi - lo):
            kind, author, topic, parent, d = kinds[k], authors[k], topics[k], parents[k], draws[k]
            language, style = users.language[author], styles[author]
            reply_to = quote_of = repost_of = None
            mentions: list[str] = []
            if kind == ORIGINAL:
                text, tags = (book.original(topic, d, style) if language == "en"
                              else book.foreign(topic, language, d, style))
            elif kind == REPOST:
                text, tags, repost_of = "", [], ids[parent]
            else:
                handle = users.handle[authors_all[parent]] if kind == REPLY and d[3] < 0.75 else None
                text, tags = book.reply(topic, language, handle, d, style)
                mentions = [handle] if handle else []
                if kind == REPLY:
                    reply_to = ids[parent]
                else:
                    quote_of = ids[parent]
            rows.append((ids[lo + k], users.ids[author], text, dates[k], reply_to, quote_of, repost_of, language,
                         tags, mentions))
        return rows


def _edge_batches(users: SyntheticUsers, rng: np.random.Generator, per_user: float, start: float, end: float,
                  size: int) -> Iterator[list[tuple]]:
    """Follows: 80% to a popular user sharing an interest, 20% to anyone popular; a few blocks and mutes."""
    n = users.count
    counts = np.clip(np.round(rng.lognormal(math.log(per_user) - 0.125, 0.5, n)), 1, 500).astype(np.int64)
    source = np.repeat(np.arange(n), counts)
    target = users.sample_popular(rng, len(source))
    by_topic = rng.random(len(source)) < 0.8
    target[by_topic] = users.sample_by_topic(rng, users.sample_topic(rng, source[by_topic]), weight="popularity")
    pairs = np.unique(source * n + target)
    source, target = pairs // n, pairs % n
    source, target = source[source != target], target[source != target]
    lo = np.maximum(users.joined[source], users.joined[target])
    at = lo + rng.random(len(lo)) * (np.where(rng.random(len(lo)) < 0.85, start, end) - lo)
    roll = rng.random(len(lo))
    kinds = np.array(["follow", "block", "mute"], dtype=object)[np.where(roll < 0.003, 1, np.where(roll < 0.008, 2, 0))]
    for lo_ in range(0, len(source), size):
        part = slice(lo_, lo_ + size)
        yield list(zip(kinds[part].tolist(), users.ids_array[source[part]].tolist(),
                       users.ids_array[target[part]].tolist(), _dates(at[part])))


class SyntheticEngagement:
    """Impressions (a user seeing a post) and what follows them, plus reply/repost mirrors."""

    def __init__(self, users: SyntheticUsers, posts: SyntheticPosts, rng: np.random.Generator, end: float):
        self.users, self.posts, self.rng, self.end = users, posts, rng, end
        visible = np.nonzero(posts.kind != REPOST)[0]
        order = visible[np.argsort(posts.topic[visible], kind="stable")]
        bounds = np.searchsorted(posts.topic[order], np.arange(len(users.topic_share) + 1))
        weight = users.popularity[posts.author[order]] ** 0.8
        self.by_topic = [(order[a:b], np.cumsum(weight[a:b])) for a, b in itertools.pairwise(bounds)]

    def batches(self, total: int, size: int) -> Iterator[list[tuple]]:
        posts = self.posts
        mirrored = np.nonzero((posts.kind == REPLY) | (posts.kind == REPOST))[0][:total]
        for lo in range(0, len(mirrored), size):
            i = mirrored[lo: lo + size]
            kind = np.where(posts.kind[i] == REPLY, 9, 10)
            yield self._rows(posts.author[i], posts.parent[i], kind, posts.at[i], np.full(len(i), np.nan))
        left = total - len(mirrored)
        while left > 0:
            columns = self._impressions(min(size, max(1000, math.ceil(left / 2.0))))
            columns = [c[:left] for c in columns]
            left -= len(columns[0])
            yield self._rows(*columns)

    def _sample_posts(self, topics: np.ndarray) -> np.ndarray:
        out = np.full(len(topics), -1, np.int64)
        for t, (posts, cum) in enumerate(self.by_topic):
            where = np.nonzero(topics == t)[0]
            if len(where) and len(posts):
                out[where] = posts[np.minimum(np.searchsorted(cum, self.rng.random(len(where)) * cum[-1]), len(posts) - 1)]
        return out

    def _impressions(self, k: int) -> tuple[np.ndarray, ...]:
        rng, users = self.rng, self.users
        user = users.sample_active(rng, k)
        own = rng.random(k) < 0.8
        topic = np.where(own, users.sample_topic(rng, user), rng.choice(len(users.topic_share), k, p=users.topic_share))
        post = self._sample_posts(topic)
        user, post, topic = user[post >= 0], post[post >= 0], topic[post >= 0]
        s = users.interested(user, topic).astype(float)
        base = self.posts.at[post]
        seen = base + rng.lognormal(math.log(3 * 3600), 1.3, len(post))
        late = seen >= self.end
        seen[late] = base[late] + rng.random(late.sum()) * (self.end - base[late])
        dwell_ms = np.round(rng.lognormal(np.log(1500 + 3000 * s), 0.6))
        masks = {0: np.ones(len(post), bool), 1: rng.random(len(post)) < 0.75}
        masks.update({kind: rng.random(len(post)) < rate + extra * s for kind, (rate, extra) in FOLLOW_UPS.items()})
        columns: tuple[list[np.ndarray], ...] = ([], [], [], [], [])
        for kind, mask in masks.items():
            if kind == 0:
                at, value = seen, np.full(len(post), np.nan)
            elif kind == 1:
                at, value = seen[mask] + dwell_ms[mask] / 1000, dwell_ms[mask]
            else:
                at, value = seen[mask] + rng.uniform(1, 60, mask.sum()), np.full(mask.sum(), np.nan)
            for column, part in zip(columns, (user[mask], post[mask], np.full(mask.sum(), kind),
                                              np.minimum(at, self.end - 0.001), value)):
                column.append(part)
        order = rng.permutation(sum(len(part) for part in columns[0]))  # so truncating keeps every kind
        return tuple(np.concatenate(c)[order] for c in columns)

    def _rows(self, user: np.ndarray, post: np.ndarray, kind: np.ndarray, at: np.ndarray, value: np.ndarray) -> list[tuple]:
        values = np.where(np.isnan(value), None, value).tolist()
        return list(zip(self.users.ids_array[user].tolist(), self.posts.ids[post].tolist(), KINDS[kind].tolist(),
                        _dates(at), values))


def synthetic_batches(users: int = 100_000, posts: int = 1_000_000, interactions: int = 10_000_000, seed: int = 0,
                      *, follows_per_user: float = 15.0, batch_size: int = 100_000,
                      end: datetime = DEMO_END, days: int = DEMO_DAYS) -> Iterator[tuple[str, list[tuple]]]:
    """Rows of a synthetic community in dependency order; see the module docstring for the fields."""
    if users < 2 or posts < 1 or interactions < 0 or batch_size < 1:
        raise InputError(f"synthetic sizes must be users >= 2, posts >= 1, interactions >= 0, batch_size >= 1; "
                         f"got users={users}, posts={posts}, interactions={interactions}, batch_size={batch_size}")
    banks = load_banks()
    rng = np.random.default_rng(seed)
    book = Phrasebook(banks, seed)
    stop, start = end.timestamp(), (end - timedelta(days=days)).timestamp()
    people = SyntheticUsers(users, len(banks.topics), rng, start)
    for rows in people.batches(book, rng, batch_size):
        yield "users", rows
    timeline = SyntheticPosts(people, posts, rng, start, stop)
    for rows in timeline.batches(book, batch_size):
        yield "posts", rows
    for rows in _edge_batches(people, rng, follows_per_user, start, stop, batch_size):
        yield "edges", rows
    for rows in SyntheticEngagement(people, timeline, rng, stop).batches(interactions, batch_size):
        yield "interactions", rows


def synthetic_records(users: int = 100_000, posts: int = 1_000_000, interactions: int = 10_000_000, seed: int = 0,
                      **options) -> Iterator[UserRecord | PostRecord | EdgeRecord | InteractionRecord]:
    """The rows of ``synthetic_batches`` as records, built with ``model_construct`` (no validation)."""
    kinds = {k.value: k for k in InteractionKind}
    for table, rows in synthetic_batches(users, posts, interactions, seed, **options):
        if table == "users":
            for row in rows:
                yield UserRecord.model_construct(**dict(zip(USER_FIELDS, row)))
        elif table == "posts":
            for row in rows:
                yield PostRecord.model_construct(**dict(zip(POST_FIELDS, row)))
        elif table == "edges":
            for row in rows:
                yield EdgeRecord.model_construct(**dict(zip(EDGE_FIELDS, row)))
        else:
            for user, post, kind, at, value in rows:
                yield InteractionRecord.model_construct(user=user, post=post, kind=kinds[kind], created_at=at, value=value)
