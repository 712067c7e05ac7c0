"""What the interaction layer reads from and writes to the store: threads, a user's posts, suggestions, feedback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from townsquare.errors import InputError, NotFoundError
from townsquare.storage.interact_schema import OUTCOMES, interact_suggestions
from townsquare.storage.schema import posts, users


def thread_of(store, post: dict, depth: int = 3) -> tuple[list[str], set[str]]:
    """The post's text after up to ``depth`` public, live ancestors (oldest first), and the thread's handles."""
    texts, authors, current = [post["text"]], {post["author_id"]}, post
    with store.read() as conn:
        for _ in range(depth):
            if current.get("reply_to_id") is None:
                break
            row = conn.execute(select(posts).where(posts.c.id == current["reply_to_id"])).mappings().first()
            if row is None:
                break
            current = dict(row)
            if current["deleted"] or current["visibility"] != "public":
                break
            texts.insert(0, current["text"])
            authors.add(current["author_id"])
        handles = {h.lower() for h in conn.execute(select(users.c.handle).where(users.c.id.in_(authors))).scalars()}
    return texts, handles


def replies_to(store, post_id: int, limit: int = 500) -> list[str]:
    """The texts of the live replies to ``post_id``."""
    with store.read() as conn:
        return list(conn.execute(select(posts.c.text).where(posts.c.reply_to_id == post_id, posts.c.deleted.is_(False))
                                 .limit(limit)).scalars())


def user_texts(store, user_id: int, limit: int = 200) -> list[str]:
    """The user's own latest live posts: what their voice is learned from (only their own words)."""
    with store.read() as conn:
        return list(conn.execute(select(posts.c.text).where(
            posts.c.author_id == user_id, posts.c.deleted.is_(False), posts.c.repost_of_id.is_(None))
            .order_by(posts.c.created_at.desc()).limit(limit)).scalars())


def record_suggestions(store, user_id: int, post_id: int | None, items: Sequence, kind: str = "reply",
                       quotes: Sequence[int | None] = ()) -> list[int]:
    """One row per shown suggestion; returns their ids (for feedback). ``quotes[i]``: the post whose text item i
    is, styled or not (a reply from the store); the row goes when that post is deleted or erased."""
    ids = []
    quoted = list(quotes) or [None] * len(items)
    with store.begin() as conn:
        for item, quote in zip(items, quoted, strict=True):
            result = conn.execute(insert(interact_suggestions).values(
                user_id=user_id, post_id=post_id, kind=kind, text=item.text, intent=getattr(item, "intent", ""),
                source=getattr(item, "source", ""), score=float(getattr(item, "score", 0.0)),
                created_at=datetime.now(UTC), quoted_post_id=quote))
            ids.append(int(result.inserted_primary_key[0]))
    return ids


def suggestion_texts(store, ids: Sequence[int], *, user_id: int, post_id: int) -> dict[int, str]:
    """{id: text} of those of ``ids`` that are reply suggestions made for ``user_id`` on ``post_id``."""
    s = interact_suggestions
    with store.read() as conn:
        return dict(conn.execute(select(s.c.id, s.c.text).where(
            s.c.id.in_(list(ids)), s.c.user_id == user_id, s.c.post_id == post_id, s.c.kind == "reply")).all())


def record_feedback(store, suggestion_id: int, outcome: str, final_text: str | None = None, *,
                    user_id: int | None = None) -> None:
    """What the user did with a suggestion: picked it, edited it (give the text they posted) or ignored it.
    With ``user_id``, only a suggestion made for that user (another's is as if it did not exist)."""
    if outcome not in OUTCOMES:
        raise InputError(f"unknown outcome {outcome!r}; use one of: {', '.join(OUTCOMES)}", field="outcome")
    if outcome == "edited" and not (final_text or "").strip():
        raise InputError("an edited suggestion needs the text the user posted (final_text)", field="final_text")
    if outcome != "edited" and final_text:
        raise InputError(f"the text the user posted goes with 'edited' only, not {outcome!r}", field="final_text")
    with store.begin() as conn:
        which = interact_suggestions.c.id == suggestion_id
        if user_id is not None:
            which = which & (interact_suggestions.c.user_id == user_id)
        done = conn.execute(update(interact_suggestions).where(which).values(
            outcome=outcome, final_text=final_text if outcome == "edited" else None, outcome_at=datetime.now(UTC)))
    if done.rowcount == 0:
        raise NotFoundError(f"no suggestion {suggestion_id}: give an id from a suggest result")


def feedback_rows(store) -> list[dict]:
    """Every reply suggestion with an outcome, with its post's text: training data for the scorer."""
    s = interact_suggestions
    with store.read() as conn:
        return [dict(r) for r in conn.execute(
            select(s.c.post_id, posts.c.text.label("post_text"), s.c.text, s.c.final_text, s.c.outcome)
            .join(posts, posts.c.id == s.c.post_id).where(s.c.kind == "reply", s.c.outcome.is_not(None))).mappings()]
