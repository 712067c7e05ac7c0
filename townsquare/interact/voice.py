"""A user's voice, learned from their own past posts: length, emoji, formality, hashtags.

``VoiceProfile.learn(texts)`` measures; ``VoiceStyler.apply(text, profile)`` nudges a candidate
towards it (trim to their length, drop or add their emoji, casual or formal punctuation and
case). An added emoji must fit the topic: a reaction emoji (faces, hands, hearts) fits anything,
a topic emoji (🎞️, 🐶) only a text near its Unicode name; a user whose favourites fit nothing
here gets a plain 🙂 😊 👍. Hand-written because no library measures these cheap signals.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from townsquare.ingest.records import HASHTAG as _HASHTAG
from townsquare.ingest.records import MENTION as _MENTION
from townsquare.models.base import Embedder

# One emoji: pictographs, symbols and dingbats, the technical ones (⌚ ⏱ ⏳), arrows-and-stars (⬆ ⭐),
# a flag's two regional letters; with its skin tone and variation selector, joined by ZWJ into one (👩‍💻).
_ONE_EMOJI = ("(?:[\U0001F1E6-\U0001F1FF]{2}|[\U0001F300-\U0001FAFF\u231A-\u23FF\u2600-\u27BF\u2B00-\u2BFF])"
              "[\U0001F3FB-\U0001F3FF]?\ufe0f?")
EMOJI = re.compile(f"{_ONE_EMOJI}(?:\u200d{_ONE_EMOJI})*")
_CASUAL = re.compile(r"\b(lol|haha+|omg|gonna|wanna|tbh|idk|ya|yeah|yep|nope|cool|awesome|lmao|btw|u|ur)\b|!{2,}",
                     re.IGNORECASE)
_WORD = re.compile(r"\S+")
# Reactions, not topics: fit any reply or post (hand-picked from the Smileys, People and Symbols groups).
NEUTRAL_EMOJI = frozenset("🙂😊😀😃😄😁😆😅😂🤣😉😍🥰😘😎🤩🥳😌🤗🤔😮😯🥲😢😭🙏👍👏🙌👌💪👋🤞💕💖💗💛💚💙💜🧡🤍✨🎉🎊💯⭐🌟❤")
PLAIN_EMOJI = ("🙂", "😊", "👍")


@dataclass(frozen=True)
class VoiceProfile:
    """How a user writes: median words per post, emoji per post, formality in [0, 1], favourite emoji."""

    words: float = 14.0
    emoji_rate: float = 0.0
    formality: float = 0.5
    emoji: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    posts: int = 0
    notes: list[str] = field(default_factory=list, compare=False)

    @classmethod
    def learn(cls, texts: Sequence[str]) -> VoiceProfile:
        texts = [t for t in texts if t.strip()]
        if not texts:
            return cls(notes=["no past posts: a neutral voice"])
        lengths = sorted(len(_WORD.findall(t)) for t in texts)
        emoji = [e for t in texts for e in EMOJI.findall(t)]
        tags = [h.lower() for t in texts for h in _HASHTAG.findall(t)]
        formality = sum(_formality(t) for t in texts) / len(texts)
        return cls(words=float(lengths[len(lengths) // 2]), emoji_rate=len(emoji) / len(texts),
                   formality=round(formality, 3),
                   emoji=tuple(e for e, _ in Counter(emoji).most_common(3)),
                   hashtags=tuple(h for h, _ in Counter(tags).most_common(5)), posts=len(texts))

    def describe(self) -> str:
        """A short phrase for prompts: 'short, casual, uses emoji like 🎉'."""
        length = "very short" if self.words <= 8 else "short" if self.words <= 20 else "chatty"
        tone = "casual" if self.formality < 0.4 else "formal" if self.formality > 0.65 else "friendly"
        emoji = f", uses emoji like {''.join(self.emoji)}" if self.emoji_rate >= 0.5 and self.emoji else ", no emoji"
        return f"{length}, {tone}{emoji}"


def _formality(text: str) -> float:
    """1 = capitalised, punctuated, no slang; 0 = lowercase, slangy, emoji-heavy."""
    score = 0.5
    stripped = EMOJI.sub("", text).strip()
    if stripped[:1].isupper():
        score += 0.2
    elif stripped[:1].islower():
        score -= 0.2
    if stripped[-1:] in ".?":
        score += 0.15
    if _CASUAL.search(text):
        score -= 0.3
    if EMOJI.search(text):
        score -= 0.1
    return min(1.0, max(0.0, score))


class VoiceStyler:
    """Nudges a text towards a voice; never adds content words, only trims, cases and decorates.

    With an ``embedder``, one of the user's topic emoji is added when its Unicode name is within
    ``min_emoji_fit`` cosine of the topic (the post replied to, or the draft's prompt); without
    one, only reaction emoji are added.
    """

    def __init__(self, embedder: Embedder | None = None, *, min_emoji_fit: float = 0.35) -> None:
        self.embedder, self.min_emoji_fit = embedder, min_emoji_fit
        self._names: dict[str, np.ndarray] = {}
        self._fits: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}

    def apply(self, text: str, voice: VoiceProfile, *, emoji_slot: int = 0, topic: str | None = None) -> str:
        text = " ".join(text.split())
        text = self._length(text, voice)
        if voice.formality < 0.4:
            text = text[:1].lower() + text[1:] if text[:2] not in ("I ", "I'") else text
            text = text.rstrip(".")
        elif voice.formality > 0.65:
            text = text[:1].upper() + text[1:]
            text = EMOJI.sub("", text).strip()
            if text and text[-1] not in ".?!":
                text += "."
        if voice.emoji_rate < 0.5:
            text = EMOJI.sub("", text).strip()
        elif voice.emoji and voice.formality <= 0.65 and not EMOJI.search(text):
            fitting = self.fitting_emoji(voice, text if topic is None else topic)
            text = f"{text} {fitting[emoji_slot % len(fitting)]}"
        return " ".join(text.split())

    def fitting_emoji(self, voice: VoiceProfile, topic: str) -> tuple[str, ...]:
        """The user's favourite emoji that fit ``topic``, in order; the plain set when none does."""
        key = (topic, voice.emoji)
        if key not in self._fits:
            if len(self._fits) > 512:
                self._fits.clear()
            near = self._near(tuple(e for e in voice.emoji if not is_neutral(e)), topic)
            fits = tuple(e for e in voice.emoji if is_neutral(e) or e in near)
            self._fits[key] = fits or PLAIN_EMOJI
        return self._fits[key]

    def _near(self, emoji: tuple[str, ...], topic: str) -> set[str]:
        """Those of ``emoji`` whose Unicode name is close to ``topic`` (the topic is embedded once)."""
        named = [e for e in emoji if emoji_name(e)]
        topic = " ".join(_MENTION.sub(" ", topic).split())
        if self.embedder is None or not named or not topic:
            return set()
        for e in named:
            if e not in self._names:
                self._names[e] = self.embedder.embed([emoji_name(e)])[0]
        topic_vector = self.embedder.embed([topic])[0]
        return {e for e in named if float(topic_vector @ self._names[e]) >= self.min_emoji_fit}

    @staticmethod
    def _length(text: str, voice: VoiceProfile) -> str:
        """Keep the first sentences that fit about 1.5x the user's median length (at least one)."""
        limit = max(6, int(voice.words * 1.5))
        sentences = re.split(r"(?<=[.!?])\s+", text)
        kept = [sentences[0]]
        for sentence in sentences[1:]:
            if len(_WORD.findall(" ".join(kept + [sentence]))) > limit:
                break
            kept.append(sentence)
        return " ".join(kept)


def is_neutral(emoji: str) -> bool:
    """A reaction emoji (face, hand, heart, sparkle) rather than one that names a topic."""
    return re.sub("[\ufe0f\U0001F3FB-\U0001F3FF]", "", emoji) in NEUTRAL_EMOJI


def emoji_name(emoji: str) -> str:
    """The Unicode name, lowercased: '🎞️' -> 'film frames'; '' when it has none."""
    return unicodedata.name(emoji[:1], "").lower()


def without_controls(text: str) -> str:
    """``text`` less control characters (NUL, BEL, the escape that starts a terminal sequence...) but line
    breaks and tabs: what comes back to a user or a terminal carries none of them."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
