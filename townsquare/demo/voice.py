"""How a demo user writes: formality, length, emoji, exclamation marks, lowercase.

A ``Voice`` is sampled once per user from a handful of archetypes with some jitter, and
``VoiceStyler`` applies it to the sentences a post is made of, so that every user's posts
visibly sound like them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from townsquare.demo.content import Topic, capitalize_sentences


@dataclass(frozen=True)
class Voice:
    archetype: str
    formality: float  # 0 casual (slang) .. 1 formal (no contractions)
    sentences: tuple[int, int]  # fewest and most sentences in an original post
    emoji: float  # chance that a post carries emoji
    exclaim: float  # chance that a post ends its sentences with "!"
    lowercase: bool
    hashtags: float  # chance that a post carries hashtags
    openers: float  # chance of an opener ("ok so", "Worth noting:") or a closer


ARCHETYPES: dict[str, Voice] = {
    "formal": Voice("formal", 0.9, (2, 3), 0.0, 0.0, False, 0.10, 0.30),
    "dry": Voice("dry", 0.7, (1, 2), 0.0, 0.0, False, 0.05, 0.05),
    "casual": Voice("casual", 0.45, (1, 2), 0.25, 0.2, False, 0.30, 0.20),
    "enthusiast": Voice("enthusiast", 0.3, (1, 2), 0.9, 0.7, False, 0.60, 0.15),
    "rambler": Voice("rambler", 0.4, (3, 4), 0.3, 0.15, False, 0.20, 0.45),
    "terse": Voice("terse", 0.2, (1, 1), 0.05, 0.0, True, 0.10, 0.05),
    "lowkey": Voice("lowkey", 0.1, (1, 2), 0.6, 0.1, True, 0.25, 0.35),
}
ARCHETYPE_WEIGHTS = {"formal": 2, "dry": 2, "casual": 5, "enthusiast": 2, "rambler": 1, "terse": 2, "lowkey": 2}


def sample_voice(rng: random.Random, archetype: str | None = None) -> Voice:
    """An archetype (drawn by weight unless given) with jittered rates."""
    if archetype is None:
        names = list(ARCHETYPE_WEIGHTS)
        archetype = rng.choices(names, weights=[ARCHETYPE_WEIGHTS[n] for n in names])[0]
    base = ARCHETYPES[archetype]

    def jitter(x: float) -> float:
        return min(1.0, max(0.0, x + rng.uniform(-0.08, 0.08))) if x > 0 else 0.0

    return replace(base, emoji=jitter(base.emoji), exclaim=jitter(base.exclaim),
                   hashtags=jitter(base.hashtags), openers=jitter(base.openers))


def _word_map_pattern(words: Mapping[str, str]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b",
                      re.IGNORECASE)


class VoiceStyler:
    """Turns the sentences of a post into text in a user's voice."""

    def __init__(self, common: Mapping[str, object]):
        self.common = common
        self.contractions = {k.lower(): v for k, v in common["contractions"].items()}
        self.slang = {k.lower(): v for k, v in common["slang"].items()}
        self._contractions = _word_map_pattern(self.contractions)
        self._slang = _word_map_pattern(self.slang)

    def style(self, sentences: Sequence[str], voice: Voice, topic: Topic | None, rng: random.Random,
              *, tags: bool = True, extras: bool = True) -> str:
        """Join sentences and apply the voice; ``extras`` allows openers and closers."""
        text = " ".join(s.strip() for s in sentences if s.strip())
        text = self._register(text, voice, rng)
        if extras and rng.random() < voice.openers:
            text = capitalize_sentences(self._frame(text, voice, rng))
        if rng.random() < voice.exclaim:
            bang = "!!" if voice.exclaim > 0.5 and rng.random() < 0.4 else "!"
            # Enthusiasts exclaim every sentence; others only the last one.
            text = re.sub(r"\.(\s|$)", bang + r"\1", text) if voice.exclaim > 0.5 else re.sub(r"\.$", bang, text)
        if voice.lowercase:
            text = text.lower().rstrip(".")
        if tags and topic is not None and rng.random() < voice.hashtags:
            count = 2 if rng.random() < 0.3 else 1
            text += " " + " ".join("#" + t for t in rng.sample(list(topic.hashtags), count))
        if rng.random() < voice.emoji:
            text += " " + self._emoji(voice, topic, rng)
        return text

    def _register(self, text: str, voice: Voice, rng: random.Random) -> str:
        if voice.formality >= 0.7:
            return self._contractions.sub(lambda m: _same_case(m.group(0), self.contractions[m.group(0).lower()]), text)
        if voice.formality <= 0.3 and rng.random() < 0.6:
            return self._slang.sub(lambda m: _same_case(m.group(0), self.slang[m.group(0).lower()]), text)
        return text

    def _frame(self, text: str, voice: Voice, rng: random.Random) -> str:
        formal = voice.formality >= 0.6
        if rng.random() < 0.6:
            opener = rng.choice(self.common["openers_formal" if formal else "openers_casual"])
            return f"{opener} {text}"
        closer = rng.choice(self.common["closers_formal" if formal else "closers_casual"])
        return f"{text} {closer}" if formal else f"{text} {closer}".rstrip()

    def _emoji(self, voice: Voice, topic: Topic | None, rng: random.Random) -> str:
        count = 1 + (rng.randint(0, 2) if voice.emoji > 0.6 else 0)
        pool = list(topic.emoji) if topic is not None else []
        chosen = [rng.choice(pool) if pool and rng.random() < 0.7 else rng.choice(self.common["emoji"])
                  for _ in range(count)]
        return "".join(chosen)


def _same_case(original: str, replacement: str) -> str:
    return replacement[:1].upper() + replacement[1:] if original[:1].isupper() else replacement
