"""Steering in plain words: "more cooking and chess, less politics".

``parse_steering`` turns the sentence into phrases with a direction; ``SteeringBook`` embeds
them and keeps them per user in ``feed_steering`` (listed, removable). The steering source
proposes posts near each "more" phrase and the steering scorer boosts or demotes every
candidate by its text similarity to the phrases; both show up in the explanations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select

from townsquare.errors import InputError
from townsquare.feed.store_io import fetch_rows
from townsquare.storage.feed_schema import feed_steering
from townsquare.storage.schema import embedding_cache
from townsquare.storage.store import text_hash

_LESS = (r"no more|not so much|stop showing(?: me)?|don't show(?: me)?|do not show(?: me)?|less of|less|fewer"
         r"|without|hide|no|minus")
_MORE = r"more of|more|lots of|plenty of|extra|show me|i want|give me|plus"
_MARKER = re.compile(rf"\b(?:(?P<less>{_LESS})|(?P<more>{_MORE}))\b", re.IGNORECASE)
# (?<!\s): a run of spaces is tried from its first space only (from every one, the cost grew with its square)
_SPLIT = re.compile(r"(?<!\s)\s*(?:,|;|\band\b|&|\bor\b|/|\+|\bbut\b)\s*", re.IGNORECASE)
_FILLER = re.compile(r"^(?:(?:posts?|things|stuff|content|tweets)\s+)?(?:(?:about|on|of|from)\s+)|"
                     r"(?<!\s)\s+(?:posts?|stuff|content|tweets|please|topics?|things)$", re.IGNORECASE)
EXAMPLE = "more cooking and chess, less politics"


@dataclass(frozen=True)
class SteeringPhrase:
    direction: str  # "more" | "less"
    phrase: str
    weight: float = 1.0
    id: int | None = None
    vector: np.ndarray | None = None

    def label(self) -> str:
        return f"{self.direction} {self.phrase!r}"


def _clean(item: str) -> str:
    item = item.strip().strip("\"'!?.").strip()
    previous = None
    while previous != item:
        previous, item = item, _FILLER.sub("", item).strip()
    return item[:200]


def parse_steering(text: str) -> list[SteeringPhrase]:
    """Phrases with a direction; a clause without its own marker keeps the previous one."""
    markers = list(_MARKER.finditer(text))
    if not markers:
        raise InputError(f"say what you want more or less of, e.g. {EXAMPLE!r}", field="steering")
    phrases: list[SteeringPhrase] = []
    seen: set[tuple[str, str]] = set()
    for i, marker in enumerate(markers):
        direction = "less" if marker.group("less") else "more"
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        for item in _SPLIT.split(text[marker.end():end]):
            phrase = _clean(item)
            if any(c.isalnum() for c in phrase) and (direction, phrase.lower()) not in seen:  # no '#' alone
                seen.add((direction, phrase.lower()))
                phrases.append(SteeringPhrase(direction, phrase))
    if not phrases:
        raise InputError(f"no topic found after 'more' or 'less' in {text!r}; e.g. {EXAMPLE!r}", field="steering")
    if both := sorted({p for d, p in seen if ("less" if d == "more" else "more", p) in seen}):
        raise InputError(f"asks for both more and less of {', '.join(repr(p) for p in both)}; say which",
                         field="steering")
    return phrases


class SteeringBook:
    """Each user's steering phrases with their text vectors, in ``feed_steering``."""

    def __init__(self, store, embedder=None) -> None:
        self.store, self.embedder = store, embedder

    def add(self, user_id: int, text: str) -> list[SteeringPhrase]:
        """Parse and store ``text``; a phrase given again replaces the earlier one."""
        if self.embedder is None:
            raise InputError("steering needs a text embedder: install the models extra "
                             "(pip install 'townsquare[models]') and set TOWNSQUARE_EMBED_MODEL")
        if any(ch < " " and ch not in "\t\n\r" for ch in text):
            raise InputError("steering text holds a control character (such as NUL); write it in plain words",
                             field="text")
        phrases = parse_steering(text)
        vectors = np.asarray(self.embedder.embed([p.phrase for p in phrases]), np.float32)
        with self.store.begin() as conn:
            conn.execute(delete(feed_steering).where(
                feed_steering.c.user_id == user_id,
                feed_steering.c.phrase.in_([p.phrase for p in phrases])))
            conn.execute(feed_steering.insert(), [
                {"user_id": user_id, "direction": p.direction, "phrase": p.phrase, "weight": p.weight,
                 "model": self.embedder.model_id, "vector": v.tobytes()} for p, v in zip(phrases, vectors)])
        return self.list(user_id)

    def list(self, user_id: int) -> list[SteeringPhrase]:
        with self.store.read() as conn:  # on every feed request: straight from the driver
            rows = fetch_rows(conn, "SELECT direction, phrase, weight, id, vector FROM feed_steering "
                                    "WHERE user_id = :user ORDER BY id", {"user": user_id})
        return [SteeringPhrase(d, p, w, i, np.frombuffer(bytes(v), np.float32)) for d, p, w, i, v in rows]

    def remove(self, user_id: int, phrase: str | int | None = None) -> int:
        """Remove one phrase (by text or id), or every phrase when ``phrase`` is None; its cached embedding goes
        too (it would otherwise outlive the user's deletion, which removes only the phrases they still have)."""
        condition = feed_steering.c.user_id == user_id
        if isinstance(phrase, int):
            condition &= feed_steering.c.id == phrase
        elif phrase is not None:
            condition &= feed_steering.c.phrase == phrase
        with self.store.begin() as conn:
            gone = conn.execute(select(feed_steering.c.phrase).where(condition)).scalars().all()
            removed = conn.execute(delete(feed_steering).where(condition)).rowcount
            if gone:
                conn.execute(delete(embedding_cache).where(embedding_cache.c.text_hash.in_(
                    [text_hash(p) for p in set(gone)])))
            return removed
