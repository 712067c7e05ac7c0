"""Personal data is found with its kind, masked, and ordinary text is left alone."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townsquare.models.pii import find_pii, luhn_valid, mask_pii


@pytest.mark.parametrize(("text", "kind", "found"), [
    ("write to jane.doe+news@example.co.uk today", "email", "jane.doe+news@example.co.uk"),
    ("call me on 555-123-4567", "phone", "555-123-4567"),
    ("office (202) 225-3031 ext", "phone", "(202) 225-3031"),
    ("ring +44 20 7946 0958 now", "phone", "+44 20 7946 0958"),
    ("my number is 07405077156", "phone", "07405077156"),
    ("text me on 07700 900418 tonight", "phone", "07700 900418"),
    ("Ruf an: 0151 2345678", "phone", "0151 2345678"),
    ("visa 4111 1111 1111 1111 exp", "card", "4111 1111 1111 1111"),
    ("card 4242-4242-4242-4242", "card", "4242-4242-4242-4242"),
    ("I live at 221B Baker Street, London NW1 6XE ok", "address", "221B Baker Street, London NW1 6XE"),
    ("at 1600 Pennsylvania Avenue NW, Washington, DC 20500.", "address",
     "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ("ship to 42 5th Ave, Apt 3B, New York, NY 10001", "address", "42 5th Ave, Apt 3B, New York, NY 10001"),
    ("send to PO Box 1234", "address", "PO Box 1234"),
])
def test_finds_personal_data_with_its_kind(text, kind, found):
    spans = find_pii(text)
    assert [(s.kind, s.text) for s in spans] == [(kind, found)]
    assert text[spans[0].start:spans[0].end] == found


@pytest.mark.parametrize("text", [
    "@user lol see you at 10:30 on 2019-05-12, score was 3-2",
    "Angels now have 6 runs, 1,000,000 views #MondayMotivation",
    "the war of 1939-1945 and years 2019 2020",
    "open 0900 1730 daily, 1200 1300 closed for lunch",
    "order 4111 1111 1111 1112 failed",  # fails the Luhn check: not a card
    "I walked 3 miles down the road with 2 dogs",
])
def test_leaves_ordinary_text_alone(text):
    assert find_pii(text) == []
    assert mask_pii(text) == text


def test_masks_every_kind_with_a_placeholder():
    text = "Mail a@b.io or call 555-123-4567, pay with 4111111111111111 at 10 Downing Street"
    assert mask_pii(text) == "Mail [EMAIL] or call [PHONE], pay with [CARD] at [ADDRESS]"


def test_spans_do_not_overlap_and_are_ordered():
    spans = find_pii("x@y.com 555-123-4567 x@y.com 4111 1111 1111 1111")
    assert [s.kind for s in spans] == ["email", "phone", "email", "card"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_luhn():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


@given(user=st.from_regex(r"[a-z][a-z0-9._]{0,10}[a-z0-9]", fullmatch=True),
       domain=st.from_regex(r"[a-z]{2,10}\.(com|org|io|co\.uk)", fullmatch=True),
       before=st.text(alphabet="abc XYZ,!?", max_size=20), after=st.text(alphabet="abc XYZ,!?", max_size=20))
def test_any_email_in_any_sentence_is_masked(user, domain, before, after):
    email = f"{user}@{domain}"
    masked = mask_pii(f"{before} {email} {after}")
    assert email not in masked and "[EMAIL]" in masked
