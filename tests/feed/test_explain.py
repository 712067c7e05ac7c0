"""Explanations in words people read: who, and which of their own likes, never bare ids."""

from __future__ import annotations

from townsquare.feed.candidates import Reason
from townsquare.feed.explain import Names, summarise

NAMES = Names({4: "ada", 5: "bob"}, {
    9: {"external_id": "p9", "text": "Club night: 9 games, 8 different openings, zero wins. Correspondence chess next"},
    10: {"external_id": "p10", "text": "Short one"},
})


def test_a_liked_post_is_quoted_by_its_words():
    assert summarise(Reason("interest_similarity", 0.8, (), (10,), "interest 1"), NAMES) == \
        "close to your interest 1 (like \u201cShort one\u201d, which you liked)"
    assert summarise(Reason("item_item", 0.3, (), (9, 10)), NAMES) == \
        "because you liked \u201cClub night: 9 games, 8 different openings\u2026\u201d and 1 more"


def test_a_post_or_person_that_is_gone_is_not_named():
    """A deleted post (no row, or no words left) and a deleted user are left out, never named by a bare id."""
    gone = Names({4: "ada", 5: "bob"}, {**NAMES.posts, 11: {"external_id": "p11", "text": ""}})
    assert summarise(Reason("item_item", 0.3, (), (77, 11)), gone) == "co-engaged with posts you liked"
    assert summarise(Reason("item_item", 0.3, (), (77, 10)), gone) == "because you liked \u201cShort one\u201d"
    assert summarise(Reason("social_proof", 2.0, (4, 5, 6), ()), gone) == \
        "engaged with by 2 people you follow: @ada, @bob"
