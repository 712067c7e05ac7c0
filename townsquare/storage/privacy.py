"""A user's data on request: everything stored about them, or all of it removed.

Deletion removes the user, their posts, their interactions (and others' interactions with their
posts), their edges, vectors, cached embeddings of their texts, and every row in any table
that refers to them: tables added later join in through foreign keys with ``ON DELETE
CASCADE``, and a test checks every foreign key in the schema.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import delete, select

from townsquare.storage.schema import (
    edges,
    embedding_cache,
    interactions,
    post_vectors,
    posts,
    user_vectors,
    users,
)
from townsquare.storage.store import Store, text_hash


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
        return {
            "user": _jsonable(user),
            "posts": their_posts,
            "edges_out": rows(select(edges).where(edges.c.source_id == uid)),
            "followers": rows(select(edges.c.source_id, edges.c.created_at).where(
                edges.c.target_id == uid, edges.c.kind == "follow")),
            "interactions": rows(select(interactions).where(interactions.c.user_id == uid)
                                 .order_by(interactions.c.created_at)),
            "user_vectors": rows(select(user_vectors.c.model, user_vectors.c.slot, user_vectors.c.vector)
                                 .where(user_vectors.c.user_id == uid)),
            "post_vectors": rows(select(post_vectors.c.model, post_vectors.c.post_id, post_vectors.c.vector)
                                 .join(posts, posts.c.id == post_vectors.c.post_id)
                                 .where(posts.c.author_id == uid)),
        }


def delete_user(store: Store, ref: str | int) -> dict[str, int]:
    """Remove a user and everything derived from them, in one transaction. Returns counts."""
    user = store.find_user(ref)
    uid = user["id"]
    with store.begin() as conn:
        texts = conn.execute(select(posts.c.text).where(posts.c.author_id == uid)).scalars().all()
        counts = {
            "posts": len(texts),
            "interactions": conn.execute(delete(interactions).where(interactions.c.user_id == uid)).rowcount,
        }
        hashes = [text_hash(t) for t in texts + [user["bio"]]]
        removed = 0
        for start in range(0, len(hashes), 5000):
            removed += conn.execute(delete(embedding_cache).where(
                embedding_cache.c.text_hash.in_(hashes[start:start + 5000]))).rowcount
        counts["cached_embeddings"] = removed
        # Posts, edges, vectors and every other row keyed to the user go by ON DELETE CASCADE.
        conn.execute(delete(posts).where(posts.c.author_id == uid))
        conn.execute(delete(users).where(users.c.id == uid))
    return counts
