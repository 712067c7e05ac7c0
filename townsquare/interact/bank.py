"""``ResponseBank``: replies the platform's own users wrote, found again by what they replied to.

Built from the store: every public, live reply with its parent's text; feedback only weighs
them (a reply users picked counts more, one they kept ignoring less) and never adds text: an
edited suggestion's text was never checked by anyone, and the reply it became, once posted in
public, is in the bank as a reply. Retrieval embeds the new post and takes the replies whose
parents are nearest (cosine). Replies that carry personal data or @mentions are left out: a
suggestion must never carry another user's details or name. ``BankSource`` checks each reply it
returns against the store as it is now (deleted, no longer public, acted on by moderation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import aliased

from townsquare.ingest.records import MENTION
from townsquare.models import find_pii
from townsquare.models.base import Embedder
from townsquare.storage.interact_schema import interact_suggestions
from townsquare.storage.schema import posts

_LEADING_MENTIONS = re.compile(rf"^(?:{MENTION.pattern}[\s,:]*)+")  # "@finn.d Ha, yes." -> "Ha, yes."


@dataclass(frozen=True)
class BankEntry:
    context: str
    reply: str
    weight: float = 1.0
    origin: str = "reply"  # reply | picked (a reply users picked when it was suggested)
    post_id: int | None = None  # the reply's post, when it comes from the store


def usable_reply(text: str) -> bool:
    """Short, no mentions, no links, no personal data."""
    words = text.split()
    return (0 < len(words) <= 30 and "@" not in text and "http" not in text.lower()
            and not find_pii(text))


@dataclass
class ResponseBank:
    """Context-reply pairs with their context vectors, searchable by cosine."""

    entries: list[BankEntry]
    vectors: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, entries: list[BankEntry], embedder: Embedder) -> ResponseBank:
        kept = [e for e in entries if usable_reply(e.reply) and e.weight > 0]
        if not kept:
            return cls([], np.zeros((0, 384), np.float32))
        contexts = list(dict.fromkeys(e.context for e in kept))  # embed each distinct context once
        unique = embedder.embed(contexts)
        row = {c: i for i, c in enumerate(contexts)}
        vectors = unique[[row[e.context] for e in kept]]
        return cls(kept, vectors)

    @classmethod
    def from_store(cls, store, embedder: Embedder, *, limit: int = 50_000) -> ResponseBank:
        return cls.build(bank_entries(store, limit=limit), embedder)

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, query: np.ndarray, k: int = 20, *, exclude_replies: set[str] = frozenset()) -> list[tuple[BankEntry, float]]:
        """Up to ``k`` distinct replies whose contexts are nearest to ``query``, with the similarity."""
        if not self.entries:
            return []
        sims = self.vectors @ np.asarray(query, np.float32)
        out, seen = [], set(exclude_replies)
        for i in np.argsort(-sims):
            entry = self.entries[int(i)]
            key = entry.reply.lower().strip()
            if key in seen:
                continue
            seen.add(key)
            out.append((entry, float(sims[i])))
            if len(out) >= k:
                break
        return out


def bank_entries(store, *, limit: int = 50_000) -> list[BankEntry]:
    """Public live replies with their parent text, weighed by feedback: +0.5 a time users picked the text, -0.5 a
    time they ignored it."""
    parent = aliased(posts)
    query = (select(parent.c.text, posts.c.text, posts.c.id)
             .join(parent, and_(posts.c.reply_to_id == parent.c.id))
             .where(posts.c.deleted.is_(False), parent.c.deleted.is_(False),
                    posts.c.visibility == "public", parent.c.visibility == "public")
             .order_by(posts.c.id.desc()).limit(limit))
    s = interact_suggestions
    feedback = select(s.c.text, s.c.outcome).where(s.c.kind == "reply", s.c.outcome.in_(("picked", "ignored")))
    with store.read() as conn:
        replies = [(c, _LEADING_MENTIONS.sub("", r).strip(), pid) for c, r, pid in conn.execute(query)]
        rows = conn.execute(feedback).all()
    votes: dict[str, int] = {}
    for text, outcome in rows:
        key = text.lower().strip()
        votes[key] = votes.get(key, 0) + (1 if outcome == "picked" else -1)
    return [BankEntry(context, reply, 1.0 + 0.5 * votes.get(reply.lower().strip(), 0),
                      "picked" if votes.get(reply.lower().strip(), 0) > 0 else "reply", pid)
            for context, reply, pid in replies]
