"""The synthetic generator at a small size: exact counts, valid references, the demo's shape."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

import numpy as np
import pytest

from townsquare.demo import (
    DEMO_END,
    EDGE_FIELDS,
    INTERACTION_FIELDS,
    POST_FIELDS,
    USER_FIELDS,
    synthetic_batches,
    synthetic_records,
)
from townsquare.demo.content import load_banks
from townsquare.demo.synthetic import REPLY, REPOST, SyntheticEngagement, SyntheticPosts
from townsquare.demo.synthetic_users import SyntheticUsers
from townsquare.errors import InputError
from townsquare.ingest.records import EdgeRecord, InteractionKind, InteractionRecord, PostRecord, UserRecord

SIZES = {"users": 1_000, "posts": 10_000, "interactions": 100_000}
FIELDS = {"users": USER_FIELDS, "posts": POST_FIELDS, "edges": EDGE_FIELDS, "interactions": INTERACTION_FIELDS}


@pytest.fixture(scope="module")
def tables():
    rows = defaultdict(list)
    order = []
    for table, batch in synthetic_batches(**SIZES, seed=3, batch_size=4_000):
        if not order or order[-1] != table:
            order.append(table)
        rows[table].extend(batch)
    return order, rows


def test_tables_come_once_in_dependency_order_with_exact_counts(tables):
    order, rows = tables
    assert order == ["users", "posts", "edges", "interactions"]
    assert len(rows["users"]) == SIZES["users"]
    assert len(rows["posts"]) == SIZES["posts"]
    assert len(rows["interactions"]) == SIZES["interactions"]
    assert 8 * SIZES["users"] <= len(rows["edges"]) <= 25 * SIZES["users"]
    for table, batch in rows.items():
        assert all(len(row) == len(FIELDS[table]) for row in batch)


def test_same_seed_same_rows():
    small = {"users": 200, "posts": 1_500, "interactions": 5_000}
    assert list(synthetic_batches(**small, seed=7)) == list(synthetic_batches(**small, seed=7))
    assert list(synthetic_batches(**small, seed=7)) != list(synthetic_batches(**small, seed=8))


def test_every_reference_resolves_and_points_backwards(tables):
    _, rows = tables
    users = {row[0]: row for row in rows["users"]}
    assert len({row[1] for row in rows["users"]}) == len(users)  # unique handles
    posts: dict[str, tuple] = {}
    for row in rows["posts"]:
        assert row[1] in users and users[row[1]][5] <= row[3]
        for ref in row[4:7]:
            if ref is not None:
                assert ref in posts and posts[ref][3] <= row[3] and posts[ref][6] is None  # never a repost
        posts[row[0]] = row
    pairs = set()
    for kind, source, target, at in rows["edges"]:
        assert kind in ("follow", "block", "mute") and source in users and target in users and source != target
        assert (source, target) not in pairs
        pairs.add((source, target))
        assert max(users[source][5], users[target][5]) <= at < DEMO_END
    events = set()
    for user, post, kind, at, value in rows["interactions"]:
        assert user in users and post in posts
        assert posts[post][3] <= at < DEMO_END
        assert (value is not None) == (kind == "dwell")
        assert (user, post, kind, at) not in events
        events.add((user, post, kind, at))


def test_rows_validate_as_records_and_tags_match_the_text(tables):
    _, rows = tables
    for row in rows["users"][:500]:
        UserRecord(**dict(zip(USER_FIELDS, row)))
    for row in rows["posts"]:
        fields = dict(zip(POST_FIELDS, row))
        derived = PostRecord(**{k: v for k, v in fields.items() if k not in ("hashtags", "mentions")})
        assert (derived.hashtags, derived.mentions) == (fields["hashtags"], fields["mentions"])
    for row in rows["edges"][:500]:
        EdgeRecord(**dict(zip(EDGE_FIELDS, row)))
    for row in rows["interactions"][::50]:
        InteractionRecord(**dict(zip(INTERACTION_FIELDS, row)))


def test_shape_follows_the_demo(tables):
    _, rows = tables
    posts = rows["posts"]
    replies = sum(row[4] is not None for row in posts)
    assert 0.25 < replies / len(posts) < 0.35
    assert sum(row[5] is not None for row in posts) > 0 and sum(row[6] is not None for row in posts) > 0
    assert all(row[3] >= DEMO_END - timedelta(days=30) for row in posts)
    kinds = Counter(row[2] for row in rows["interactions"])
    assert set(kinds) == {k.value for k in InteractionKind} - {"rating"}
    assert kinds["view"] > kinds["dwell"] > kinds["like"] > kinds["bookmark"] > kinds["report"]
    assert sum(bool(row[8]) for row in posts) > 0.1 * len(posts)  # hashtags
    assert sum(bool(row[9]) for row in posts) > 0.15 * len(posts)  # mentions
    languages = Counter(users[4] for users in rows["users"])
    assert languages["en"] > 0.9 * len(rows["users"]) and languages["es"] and languages["de"]
    texts = [row[2] for row in posts if row[4] is None and row[5] is None and row[6] is None]
    assert len(set(texts)) / len(texts) > 0.95


def test_interests_drive_engagement_and_popular_authors_get_more():
    banks = load_banks()
    rng = np.random.default_rng(0)
    end = DEMO_END.timestamp()
    users = SyntheticUsers(1_000, len(banks.topics), rng, end - 30 * 86400)
    users.handle = [f"h{i}" for i in range(users.count)]
    posts = SyntheticPosts(users, 10_000, rng, end - 30 * 86400, end)
    replies = posts.kind == REPLY
    assert (posts.topic[replies] == posts.topic[posts.parent[replies]]).all()  # replies stay on topic
    assert users.interested(posts.author, posts.topic).all()  # people post about their interests
    user, post, kind, _, _ = SyntheticEngagement(users, posts, rng, end)._impressions(200_000)
    like = kind == 3
    assert users.interested(user[like], posts.topic[post[like]]).mean() > 0.85
    views = np.bincount(post[kind == 0], minlength=posts.count)
    popularity = users.popularity[posts.author]
    visible = posts.kind != REPOST
    median, top = np.quantile(popularity[visible], [0.5, 0.9])
    # Posts by the most popular tenth of authors are seen several times more than the bottom half's.
    assert views[visible & (popularity >= top)].mean() > 3 * views[visible & (popularity < median)].mean()


def test_records_wrap_the_same_rows():
    small = {"users": 50, "posts": 300, "interactions": 1_000}
    records = list(synthetic_records(**small, seed=1))
    counts = Counter(type(r).__name__ for r in records)
    assert counts["UserRecord"] == 50 and counts["PostRecord"] == 300 and counts["InteractionRecord"] == 1_000
    for record in records[::7]:
        assert type(record).model_validate(record.model_dump()) == record


def test_bad_sizes_are_refused():
    with pytest.raises(InputError, match="users >= 2"):
        next(synthetic_batches(users=1, posts=10, interactions=10))
