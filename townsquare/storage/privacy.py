"""A user's data on request: everything stored about them, or all of it removed.

The export has the user, their posts, edges, interactions and vectors, the moderation decisions they
made (``decisions_made``), and under ``more`` every
other table that refers to them or to their posts (their steering phrases, the suggestions they
were shown, the moderation scores, cases and decisions on their posts, their appeals, their API
keys and sessions...), found through the schema's foreign keys, so tables added later are
exported without a change here. Stored secrets (``*_hash``) and internal binary caches are left
out and named under ``left_out``.

Deletion removes the user, their posts and others' reposts of them (which would be left as empty
posts), their interactions (and others' interactions with their posts), their edges, vectors, cached embeddings of their texts (posts, bio, profile, steering phrases),
their handle from the moderation decisions they made, and every row in any table
that refers to them: tables added later join in through foreign keys with ``ON DELETE
CASCADE``, and a test checks every foreign key in the schema.

A single post deleted on the platform (``erase_posts``) keeps its row, marked deleted, so that its
replies keep their thread; what it said goes: its text, hashtags and mentions, its vectors, the cached
embedding of its text, its moderation scores, the words its moderation cases quote (a case still waiting is
closed, with an appeal still waiting), and the reply suggestions made from it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, LargeBinary, Table, delete, or_, select, update

from townsquare.storage.feed_schema import feed_steering
from townsquare.storage.interact_schema import interact_suggestions
from townsquare.storage.moderation_schema import (
    moderation_appeals,
    moderation_cases,
    moderation_decisions,
    moderation_scores,
)
from townsquare.storage.schema import (
    edges,
    embedding_cache,
    interactions,
    metadata,
    post_vectors,
    posts,
    user_vectors,
    users,
)
from townsquare.storage.store import Store, profile_text, text_hash

DELETED_MODERATOR = "a deleted user"  # who decided, once the moderator who did is deleted


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, np.ndarray):
            value = [round(float(x), 6) for x in value]
        out[key] = value
    return out


def export_user(store: Store, ref: str | int) -> dict[str, Any]:
    """Everything stored about one user, as plain JSON-ready data."""
    user = store.find_user(ref)
    uid = user["id"]
    with store.read() as conn:
        def rows(query):
            return [_jsonable(dict(r)) for r in conn.execute(query).mappings()]

        their_posts = rows(select(posts).where(posts.c.author_id == uid).order_by(posts.c.created_at))
        more, left_out = {}, []
        mine = select(posts.c.id).where(posts.c.author_id == uid)
        for table, to_user, to_posts in _referring_tables():
            kept = [c for c in table.columns if not _withheld(c)]
            left_out += [f"{table.name}.{c.name}" for c in table.columns if _withheld(c)]
            where = or_(*[c == uid for c in to_user]) if to_user else or_(*[c.in_(mine) for c in to_posts])
            more[table.name] = rows(select(*kept).where(where))
        return {
            "user": _jsonable(user),
            "posts": their_posts,
            # beside each internal key, the platform's own id (and handle), so the file reads without the database
            "edges_out": rows(select(edges, users.c.external_id.label("target"), users.c.handle.label("target_handle"))
                              .join(users, users.c.id == edges.c.target_id).where(edges.c.source_id == uid)),
            "followers": rows(select(edges.c.source_id, users.c.external_id.label("source"),
                                     users.c.handle.label("source_handle"), edges.c.created_at)
                              .join(users, users.c.id == edges.c.source_id)
                              .where(edges.c.target_id == uid, edges.c.kind == "follow")),
            "interactions": rows(select(interactions, posts.c.external_id.label("post"))
                                 .join(posts, posts.c.id == interactions.c.post_id)
                                 .where(interactions.c.user_id == uid).order_by(interactions.c.created_at)),
            "user_vectors": rows(select(user_vectors.c.model, user_vectors.c.slot, user_vectors.c.vector)
                                 .where(user_vectors.c.user_id == uid)),
            "post_vectors": rows(select(post_vectors.c.model, post_vectors.c.post_id, post_vectors.c.vector)
                                 .join(posts, posts.c.id == post_vectors.c.post_id)
                                 .where(posts.c.author_id == uid)),
            "decisions_made": rows(select(moderation_decisions).where(
                moderation_decisions.c.moderator == user["handle"]).order_by(moderation_decisions.c.id)),
            "more": more,
            "left_out": {"columns": left_out, "why": "secrets are stored only as hashes, and binary caches "
                         "(ranked feed pages, model state) are internal; both go with the user on deletion"},
        }


# Tables the export has its own sections for (``edges`` and ``interactions`` only the user's side).
_SECTIONS = {t.name for t in (users, posts, edges, interactions, user_vectors, post_vectors)}


def _referring_tables() -> list[tuple[Table, list, list]]:
    """Every other table with a foreign key to users or posts: (table, columns naming a user, columns
    naming a post). A table that names users is exported by them only, so that others' rows about
    the user's posts (who liked them) stay theirs."""
    found = []
    for table in metadata.sorted_tables:
        if table.name in _SECTIONS:
            continue
        to_user = [fk.parent for fk in table.foreign_keys if fk.column.table is users]
        to_posts = [fk.parent for fk in table.foreign_keys if fk.column.table is posts]
        if to_user or to_posts:
            found.append((table, to_user, to_posts))
    return found


def _withheld(column) -> bool:
    return column.name.endswith("_hash") or isinstance(column.type, LargeBinary)


def delete_user(store: Store, ref: str | int) -> dict[str, int]:
    """Remove a user and everything derived from them, in one transaction. Returns counts."""
    user = store.find_user(ref)
    uid = user["id"]
    with store.begin() as conn:
        mine = conn.execute(select(posts.c.id, posts.c.text).where(posts.c.author_id == uid)).all()
        texts = [r.text for r in mine]
        phrases = conn.execute(select(feed_steering.c.phrase).where(feed_steering.c.user_id == uid)).scalars().all()
        counts = {
            "posts": len(texts),
            "interactions": conn.execute(delete(interactions).where(interactions.c.user_id == uid)).rowcount,
            # a moderator's decisions stay with the case, no longer under their handle
            "decisions_unnamed": conn.execute(update(moderation_decisions).where(
                moderation_decisions.c.moderator == user["handle"]).values(moderator=DELETED_MODERATOR)).rowcount,
        }
        profile = profile_text(user["bio"] or "", list(user["interests"] or ()))
        hashes = [text_hash(t) for t in {*texts, user["bio"], profile, *phrases}]
        removed = 0
        for start in range(0, len(hashes), 5000):
            removed += conn.execute(delete(embedding_cache).where(
                embedding_cache.c.text_hash.in_(hashes[start:start + 5000]))).rowcount
        counts["cached_embeddings"] = removed
        # their replies, offered to others as suggestions, leave those users' suggestion history too
        counts["suggestions_quoting_them"] = _forget_suggestions_quoting(conn, [r.id for r in mine], texts)
        # Others' reposts of their posts say nothing of their own: they go too, or they would stay as empty posts
        # (a repost's link to a deleted post is set to NULL). Replies and quotes keep their own words.
        mine_ids = [r.id for r in mine]
        counts["reposts_of_them"] = sum(conn.execute(delete(posts).where(
            posts.c.repost_of_id.in_(mine_ids[i:i + 5000]), posts.c.author_id != uid)).rowcount
            for i in range(0, len(mine_ids), 5000))
        # Posts, edges, vectors and every other row keyed to the user go by ON DELETE CASCADE.
        conn.execute(delete(posts).where(posts.c.author_id == uid))
        conn.execute(delete(users).where(users.c.id == uid))
    return counts


def erase_posts(conn: Connection, post_ids: list[int]) -> int:
    """Mark ``post_ids`` deleted and remove what they said (see the module's docstring); returns how many were
    live. The feed's change trigger tells every worker."""
    rows = conn.execute(select(posts.c.id, posts.c.text).where(posts.c.id.in_(post_ids),
                                                               posts.c.deleted.is_(False))).all()
    if not rows:
        return 0
    ids = [r.id for r in rows]
    conn.execute(update(posts).where(posts.c.id.in_(ids)).values(deleted=True, text="", hashtags=[], mentions=[]))
    conn.execute(delete(post_vectors).where(post_vectors.c.post_id.in_(ids)))
    conn.execute(delete(moderation_scores).where(moderation_scores.c.post_id.in_(ids)))
    conn.execute(delete(embedding_cache).where(embedding_cache.c.text_hash.in_([text_hash(r.text) for r in rows])))
    _forget_suggestions_quoting(conn, ids, [r.text for r in rows])
    _close_cases_of_erased(conn, ids)
    return len(ids)


def _close_cases_of_erased(conn: Connection, post_ids: list[int]) -> None:
    """The moderation cases of erased posts: the words their reasons quote (a phone number, an email) go, a case
    still waiting is closed (there is nothing left to decide), and an appeal still waiting goes with its reason.
    Decisions made stay: who decided what, when."""
    c, a = moderation_cases.c, moderation_appeals.c
    for i in range(0, len(post_ids), 5000):
        cases = conn.execute(select(c.id, c.status, c.reasons).where(c.post_id.in_(post_ids[i:i + 5000]))).all()
        for case in cases:
            reasons = [{**r, "spans": [{k: v for k, v in s.items() if k != "text"} for s in r.get("spans", [])]}
                       for r in case.reasons or []]
            status = "closed" if case.status in ("open", "appealed") else case.status
            conn.execute(update(moderation_cases).where(c.id == case.id)
                         .values(reasons=reasons, status=status, updated_at=datetime.now(UTC)))
        if cases:
            conn.execute(delete(moderation_appeals)
                         .where(a.case_id.in_([case.id for case in cases]), a.status == "open"))


def _forget_suggestions_quoting(conn: Connection, post_ids: list[int], texts: list[str]) -> int:
    """Remove the reply suggestions made from these posts: those that name one as their source, styled or not,
    and, for rows from before suggestions named it (migration 0013), those whose text is exactly one of
    ``texts``. Returns how many."""
    s = interact_suggestions
    said = [t for t in texts if t]
    removed = sum(conn.execute(delete(s).where(s.c.quoted_post_id.in_(post_ids[i:i + 5000]))).rowcount
                  for i in range(0, len(post_ids), 5000))
    return removed + sum(conn.execute(delete(s).where(s.c.text.in_(said[i:i + 5000]))).rowcount
                         for i in range(0, len(said), 5000))
