"""A policy tried on the posts already scored, before it is put in force.

``simulate_policy(store, current, candidate)`` decides every scored post (not deleted) under both
policies from the stored classifier scores, with no model run: how many posts each action takes
under each, how many move from one action to another, and a few examples of every move with the
reasons under each. Moderators' decisions stand under any policy, so they are left out: this is
what the models and the rules would do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from townsquare.safety.policy import SEVERITY, Policy
from townsquare.safety.queue import stored_scores
from townsquare.storage import Store
from townsquare.storage.moderation_schema import moderation_decisions, moderation_scores
from townsquare.storage.schema import posts

_CHUNK = 5000


@dataclass
class PolicyComparison:
    posts: int = 0
    current: Counter = field(default_factory=Counter)    # action -> posts
    candidate: Counter = field(default_factory=Counter)
    moves: Counter = field(default_factory=Counter)      # (current action, candidate action) -> posts
    examples: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        actions = list(SEVERITY)
        return {"posts": self.posts,
                "actions": {a: {"current": self.current[a], "candidate": self.candidate[a]} for a in actions},
                "moves": [{"from": a, "to": b, "posts": n, "examples": self.examples.get((a, b), [])}
                          for (a, b), n in sorted(self.moves.items(), key=lambda item: -item[1])]}


def simulate_policy(store: Store, current: Policy, candidate: Policy, examples: int = 3) -> PolicyComparison:
    """Both policies' decisions on every scored post no moderator decided; ``examples`` posts kept per move
    (newest ids first)."""
    scored = (select(posts.c.id).where(posts.c.deleted.is_(False),
                                       posts.c.id.in_(select(moderation_scores.c.post_id)),
                                       posts.c.id.not_in(select(moderation_decisions.c.post_id)))
              .order_by(posts.c.id.desc()))
    with store.read() as conn:
        ids = list(conn.execute(scored).scalars())
    out = PolicyComparison()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        entries = stored_scores(store, chunk)
        wanted = []
        for post_id in chunk:
            entry = entries.get(post_id)
            if entry is None:
                continue
            before = current.decide(entry["scores"], entry["spans"])
            after = candidate.decide(entry["scores"], entry["spans"])
            out.posts += 1
            out.current[before.action] += 1
            out.candidate[after.action] += 1
            if before.action == after.action:
                continue
            move = (before.action, after.action)
            out.moves[move] += 1
            kept = out.examples.setdefault(move, [])
            if len(kept) < examples:
                kept.append({"post_id": post_id, "current": before.explain(), "candidate": after.explain()})
                wanted.append(kept[-1])
        _add_texts(store, wanted)
    return out


def _add_texts(store: Store, examples: list[dict[str, Any]]) -> None:
    if not examples:
        return
    query = select(posts.c.id, posts.c.external_id, posts.c.text).where(posts.c.id.in_([e["post_id"] for e in examples]))
    with store.read() as conn:
        found = {row.id: row for row in conn.execute(query)}
    for example in examples:
        row = found[example.pop("post_id")]
        example["post"], example["text"] = row.external_id, row.text
