"""Pre-rendered sentences per topic, for composing millions of synthetic posts quickly.

The synthetic generator cannot afford template filling per post, so ``Phrasebook`` fills every
template of the demo banks a few dozen times up front and composes posts from those sentences
with cheap string operations (joins, a voice's lowercase/emoji/exclamation, hashtags).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from townsquare.demo.content import Banks, Topic, fill


@dataclass(frozen=True)
class TopicPhrases:
    statements: tuple[tuple[str, ...], ...]  # fillings grouped by template
    questions: tuple[str, ...]
    replies: tuple[str, ...]
    bios: tuple[str, ...]
    hashtags: tuple[str, ...]
    emoji: tuple[str, ...]
    lines: dict[str, tuple[str, ...]]  # es/de posts


def _variants(templates: tuple[str, ...], topic: Topic, banks: Banks, rng: random.Random, per: int) -> tuple[str, ...]:
    return tuple(v for group in _grouped(templates, topic, banks, rng, per) for v in group)


def _grouped(templates: tuple[str, ...], topic: Topic, banks: Banks, rng: random.Random,
             per: int) -> tuple[tuple[str, ...], ...]:
    """Up to ``per`` distinct fillings of each template, grouped by template."""
    slots = banks.slots_for(topic)
    return tuple(tuple(dict.fromkeys(fill(t, slots, rng) for _ in range(per))) for t in templates)


class Phrasebook:
    """Every topic's sentences, rendered once; compose posts with numpy-drawn indices."""

    def __init__(self, banks: Banks, seed: int = 0, per_template: int = 60):
        rng = random.Random(seed)
        common = banks.common
        self.topics = banks.topics
        self.names = tuple(t.name for t in banks.topics)
        self.openers = tuple(common["openers_casual"]) + tuple(common["openers_formal"])
        self.closers = tuple(common["closers_casual"]) + tuple(common["closers_formal"])
        self.generic_replies = tuple(common["reply_generic"]) + tuple(common["quote_comments"])
        self.reply_openers = tuple(common["reply_openers"])
        self.emoji = tuple(common["emoji"])
        self.first_names = tuple(common["first_names"])
        self.last_names = tuple(common["last_names"])
        self.life = tuple(common["life"])
        foreign_replies = {lang: tuple(common[f"reply_{lang}"]) for lang in ("es", "de")}
        every_line = {lang: tuple(s for t in banks.topics for s in t.lines.get(lang, ())) for lang in ("es", "de")}
        self.foreign_replies = foreign_replies
        self.phrases = tuple(
            TopicPhrases(
                statements=_grouped(t.posts, t, banks, rng, per_template),
                questions=_variants(t.questions, t, banks, rng, per_template // 3),
                replies=_variants(t.replies, t, banks, rng, per_template // 3),
                bios=_variants(t.bio, t, banks, rng, 3),
                hashtags=t.hashtags, emoji=t.emoji,
                lines={lang: tuple(t.lines.get(lang, ())) or every_line[lang] for lang in ("es", "de")})
            for t in banks.topics)

    def original(self, topic: int, draws: list[float], style: int) -> tuple[str, list[str]]:
        """A top-level post from uniform draws in [0, 1) (8 of them); returns (text, hashtags)."""
        ph = self.phrases[topic]
        count = 1 + (draws[0] > 0.05) + (draws[0] > 0.4) + (draws[0] > 0.8)
        n = len(ph.statements)
        first = int(draws[1] * n)
        picks = [first]
        if count > 1:  # distinct templates: each later one from its own stretch after the first
            stretch = (n - 1) / (count - 1)
            for j in range(1, count):
                low, high = int((j - 1) * stretch), int(j * stretch)
                picks.append((first + 1 + low + int(draws[1 + j] * (high - low))) % n)
        parts = [_pick(ph.statements[t], draws[1 + k] * 7919) for k, t in enumerate(picks)]
        if draws[5] < 0.2:
            parts[-1] = ph.questions[int(draws[5] / 0.2 * len(ph.questions))]
        if draws[6] < 0.2:
            parts.insert(0, self.openers[int(draws[6] / 0.2 * len(self.openers))])
        elif draws[6] > 0.9:
            parts.append(self.closers[int((draws[6] - 0.9) / 0.1 * len(self.closers))])
        return self._finish(" ".join(parts), ph, draws[7], style)

    def foreign(self, topic: int, language: str, draws: list[float], style: int) -> tuple[str, list[str]]:
        lines = self.phrases[topic].lines[language]
        text = lines[int(draws[1] * len(lines))]
        if draws[0] > 0.7:
            text += " " + lines[int(draws[2] * len(lines))]
        return self._finish(text, self.phrases[topic], draws[7], style)

    def reply(self, topic: int, language: str, handle: str | None, draws: list[float], style: int) -> tuple[str, list[str]]:
        ph = self.phrases[topic]
        if language != "en":
            body = self.foreign_replies[language][int(draws[1] * len(self.foreign_replies[language]))]
        elif draws[0] < 0.7:
            body = ph.replies[int(draws[1] * len(ph.replies))]
            if draws[2] < 0.25:
                body = self.reply_openers[int(draws[2] / 0.25 * len(self.reply_openers))] + " " + body
        else:
            body = self.generic_replies[int(draws[1] * len(self.generic_replies))]
        text, tags = self._finish(body, ph, draws[7] * 2.5, style)  # replies carry fewer hashtags
        return (f"@{handle} {text}" if handle else text), tags

    def _finish(self, text: str, ph: TopicPhrases, tag_draw: float, style: int) -> tuple[str, list[str]]:
        """Apply a voice (bit 1 lowercase, bit 2 emoji, bit 4 exclamation) and maybe hashtags."""
        if style & 4:
            text = text[:-1] + "!" if text.endswith(".") else text
        if style & 1:
            text = text.lower()
        tags: list[str] = []
        if tag_draw < 0.3:
            tag = ph.hashtags[int(tag_draw / 0.3 * len(ph.hashtags))]
            text += " #" + tag
            tags = [tag]
        if style & 2:
            text += " " + ph.emoji[int(tag_draw * 997) % len(ph.emoji)]
        return text, tags

    def bio(self, topic: int, draw: float, life_draw: float) -> str:
        bios = self.phrases[topic].bios
        return f"{bios[int(draw * len(bios))]}. {self.life[int(life_draw * len(self.life))]}."


def _pick(options: tuple[str, ...], draw: float) -> str:
    """An option chosen by the fractional part of a scaled draw (reuses a draw already spent)."""
    return options[int((draw - int(draw)) * len(options))]
