"""Out-of-network sources by text similarity: to each interest vector, to sign-up topics, to steering."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from townsquare.feed.candidates import Proposals, Source, collect, in_background
from townsquare.feed.index import POSITIVE


def nearest_posts(ctx, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` posts whose text vectors are closest to ``vector``: the feed index's own search when it
    keeps one (SQLite), else the store's (pgvector on PostgreSQL)."""
    index = ctx.index
    if index.model is None or not index.dim:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if index.ann is not None:
        return index.nearest(vector, k)
    return ctx.env.store.vectors.search_posts(index.model, vector, k)


# Below this many vectors an exact search in the feed index takes well under a millisecond:
# the text sources search inline rather than in a worker thread.
INLINE_SEARCH = 20_000


def searches_apart(ctx) -> bool:
    """Whether a text search should start early on a worker thread: in the database, or in a large index."""
    ann = ctx.index.ann  # an AutoIndex, or None when the store searches (pgvector)
    return ann is None or ann.active != "exact" or len(ann) > INLINE_SEARCH


def nearest_many(ctx, vectors: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``nearest_posts`` for several vectors: one batched search when the feed index keeps its own."""
    if ctx.index.ann is not None and ctx.index.dim and len(vectors):
        ids, sims = ctx.index.ann.search(np.asarray(vectors, np.float32), k)
        return [(row[row >= 0], sim[row >= 0]) for row, sim in zip(ids, sims)]
    return [nearest_posts(ctx, v, k) for v in vectors]


def start_search(ctx, key: str, vectors: np.ndarray, k: int) -> bool:
    """Start ``nearest_many`` on a worker thread if it would wait outside the interpreter
    (``searches_apart``); ``collected_search`` with the same key picks it up."""
    if not searches_apart(ctx):
        return False
    in_background(ctx, key, nearest_many, ctx, vectors, k)
    return True


def collected_search(ctx, key: str, vectors: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """What ``start_search`` started under ``key``, or the search run now if nothing was started."""
    return collect(ctx, key, nearest_many, ctx, vectors, k)


def closest_liked(ctx, vectors: np.ndarray, n: int = 2, recent: int = 100) -> list[tuple[int, ...]]:
    """For each of ``vectors``, the user's recently liked posts closest to it: the posts behind an interest."""
    liked = ctx.positives[:recent]
    has, liked_vectors = ctx.index.vectors_of(liked)
    if not len(liked_vectors):
        return [()] * len(vectors)
    best = np.argsort(-(np.asarray(vectors) @ liked_vectors.T), axis=1, kind="stable")[:, :n]
    return [tuple(row) for row in liked[has][best].tolist()]


class SimilarityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_slot: int = Field(100, ge=1, description="Posts taken per interest vector.")


class InterestSimilaritySource(Source):
    """Posts close in text to each of the user's interest vectors (one search per slot, not one average)."""

    name = "interest_similarity"
    Options = SimilarityOptions

    def wanted(self, ctx) -> bool:
        return bool(len(ctx.interests.vectors)) and ctx.index.dim > 0

    def start(self, ctx) -> bool:
        return start_search(ctx, self.name, ctx.interests.vectors, max(self._sizes(ctx)))

    def _sizes(self, ctx) -> list[int]:
        """Posts taken per slot: a heavier interest gets more."""
        weights = ctx.interests.weights
        share = weights / max(float(weights.sum()), 1e-9)
        return [max(10, round(self.options.per_slot * (0.5 + len(share) * w / 2))) for w in share]

    def fetch(self, ctx) -> Proposals | list:
        state = ctx.interests
        if not len(state.vectors):
            return []
        sizes = self._sizes(ctx)
        found = collected_search(ctx, self.name, state.vectors, max(sizes))
        out = []
        for slot, (liked, k, (ids, sims)) in enumerate(zip(closest_liked(ctx, state.vectors), sizes, found)):
            ids, sims = ids[:k], sims[:k]
            behind = [liked] * len(ids)
            out.append(self.propose(ctx, ids, sims, posts=behind, detail=[f"interest {slot + 1}"] * len(ids)))
        return Proposals.join(self.name, out)


class ColdStartOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_history: int = Field(5, ge=0, description="Below this many likes the user counts as new.")
    per_topic: int = Field(60, ge=1, description="Posts taken per sign-up topic.")
    min_similarity: float = Field(0.3, ge=-1, le=1, description=(
        "Cosine to the topic below which a post is not 'about' it. On the demo, all-MiniLM-L6-v2 gives a "
        "one-word topic 0.35-0.7 against posts on it and 0.2-0.3 against the rest."))


class ColdStartSource(Source):
    """For a user with little history: posts near the topics and bio given at sign-up, popular ones first."""

    name = "cold_start"
    Options = ColdStartOptions

    def wanted(self, ctx) -> bool:
        return len(ctx.positives) < self.options.min_history and bool(len(ctx.interests.signup))

    def start(self, ctx) -> bool:
        return start_search(ctx, self.name, ctx.interests.signup, self.options.per_topic * 2)

    def fetch(self, ctx) -> Proposals | list:
        state, index = ctx.interests, ctx.index
        if len(ctx.positives) >= self.options.min_history or not len(state.signup):
            return []
        out = []
        found = collected_search(ctx, self.name, state.signup, self.options.per_topic * 2)
        for topic, (ids, sims) in zip(state.signup_topics, found):
            near = sims >= self.options.min_similarity  # a post on something else is not "you said you like" it
            ids, sims = ids[near], sims[near]
            popular = np.log1p(index.post_counts[ids][:, POSITIVE].sum(axis=1)) if len(ids) else ids
            scores = sims * (1.0 + 0.25 * popular)
            top = np.argsort(-scores, kind="stable")[: self.options.per_topic]
            label = topic if len(topic) <= 60 else topic[:57] + "..."
            out.append(self.propose(ctx, ids[top], scores[top], detail=[f"you said you like: {label}"] * len(top)))
        return Proposals.join(self.name, out)


class SteeringSourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_phrase: int = Field(60, ge=1, description="Posts taken per 'more ...' phrase.")


class SteeringSource(Source):
    """Posts close to each "more ..." phrase the user asked for."""

    name = "steering"
    Options = SteeringSourceOptions

    def wanted(self, ctx) -> bool:
        return bool(self._phrases(ctx))

    def start(self, ctx) -> bool:
        return start_search(ctx, self.name, _vectors(self._phrases(ctx), ctx.index.dim), self.options.per_phrase)

    @staticmethod
    def _phrases(ctx) -> list:
        return [p for p in ctx.steering
                if p.direction == "more" and p.vector is not None and len(p.vector) == ctx.index.dim]

    def fetch(self, ctx) -> Proposals | list:
        out, phrases = [], self._phrases(ctx)
        if not phrases:
            return out
        found = collected_search(ctx, self.name, _vectors(phrases, ctx.index.dim), self.options.per_phrase)
        for phrase, (ids, sims) in zip(phrases, found):
            out.append(self.propose(ctx, ids, sims * math.sqrt(phrase.weight),
                                    detail=[f"you asked for {phrase.label()}"] * len(ids)))
        return Proposals.join(self.name, out)


def _vectors(phrases: list, dim: int) -> np.ndarray:
    return np.array([p.vector for p in phrases], np.float32).reshape(len(phrases), dim)
