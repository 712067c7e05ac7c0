"""``Assistant``: answers questions about the platform from its real posts and users, with links.

'any good posts about sourdough this week?' -> posts; 'who here writes about chess openings?' ->
people. Only posts the asking user may see are searched: live, public (or followers-only from
people they follow, or their own), not by anyone they block or mute or who blocks them, and not
hidden or sent to review by moderation. The answer is assembled from the retrieved records only
(quoted snippets and links), never generated, so it cannot invent posts or people and text in
posts cannot instruct it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import numpy as np
from sqlalchemy import select

from townsquare.errors import InputError
from townsquare.interact.voice import without_controls
from townsquare.models.base import Embedder
from townsquare.storage.schema import interactions, posts, users
from townsquare.storage.visibility import may_see

_WINDOWS = {"today": 1, "this week": 7, "past week": 7, "last week": 7, "this month": 30, "past month": 30,
            "last month": 30, "this year": 365}
_BY = re.compile(r"\b(?:by|from)\s+@([\w.\-]+)", re.IGNORECASE)  # "posts by @ada about bread"
_PEOPLE = re.compile(r"^\s*(who|anyone|any people|which (users|people|accounts))\b", re.IGNORECASE)
_SCAFFOLD = re.compile(
    r"\b(any|some|good|great|best|interesting|recent|posts?|threads?|who|here|there|writes?|writing|posts|"
    r"talks?|talking|is|are|anyone|about|on|regarding|of|the|me|show|find|what|people|users?|accounts?|"
    r"which|do|does|did|know|tips|please|can|you|i|for|say|says|said|saying|think|thinks|thought|was|were|"
    r"has|have|had|been|everyone|everybody|folks|lately|recently|new|latest|there|anything|something|stuff|"
    r"news|happening|going)\b", re.IGNORECASE)


@dataclass
class Citation:
    kind: str  # post | user
    id: int
    ref: str  # external id (post) or handle (user)
    url: str
    snippet: str = ""
    score: float = 0.0


@dataclass
class Answer:
    text: str
    citations: list[Citation] = field(default_factory=list)
    topic: str = ""
    since: datetime | None = None


MAX_QUESTION = 1000  # characters, as the web app's box


def parse_question(question: str, now: datetime) -> tuple[str, str, datetime | None]:
    """``(kind, topic, since)``: kind is 'people' or 'posts' (the author a question names is ``author_of``'s)."""
    q = " ".join(without_controls(question).split())
    if not q:
        raise InputError("the question is empty: ask about a topic, e.g. 'any posts about sourdough?'",
                         field="question")
    if len(q) > MAX_QUESTION:
        raise InputError(f"the question has {len(q):,} characters; ask in at most {MAX_QUESTION:,}", field="question")
    since = None
    for phrase, days in _WINDOWS.items():
        if phrase in q.lower():
            since = now - timedelta(days=days)
            q = re.sub(re.escape(phrase), " ", q, flags=re.IGNORECASE)
    kind = "people" if _PEOPLE.search(q) else "posts"
    q = _BY.sub(" ", q)
    topic = " ".join(_SCAFFOLD.sub(" ", q.replace("?", " ")).split())  # "" for "anything today?"
    return kind, topic, since


def author_of(question: str) -> str | None:
    """The handle a question asks about ("posts by @ada", "anything from @bo"), if any."""
    match = _BY.search(question)
    return match.group(1).rstrip(".") if match else None


class Assistant:
    """``answer(user_id, question) -> Answer(text, citations)``."""

    def __init__(self, store, embedder: Embedder, policy=None, *, min_similarity: float = 0.35, k: int = 5,
                 pool: int = 5000, post_url: str = "/posts/{ref}", user_url: str = "/@{ref}") -> None:
        self.store, self.embedder, self.policy = store, embedder, policy
        self.min_similarity, self.k, self.pool = min_similarity, k, pool
        self.post_url, self.user_url = post_url, user_url

    def answer(self, user_id: int | str, question: str, *, now: datetime | None = None) -> Answer:
        user = self.store.find_user(user_id)
        now = now or datetime.now(UTC)
        kind, topic, since = parse_question(question, now)
        rows = self.visible_posts(user["id"], since)
        if (author := author_of(question)) is not None:
            rows = [r for r in rows if r["handle"].lower() == author.lower()]
            kind = "posts"  # their posts, not who writes like them
        hits = self.allowed(self._rank(rows, topic) if topic else [(r, 1.0) for r in rows], 4 * self.k)  # newest first
        when = " from the past week" if since and now - since == timedelta(days=7) else (
            f" since {since:%Y-%m-%d}" if since else "")
        by = f" by @{author}" if author else ""
        if not hits:
            about = f" about {topic}" if topic else ""
            return Answer(f"I found no posts{by}{about}{when} that you can see.", [], topic, since)
        if kind == "people":
            return self._people(hits, topic, since)
        cites = [Citation("post", r["id"], r["external_id"], self.post_url.format(ref=quote(r["external_id"], safe="")),
                          _quoted(r), round(s, 3)) for r, s in hits[: self.k]]
        lines = [f"{i}. @{r['handle']}: \"{c.snippet}\" ({c.url})" for i, ((r, _), c) in enumerate(zip(hits, cites), 1)]
        heading = f"Posts{by} about {topic}{when}" if topic else f"The newest posts{by}{when}"
        return Answer(f"{heading}:\n" + "\n".join(lines), cites, topic, since)

    def _people(self, hits, topic: str, since) -> Answer:
        by_author: dict[int, list] = defaultdict(list)
        for row, score in hits:
            by_author[row["author_id"]].append((row, score))
        ranked = sorted(by_author.values(), key=lambda rs: -(sum(s for _, s in rs) + 0.1 * len(rs)))[: self.k]
        cites, lines = [], []
        for rs in ranked:
            row = rs[0][0]
            cites.append(Citation("user", row["author_id"], row["handle"], self.user_url.format(ref=quote(row["handle"], safe="")),
                                  _quoted(row), round(rs[0][1], 3)))
            cites.append(Citation("post", row["id"], row["external_id"], self.post_url.format(ref=quote(row["external_id"], safe="")),
                                  _quoted(row), round(rs[0][1], 3)))
            lines.append(f"- @{row['handle']} ({len(rs)} post{'s' * (len(rs) > 1)}), e.g. \"{_quoted(row)}\" "
                         f"({self.post_url.format(ref=quote(row['external_id'], safe=''))})")
        heading = f"People here who write about {topic}" if topic else "People who posted lately"
        return Answer(f"{heading}:\n" + "\n".join(lines), cites, topic, since)

    def visible_posts(self, user_id: int, since: datetime | None) -> list[dict]:
        """Live posts the user may see, newest first, without blocked or muted authors, and without the posts
        they hid, marked not interested or reported (the web app promises a hidden post "will not come back")."""
        turned_down = select(interactions.c.post_id).where(
            interactions.c.user_id == user_id, interactions.c.kind.in_(("hide", "not_interested", "report")))
        with self.store.read() as conn:
            query = (select(posts.c.id, posts.c.external_id, posts.c.text, posts.c.author_id, posts.c.created_at,
                            users.c.handle).join(users, users.c.id == posts.c.author_id)
                     .where(may_see(user_id), posts.c.repost_of_id.is_(None), posts.c.id.not_in(turned_down))
                     .order_by(posts.c.created_at.desc()).limit(self.pool))
            if since is not None:
                query = query.where(posts.c.created_at >= since)
            return [dict(r) for r in conn.execute(query).mappings()]

    def allowed(self, hits: list[tuple[dict, float]], wanted: int) -> list[tuple[dict, float]]:
        """The first ``wanted`` of ``hits`` (rows with their scores, best first) that the policy neither demotes
        nor hides; a labelled post carries its ``labels`` (its text is then not quoted). The policy reads only
        as far down the list as it must."""
        if self.policy is None:
            return hits[:wanted]
        from townsquare.safety.gate import first_kept

        by_id = {row["id"]: (row, score) for row, score in hits}
        kept = first_kept(self.store, list(by_id), self.policy, wanted,
                          lambda decision: decision is None or decision.action in ("allow", "label"))
        for pid, decision in kept:
            by_id[pid][0]["labels"] = decision.labels if decision is not None else ()
        return [by_id[pid] for pid, _ in kept]

    def _rank(self, rows: list[dict], topic: str) -> list[tuple[dict, float]]:
        if not rows:
            return []
        vectors = self.embedder.embed([topic] + [r["text"] for r in rows])
        sims = vectors[1:] @ vectors[0]
        words = [w for w in re.findall(r"\w+", topic.lower()) if len(w) > 2]
        boosted = sims + np.array([0.1 * any(w in r["text"].lower() for w in words) for r in rows])
        order = np.argsort(-boosted)
        return [(rows[i], float(boosted[i])) for i in order if boosted[i] >= self.min_similarity]


def _quoted(row: dict) -> str:
    """What an answer quotes of a post: its first words, or for a post the policy labels only the labels."""
    if labels := row.get("labels"):
        return f"a post labelled {', '.join(labels)}: open it to read it"
    return _snippet(row["text"])


def _snippet(text: str, limit: int = 100) -> str:
    text = " ".join(text.replace('"', "'").split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
