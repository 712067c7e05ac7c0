"""Feature hydrators: the user, the author, the post, their relation, and the text vectors.

Each hydrator fills a few named columns for a batch of candidates at once (numpy over arrays
of post and author ids). The ranker sees their concatenation, in ``FEATURES`` order; training
and serving use the same hydrators, so a feature means the same thing in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from townsquare.feed.component import Component
from townsquare.feed.index import KIND, NEGATIVE, POSITIVE, QUOTE, REPLY, take


@dataclass
class Batch:
    """The candidates being hydrated, as arrays; vectors are fetched once and reused downstream."""

    posts: np.ndarray
    authors: np.ndarray
    has_vector: np.ndarray
    vectors: np.ndarray  # rows for posts with has_vector
    features: np.ndarray | None = None  # filled by the pipeline's feature stage

    @classmethod
    def of(cls, ctx, posts: np.ndarray) -> Batch:
        has, vectors = ctx.index.vectors_of(posts)
        return cls(posts, ctx.index.authors_of(posts), has, vectors)

    def __len__(self) -> int:
        return len(self.posts)


class FeatureHydrator(Component):
    kind: ClassVar[str] = "hydrator"
    columns: ClassVar[tuple[str, ...]] = ()

    def hydrate(self, ctx, batch: Batch) -> np.ndarray:
        """A float matrix: one row per candidate, one column per name in ``columns``."""
        raise NotImplementedError


class UserFeatureHydrator(FeatureHydrator):
    """How active the user is and how many people they follow (the same for every candidate)."""

    name = "user"
    columns = ("user_history", "user_follows", "user_cold")

    def hydrate(self, ctx, batch: Batch) -> np.ndarray:
        row = [np.log1p(len(ctx.positives)), np.log1p(len(ctx.relations.follows)), float(ctx.cold)]
        return np.tile(np.array(row, np.float64), (len(batch), 1))


class AuthorFeatureHydrator(FeatureHydrator):
    """The author's audience and how their posts are received, per post."""

    name = "author"
    columns = ("author_followers", "author_posts", "author_engagement", "author_negative")

    def hydrate(self, ctx, batch: Batch) -> np.ndarray:
        index = ctx.index
        posts = take(index.user_posts, batch.authors).astype(np.float64)
        received = take(index.user_received, batch.authors).astype(np.float64)
        return np.column_stack([np.log1p(take(index.user_followers, batch.authors)), np.log1p(posts),
                                np.log1p(received[:, POSITIVE].sum(axis=1) / (posts + 1)),
                                np.log1p(received[:, NEGATIVE].sum(axis=1) / (posts + 1))])


class PostFeatureHydrator(FeatureHydrator):
    """The post's age, engagement so far, and shape."""

    name = "post"
    columns = ("post_age_hours", "post_likes", "post_replies", "post_reposts", "post_clicks", "post_views",
               "post_negative", "post_is_reply", "post_is_quote", "post_length")

    def hydrate(self, ctx, batch: Batch) -> np.ndarray:
        index = ctx.index
        counts = take(index.post_counts, batch.posts).astype(np.float64)
        flags = take(index.post_flags, batch.posts)
        age = np.maximum(ctx.now - take(index.post_time, batch.posts, ctx.now), 0) / 3600
        return np.column_stack([np.log1p(age), *(np.log1p(counts[:, KIND[k]]) for k in ("like", "reply", "repost",
                                                                                         "click", "view")),
                                np.log1p(counts[:, NEGATIVE].sum(axis=1)), (flags & REPLY) > 0, (flags & QUOTE) > 0,
                                np.log1p(take(index.post_length, batch.posts))])


class RelationFeatureHydrator(FeatureHydrator):
    """User and author: follows either way, affinity, and how many followed people engaged with the post."""

    name = "relation"
    columns = ("follows_author", "author_follows_user", "author_affinity", "social_proof")

    def hydrate(self, ctx, batch: Batch) -> np.ndarray:
        follows, followers = ctx.follows(batch.authors), ctx.followed_by(batch.authors)
        affinity = ctx.affinity_of(batch.authors)
        proof = ctx.social_proof(batch.posts)
        return np.column_stack([follows, followers, np.sign(affinity) * np.log1p(np.abs(affinity)), np.log1p(proof)])


class TextFeatureHydrator(FeatureHydrator):
    """Cosine of the post's text vector to the user's interest and negative vectors."""

    name = "text"
    columns = ("interest_similarity", "negative_similarity", "has_vector")

    def hydrate(self, ctx, batch: Batch) -> np.ndarray:
        out = np.zeros((len(batch), 3))
        out[:, 2] = batch.has_vector
        state = ctx.interests
        if len(batch.vectors) and len(state.vectors) and state.vectors.shape[1] == batch.vectors.shape[1]:
            out[batch.has_vector, 0] = (batch.vectors @ state.vectors.T).max(axis=1)
        if len(batch.vectors) and len(state.negative) and state.negative.shape[1] == batch.vectors.shape[1]:
            out[batch.has_vector, 1] = (batch.vectors @ state.negative.T).max(axis=1)
        return out


class CollaborativeFeatureHydrator(FeatureHydrator):
    """How well the post fits the user by the collaborative models: the factorisation's score, the user's factors
    (fitted, or folded in from their likes) against the post's. 0 without a model, or for a post or user it does
    not know. Without it the ranker saw nothing of what ``train collaborative`` learnt: the posts the
    factorisation proposed were ranked by text similarity and age like any other (a QA pass measured the
    served MovieLens feed at precision@20 0.013 against popularity's 0.171)."""

    name = "collaborative"
    columns = ("factor_score",)

    def hydrate(self, ctx, batch: Batch) -> np.ndarray:
        out = np.zeros((len(batch), 1))
        models = ctx.index.collaborative
        if models is None or models.factors is None or not len(batch):
            return out
        vector = ctx.user_factors
        if vector is None:
            return out
        cols = take(models.col_of, batch.posts, -1)
        known = cols >= 0
        out[known, 0] = models.factors.item_factors[cols[known]] @ vector
        return out


def hydrators() -> tuple[FeatureHydrator, ...]:
    return (UserFeatureHydrator(), AuthorFeatureHydrator(), PostFeatureHydrator(), RelationFeatureHydrator(),
            TextFeatureHydrator(), CollaborativeFeatureHydrator())


FEATURES: tuple[str, ...] = tuple(c for h in (UserFeatureHydrator, AuthorFeatureHydrator, PostFeatureHydrator,
                                              RelationFeatureHydrator, TextFeatureHydrator,
                                              CollaborativeFeatureHydrator) for c in h.columns)


def hydrate(ctx, batch: Batch, parts: tuple[FeatureHydrator, ...] | None = None) -> np.ndarray:
    """The feature matrix of ``batch`` (rows: candidates, columns: ``FEATURES``)."""
    blocks = [h.hydrate(ctx, batch) for h in (parts or hydrators())]
    return np.column_stack(blocks).astype(np.float64) if len(batch) else np.zeros((0, len(FEATURES)))
