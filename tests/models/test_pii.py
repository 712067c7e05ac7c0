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
    # international and national shapes beyond the English-speaking ones
    ("+44 7700 900418", "phone", "+44 7700 900418"),
    ("+49 30 1234567", "phone", "+49 30 1234567"),
    ("+49 151 23456789", "phone", "+49 151 23456789"),
    ("Mein Handy: 0151 23456789", "phone", "0151 23456789"),
    ("+61 2 9876 5432", "phone", "+61 2 9876 5432"),
    ("+81 3-1234-5678", "phone", "+81 3-1234-5678"),
    ("call 98765 43210", "phone", "98765 43210"),
    ("Call me at +33 6 12 34 56 78", "phone", "+33 6 12 34 56 78"),
    ("appelle le 06 12 34 56 78", "phone", "06 12 34 56 78"),
    ("+1 (555) 123-4567", "phone", "+1 (555) 123-4567"),
    ("or 555-1234", "phone", "555-1234"),
    ("card 4111.1111.1111.1111", "card", "4111.1111.1111.1111"),
    ("iban de89 3704 0044 0532 0130 00", "iban", "de89 3704 0044 0532 0130 00"),
    ("iban DE89-3704-0044-0532-0130-00", "iban", "DE89-3704-0044-0532-0130-00"),
    ("écris à émile@exämple.fr", "email", "émile@exämple.fr"),
    ("mail john at gmail dot com", "email", "john at gmail dot com"),
    ("jane [at] example [dot] co [dot] uk", "email", "jane [at] example [dot] co [dot] uk"),
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
    # rows of numbers: none has a phone's shape, so none is a phone
    "Final scores 21 18 25 22 and 19 20 21 23",
    "Chess results: 1500 1600 1700 ratings and 1800 1900 2000 next",
    "Temps 12 14 16 18 20", "Won 3 games 12 13 14 15", "Timestamp 1701964800", "Sold 12 345 678 units",
    "Order No. 2023 1205 0001", "lotto 04 11 23 35 42 49", "tweet 1593847261734829056",
    "version 1.2.3.4 build 20231205", "look at the stats",
])
def test_leaves_ordinary_text_alone(text):
    assert find_pii(text) == []
    assert mask_pii(text) == text


def test_masks_every_kind_with_a_placeholder():
    text = "Mail a@b.io or call 555-123-4567, pay with 4111111111111111 at 10 Downing Street"
    assert mask_pii(text) == "Mail [EMAIL] or call [PHONE], pay with [CARD] at [ADDRESS]"
    ids = "IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, NI AB 12 34 56 C, born 03/05/1988."
    assert mask_pii(ids) == "IBAN [IBAN], SSN [ID], NI [ID], born [BIRTH DATE]."  # what leaves for a remote model


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


@pytest.mark.parametrize(("text", "kind", "found"), [
    # scripts written without spaces touch the number or the email directly
    ("我的电话是13800138000", "phone", "13800138000"),
    ("電話は+81 90-1234-5678です", "phone", "+81 90-1234-5678"),
    ("전화번호는010-1234-5678입니다", "phone", "010-1234-5678"),
    ("我的邮箱是ada@example.org谢谢", "email", "ada@example.org"),
    ("phone: 0049 30 12345678", "phone", "0049 30 12345678"),  # 00 for the international +
    ("电话０９０-１２３４-５６７８", "phone", "０９０-１２３４-５６７８"),  # full-width digits, spans in the text as given
    ("メール：ａｄａ＠ｅｘａｍｐｌｅ．ｏｒｇ", "email", "ａｄａ＠ｅｘａｍｐｌｅ．ｏｒｇ"),
    ("leave them at 22 Orchard Close", "address", "22 Orchard Close"),  # a common-word street kind at the end
    ("I live at 12 Hill Way, Leeds", "address", "12 Hill Way, Leeds"),
    ("call 5551234567 after six", "phone", "5551234567"),
])
def test_finds_personal_data_beside_any_script_and_in_full_width(text, kind, found):
    spans = find_pii(text)
    assert [(s.kind, s.text) for s in spans] == [(kind, found)]
    assert text[spans[0].start:spans[0].end] == found
    assert mask_pii(text) == text[:spans[0].start] + f"[{kind.upper()}]" + text[spans[0].end:]


@pytest.mark.parametrize("text", [
    "Top 10 Best Way to cook rice", "Game 7 Center Court tonight", "3 In A Row again",
    "ISBN 0306406152", "order #4829301746", "Invoice no. 5551234567", "tracking: 2025550143",
])
def test_rankings_and_numbers_of_things_are_not_personal_data(text):
    assert find_pii(text) == []
