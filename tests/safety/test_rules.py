"""The rule-based classifiers on fixtures: personal data spans and spam signals."""

from __future__ import annotations

from townsquare.models.pii import iban_valid
from townsquare.safety.rules import (
    PersonalDataClassifier,
    SpamClassifier,
    find_personal_data,
    spam_signals,
)


def kinds(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in find_personal_data(text)]


def test_personal_data_spans():
    text = "mail me at ada.lovelace@example.org or call +44 20 7946 0958"
    found = kinds(text)
    assert ("email", "ada.lovelace@example.org") in found
    assert any(k == "phone" for k, _ in found)
    for span in find_personal_data(text):
        assert text[span.start:span.end] == span.text


def test_identity_numbers_beat_phone_lookalikes():
    assert kinds("my ssn is 123-45-6789 lol") == [("ssn", "123-45-6789")]
    assert kinds("pay to GB82 WEST 1234 5698 7654 32 today") == [("iban", "GB82 WEST 1234 5698 7654 32")]
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert kinds("card 4111 1111 1111 1111 exp 12/29")[0] == ("card", "4111 1111 1111 1111")


def test_dates_of_birth_need_their_year_and_a_word_that_says_so():
    assert kinds("name on it is Daniel Brennan, born 03/05/1988. If found") == [("birth_date", "03/05/1988")]
    assert kinds("DOB: 1990-12-01") == [("birth_date", "1990-12-01")]
    assert kinds("date of birth is 3rd May 1988") == [("birth_date", "3rd May 1988")]
    assert kinds("she was born on March 4, 1979 in Leeds") == [("birth_date", "March 4, 1979")]
    assert kinds("born in 1988, raised in Leeds") == []  # a year alone identifies no one
    assert kinds("the match on 03/05/1988 was a classic") == []  # a date, not a birth date


def test_no_personal_data_in_plain_text():
    assert kinds("the 2024 season had 38 games and 114 goals") == []
    assert "ssn" not in [k for k, _ in kinds("invalid ssn 000-12-3456")]


def test_personal_data_probabilities_and_spans():
    out = PersonalDataClassifier().classify(["nothing here", "write to bob@example.com",
                                             "SSN 123-45-6789, card 4111111111111111"])
    p = out.probs[:, 1]
    assert p[0] == 0.0 and 0.5 < p[1] < 0.95 and p[2] > 0.99
    assert [s.kind for s in out.spans[2]] == ["ssn", "card"]
    assert out.probs.sum(axis=1).round(6).tolist() == [1.0, 1.0, 1.0]


def test_spam_signals():
    spam = "WIN a FREE iPhone!!! click here http://x.co/a http://x.co/b #win #free #iphone #giveaway #promo"
    assert {"promo_words_2plus", "two_plus_links", "hashtags_5plus"} <= set(spam_signals(spam))
    assert spam_signals("Had a lovely walk by the river this morning.") == []
    p = SpamClassifier().classify([spam, "Had a lovely walk by the river this morning."]).probs[:, 1]
    assert p[0] > 0.8 and p[1] == 0.0


def test_every_demo_post_with_personal_data_is_found_with_its_phone_number():
    from townsquare.demo import build_community

    community = build_community(0)
    posts = [p for p in community.posts if community.labels.get(p.id) == "pii"]
    assert posts
    for post in posts:
        found = find_personal_data(post.text)
        assert "phone" in {s.kind for s in found}, post.text
    scores = PersonalDataClassifier().classify([p.text for p in posts]).probs
    assert (scores[:, 1] >= 0.85).all()
