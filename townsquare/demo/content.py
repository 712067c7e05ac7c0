"""The hand-written phrase banks the demo community and the synthetic generator compose posts from.

Every text lives in ``banks/*.json`` inside this package and was written for townsquare (no
third-party text). A template holds ``{slot}`` fields, filled from the topic's slots or the
shared ones in ``common.json``, and ``{a|b|c}`` inline choices.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

from townsquare.errors import ConfigError

_FIELD = re.compile(r"\{([^{}]+)\}")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")


@dataclass(frozen=True)
class Topic:
    """One of the community's topics and every phrase written for it."""

    id: str
    name: str
    hashtags: tuple[str, ...]
    emoji: tuple[str, ...]
    handle_words: tuple[str, ...]
    bio: tuple[str, ...]
    slots: Mapping[str, Sequence[str]]
    posts: tuple[str, ...]
    questions: tuple[str, ...]
    replies: tuple[str, ...]
    # Posts in other languages, by language code ("es", "de").
    lines: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Banks:
    """All phrase banks: topics, shared phrases (names, voices, replies) and flagged posts."""

    topics: tuple[Topic, ...]
    common: Mapping[str, Any]
    flagged: Mapping[str, Any]

    def topic(self, topic_id: str) -> Topic:
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        known = ", ".join(t.id for t in self.topics)
        raise ConfigError(f"unknown demo topic {topic_id!r}; known topics: {known}")

    @property
    def topic_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    def slots_for(self, topic: Topic) -> dict[str, Sequence[str]]:
        """The topic's slots on top of the shared ones."""
        return {**self.common["slots"], **topic.slots}


def _topic(data: dict[str, Any]) -> Topic:
    lines = {lang: tuple(data[lang]) for lang in ("es", "de") if lang in data}
    return Topic(
        id=data["id"], name=data["name"], hashtags=tuple(data["hashtags"]), emoji=tuple(data["emoji"]),
        handle_words=tuple(data["handle_words"]), bio=tuple(data["bio"]), slots=data["slots"],
        posts=tuple(data["posts"]), questions=tuple(data["questions"]), replies=tuple(data["replies"]),
        lines=lines)


@cache
def load_banks() -> Banks:
    """Read the phrase banks shipped in ``townsquare/demo/banks`` (once per process)."""
    root = files("townsquare.demo") / "banks"
    topic_dir = root / "topics"
    names = sorted(p.name for p in topic_dir.iterdir() if p.name.endswith(".json"))
    if not names:
        raise ConfigError(f"no topic banks found in {topic_dir}; reinstall townsquare (package data missing)")
    topics = tuple(_topic(json.loads((topic_dir / n).read_text("utf-8"))) for n in names)
    common = json.loads((root / "common.json").read_text("utf-8"))
    flagged = json.loads((root / "flagged.json").read_text("utf-8"))
    return Banks(topics=topics, common=common, flagged=flagged)


def fill(template: str, slots: Mapping[str, Sequence[str]], rng: random.Random) -> str:
    """Fill every ``{slot}`` and ``{a|b}`` of a template; the result starts with a capital."""

    def choose(match: re.Match[str]) -> str:
        key = match.group(1)
        options = key.split("|") if "|" in key else slots[key]
        return rng.choice(options)

    return capitalize_sentences(_FIELD.sub(choose, template))


def capitalize_sentences(text: str) -> str:
    """Upper-case the first letter of every sentence (slots may start one in lower case)."""
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def template_fields(template: str) -> list[str]:
    """The slot names a template uses (inline choices excluded)."""
    return [key for key in _FIELD.findall(template) if "|" not in key]
