"""The demo community: deterministic, the stated sizes, valid references, voices and interests."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import timedelta

import numpy as np
import pytest

from townsquare.demo import DEMO_END, build_community, demo_labels, demo_records
from townsquare.demo.threads import interest
from townsquare.ingest.records import EdgeRecord, InteractionRecord, PostRecord, UserRecord

EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
CONTRACTION = re.compile(r"\b(I'm|don't|can't|it's|won't|isn't|I've|that's|didn't|you're)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def community():
    return build_community(0)


@pytest.fixture(scope="module")
def records(community):
    return list(community.records())


def by_type(records, cls):
    return [r for r in records if isinstance(r, cls)]


def test_same_seed_same_records_other_seed_other_records(records):
    again = [r.model_dump() for r in demo_records(0)]
    assert again == [r.model_dump() for r in records]
    other = [r.model_dump() for r in demo_records(1) if isinstance(r, PostRecord)]
    assert other != [r.model_dump() for r in records if isinstance(r, PostRecord)]


def test_sizes_are_in_the_stated_ranges(records):
    counts = Counter(type(r).__name__ for r in records)
    assert 90 <= counts["UserRecord"] <= 110
    assert 1_600 <= counts["PostRecord"] <= 2_000
    edges = Counter(r.type for r in by_type(records, EdgeRecord))
    assert edges["follow"] >= 1_500
    assert 3 <= edges["block"] <= 30 and 3 <= edges["mute"] <= 30
    assert 20_000 <= counts["InteractionRecord"] <= 40_000
    kinds = Counter(r.kind.value for r in by_type(records, InteractionRecord))
    for kind in ("view", "click", "dwell", "like", "reply", "repost", "bookmark", "share", "hide",
                 "not_interested", "report"):
        assert kinds[kind] > 0, kind
    assert kinds["view"] > kinds["like"] > kinds["report"]


def test_records_come_in_dependency_order(records):
    order = {"user": 0, "post": 1, "follow": 2, "block": 2, "mute": 2, "interaction": 3}
    ranks = [order[r.type] for r in records]
    assert ranks == sorted(ranks)
    posts = by_type(records, PostRecord)
    assert [p.created_at for p in posts] == sorted(p.created_at for p in posts)


def test_every_reference_resolves_and_points_backwards(records):
    users = {r.id: r for r in by_type(records, UserRecord)}
    seen: dict[str, PostRecord] = {}
    for post in by_type(records, PostRecord):
        assert post.author in users and users[post.author].created_at <= post.created_at
        for ref in (post.reply_to, post.quote_of, post.repost_of):
            if ref is not None:
                assert ref in seen, f"{post.id} points at {ref} before it exists"
                assert seen[ref].created_at <= post.created_at
        seen[post.id] = post
    pairs = set()
    for edge in by_type(records, EdgeRecord):
        assert edge.source in users and edge.target in users and edge.source != edge.target
        assert max(users[edge.source].created_at, users[edge.target].created_at) <= edge.created_at < DEMO_END
        assert (edge.type, edge.source, edge.target) not in pairs
        pairs.add((edge.type, edge.source, edge.target))
    events = set()
    for event in by_type(records, InteractionRecord):
        assert event.user in users and event.post in seen
        assert seen[event.post].created_at <= event.created_at < DEMO_END
        assert users[event.user].created_at <= event.created_at
        key = (event.user, event.post, event.kind, event.created_at)
        assert key not in events  # the database's uniqueness constraint
        events.add(key)


def test_every_record_validates(records):
    for record in records:
        assert type(record).model_validate(record.model_dump()) == record


def test_timestamps_cover_30_days_before_the_fixed_end(records):
    posts = by_type(records, PostRecord)
    assert min(p.created_at for p in posts) >= DEMO_END - timedelta(days=30)
    assert max(p.created_at for p in posts) < DEMO_END
    assert max(p.created_at for p in posts) - min(p.created_at for p in posts) > timedelta(days=27)


def test_users_have_handles_bios_interests_and_a_few_other_languages(records, community):
    users = by_type(records, UserRecord)
    assert len({u.handle for u in users}) == len(users)
    assert all(u.bio and u.display_name and 1 <= len(u.interests) <= 5 for u in users)
    assert any(len(u.topics) >= 2 for u in community.users)
    languages = Counter(u.language for u in users)
    assert languages["en"] >= 85 and languages["es"] >= 2 and languages["de"] >= 2
    posts = by_type(records, PostRecord)
    spanish = [p.text for p in posts if p.language == "es" and p.text]
    assert len(spanish) >= 10 and sum(bool(re.search(r"[ñáéíóú¿¡]", t)) for t in spanish) > len(spanish) / 3


def test_threads_hashtags_mentions_quotes_and_reposts(community):
    posts = community.posts
    depth = Counter(0 if p.parent is None else 1 if p.parent.parent is None else 2 for p in posts)
    assert depth[1] >= 300 and depth[2] >= 50  # replies, and replies to replies
    assert all(p.topic == p.parent.topic for p in posts if p.parent is not None and p.label is None)
    assert sum(bool(p.text and "#" in p.text) for p in posts) >= 150
    assert sum(bool("@" in p.text) for p in posts) >= 300
    kinds = Counter(p.kind for p in posts)
    assert kinds["quote"] >= 30 and kinds["repost"] >= 30
    assert len({p.topic for p in posts}) == 20 and min(Counter(p.topic for p in posts).values()) >= 25


def test_posts_read_varied_not_repeated(community):
    texts = [p.text for p in community.posts if p.text]
    assert len(set(texts)) / len(texts) > 0.98


def test_voices_show_in_posts(community):
    stats = defaultdict(lambda: [0, 0, 0, 0])  # posts, emoji, contractions, lowercase posts
    for post in community.posts:
        if post.label is None and post.text and post.author.language == "en" and post.author.role == "regular":
            s = stats[post.author.voice.archetype]
            s[0] += 1
            s[1] += len(EMOJI.findall(post.text))
            s[2] += len(CONTRACTION.findall(post.text))
            s[3] += post.text == post.text.lower()
    per_post = {name: [v / s[0] for v in s[1:]] for name, s in stats.items()}
    assert per_post["enthusiast"][0] > 1.0
    assert per_post["formal"][0] == 0
    assert per_post["formal"][1] == 0 < per_post["casual"][1]
    assert per_post["terse"][2] == 1.0 and per_post["formal"][2] < 0.05


def test_likes_follow_interests_and_popularity(community):
    history = community.interactions
    like = history.kind == 3
    users, posts = community.users, community.posts
    in_topic = [interest(users[u], posts[p].topic) >= 0.35 for u, p in zip(history.user[like], history.post[like])]
    assert np.mean(in_topic) > 0.85
    per_user = defaultdict(list)
    for u, ok in zip(history.user[like], in_topic):
        per_user[u].append(ok)
    assert np.mean([np.mean(v) > 0.6 for v in per_user.values() if len(v) >= 10]) > 0.9
    # More popular authors draw more likes per post.
    likes = Counter(posts[p].author.index for p in history.post[like])
    count = Counter(p.author.index for p in posts if p.kind != "repost")
    regulars = [u for u in users if u.role == "regular" and count[u.index] >= 5]
    ranked = sorted(regulars, key=lambda u: u.popularity)
    third = len(ranked) // 3
    rate = lambda group: sum(likes[u.index] for u in group) / sum(count[u.index] for u in group)
    assert rate(ranked[-third:]) > 1.5 * rate(ranked[:third])


def test_labels_mark_toxic_misleading_and_pii_posts(community):
    labels = demo_labels(0)
    assert labels == community.labels
    kinds = Counter(labels.values())
    assert 10 <= kinds["toxic"] <= 15 and 10 <= kinds["misleading"] <= 15 and 2 <= kinds["pii"] <= 4
    text = {p.id: p.text for p in community.posts}
    assert all("@" in text[i] for i, label in labels.items() if label == "toxic")
    assert all(re.search(r"07700 900\d{3}", text[i]) for i, label in labels.items() if label == "pii")
    unlabelled = [p for p in community.posts if p.label is None]
    assert not any("07700" in p.text or "idiot" in p.text.lower() for p in unlabelled)


def test_moderation_signals_land_on_flagged_posts(community):
    history = community.interactions
    report = history.kind == 10
    flagged = np.array([community.posts[p].label is not None for p in history.post[report]])
    assert flagged.mean() > 0.5
    trolls = {u.index for u in community.users if u.role == "troll"}
    assert any(e.target in trolls for e in community.blocks)
