"""The trust & safety policy plugs into the feed: stored scores decide, a moderator's decision wins."""

from __future__ import annotations

from datetime import UTC, datetime

from townsquare.feed.moderation import PolicyModeration
from townsquare.safety.policy import Policy, ResolvedRule, Rule
from townsquare.storage.moderation_schema import moderation_cases, moderation_decisions, moderation_scores

from .conftest import pid


def _policy() -> Policy:
    rules = [Rule(classifier="toxicity", label="toxic", action="hide", threshold=0.9),
             Rule(classifier="toxicity", label="toxic", action="demote", threshold=0.5, factor=0.2)]
    return Policy("test", [ResolvedRule(rule, rule.threshold, None) for rule in rules])


def test_policy_scores_and_moderator_decisions_become_verdicts(world):
    world.user("bob")
    toxic, borderline, fine, overturned = (world.post("bob", "music") for _ in range(4))
    world.load()
    ids = {name: pid(world.store, name) for name in (toxic, borderline, fine, overturned)}
    now = datetime.now(UTC)
    scores = {toxic: 0.97, borderline: 0.6, fine: 0.01, overturned: 0.99}
    with world.store.begin() as conn:
        conn.execute(moderation_scores.insert(), [
            {"post_id": ids[p], "classifier": "toxicity", "version": "t", "scores": {"toxic": s}, "spans": [],
             "top_score": s, "scored_at": now} for p, s in scores.items()])
        case = conn.execute(moderation_cases.insert().values(
            post_id=ids[overturned], suggested_action="hide", reasons=[], created_at=now, updated_at=now)
        ).inserted_primary_key[0]
        conn.execute(moderation_decisions.insert().values(
            case_id=case, post_id=ids[overturned], moderator="mo", action="allow", labels={}, created_at=now))
    verdicts = PolicyModeration(world.store, _policy()).verdicts(list(ids.values()))
    assert verdicts[ids[toxic]].action == "hide"
    assert verdicts[ids[borderline]].action == "demote" and verdicts[ids[borderline]].factor == 0.2
    assert ids[fine] not in verdicts and ids[overturned] not in verdicts  # the moderator allowed it
    assert "toxicity: toxic 0.97" in verdicts[ids[toxic]].reasons[0]


def test_a_post_sent_to_review_keeps_the_demotion_another_rule_gave_it(world):
    world.user("bob")
    post = world.post("bob", "music")
    world.load()
    post_id = pid(world.store, post)
    with world.store.begin() as conn:
        conn.execute(moderation_scores.insert().values(post_id=post_id, classifier="toxicity", version="t",
                                                       scores={"toxic": 0.8}, spans=[], top_score=0.8,
                                                       scored_at=datetime.now(UTC)))
    rules = [Rule(classifier="toxicity", label="toxic", action="review", threshold=0.7),
             Rule(classifier="toxicity", label="toxic", action="demote", threshold=0.5, factor=0.3)]
    policy = Policy("test", [ResolvedRule(rule, rule.threshold, None) for rule in rules])
    assert policy.decide({"toxicity": {"toxic": 0.8}}).action == "review"
    verdict = PolicyModeration(world.store, policy).verdicts([post_id])[post_id]
    assert verdict.action == "demote" and verdict.factor == 0.3


def test_verdicts_are_kept_until_forgotten_or_changed(world):
    world.user("bob")
    post = world.post("bob", "music")
    world.load()
    post_id, now = pid(world.store, post), datetime.now(UTC)
    clock = [100.0]
    provider = PolicyModeration(world.store, _policy(), sync_s=5.0, clock=lambda: clock[0])
    assert provider.verdicts([post_id]) == {}  # read once: allowed, kept

    def moderator(action: str) -> None:
        with world.store.begin() as conn:
            case = conn.execute(moderation_cases.insert().values(
                post_id=post_id, status="decided", suggested_action="hide", reasons=[], created_at=now,
                updated_at=now)).inserted_primary_key[0]
            conn.execute(moderation_decisions.insert().values(
                case_id=case, post_id=post_id, moderator="mo", action=action, labels={}, created_at=now))

    moderator("hide")
    assert provider.verdicts([post_id]) == {}  # the kept verdict still holds ...
    provider.forget([post_id])
    assert provider.verdicts([post_id])[post_id].action == "hide"  # ... until forgotten
    moderator("allow")
    clock[0] += 4.0
    assert provider.verdicts([post_id])[post_id].action == "hide"
    clock[0] += 2.0  # past sync_s: the new decision is seen, the post read again
    assert provider.verdicts([post_id]) == {}


def test_rescored_posts_are_read_again_and_untouched_ones_never(world, monkeypatch):
    world.user("bob")
    calm, changed = world.post("bob", "music"), world.post("bob", "music")
    world.load()
    ids = [pid(world.store, calm), pid(world.store, changed)]
    clock = [0.0]
    provider = PolicyModeration(world.store, _policy(), sync_s=5.0, clock=lambda: clock[0])
    assert provider.verdicts(ids) == {}
    looked_up = []
    real_lookup = provider._lookup
    monkeypatch.setattr(provider, "_lookup", lambda posts: looked_up.append(sorted(posts)) or real_lookup(posts))
    with world.store.begin() as conn:
        conn.execute(moderation_scores.insert().values(
            post_id=ids[1], classifier="toxicity", version="t", scores={"toxic": 0.95}, spans=[], top_score=0.95,
            scored_at=datetime.now(UTC)))
    clock[0] += 60.0  # long after the first look, only the rescored post is read again
    assert provider.verdicts(ids)[ids[1]].action == "hide"
    assert looked_up == [[ids[1]]]


def test_a_labelled_post_carries_its_labels_to_the_page_and_keeps_its_score(world, now):
    from townsquare.feed import ForYouFeed
    from townsquare.feed.candidates import LABEL_STAGE

    world.user("ann"), world.user("bob")
    world.follow("ann", "bob")
    posts = [world.post("bob", "music") for _ in range(4)]
    world.load()
    with world.store.begin() as conn:
        conn.execute(moderation_scores.insert().values(post_id=pid(world.store, posts[0]), classifier="toxicity",
                                                       version="t", scores={"toxic": 0.6}, spans=[], top_score=0.6,
                                                       scored_at=datetime.now(UTC)))
    rule = Rule(classifier="toxicity", label="toxic", action="label", threshold=0.5)
    policy = Policy("test", [ResolvedRule(rule, rule.threshold, None)])
    verdict = PolicyModeration(world.store, policy).verdicts([pid(world.store, posts[0])])[pid(world.store, posts[0])]
    assert verdict.action == "label" and verdict.factor == 1.0 and verdict.labels == ("toxic",)
    feed = ForYouFeed(world.store, embedder=world.embedder, moderation=PolicyModeration(world.store, policy))
    items = {item["post"]: item for item in feed.page("ann", limit=10, now=now).items}
    assert set(posts) <= set(items)
    labelled = items[posts[0]]["adjustments"]
    assert {"stage": LABEL_STAGE, "factor": 1.0, "detail": "toxic"} in labelled
    assert all(a["stage"] != LABEL_STAGE for p in posts[1:] for a in items[p]["adjustments"])


def test_a_moderators_demotion_uses_the_policys_factor_and_a_label_shows_what_they_confirmed(world, tmp_path):
    """``moderator_demote_factor`` in the policy file sets how far a moderator's demote pushes a post down;
    a moderator's label shows the flags they confirmed ("offensive"), not a user's report."""
    from townsquare.safety.policy import load_policy

    world.user("bob")
    demoted, labelled, bare = (world.post("bob", "music") for _ in range(3))
    world.load()
    now = datetime.now(UTC)
    decided = ((demoted, "demote", {}), (labelled, "label", {"offensive": "offensive", "user_reports": "reported"}),
               (bare, "label", {"user_reports": "reported"}))
    with world.store.begin() as conn:
        for post, action, labels in decided:
            case = conn.execute(moderation_cases.insert().values(
                post_id=pid(world.store, post), suggested_action="review", reasons=[], created_at=now,
                updated_at=now)).inserted_primary_key[0]
            conn.execute(moderation_decisions.insert().values(case_id=case, post_id=pid(world.store, post),
                                                              moderator="mo", action=action, labels=labels,
                                                              created_at=now))
    path = tmp_path / "policy.toml"
    path.write_text("moderator_demote_factor = 0.2\nrules = []\n")
    ids = [pid(world.store, p) for p in (demoted, labelled, bare)]
    verdicts = PolicyModeration(world.store, load_policy(path, {})).verdicts(ids)
    assert (verdicts[ids[0]].action, verdicts[ids[0]].factor) == ("demote", 0.2)
    assert verdicts[ids[0]].reasons == ("a moderator decided: demote x0.2",)
    assert (verdicts[ids[1]].action, verdicts[ids[1]].labels) == ("label", ("offensive",))
    assert verdicts[ids[2]].labels == ("by a moderator",)
    assert Policy("unset").moderator_decision("demote").factor == 0.5  # the default


def test_a_scored_post_is_read_again_when_new_and_once_settled_not_at_every_look(world, monkeypatch):
    """A bulk scoring made every worker re-read every scored post at each sync for 30 s."""
    from datetime import timedelta

    world.user("bob")
    post = world.post("bob", "music")
    world.load()
    post_id = pid(world.store, post)
    clock, wall = [0.0], [datetime(2026, 12, 7, 12, tzinfo=UTC)]
    provider = PolicyModeration(world.store, _policy(), sync_s=5.0, clock=lambda: clock[0], wall=lambda: wall[0])
    assert provider.verdicts([post_id]) == {}
    looked_up = []
    real_lookup = provider._lookup
    monkeypatch.setattr(provider, "_lookup", lambda posts: looked_up.append(sorted(posts)) or real_lookup(posts))
    with world.store.begin() as conn:
        conn.execute(moderation_scores.insert().values(
            post_id=post_id, classifier="toxicity", version="t", scores={"toxic": 0.95}, spans=[], top_score=0.95,
            scored_at=wall[0] + timedelta(seconds=1)))

    def look(seconds: float) -> None:
        clock[0] += seconds
        wall[0] += timedelta(seconds=seconds)
        provider.verdicts([post_id])

    look(6)  # new since the last look: read again
    for _ in range(4):
        look(6)  # within the overlap: kept
    assert looked_up == [[post_id]]
    look(6)  # the score is now 31 s old: read once more, in case a lookup raced its commit
    look(6)
    look(6)
    assert looked_up == [[post_id], [post_id]]


def test_a_lookup_that_overlaps_a_policy_change_keeps_nothing(world, monkeypatch):
    """The policy changes (``forget(None)``) while a request is reading a post's verdict under the old rules:
    that verdict answers this request but is not kept, so the next request reads the post under the new
    rules."""
    world.user("bob")
    post = world.post("bob", "music")
    world.load()
    post_id = pid(world.store, post)
    with world.store.begin() as conn:
        conn.execute(moderation_scores.insert().values(
            post_id=post_id, classifier="toxicity", version="t", scores={"toxic": 0.95}, spans=[], top_score=0.95,
            scored_at=datetime.now(UTC)))
    policy = _policy()
    provider = PolicyModeration(world.store, policy, sync_s=3600.0)
    real_lookup = provider._lookup

    def lookup_then_the_policy_changes(posts):
        verdicts = real_lookup(posts)  # under the old rules: hide
        policy.take(Policy("test", []))  # what PolicyWatch does on an edit ...
        provider.forget(None)  # ... and the web app then
        return verdicts

    monkeypatch.setattr(provider, "_lookup", lookup_then_the_policy_changes)
    assert provider.verdicts([post_id])[post_id].action == "hide"
    monkeypatch.setattr(provider, "_lookup", real_lookup)
    assert provider.verdicts([post_id]) == {}  # read again under the new, empty policy


def test_a_post_moderation_hides_is_not_told_liked_or_quoted_to_anyone_but_its_author(world, now):
    """A QA pass read a hidden post's personal data through why-not (a user who had only viewed it), liked it
    through feedback, and then saw 'because you liked "…"' quote it."""
    import json

    import pytest

    from townsquare.errors import NotFoundError
    from townsquare.feed import ForYouFeed
    from townsquare.feed.collaborative import CollaborativeModels

    world.user("ann"), world.user("bob")
    hidden, other = world.post("bob", "music", text="SECRETPHONE call me on 07700 900562"), world.post("bob", "music")
    for i in range(8):
        fan = world.user(f"fan{i}")
        world.act(fan, hidden, "like")
        world.act(fan, other, "like")
    world.act("ann", hidden, "like")
    world.act("ann", hidden, "view")
    world.load()
    rule = Rule(classifier="toxicity", label="toxic", action="hide", threshold=0.5)
    policy = Policy("test", [ResolvedRule(rule, rule.threshold, None)])
    feed = ForYouFeed(world.store, embedder=world.embedder, moderation=PolicyModeration(world.store, policy))
    feed.index.collaborative = CollaborativeModels.train(feed.index, factors=4, iterations=5)
    assert "SECRETPHONE" in json.dumps(feed.page("ann", now=now).to_dict())  # not hidden yet: named
    with world.store.begin() as conn:
        conn.execute(moderation_scores.insert().values(post_id=pid(world.store, hidden), classifier="toxicity",
                                                       version="t", scores={"toxic": 0.9}, spans=[], top_score=0.9,
                                                       scored_at=datetime.now(UTC)))
    feed.env.moderation.forget([pid(world.store, hidden)])
    assert "SECRETPHONE" not in json.dumps(feed.page("ann", now=now).to_dict())
    assert feed.why_not("ann", hidden, now=now)["text"] is None
    with pytest.raises(NotFoundError):
        feed.record("ann", hidden, "like")
    assert feed.why_not("bob", hidden, now=now)["text"].startswith("SECRETPHONE")  # its author still reads it
