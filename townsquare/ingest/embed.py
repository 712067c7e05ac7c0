"""Embed posts and user profiles in bulk, storing the vectors with the store.

Only what has no vector yet for the model is embedded (``refresh`` re-embeds everything); the
embedder is wrapped in the store's embedding cache, so no text is ever embedded twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import and_, exists, func, select

from townsquare.models.base import Embedder
from townsquare.models.cache import CachedEmbedder
from townsquare.storage import Store
from townsquare.storage.schema import post_vectors, posts, user_vectors, users
from townsquare.storage.store import profile_text


def _missing(store: Store, table, vectors, key, model: str, refresh: bool, after: int, limit: int,
             only: Sequence[int] | None = None):
    query = select(table.c.id, *_text_columns(table)).where(table.c.id > after).order_by(table.c.id).limit(limit)
    if only is not None:
        query = query.where(table.c.id.in_(sorted(only)))
    if not refresh:
        query = query.outerjoin(vectors, and_(key == table.c.id, vectors.c.model == model)).where(
            vectors.c.model.is_(None))
    if table is posts:
        query = query.where(posts.c.deleted.is_(False))
    with store.read() as conn:
        return conn.execute(query).all()


def count_unembedded(store: Store) -> int:
    """Live posts with no vector from any embedder yet (``townsquare embed`` embeds them)."""
    query = (select(func.count()).select_from(posts).where(posts.c.deleted.is_(False))
             .where(~exists().where(post_vectors.c.post_id == posts.c.id)))
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())


def _text_columns(table):
    return (posts.c.text,) if table is posts else (users.c.bio, users.c.interests)


def embed_posts(store: Store, embedder: Embedder, *, refresh: bool = False, batch_size: int = 512,
                progress: Callable[[int], None] | None = None, only: Sequence[int] | None = None) -> int:
    """Embed every post (of ``only``, if given) without a vector for ``embedder``; returns how many
    were embedded."""
    cached, done, after = CachedEmbedder(embedder, store), 0, 0
    while rows := _missing(store, posts, post_vectors, post_vectors.c.post_id, embedder.model_id,
                           refresh, after, batch_size, only):
        ids, texts = [r[0] for r in rows], [r[1] for r in rows]
        matrix = cached.embed(texts)
        with store.begin() as conn:
            store.vectors.put_posts(conn, embedder.model_id, ids, matrix)
        done, after = done + len(ids), ids[-1]
        if progress:
            progress(len(ids))
    return done


def embed_users(store: Store, embedder: Embedder, *, refresh: bool = False, batch_size: int = 512,
                progress: Callable[[int], None] | None = None, only: Sequence[int] | None = None) -> int:
    """Embed user profiles (bio + sign-up interests; of ``only``, if given) as interest slot 0 where
    none exists yet.

    Users with neither bio nor interests get no vector: the feed learns them from what they do.
    """
    cached, done, after = CachedEmbedder(embedder, store), 0, 0
    while rows := _missing(store, users, user_vectors, user_vectors.c.user_id, embedder.model_id,
                           refresh, after, batch_size, only):
        texts = [profile_text(bio, interests or []) for _, bio, interests in rows]
        keep = [(row[0], text) for row, text in zip(rows, texts) if text]
        if keep:
            matrix = cached.embed([text for _, text in keep])
            with store.begin() as conn:
                for (uid, _), vector in zip(keep, matrix):
                    store.vectors.put_user(conn, embedder.model_id, uid, vector[None, :])
        done, after = done + len(keep), rows[-1][0]
        if progress:
            progress(len(rows))
    return done
