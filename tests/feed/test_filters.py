"""Each filter removes exactly what it should and says why; kept + removed = what came in."""

from __future__ import annotations

from sqlalchemy import delete, update

from townsquare.feed.candidates import Candidate
from townsquare.feed.context import build_context
from townsquare.feed.filters import (
    BlockedAuthorsFilter,
    DeletedPostsFilter,
    LanguagesFilter,
    MaxAgeFilter,
    ModerationFilter,
    ModerationVerdict,
    OwnPostsFilter,
    RepliesFilter,
    SeenPostsFilter,
)
from townsquare.storage.schema import posts

from .conftest import pid


def _candidates(store, externals):
    out = []
    for external in externals:
        row = store.find_post(external)
        out.append(Candidate(row["id"], row["author_id"]))
    return out


def _run(world, step, handle, externals, now, **ctx_options):
    feed = world.feed()
    ctx = build_context(feed.env, world.store.find_user(handle), now, **ctx_options)
    given = _candidates(world.store, externals)
    result = step(ctx, given)
    assert len(result.kept) + len(result.removed) == len(given)
    assert set(result.why) == {c.post_id for c in result.removed}
    ext = {c.post_id: world.store.find_post(c.post_id)["external_id"] for c in given}
    return {ext[c.post_id] for c in result.kept}, {ext[p]: why for p, why in result.why.items()}


def test_own_posts(world, now):
    world.user("ada")
    world.user("bob")
    mine, theirs = world.post("ada", "chess"), world.post("bob", "chess")
    world.load()
    kept, why = _run(world, OwnPostsFilter(), "ada", [mine, theirs], now)
    assert kept == {theirs} and why == {mine: "your own post"}


def test_seen_posts_and_served_posts(world, now):
    world.user("ada")
    world.user("bob")
    viewed, hidden, served, new = (world.post("bob", "chess") for _ in range(4))
    world.act("ada", viewed, "view")
    world.act("ada", hidden, "hide")
    world.load()
    kept, why = _run(world, SeenPostsFilter(), "ada", [viewed, hidden, served, new], now,
                     exclude_posts={pid(world.store, served)})
    assert kept == {new}
    assert why[viewed] == why[hidden] == "you already saw it"
    assert why[served] == "already served in this session"


def test_blocked_authors_both_ways_and_muted_authors_one_way(world, now):
    """Someone who mutes ada is not kept out of her feed: a mute quiets only the muter's, and a why-not told
    ada "they muted you" (a QA pass)."""
    for h in ("ada", "blocked", "blocker", "muted", "muter", "fine"):
        world.user(h)
    world.follow("ada", "blocked", "block")
    world.follow("blocker", "ada", "block")
    world.follow("ada", "muted", "mute")
    world.follow("muter", "ada", "mute")
    externals = [world.post(h, "music") for h in ("blocked", "blocker", "muted", "muter", "fine")]
    world.load()
    kept, why = _run(world, BlockedAuthorsFilter(), "ada", externals, now)
    assert kept == {externals[3], externals[-1]}
    assert why == {externals[0]: "you blocked them", externals[1]: "they blocked you",
                   externals[2]: "you muted them"}


def test_replies_to_people_the_user_does_not_follow(world, now):
    for h in ("ada", "bob", "cy"):
        world.user(h)
    world.follow("ada", "bob")
    to_friend = world.post("cy", "chess", reply_to=world.post("bob", "chess"))
    to_stranger = world.post("bob", "chess", reply_to=world.post("cy", "chess"))
    to_ada = world.post("cy", "chess", reply_to=world.post("ada", "chess"))
    top_level = world.post("cy", "chess")
    world.load()
    kept, why = _run(world, RepliesFilter(), "ada", [to_friend, to_stranger, to_ada, top_level], now)
    assert kept == {to_friend, to_ada, top_level}
    assert why == {to_stranger: "a reply to someone you do not follow"}


def test_a_reply_whose_parent_is_deleted_stands_alone_at_once(any_world, now):
    """Deleting a post (its author deleted) cuts the links of replies to it: a running index sees that."""
    world = any_world
    for h in ("ada", "bob", "cy"):
        world.user(h)
    parent = world.post("bob", "chess")
    reply = world.post("cy", "chess", reply_to=parent)
    world.load()
    with world.store.read() as conn:  # an import setting links logs nothing: it would cost every import
        assert conn.exec_driver_sql("SELECT count(*) FROM feed_post_changes").scalar() == 0
    feed = world.feed()  # the index is loaded before the delete
    given = _candidates(world.store, [reply])
    ctx = build_context(feed.env, world.store.find_user("ada"), now)
    assert RepliesFilter()(ctx, given).removed  # a reply to bob, whom ada does not follow
    with world.store.begin() as conn:
        conn.execute(delete(posts).where(posts.c.external_id == parent))
    feed.index.refresh()  # what every request does first
    ctx = build_context(feed.env, world.store.find_user("ada"), now)
    assert not RepliesFilter()(ctx, given).removed  # now a post of its own, as in a new process


def test_languages_the_user_does_not_read(world, now):
    world.user("ada", language="en")
    world.user("bob")
    english = world.post("bob", "chess", language="en")
    german = world.post("bob", "chess", language="de")
    spanish = [world.post("bob", "chess", language="es") for _ in range(3)]
    for post in spanish[:2]:
        world.act("ada", post, "like")  # liked twice in Spanish: she reads it
    world.load()
    kept, why = _run(world, LanguagesFilter(), "ada", [english, german, spanish[2]], now)
    assert kept == {english, spanish[2]}
    assert why == {german: "written in de, which you do not read"}


def test_deleted_and_invisible_posts_count_at_once(any_world, now):
    world = any_world
    world.user("ada")
    world.user("bob")
    world.user("cy")
    world.follow("ada", "bob")
    later_deleted, gone = world.post("bob", "music"), world.post("bob", "music", deleted=True)
    removed = world.post("bob", "music")
    friends_only, stranger_only = world.post("bob", "music", visibility="followers"), \
        world.post("cy", "music", visibility="followers")
    private, public = world.post("bob", "music", visibility="private"), world.post("cy", "music")
    world.load()
    feed = world.feed()  # the index is loaded before the changes below
    given = _candidates(world.store, [later_deleted, gone, friends_only, stranger_only, private, public, removed])
    with world.store.begin() as conn:
        conn.execute(update(posts).where(posts.c.external_id == later_deleted).values(deleted=True))
        conn.execute(delete(posts).where(posts.c.external_id == removed))
    feed.index.refresh()  # what every request does first
    ctx = build_context(feed.env, world.store.find_user("ada"), now)
    result = DeletedPostsFilter()(ctx, given)
    kept = {world.store.find_post(c.post_id)["external_id"] for c in result.kept}
    assert kept == {friends_only, public}
    assert result.why[pid(world.store, later_deleted)] == "deleted"
    assert result.why[given[-1].post_id] == "no longer exists"
    assert result.why[pid(world.store, stranger_only)] == "not visible to you"


def test_posts_written_after_the_feeds_time_are_not_served(world, now):
    """``townsquare feed --at`` a past time: what was posted later did not exist yet."""
    world.user("ada")
    world.user("bob")
    before, after = world.post("bob", "music", hours_ago=1), world.post("bob", "music", hours_ago=0)
    world.load()
    feed = world.feed()
    at = now - 1800  # half an hour ago: between the two posts
    result = DeletedPostsFilter()(build_context(feed.env, world.store.find_user("ada"), at),
                                  _candidates(world.store, [before, after]))
    assert [c.post_id for c in result.kept] == [pid(world.store, before)]
    assert result.why[pid(world.store, after)] == "written after the feed's time"


class FakePolicy:
    """A moderation provider with fixed verdicts, standing in for the trust & safety policy."""

    def __init__(self, verdicts):
        self.fixed, self.asked = verdicts, []

    def verdicts(self, post_ids):
        self.asked.append(list(post_ids))
        return {p: v for p, v in self.fixed.items() if p in post_ids}


def test_moderation_hides_and_keeps_demotions_for_the_scorer(world, now):
    world.user("ada")
    world.user("bob")
    toxic, borderline, fine = (world.post("bob", "music") for _ in range(3))
    world.load()
    verdicts = {pid(world.store, toxic): ModerationVerdict("hide", 0.0, ("toxicity: toxic 0.97 >= 0.9",)),
                pid(world.store, borderline): ModerationVerdict("demote", 0.3, ("toxicity: toxic 0.6",))}
    feed = world.feed()
    feed.env.moderation = FakePolicy(verdicts)
    ctx = build_context(feed.env, world.store.find_user("ada"), now)
    result = ModerationFilter()(ctx, _candidates(world.store, [toxic, borderline, fine]))
    assert [c.post_id for c in result.removed] == [pid(world.store, toxic)]
    assert result.why[pid(world.store, toxic)] == "hidden by moderation: toxicity: toxic 0.97 >= 0.9"
    assert ctx.scratch["moderation"][pid(world.store, borderline)].factor == 0.3


def test_max_age(world, now):
    world.user("ada")
    world.user("bob")
    old, new = world.post("bob", "music", hours_ago=24 * 10), world.post("bob", "music", hours_ago=1)
    world.load()
    kept, why = _run(world, MaxAgeFilter(days=7), "ada", [old, new], now)
    assert kept == {new} and why == {old: "older than 7 days"}


def test_repost_rows_are_dropped_for_the_post_they_repost(world, now):
    """A repost row has no text of its own; a source that proposes one (the newest posts, trending) loses it,
    and what it reposts stands or falls on its own visibility."""
    for h in ("ada", "bob", "cy"):
        world.user(h)
    public, private = world.post("cy", "chess"), world.post("cy", "chess", visibility="followers")
    reposts = [world.post("bob", "chess", repost_of=p, text="") for p in (public, private)]
    world.load()
    kept, why = _run(world, DeletedPostsFilter(), "ada", [public, private, *reposts], now)
    assert kept == {public}
    assert why == {private: "not visible to you", reposts[0]: "a repost: feeds show the post it reposts",
                   reposts[1]: "a repost: feeds show the post it reposts"}
