"""Selectors reorder the pool for one page; nothing is dropped and every move is recorded."""

from __future__ import annotations

from collections import Counter

import pytest

from townsquare.feed.candidates import Candidate
from townsquare.feed.context import build_context
from townsquare.feed.selectors import (
    AuthorDiversitySelector,
    ExplorationSelector,
    NearDuplicateSelector,
    NetworkBalanceSelector,
    Page,
    TopicDiversitySelector,
)


def _pool(*specs) -> list[Candidate]:
    """(post, author, score, in_network) tuples."""
    return [Candidate(p, a, score=s, in_network=i) for p, a, s, i in specs]


def test_author_diversity_decays_each_further_post_like_the_home_mixer():
    pool = _pool((1, 10, 1.0, False), (2, 10, 1.0, False), (3, 10, 1.0, False), (4, 20, 0.9, False))
    out = AuthorDiversitySelector(decay=0.5, floor=0.25).select(None, pool, Page(4))
    assert [c.post_id for c in out] == [1, 4, 2, 3]
    assert [round(c.score, 4) for c in out] == [1.0, 0.9, 0.625, 0.4375]
    assert out[2].adjustments[0].detail == ("the author's post 2 in your ranking: spread out so that one author "
                                            "does not fill your feed")


def test_author_diversity_counts_authors_served_on_earlier_pages():
    pool = _pool((1, 10, 1.0, False), (2, 20, 0.8, False))
    out = AuthorDiversitySelector().select(None, pool, Page(2, number=1, served_authors=Counter({10: 1})))
    assert [c.post_id for c in out] == [2, 1] and out[1].score == pytest.approx(0.625)


def test_topic_diversity_lets_a_different_topic_through(world, now):
    world.user("ada")
    world.user("zed")
    chess = [world.post("zed", "chess") for _ in range(3)]
    cooking = world.post("zed", "cooking")
    world.load()
    feed = world.feed()
    ctx = build_context(feed.env, world.store.find_user("ada"), now)
    ids = [world.store.find_post(p)["id"] for p in chess + [cooking]]
    pool = _pool((ids[0], 1, 1.0, False), (ids[1], 1, 0.99, False), (ids[2], 1, 0.98, False), (ids[3], 1, 0.7, False))
    out = TopicDiversitySelector(relevance=0.5, window=2).select(ctx, pool, Page(2))
    assert [c.post_id for c in out[:2]] == [ids[0], ids[3]]
    assert sorted(c.post_id for c in out) == sorted(ids)
    assert out[1].adjustments[0].detail == "moved up 2 places: unlike the posts above it"
    assert out[2].adjustments[0].detail.startswith("held back for a later page: too close to a post above it")


def test_topic_diversity_says_a_post_moved_down_because_it_is_close_to_one_above(world, now):
    world.user("ada")
    world.user("zed")
    posts = [world.post("zed", "chess"), world.post("zed", "chess"), world.post("zed", "cooking")]
    world.load()
    ctx = build_context(world.feed().env, world.store.find_user("ada"), now)
    ids = [world.store.find_post(p)["id"] for p in posts]
    pool = _pool((ids[0], 1, 1.0, False), (ids[1], 1, 0.99, False), (ids[2], 1, 0.7, False))
    out = TopicDiversitySelector(relevance=0.5, window=1).select(ctx, pool, Page(3))
    assert [c.post_id for c in out] == [ids[0], ids[2], ids[1]]
    assert out[2].adjustments[0].detail.startswith("moved down 1 place: close to a post above it (similarity 0.9")


def test_network_balance_swaps_towards_the_target_share():
    pool = _pool(*[(i, i, 1.0 - i / 100, False) for i in range(1, 5)], (5, 5, 0.5, True), (6, 6, 0.4, True))
    out = NetworkBalanceSelector(in_network=0.5, tolerance=0.0).select(None, pool, Page(4))
    assert sum(c.in_network for c in out[:4]) == 2
    assert sorted(c.post_id for c in out) == [1, 2, 3, 4, 5, 6]
    moved = {c.post_id: c.adjustments[0].detail for c in out if c.adjustments}
    assert moved[5].startswith("moved up") and moved[4].startswith("moved to a later page")


def test_exploration_gives_a_share_to_posts_further_down_deterministically():
    def run():
        pool = _pool(*[(i, i, 1.0 - i / 100, False) for i in range(20)])
        return ExplorationSelector(share=0.5).select(None, pool, Page(4, seed=7))

    out = run()
    explored = [c for c in out[:4] if c.adjustments]
    assert len(explored) == 2 and all(c.post_id >= 4 for c in explored)
    assert "explored: ranked" in explored[0].adjustments[0].detail
    assert sorted(c.post_id for c in out) == list(range(20))
    assert [c.post_id for c in run()] == [c.post_id for c in out]


def test_near_copies_are_never_on_one_page(world, now):
    """Two copies of one text ranked first and second: the copy moves below the page, the next post
    takes its place, and it says why; nor does it open the next page under its twin."""
    world.user("ada")
    for h in ("bob", "cy", "dee"):
        world.user(h)
    text = "Gave up on a bestseller at page 100. Life's too short!"
    first, copy = world.post("bob", "music", text=text), world.post("cy", "music", text=text + " 📚")
    others = [world.post("dee", topic) for topic in ("chess", "cooking", "football")]
    world.load()
    ctx = build_context(world.feed().env, world.store.find_user("ada"), now)
    ids = [world.store.find_post(p)["id"] for p in (first, copy, *others)]
    pool = _pool(*((post, 1, 1.0 - 0.01 * i, False) for i, post in enumerate(ids)))
    out = NearDuplicateSelector().select(ctx, pool, Page(3))
    assert [c.post_id for c in out] == [ids[0], ids[2], ids[3], ids[1], ids[4]]
    assert out[3].adjustments[0].detail == "moved to a later page: nearly the same text as a post above it"
    assert [c.adjustments for c in out if c.post_id != ids[1]] == [None] * 4
    after = NearDuplicateSelector().select(ctx, _pool((ids[1], 1, 1.0, False), (ids[4], 1, 0.5, False)),
                                           Page(1, number=1, previous=[ids[0]]))
    assert [c.post_id for c in after] == [ids[4], ids[1]]
    assert "one on your last page" in after[1].adjustments[0].detail
    apart = _pool(*((post, 1, 1.0, False) for post in ids[2:]))
    assert NearDuplicateSelector().select(ctx, apart, Page(3)) is apart  # nothing to move: the pool as it was
