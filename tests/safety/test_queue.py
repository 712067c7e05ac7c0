"""Scores on ingest, the queue, decisions, appeals, export, feed gating and user deletion: on every store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from townsquare.errors import InputError, NotFoundError
from townsquare.ingest.loader import Loader
from townsquare.ingest.records import PostRecord, UserRecord
from townsquare.safety.gate import moderate_candidates, post_decisions
from townsquare.safety.policy import load_policy
from townsquare.safety.queue import (
    appeal_case,
    count_cases,
    decide_case,
    decide_cases,
    export_decisions,
    inferred_labels,
    latest_case,
    list_cases,
    queue_health,
    redecide_posts,
    score_posts,
    stored_scores,
    unscored_posts,
)
from townsquare.safety.registry import SafetyScorer
from townsquare.safety.rules import PersonalDataClassifier, SpamClassifier
from townsquare.storage.moderation_schema import (
    moderation_appeals,
    moderation_cases,
    moderation_decisions,
    moderation_scores,
)
from townsquare.storage.privacy import delete_user

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPAM = "WIN FREE crypto!!! click http://a.example/x http://b.example/y #win #free #crypto #airdrop #promo"
POLICY = """
community = "test"
[[rules]]
classifier = "spam"
label = "spam"
threshold = 0.5
action = "demote"
factor = 0.5
[[rules]]
classifier = "spam"
label = "spam"
threshold = 0.8
action = "review"
[[rules]]
classifier = "personal_data"
label = "personal_data"
threshold = 0.95
action = "hide"
"""


@pytest.fixture
def world(store, tmp_path):
    Loader(store).load([
        UserRecord(id="u1", handle="ada"), UserRecord(id="u2", handle="bob"), UserRecord(id="u3", handle="cy"),
        PostRecord(id="p1", author="u1", text="Lovely morning for a ride by the river.", created_at=T0),
        PostRecord(id="p2", author="u2", text=SPAM, created_at=T0),
        PostRecord(id="p3", author="u2", text="his ssn is 123-45-6789 and card 4111 1111 1111 1111", created_at=T0),
        PostRecord(id="p4", author="u3", text="promo code inside, click to see", created_at=T0),
    ])
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    scorer = SafetyScorer([PersonalDataClassifier(), SpamClassifier()], encoder=None)
    policy = load_policy(path, scorer.curves())
    ids = {ext: store.find_post(ext)["id"] for ext in ("p1", "p2", "p3", "p4")}
    return store, scorer, policy, ids


def count(store, table) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_scoring_on_ingest_fills_the_queue_once(world):
    store, scorer, policy, ids = world
    assert sorted(unscored_posts(store)) == sorted(ids.values())
    told: list[int] = []
    report = score_posts(store, sorted(ids.values()), scorer, policy, batch_size=3, progress=told.append)
    assert report.scored == 4 and report.enqueued == 2 and told == [3, 1]
    assert report.actions == {"allow": 1, "demote": 1, "review": 1, "hide": 1}
    assert unscored_posts(store) == []
    assert count(store, moderation_scores) == 8
    again = score_posts(store, sorted(ids.values()), scorer, policy)
    assert again.enqueued == 0 and again.refreshed == 2 and count(store, moderation_cases) == 2 and count(store, moderation_scores) == 8
    cases = list_cases(store)
    assert [c["post"] for c in cases] == ["p3", "p2"]  # hide outranks review
    pii = cases[0]
    assert pii["suggested_action"] == "hide"
    assert {s["kind"] for s in pii["reasons"][0]["spans"]} == {"ssn", "card"}
    assert "personal_data" in pii["reasons"][0]["why"]
    assert stored_scores(store, [ids["p2"]])[ids["p2"]]["scores"]["spam"]["spam"] > 0.8


def test_rescoring_brings_an_open_case_up_to_date(world, tmp_path):
    store, scorer, policy, ids = world
    score_posts(store, [ids["p3"]], scorer, policy)
    assert [c["suggested_action"] for c in list_cases(store)] == ["hide"]
    stricter = tmp_path / "review.toml"  # the same scores, a policy that only sends them to review
    stricter.write_text('[[rules]]\nclassifier = "personal_data"\nlabel = "personal_data"\nthreshold = 0.5\n'
                        'action = "review"\n')
    report = score_posts(store, [ids["p3"]], scorer, load_policy(stricter, scorer.curves()))
    assert report.enqueued == 0 and report.refreshed == 1
    [case] = list_cases(store)
    assert case["suggested_action"] == "review" and case["reasons"][0]["why"].startswith("review because")


def test_redeciding_applies_an_edited_policy_to_the_stored_scores(world, tmp_path):
    """After a policy edit: open cases take its suggestion (allow, where it no longer flags the post), posts it
    now flags get a case, an appealed case keeps its own (from the stored scores: it takes no scorer)."""
    store, scorer, policy, ids = world
    score_posts(store, sorted(ids.values()), scorer, policy)
    case = {c["post"]: c["id"] for c in list_cases(store)}
    decide_case(store, case["p2"], "mod-ann", "demote")
    appeal_case(store, case["p2"], "u2", "it is a real offer")
    edited = tmp_path / "edited.toml"  # personal data is no longer looked at; p4's spam score of 0.55 is reviewed
    edited.write_text('community = "edited"\n[[rules]]\nclassifier = "spam"\nlabel = "spam"\nthreshold = 0.5\n'
                      'action = "review"\n')
    report = redecide_posts(store, load_policy(edited, scorer.curves()), {"spam": ["ham", "spam"]})
    assert (report.scored, report.refreshed, report.enqueued) == (4, 1, 1)
    assert report.actions == {"allow": 2, "review": 2}
    cases = {c["post"]: c for c in list_cases(store, "todo", limit=10)}
    assert set(cases) == {"p2", "p3", "p4"}
    assert cases["p3"]["suggested_action"] == "allow" and cases["p3"]["reasons"] == []  # the edit lets it be
    assert cases["p2"]["status"] == "appealed" and cases["p2"]["suggested_action"] == "review"  # as first scored
    assert cases["p4"]["community"] == "edited" and "spam" in cases["p4"]["reasons"][0]["why"]
    assert [c["post"] for c in list_cases(store)] == ["p4", "p3"]  # nothing to do on p3: the least urgent
    again = redecide_posts(store, load_policy(edited, scorer.curves()))
    assert again.enqueued == 0 and again.refreshed == report.refreshed + report.enqueued


def test_a_moderators_decision_and_a_users_report_outlast_a_new_policy(world, tmp_path):
    """Redeciding (or rescoring) opens no second case on a post a moderator decided, and an open case that a
    user reported keeps the report among its reasons, still asking for review."""
    from townsquare.safety.queue import report_post

    store, scorer, policy, ids = world
    score_posts(store, sorted(ids.values()), scorer, policy)
    case = {c["post"]: c["id"] for c in list_cases(store)}
    decide_case(store, case["p3"], "mod-ann", "allow")
    report_post(store, "p1")
    nothing = tmp_path / "nothing.toml"  # flags nothing
    nothing.write_text('community = "quiet"\nrules = []\n')
    strict = tmp_path / "strict.toml"  # flags p3 again, and spam
    strict.write_text('[[rules]]\nclassifier = "personal_data"\nlabel = "personal_data"\nthreshold = 0.5\n'
                      'action = "hide"\n[[rules]]\nclassifier = "spam"\nlabel = "spam"\nthreshold = 0.5\n'
                      'action = "review"\n')
    for path in (nothing, strict):
        redecide_posts(store, load_policy(path, scorer.curves()))
        score_posts(store, sorted(ids.values()), scorer, load_policy(path, scorer.curves()))
        cases = list_cases(store, "all", limit=10)
        assert [c["status"] for c in cases if c["post"] == "p3"] == ["decided"]  # no second case
        [reported] = [c for c in cases if c["post"] == "p1"]
        assert reported["suggested_action"] == "review" and reported["priority"] == 0.5
        assert [r["why"] for r in reported["reasons"]] == ["reported by a user"]  # p1 itself is fine; the reporter is not named
        if path is nothing:
            assert {c["post"]: c["suggested_action"] for c in cases if c["status"] == "open"} == {
                "p1": "review", "p2": "allow"}


def test_the_queue_shows_the_cases_of_one_classifier(world):
    """A moderator who handles personal data (or users' reports) sees only those cases, and their count."""
    from townsquare.safety.queue import report_post

    store, scorer, policy, ids = world
    score_posts(store, sorted(ids.values()), scorer, policy)
    report_post(store, "p1")
    assert [c["post"] for c in list_cases(store, "todo", classifier="personal_data")] == ["p3"]
    assert [c["post"] for c in list_cases(store, "todo", classifier="spam")] == ["p2"]
    assert [c["post"] for c in list_cases(store, "all", classifier="user_reports")] == ["p1"]
    assert list_cases(store, "todo", classifier="hate") == []
    assert count_cases(store, "personal_data") == {"open": 1} and count_cases(store) == {"open": 3}


def test_queue_health_says_how_the_moderators_keep_up(world):
    from datetime import timedelta

    from sqlalchemy import update

    store, scorer, policy, ids = world
    assert queue_health(store)["median_hours_to_decision"] is None  # nothing yet
    score_posts(store, sorted(ids.values()), scorer, policy)
    case = {c["post"]: c["id"] for c in list_cases(store)}
    now = datetime.now(UTC)
    with store.begin() as conn:
        for post, hours in (("p3", 10), ("p2", 4)):
            conn.execute(update(moderation_cases).where(moderation_cases.c.id == case[post])
                         .values(created_at=now - timedelta(hours=hours)))
    health = queue_health(store, now)
    assert (health["open"], health["appealed"], health["decided"]) == (2, 0, 0)
    assert health["oldest_waiting_hours"] == pytest.approx(10, abs=0.01)
    decide_case(store, case["p3"], "mod-ann", "hide")
    decide_case(store, case["p2"], "mod-ann", "demote")
    appeal_case(store, case["p3"], "u2", "my own card")
    assert queue_health(store)["appealed"] == 1
    decide_case(store, case["p3"], "mod-ben", "allow")  # overturned: the second decision does not count again
    health = queue_health(store)
    assert (health["open"], health["appealed"], health["decided"]) == (0, 0, 2)
    assert health["median_hours_to_decision"] == pytest.approx(7, abs=0.05) and health["oldest_waiting_hours"] is None
    assert (health["appeals_resolved"], health["appeals_overturned"]) == (1, 1)
    assert queue_health(store, now + timedelta(days=31))["decided"] == 0  # out of the window


def test_decisions_appeals_and_training_export(world, tmp_path):
    store, scorer, policy, ids = world
    score_posts(store, sorted(ids.values()), scorer, policy)
    spam_case, pii_case = (next(c["id"] for c in list_cases(store) if c["post"] == p) for p in ("p2", "p3"))
    decided = decide_case(store, spam_case, "mod-alice", "allow", note="a real giveaway")
    assert decided["labels"] == {"spam": "ham"} and decided["moderator"] == "mod-alice"
    decide_case(store, pii_case, "mod-bob", "hide")
    assert list_cases(store) == []
    assert {c["status"] for c in list_cases(store, status="decided")} == {"decided"}
    with pytest.raises(InputError, match="unknown action"):
        decide_case(store, pii_case, "mod-bob", "delete")
    with pytest.raises(InputError, match="'banana' is not a label of spam; its labels: ham, spam"):
        decide_case(store, pii_case, "mod-bob", "hide", labels={"spam": "banana"}, known_labels=scorer.labels())
    with pytest.raises(NotFoundError):
        decide_case(store, 999, "mod-bob", "hide")

    with pytest.raises(InputError, match="only the post's author may appeal"):
        appeal_case(store, spam_case, "@cy", "not my post")  # p2 is u2's
    with pytest.raises(InputError, match="an appeal needs a reason"):
        appeal_case(store, spam_case, "u2", "  ")
    appeal_id = appeal_case(store, spam_case, "u2", "it is spam, look at the links")
    assert [c["id"] for c in list_cases(store, status="appealed")] == [spam_case]
    with pytest.raises(InputError, match="only decided cases"):
        appeal_case(store, spam_case, "u2", "again")
    decide_case(store, spam_case, "mod-carol", "hide", labels={"spam": "spam"})
    with store.read() as conn:
        appeal = conn.execute(select(moderation_appeals).where(moderation_appeals.c.id == appeal_id)).mappings().one()
    assert appeal["status"] == "overturned" and appeal["resolved_at"] is not None

    out = tmp_path / "spam.jsonl"
    assert export_decisions(store, "spam", out) == 1
    row = json.loads(out.read_text())
    assert row["label"] == "spam" and row["moderator"] == "mod-carol" and row["text"] == SPAM
    with pytest.raises(InputError, match=r"a moderator answered the appeal \(overturned\) on .*: a decision is "
                                         "appealed once"):  # one appeal per decision; it was taken again
        appeal_case(store, spam_case, "u2", "it was a real giveaway after all")
    assert latest_case(store, ids["p2"], decided=True)["appeal_answered"] == "overturned"
    decide_case(store, spam_case, "mod-dan", "allow", labels={})  # decided again, naming no label
    assert latest_case(store, ids["p2"], decided=True)["appeal_answered"] is None
    appeal_case(store, spam_case, "u2", "that new decision may be appealed, once")
    with pytest.raises(NotFoundError, match="no moderator decision labels 'spam'"):
        export_decisions(store, "spam", tmp_path / "none.jsonl")  # the overturned decision's label is not training data
    assert not (tmp_path / "none.jsonl").exists()



def test_exporting_decisions_to_a_folder_is_a_clear_error(world, tmp_path):
    store, scorer, policy, ids = world
    score_posts(store, sorted(ids.values()), scorer, policy)
    spam_case = next(c["id"] for c in list_cases(store) if c["post"] == "p2")
    decide_case(store, spam_case, "mod-alice", "hide", labels={"spam": "spam"})
    with pytest.raises(InputError, match=r"cannot write .*: not a writable file"):  # was an IsADirectoryError
        export_decisions(store, "spam", tmp_path)

def test_a_decision_confirms_the_flags_behind_its_action_not_every_flag_on_the_case():
    """A post hidden for its phone number, which the offensive head also labelled, is not thereby offensive."""
    case = {"reasons": [
        {"classifier": "personal_data", "label": "personal_data", "action": "review", "rejected_label": "none"},
        {"classifier": "offensive", "label": "offensive", "action": "label", "rejected_label": "not-offensive"},
    ]}
    assert inferred_labels(case, "hide") == {"personal_data": "personal_data"}
    assert inferred_labels(case, "allow") == {"personal_data": "none", "offensive": "not-offensive"}
    assert inferred_labels({"reasons": []}, "hide") == {}


@dataclass(eq=False)
class FeedItem:
    """The two things the gate needs from a feed candidate."""

    post_id: int
    score: float = 1.0
    demotions: list = field(default_factory=list)

    def scale(self, factor: float, stage: str, detail: str = "") -> None:
        self.score *= factor
        self.demotions.append((stage, factor, detail))


def test_feed_hides_and_demotes_with_reasons_and_moderators_override(world):
    store, scorer, policy, ids = world
    score_posts(store, sorted(ids.values()), scorer, policy)
    decisions = post_decisions(store, list(ids.values()), policy)
    items = [FeedItem(pid) for pid in ids.values()]
    kept, removed = moderate_candidates(items, decisions)
    assert [r.candidate.post_id for r in removed] == [ids["p3"]]
    assert "personal_data" in removed[0].explain()[0]
    spam_item = next(i for i in kept if i.post_id == ids["p2"])
    assert spam_item.score == 0.5 and spam_item.demotions[0][0] == "safety"
    assert "spam" in spam_item.demotions[0][2]
    # A moderator allows the hidden post: the feed follows the moderator, not the model.
    case = next(c["id"] for c in list_cases(store) if c["post"] == "p3")
    decide_case(store, case, "mod-alice", "allow")
    kept, removed = moderate_candidates([FeedItem(ids["p3"])], post_decisions(store, [ids["p3"]], policy))
    assert removed == [] and kept[0].score == 1.0


def test_deleting_users_removes_their_moderation_rows(world):
    store, scorer, policy, ids = world
    score_posts(store, sorted(ids.values()), scorer, policy)
    spam_case = next(c["id"] for c in list_cases(store) if c["post"] == "p2")
    decide_case(store, spam_case, "mod-alice", "hide")
    appeal_case(store, spam_case, "u2", "please")
    delete_user(store, "@cy")  # someone else: the case and the appeal stay
    assert count(store, moderation_appeals) == 1 and count(store, moderation_cases) == 2
    delete_user(store, "@bob")  # the author and appellant: scores, cases, decisions and appeals about their posts go
    assert count(store, moderation_cases) == 0 and count(store, moderation_decisions) == 0
    assert count(store, moderation_appeals) == 0
    assert count(store, moderation_scores) == 2  # p1's two scores remain


def test_an_erased_post_leaves_no_words_in_its_cases_and_no_case_waiting(world):
    """Deleting a post erased its text but its case still quoted the card and SSN numbers, open at the top of the
    queue (QA passes, session 23)."""
    from townsquare.storage.privacy import erase_posts

    store, scorer, policy, ids = world
    score_posts(store, sorted(ids.values()), scorer, policy)
    spam_case = next(c["id"] for c in list_cases(store) if c["post"] == "p2")
    decide_case(store, spam_case, "mod-alice", "hide")
    appeal_case(store, spam_case, "u2", "please")
    with store.begin() as conn:
        assert erase_posts(conn, [ids["p2"], ids["p3"]]) == 2
    assert list_cases(store, status="todo") == []  # nothing left to decide
    with store.read() as conn:
        stored = json.dumps(conn.execute(select(moderation_cases.c.reasons)).scalars().all())
        assert "123-45-6789" not in stored and "4111" not in stored and '"kind": "ssn"' in stored
        assert conn.execute(select(moderation_decisions.c.action)).scalars().all() == ["hide"]  # who decided stays
    assert count(store, moderation_appeals) == 0


def test_the_queue_pages_through_many_cases(world):
    """``todo`` holds the appeals first, then the most urgent; ``offset`` pages through any status, and
    ``count_cases`` says how many each holds."""
    store, scorer, policy, ids = world
    Loader(store).load([PostRecord(id=f"x{i}", author="u3", text=f"call me on 07700 900{i:03d}, ssn 123-45-{6000 + i}",
                                   created_at=T0) for i in range(7)])
    every = sorted(ids.values()) + [store.find_post(f"x{i}")["id"] for i in range(7)]
    score_posts(store, every, scorer, policy)
    assert count_cases(store) == {"open": 9}
    spam_case = next(c["id"] for c in list_cases(store, limit=100) if c["post"] == "p2")
    decide_case(store, spam_case, "mod-alice", "allow")
    appeal_case(store, spam_case, "u2", "it is spam")
    assert count_cases(store) == {"open": 8, "appealed": 1}
    todo = [c["id"] for c in list_cases(store, status="todo", limit=100)]
    assert len(todo) == 9 and todo[0] == spam_case  # the appeal first
    pages = [[c["id"] for c in list_cases(store, status="todo", limit=4, offset=at)] for at in (0, 4, 8, 12)]
    assert [len(p) for p in pages] == [4, 4, 1, 0] and [i for page in pages for i in page] == todo
    with pytest.raises(InputError, match="unknown case status 'pending'"):
        list_cases(store, status="pending")


def test_deciding_many_cases_records_all_or_none(world):
    store, scorer, policy, ids = world
    score_posts(store, sorted(ids.values()), scorer, policy)
    both = [c["id"] for c in list_cases(store)]
    with pytest.raises(NotFoundError, match="no moderation case 999"):
        decide_cases(store, [*both, 999], "mod-alice", "hide")
    assert count_cases(store) == {"open": 2} and count(store, moderation_decisions) == 0
    with pytest.raises(InputError, match="no case chosen"):
        decide_cases(store, [], "mod-alice", "hide")
    decided = decide_cases(store, [both[1], both[0], both[1]], "mod-alice", "hide", note="one sweep")
    assert [d["case_id"] for d in decided] == [both[1], both[0]]  # each once, in the order given
    assert count_cases(store) == {"decided": 2} and {d["note"] for d in decided} == {"one sweep"}
