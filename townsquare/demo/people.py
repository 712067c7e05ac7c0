"""The demo community's members: names, handles, bios, interests, voices, popularity."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from townsquare.demo.content import Banks, fill
from townsquare.demo.voice import Voice, VoiceStyler, sample_voice

ES_TOPICS = ("sourdough", "coffee", "football", "travel")
DE_TOPICS = ("running", "climate", "coffee", "cycling", "football")
TROLL_TOPICS = ("football", "local_politics", "indie_games", "film")
MISINFORMER_TOPICS = ("local_politics", "climate", "parenting", "running")


@dataclass
class DemoUser:
    index: int
    id: str
    handle: str
    display_name: str
    bio: str
    language: str
    created_at: datetime
    topics: tuple[str, ...]  # main interests, most important first
    secondary: tuple[str, ...]  # signed up for, posts rarely about
    interests: list[str]  # the sign-up interests (topic names)
    voice: Voice
    popularity: float  # how much attention their posts draw
    activity: float  # how much they post and engage
    role: str = "regular"  # regular | troll | misinformer


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum() or c in "_.")


class UserFactory:
    """Builds the ~100 members; every choice comes from one seeded ``random.Random``."""

    def __init__(self, banks: Banks, rng: random.Random, start: datetime):
        self.banks, self.rng, self.start = banks, rng, start
        self.styler = VoiceStyler(banks.common)
        self.handles: set[str] = set()
        self.topic_weights = {t: rng.uniform(0.7, 1.5) for t in banks.topic_ids}

    def build(self, regular: int = 89, spanish: int = 3, german: int = 3) -> list[DemoUser]:
        users: list[DemoUser] = []
        for _ in range(regular):
            users.append(self._regular(len(users)))
        for lang, count, names in (("es", spanish, "es_names"), ("de", german, "de_names")):
            pool = self.rng.sample(self.banks.common[names], count)
            for name in pool:
                users.append(self._foreign(len(users), lang, name))
        for handle in self.banks.flagged["troll_handles"]:
            users.append(self._special(len(users), handle, "troll", TROLL_TOPICS))
        for handle in self.banks.flagged["misinformer_handles"]:
            users.append(self._special(len(users), handle, "misinformer", MISINFORMER_TOPICS))
        self._make_newcomers(users)
        return users

    def _topics(self, pool: tuple[str, ...] | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
        ids = list(pool or self.banks.topic_ids)
        count = min(len(ids), self.rng.choices([1, 2, 3], weights=[3, 5, 2])[0])
        main = self._weighted_sample(ids, count)
        rest = [t for t in self.banks.topic_ids if t not in main]
        extra = self.rng.choices([0, 1, 2], weights=[5, 4, 1])[0]
        return tuple(main), tuple(self._weighted_sample(rest, extra))

    def _weighted_sample(self, ids: list[str], count: int) -> list[str]:
        chosen: list[str] = []
        ids = list(ids)
        for _ in range(count):
            pick = self.rng.choices(ids, weights=[self.topic_weights[t] for t in ids])[0]
            chosen.append(pick)
            ids.remove(pick)
        return chosen

    def _user(self, index: int, handle: str, name: str, bio: str, language: str, topics: tuple[str, ...],
              secondary: tuple[str, ...], voice: Voice, role: str = "regular") -> DemoUser:
        joined = self.start - timedelta(days=self.rng.uniform(45, 7 * 365))
        interests = [self.banks.topic(t).name for t in topics + secondary]
        return DemoUser(
            index=index, id=f"u{index + 1:03d}", handle=handle, display_name=name, bio=bio, language=language,
            created_at=joined.replace(microsecond=0), topics=topics, secondary=secondary, interests=interests,
            voice=voice, popularity=self.rng.lognormvariate(0.0, 0.9), activity=self.rng.lognormvariate(0.0, 0.7),
            role=role)

    def _regular(self, index: int) -> DemoUser:
        common = self.banks.common
        first, last = self.rng.choice(common["first_names"]), self.rng.choice(common["last_names"])
        topics, secondary = self._topics()
        voice = sample_voice(self.rng)
        handle = self._handle(first, last, topics[0])
        name = f"{first} {last}" if self.rng.random() < 0.7 else first
        if voice.emoji > 0.5 and self.rng.random() < 0.6:
            name += " " + self.rng.choice(self.banks.topic(topics[0]).emoji)
        return self._user(index, handle, name, self._bio(topics, voice), "en", topics, secondary, voice)

    def _foreign(self, index: int, lang: str, name: str) -> DemoUser:
        topics, _ = self._topics(ES_TOPICS if lang == "es" else DE_TOPICS)
        first, last = name.split(" ", 1)
        common = self.banks.common
        names = common[f"topic_names_{lang}"]
        listed = [names[t] for t in topics]
        joined = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + (" y " if lang == "es" else " und ") + listed[-1]
        life = self.rng.choice(common[f"life_{lang}"])
        bio = self.rng.choice(common[f"bio_{lang}"]).format(life=life, topics=joined)
        voice = sample_voice(self.rng, self.rng.choice(["casual", "enthusiast", "dry"]))
        return self._user(index, self._handle(first, last, topics[0]), name, bio, lang, topics, (), voice)

    def _special(self, index: int, handle: str, role: str, pool: tuple[str, ...]) -> DemoUser:
        self.handles.add(handle)
        topics = tuple(self.rng.sample(pool, 2))
        voice = sample_voice(self.rng, "terse" if role == "troll" else "casual")
        bio = self.banks.flagged["bios"][handle]
        name = handle.replace("_", " ").title()
        user = self._user(index, handle, name, bio, "en", topics, (), voice, role)
        user.popularity = 0.3
        return user

    def _handle(self, first: str, last: str, topic_id: str) -> str:
        word = self.rng.choice(self.banks.topic(topic_id).handle_words)
        f, la = ascii_slug(first), ascii_slug(last)
        patterns = [f"{f}_{la}", f"{f}{word}", f"{word}_{f}", f"{f}.{la[:1]}", f"{f}{la[:3]}",
                    f"the{word}{f}", f"{f}_{word}s", f"{f}{self.rng.randint(2, 99)}"]
        for candidate in self.rng.sample(patterns, len(patterns)) + [f"{f}_{la}_{n}" for n in range(2, 99)]:
            if candidate not in self.handles:
                self.handles.add(candidate)
                return candidate
        raise AssertionError("unreachable: ran out of handle patterns")

    def _bio(self, topics: tuple[str, ...], voice: Voice) -> str:
        common = self.banks.common
        parts = []
        for topic_id in topics[:2]:
            topic = self.banks.topic(topic_id)
            parts.append(fill(self.rng.choice(topic.bio), self.banks.slots_for(topic), self.rng) + ".")
        parts.append(self.rng.choice(common["life"]) + ".")
        self.rng.shuffle(parts)
        tail = self.rng.choice(common["bio_tail"])
        sentences = parts + ([tail] if tail else [])
        return self.styler.style(sentences, voice, self.banks.topic(topics[0]), self.rng, tags=False, extras=False)

    def _make_newcomers(self, users: list[DemoUser], count: int = 5) -> None:
        """A few members join during the 30 days the demo covers."""
        regulars = [u for u in users if u.role == "regular" and u.language == "en"]
        for user in self.rng.sample(regulars, count):
            user.created_at = (self.start + timedelta(days=self.rng.uniform(3, 20))).replace(microsecond=0)
