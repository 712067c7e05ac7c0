"""The phrase banks: every template fills, every topic has enough to say, the data stays small."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import townsquare.demo
from townsquare.demo.content import fill, load_banks, template_fields
from townsquare.demo.phrasebook import Phrasebook
from townsquare.demo.voice import ARCHETYPES, VoiceStyler
from townsquare.errors import ConfigError


def test_banks_cover_15_to_20_topics_with_enough_phrases():
    banks = load_banks()
    assert 15 <= len(banks.topics) <= 20
    assert len(set(banks.topic_ids)) == len(banks.topics)
    for topic in banks.topics:
        assert len(topic.posts) >= 15, topic.id
        assert len(topic.questions) >= 5, topic.id
        assert len(topic.replies) >= 10, topic.id
        assert topic.hashtags and topic.emoji and topic.handle_words and topic.bio, topic.id


def test_every_template_names_known_slots_and_fills():
    banks = load_banks()
    rng = random.Random(0)
    for topic in banks.topics:
        slots = banks.slots_for(topic)
        for template in topic.posts + topic.questions + topic.replies + topic.bio:
            for name in template_fields(template):
                assert name in slots, f"{topic.id}: {template!r} uses unknown slot {name!r}"
            text = fill(template, slots, rng)
            assert "{" not in text and "}" not in text
            assert text[0].isupper() or not text[0].isalpha()


def test_phrase_banks_stay_under_300_kb():
    root = Path(townsquare.demo.__file__).parent / "banks"
    sizes = [p.stat().st_size for p in root.rglob("*.json")]
    assert len(sizes) >= 17
    assert sum(sizes) < 300_000


def test_unknown_topic_says_which_exist():
    with pytest.raises(ConfigError, match="known topics: .*chess"):
        load_banks().topic("knitting")


def test_flagged_posts_are_present():
    flagged = load_banks().flagged
    assert len(flagged["toxic"]) >= 10
    assert len(flagged["misleading"]) >= 10
    assert len(flagged["pii"]) >= 2
    for item in flagged["misleading"] + flagged["pii"]:
        load_banks().topic(item["topic"])  # names a real topic


def test_voice_styler_applies_register_lowercase_and_emoji():
    banks = load_banks()
    styler = VoiceStyler(banks.common)
    topic = banks.topic("coffee")
    rng = random.Random(1)
    formal = styler.style(["I'm sure it's fine.", "Don't worry."], ARCHETYPES["formal"], topic, rng, extras=False)
    assert "I am sure it is fine." in formal and "Do not worry." in formal
    lowkey = ARCHETYPES["lowkey"]
    texts = [styler.style(["Brewed a Kenyan today."], lowkey, topic, rng) for _ in range(50)]
    assert all(t == t.lower() for t in texts)
    assert sum(any(e in t for e in topic.emoji + tuple(banks.common["emoji"])) for t in texts) > 15


def test_phrasebook_picks_distinct_templates_in_one_post():
    book = Phrasebook(load_banks(), seed=0)
    rng = random.Random(2)
    for _ in range(300):
        draws = [rng.random() for _ in range(8)]
        draws[0], draws[5], draws[6] = 0.9, 0.9, 0.5  # four statements, no question, no opener
        text, _ = book.original(0, draws, 0)
        groups = book.phrases[0].statements
        used = [i for i, group in enumerate(groups) if any(s in text for s in group)]
        assert len(used) >= 4, text
